package localstack_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/console"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// browser is a cookie-keeping client of the local console that does not
// follow redirects (the test looks at them).
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, h *harness) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: h.st.URL, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request (a form when form is not nil) and returns the answer
// and its body. Every console answer must carry the security headers.
func (b *browser) do(method, path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if got := resp.Header.Get("Content-Security-Policy"); got != console.ContentSecurityPolicy {
		b.t.Errorf("%s %s: Content-Security-Policy %q", method, path, got)
	}
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store"} {
		if resp.Header.Get(k) != v {
			b.t.Errorf("%s %s: %s = %q, want %q", method, path, k, resp.Header.Get(k), v)
		}
	}
	return resp, string(raw)
}

func (b *browser) page(path string) string {
	b.t.Helper()
	resp, body := b.do("GET", path, nil)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, body)
	}
	return body
}

func (b *browser) signIn(token string) *http.Cookie {
	b.t.Helper()
	resp, body := b.do("POST", "/console/signin", url.Values{"token": {token}, "next": {"/console/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
		b.t.Fatalf("sign in: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == console.SessionCookie {
			return c
		}
	}
	b.t.Fatal("no session cookie")
	return nil
}

var (
	csrfField  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	nonceField = regexp.MustCompile(`name="nonce" value="([^"]+)"`)
)

func formTokens(t *testing.T, page string) (csrf, nonce string) {
	t.Helper()
	c, n := csrfField.FindStringSubmatch(page), nonceField.FindStringSubmatch(page)
	if c == nil || n == nil {
		t.Fatalf("page has no write form:\n%s", page)
	}
	return c[1], n[1]
}

const hostileName = `<script>alert(1)</script>"><img src=x onerror=alert(1)>`

func checkEscaped(t *testing.T, what, body string) {
	t.Helper()
	for _, bad := range []string{"<script>alert", "<img src=x", "onerror=alert(1)>"} {
		if strings.Contains(body, bad) {
			t.Errorf("%s: unescaped %q", what, bad)
		}
	}
}

// TestConsoleEndToEnd runs the console on the local stack as make run
// mounts it: signed-out redirects, the viewer's read-only pages, an event
// that fails because of the partner's settings, the operator's reprocess
// (submitted twice: one request), the customer page with a hostile name,
// its billing preview from the simulator, Sync now, and sign-out.
func TestConsoleEndToEnd(t *testing.T) {
	h := start(t)
	if h.st.ViewerToken == "" || h.st.ViewerToken == h.st.OperatorToken {
		t.Fatalf("viewer token %q", h.st.ViewerToken)
	}
	if want := h.st.URL + "/console/"; h.st.ConsoleURL() != want {
		t.Fatalf("ConsoleURL = %q, want %q", h.st.ConsoleURL(), want)
	}
	b := newBrowser(t, h)

	// Signed out: every page sends to the sign-in, which is a form.
	resp, _ := b.do("GET", "/console/partners/demo/events?failed=true", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/signin?next=%2Fconsole%2Fpartners%2Fdemo%2Fevents%3Ffailed%3Dtrue" {
		t.Fatalf("signed out: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if body := b.page("/console/signin"); !strings.Contains(body, `type="password"`) {
		t.Fatalf("sign-in page:\n%s", body)
	}
	// The operator API is still behind its bearer token, not the console's cookie.
	if resp, _ := http.Get(h.st.URL + "/v1/admin/partners"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("operator API without a token: %d", resp.StatusCode)
	}

	// A failure caused by the partner's settings, for a customer with a
	// hostile name.
	h.updatePartner(func(p *partner.Partner) { p.NewStatus = "Triage" })
	now := h.clock.Now()
	// (The usage state keeps account names, not customer names: the
	// customer's name is hostile too, and the account's is what is shown.)
	body := fmt.Appendf(nil, `{"specVersion":"1.0","type":"backup.completed","occurredAt":%q,"customer":{"id":"1001","name":%q},`+
		`"backup":{"account":{"id":"ACME-SRV01","name":%q,"kind":"server","plan":"select"},"result":"failure","endedAt":%q,"onlineGB":120.5,"localGB":300,"message":%q}}`,
		now.Format(time.RFC3339), hostileName, hostileName, now.Format(time.RFC3339), "engine says "+hostileName)
	eventID := h.deliver(body)
	if n := len(h.sim.Tickets()); n != 0 {
		t.Fatalf("tickets before the fix: %d", n)
	}

	// The viewer: reads everything, writes nothing.
	ck := b.signIn(h.st.ViewerToken)
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console/" || ck.Secure {
		t.Errorf("session cookie %+v", ck)
	}
	list := b.page("/console/")
	if !strings.Contains(list, "Demo MSP") || !strings.Contains(list, `href="/console/partners/demo/events?outcome=failed">1</a>`) {
		t.Errorf("partner list lacks the demo partner's failure:\n%s", list)
	}
	events := b.page("/console/partners/demo/events?failed=true")
	for _, want := range []string{outcome.CodeStatusNotFound, "Triage", eventID} {
		if !strings.Contains(events, want) {
			t.Errorf("failed events page lacks %q", want)
		}
	}
	checkEscaped(t, "event log", events)
	if strings.Contains(events, "/reprocess") || strings.Contains(events, `name="nonce"`) {
		t.Error("the viewer's event log shows a write form")
	}
	viewerCSRF := csrfField.FindStringSubmatch(events)[1] // the sign-out form's
	if resp, _ := b.do("POST", "/console/partners/demo/reprocess", url.Values{"csrf": {viewerCSRF}, "eventId": {eventID}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer reprocess: %d", resp.StatusCode)
	}
	if n := h.queueDepth(h.st.QueueURL); n != 0 {
		t.Fatalf("the viewer's refused write queued %d messages", n)
	}
	// Filters reach the API: another type, no entries.
	if p := b.page("/console/partners/demo/events?type=usage.snapshot&outcome=failed"); !strings.Contains(p, "No entries match these filters") {
		t.Errorf("filtered event log:\n%s", p)
	}
	if p := b.page("/console/partners/demo/events?type=backup.completed&outcome=failed&customer=1001"); !strings.Contains(p, eventID) {
		t.Errorf("filtered event log lacks the failure")
	}

	// The operator fixes the setting and reprocesses: the form sent twice
	// (a double click) is one request, one queued message, one ticket.
	h.updatePartner(func(p *partner.Partner) { p.NewStatus = "New" })
	b.signIn(h.st.OperatorToken)
	events = b.page("/console/partners/demo/events?failed=true")
	if !strings.Contains(events, `name="eventId" value="`+eventID+`"`) {
		t.Fatalf("the operator's event log has no reprocess form for %s", eventID)
	}
	csrf, nonce := formTokens(t, events)
	form := url.Values{"csrf": {csrf}, "nonce": {nonce}, "eventId": {eventID}}
	r1, b1 := b.do("POST", "/console/partners/demo/reprocess", form)
	r2, b2 := b.do("POST", "/console/partners/demo/reprocess", form)
	if r1.StatusCode != http.StatusAccepted || r2.StatusCode != http.StatusAccepted || b1 != b2 || !strings.Contains(b1, "queued") {
		t.Fatalf("reprocess twice: %d %d, same answer %v\n%s", r1.StatusCode, r2.StatusCode, b1 == b2, b1)
	}
	if n := h.queueDepth(h.st.QueueURL); n != 1 {
		t.Fatalf("two submits of one reprocess form queued %d messages, want 1", n)
	}
	// Without the CSRF token: 403, nothing queued.
	if resp, _ := b.do("POST", "/console/partners/demo/reprocess", url.Values{"eventId": {eventID}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("reprocess without CSRF token: %d", resp.StatusCode)
	}
	h.settle()
	if tk := h.only(); tk.ID == 0 {
		t.Fatalf("ticket after reprocess: %+v", tk)
	}
	if p := b.page("/console/partners/demo/events?failed=true"); strings.Contains(p, `name="eventId" value="`+eventID+`"`) {
		t.Error("the failure is still listed to fix after the reprocess")
	}
	done := b.page("/console/partners/demo/events?outcome=done&customer=1001")
	if !strings.Contains(done, "/v4_6_release/services/system_io/Service/fv_sr100_request.rails?service_recid=") {
		t.Errorf("the done entry has no ticket link:\n%s", done)
	}

	// The customer: the hostile account name escaped, its account and window.
	cust := b.page("/console/partners/demo/customers/1001")
	checkEscaped(t, "customer page", cust)
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img src=x onerror=alert(1)&gt;", "ACME-SRV01", "120.5", "12-hour window", "Sync now"} {
		if !strings.Contains(cust, want) {
			t.Errorf("customer page lacks %q", want)
		}
	}
	checkEscaped(t, "partner page", b.page("/console/partners/demo"))
	preview := b.page("/console/partners/demo/customers/1001?preview=1")
	if !strings.Contains(preview, "a dry run") {
		t.Errorf("billing preview:\n%s", preview[strings.Index(preview, `id="preview-h"`):])
	}
	// Sync now, twice from the same form: one sync queued.
	csrf, nonce = formTokens(t, cust)
	sync := url.Values{"csrf": {csrf}, "nonce": {nonce}}
	for range 2 {
		if resp, body := b.do("POST", "/console/partners/demo/customers/1001/sync", sync); resp.StatusCode != http.StatusAccepted || !strings.Contains(body, "was queued") {
			t.Fatalf("sync now: %d\n%s", resp.StatusCode, body)
		}
	}
	if n := h.queueDepth(h.st.SyncURL); n != 1 {
		t.Fatalf("sync now twice queued %d messages on the sync queue, want 1", n)
	}
	h.settle()
	if p := b.page("/console/partners/demo/customers/1001"); strings.Contains(p, "Last sync</dt><dd>never") {
		t.Error("the customer shows no sync after Sync now")
	}

	// The doctor, on demand; the list then shows its verdict.
	if p := b.page("/console/partners/demo/doctor"); !strings.Contains(p, "Checked at") {
		t.Errorf("doctor page:\n%s", p)
	}
	if p := b.page("/console/"); !strings.Contains(p, "Check again") {
		t.Error("the partner list does not show the doctor's last verdict")
	}

	// Sign out: the pages send to the sign-in again.
	csrf, _ = formTokens(t, cust)
	if resp, _ := b.do("POST", "/console/signout", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d", resp.StatusCode)
	}
	if resp, _ := b.do("GET", "/console/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d", resp.StatusCode)
	}
	// Static assets and the bare /console.
	if resp, _ := b.do("GET", "/console/static/console.css", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("stylesheet: %d", resp.StatusCode)
	}
	if resp, _ := b.do("GET", "/console", nil); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/console/" {
		t.Errorf("GET /console: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
