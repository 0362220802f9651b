package cwsim

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestFaultTooManyRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.sim.Inject(Fault{Method: "POST", Path: "/service/tickets", Status: http.StatusTooManyRequests, RetryAfter: 29500 * time.Millisecond})
	// A GET on the same path does not match the POST fault.
	e.do("GET", "/service/tickets", nil).wantStatus(t, http.StatusOK)
	r := e.do("POST", "/service/tickets", e.newTicket("Backup failed", "x")).wantStatus(t, http.StatusTooManyRequests)
	if got := r.header.Get("Retry-After"); got != "30" {
		t.Errorf("Retry-After %q, want 30", got)
	}
	var body map[string]string
	r.decode(t, &body)
	if body["error"] != "ConnectWiseAPI" || body["message"] != "Too many requests. Please try again in 30 seconds." {
		t.Errorf("429 body %s", r.body)
	}
	if n := len(e.sim.Tickets()); n != 0 {
		t.Fatalf("a throttled request created %d tickets", n)
	}
	if e.sim.PendingFaults() != 0 {
		t.Fatal("the fault was not used up")
	}
	e.do("POST", "/service/tickets", e.newTicket("Backup failed", "x")).wantStatus(t, http.StatusCreated)
	calls := e.sim.Calls()
	if c := calls[1]; !c.Fault || c.Status != http.StatusTooManyRequests || c.Path != "/service/tickets" {
		t.Errorf("call log %+v", c)
	}
}

func TestFaultLoseResponseAppliesTheRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.sim.Inject(Fault{Method: "POST", Path: "/service/tickets", LoseResponse: true})
	_, err := e.try("POST", "/service/tickets", e.newTicket("Backup failed", "efs:lost"))
	if err == nil {
		t.Fatal("the client got an answer")
	}
	tickets := e.sim.Tickets()
	if len(tickets) != 1 || tickets[0].ExternalXRef != "efs:lost" {
		t.Fatalf("tickets after a lost response: %+v", tickets)
	}
	calls := e.sim.Calls()
	if len(calls) != 1 || !calls[0].Lost || calls[0].Status != http.StatusCreated {
		t.Fatalf("call log %+v", calls)
	}
	// The client finds it by its reference.
	var page []Ticket
	e.do("GET", "/service/tickets?conditions=externalXRef%3D%22efs%3Alost%22", nil).wantStatus(t, http.StatusOK).decode(t, &page)
	if len(page) != 1 {
		t.Fatalf("search after lost response: %v", page)
	}
}

func TestFaultLoseResponseOverHTTP2(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.client = &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.sim.CertPool()}, ForceAttemptHTTP2: true},
		Timeout:   10 * time.Second,
	}
	if r := e.do("GET", "/service/boards", nil).wantStatus(t, http.StatusOK); r.proto != "HTTP/2.0" {
		t.Fatalf("protocol %s, want HTTP/2.0", r.proto)
	}
	e.sim.Inject(Fault{Method: "POST", Path: "/service/tickets", LoseResponse: true})
	if _, err := e.try("POST", "/service/tickets", e.newTicket("Backup failed", "h2")); err == nil {
		t.Fatal("the HTTP/2 client got an answer")
	}
	if n := len(e.sim.Tickets()); n != 1 {
		t.Fatalf("%d tickets", n)
	}
	if got := e.sim.Calls()[0].Header; got == nil {
		t.Fatal("no headers logged")
	}
}

func TestFaultStatusWithLoseResponseAppliesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.sim.Inject(Fault{Method: "POST", Path: "/service/tickets", Status: http.StatusBadGateway, LoseResponse: true})
	if _, err := e.try("POST", "/service/tickets", e.newTicket("Backup failed", "x")); err == nil {
		t.Fatal("the client got an answer")
	}
	if n := len(e.sim.Tickets()); n != 0 {
		t.Fatalf("%d tickets", n)
	}
}

func TestFaultSequence(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tk := e.createTicket("Backup failed", "x")
	notes := fmt.Sprintf("/service/tickets/%d/notes", tk.ID)
	e.sim.Inject(Fault{Path: "/service/tickets/{id}/notes", Status: http.StatusInternalServerError, Times: 2})
	e.sim.Inject(Fault{Path: "/service/tickets*", Status: http.StatusServiceUnavailable, HTMLBody: true})
	note := map[string]any{"text": "x", "resolutionFlag": true}

	for range 2 {
		r := e.do("POST", notes, note).wantStatus(t, http.StatusInternalServerError)
		if c := r.errBody(t).Code; c != codeConnectWiseAPI {
			t.Errorf("500 code %q", c)
		}
	}
	r := e.do("POST", notes, note).wantStatus(t, http.StatusServiceUnavailable)
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.body), "<html>") {
		t.Errorf("HTML 503: %v %s", r.header, r.body)
	}
	e.do("POST", notes, note).wantStatus(t, http.StatusCreated)
	if n := len(e.sim.Notes(tk.ID)); n != 1 {
		t.Fatalf("%d notes after faults", n)
	}

	// Unlimited faults last until ClearFaults; an empty Path matches all.
	e.sim.Inject(Fault{Status: http.StatusBadGateway, Times: -1})
	for range 3 {
		e.do("GET", "/service/boards", nil).wantStatus(t, http.StatusBadGateway)
	}
	e.sim.ClearFaults()
	e.do("GET", "/service/boards", nil).wantStatus(t, http.StatusOK)
}

func TestFaultDelayedCreateStillHappens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.sim.Inject(Fault{Method: "POST", Path: "/v4_6_release/apis/3.0/service/tickets", Delay: 5 * time.Second})
	e.client.Timeout = 200 * time.Millisecond
	start := time.Now()
	if _, err := e.try("POST", "/service/tickets", e.newTicket("slow", "efs:slow")); err == nil {
		t.Fatal("the client did not time out")
	}
	// The delay ends when the client gives up, and the ticket is created.
	deadline := time.Now().Add(3 * time.Second)
	for len(e.sim.Tickets()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the delayed create was not applied")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if time.Since(start) > 4*time.Second {
		t.Fatal("the delay did not honour the client's context")
	}
}

func TestFaultDelayAnswersLate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.sim.Inject(Fault{Method: "GET", Path: "/service/boards", Delay: 150 * time.Millisecond, Status: http.StatusServiceUnavailable})
	start := time.Now()
	e.do("GET", "/service/boards", nil).wantStatus(t, http.StatusServiceUnavailable)
	if time.Since(start) < 150*time.Millisecond {
		t.Fatal("no delay")
	}
}

func TestFaultPathMatching(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"", "/service/tickets", true},
		{"/service/tickets", "/service/tickets", true},
		{"service/tickets", "/service/tickets", true},
		{"/service/tickets", "/service/tickets/5", false},
		{"/service/tickets", "/service/tickets/search", false},
		{"/service/tickets/{id}", "/service/tickets/5", true},
		{"/service/tickets/{id}", "/service/tickets/5/notes", false},
		{"/service/tickets/{id}*", "/service/tickets/5/notes", true},
		{"/service/tickets*", "/service/tickets/search", true},
		{"/service/tickets/*", "/service/tickets", false},
		{"/service/tick*", "/service/tickets", true},
		{"/v4_6_release/apis/3.0/service/tickets", "/service/tickets", true},
		{"/login/companyinfo/*", "/login/companyinfo/demo_msp", true},
		{"/finance/agreements/{id}/additions/{id}", "/finance/agreements/7/additions/9", true},
	}
	for _, tc := range tests {
		if got := s.faultPathMatches(tc.pattern, tc.path); got != tc.want {
			t.Errorf("faultPathMatches(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

func TestCloseEndsDelays(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.sim.Inject(Fault{Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, "GET", e.sim.APIURL()+"/service/boards", nil)
		resp, err := e.client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(100 * time.Millisecond)
	e.sim.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a delayed request")
	}
}
