package consoletest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// clickAndWait clicks sel and waits until the browser is at a URL holding
// want.
func (e *env) clickAndWait(what, sel, want string) {
	e.t.Helper()
	e.run(what, chromedp.Click(chromedp.CSS(sel)))
	eventually(e.t, what+": "+want, func() bool {
		// While the page navigates the tab may answer "Inspected target
		// navigated or closed": not there yet.
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		defer cancel()
		loc, err := chromedp.Run(ctx, chromedp.Location())
		return err == nil && strings.Contains(loc, want)
	}, func() { e.t.Logf("at %s:\n%s", get(e, "location", chromedp.Location()), e.text()) })
	// The new document, not the old one whose URL already changed: a click
	// on a node of the old one fails ("Could not find node").
	eventually(e.t, what+": loaded", func() bool {
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		defer cancel()
		st, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState`))
		return err == nil && st == "complete"
	})
	e.run(what+": page", chromedp.WaitVisible(chromedp.CSS("main")))
}

// TestSetupWizardToFirstTicket: an operator sets up a new partner with the
// wizard against a ConnectWise site (the simulator) it has never seen:
// site and keys checked live, board and statuses from the site's lists,
// products from its catalog, rules, a webhook secret shown once, the
// doctor's checklist; then an event signed with that secret opens a ticket.
func TestSetupWizardToFirstTicket(t *testing.T) {
	e := start(t)
	e.signIn(operatorToken)
	e.shot("partners")

	// Step 1: site, company and keys, checked live, then created.
	e.run("new partner", chromedp.Navigate(e.st.URL+"/console/partners/new"), chromedp.WaitVisible(chromedp.ID("siteUrl")))
	e.run("fill step 1",
		chromedp.SendKeys(chromedp.ID("id"), "acme-msp"),
		chromedp.SendKeys(chromedp.ID("name"), "Acme MSP"),
		chromedp.SendKeys(chromedp.ID("siteUrl"), e.st.Sim.URL()),
		chromedp.SendKeys(chromedp.ID("companyId"), cwsim.DemoCompanyID),
		chromedp.SendKeys(chromedp.ID("publicKey"), cwsim.DemoPublicKey),
		chromedp.SendKeys(chromedp.ID("privateKey"), cwsim.DemoPrivateKey),
		chromedp.SendKeys(chromedp.ID("clientId"), cwsim.DemoClientID),
	)
	e.shot("wizard-1-site")
	e.clickAndWait("check and create", `button[value=create]`, "/console/partners/acme-msp/edit/2")

	// Step 2: the board and its statuses, from the site's own lists.
	boards := get(e, "boards", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#board-pick option')).map(o => o.textContent)`))
	if !strings.Contains(strings.Join(boards, "|"), cwsim.DemoBackupBoard) {
		t.Fatalf("step 2 offers boards %v, not the site's %q", boards, cwsim.DemoBackupBoard)
	}
	e.run("pick the backup board", chromedp.Evaluate[chromedp.Void](`(() => {
		const s = document.querySelector('#board-pick');
		s.value = Array.from(s.options).find(o => o.textContent.includes('`+cwsim.DemoBackupBoard+`')).value;
	})()`))
	e.clickAndWait("show its statuses", `form[method=get] button[type=submit]`, "board=")
	e.shot("wizard-2-board")
	e.clickAndWait("save board", `main form[method=post] button[type=submit]`, "/edit/3")

	// Step 3: products from the site's catalog; step 4: the default rules.
	products := get(e, "catalog", chromedp.Evaluate[int](`document.querySelectorAll('main select option').length`))
	if products < 2 {
		t.Errorf("step 3 offers %d catalog options", products)
	}
	e.shot("wizard-3-products")
	e.clickAndWait("save products", `main form[method=post] button[type=submit]`, "/edit/4")
	e.shot("wizard-4-rules")
	e.clickAndWait("save rules", `main form[method=post] button[type=submit]`, "/edit/5")

	// Step 5: a new webhook secret, shown once.
	e.clickAndWait("generate a secret", `button[value=rotate]`, "/edit/5")
	secret := get(e, "the new secret", chromedp.Value(chromedp.ID("new-secret")))
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("step 5 shows %q, not a whsec_ secret", secret)
	}
	e.shot("wizard-5-secret")
	e.run("reload step 5", chromedp.Reload())
	if n := get(e, "secret again?", chromedp.Evaluate[int](`document.querySelectorAll('#new-secret').length`)); n != 0 {
		t.Errorf("a reload shows the secret again")
	}

	// Saving the board registered the partner's ConnectWise callback, on
	// that board, pointing at this service.
	registered := false
	for _, cb := range e.st.Sim.Callbacks() {
		registered = registered || strings.HasPrefix(cb.URL, e.st.URL+"/v1/partners/acme-msp/callbacks/")
	}
	if !registered {
		t.Errorf("no ConnectWise callback registered for the new partner: %+v", e.st.Sim.Callbacks())
	}

	// Step 6: the doctor's checklist, green against the simulator.
	e.run("step 6", chromedp.Navigate(e.st.URL+"/console/partners/acme-msp/edit/6"), chromedp.WaitVisible(chromedp.CSS("main")))
	e.shot("wizard-6-doctor")
	if txt := e.text(); strings.Contains(strings.ToLower(txt), "problem") && !strings.Contains(txt, "No problem") {
		t.Logf("the doctor's checklist:\n%s", txt)
	}

	// The backup provider, given the secret, sends a failure: one ticket.
	before := len(e.st.Sim.Tickets())
	if code := e.post("acme-msp", secret, failureEvent("1001", "Acme Dental", "ACME-SRV09", "Acme file server 9")); code != http.StatusAccepted {
		t.Fatalf("webhook answered %d", code)
	}
	eventually(t, "the first ticket of the new partner", func() bool { return len(e.st.Sim.Tickets()) > before },
		func() { t.Logf("the service log:\n%s", tail(e.logText(), 4000)) })
	tk := e.st.Sim.Tickets()[before]
	if tk.Board.Name != cwsim.DemoBackupBoard || !strings.Contains(tk.Summary, "ACME-SRV09") && !strings.Contains(tk.Summary, "Acme file server 9") {
		t.Errorf("ticket = %+v", tk)
	}
	e.run("event log", chromedp.Navigate(e.st.URL+"/console/partners/acme-msp/events"), chromedp.WaitVisible(chromedp.CSS("main")))
	if !strings.Contains(e.text(), "ticket") {
		t.Errorf("the event log does not show the ticket:\n%s", e.text())
	}
	e.shot("partner-events")
	e.run("partners", chromedp.Navigate(e.st.URL+"/console/"), chromedp.WaitVisible(chromedp.CSS("main")))
	e.shot("partners-after-setup")
}

// TestFixAndReprocessFromTheEventLog: a failure for a company without its
// managed ID is on the failed list with its code and remedy; the operator
// adds the managed ID in ConnectWise and reprocesses from the event log; a
// double click is one request; the ticket opens.
func TestFixAndReprocessFromTheEventLog(t *testing.T) {
	e := start(t)
	if code := e.post(partner.DemoPartnerID, partner.DemoWebhookSecret, failureEvent("1003", "Cedar Clinic", "CEDAR-NAS", "Cedar NAS")); code != http.StatusAccepted {
		t.Fatalf("webhook answered %d", code)
	}
	e.signIn(operatorToken)
	failed := e.st.URL + "/console/partners/demo/events?failed=true"
	eventually(t, "the failure on the failed list", func() bool {
		e.run("failed list", chromedp.Navigate(failed), chromedp.WaitVisible(chromedp.CSS("main")))
		return strings.Contains(e.text(), outcome.CodeManagementID)
	})
	if txt := e.text(); !contains(txt, "EFS-1003", "Reprocess") {
		t.Errorf("the failed entry does not say what to fix or offer a reprocess:\n%s", txt)
	}
	e.shot("event-log-failed")

	// The fix, in ConnectWise.
	demo := e.st.Demo.Sim
	for _, dt := range []string{"WorkstationsAndServers", "BackupStats"} {
		if _, err := e.st.Sim.AddManagementSummary(demo.Cedar.ID, cwsim.ManagementSummary{GroupIdentifier: "EFS-1003", DeviceType: dt, ManagementSolution: cwsim.Ref{ID: demo.SolutionID}}); err != nil {
			t.Fatal(err)
		}
	}
	before := len(e.st.Sim.Tickets())
	// A double click: two clicks before the page moves on.
	e.run("reprocess (double click)", chromedp.Evaluate[chromedp.Void](`(() => {
		const b = document.querySelector('main form.inline button[type=submit]');
		b.click(); b.click();
	})()`))
	eventually(t, "the ticket for Cedar Clinic", func() bool { return len(e.st.Sim.Tickets()) > before })
	e.run("result", chromedp.WaitVisible(chromedp.CSS("main")))
	e.shot("reprocess-result")
	eventually(t, "the failure off the failed list", func() bool {
		e.run("failed list", chromedp.Navigate(failed), chromedp.WaitVisible(chromedp.CSS("main")))
		return !strings.Contains(e.text(), outcome.CodeManagementID)
	})
	if n := len(e.st.Sim.Tickets()) - before; n != 1 {
		t.Errorf("%d tickets opened by the reprocess, want 1", n)
	}
}
