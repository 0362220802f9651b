package connectwise

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func response(status int, header http.Header, body []byte) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	req, _ := http.NewRequest(http.MethodPost, "https://x.example/v4_6_release/apis/3.0/service/tickets?conditions=x", nil)
	return &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(bytes.NewReader(body)), Request: req}
}

func TestCheckResponseConnectWiseError(t *testing.T) {
	t.Parallel()
	err := CheckResponse(response(400, nil, fixture(t, "error_invalid_object.json")))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %#v, not an *Error", err)
	}
	if e.StatusCode != 400 || e.Code != "InvalidObject" || e.Message != "Ticket object is invalid" || e.Method != "POST" || e.Path != "service/tickets" {
		t.Fatalf("error = %+v", e)
	}
	wantFields := []FieldError{
		{Code: "NullValue", Message: "The summary field is required.", Resource: "ticket", Field: "summary"},
		{Code: "OutOfRange", Message: "The externalXRef field may be at most 100 characters.", Resource: "ticket", Field: "externalXRef"},
	}
	if fmt.Sprint(e.Errors) != fmt.Sprint(wantFields) {
		t.Fatalf("Errors = %+v", e.Errors)
	}
	want := "ConnectWise 400 InvalidObject on POST service/tickets: Ticket object is invalid: The summary field is required. (field summary); The externalXRef field may be at most 100 characters. (field externalXRef)"
	if err.Error() != want {
		t.Fatalf("Error() = %q\nwant      %q", err, want)
	}
	if !IsPermanent(err) || IsTransient(err) {
		t.Fatal("a 400 must be permanent and not transient")
	}
}

func TestCheckResponseHTMLAndPlainBodies(t *testing.T) {
	t.Parallel()
	err := CheckResponse(response(503, http.Header{"Content-Type": {"text/html"}}, fixture(t, "service_unavailable.html")))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v", err)
	}
	if strings.ContainsAny(e.Message, "<>") || strings.Contains(e.Message, "font-family") || strings.Contains(e.Message, "gtag") || strings.Contains(e.Message, "&amp;") {
		t.Fatalf("HTML not stripped: %q", e.Message)
	}
	if !strings.HasPrefix(e.Message, "503 Service Unavailable Service Unavailable The server is temporarily unable") {
		t.Fatalf("Message = %q", e.Message)
	}
	if n := utf8.RuneCountInString(e.Message); n > 201 || !strings.HasSuffix(e.Message, "…") {
		t.Fatalf("Message has %d characters, want at most 200 and an ellipsis: %q", n, e.Message)
	}
	if e.Code != "" || !errors.Is(err, ErrServer) || !IsTransient(err) {
		t.Fatalf("503: code %q, ErrServer %v, transient %v", e.Code, errors.Is(err, ErrServer), IsTransient(err))
	}

	err = CheckResponse(response(502, nil, []byte("Bad Gateway\r\n\tupstream reset")))
	if got := err.Error(); got != "ConnectWise 502 on POST service/tickets: Bad Gateway upstream reset" {
		t.Fatalf("plain body: %q", got)
	}
	err = CheckResponse(response(500, nil, nil))
	if got := err.Error(); got != "ConnectWise 500 on POST service/tickets: Internal Server Error" {
		t.Fatalf("empty body: %q", got)
	}
	err = CheckResponse(response(400, nil, []byte(`{"unexpected":true}`)))
	if got := err.Error(); got != `ConnectWise 400 on POST service/tickets: {"unexpected":true}` {
		t.Fatalf("other JSON: %q", got)
	}
	if CheckResponse(response(204, nil, nil)) != nil {
		t.Fatal("204 is not an error")
	}
}

func TestRateLimitErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header http.Header
		body   []byte
		want   time.Duration
		slack  time.Duration
		has    bool
	}{
		{"seconds header", http.Header{"Retry-After": {"12"}}, []byte("<html><body>Too Many Requests</body></html>"), 12 * time.Second, 0, true},
		{"http date header", http.Header{"Retry-After": {"DATE+90s"}}, nil, 90 * time.Second, 2 * time.Second, true},
		{"message only", nil, fixture(t, "rate_limited.json"), 30 * time.Second, 0, true},
		{"header wins over message", http.Header{"Retry-After": {"5"}}, fixture(t, "rate_limited.json"), 5 * time.Second, 0, true},
		{"nothing", nil, []byte("slow down"), 0, 0, false},
		{"garbage header", http.Header{"Retry-After": {"soon"}}, nil, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.header.Get("Retry-After") == "DATE+90s" {
				tt.header = http.Header{"Retry-After": {time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)}}
			}
			err := fmt.Errorf("open ticket: %w", CheckResponse(response(429, tt.header, tt.body)))
			var rl *RateLimitError
			if !errors.As(err, &rl) {
				t.Fatalf("err = %v, not a *RateLimitError", err)
			}
			var e *Error
			if !errors.As(err, &e) || e.StatusCode != 429 {
				t.Fatalf("no *Error inside: %v", err)
			}
			if !errors.Is(err, ErrRateLimited) || !IsTransient(err) || IsPermanent(err) {
				t.Fatalf("kinds wrong for %v", err)
			}
			got, ok := RetryAfter(err)
			if ok != tt.has || got < tt.want-tt.slack || got > tt.want+tt.slack {
				t.Fatalf("RetryAfter = %v, %v; want %v, %v", got, ok, tt.want, tt.has)
			}
			if rl.RetryAfter != got {
				t.Fatalf("RateLimitError.RetryAfter = %v, RetryAfter() = %v", rl.RetryAfter, got)
			}
		})
	}
	e := CheckResponse(response(429, nil, fixture(t, "rate_limited.json")))
	if got := e.Error(); got != "ConnectWise 429 ConnectWiseAPI on POST service/tickets: Too many requests. Please try again in 30 seconds. (retry after 30s)" {
		t.Fatalf("Error() = %q", got)
	}
	// A 503 with Retry-After is not a RateLimitError but still says when.
	err := CheckResponse(response(503, http.Header{"Retry-After": {"3"}}, nil))
	if d, ok := RetryAfter(err); !ok || d != 3*time.Second || errors.Is(err, ErrRateLimited) {
		t.Fatalf("503 Retry-After: %v %v", d, ok)
	}
	// A RateLimitError built by hand (a fake in another package) works too.
	hand := &RateLimitError{RetryAfter: time.Minute}
	if d, ok := RetryAfter(hand); !ok || d != time.Minute || !errors.Is(hand, ErrRateLimited) || !IsTransient(hand) || hand.Error() == "" {
		t.Fatal("hand-made RateLimitError")
	}
}

func TestErrorKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status                                  int
		notFound, unauthorized, limited, server bool
		transient, permanent                    bool
	}{
		{400, false, false, false, false, false, true},
		{401, false, true, false, false, false, true},
		{403, false, true, false, false, false, true},
		{404, true, false, false, false, false, true},
		{405, false, false, false, false, false, true},
		{408, false, false, false, false, true, false},
		{409, false, false, false, false, false, true},
		{422, false, false, false, false, false, true},
		{429, false, false, true, false, true, false},
		{500, false, false, false, true, true, false},
		{502, false, false, false, true, true, false},
		{503, false, false, false, true, true, false},
		{504, false, false, false, true, true, false},
	}
	for _, tt := range tests {
		err := fmt.Errorf("push event: %w", CheckResponse(response(tt.status, nil, []byte(`{"code":"X","message":"m"}`))))
		got := []bool{errors.Is(err, ErrNotFound), errors.Is(err, ErrUnauthorized), errors.Is(err, ErrRateLimited), errors.Is(err, ErrServer), IsTransient(err), IsPermanent(err)}
		want := []bool{tt.notFound, tt.unauthorized, tt.limited, tt.server, tt.transient, tt.permanent}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%d: [notFound unauthorized limited server transient permanent] = %v, want %v", tt.status, got, want)
		}
	}
}

func TestUnauthorizedSaysWhatToCheck(t *testing.T) {
	t.Parallel()
	for _, status := range []int{401, 403} {
		err := CheckResponse(response(status, nil, fixture(t, "error_unauthorized.json")))
		msg := err.Error()
		if !strings.Contains(msg, "check the API member's public/private keys and its security role") ||
			!strings.Contains(msg, "Username or password is incorrect.") {
			t.Errorf("%d: %q", status, msg)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestIsTransientForNetworkAndContextErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		err       error
		transient bool
		permanent bool
	}{
		{"nil", nil, false, false},
		{"caller cancelled", context.Canceled, false, false},
		{"cancelled in url.Error", &url.Error{Op: "Get", URL: "u", Err: context.Canceled}, false, false},
		{"deadline", context.DeadlineExceeded, true, false},
		{"net timeout", &url.Error{Op: "Get", URL: "u", Err: timeoutErr{}}, true, false},
		{"connection refused", &url.Error{Op: "Get", URL: "u", Err: &net.OpError{Op: "dial", Err: errors.New("connect: connection refused")}}, true, false},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true, false},
		{"no such host", &url.Error{Op: "Get", URL: "u", Err: &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}}, false, false},
		{"dns timeout", &net.DNSError{Err: "timeout", Name: "x", IsTimeout: true}, true, false},
		{"unsafe condition", fmt.Errorf("find ticket: %w", ErrUnsafeConditionValue), false, true},
		{"plain error", errors.New("boom"), false, false},
	}
	for _, tt := range tests {
		if got := IsTransient(tt.err); got != tt.transient {
			t.Errorf("%s: IsTransient = %v", tt.name, got)
		}
		if got := IsPermanent(tt.err); got != tt.permanent {
			t.Errorf("%s: IsPermanent = %v", tt.name, got)
		}
	}
}

func TestRealTransportErrors(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.api.HandleFunc("GET /service/tickets/{id}", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	hc := f.srv.Client()
	hc.Timeout = 500 * time.Millisecond // well past a TLS handshake under -race
	c := f.client(func(o *Options) { o.HTTPClient = hc; o.Retry.MaxAttempts = 1 })
	_, _, err := c.Tickets.Get(context.Background(), 1)
	if !IsTransient(err) || !errors.Is(err, context.DeadlineExceeded) || IsPermanent(err) {
		t.Fatalf("client timeout: err = %v, transient %v", err, IsTransient(err))
	}
	if !strings.HasPrefix(err.Error(), "ConnectWise GET service/tickets/1: no answer: ") {
		t.Fatalf("Error() = %q", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	_, _, err = f.client().Tickets.Get(ctx, 1)
	if !errors.Is(err, context.Canceled) || IsTransient(err) {
		t.Fatalf("cancelled: err = %v, transient %v", err, IsTransient(err))
	}

	// An unknown certificate authority is not transient.
	untrusted := &http.Client{Transport: &http.Transport{}}
	c = f.client(func(o *Options) { o.HTTPClient = untrusted })
	_, _, err = c.Tickets.Get(context.Background(), 1)
	if err == nil || IsTransient(err) {
		t.Fatalf("untrusted certificate: err = %v, transient %v", err, IsTransient(err))
	}

	// A closed server refuses connections: transient.
	closed := httptest.NewTLSServer(http.NotFoundHandler())
	closedClient := closed.Client()
	site := closed.URL
	closed.Close()
	c, err = NewClient(context.Background(), Options{SiteURL: site, Codebase: testCodebase, Credentials: testCreds, HTTPClient: closedClient, Retry: RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Tickets.Get(context.Background(), 1)
	if !IsTransient(err) {
		t.Fatalf("connection refused: err = %v, transient %v", err, IsTransient(err))
	}
}
