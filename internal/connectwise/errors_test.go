package connectwise

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
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

// TestCheckResponseNeverShowsAForeignBody: only ConnectWise's JSON error
// shape is shown; HTML, plain text and other JSON give the status text.
func TestCheckResponseNeverShowsAForeignBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   []byte
		want   string
	}{
		{"HTML 503", 503, fixture(t, "service_unavailable.html"), "ConnectWise 503 on POST service/tickets: Service Unavailable"},
		{"HTML 404", 404, fixture(t, "not_found.html"), "ConnectWise 404 on POST service/tickets: Not Found"},
		{"plain", 502, []byte("Bad Gateway\r\n\tupstream reset by 10.0.0.7"), "ConnectWise 502 on POST service/tickets: Bad Gateway"},
		{"empty", 500, nil, "ConnectWise 500 on POST service/tickets: Internal Server Error"},
		{"other JSON", 400, []byte(`{"unexpected":true,"secret":"s3cr3t"}`), "ConnectWise 400 on POST service/tickets: Bad Request"},
		{"message without code", 400, []byte(`{"message":"from somewhere else"}`), "ConnectWise 400 on POST service/tickets: Bad Request"},
		{"code not a string", 400, []byte(`{"code":1,"message":"m"}`), "ConnectWise 400 on POST service/tickets: Bad Request"},
		{"JSON array", 400, []byte(`[{"code":"X","message":"m"}]`), "ConnectWise 400 on POST service/tickets: Bad Request"},
		{"unknown status", 599, []byte("<html>x</html>"), "ConnectWise 599 on POST service/tickets: HTTP 599"},
	}
	for _, tt := range tests {
		err := CheckResponse(response(tt.status, http.Header{"Content-Type": {"text/html"}}, tt.body))
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: err = %v", tt.name, err)
		}
		if got := err.Error(); got != tt.want {
			t.Errorf("%s: Error() = %q\nwant %q", tt.name, got, tt.want)
		}
		if e.Code != "" || e.fromAPI {
			t.Errorf("%s: code %q, fromAPI %v for a body that is not a ConnectWise error", tt.name, e.Code, e.fromAPI)
		}
	}
	if err := CheckResponse(response(503, nil, fixture(t, "service_unavailable.html"))); !errors.Is(err, ErrServer) || !IsTransient(err) {
		t.Fatalf("503: ErrServer %v, transient %v", errors.Is(err, ErrServer), IsTransient(err))
	}
	if CheckResponse(response(204, nil, nil)) != nil {
		t.Fatal("204 is not an error")
	}
}

// TestConnectWiseMessageIsCleanedAndCut: ConnectWise's own message is shown,
// without control or format characters, at most 200 characters.
func TestConnectWiseMessageIsCleanedAndCut(t *testing.T) {
	t.Parallel()
	hostile := "Ticket\u202e txt.exe\u2028second line\x00\x1b[31m red\u200b \ufeff" + strings.Repeat("é😀", 200)
	body, _ := json.Marshal(map[string]any{"code": "Invalid\nObject\u202e", "message": hostile,
		"errors": []map[string]string{{"code": "X", "message": strings.Repeat("m", 500), "field": "summary\u2066"}}})
	err := CheckResponse(response(400, nil, body))
	var e *Error
	if !errors.As(err, &e) || !e.fromAPI {
		t.Fatalf("err = %v", err)
	}
	for _, s := range []string{e.Code, e.Message, e.Errors[0].Message, e.Errors[0].Field, err.Error()} {
		for _, r := range s {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' {
				t.Errorf("%q holds %U", s, r)
			}
		}
	}
	if e.Code != "Invalid Object" || e.Errors[0].Field != "summary" {
		t.Errorf("code %q, field %q", e.Code, e.Errors[0].Field)
	}
	if !strings.HasPrefix(e.Message, "Ticket txt.exe second line[31m red é😀") {
		t.Errorf("Message = %q", e.Message)
	}
	for _, s := range []string{e.Message, e.Errors[0].Message} {
		if n := utf8.RuneCountInString(s); n > 200 || TextLen(s) > 200 || !strings.HasSuffix(s, "…") {
			t.Errorf("%d runes, %d UTF-16 units, want at most 200 and an ellipsis: %q", n, TextLen(s), s)
		}
	}
	// the whole of ConnectWise's words in the error text: at most 200
	_, detail, _ := strings.Cut(err.Error(), "service/tickets: ")
	if n := utf8.RuneCountInString(detail); n > 200 {
		t.Errorf("Error() shows %d characters of the body: %q", n, err)
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
	arrived := make(chan string, 4) // the id of each request the server holds
	f.api.HandleFunc("GET /service/tickets/{id}", func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.PathValue("id")
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	hc := f.httpClient()
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
	go func() {
		for id := range arrived {
			if id == "2" {
				cancel() // once the server holds the request
				return
			}
		}
	}()
	_, _, err = f.client().Tickets.Get(ctx, 2)
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

// TestForeignBodiesNeverReachTheError: a server (a proxy, a login page,
// something else entirely) answers with HTML or JSON that is not a
// ConnectWise error, holding secret-looking text. No error shows it, neither
// from the API calls nor from the company info lookup.
func TestForeignBodiesNeverReachTheError(t *testing.T) {
	t.Parallel()
	const secret = "AKIAIOSFODNN7EXAMPLE"
	html := []byte(`<html><head><title>Error ` + secret + `</title></head><body><h1>Internal error</h1><pre>aws_secret_access_key=` + secret + `
-----BEGIN PRIVATE KEY-----</pre></body></html>`)
	f := newFakeCW(t)
	var status atomic.Int32
	var body atomic.Value
	answer := func(w http.ResponseWriter, r *http.Request) { reply(w, int(status.Load()), body.Load().([]byte)) }
	f.api.HandleFunc("GET /service/tickets/{id}", answer)
	f.root.HandleFunc("GET /login/companyinfo/{id}", answer)
	c := f.client(func(o *Options) { o.Retry.MaxAttempts = 1 })
	bodies := map[string][]byte{
		"HTML":          html,
		"plain":         []byte("error: " + secret),
		"other JSON":    []byte(`{"error_description":"` + secret + `","detail":"` + secret + `"}`),
		"JSON, no code": []byte(`{"message":"` + secret + `"}`),
	}
	for _, code := range []int{500, 502, 403, 401, 404, 400, 429, 200} {
		for name, b := range bodies {
			status.Store(int32(code))
			body.Store(b)
			_, _, err := c.Tickets.Get(context.Background(), 1)
			_, lerr := LookupCompanyInfo(context.Background(), f.httpClient(), f.srv.URL, "acme")
			for _, e := range []error{err, lerr} {
				if code == 200 && e == nil && strings.HasPrefix(string(b), "{") {
					continue // a JSON object is a ticket without fields
				}
				if e == nil {
					t.Errorf("%d %s: no error", code, name)
					continue
				}
				if strings.Contains(e.Error(), secret) || strings.Contains(e.Error(), "PRIVATE KEY") || strings.Contains(e.Error(), "Internal error") {
					t.Errorf("%d %s: the error shows the body: %q", code, name, e)
				}
			}
		}
	}
}

// TestEchoedSecretsAreScrubbedBeforeTheCut: a server echoing the private key
// where the 200-character cut falls inside it, or with a zero-width space
// inside it, shows no part of it.
func TestEchoedSecretsAreScrubbedBeforeTheCut(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	var msg atomic.Value
	f.api.HandleFunc("GET /service/tickets/{id}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(map[string]string{"code": "InvalidObject", "message": msg.Load().(string)})
		reply(w, http.StatusBadRequest, b)
	})
	c := f.client()
	prefix := testPrivateKey[:7]
	for _, m := range []string{
		strings.Repeat("x", 190) + testPrivateKey,
		"key " + testPrivateKey[:4] + "\u200b" + testPrivateKey[4:] + " refused",
		"key " + testPrivateKey[:4] + "\x00" + testPrivateKey[4:] + " refused",
	} {
		msg.Store(m)
		_, _, err := c.Tickets.Get(context.Background(), 1)
		if err == nil || strings.Contains(err.Error(), prefix) {
			t.Errorf("message %q: error %q shows the key", m, err)
		}
	}
}
