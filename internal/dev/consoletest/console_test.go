package consoletest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/efs-cw/backupbridge/internal/partner"
)

// xss are payloads a hostile backup provider or ConnectWise could put in a
// name; each must show as text and never run.
const (
	xssName    = `<img src=x onerror="alert('xss-customer')">Evil "Dental"`
	xssAccount = `</td><script>alert('xss-account')</script>`
)

// TestXSSInNamesIsInert: a customer and an account named with HTML and
// script are shown as text on the event log and the customer page; no
// script runs (no dialog opens) and no element is injected.
func TestXSSInNamesIsInert(t *testing.T) {
	e := start(t)
	if code := e.post(partner.DemoPartnerID, partner.DemoWebhookSecret, failureEvent("1001", xssName, "ACME-XSS", xssAccount)); code != http.StatusAccepted {
		t.Fatalf("webhook answered %d", code)
	}
	e.signIn(operatorToken)
	var last string
	eventually(t, "the event in the log", func() bool {
		e.run("event log", chromedp.Navigate(e.st.URL+"/console/partners/demo/events?customer=1001"))
		last = e.text()
		return strings.Contains(last, "ACME-XSS")
	}, func() { t.Logf("the event log page says:\n%s", last) })
	e.shot("event-log")
	e.run("customer page", chromedp.Navigate(e.st.URL+"/console/partners/demo/customers/1001"),
		chromedp.WaitVisible(chromedp.CSS("main")))
	injected := get(e, "count injected elements", chromedp.Evaluate[int](`document.querySelectorAll('main img, main script').length`))
	text := e.text()
	// The service keeps account names (customers are shown by id); the
	// customer's payload still travels the whole path, and would open a
	// dialog if any page rendered it as HTML.
	if !strings.Contains(text, xssAccount) {
		t.Errorf("the hostile account name is not shown as text on the customer page:\n%s", text)
	}
	if injected != 0 {
		t.Errorf("%d img/script elements were injected into the customer page", injected)
	}
	e.shot("customer")
	e.mu.Lock()
	dialogs := *e.dialogs
	e.mu.Unlock()
	if dialogs != 0 {
		t.Errorf("%d JavaScript dialogs opened: a payload ran", dialogs)
	}
}

// TestViewerCannotWrite: a viewer sees no write control on any page, and a
// write forged from the viewer's own signed-in page is refused by the
// server.
func TestViewerCannotWrite(t *testing.T) {
	e := start(t)
	if code := e.post(partner.DemoPartnerID, partner.DemoWebhookSecret, failureEvent("1003", "Cedar Clinic", "CEDAR-NAS", "Cedar NAS")); code != http.StatusAccepted {
		t.Fatalf("webhook answered %d", code)
	}
	e.signIn(viewerToken)
	pages := []string{"/console/", "/console/partners/demo", "/console/partners/demo/events?failed=true", "/console/partners/demo/customers/1003"}
	for _, p := range pages {
		e.run("viewer page "+p, chromedp.Navigate(e.st.URL+p), chromedp.WaitVisible(chromedp.CSS("main")))
		forms := get(e, "list write forms", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('main form')).filter(f => f.method.toLowerCase() === 'post').map(f => f.getAttribute('action'))`))
		if len(forms) != 0 {
			t.Errorf("%s: a viewer sees write forms %v", p, forms)
		}
	}
	e.shot("viewer-partners")
	// A forged write with the viewer's own session cookie and CSRF token
	// (from the sign-out form): refused by role, whatever the page showed.
	e.run("event log", chromedp.Navigate(e.st.URL+"/console/partners/demo/events"))
	token := get(e, "CSRF token", chromedp.Evaluate[string](`document.querySelector('form[action="/console/signout"] input[name=csrf]').value`))
	for _, w := range []struct{ path, form string }{
		{"/console/partners/demo/reprocess", "eventId=x"},
		{"/console/partners/demo/customers/1003/sync", ""},
		{"/console/partners/new", "id=forged&siteUrl=https%3A%2F%2Fcw.example.com"},
	} {
		if status := e.postAs(w.path, "csrf="+token+"&"+w.form); status != http.StatusForbidden {
			t.Errorf("a viewer's forged POST %s answered %d, want 403", w.path, status)
		}
	}
}

// TestPagesReadOnAPhone: every page fits a 390-pixel-wide phone screen (no
// horizontal scrolling) and every control has a label.
func TestPagesReadOnAPhone(t *testing.T) {
	e := start(t)
	if code := e.post(partner.DemoPartnerID, partner.DemoWebhookSecret, failureEvent("1003", "Cedar Clinic", "CEDAR-NAS", "Cedar NAS")); code != http.StatusAccepted {
		t.Fatalf("webhook answered %d", code)
	}
	e.run("sign-in page", chromedp.Navigate(e.st.URL+"/console/signin"), chromedp.WaitVisible(chromedp.ID("token")))
	e.shot("signin")
	e.signIn(operatorToken)
	eventually(t, "the failure in the log", func() bool {
		e.run("event log", chromedp.Navigate(e.st.URL+"/console/partners/demo/events?failed=true"), chromedp.WaitVisible(chromedp.CSS("main")))
		return strings.Contains(e.text(), "CEDAR-NAS")
	})
	e.run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	for _, p := range []struct{ path, shot string }{
		{"/console/", "phone-partners"},
		{"/console/partners/demo", "phone-partner"},
		{"/console/partners/demo/events?failed=true", "phone-event-log"},
		{"/console/partners/demo/customers/1003", "phone-customer"},
		{"/console/partners/demo/edit/1", "phone-wizard-1"},
	} {
		e.run("phone "+p.path, chromedp.Navigate(e.st.URL+p.path), chromedp.WaitVisible(chromedp.CSS("main")))
		if over := get(e, "overflow", chromedp.Evaluate[int](`document.documentElement.scrollWidth - document.documentElement.clientWidth`)); over > 0 {
			t.Errorf("%s: %d pixels wider than a 390-pixel phone screen", p.path, over)
		}
		unlabelled := get(e, "labels", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea')).filter(c => !(c.labels && c.labels.length) && !c.getAttribute('aria-label')).map(c => c.name || c.id)`))
		if len(unlabelled) != 0 {
			t.Errorf("%s: controls without a label: %v", p.path, unlabelled)
		}
		e.shot(p.shot)
	}
}
