package consoletest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/chromedp/chromedp"

	"github.com/efs-cw/backupbridge/internal/deadletter"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
)

// badge is the partner page's connection state ("" when not shown).
func (e *env) badge() string {
	e.t.Helper()
	return get(e, "connection badge", chromedp.Evaluate[string](`(() => { const b = document.querySelector('main .conn .state'); return b ? b.textContent : ''; })()`))
}

// partnerBadge opens the demo partner's page and returns its badge.
func (e *env) partnerBadge() string {
	e.t.Helper()
	e.run("partner page", chromedp.Navigate(e.st.URL+"/console/partners/demo"), chromedp.WaitVisible(chromedp.CSS("main")))
	return e.badge()
}

// noOverflow fails the test when the page is wider than the viewport.
func (e *env) noOverflow(what string) {
	e.t.Helper()
	if over := get(e, "overflow", chromedp.Evaluate[int](`document.documentElement.scrollWidth - document.documentElement.clientWidth`)); over > 0 {
		e.t.Errorf("%s: %d pixels wider than the screen", what, over)
	}
}

// adminPost calls the operator API as a script does (the local stand-in
// for IAM: the operator token as a bearer token).
func (e *env) adminPost(path, body string) int {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.st.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.st.OperatorToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// healthTick runs the partners' health tick every second (the template's
// is every minute): it settles a resuming partner once its held events have
// replayed.
func (e *env) healthTick() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.st.RunHealth(ctx, time.Second) }()
	e.t.Cleanup(func() { cancel(); <-done })
}

// deadLetter records, as the worker's dead-letter source does, that the
// events queue gave up on an event of the demo partner: a dead_lettered
// entry of the event log, redrivable. It returns the event id.
func (e *env) deadLetter(body []byte) string {
	e.t.Helper()
	id := fmt.Sprintf("evt_dead_%d", time.Now().UnixNano())
	m := queue.Message{Version: queue.MessageVersion, Job: queue.JobEvent, PartnerID: partner.DemoPartnerID, EventID: id,
		ReceivedAt: time.Now().UTC(), Event: body}
	b, err := json.Marshal(m)
	if err != nil {
		e.t.Fatal(err)
	}
	rec := &deadletter.Recorder{Log: e.st.Service.Log, MaxReceives: 5}
	if err := rec.Record(context.Background(), events.SQSMessage{MessageId: "dlq-" + id, Body: string(b)}); err != nil {
		e.t.Fatalf("record a dead letter: %v", err)
	}
	return id
}

// TestPauseAndResumeFromThePartnerPage: an operator pauses the demo partner
// from its page (a reason is required), the badge turns paused and a new
// event is held (parked) instead of reaching ConnectWise; the operator
// resumes it, the held event replays (one ticket) and the partner is
// healthy again.
func TestPauseAndResumeFromThePartnerPage(t *testing.T) {
	e := start(t)
	e.healthTick()
	e.signIn(operatorToken)
	if b := e.partnerBadge(); b != "healthy" {
		t.Fatalf("the demo partner's badge says %q, want healthy", b)
	}
	if n := get(e, "resume forms", chromedp.Evaluate[int](`document.querySelectorAll('form[action$="/resume"]').length`)); n != 0 {
		t.Errorf("a healthy partner offers Resume")
	}

	// The pause form: behind a disclosure; the reason is required (the
	// browser refuses an empty one).
	e.run("open the pause form", chromedp.Click(chromedp.CSS("details.pause summary")), chromedp.WaitVisible(chromedp.ID("pause-reason")))
	if get(e, "validity", chromedp.Evaluate[bool](`document.querySelector('form.pause-form').checkValidity()`)) {
		t.Fatal("the pause form is valid without a reason: the browser would send it")
	}
	e.run("give a reason", chromedp.SendKeys(chromedp.ID("pause-reason"), "ConnectWise upgrade tonight"))
	e.shot("partner-pause-form")
	e.clickAndWait("pause", "form.pause-form button[type=submit]", "/console/partners/demo/pause")
	if txt := e.text(); !contains(txt, "Partner demo is paused") {
		t.Fatalf("the pause answered:\n%s", txt)
	}
	e.shot("pause-result")
	if b := e.partnerBadge(); b != "paused" {
		t.Fatalf("after the pause the badge says %q", b)
	}
	if txt := e.text(); !contains(txt, "ConnectWise upgrade tonight", "OPERATOR_PAUSE", "an operator") {
		t.Errorf("the paused partner does not say why, or that an operator paused it:\n%s", txt)
	}
	if n := get(e, "pause forms", chromedp.Evaluate[int](`document.querySelectorAll('form[action$="/pause"]').length`)); n != 0 {
		t.Errorf("a paused partner offers Pause")
	}

	// A new event while paused: held, no ticket.
	before := len(e.st.Sim.Tickets())
	if code := e.post(partner.DemoPartnerID, partner.DemoWebhookSecret, failureEvent("1001", "Acme Dental", "ACME-HELD", "Acme held server")); code != http.StatusAccepted {
		t.Fatalf("webhook answered %d", code)
	}
	var last string
	eventually(t, "the event held (parked)", func() bool {
		e.run("parked entries", chromedp.Navigate(e.st.URL+"/console/partners/demo/events?outcome=parked"), chromedp.WaitVisible(chromedp.CSS("main")))
		last = e.text()
		return strings.Contains(last, "PARTNER_PAUSED")
	}, func() { t.Logf("the event log says:\n%s\nservice log:\n%s", last, tail(e.logText(), 4000)) })
	if n := get(e, "parked entries", chromedp.Evaluate[int](`document.querySelectorAll('main li.entry.outcome-parked').length`)); n == 0 {
		t.Errorf("no entry is styled as parked")
	}
	e.shot("event-log-parked")
	eventually(t, "one event held on the partner page", func() bool {
		e.partnerBadge()
		return get(e, "events held", chromedp.Evaluate[string](`(() => { const a = document.querySelector('main .conn a[href$="outcome=parked"]'); return a ? a.textContent : ''; })()`)) == "1"
	}, func() { t.Logf("the partner page says:\n%s", e.text()) })
	e.shot("partner-paused")
	e.run("partners", chromedp.Navigate(e.st.URL+"/console/"), chromedp.WaitVisible(chromedp.CSS("main")))
	if txt := e.text(); !contains(txt, "paused", "1 event held") {
		t.Errorf("the partners list does not show the pause:\n%s", txt)
	}
	e.shot("partners-paused")
	if n := len(e.st.Sim.Tickets()); n != before {
		t.Errorf("%d tickets opened while the partner was paused", n-before)
	}

	// On a phone.
	e.run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	for _, p := range []struct{ path, shot string }{
		{"/console/partners/demo", "phone-partner-paused"},
		{"/console/partners/demo/events?outcome=parked", "phone-event-log-parked"},
		{"/console/", "phone-partners-paused"},
	} {
		e.run("phone "+p.path, chromedp.Navigate(e.st.URL+p.path), chromedp.WaitVisible(chromedp.CSS("main")))
		e.noOverflow(p.path)
		e.shot(p.shot)
	}
	e.run("desktop", chromedp.EmulateViewport(1280, 800))

	// Resume: the held event replays, once.
	e.partnerBadge()
	e.clickAndWait("resume", `form[action="/console/partners/demo/resume"] button[type=submit]`, "/console/partners/demo/resume")
	if txt := e.text(); !contains(txt, "Partner demo is resuming", "1 held event is being replayed") {
		t.Errorf("the resume answered:\n%s", txt)
	}
	e.shot("resume-result")
	eventually(t, "the held event's ticket", func() bool { return len(e.st.Sim.Tickets()) > before },
		func() { t.Logf("service log:\n%s", tail(e.logText(), 4000)) })
	eventually(t, "the badge healthy again", func() bool { return e.partnerBadge() == "healthy" },
		func() { t.Logf("the partner page says:\n%s", e.text()) })
	e.shot("partner-resumed")
	// The pause form on a phone.
	e.run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	e.run("phone pause form", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("details.pause summary")),
		chromedp.Click(chromedp.CSS("details.pause summary")), chromedp.WaitVisible(chromedp.ID("pause-reason")))
	e.noOverflow("the pause form")
	e.shot("phone-partner-pause-form")
	e.run("desktop", chromedp.EmulateViewport(1280, 800))
	if n := len(e.st.Sim.Tickets()) - before; n != 1 {
		t.Errorf("%d tickets from the held event, want 1", n)
	}
}

// TestRedriveFromTheEventLog: a dead-lettered event shows its last reason
// and remedy on the failed list with a Redrive button; the operator
// redrives it and it is processed (its ticket opens).
func TestRedriveFromTheEventLog(t *testing.T) {
	e := start(t)
	id := e.deadLetter(failureEvent("1001", "Acme Dental", "ACME-DLQ", "Acme dead-lettered server"))
	e.signIn(operatorToken)
	e.run("dead letters", chromedp.Navigate(e.st.URL+"/console/partners/demo/events?outcome=dead_lettered"), chromedp.WaitVisible(chromedp.CSS("main")))
	txt := e.text()
	if !contains(txt, id, "DEAD_LETTERED", "dead-letter queue", "redrive", "Redrive all dead letters") {
		t.Fatalf("the dead-lettered entry does not show its reason, remedy and controls:\n%s", txt)
	}
	if n := get(e, "redrive buttons", chromedp.Evaluate[int](`document.querySelectorAll('main li.entry.outcome-dead_lettered form[action$="/redrive"] button').length`)); n != 1 {
		t.Errorf("%d Redrive buttons on the dead-lettered entry, want 1", n)
	}
	e.shot("event-log-dead-lettered")
	e.run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	e.run("phone dead letters", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("main")))
	e.noOverflow("dead letters")
	e.shot("phone-event-log-dead-lettered")
	e.run("desktop", chromedp.EmulateViewport(1280, 800))
	e.run("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("main")))

	before := len(e.st.Sim.Tickets())
	e.clickAndWait("redrive", `main li.entry.outcome-dead_lettered form[action$="/redrive"] button[type=submit]`, "/console/partners/demo/redrive")
	if txt := e.text(); !contains(txt, "1 dead-lettered event was sent back to the queue") {
		t.Fatalf("the redrive answered:\n%s", txt)
	}
	e.shot("redrive-result")
	eventually(t, "the redriven event's ticket", func() bool { return len(e.st.Sim.Tickets()) > before },
		func() { t.Logf("service log:\n%s", tail(e.logText(), 4000)) })
	e.run("dead letters again", chromedp.Navigate(e.st.URL+"/console/partners/demo/events?failed=true"), chromedp.WaitVisible(chromedp.CSS("main")))
	if strings.Contains(e.text(), id) {
		t.Errorf("the redriven event is still on the failed list")
	}
}

// TestViewerSeesNoHealthControls: with the partner paused and a dead
// letter listed, a viewer sees the state but no pause, resume or redrive
// control, and such a write forged from the viewer's session is refused.
func TestViewerSeesNoHealthControls(t *testing.T) {
	e := start(t)
	e.deadLetter(failureEvent("1001", "Acme Dental", "ACME-DLQ", "Acme dead-lettered server"))
	if code := e.adminPost("/v1/admin/partners/demo/pause", `{"reason":"ConnectWise upgrade tonight"}`); code != http.StatusOK {
		t.Fatalf("pause through the API: %d", code)
	}
	e.signIn(viewerToken)
	if b := e.partnerBadge(); b != "paused" {
		t.Fatalf("the viewer sees the badge %q, want paused", b)
	}
	e.shot("viewer-partner-paused")
	for _, p := range []string{"/console/", "/console/partners/demo", "/console/partners/demo/events", "/console/partners/demo/events?outcome=dead_lettered"} {
		e.run("viewer "+p, chromedp.Navigate(e.st.URL+p), chromedp.WaitVisible(chromedp.CSS("main")))
		forms := get(e, "write forms", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('main form')).filter(f => f.method.toLowerCase() === 'post').map(f => f.getAttribute('action'))`))
		buttons := get(e, "buttons", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('main button, main summary')).map(b => b.textContent.trim()).filter(t => /pause|resume|redrive/i.test(t))`))
		if len(forms) != 0 || len(buttons) != 0 {
			t.Errorf("%s: a viewer sees write forms %v, controls %v", p, forms, buttons)
		}
	}
	if !strings.Contains(e.text(), "DEAD_LETTERED") {
		t.Errorf("the viewer does not see the dead letter:\n%s", e.text())
	}
	token := get(e, "CSRF token", chromedp.Evaluate[string](`document.querySelector('form[action="/console/signout"] input[name=csrf]').value`))
	for _, w := range []struct{ path, form string }{
		{"/console/partners/demo/resume", ""},
		{"/console/partners/demo/pause", "reason=forged"},
		{"/console/partners/demo/redrive", "all=true"},
	} {
		if status := e.postAs(w.path, "csrf="+token+"&"+w.form); status != http.StatusForbidden {
			t.Errorf("a viewer's forged POST %s answered %d, want 403", w.path, status)
		}
	}
	if b := e.partnerBadge(); b != "paused" {
		t.Errorf("after the viewer's forged writes the badge says %q", b)
	}
}
