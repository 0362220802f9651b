package cwsim

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault is a misbehaviour injected with Inject. It affects the next Times
// requests that match Method and Path.
//
// What it does, in this order:
//
//   - Delay: the answer waits Delay, or less if the client gives up (its
//     request context ends) or the Sim closes.
//   - Status (429, 500, 502, 503, ...): answered WITHOUT applying the
//     request. 429 carries ConnectWise's throttling body
//     {"error":"ConnectWiseAPI","message":"Too many requests. Please try
//     again in N seconds."} and, when RetryAfter > 0, a Retry-After header in
//     whole seconds (rounded up). Other statuses carry a ConnectWise error
//     body. HTMLBody answers a text/html page instead (a cloud front end).
//   - Without Status, the request IS applied after the delay, even if the
//     client has given up meanwhile: the server finished work the client
//     stopped waiting for (a ticket create that "timed out" but exists).
//   - LoseResponse: the client gets no answer at all: the connection is
//     closed (HTTP/1.1) or the stream reset (HTTP/2). Without Status the
//     request is applied first (the ticket is created); with Status it is
//     not (a connection dropped in front of the server).
type Fault struct {
	// Method matches the request method (case-insensitive); empty matches any.
	Method string
	// Path matches the request path relative to the API base, such as
	// "/service/tickets" (the base, e.g. "/v4_6_release/apis/3.0", may be
	// included). A segment "{id}" (any text in braces) matches one segment;
	// a trailing "*" makes a prefix match ("/service/tickets*" matches
	// "/service/tickets/12/notes" and "/service/tickets/search"). Without
	// "*" the whole path must match. Empty matches every path. Paths outside
	// the API base (/login/companyinfo/x) are matched as they are.
	Path string
	// Times is how many matching requests the fault affects: 0 means 1, a
	// negative value means every matching request until ClearFaults.
	Times int
	// Status is the HTTP status answered without applying the request.
	Status int
	// RetryAfter is sent as Retry-After (seconds) with Status.
	RetryAfter time.Duration
	// HTMLBody answers Status with an HTML page instead of JSON.
	HTMLBody bool
	// Delay holds the answer back.
	Delay time.Duration
	// LoseResponse closes the connection instead of answering.
	LoseResponse bool
}

type pendingFault struct {
	Fault
	left int // < 0: unlimited
}

// Inject queues a fault. Faults are consulted in the order they were
// injected; the first one that matches a request applies to it (one fault
// per request) and is used up after Times requests.
func (s *Sim) Inject(f Fault) {
	left := f.Times
	if left == 0 {
		left = 1
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = append(s.faults, &pendingFault{Fault: f, left: left})
}

// ClearFaults drops every pending fault.
func (s *Sim) ClearFaults() {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = nil
}

// PendingFaults returns how many injected faults are not used up yet.
func (s *Sim) PendingFaults() int {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return len(s.faults)
}

func (s *Sim) takeFault(method, rel string) *Fault {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for i, pf := range s.faults {
		if pf.Method != "" && !strings.EqualFold(pf.Method, method) {
			continue
		}
		if !s.faultPathMatches(pf.Path, rel) {
			continue
		}
		if pf.left > 0 {
			pf.left--
			if pf.left == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		f := pf.Fault
		return &f
	}
	return nil
}

func (s *Sim) faultPathMatches(pattern, rel string) bool {
	if pattern == "" {
		return true
	}
	if p, ok := strings.CutPrefix(pattern, s.base); ok && (p == "" || p[0] == '/' || p[0] == '*') {
		pattern = p
		if pattern == "" {
			pattern = "/"
		}
	}
	if !strings.HasPrefix(pattern, "/") && !strings.HasPrefix(pattern, "*") {
		pattern = "/" + pattern
	}
	prefix := strings.HasSuffix(pattern, "*")
	pattern = strings.TrimSuffix(pattern, "*")
	ps := strings.Split(pattern, "/")
	if prefix {
		// The last pattern segment may be partial: "/service/tick*".
		rs := strings.Split(rel, "/")
		if len(rs) < len(ps) {
			return false
		}
		for i, seg := range ps {
			switch {
			case isPlaceholder(seg):
			case i == len(ps)-1:
				if !strings.HasPrefix(rs[i], seg) {
					return false
				}
			case seg != rs[i]:
				return false
			}
		}
		return true
	}
	ps = strings.Split(strings.TrimSuffix(pattern, "/"), "/")
	rs := strings.Split(strings.TrimSuffix(rel, "/"), "/")
	if len(rs) != len(ps) {
		return false
	}
	for i, seg := range ps {
		if !isPlaceholder(seg) && seg != rs[i] {
			return false
		}
	}
	return true
}

func isPlaceholder(seg string) bool {
	return len(seg) > 2 && seg[0] == '{' && seg[len(seg)-1] == '}'
}

func faultResponse(f *Fault) response {
	h := http.Header{}
	secs := 0
	if f.RetryAfter > 0 {
		secs = int(math.Ceil(f.RetryAfter.Seconds()))
		h.Set("Retry-After", strconv.Itoa(secs))
	}
	if f.HTMLBody {
		page := fmt.Sprintf("<!DOCTYPE html>\n<html><head><title>%d %s</title></head><body><h1>%d %s</h1><p>The service is temporarily unavailable. Please try again later.</p></body></html>\n",
			f.Status, http.StatusText(f.Status), f.Status, http.StatusText(f.Status))
		return response{status: f.Status, header: h, raw: []byte(page), contentType: "text/html; charset=utf-8"}
	}
	var resp response
	switch {
	case f.Status == http.StatusTooManyRequests:
		msg := "Too many requests. Please try again later."
		if secs > 0 {
			msg = fmt.Sprintf("Too many requests. Please try again in %d seconds.", secs)
		}
		resp = jsonResp(f.Status, map[string]string{"error": "ConnectWiseAPI", "message": msg})
	case f.Status == http.StatusUnauthorized:
		resp = errorResp(f.Status, codeUnauthorized, "Username or password is incorrect.")
	case f.Status == http.StatusForbidden:
		resp = errorResp(f.Status, codeSecurity, "You do not have permission to perform this action.")
	case f.Status == http.StatusNotFound:
		resp = notFound("The requested resource was not found.")
	case f.Status >= 500:
		resp = errorResp(f.Status, codeConnectWiseAPI, "An error occurred while processing the request (injected "+strconv.Itoa(f.Status)+").")
	default:
		resp = errorResp(f.Status, codeInvalidObject, "Injected fault "+strconv.Itoa(f.Status)+".")
	}
	for k, v := range h {
		resp.header[k] = v
	}
	return resp
}

// Call is one request the simulator received.
type Call struct {
	Time time.Time
	// Method is the request method.
	Method string
	// Path is relative to the API base ("/service/tickets/12/notes") for
	// API calls, or the full path otherwise ("/login/companyinfo/acme").
	Path string
	// Query is the raw query string.
	Query string
	// Status is the status answered, or the one that would have been
	// answered when Lost.
	Status int
	// Header holds the request headers without Authorization.
	Header http.Header
	// Body is the request body.
	Body []byte
	// Fault tells an injected fault matched the request.
	Fault bool
	// Lost tells the client never got the answer (LoseResponse).
	Lost bool
}

func (s *Sim) record(c Call) {
	s.callMu.Lock()
	defer s.callMu.Unlock()
	s.calls = append(s.calls, c)
}

// Calls returns a copy of the call log in the order the simulator finished
// the calls (a call is logged once answered, or dropped for LoseResponse).
func (s *Sim) Calls() []Call {
	s.callMu.Lock()
	defer s.callMu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		c.Header = c.Header.Clone()
		c.Body = append([]byte(nil), c.Body...)
		out[i] = c
	}
	return out
}

// CallCount counts the calls with that method (case-insensitive; empty for
// any) whose Path starts with pathPrefix. Note that a prefix counts
// sub-resources too: ("POST", "/service/tickets") also counts
// /service/tickets/search and /service/tickets/{id}/notes.
func (s *Sim) CallCount(method, pathPrefix string) int {
	s.callMu.Lock()
	defer s.callMu.Unlock()
	n := 0
	for _, c := range s.calls {
		if method != "" && !strings.EqualFold(c.Method, method) {
			continue
		}
		if strings.HasPrefix(c.Path, pathPrefix) || strings.HasPrefix(s.base+c.Path, pathPrefix) {
			n++
		}
	}
	return n
}

// ResetCalls empties the call log.
func (s *Sim) ResetCalls() {
	s.callMu.Lock()
	defer s.callMu.Unlock()
	s.calls = nil
}
