package cwsim

import (
	"math"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// draw is one chaos decision as comparable values.
type draw struct {
	fault             bool
	status            int
	retryAfter, delay time.Duration
	lose              bool
}

func drawOf(f *Fault) draw {
	if f == nil {
		return draw{}
	}
	return draw{true, f.Status, f.RetryAfter, f.Delay, f.LoseResponse}
}

func draws(s *Sim, n int) []draw {
	out := make([]draw, n)
	for i := range out {
		out[i] = drawOf(s.chaosFault("POST", "/service/tickets"))
	}
	return out
}

func TestChaosIsDeterministicGivenTheSeed(t *testing.T) {
	t.Parallel()
	a, b, c := New(Options{}), New(Options{}), New(Options{})
	a.SetChaos(Chaos{Rate: 0.3, Seed: 42})
	b.SetChaos(Chaos{Rate: 0.3, Seed: 42})
	c.SetChaos(Chaos{Rate: 0.3, Seed: 43})
	da, db, dc := draws(a, 2000), draws(b, 2000), draws(c, 2000)
	if !slices.Equal(da, db) {
		t.Fatal("two sims with the same seed drew different faults")
	}
	if slices.Equal(da, dc) {
		t.Fatal("two seeds drew the same 2000 decisions")
	}
	// SetChaos again restarts the sequence.
	a.SetChaos(Chaos{Rate: 0.3, Seed: 42})
	if !slices.Equal(draws(a, 2000), da) {
		t.Fatal("SetChaos with the same seed did not restart the sequence")
	}
}

func TestChaosRateAndMix(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	s.SetChaos(Chaos{Rate: 0.3, Seed: 7, RetryAfter: 2 * time.Second, Slow: 150 * time.Millisecond})
	const n = 20000
	got := map[draw]int{}
	faults := 0
	for _, d := range draws(s, n) {
		if d.fault {
			faults++
			got[d]++
		}
	}
	if r := float64(faults) / n; math.Abs(r-0.3) > 0.02 {
		t.Errorf("fault rate %.3f, want 0.3", r)
	}
	want := []draw{
		{true, http.StatusTooManyRequests, 2 * time.Second, 0, false},
		{true, http.StatusInternalServerError, 0, 0, false},
		{true, http.StatusServiceUnavailable, 0, 0, true},
		{true, 0, 0, 0, true},
		{true, 0, 0, 150 * time.Millisecond, false},
	}
	for _, w := range want {
		if share := float64(got[w]) / float64(faults); math.Abs(share-0.2) > 0.03 {
			t.Errorf("%+v: %.3f of the faults, want about 0.2", w, share)
		}
	}
	if len(got) != len(want) {
		t.Errorf("fault shapes %v, want only %v", got, want)
	}
	seen, injected := s.ChaosStats()
	total := 0
	for _, k := range AllChaosKinds {
		total += injected[k]
	}
	if seen != n || total != faults {
		t.Errorf("stats: %d considered, %d injected (%v); want %d and %d", seen, total, injected, n, faults)
	}
}

func TestChaosExemptOffAndInjectedFirst(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	s.SetChaos(Chaos{Rate: 1, Seed: 1, Exempt: func(method, path string) bool {
		return method == "GET" && path == "/system/info"
	}})
	if f := s.chaosFault("get", "/system/info"); f != nil {
		t.Fatalf("an exempt request met %+v", f)
	}
	if seen, _ := s.ChaosStats(); seen != 0 {
		t.Fatalf("an exempt request drew a number (%d considered)", seen)
	}
	if f := s.chaosFault("GET", "/service/tickets"); f == nil {
		t.Fatal("rate 1 spared a request")
	}
	s.SetChaos(Chaos{})
	if f := s.chaosFault("GET", "/service/tickets"); f != nil {
		t.Fatalf("chaos off, still %+v", f)
	}
}

func TestChaosIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	s.SetChaos(Chaos{Rate: 0.3, Seed: 9})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				s.chaosFault("POST", "/service/tickets")
			}
		})
	}
	wg.Wait()
	seen, injected := s.ChaosStats()
	total := 0
	for _, n := range injected {
		total += n
	}
	if seen != 8000 || total < 2000 || total > 2800 {
		t.Fatalf("%d considered, %d injected", seen, total)
	}
}

// Each kind over HTTPS: what the client sees and whether the request was
// applied.
func TestChaosKindsOverHTTP(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kind    ChaosKind
		status  int // 0: no answer
		applied bool
	}{
		{ChaosRateLimited, http.StatusTooManyRequests, false},
		{ChaosServerError, http.StatusInternalServerError, false},
		{ChaosLostUnapplied, 0, false},
		{ChaosLostApplied, 0, true},
		{ChaosSlow, http.StatusCreated, true},
	}
	for _, c := range cases {
		t.Run(c.kind.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Options{})
			e.sim.SetChaos(Chaos{Rate: 1, Seed: 3, Kinds: []ChaosKind{c.kind}, Slow: 300 * time.Millisecond, RetryAfter: 2 * time.Second})
			began := time.Now()
			r, err := e.try("POST", "/service/tickets", e.newTicket("Backup failed", "efs:chaos"))
			took := time.Since(began)
			switch {
			case c.status == 0 && err == nil:
				t.Fatalf("answered %d, want no answer", r.status)
			case c.status != 0 && err != nil:
				t.Fatalf("no answer (%v), want %d", err, c.status)
			case c.status != 0 && r.status != c.status:
				t.Fatalf("answered %d, want %d: %s", r.status, c.status, r.body)
			}
			if c.kind == ChaosRateLimited && r.header.Get("Retry-After") != "2" {
				t.Errorf("Retry-After %q, want 2", r.header.Get("Retry-After"))
			}
			if c.kind == ChaosSlow && took < 300*time.Millisecond {
				t.Errorf("answered after %s, want the 300ms delay", took)
			}
			if n := len(e.sim.Tickets()); (n == 1) != c.applied {
				t.Errorf("%d tickets, applied should be %v", n, c.applied)
			}
			calls := e.sim.Calls()
			if len(calls) != 1 || !calls[0].Fault || calls[0].Lost != (c.status == 0) {
				t.Errorf("call log %+v", calls)
			}
			// An injected fault comes before the chaos mode.
			e.sim.Inject(Fault{Method: "GET", Path: "/service/boards", Status: http.StatusBadGateway})
			e.sim.SetChaos(Chaos{Rate: 1, Seed: 3, Kinds: []ChaosKind{ChaosServerError}})
			e.do("GET", "/service/boards", nil).wantStatus(t, http.StatusBadGateway)
			e.do("GET", "/service/boards", nil).wantStatus(t, http.StatusInternalServerError)
		})
	}
}
