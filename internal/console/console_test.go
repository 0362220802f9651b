package console

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	conOpToken     = "operator-token-for-tests"
	conViewerToken = "viewer-token-for-tests"
)

// The conHostile strings a backup provider could put in a name or a message.
var conHostile = []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`}

// conAPI stands in for the operator API: canned JSON answers per
// "METHOD path", and a record of every request.
type conAPI struct {
	mu      sync.Mutex
	calls   []*http.Request
	bodies  []string
	answers map[string]conAnswer
}

type conAnswer struct {
	status int
	body   any
}

func (f *conAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls = append(f.calls, r)
	f.bodies = append(f.bodies, string(b))
	a, ok := f.answers[r.Method+" "+r.URL.Path]
	f.mu.Unlock()
	if !ok {
		a = conAnswer{http.StatusNotFound, map[string]string{"error": "no such operator route: " + r.Method + " " + r.URL.Path}}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_ = json.NewEncoder(w).Encode(a.body)
}

// count is how many requests matched method and path.
func (f *conAPI) count(method, path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.calls {
		if r.Method == method && r.URL.Path == path {
			n++
		}
	}
	return n
}

func (f *conAPI) last(method, path string) (*http.Request, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.calls) - 1; i >= 0; i-- {
		if f.calls[i].Method == method && f.calls[i].URL.Path == path {
			return f.calls[i], f.bodies[i]
		}
	}
	return nil, ""
}

type conClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *conClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *conClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type conEnv struct {
	t     *testing.T
	api   *conAPI
	h     http.Handler
	clock *conClock
}

func newConEnv(t *testing.T) *conEnv {
	t.Helper()
	ck := &conClock{t: time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)}
	at := time.Date(2026, 3, 3, 2, 5, 51, 0, time.UTC)
	api := &conAPI{answers: map[string]conAnswer{
		"GET /v1/admin/partners": {200, map[string]any{"partners": []map[string]any{
			{"id": "demo", "name": conHostile[0] + conHostile[1], "siteUrl": "https://na.myconnectwise.net", "version": 3},
		}}},
		"GET /v1/admin/partners/demo": {200, map[string]any{"partner": map[string]any{
			"id": "demo", "name": "Demo MSP", "siteUrl": "https://na.myconnectwise.net", "companyId": "demo", "version": 3}}},
		"GET /v1/admin/partners/demo/health": {200, map[string]any{"lastEventAt": at, "lastPushAt": at, "failures24h": 2, "outstanding": 1}},
		"GET /v1/admin/partners/demo/customers": {200, map[string]any{"customers": []map[string]any{
			{"customerId": "1001", "name": conHostile[0], "sync": map[string]any{"windowHours": 12, "open": true}},
			{"customerId": "1002", "name": conHostile[1], "sync": map[string]any{"windowHours": 12, "pending": true, "opensAt": at.Add(12 * time.Hour)}},
		}}},
		"GET /v1/admin/partners/demo/events": {200, map[string]any{"entries": []map[string]any{
			{"partnerId": "demo", "customerId": "1001", "eventId": "evt-1", "eventType": "notification", "what": "ticket", "outcome": "failed", "at": at,
				"code": "CW_BOARD_MISSING", "message": "board missing " + conHostile[0], "remedy": "create the board " + conHostile[1],
				"connectWiseMessage": conHostile[1], "event": map[string]any{"type": "notification"}},
			{"partnerId": "demo", "customerId": "1001", "eventId": "evt-2", "eventType": "notification", "what": "ticket", "outcome": "done", "at": at,
				"ticketId": 4711},
		}, "cursor": "next-page"}},
		"POST /v1/admin/partners/demo/reprocess":             {202, map[string]any{"eventId": "evt-1", "requestId": "op-0123456789abcdef", "status": "queued"}},
		"POST /v1/admin/partners/demo/customers/1001/sync":   {202, map[string]any{"customerId": "1001", "requestId": "op-feedface00000000", "status": "queued"}},
		"GET /v1/admin/partners/demo/doctor":                 {200, map[string]any{"ok": false, "problems": []map[string]any{{"setting": "board", "problem": "no board " + conHostile[0]}}}},
		"GET /v1/admin/partners/demo/customers/1001/preview": {200, map[string]any{"company": map[string]any{"id": 7, "name": conHostile[0]}, "changes": []map[string]any{{"What": "billing", "Target": "addition 1 (EFS-SELECT-GB)", "Field": "quantity", "From": 400, "To": 412.5}}, "errors": []any{}, "calls": 4}},
		"GET /v1/admin/partners/demo/customers/1001": {200, map[string]any{
			"customer": map[string]any{"partnerId": "demo", "customerId": "1001", "name": conHostile[0] + " & " + conHostile[1]},
			"accounts": []map[string]any{{"accountId": "ACME-SRV01", "name": conHostile[1], "kind": "server", "plan": "select", "onlineGB": 412.37, "localGB": 598.1, "lastBackupAt": at, "lastResult": "failure", "successes": 3, "failures": 1}},
			"figures":  map[string]any{"period": "2026-03", "successes": 3, "failures": 1, "servers": 1, "quantities": []map[string]any{{"service": "online_storage_select_gb", "product": "EFS-SELECT-GB", "quantity": 413, "billed": true}}},
			"sync":     map[string]any{"lastSyncAt": at, "windowHours": 12, "opensAt": at.Add(12 * time.Hour), "pending": true, "pendingSince": at},
		}},
	}}
	key := []byte("0123456789abcdef0123456789abcdef")
	auth := &TokenSignIn{OperatorToken: conOpToken, ViewerToken: conViewerToken, Key: key, Now: ck.Now}
	c := New(Options{API: api, Auth: auth, SessionKey: key, Now: ck.Now, Logger: slog.New(slog.DiscardHandler)})
	return &conEnv{t: t, api: api, h: c.Routes(), clock: ck}
}

// do serves one request; cookie is the session cookie (nil: none).
func (e *conEnv) do(method, target string, form url.Values, cookie *http.Cookie, hdr ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	conHeaders(e.t, method+" "+target, w)
	return w
}

func conHeaders(t *testing.T, what string, w *httptest.ResponseRecorder) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
		"Cache-Control":           "no-store",
	}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

// signIn signs in with token and returns the session cookie.
func (e *conEnv) signIn(token string) *http.Cookie {
	e.t.Helper()
	w := e.do("POST", "/console/signin", url.Values{"token": {token}, "next": {"/console/"}}, nil)
	if w.Code != http.StatusSeeOther {
		e.t.Fatalf("sign in: %d %s", w.Code, w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == SessionCookie {
			return c
		}
	}
	e.t.Fatal("sign in set no session cookie")
	return nil
}

var (
	conCSRFRe  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	conNonceRe = regexp.MustCompile(`name="nonce" value="([^"]+)"`)
)

// conTokens reads the CSRF token and a nonce from a page.
func conTokens(t *testing.T, page string) (csrf, nonce string) {
	t.Helper()
	m := conCSRFRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in page:\n%s", page)
	}
	n := conNonceRe.FindStringSubmatch(page)
	if n == nil {
		return m[1], ""
	}
	return m[1], n[1]
}

func TestSignInOut(t *testing.T) {
	e := newConEnv(t)
	w := e.do("GET", "/console/signin?next=/console/partners/demo/events", nil, nil)
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, `<label for="token">`) || !strings.Contains(body, `id="token" name="token" type="password"`) ||
		!strings.Contains(body, `name="next" value="/console/partners/demo/events"`) {
		t.Fatalf("sign-in form: %d\n%s", w.Code, body)
	}
	// A wrong token: 401, no session.
	w = e.do("POST", "/console/signin", url.Values{"token": {"nope"}}, nil)
	if w.Code != http.StatusUnauthorized || len(w.Result().Cookies()) != 0 || !strings.Contains(w.Body.String(), "not the operator token") {
		t.Fatalf("wrong token: %d %v", w.Code, w.Result().Cookies())
	}
	// An empty token never matches (even were a token configured empty).
	if w := e.do("POST", "/console/signin", url.Values{"token": {""}}, nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("empty token: %d", w.Code)
	}
	// The operator token: a session cookie with the right attributes, and
	// back to next.
	w = e.do("POST", "/console/signin", url.Values{"token": {conOpToken}, "next": {"/console/partners/demo/events?failed=true"}}, nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/partners/demo/events?failed=true" {
		t.Fatalf("sign in: %d %q", w.Code, w.Header().Get("Location"))
	}
	ck := w.Result().Cookies()[0]
	if ck.Name != "bb_session" || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console/" || ck.Secure ||
		ck.MaxAge != 12*3600 {
		t.Fatalf("cookie %+v", ck)
	}
	raw := w.Header().Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/console/", "Max-Age=43200"} {
		if !strings.Contains(raw, want) {
			t.Errorf("Set-Cookie %q lacks %s", raw, want)
		}
	}
	page := e.do("GET", "/console/", nil, ck)
	if page.Code != 200 || !strings.Contains(page.Body.String(), "Signed in as <strong>operator (token)</strong>") {
		t.Fatalf("partners page after sign-in: %d\n%s", page.Code, page.Body)
	}
	// Over https (API Gateway sets X-Forwarded-Proto): Secure.
	w = e.do("POST", "/console/signin", url.Values{"token": {conViewerToken}}, nil, "X-Forwarded-Proto", "https")
	if c := w.Result().Cookies()[0]; !c.Secure {
		t.Fatalf("cookie over https not Secure: %+v", c)
	}
	// Sign out: the cookie is cleared, and the browser goes to sign-in.
	csrf, _ := conTokens(t, page.Body.String())
	w = e.do("POST", "/console/signout", url.Values{"csrf": {csrf}}, ck)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/signin" {
		t.Fatalf("sign out: %d %q", w.Code, w.Header().Get("Location"))
	}
	out := w.Result().Cookies()[0]
	if out.Name != SessionCookie || out.MaxAge >= 0 || out.Value != "" || out.Path != "/console/" {
		t.Fatalf("sign-out cookie %+v", out)
	}
	// A cross-site sign-in is refused.
	if w := e.do("POST", "/console/signin", url.Values{"token": {conOpToken}}, nil, "Origin", "https://evil.example"); w.Code != http.StatusForbidden || len(w.Result().Cookies()) != 0 {
		t.Fatalf("cross-site sign-in: %d", w.Code)
	}
}

func TestSessionExpiresAndTampering(t *testing.T) {
	e := newConEnv(t)
	ck := e.signIn(conOpToken)
	if w := e.do("GET", "/console/", nil, ck); w.Code != 200 {
		t.Fatalf("signed in: %d", w.Code)
	}
	// A changed role or signature is no session: a viewer's cookie made
	// an operator's with the viewer's signature, a cut signature, junk.
	vck := e.signIn(conViewerToken)
	vpayload, vmac, _ := strings.Cut(vck.Value, ".")
	raw, err := base64.RawURLEncoding.DecodeString(vpayload)
	if err != nil || !strings.Contains(string(raw), "|viewer|") {
		t.Fatalf("viewer cookie payload %q (%v)", raw, err)
	}
	promoted := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), "|viewer|", "|operator|", 1)))
	payload, mac, _ := strings.Cut(ck.Value, ".")
	for _, v := range []string{promoted + "." + vmac, payload + "." + mac[:len(mac)-4], payload, "garbage", ""} {
		bad := &http.Cookie{Name: SessionCookie, Value: v}
		if w := e.do("GET", "/console/", nil, bad); w.Code != http.StatusSeeOther {
			t.Errorf("tampered cookie %q: %d", v, w.Code)
		}
	}
	// Another key's cookie is no session.
	other := &TokenSignIn{OperatorToken: conOpToken, Key: []byte("another key, another key, another"), Now: e.clock.Now}
	req := httptest.NewRequest("GET", "/console/", nil)
	req.AddCookie(ck)
	if _, ok := other.Identify(req); ok {
		t.Error("a cookie signed with another key was accepted")
	}
	e.clock.Add(12*time.Hour + time.Second)
	if w := e.do("GET", "/console/", nil, ck); w.Code != http.StatusSeeOther {
		t.Fatalf("expired session: %d", w.Code)
	}
}

func TestUnauthenticatedRedirects(t *testing.T) {
	e := newConEnv(t)
	for _, p := range []string{"/console/", "/console/partners/demo", "/console/partners/demo/events?customer=1001&failed=true",
		"/console/partners/demo/customers/1001", "/console/partners/demo/doctor", "/console/no/such/page"} {
		w := e.do("GET", p, nil, nil)
		want := "/console/signin?next=" + url.QueryEscape(p)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != want {
			t.Errorf("GET %s: %d %q, want 303 %q", p, w.Code, w.Header().Get("Location"), want)
		}
	}
	// Writes without a session: 403, and the API is not called.
	for _, p := range []string{"/console/partners/demo/reprocess", "/console/partners/demo/customers/1001/sync"} {
		if w := e.do("POST", p, url.Values{"eventId": {"evt-1"}}, nil); w.Code != http.StatusForbidden {
			t.Errorf("POST %s without session: %d", p, w.Code)
		}
	}
	if len(e.api.calls) != 0 {
		t.Errorf("API called %d times without a session", len(e.api.calls))
	}
	if w := e.do("GET", "/console", nil, nil); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/console/" {
		t.Errorf("GET /console: %d %q", w.Code, w.Header().Get("Location"))
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                                  "/console/",
		"/console/partners/demo/events?x=1": "/console/partners/demo/events?x=1",
		"//evil.example/console/":           "/console/",
		"https://evil.example/console/":     "/console/",
		"/console/../v1/admin/partners":     "/console/",
		"/console/\\evil.example":           "/console/",
		"/v1/admin/partners":                "/console/",
		"/console/x\r\nLocation: y":         "/console/",
		"javascript:alert(1)":               "/console/",
		"/console//evil.example":            "/console//evil.example",
	} {
		if got := SafeNext(in); got != want {
			t.Errorf("SafeNext(%q) = %q, want %q", in, got, want)
		}
	}
	// The sign-in honours only safe next paths.
	e := newConEnv(t)
	w := e.do("POST", "/console/signin", url.Values{"token": {conOpToken}, "next": {"https://evil.example/"}}, nil)
	if w.Header().Get("Location") != "/console/" {
		t.Errorf("next to another site: Location %q", w.Header().Get("Location"))
	}
}

// TestPagesRenderAndEscape renders every page as an operator: the security
// headers are on every answer, conHostile names are escaped, every control has
// a label.
func TestPagesRenderAndEscape(t *testing.T) {
	e := newConEnv(t)
	ck := e.signIn(conOpToken)
	for _, p := range []string{"/console/", "/console/partners/demo", "/console/partners/demo/events",
		"/console/partners/demo/customers/1001", "/console/partners/demo/customers/1001?preview=1", "/console/partners/demo/doctor"} {
		w := e.do("GET", p, nil, ck)
		body := w.Body.String()
		if w.Code != 200 {
			t.Errorf("GET %s: %d\n%s", p, w.Code, body)
			continue
		}
		if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", p, ct)
		}
		for _, bad := range []string{"<script>alert", "<img src=x", "onerror=alert(1)>"} {
			if strings.Contains(body, bad) {
				t.Errorf("GET %s: unescaped %q in the page", p, bad)
			}
		}
		if strings.Contains(body, "style=") || regexp.MustCompile(`<script>`).MatchString(body) {
			t.Errorf("GET %s: inline style or script", p)
		}
		if !strings.Contains(body, `<main id="main"`) || !strings.Contains(body, `action="/console/signout"`) {
			t.Errorf("GET %s: no main landmark or sign-out form", p)
		}
		conLabels(t, p, body)
	}
	w := e.do("GET", "/console/partners/demo/customers/1001", nil, ck)
	if !strings.Contains(w.Body.String(), "&lt;script&gt;alert(1)&lt;/script&gt;") || !strings.Contains(w.Body.String(), "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;") {
		t.Errorf("conHostile customer name not shown escaped:\n%s", w.Body)
	}
}

var (
	conControlRe = regexp.MustCompile(`<(input|select|textarea)\b[^>]*>`)
	conIDRe      = regexp.MustCompile(`\bid="([^"]+)"`)
	conTypeRe    = regexp.MustCompile(`\btype="([^"]+)"`)
)

// conLabels: every visible control has a <label for> (buttons are their
// own label).
func conLabels(t *testing.T, page, body string) {
	t.Helper()
	for _, m := range conControlRe.FindAllString(body, -1) {
		if tm := conTypeRe.FindStringSubmatch(m); tm != nil && (tm[1] == "hidden" || tm[1] == "submit") {
			continue
		}
		id := conIDRe.FindStringSubmatch(m)
		if id == nil || !strings.Contains(body, `<label for="`+id[1]+`">`) {
			t.Errorf("%s: control without a label: %s", page, m)
		}
	}
}

func TestEventLogFiltersPassedThrough(t *testing.T) {
	e := newConEnv(t)
	ck := e.signIn(conViewerToken)
	w := e.do("GET", "/console/partners/demo/events?customer=1001&type=notification&outcome=failed&failed=true&cursor=abc", nil, ck)
	if w.Code != 200 {
		t.Fatalf("events: %d", w.Code)
	}
	r, _ := e.api.last("GET", "/v1/admin/partners/demo/events")
	q := r.URL.Query()
	for k, v := range map[string]string{"customer": "1001", "type": "notification", "outcome": "failed", "failed": "true", "cursor": "abc"} {
		if q.Get(k) != v {
			t.Errorf("API query %s = %q, want %q (%s)", k, q.Get(k), v, r.URL.RawQuery)
		}
	}
	body := w.Body.String()
	// The form shows the filters; the next page keeps them.
	for _, want := range []string{`value="1001"`, `<option value="notification" selected>`, `<option value="failed" selected>`, `id="f-failed" type="checkbox" name="failed" value="true" checked`,
		`href="/console/partners/demo/events?cursor=next-page&amp;customer=1001&amp;failed=true&amp;outcome=failed&amp;type=notification"`} {
		if !strings.Contains(body, want) {
			t.Errorf("events page lacks %s", want)
		}
	}
	// Code, message, remedy, ConnectWise's message and the ticket link.
	for _, want := range []string{"CW_BOARD_MISSING", "board missing &lt;script&gt;", "create the board &#34;&gt;&lt;img",
		`href="https://na.myconnectwise.net/v4_6_release/services/system_io/Service/fv_sr100_request.rails?service_recid=4711"`} {
		if !strings.Contains(body, want) {
			t.Errorf("events page lacks %s", want)
		}
	}
	// No filter: none sent.
	e.do("GET", "/console/partners/demo/events", nil, ck)
	if r, _ := e.api.last("GET", "/v1/admin/partners/demo/events"); r.URL.RawQuery != "" {
		t.Errorf("unfiltered query %q", r.URL.RawQuery)
	}
}

func TestViewerSeesNoWriteControlsAndIsRefused(t *testing.T) {
	e := newConEnv(t)
	ck := e.signIn(conViewerToken)
	var csrf string
	for _, p := range []string{"/console/", "/console/partners/demo", "/console/partners/demo/events", "/console/partners/demo/customers/1001"} {
		w := e.do("GET", p, nil, ck)
		body := w.Body.String()
		if w.Code != 200 {
			t.Fatalf("viewer GET %s: %d", p, w.Code)
		}
		for _, bad := range []string{"/reprocess", "/sync\"", "Sync now</button>", "Reprocess</button>", "New partner", "/edit/"} {
			if strings.Contains(body, bad) {
				t.Errorf("viewer page %s shows a write control (%s)", p, bad)
			}
		}
		if strings.Contains(body, `name="nonce"`) {
			t.Errorf("viewer page %s has a write form", p)
		}
		csrf, _ = conTokens(t, body) // the sign-out form's
	}
	// Even with a valid CSRF token, a viewer's write is 403 and never
	// reaches the API.
	for _, p := range []string{"/console/partners/demo/reprocess", "/console/partners/demo/customers/1001/sync"} {
		w := e.do("POST", p, url.Values{"csrf": {csrf}, "eventId": {"evt-1"}}, ck)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "can only read") {
			t.Errorf("viewer POST %s: %d\n%s", p, w.Code, w.Body)
		}
	}
	if n := e.api.count("POST", "/v1/admin/partners/demo/reprocess") + e.api.count("POST", "/v1/admin/partners/demo/customers/1001/sync"); n != 0 {
		t.Errorf("viewer writes reached the API %d times", n)
	}
}

func TestCSRF(t *testing.T) {
	e := newConEnv(t)
	ck := e.signIn(conOpToken)
	page := e.do("GET", "/console/partners/demo/events", nil, ck).Body.String()
	csrf, nonce := conTokens(t, page)
	other := e.signIn(conOpToken) // another session: another token
	otherCSRF, _ := conTokens(t, e.do("GET", "/console/", nil, other).Body.String())
	if otherCSRF == csrf {
		t.Fatal("two sessions have the same CSRF token")
	}
	for name, form := range map[string]url.Values{
		"no token":           {"eventId": {"evt-1"}, "nonce": {nonce}},
		"wrong token":        {"eventId": {"evt-1"}, "csrf": {"x" + csrf}, "nonce": {nonce}},
		"another session's":  {"eventId": {"evt-1"}, "csrf": {otherCSRF}, "nonce": {nonce}},
		"token in the query": nil,
	} {
		target := "/console/partners/demo/reprocess"
		if form == nil {
			target += "?csrf=" + url.QueryEscape(csrf)
			form = url.Values{"eventId": {"evt-1"}}
		}
		if w := e.do("POST", target, form, ck); w.Code != http.StatusForbidden {
			t.Errorf("%s: %d", name, w.Code)
		}
	}
	// From another site, even with the token: 403.
	if w := e.do("POST", "/console/partners/demo/reprocess", url.Values{"eventId": {"evt-1"}, "csrf": {csrf}}, ck, "Origin", "https://evil.example"); w.Code != http.StatusForbidden {
		t.Errorf("cross-origin POST: %d", w.Code)
	}
	if n := e.api.count("POST", "/v1/admin/partners/demo/reprocess"); n != 0 {
		t.Fatalf("refused writes reached the API %d times", n)
	}
	// With it: done. GET never writes.
	w := e.do("POST", "/console/partners/demo/reprocess", url.Values{"eventId": {"evt-1"}, "csrf": {csrf}, "nonce": {nonce}}, ck, "Origin", "http://example.com")
	if w.Code != http.StatusAccepted || !strings.Contains(w.Body.String(), "queued") {
		t.Fatalf("reprocess: %d\n%s", w.Code, w.Body)
	}
	if _, body := e.api.last("POST", "/v1/admin/partners/demo/reprocess"); strings.TrimSpace(body) != `{"eventId":"evt-1"}` {
		t.Errorf("reprocess body %s", body)
	}
	if w := e.do("GET", "/console/partners/demo/reprocess", nil, ck); w.Code == http.StatusAccepted {
		t.Error("GET reprocess did something")
	}
}

func TestReprocessDoubleSubmitIsOneCall(t *testing.T) {
	e := newConEnv(t)
	ck := e.signIn(conOpToken)
	csrf, nonce := conTokens(t, e.do("GET", "/console/partners/demo/events", nil, ck).Body.String())
	form := url.Values{"eventId": {"evt-1"}, "csrf": {csrf}, "nonce": {nonce}}
	var wg sync.WaitGroup
	bodies := make([]string, 5)
	codes := make([]int, 5)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := e.do("POST", "/console/partners/demo/reprocess", form, ck)
			bodies[i], codes[i] = w.Body.String(), w.Code
		}()
	}
	wg.Wait()
	for i := range bodies {
		if codes[i] != http.StatusAccepted || bodies[i] != bodies[0] {
			t.Errorf("submit %d: %d, same answer %v", i, codes[i], bodies[i] == bodies[0])
		}
	}
	if n := e.api.count("POST", "/v1/admin/partners/demo/reprocess"); n != 1 {
		t.Fatalf("5 submits of one form made %d API calls, want 1", n)
	}
	if !strings.Contains(bodies[0], "op-0123456789abcdef") {
		t.Errorf("answer lacks the request id:\n%s", bodies[0])
	}
	// A new form (new nonce) is a new request; a forged nonce is not
	// remembered.
	_, nonce2 := conTokens(t, e.do("GET", "/console/partners/demo/events", nil, ck).Body.String())
	if nonce2 == nonce {
		t.Fatal("the same nonce twice")
	}
	e.do("POST", "/console/partners/demo/reprocess", url.Values{"eventId": {"evt-1"}, "csrf": {csrf}, "nonce": {nonce2}}, ck)
	if n := e.api.count("POST", "/v1/admin/partners/demo/reprocess"); n != 2 {
		t.Fatalf("a second form: %d API calls, want 2", n)
	}
	// Sync now: the same.
	csrf, nonce = conTokens(t, e.do("GET", "/console/partners/demo/customers/1001", nil, ck).Body.String())
	for range 2 {
		w := e.do("POST", "/console/partners/demo/customers/1001/sync", url.Values{"csrf": {csrf}, "nonce": {nonce}}, ck)
		if w.Code != http.StatusAccepted {
			t.Fatalf("sync now: %d\n%s", w.Code, w.Body)
		}
	}
	if n := e.api.count("POST", "/v1/admin/partners/demo/customers/1001/sync"); n != 1 {
		t.Fatalf("sync now twice: %d API calls, want 1", n)
	}
	// After the nonce's time, it is forgotten (a new request).
	e.clock.Add(nonceTTL + time.Minute)
	e.do("POST", "/console/partners/demo/customers/1001/sync", url.Values{"csrf": {csrf}, "nonce": {nonce}}, ck)
	if n := e.api.count("POST", "/v1/admin/partners/demo/customers/1001/sync"); n != 2 {
		t.Fatalf("after the nonce expired: %d API calls, want 2", n)
	}
}

func TestReprocessSince(t *testing.T) {
	e := newConEnv(t)
	e.api.answers["POST /v1/admin/partners/demo/reprocess"] = conAnswer{202, map[string]any{"queued": 3, "requestId": "op-since-1"}}
	ck := e.signIn(conOpToken)
	csrf, nonce := conTokens(t, e.do("GET", "/console/partners/demo/events", nil, ck).Body.String())
	w := e.do("POST", "/console/partners/demo/reprocess", url.Values{"since": {"2026-03-02T12:00"}, "csrf": {csrf}, "nonce": {nonce}}, ck)
	if w.Code != http.StatusAccepted || !strings.Contains(w.Body.String(), "3 fixable failed events were queued") {
		t.Fatalf("reprocess since: %d\n%s", w.Code, w.Body)
	}
	if _, body := e.api.last("POST", "/v1/admin/partners/demo/reprocess"); strings.TrimSpace(body) != `{"since":"2026-03-02T12:00:00Z"}` {
		t.Errorf("body %s", body)
	}
	// Refusals of the API are shown in its words, with its status.
	e.api.answers["POST /v1/admin/partners/demo/reprocess"] = conAnswer{404, map[string]string{"error": "no failed entry of event evt-9 keeps the event", "field": "eventId"}}
	w = e.do("POST", "/console/partners/demo/reprocess", url.Values{"eventId": {"evt-9"}, "csrf": {csrf}}, ck)
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "no failed entry of event evt-9") {
		t.Fatalf("refused: %d\n%s", w.Code, w.Body)
	}
	if w := e.do("POST", "/console/partners/demo/reprocess", url.Values{"since": {"yesterday"}, "csrf": {csrf}}, ck); w.Code != http.StatusBadRequest {
		t.Fatalf("bad time: %d", w.Code)
	}
}

func TestStaticAndNotFound(t *testing.T) {
	e := newConEnv(t)
	for p, ct := range map[string]string{"/console/static/console.css": "text/css", "/console/static/console.js": "text/javascript"} {
		w := e.do("GET", p, nil, nil)
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), ct) {
			t.Errorf("GET %s: %d %q", p, w.Code, w.Header().Get("Content-Type"))
		}
	}
	ck := e.signIn(conOpToken)
	if w := e.do("GET", "/console/no/such/page", nil, ck); w.Code != http.StatusNotFound {
		t.Errorf("unknown page: %d", w.Code)
	}
	if w := e.do("GET", "/console/partners/nobody", nil, ck); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "no such operator route") {
		t.Errorf("API 404: %d\n%s", w.Code, w.Body)
	}
}

func TestTicketURL(t *testing.T) {
	for _, c := range []struct {
		site string
		id   int64
		want string
	}{
		{"https://na.myconnectwise.net", 42, "https://na.myconnectwise.net/v4_6_release/services/system_io/Service/fv_sr100_request.rails?service_recid=42"},
		{"https://na.myconnectwise.net/", 42, "https://na.myconnectwise.net/v4_6_release/services/system_io/Service/fv_sr100_request.rails?service_recid=42"},
		{"na.myconnectwise.net", 7, "https://na.myconnectwise.net/v4_6_release/services/system_io/Service/fv_sr100_request.rails?service_recid=7"},
		{"javascript:alert(1)//", 7, ""},
		{"https://x.example/path", 7, ""},
		{"https://na.myconnectwise.net", 0, ""},
		{"", 7, ""},
	} {
		if got := ticketURL(c.site, c.id); got != c.want {
			t.Errorf("ticketURL(%q, %d) = %q, want %q", c.site, c.id, got, c.want)
		}
	}
}

type formActionAuth struct {
	*TokenSignIn
	origins []string
}

func (f formActionAuth) FormActionOrigins() []string { return f.origins }

func TestCSPFormActionOrigins(t *testing.T) {
	a := formActionAuth{&TokenSignIn{Key: []byte("k")}, []string{"https://bb.auth.eu-west-1.amazoncognito.com", "http://plain.example", "https://x.example/path", "https://a.example; script-src *"}}
	got := csp(a)
	want := "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self' https://bb.auth.eu-west-1.amazoncognito.com; frame-ancestors 'none'; base-uri 'none'"
	if got != want {
		t.Errorf("csp = %q\nwant  %q", got, want)
	}
	if csp(&TokenSignIn{}) != ContentSecurityPolicy {
		t.Error("the CSP changed without form-action origins")
	}
}
