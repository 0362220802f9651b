package localstack_test

// Partner health on the whole local stack (issue 9): a partner whose
// ConnectWise refuses its keys, or asks for a wait longer than the
// invocation, is paused; its events are held off the queue and replay in
// order, each once, when it resumes.

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/health"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// startCapturing is start with the service log kept for the test to read.
func startCapturing(t *testing.T) (*harness, func() string) {
	t.Helper()
	return startLogged(t, nil)
}

func (h *harness) health() health.Status {
	h.t.Helper()
	st, err := h.st.Service.Health.Get(context.Background(), partner.DemoPartnerID)
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

func (h *harness) tick() health.TickReport {
	h.t.Helper()
	rep, err := h.st.Service.Monitor.Tick(context.Background())
	if err != nil {
		h.t.Fatalf("health tick: %v", err)
	}
	return rep
}

// alarms counts the pause alarms in the log.
func alarms(log string) int {
	return strings.Count(log, `"msg":"partner paused","alarm":"PartnerPaused"`)
}

// assertFinal checks that every step of each event ends in a final entry:
// done, skipped, failed, parked or dead_lettered, never "retrying".
func (h *harness) assertFinal(ids ...string) {
	h.t.Helper()
	for _, id := range ids {
		entries := h.events(eventlog.Query{EventID: id, Limit: 500})
		if len(entries) == 0 {
			h.t.Errorf("event %s has no entry in the event log", id)
			continue
		}
		last := map[string]eventlog.Entry{}
		for _, e := range entries { // newest first
			k := string(e.What) + "/" + e.Subject
			if _, ok := last[k]; !ok {
				last[k] = e
			}
		}
		for k, e := range last {
			if !e.Outcome.Final() {
				h.t.Errorf("event %s: the last entry of %s says %q: %s", id, k, e.Outcome, e.Message)
			}
		}
	}
}

// Keys refused for hours: one pause and one alarm line, no ConnectWise call
// and nothing in the DLQ while paused, probes that back off; the operator
// saves new keys, which probes at once; every held event lands once and in
// order (the failure then the success of one account: a ticket opened and
// resolved, not skipped).
func TestRevokedKeysPauseHoldAndReplayInOrder(t *testing.T) {
	h, logs := startCapturing(t)
	ctx := context.Background()
	if !h.sim.RemoveMember(cwsim.DemoCompanyID, cwsim.DemoPublicKey) {
		t.Fatal("the demo member was not there to revoke")
	}
	first := h.send(h.failure("ACME-SRV01"))
	h.settle()
	st := h.health()
	if st.State != health.Paused || st.Code != outcome.CodeAuth {
		t.Fatalf("after a 401: %+v, want paused with %s", st, outcome.CodeAuth)
	}
	callsAtPause := len(h.sim.Calls())

	ids := []string{first}
	h.clock.Add(time.Minute)
	ids = append(ids, h.send(h.failure("ACME-SRV02")))
	h.clock.Add(time.Minute)
	ids = append(ids, h.send(h.success("ACME-SRV01")))
	h.clock.Add(time.Minute)
	now := h.clock.Now()
	ids = append(ids, h.send(event("backup.completed", "1002", now, backup("failure", "BIRCH-SRV", now))))
	// A duplicate delivery of a held event is held once.
	if code, b := h.post(newID(), h.failure("ACME-SRV02")); code != http.StatusAccepted {
		t.Fatalf("post: %d %v", code, b)
	}
	h.settle()
	if n := len(h.sim.Calls()); n != callsAtPause {
		t.Fatalf("%d ConnectWise calls while paused, want none", n-callsAtPause)
	}
	if st = h.health(); st.Parked != 5 {
		t.Fatalf("parked = %d, want 5 (4 events and a second delivery with its own id)", st.Parked)
	}

	// Hours of refusal: probes back off, nothing is lost or dead-lettered.
	probes := 0
	for range 12 {
		h.clock.Add(30 * time.Minute)
		probes += h.tick().Probes
		h.settle()
	}
	st = h.health()
	if st.State != health.Paused || st.Probes < 3 || probes > 12 || probes < 3 {
		t.Fatalf("after 6 hours: %+v, %d probes sent", st, probes)
	}
	if got := h.sim.CallCount("GET", "/service/tickets"); got != probes {
		t.Errorf("probe reads = %d, want one per probe (%d)", got, probes)
	}
	if n := h.queueDepth(h.st.DLQURL); n != 0 {
		t.Fatalf("DLQ holds %d", n)
	}
	if n := alarms(logs()); n != 1 {
		t.Fatalf("alarm lines = %d, want 1", n)
	}
	for _, id := range ids {
		var parked bool
		for _, e := range h.events(eventlog.Query{EventID: id}) {
			parked = parked || (e.Outcome == eventlog.OutcomeParked && e.Code == outcome.CodePartnerPaused)
		}
		if !parked {
			t.Errorf("event %s has no parked entry", id)
		}
	}

	// The fix: new keys for the member, saved through the operator API.
	h.sim.AddMember(cwsim.DemoCompanyID, "new-public-key", "new-private-key")
	s := h.st.Demo.Secrets
	code, b := h.operator(http.MethodGet, "/v1/admin/partners/demo", nil)
	if code != http.StatusOK {
		t.Fatalf("get: %d %v", code, b)
	}
	keys := map[string]any{"publicKey": "new-public-key", "privateKey": "new-private-key", "clientId": s.ClientID, "webhookSecrets": s.WebhookSecrets}
	code, b = h.operator(http.MethodPut, "/v1/admin/partners/demo", map[string]any{"partner": b["partner"], "secrets": keys})
	if code != http.StatusOK || b["probe"] == nil {
		t.Fatalf("put new keys: %d %v, want a probe queued", code, b)
	}
	h.settle() // the probe, then the replays
	h.tick()   // settles
	if st = h.health(); st.State != health.Healthy || st.Parked != 0 {
		t.Fatalf("after the new keys: %+v, want healthy with nothing held", st)
	}
	tks := h.sim.Tickets()
	if len(tks) != 3 {
		t.Fatalf("tickets = %d, want 3 (SRV01, SRV02, BIRCH-SRV): %+v", len(tks), tks)
	}
	summaries := map[string]cwsim.Ticket{}
	for _, tk := range tks {
		for _, acct := range []string{"ACME-SRV01", "ACME-SRV02", "BIRCH-SRV"} {
			if strings.Contains(tk.Summary, acct) {
				if _, dup := summaries[acct]; dup {
					t.Fatalf("two tickets for %s", acct)
				}
				summaries[acct] = tk
			}
		}
	}
	if tk, ok := summaries["ACME-SRV01"]; !ok || !tk.ClosedFlag {
		t.Errorf("ACME-SRV01: %+v, want its ticket opened then resolved (the failure replayed before the success)", tk)
	}
	if tk, ok := summaries["ACME-SRV02"]; !ok || tk.ClosedFlag {
		t.Errorf("ACME-SRV02: %+v, want one open ticket", tk)
	}
	if n := alarms(logs()); n != 1 {
		t.Errorf("alarm lines = %d after the resume, want 1", n)
	}
	if n := h.queueDepth(h.st.DLQURL); n != 0 {
		t.Errorf("DLQ holds %d", n)
	}
	h.assertFinal(ids...)
	// Held no more: a new event goes straight through.
	h.clock.Add(time.Minute)
	h.deliver(h.success("ACME-SRV02"))
	if tk := h.ticket(summaries["ACME-SRV02"].ID); !tk.ClosedFlag {
		t.Errorf("ACME-SRV02 not resolved after the resume")
	}
	_ = ctx
}

// A 429 whose Retry-After (an hour) outlasts the invocation pauses the
// partner at once instead of retrying: one create attempt, no probe before
// the hour, then the held event opens its one ticket.
func TestLongRetryAfterPausesInsteadOfRetrying(t *testing.T) {
	h, logs := startCapturing(t)
	h.sim.Inject(cwsim.Fault{Method: "POST", Path: "/service/tickets", Status: http.StatusTooManyRequests, RetryAfter: time.Hour})
	id := h.send(h.failure("ACME-SRV01"))
	res := h.pollOnce()
	if res.Received != 1 || len(res.Retried) != 0 {
		t.Fatalf("first delivery: %+v, want it taken off the queue (held), not retried", res)
	}
	h.settle()
	st := h.health()
	if st.State != health.Paused || st.Code != outcome.CodeRateLimited || st.Parked != 1 {
		t.Fatalf("after a 429 with Retry-After 3600: %+v", st)
	}
	if all, _ := createCalls(h.sim); all != 1 {
		t.Fatalf("create attempts = %d, want 1 (no retry inside or outside the invocation)", all)
	}
	if !st.NextProbeAt.Equal(h.clock.Now().Add(time.Hour)) {
		t.Errorf("next probe at %v, want the Retry-After (%v)", st.NextProbeAt, h.clock.Now().Add(time.Hour))
	}
	h.clock.Add(59 * time.Minute)
	if rep := h.tick(); rep.Probes != 0 {
		t.Fatalf("probed before the Retry-After: %+v", rep)
	}
	h.clock.Add(time.Minute)
	if rep := h.tick(); rep.Probes != 1 {
		t.Fatalf("no probe at the Retry-After: %+v", rep)
	}
	h.settle()
	h.tick()
	if st := h.health(); st.State != health.Healthy {
		t.Fatalf("after the probe: %+v", st)
	}
	h.only()
	if n := alarms(logs()); n != 1 {
		t.Errorf("alarm lines = %d, want 1", n)
	}
	if n := h.queueDepth(h.st.DLQURL); n != 0 {
		t.Errorf("DLQ holds %d", n)
	}
	h.assertFinal(id)
}

// Sustained 5xx pause the partner after PauseAfterFailures failed messages
// in a row; one 5xx alone only degrades it, and a success heals it.
func TestSustainedServerErrorsPauseAfterTheThreshold(t *testing.T) {
	h, logs := startCapturing(t)
	h.sim.Inject(cwsim.Fault{Method: "POST", Path: "/service/tickets", Status: http.StatusInternalServerError})
	h.send(h.failure("ACME-SRV01"))
	if res := h.pollOnce(); len(res.Retried) != 1 {
		t.Fatalf("one 500: %+v, want the message retried", res)
	}
	if st := h.health(); st.State != health.Degraded {
		t.Fatalf("after one 500: %+v, want degraded", st)
	}
	h.settle()
	if st := h.health(); st.State != health.Healthy {
		t.Fatalf("after a success: %+v, want healthy", st)
	}
	h.only()

	h.sim.Inject(cwsim.Fault{Method: "POST", Path: "/service/tickets", Status: http.StatusBadGateway, Times: -1})
	var ids []string
	for i := range health.PauseAfterFailures {
		h.clock.Add(time.Second)
		ids = append(ids, h.send(h.failure("ACME-WS0"+string(rune('1'+i)))))
	}
	for range 2 * health.PauseAfterFailures {
		h.pollOnce()
		if h.health().State == health.Paused {
			break
		}
	}
	h.settle()
	st := h.health()
	if st.State != health.Paused || st.Code != outcome.CodeUnavailable {
		t.Fatalf("after %d failures in a row: %+v, want paused", health.PauseAfterFailures, st)
	}
	if n := alarms(logs()); n != 1 {
		t.Fatalf("alarm lines = %d, want 1", n)
	}
	h.sim.ClearFaults()
	h.clock.Add(health.ProbeBase)
	h.tick()
	h.settle()
	h.tick()
	if st := h.health(); st.State != health.Healthy || st.Parked != 0 {
		t.Fatalf("after recovery: %+v", st)
	}
	if n := len(h.sim.Tickets()); n != 1+health.PauseAfterFailures {
		t.Fatalf("tickets = %d, want %d", n, 1+health.PauseAfterFailures)
	}
	h.assertFinal(ids...)
}

// An operator pauses and resumes through the API: nothing is sent while
// paused, a probe does not lift it, the resume replays.
func TestOperatorPauseAndResume(t *testing.T) {
	h, _ := startCapturing(t)
	code, b := h.operator(http.MethodPost, "/v1/admin/partners/demo/pause", map[string]any{"reason": "ConnectWise upgrade tonight"})
	if code != http.StatusOK {
		t.Fatalf("pause: %d %v", code, b)
	}
	if code, _ := h.operator(http.MethodPost, "/v1/admin/partners/demo/pause", map[string]any{"reason": ""}); code != http.StatusBadRequest {
		t.Fatalf("pause without a reason: %d, want 400", code)
	}
	id := h.send(h.failure("ACME-SRV01"))
	h.settle()
	if n := len(h.sim.Tickets()); n != 0 {
		t.Fatalf("tickets while paused = %d", n)
	}
	h.clock.Add(24 * time.Hour)
	if rep := h.tick(); rep.Probes != 0 {
		t.Fatalf("an operator's pause was probed: %+v", rep)
	}
	code, b = h.operator(http.MethodGet, "/v1/admin/partners/demo/health", nil)
	conn, _ := b["connection"].(map[string]any)
	if code != http.StatusOK || conn["state"] != "paused" || conn["parked"] != float64(1) || conn["byOperator"] != true ||
		!strings.Contains(conn["reason"].(string), "ConnectWise upgrade tonight") {
		t.Fatalf("health: %d %v", code, b)
	}
	if code, b = h.operator(http.MethodPost, "/v1/admin/partners/demo/resume", nil); code != http.StatusAccepted || b["replays"] != float64(1) {
		t.Fatalf("resume: %d %v", code, b)
	}
	if code, _ = h.operator(http.MethodPost, "/v1/admin/partners/demo/resume", nil); code != http.StatusConflict {
		t.Fatalf("second resume: %d, want 409", code)
	}
	h.settle()
	h.tick()
	h.only()
	if st := h.health(); st.State != health.Healthy {
		t.Fatalf("after resume: %+v", st)
	}
	h.assertFinal(id)
}

// A partner deleted while paused: its held events are replayed into the
// event log as PARTNER_NOT_FOUND failures that keep the event (to reprocess
// if it is created again), and its health record goes.
func TestPartnerDeletedWhilePausedKeepsItsEventsInTheLog(t *testing.T) {
	h, _ := startCapturing(t)
	ctx := context.Background()
	h.sim.RemoveMember(cwsim.DemoCompanyID, cwsim.DemoPublicKey)
	id := h.send(h.failure("ACME-SRV01"))
	h.settle()
	if st := h.health(); st.State != health.Paused || st.Parked != 1 {
		t.Fatalf("%+v", st)
	}
	p, err := h.st.Service.Partners.Get(ctx, partner.DemoPartnerID)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.st.Service.Partners.Delete(ctx, partner.DemoPartnerID, p.Version); err != nil {
		t.Fatal(err)
	}
	h.tick() // resumes it and sends the replay
	h.settle()
	h.tick() // settles
	h.tick() // forgets
	var kept bool
	for _, e := range h.events(eventlog.Query{EventID: id, FailedOnly: true}) {
		kept = kept || (e.Code == outcome.CodePartnerNotFound && len(e.Event) > 0)
	}
	if !kept {
		t.Fatalf("no PARTNER_NOT_FOUND failure keeping the event: %+v", h.events(eventlog.Query{EventID: id}))
	}
	if all, err := h.st.Service.Health.List(ctx); err != nil || len(all) != 0 {
		t.Fatalf("health records left: %+v %v", all, err)
	}
}

// The event log tells the final truth: a resolution that failed and was
// retried, while another event resolved the ticket meanwhile, finds nothing
// left to do on its retry and says so, instead of leaving "retrying" as
// its last word.
func TestRetryThatFindsNothingLeftSaysSo(t *testing.T) {
	h := start(t)
	h.deliver(h.failure("ACME-SRV01"))
	tk := h.only()
	h.sim.Inject(cwsim.Fault{Method: "PATCH", Path: "/service/tickets/{id}", Status: http.StatusInternalServerError, Times: 4})
	h.clock.Add(time.Minute)
	first := h.send(h.success("ACME-SRV01"))
	if res := h.pollOnce(); len(res.Retried) != 1 {
		t.Fatalf("first resolution: %+v, want it retried", res)
	}
	var retrying bool
	for _, e := range h.events(eventlog.Query{EventID: first}) {
		retrying = retrying || e.Outcome == eventlog.OutcomeRetrying
	}
	if !retrying {
		t.Fatalf("no retrying entry: %+v", h.events(eventlog.Query{EventID: first}))
	}
	h.clock.Add(time.Minute)
	h.send(h.success("ACME-SRV01")) // resolves the ticket before the retry
	h.settle()
	if !h.ticket(tk.ID).ClosedFlag {
		t.Fatal("ticket not resolved")
	}
	h.assertFinal(first)
	var said bool
	for _, e := range h.events(eventlog.Query{EventID: first}) {
		said = said || (e.Outcome == eventlog.OutcomeSkipped && strings.Contains(e.Message, "nothing left to do"))
	}
	if !said {
		t.Errorf("the retry did not say there was nothing left to do: %+v", h.events(eventlog.Query{EventID: first}))
	}
}
