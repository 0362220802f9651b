package consoletest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/efs-cw/backupbridge/internal/audit"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// The billing pages (issue 11) in a real browser: a customer's first sync
// writes its quantities (the audit trail's changes), a drift is on record,
// and the partner's billing page shows the month's statement and the drift
// report, the customer's audit trail page its changes, and the CSV links
// download CSV. Both pages fit a phone screen.
func TestBillingPagesInTheBrowser(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	if code := e.post(partner.DemoPartnerID, partner.DemoWebhookSecret, failureEvent("1001", "Acme Dental", "ACME-SRV01", "File server")); code != http.StatusAccepted {
		t.Fatalf("webhook answered %d", code)
	}
	month := audit.Month(time.Now())
	store := e.st.Service.Admin.Audit
	eventually(t, "the first sync's changes in the trail", func() bool {
		es, err := store.List(ctx, partner.DemoPartnerID, "1001", month)
		return err == nil && len(es) > 0
	})
	acme := e.st.Demo.Sim.Acme
	if err := store.RecordDrift(ctx, audit.Drift{PartnerID: partner.DemoPartnerID, CustomerID: "1001", DetectedAt: time.Now(),
		AgreementID: acme.AgreementID, AdditionID: acme.Additions[cwsim.ProductSelectGB], Product: cwsim.ProductSelectGB,
		Service: string(partner.BillOnlineSelectGB), Field: "quantity", Written: "121", Found: "100", Measured: "121",
		Action: audit.DriftOverwritten, EventID: "msg_drift"}); err != nil {
		t.Fatal(err)
	}

	e.signIn(operatorToken)
	e.run("partner page", chromedp.Navigate(e.st.URL+"/console/partners/demo"), chromedp.WaitVisible(chromedp.CSS("main")))
	e.run("billing link", chromedp.Click(`a[href="/console/partners/demo/billing"]`), chromedp.WaitVisible(chromedp.ID("statement-h")))
	text := e.text()
	for _, want := range []string{"Monthly statement", cwsim.ProductSelectGB, "Drift report", "wrote the measured figure", "100"} {
		if !strings.Contains(text, want) {
			t.Errorf("billing page lacks %q:\n%s", want, text)
		}
	}
	e.shot("billing")
	if csv := e.download(`a[href*="statement.csv"]`); !strings.HasPrefix(csv, "month,partner,customer") || !strings.Contains(csv, cwsim.ProductSelectGB) {
		t.Errorf("statement CSV = %q", csv)
	}
	if drifts := e.download(`a[href*="drifts.csv"]`); !strings.HasPrefix(drifts, "detected,partner") || !strings.Contains(drifts, "overwritten") {
		t.Errorf("drifts CSV = %q", drifts)
	}

	e.run("customer page", chromedp.Navigate(e.st.URL+"/console/partners/demo/customers/1001"), chromedp.WaitVisible(chromedp.CSS("main")))
	e.run("audit link", chromedp.Click(`a[href="/console/partners/demo/customers/1001/audit"]`), chromedp.WaitVisible(chromedp.CSS("table.list")))
	text = e.text()
	for _, want := range []string{"Billing audit trail", cwsim.ProductSelectGB, "quantity", "change"} {
		if !strings.Contains(text, want) {
			t.Errorf("audit page lacks %q:\n%s", want, text)
		}
	}
	e.shot("audit-trail")
	if trail := e.download(`a[href*="audit.csv"]`); !strings.HasPrefix(trail, "at,partner,customer") {
		t.Errorf("audit CSV = %q", trail)
	}

	e.run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	for _, p := range []struct{ path, shot string }{
		{"/console/partners/demo/billing", "phone-billing"},
		{"/console/partners/demo/customers/1001/audit", "phone-audit-trail"},
	} {
		e.run("phone "+p.path, chromedp.Navigate(e.st.URL+p.path), chromedp.WaitVisible(chromedp.CSS("main")))
		if over := get(e, "overflow", chromedp.Evaluate[int](`document.documentElement.scrollWidth - document.documentElement.clientWidth`)); over > 0 {
			t.Errorf("%s: %d pixels wider than a 390-pixel phone screen", p.path, over)
		}
		e.shot(p.shot)
	}
}

// download follows the page's link (CSS selector) as the browser would and
// returns the CSV file it answers.
func (e *env) download(selector string) string {
	e.t.Helper()
	href := get(e, "link "+selector, chromedp.Evaluate[string](`document.querySelector('`+selector+`').getAttribute('href')`))
	resp, body := e.getAs(href)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		e.t.Errorf("%s: %d %s %q", href, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
	return body
}
