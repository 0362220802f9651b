package connectwise

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	const base, max = 500 * time.Millisecond, 20 * time.Second
	tests := []struct {
		attempt    int
		retryAfter time.Duration
		rnd        float64
		want       time.Duration
	}{
		{0, 0, 0.999999, 499999500 * time.Nanosecond},
		{0, 0, 0.5, 250 * time.Millisecond},
		{1, 0, 0.5, 500 * time.Millisecond},
		{2, 0, 0.5, time.Second},
		{3, 0, 1, 4 * time.Second},
		{5, 0, 1, 16 * time.Second},
		{6, 0, 1, max},   // 32s capped at 20s
		{100, 0, 1, max}, // no overflow
		{math.MaxInt, 0, 0.5, max / 2},
		{-3, 0, 1, base},
		{2, 0, 0, 0},                               // full jitter can be zero
		{2, 7 * time.Second, 0.5, 7 * time.Second}, // at least Retry-After
		{6, 45 * time.Second, 1, 45 * time.Second}, // Retry-After beyond max is honoured
		{0, 100 * time.Millisecond, 0.5, 250 * time.Millisecond},
		{1, 0, -1, 0},
		{1, 0, 7, time.Second},
		{1, 0, math.NaN(), 0},
	}
	for _, tt := range tests {
		if got := Backoff(tt.attempt, tt.retryAfter, base, max, tt.rnd); got != tt.want {
			t.Errorf("Backoff(%d, %v, %v, %v, %v) = %v, want %v", tt.attempt, tt.retryAfter, base, max, tt.rnd, got, tt.want)
		}
	}
}

// flaky answers the given statuses in turn (with optional headers/bodies),
// then succeeds with ok; it records each request body.
func flaky(t *testing.T, f *fakeCW, pattern string, fails []int, header http.Header, failBody []byte, ok []byte, okStatus int) *atomic.Int32 {
	var n atomic.Int32
	f.api.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.bodies = append(f.bodies, string(body))
		f.mu.Unlock()
		i := int(n.Add(1)) - 1
		if i < len(fails) {
			for k, v := range header {
				w.Header()[k] = v
			}
			reply(w, fails[i], failBody)
			return
		}
		reply(w, okStatus, ok)
	})
	return &n
}

func TestRetryGETOn503ThenSuccess(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	n := flaky(t, f, "GET /service/tickets/{id}", []int{503, 503}, nil, fixture(t, "service_unavailable.html"), fixture(t, "ticket.json"), 200)
	tk, resp, err := f.client().Tickets.Get(context.Background(), 1042)
	if err != nil {
		t.Fatal(err)
	}
	if tk.ID != 1042 || resp.StatusCode != 200 || n.Load() != 3 {
		t.Fatalf("ticket %d, status %d, requests %d", tk.ID, resp.StatusCode, n.Load())
	}
	// full jitter at 0.5: half of 500ms, then half of 1s
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}
	if got := f.sleepList(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("waits = %v, want %v", got, want)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		header http.Header
		body   []byte
		min    time.Duration
	}{
		{"429 seconds", 429, http.Header{"Retry-After": {"7"}}, fixture(t, "rate_limited.json"), 7 * time.Second},
		{"429 message only", 429, nil, fixture(t, "rate_limited.json"), 30 * time.Second},
		{"429 HTTP date, HTML body", 429, http.Header{"Retry-After": {time.Now().Add(2 * time.Hour).UTC().Format(http.TimeFormat)}}, []byte("<html><body><h1>429 Too Many Requests</h1></body></html>"), time.Hour},
		{"503 seconds", 503, http.Header{"Retry-After": {"3"}}, fixture(t, "service_unavailable.html"), 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeCW(t)
			flaky(t, f, "GET /service/tickets", []int{tt.status}, tt.header, tt.body, []byte(`[]`), 200)
			if _, _, err := f.client().Tickets.List(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			got := f.sleepList()
			if len(got) != 1 || got[0] < tt.min {
				t.Fatalf("waits = %v, want one of at least %v", got, tt.min)
			}
		})
	}
}

func TestPOSTIsNotRetriedOn500(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	n := flaky(t, f, "POST /service/tickets", []int{500, 500}, nil, []byte(`{"code":"ConnectWiseApi","message":"An error occurred"}`), fixture(t, "ticket.json"), 201)
	_, resp, err := f.client().Tickets.Create(context.Background(), &Ticket{Summary: "x"})
	if !errors.Is(err, ErrServer) || !IsTransient(err) {
		t.Fatalf("err = %v", err)
	}
	if resp == nil || resp.StatusCode != 500 {
		t.Fatalf("response = %+v", resp)
	}
	if n.Load() != 1 || len(f.sleepList()) != 0 {
		t.Fatalf("requests %d, waits %v: a POST was retried after a 500", n.Load(), f.sleepList())
	}
}

func TestPOSTIsNotRetriedAfterATimeout(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	var n atomic.Int32
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.api.HandleFunc("POST /service/tickets", func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	hc := f.httpClient()
	hc.Timeout = 500 * time.Millisecond // well past a TLS handshake under -race
	_, _, err := f.client(func(o *Options) { o.HTTPClient = hc }).Tickets.Create(context.Background(), &Ticket{Summary: "slow"})
	if !IsTransient(err) {
		t.Fatalf("err = %v, want a transient timeout", err)
	}
	if n.Load() != 1 || len(f.sleepList()) != 0 {
		t.Fatalf("requests %d, waits %v: a POST was retried after a timeout", n.Load(), f.sleepList())
	}
}

func TestPOSTIsRetriedOn429WithTheSameBody(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	n := flaky(t, f, "POST /service/tickets", []int{429}, http.Header{"Retry-After": {"2"}}, fixture(t, "rate_limited.json"), fixture(t, "ticket.json"), 201)
	tk, _, err := f.client().Tickets.Create(context.Background(), &Ticket{Summary: "Backup failed", ExternalXRef: "efs:1"})
	if err != nil {
		t.Fatal(err)
	}
	if tk.ID != 1042 || n.Load() != 2 {
		t.Fatalf("ticket %d, requests %d", tk.ID, n.Load())
	}
	if got := f.sleepList(); len(got) != 1 || got[0] < 2*time.Second {
		t.Fatalf("waits = %v", got)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bodies) != 2 || f.bodies[0] != f.bodies[1] || !strings.Contains(f.bodies[1], `"summary":"Backup failed"`) {
		t.Fatalf("bodies = %q", f.bodies)
	}
}

func TestPATCHBodyIsResentOnRetry(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	n := flaky(t, f, "PATCH /finance/agreements/{id}/additions/{aid}", []int{502, 504}, nil, nil, []byte(`{"id":9,"quantity":0}`), 200)
	add, _, err := f.client().Agreements.PatchAddition(context.Background(), 8, 9, []PatchOp{Replace("quantity", 0)})
	if err != nil {
		t.Fatal(err)
	}
	if add.ID != 9 || n.Load() != 3 {
		t.Fatalf("addition %+v, requests %d", add, n.Load())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, b := range f.bodies {
		if b != `[{"op":"replace","path":"quantity","value":0}]` {
			t.Fatalf("body %d = %q", i, b)
		}
	}
}

func TestSearchIsRetriedLikeARead(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	n := flaky(t, f, "POST /service/tickets/search", []int{503}, nil, nil, []byte(`[{"id":1}]`), 200)
	got, _, err := f.client().Tickets.Search(context.Background(), `externalXRef="efs:1"`, &ListOptions{PageSize: 5, OrderBy: "id desc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || n.Load() != 2 {
		t.Fatalf("tickets %v, requests %d", got, n.Load())
	}
	f.mu.Lock()
	body, query := f.bodies[1], f.queries[1]
	f.mu.Unlock()
	if body != `{"conditions":"externalXRef=\"efs:1\""}` {
		t.Fatalf("body = %s", body)
	}
	if query != "orderBy=id%20desc&pageSize=5" {
		t.Fatalf("query = %q", query)
	}
	if _, _, err := f.client().Tickets.Search(context.Background(), "a=1", &ListOptions{Conditions: "b=2"}); err == nil {
		t.Fatal("conditions given twice accepted")
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	n := flaky(t, f, "GET /service/boards", []int{503, 503, 503, 503, 503}, nil, fixture(t, "service_unavailable.html"), []byte(`[]`), 200)
	_, _, err := f.client(func(o *Options) { o.Retry.MaxAttempts = 3 }).Boards.List(context.Background(), nil)
	if !errors.Is(err, ErrServer) || !IsTransient(err) || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("err = %v", err)
	}
	if n.Load() != 3 || len(f.sleepList()) != 2 {
		t.Fatalf("requests %d, waits %v", n.Load(), f.sleepList())
	}
}

func TestPermanentErrorsAreNotRetried(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 401, 403, 404, 409, 422} {
		f := newFakeCW(t)
		n := flaky(t, f, "GET /service/boards", []int{status, status}, nil, []byte(`{"code":"X","message":"no"}`), []byte(`[]`), 200)
		_, _, err := f.client().Boards.List(context.Background(), nil)
		if !IsPermanent(err) || n.Load() != 1 || len(f.sleepList()) != 0 {
			t.Errorf("%d: err %v, requests %d, waits %v", status, err, n.Load(), f.sleepList())
		}
	}
}

func TestDeadlineTooShortStopsWithoutWaiting(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	n := flaky(t, f, "GET /company/companies", []int{429, 429}, http.Header{"Retry-After": {"30"}}, fixture(t, "rate_limited.json"), []byte(`[]`), 200)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, _, err := f.client().Companies.List(ctx, nil)
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Fatalf("took %v: it waited", elapsed)
	}
	if n.Load() != 1 || len(f.sleepList()) != 0 {
		t.Fatalf("requests %d, waits %v", n.Load(), f.sleepList())
	}
	var rl *RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, ErrRateLimited) || !IsTransient(err) {
		t.Fatalf("err = %v", err)
	}
	if d, ok := RetryAfter(err); !ok || d != 30*time.Second {
		t.Fatalf("RetryAfter = %v, %v", d, ok)
	}
	if !strings.Contains(err.Error(), "not retrying: the next try would wait 30s but the deadline is in") {
		t.Fatalf("Error() = %q", err)
	}
}

func TestRetryWithinDeadlineWaits(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	n := flaky(t, f, "GET /company/companies", []int{503}, nil, nil, []byte(`[]`), 200)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := f.client().Companies.List(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 || len(f.sleepList()) != 1 {
		t.Fatalf("requests %d, waits %v", n.Load(), f.sleepList())
	}
}

func TestSleepInterruptedStopsRetrying(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	n := flaky(t, f, "GET /service/priorities", []int{503, 503}, nil, nil, []byte(`[]`), 200)
	c := f.client(func(o *Options) {
		o.Retry.Sleep = func(ctx context.Context, d time.Duration) error { return context.Canceled }
	})
	_, _, err := c.Boards.Priorities(context.Background(), nil)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrServer) || IsTransient(err) {
		t.Fatalf("err = %v (transient %v)", err, IsTransient(err))
	}
	if n.Load() != 1 {
		t.Fatalf("requests %d", n.Load())
	}
}

func TestDefaultSleepHonoursContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Fatalf("sleep = %v after %v", err, time.Since(start))
	}
	if err := sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
