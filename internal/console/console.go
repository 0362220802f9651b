// Package console is the operator console (docs/console.md): a
// server-rendered web front end over the operator API. It has no path to the
// data of its own: every page reads, and every form writes, by calling the
// admin API's http.Handler (admin.API.Routes()) in process with the same
// JSON bodies a script sends, so every check is the API's.
//
// Routes (all under /console/; every answer carries the security headers
// of docs/console.md, see securityHeaders):
//
//	GET  /console                                   → /console/
//	GET  /console/static/{console.css,console.js}   the stylesheet and the one script
//	GET  /console/signin, POST /console/signin, POST /console/signout   the Authenticator's (TokenSignIn locally)
//	GET  /console/                                  partners and their health
//	GET  /console/partners/{id}                     a partner: settings, health, customers
//	GET  /console/partners/{id}/doctor              run the doctor (asks ConnectWise)
//	GET  /console/partners/{id}/events              the event log (?customer=&type=&outcome=&failed=true&cursor=)
//	POST /console/partners/{id}/reprocess           eventId=… or since=<UTC date-time>
//	POST /console/partners/{id}/redrive             eventId=… or all=true (dead letters)
//	POST /console/partners/{id}/pause               reason=… (an operator's pause)
//	POST /console/partners/{id}/resume              resume a paused partner
//	GET  /console/partners/{id}/customers/{cid}     a customer (?preview=1: with the billing preview)
//	POST /console/partners/{id}/customers/{cid}/sync  sync now
//	(the setup wizard's routes: wizard.go)
//
// # Adding pages to this package (the setup wizard does)
//
//   - Routes: call registerPages(func(c *Console, mux *http.ServeMux) {…})
//     from an init function; register GET pages wrapped in c.page (a signed-in
//     person; signed out: 303 to /console/signin?next=…) and POST handlers in
//     c.action (c.requireWrite first).
//   - Reads and writes: c.call(ctx, method, path, in, out) calls the admin
//     API in process (build paths with apiPath("partners", id, …), which
//     escapes the segments); status is the HTTP status, apiErr the decoded
//     {"error", "field"} of a non-2xx answer (nil on 2xx), err only a failure
//     to encode or to decode a 2xx answer.
//   - Rendering: c.render(w, r, status, "page.html", data) executes
//     templates/layout.html (header and nav, the signed-in identity, the
//     sign-out form, <main>) with the page file's "title" and "content"
//     blocks; the page reaches data as .Data (and .Identity, .Flash).
//     c.renderFlash adds a message shown above the content (role=alert).
//     Files named templates/*_partials.html are parsed into every page (for
//     shared sub-templates: "hidden", "window" are in _partials.html).
//   - Template funcs: csrf (this session's CSRF token), nonce (a fresh
//     one-time form nonce), canWrite, identity, path (url.PathEscape), query
//     (url.QueryEscape), ticketURL, when / iso (times), num, val, deref.
//     {{template "hidden"}} emits both hidden fields (csrf and nonce) of a
//     write form. Show write controls only {{if canWrite}}.
//   - Writes: a POST handler starts with id, ok := c.requireWrite(w, r)
//     (c.action does it): a signed-in operator, same origin, and the form
//     field csrf matching the session's token; otherwise it has answered
//     403 (or 405) and the handler returns. A write with a side effect runs
//     inside c.once(r, func() onceResult {…}): a second POST of the same form
//     (same nonce) within nonceTTL gets the first result and does not call
//     the API again.
//   - No inline script or style (the CSP forbids them), no template.HTML
//     from data; a <label for> on every control.
package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"
)

// Options configures a Console.
type Options struct {
	// API is the operator API's handler (admin.API.Routes()).
	API http.Handler
	// Auth identifies the signed-in person and serves sign-in/out.
	Auth Authenticator
	// SessionKey is the HMAC key for CSRF tokens and form nonces.
	SessionKey []byte
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger (slog.Default() when nil).
	Logger *slog.Logger
}

// Console is the operator console.
type Console struct {
	api    http.Handler
	auth   Authenticator
	key    []byte
	now    func() time.Time
	log    *slog.Logger
	nonces *nonceStore
	doctor doctorCache
}

// New builds a Console.
func New(o Options) *Console {
	c := &Console{api: o.API, auth: o.Auth, key: o.SessionKey, now: o.Now, log: o.Logger}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.nonces = newNonceStore(c.now)
	return c
}

// APIError is the operator API's error body: {"error": "...", "field": "..."}.
type APIError struct {
	Error string `json:"error"`
	Field string `json:"field"`
}

// call calls the admin API in process: method and path (with query) as a
// script would send them, in encoded as the JSON body (nil: none), a 2xx
// answer decoded into out (nil: ignored). A non-2xx answer yields its status
// and the decoded APIError; err is only for failures to encode, or to decode
// a 2xx answer.
func (c *Console) call(ctx context.Context, method, path string, in, out any) (status int, apiErr *APIError, err error) {
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, fmt.Errorf("console: encoding %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, body)
	if err != nil {
		return 0, nil, fmt.Errorf("console: %s %s: %w", method, path, err)
	}
	req.RequestURI = req.URL.RequestURI()
	if h, ok := ctx.Value(hostKey{}).(string); ok {
		req.Host = h
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	c.api.ServeHTTP(rec, req)
	status = rec.Code
	if status < 200 || status > 299 {
		ae := &APIError{}
		if err := json.Unmarshal(rec.Body.Bytes(), ae); err != nil || ae.Error == "" {
			ae.Error = fmt.Sprintf("the operator API answered %d", status)
		}
		return status, ae, nil
	}
	if out != nil && rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			return status, nil, fmt.Errorf("console: decoding %s %s: %w", method, path, err)
		}
	}
	return status, nil, nil
}
