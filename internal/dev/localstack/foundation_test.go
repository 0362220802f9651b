package localstack_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// A signed failure posted over HTTP yields exactly one ticket in the right
// company, board, status and summary; a later successful backup of the
// account resolves it.
func TestFailureOpensOneTicketAndSuccessResolvesIt(t *testing.T) {
	h := start(t)
	demo := h.st.Demo.Sim
	at := h.clock.Now().Add(-time.Minute)

	code, body := h.post(newID(), event("backup.completed", "1001", at, backup("failure", "ACME-SRV01", at)))
	if code != http.StatusAccepted || body["eventId"] == "" {
		t.Fatalf("post failure: %d %v", code, body)
	}
	h.drain()

	tks := h.sim.Tickets()
	if len(tks) != 1 {
		t.Fatalf("tickets after one failure = %d, want 1: %+v", len(tks), tks)
	}
	tk := tks[0]
	if tk.Company.ID != demo.Acme.ID {
		t.Errorf("company = %d, want Acme Dental %d", tk.Company.ID, demo.Acme.ID)
	}
	if tk.Board.ID != demo.BackupBoard.ID {
		t.Errorf("board = %d, want eFolder Backup %d", tk.Board.ID, demo.BackupBoard.ID)
	}
	if tk.Status.ID != demo.StatusNew {
		t.Errorf("status = %d, want New %d", tk.Status.ID, demo.StatusNew)
	}
	if !strings.HasPrefix(tk.Summary, "Backup failed: ACME-SRV01 file server") || !strings.Contains(tk.Summary, "Acme Dental") || len(tk.Summary) > 100 {
		t.Errorf("summary = %q", tk.Summary)
	}
	if tk.ClosedFlag {
		t.Error("new ticket is closed")
	}
	if !strings.HasPrefix(tk.ExternalXRef, "efs:") {
		t.Errorf("externalXRef = %q", tk.ExternalXRef)
	}

	later := at.Add(30 * time.Minute)
	h.clock.Add(30 * time.Minute)
	if code, body := h.post(newID(), event("backup.completed", "1001", later, backup("success", "ACME-SRV01", later))); code != http.StatusAccepted {
		t.Fatalf("post success: %d %v", code, body)
	}
	h.drain()

	tks = h.sim.Tickets()
	if len(tks) != 1 {
		t.Fatalf("tickets after success = %d, want still 1", len(tks))
	}
	if !tks[0].ClosedFlag {
		t.Fatalf("ticket not resolved: status %+v", tks[0].Status)
	}
	var resolution bool
	for _, n := range h.sim.Notes(tk.ID) {
		resolution = resolution || (n.ResolutionFlag && strings.Contains(n.Text, "Resolved automatically"))
	}
	if !resolution {
		t.Errorf("no resolution note on ticket %d: %+v", tk.ID, h.sim.Notes(tk.ID))
	}

	var opened, resolved bool
	for _, e := range h.events(eventlog.Query{CustomerID: "1001"}) {
		opened = opened || (e.What == eventlog.WhatTicket && e.Outcome == eventlog.OutcomeDone && strings.HasPrefix(e.Message, "opened"))
		resolved = resolved || (e.What == eventlog.WhatTicket && e.Outcome == eventlog.OutcomeDone && strings.HasPrefix(e.Message, "resolved"))
	}
	if !opened || !resolved {
		t.Errorf("event log lacks opened/resolved entries: %+v", h.events(eventlog.Query{}))
	}
}

// Requests the webhook must refuse get their answer and enqueue nothing.
func TestWebhookRefusalsEnqueueNothing(t *testing.T) {
	h := start(t)
	now := h.clock.Now()
	good := event("backup.completed", "1001", now, backup("failure", "ACME-SRV01", now))

	cases := []struct {
		name string
		send func() (int, map[string]any)
		want int
	}{
		{"bad signature", func() (int, map[string]any) {
			return h.postSigned(partner.DemoPartnerID, newID(), now, "whsec_"+strings.Repeat("QUFB", 8), good)
		}, http.StatusUnauthorized},
		{"stale timestamp", func() (int, map[string]any) {
			return h.postSigned(partner.DemoPartnerID, newID(), now.Add(-6*time.Minute), partner.DemoWebhookSecret, good)
		}, http.StatusUnauthorized},
		{"future timestamp", func() (int, map[string]any) {
			return h.postSigned(partner.DemoPartnerID, newID(), now.Add(6*time.Minute), partner.DemoWebhookSecret, good)
		}, http.StatusUnauthorized},
		{"unknown partner", func() (int, map[string]any) {
			return h.postSigned("nobody", newID(), now, partner.DemoWebhookSecret, good)
		}, http.StatusUnauthorized},
		{"missing signature", func() (int, map[string]any) {
			req, _ := http.NewRequest(http.MethodPost, h.st.WebhookURL(partner.DemoPartnerID), bytes.NewReader(good))
			req.Header.Set("content-type", "application/json")
			return h.do(req)
		}, http.StatusUnauthorized},
		{"oversize", func() (int, map[string]any) {
			big := bytes.Repeat([]byte(" "), 70*1024)
			return h.post(newID(), append(big, good...))
		}, http.StatusRequestEntityTooLarge},
		{"malformed JSON", func() (int, map[string]any) {
			return h.post(newID(), []byte(`{"specVersion":"1.0",`))
		}, http.StatusBadRequest},
		{"contract violation", func() (int, map[string]any) {
			return h.post(newID(), event("backup.completed", "1001", now, `{"account":{"id":"A","kind":"server","plan":"gold"},"result":"failure","endedAt":"2026-01-01T00:00:00Z","onlineGB":1,"localGB":1}`))
		}, http.StatusBadRequest},
	}
	var unauthorizedBody string
	for _, c := range cases {
		code, body := c.send()
		if code != c.want {
			t.Errorf("%s: status %d, want %d (%v)", c.name, code, c.want, body)
		}
		if c.want == http.StatusUnauthorized {
			// Same answer for every 401: no oracle.
			if unauthorizedBody == "" {
				unauthorizedBody = body["error"].(string)
			} else if body["error"] != unauthorizedBody {
				t.Errorf("%s: 401 body %v differs from %q", c.name, body, unauthorizedBody)
			}
		}
		if c.name == "contract violation" && !strings.Contains(body["field"].(string)+body["error"].(string), "plan") {
			t.Errorf("contract violation answer does not name the field: %v", body)
		}
	}
	if n := h.queueDepth(h.st.QueueURL); n != 0 {
		t.Fatalf("refused requests enqueued %d messages", n)
	}
}

// A repeated webhook-id is one piece of work. A repeat that arrives before
// the worker finished the first copy is enqueued again (the webhook writes
// nothing of its own) and the worker makes the two one; a repeat after it
// is acknowledged as a duplicate without a message.
func TestRepeatedWebhookIDIsOnePieceOfWork(t *testing.T) {
	h := start(t)
	now := h.clock.Now()
	id := newID()
	body := event("notification", "1002", now, `{"kind":"no_backup","severity":"error","message":"No backup for 3 days"}`)
	c1, b1 := h.post(id, body)
	c2, b2 := h.post(id, body)
	if c1 != http.StatusAccepted || c2 != http.StatusAccepted || b1["status"] != "accepted" || b2["status"] != "accepted" {
		t.Fatalf("answers %d %v / %d %v, want both accepted", c1, b1, c2, b2)
	}
	if n := h.queueDepth(h.st.QueueURL); n != 2 {
		t.Fatalf("queue holds %d messages, want 2", n)
	}
	h.drain()
	if n := len(h.sim.Tickets()); n != 1 {
		t.Fatalf("tickets = %d, want 1", n)
	}
	c3, b3 := h.post(id, body)
	if c3 != http.StatusAccepted || b3["eventId"] != b1["eventId"] || b3["status"] != "duplicate" {
		t.Fatalf("repeat after the work: %d %v, want 202 duplicate", c3, b3)
	}
	if n := h.queueDepth(h.st.QueueURL); n != 0 {
		t.Fatalf("the duplicate was enqueued: queue holds %d", n)
	}
	// The event has one line in the log, not one per copy.
	var lines int
	for _, e := range h.events(eventlog.Query{CustomerID: "1002"}) {
		if e.EventID == id {
			lines++
		}
	}
	if lines != 1 {
		t.Errorf("the event has %d log lines, want 1", lines)
	}
}

// A customer whose company has no managed ID: a management ID error in the
// event log naming the customer and the setting; after the mapping is added,
// reprocessing through the operator API opens the ticket.
func TestManagementIDErrorThenReprocess(t *testing.T) {
	h := start(t)
	now := h.clock.Now()
	id := newID()
	if code, b := h.post(id, event("backup.completed", "1003", now, backup("failure", "CEDAR-PC1", now))); code != http.StatusAccepted {
		t.Fatalf("post: %d %v", code, b)
	}
	h.drain()
	if n := len(h.sim.Tickets()); n != 0 {
		t.Fatalf("tickets = %d, want 0", n)
	}
	// The ticket failed (and so did the data sync, for the same reason).
	failed := h.events(eventlog.Query{FailedOnly: true})
	var ticketEntry *eventlog.Entry
	for i, e := range failed {
		if e.Code != outcome.CodeManagementID {
			t.Errorf("failed entry with code %s, want only %s: %+v", e.Code, outcome.CodeManagementID, e)
		}
		if e.What == eventlog.WhatTicket {
			ticketEntry = &failed[i]
		}
	}
	if ticketEntry == nil {
		t.Fatalf("no failed ticket entry: %+v", failed)
	}
	if e := ticketEntry; !strings.Contains(e.Remedy, "EFS-1003") || !strings.Contains(e.Remedy, "1003") || !strings.Contains(e.Remedy, "Management") || len(e.Event) == 0 {
		t.Fatalf("failed entry = %+v", e)
	}
	if h.queueDepth(h.st.DLQURL) != 0 {
		t.Fatal("a permanent error went to the DLQ instead of the event log")
	}

	// The operator adds the managed ID in ConnectWise, then reprocesses.
	demo := h.st.Demo.Sim
	for _, dt := range []string{"WorkstationsAndServers", "BackupStats"} {
		if _, err := h.sim.AddManagementSummary(demo.Cedar.ID, cwsim.ManagementSummary{GroupIdentifier: "EFS-1003", DeviceType: dt, ManagementSolution: cwsim.Ref{ID: demo.SolutionID}}); err != nil {
			t.Fatal(err)
		}
	}
	code, b := h.operator(http.MethodPost, "/v1/admin/partners/demo/reprocess", map[string]string{"eventId": id})
	if code != http.StatusAccepted {
		t.Fatalf("reprocess: %d %v", code, b)
	}
	// A second click is the same request.
	if code, b2 := h.operator(http.MethodPost, "/v1/admin/partners/demo/reprocess", map[string]string{"eventId": id}); code != http.StatusAccepted || b2["requestId"] != b["requestId"] {
		t.Fatalf("second reprocess: %d %v (first %v)", code, b2, b)
	}
	h.drain()
	tks := h.sim.Tickets()
	if len(tks) != 1 || tks[0].Company.ID != demo.Cedar.ID {
		t.Fatalf("tickets after reprocess = %+v", tks)
	}
	// The management ID errors are off the failed list. Cedar has no
	// agreement, so its billing now fails on its own: those stay listed.
	for _, e := range h.events(eventlog.Query{FailedOnly: true, Limit: 500}) {
		if e.Code == outcome.CodeManagementID || e.What == eventlog.WhatTicket {
			t.Errorf("failed list still holds %s %s after the reprocess fixed it", e.What, e.Code)
		}
		if e.Code != "ADDITION_MISSING" {
			t.Errorf("unexpected failure after the reprocess: %s %s %s", e.What, e.Code, e.Message)
		}
	}
}

// The operator API needs the (local stand-in for) IAM authorization.
func TestOperatorAPINeedsAuthorization(t *testing.T) {
	h := start(t)
	req, _ := http.NewRequest(http.MethodGet, h.st.URL+"/v1/admin/partners/demo", nil)
	if code, b := h.do(req); code != http.StatusUnauthorized || b["message"] == nil {
		t.Fatalf("unauthenticated operator call: %d %v, want 401 {\"message\"}", code, b)
	}
	req, _ = http.NewRequest(http.MethodGet, h.st.URL+"/v1/admin/partners/demo", nil)
	req.Header.Set("authorization", "Bearer not-"+h.st.OperatorToken)
	if code, b := h.do(req); code != http.StatusForbidden || b["message"] == nil {
		t.Fatalf("operator call with a wrong token: %d %v, want 403 {\"message\"}", code, b)
	}
	code, b := h.operator(http.MethodGet, "/v1/admin/partners/demo", nil)
	if code != http.StatusOK {
		t.Fatalf("get partner: %d %v", code, b)
	}
	if s, _ := b["secrets"].(map[string]any); s == nil || strings.Contains(s["publicKey"].(string), cwsim.DemoPublicKey) {
		t.Fatalf("secrets not redacted: %v", b["secrets"])
	}
	// An http:// site is refused with a clear message.
	p, s := h.st.Demo.Partner, h.st.Demo.Secrets
	bad := *p
	bad.ID, bad.SiteURL = "insecure", "http://cw.example.com"
	code, b = h.operator(http.MethodPost, "/v1/admin/partners", map[string]any{"partner": bad, "secrets": s})
	if code != http.StatusBadRequest || !strings.Contains(b["error"].(string), "https://") {
		t.Fatalf("http site: %d %v", code, b)
	}
	code, b = h.operator(http.MethodPost, "/v1/admin/partners/demo/validate", nil)
	if code != http.StatusOK || b["ok"] != true {
		t.Fatalf("validate demo partner: %d %v", code, b)
	}
}
