package localstack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/tickets"
)

// Scenario tests of a fault's ticket lifecycle: each sends a sequence of
// signed events through the webhook, lets the worker handle them, and checks
// what ConnectWise (the simulator) holds at the end.

// failure → ticket; five more failures a few minutes apart → still that one
// ticket and no note (one per hour at most); past the hour → one note.
func TestRepeatedFailuresKeepOneTicketAndRateLimitNotes(t *testing.T) {
	h := start(t)
	h.deliver(h.failure("ACME-SRV01"))
	tk := h.only()
	if d, i, r := notesOf(h.sim, tk.ID); len(d) != 1 || len(i)+len(r) != 0 {
		t.Fatalf("a new ticket has notes %d/%d/%d, want only its description", len(d), len(i), len(r))
	}

	for range 5 {
		h.clock.Add(7 * time.Minute)
		h.deliver(h.failure("ACME-SRV01"))
	}
	if got := h.only(); got.ID != tk.ID {
		t.Fatalf("repeats replaced ticket %d by %d", tk.ID, got.ID)
	}
	if n := len(h.sim.Notes(tk.ID)); n != 1 {
		t.Fatalf("after 5 repeats within 35 minutes the ticket has %d notes, want 1 (the description): %+v", n, h.sim.Notes(tk.ID))
	}
	if got := len(h.ticketEntries(string(tickets.ActionSkipped))); got != 5 {
		t.Errorf("event log has %d skipped ticket entries for the repeats, want 5", got)
	}

	h.clock.Add(26 * time.Minute) // 61 minutes after the ticket was opened
	h.deliver(h.failure("ACME-SRV01"))
	h.deliver(h.failure("ACME-SRV01")) // right after the note: rate-limited again
	h.only()
	detail, _, _ := notesOf(h.sim, tk.ID)
	if len(detail) != 2 || !strings.Contains(detail[1].Text, "still occurring") {
		t.Fatalf("after an hour: notes %+v, want the description and one 'still occurring' note", detail)
	}
	if n, _ := createCalls(h.sim); n != 1 {
		t.Errorf("ticket create calls = %d, want 1", n)
	}
}

// The partner's note interval is a setting.
func TestNoteIntervalIsAPartnerSetting(t *testing.T) {
	h := start(t)
	h.updatePartner(func(p *partner.Partner) { p.NoteEveryMinutes = 10 })
	h.deliver(h.failure("ACME-SRV01"))
	tk := h.only()
	for range 4 {
		h.clock.Add(6 * time.Minute)
		h.deliver(h.failure("ACME-SRV01"))
	}
	// Repeats at 6, 12, 18, 24 minutes: notes at 12 and 24.
	if detail, _, _ := notesOf(h.sim, tk.ID); len(detail) != 3 {
		t.Fatalf("notes = %d, want the description and 2 notes", len(detail))
	}
}

// success → a resolution note, and the ticket gets a closed status of its
// board (replacing the whole status).
func TestSuccessResolvesTicketWithClosedStatusAndResolutionNote(t *testing.T) {
	h := start(t)
	board := h.st.Demo.Sim.BackupBoard
	h.deliver(h.failure("ACME-SRV01"))
	tk := h.only()

	h.clock.Add(20 * time.Minute)
	h.deliver(h.success("ACME-SRV01"))
	got := h.only()
	if !got.ClosedFlag || !isClosedStatusOf(board, got.Status.ID) || got.Board.ID != board.ID {
		t.Fatalf("after success: closed=%v status %d (%s) board %d; want a closed status of %q", got.ClosedFlag, got.Status.ID, statusName(board, got.Status.ID), got.Board.ID, board.Name)
	}
	_, _, res := notesOf(h.sim, tk.ID)
	if len(res) != 1 || !strings.Contains(res[0].Text, "Resolved automatically") || !strings.Contains(res[0].Text, "ACME-SRV01") {
		t.Fatalf("resolution notes = %+v", res)
	}
	// A second success does nothing more.
	h.clock.Add(time.Minute)
	h.deliver(h.success("ACME-SRV01"))
	if _, _, res := notesOf(h.sim, tk.ID); len(res) != 1 {
		t.Errorf("a second success added notes: %+v", res)
	}
	if n := len(h.ticketEntries(string(tickets.ActionResolved))); n != 1 {
		t.Errorf("resolved entries = %d, want 1", n)
	}
	// Another account's success touches nothing.
	h.deliver(h.success("ACME-PC07"))
	h.only()
}

// A partner's configured closed status is the one used.
func TestResolveUsesTheConfiguredClosedStatus(t *testing.T) {
	h := start(t)
	demo := h.st.Demo.Sim
	h.updatePartner(func(p *partner.Partner) { p.ClosedStatus = "Closed" })
	h.deliver(h.failure("ACME-SRV01"))
	h.clock.Add(time.Minute)
	h.deliver(h.success("ACME-SRV01"))
	if tk := h.only(); tk.Status.ID != demo.StatusClosed {
		t.Fatalf("status = %d (%s), want Closed %d", tk.Status.ID, statusName(demo.BackupBoard, tk.Status.ID), demo.StatusClosed)
	}
}

// failure → resolve → failure within 24 hours: the same ticket is reopened
// (default recurrence "reopen") with a note.
func TestRecurrenceWithinWindowReopensSameTicket(t *testing.T) {
	h := start(t)
	demo := h.st.Demo.Sim
	h.deliver(h.failure("ACME-SRV01"))
	tk := h.only()
	h.clock.Add(time.Hour)
	h.deliver(h.success("ACME-SRV01"))
	if !h.ticket(tk.ID).ClosedFlag {
		t.Fatal("not resolved")
	}

	h.clock.Add(23 * time.Hour)
	h.deliver(h.failure("ACME-SRV01"))
	got := h.only()
	if got.ID != tk.ID || got.ClosedFlag || got.Status.ID != demo.StatusNew {
		t.Fatalf("after recurrence within 24h: ticket %d closed=%v status %s; want ticket %d reopened with status New", got.ID, got.ClosedFlag, statusName(demo.BackupBoard, got.Status.ID), tk.ID)
	}
	detail, _, _ := notesOf(h.sim, tk.ID)
	if last := detail[len(detail)-1]; !strings.Contains(last.Text, "recurred") {
		t.Errorf("last note = %q, want the recurrence note", last.Text)
	}
	if n := len(h.ticketEntries(string(tickets.ActionReopened))); n != 1 {
		t.Errorf("reopened entries = %d, want 1", n)
	}

	// It resolves again like any open ticket.
	h.clock.Add(time.Hour)
	h.deliver(h.success("ACME-SRV01"))
	if !h.only().ClosedFlag {
		t.Error("the reopened ticket was not resolved again")
	}
}

// failure → resolve → failure more than 24 hours later: a new ticket.
func TestRecurrenceBeyondWindowOpensNewTicket(t *testing.T) {
	h := start(t)
	h.deliver(h.failure("ACME-SRV01"))
	first := h.only()
	h.clock.Add(time.Hour)
	h.deliver(h.success("ACME-SRV01"))

	h.clock.Add(25 * time.Hour)
	h.deliver(h.failure("ACME-SRV01"))
	assertNewTicketAfter(t, h, first.ID)
}

// Recurrence "new": a fault that comes back opens a new ticket even minutes
// after the last one was resolved. The setting goes through the operator API.
func TestRecurrenceSettingNewOpensNewTicket(t *testing.T) {
	h := start(t)
	code, b := h.operator("GET", "/v1/admin/partners/demo", nil)
	if code != 200 {
		t.Fatalf("get partner: %d %v", code, b)
	}
	p := b["partner"].(map[string]any)
	p["recurrence"] = "new"
	if code, b := h.operator("PUT", "/v1/admin/partners/demo", map[string]any{"partner": p}); code != 200 {
		t.Fatalf("put partner: %d %v", code, b)
	}
	if got, err := h.st.Service.Partners.Get(context.Background(), partner.DemoPartnerID); err != nil || got.Recurrence != "new" {
		t.Fatalf("partner after PUT: %+v %v", got, err)
	}

	h.deliver(h.failure("ACME-SRV01"))
	first := h.only()
	h.clock.Add(10 * time.Minute)
	h.deliver(h.success("ACME-SRV01"))
	h.clock.Add(10 * time.Minute)
	h.deliver(h.failure("ACME-SRV01"))
	assertNewTicketAfter(t, h, first.ID)
}

func assertNewTicketAfter(t *testing.T, h *harness, firstID int) {
	t.Helper()
	tks := h.sim.Tickets()
	if len(tks) != 2 {
		t.Fatalf("tickets = %d, want the resolved one and a new one: %+v", len(tks), tks)
	}
	old, neu := tks[0], tks[1]
	if old.ID != firstID || !old.ClosedFlag {
		t.Errorf("first ticket %d: closed=%v, want it left resolved", old.ID, old.ClosedFlag)
	}
	if neu.ClosedFlag || neu.ExternalXRef == old.ExternalXRef {
		t.Errorf("new ticket %d closed=%v xref %q (old %q)", neu.ID, neu.ClosedFlag, neu.ExternalXRef, old.ExternalXRef)
	}
	if n := len(h.ticketEntries(string(tickets.ActionOpened))); n != 2 {
		t.Errorf("opened entries = %d, want 2", n)
	}
}

// A technician moves the ticket to the Help Desk board: repeats note that
// ticket (no duplicate, the guide's warning), and the success closes it with
// a closed status of the Help Desk board.
func TestTicketMovedToAnotherBoardIsNotDuplicatedAndClosesOnItsBoard(t *testing.T) {
	h := start(t)
	help := h.st.Demo.Sim.HelpDeskBoard
	inProgress, _ := help.StatusByName("In Progress")
	h.deliver(h.failure("ACME-SRV01"))
	tk := h.only()
	if err := h.sim.MoveTicket(tk.ID, help.ID, inProgress.ID); err != nil {
		t.Fatal(err)
	}

	h.clock.Add(5 * time.Minute)
	h.deliver(h.failure("ACME-SRV01"))
	h.clock.Add(61 * time.Minute)
	h.deliver(h.failure("ACME-SRV01"))
	got := h.only()
	if got.ID != tk.ID || got.Board.ID != help.ID || got.Status.ID != inProgress.ID {
		t.Fatalf("after repeats: %+v, want ticket %d still on %q, In Progress", got, tk.ID, help.Name)
	}
	if detail, _, _ := notesOf(h.sim, tk.ID); len(detail) != 2 {
		t.Fatalf("moved ticket notes = %d, want the description and one repeat note", len(detail))
	}

	h.clock.Add(time.Minute)
	h.deliver(h.success("ACME-SRV01"))
	got = h.only()
	completed, _ := help.StatusByName("Completed")
	if !got.ClosedFlag || got.Board.ID != help.ID || got.Status.ID != completed.ID {
		t.Fatalf("after success: board %d status %d (%s) closed=%v; want %q Completed", got.Board.ID, got.Status.ID, statusName(help, got.Status.ID), got.ClosedFlag, help.Name)
	}
	if _, _, res := notesOf(h.sim, tk.ID); len(res) != 1 {
		t.Errorf("resolution notes = %d, want 1", len(res))
	}
	if n, _ := createCalls(h.sim); n != 1 {
		t.Errorf("create calls = %d, want 1", n)
	}
}

// A technician deletes the ticket: the next failure opens a new one.
func TestDeletedTicketIsForgottenAndNextFailureOpensNew(t *testing.T) {
	h := start(t)
	h.deliver(h.failure("ACME-SRV01"))
	first := h.only()
	if err := h.sim.DeleteTicket(first.ID); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(5 * time.Minute)
	h.deliver(h.failure("ACME-SRV01"))
	got := h.only()
	if got.ID == first.ID || got.ClosedFlag || got.ExternalXRef == first.ExternalXRef {
		t.Fatalf("after delete: %+v, want a new open ticket (old %d %q)", got, first.ID, first.ExternalXRef)
	}
	var why bool
	for _, e := range h.ticketLog(false) {
		// Said by ConnectWise's callback at once (package callback), or by
		// the failure that found the ticket gone.
		why = why || strings.Contains(e.Message, "deleted")
	}
	if !why {
		t.Errorf("event log does not say the old ticket was deleted: %+v", h.ticketLog(false))
	}
	// The new ticket is the fault's ticket from now on.
	h.clock.Add(time.Minute)
	h.deliver(h.success("ACME-SRV01"))
	if !h.only().ClosedFlag {
		t.Error("success did not resolve the new ticket")
	}
}

// A technician deletes the ticket, then the fault clears: nothing happens,
// and the next failure opens a new ticket.
func TestDeletedTicketThenSuccessThenFailure(t *testing.T) {
	h := start(t)
	h.deliver(h.failure("ACME-SRV01"))
	first := h.only()
	if err := h.sim.DeleteTicket(first.ID); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Minute)
	h.deliver(h.success("ACME-SRV01"))
	if n := len(h.sim.Tickets()); n != 0 {
		t.Fatalf("tickets = %d, want 0", n)
	}
	h.clock.Add(time.Minute)
	h.deliver(h.failure("ACME-SRV01"))
	if got := h.only(); got.ID == first.ID || got.ClosedFlag {
		t.Fatalf("got %+v, want a new open ticket", got)
	}
}

// A technician closes the ticket while the backups still fail: the repeats
// neither reopen it nor open another, and add one note in all. After the
// fault clears and recurs, a new ticket opens.
func TestClosedByHandWhileFailingNotesOnceAndNewTicketAfterRecurrence(t *testing.T) {
	h := start(t)
	demo := h.st.Demo.Sim
	h.deliver(h.failure("ACME-SRV01"))
	tk := h.only()
	if err := h.sim.SetTicketStatus(tk.ID, demo.StatusClosed); err != nil {
		t.Fatal(err)
	}
	before := len(h.sim.Notes(tk.ID))

	for i := range 6 {
		h.clock.Add(time.Duration(10+i*20) * time.Minute) // well past the note interval too
		h.deliver(h.failure("ACME-SRV01"))
	}
	got := h.only()
	if !got.ClosedFlag || got.Status.ID != demo.StatusClosed {
		t.Fatalf("repeats reopened the ticket: %+v", got)
	}
	if added := len(h.sim.Notes(tk.ID)) - before; added != 1 {
		t.Fatalf("repeats added %d notes to the ticket closed by hand, want exactly 1: %+v", added, h.sim.Notes(tk.ID))
	}

	h.clock.Add(time.Minute)
	h.deliver(h.success("ACME-SRV01"))
	if got := h.only(); got.Status.ID != demo.StatusClosed {
		t.Fatalf("the success changed the closed ticket: %+v", got)
	}
	h.clock.Add(time.Minute)
	h.deliver(h.failure("ACME-SRV01"))
	assertNewTicketAfter(t, h, tk.ID)
}

// A technician merges the ticket into another one (ConnectWise closes it):
// ConnectWise's callback tells the service at once, and the fault follows
// the parent ticket: the repeats note the parent, never reopen the child.
func TestMergedTicketIsNotReopened(t *testing.T) {
	h := start(t)
	demo := h.st.Demo.Sim
	h.deliver(h.failure("ACME-SRV01"))
	tk := h.only()
	parent, err := h.sim.AddTicket(cwsimTicket(demo.Acme.ID, demo.BackupBoard.ID, "Acme Dental: all backups"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.sim.MergeTicket(tk.ID, parent.ID); err != nil {
		t.Fatal(err)
	}
	h.settle() // ConnectWise's callback about the merge, seconds later
	for range 3 {
		h.clock.Add(2 * time.Hour)
		h.deliver(h.failure("ACME-SRV01"))
	}
	if n := len(h.sim.Tickets()); n != 2 {
		t.Fatalf("tickets = %d, want the merged child and its parent", n)
	}
	if got := h.ticket(tk.ID); !got.ClosedFlag {
		t.Fatalf("merged ticket reopened: %+v", got)
	}
	if detail, internal, _ := notesOf(h.sim, tk.ID); len(internal) != 0 || len(detail) != 1 {
		t.Errorf("notes added to the merged ticket (want only its description): %+v %+v", detail, internal)
	}
	if detail, _, _ := notesOf(h.sim, parent.ID); len(detail) == 0 {
		t.Errorf("the parent ticket got no note of the repeated failures")
	}
}

// disk_usage is a customer-wide fault (no account): raised opens a ticket,
// cleared resolves it.
func TestCustomerWideNotificationRaisedThenCleared(t *testing.T) {
	h := start(t)
	raised := `{"kind":"disk_usage","severity":"warning","message":"Disk usage of the backup vault is 92%","details":{"threshold":"90%","usage":"92%"}}`
	h.deliver(event("notification", "1002", h.clock.Now(), raised))
	tk := h.only()
	if tk.Company.ID != h.st.Demo.Sim.Birch.ID || !strings.HasPrefix(tk.Summary, "Disk usage over threshold") || !strings.Contains(tk.Summary, "Birch Legal") {
		t.Fatalf("ticket = %+v", tk)
	}
	if d, _, _ := notesOf(h.sim, tk.ID); !strings.Contains(d[0].Text, "threshold: 90%") {
		t.Errorf("description lacks the details: %q", d[0].Text)
	}
	// The same notification again, and one for another customer.
	h.clock.Add(10 * time.Minute)
	h.deliver(event("notification", "1002", h.clock.Now(), raised))
	h.only()

	h.clock.Add(10 * time.Minute)
	h.deliver(event("notification", "1002", h.clock.Now(), `{"kind":"disk_usage","severity":"info","state":"cleared","message":"Disk usage is back to 70%"}`))
	got := h.only()
	if !got.ClosedFlag {
		t.Fatalf("cleared notification did not resolve the ticket: %+v", got)
	}
	if _, _, res := notesOf(h.sim, tk.ID); len(res) != 1 || !strings.Contains(res[0].Text, "back to 70%") {
		t.Errorf("resolution notes = %+v", res)
	}
}

// service.status failed opens a ticket; healthy resolves it.
func TestServiceStatusFailedThenHealthy(t *testing.T) {
	h := start(t)
	h.deliver(event("service.status", "1001", h.clock.Now(), `{"service":"email_archiving","health":"failed","message":"Journal mailbox unreachable"}`))
	tk := h.only()
	if !strings.Contains(tk.Summary, "email archiving") || !strings.Contains(tk.Summary, "Acme Dental") {
		t.Errorf("summary = %q", tk.Summary)
	}
	h.clock.Add(15 * time.Minute)
	h.deliver(event("service.status", "1001", h.clock.Now(), `{"service":"email_archiving","health":"degraded","message":"Still catching up"}`))
	h.only()
	h.clock.Add(15 * time.Minute)
	h.deliver(event("service.status", "1001", h.clock.Now(), `{"service":"email_archiving","health":"healthy"}`))
	if got := h.only(); !got.ClosedFlag {
		t.Fatalf("healthy did not resolve the ticket: %+v", got)
	}
	// Another service's healthy status with no fault: nothing, and no
	// stored state for it either.
	h.deliver(event("service.status", "1001", h.clock.Now(), `{"service":"online_backup","health":"healthy"}`))
	h.only()
}

// A partner whose only ticket rule is for critical events: an error-level
// backup failure opens nothing, and the event log says why.
func TestRuleRestrictedToCriticalSkipsErrorFailureAndSaysWhy(t *testing.T) {
	h := start(t)
	h.updatePartner(func(p *partner.Partner) {
		p.Rules = []partner.Rule{
			{Action: partner.ActionOpenTicket, Severities: []contract.Severity{contract.SeverityCritical}},
			{Action: partner.ActionSynchronize},
		}
	})
	id := h.deliver(h.failure("ACME-SRV01"))
	if n := len(h.sim.Tickets()); n != 0 {
		t.Fatalf("tickets = %d, want 0", n)
	}
	if n, _ := createCalls(h.sim); n != 0 {
		t.Errorf("create calls = %d", n)
	}
	var why string
	for _, e := range h.events(eventlog.Query{EventID: id}) {
		if e.What == eventlog.WhatTicket && e.Outcome == eventlog.OutcomeSkipped {
			why = e.Message
		}
	}
	if !strings.Contains(why, "no notification rule") || !strings.Contains(why, "error") {
		t.Fatalf("event log reason = %q, want it to say no rule opens a ticket at severity error: %+v", why, h.ticketLog(false))
	}

	// A critical notification does open one.
	h.deliver(event("notification", "1001", h.clock.Now(), `{"kind":"bdr_hardware_failure","severity":"critical","message":"RAID degraded","details":{"component":"disk 3"}}`))
	if tk := h.only(); !strings.HasPrefix(tk.Summary, "BDR hardware failure") {
		t.Errorf("summary = %q", tk.Summary)
	}
}

// A rule restricted to some event types opens tickets only for those.
func TestRuleRestrictedToEventTypes(t *testing.T) {
	h := start(t)
	h.updatePartner(func(p *partner.Partner) {
		p.Rules = []partner.Rule{{Action: partner.ActionOpenTicket, EventTypes: []contract.NotificationKind{contract.NotifyNoBackup}}}
	})
	h.deliver(h.failure("ACME-SRV01"))
	h.deliver(event("service.status", "1001", h.clock.Now(), `{"service":"bdr","health":"failed"}`))
	if n := len(h.sim.Tickets()); n != 0 {
		t.Fatalf("tickets = %d, want 0", n)
	}
	h.deliver(event("notification", "1001", h.clock.Now(), `{"kind":"no_backup","severity":"warning","message":"No backup for 3 days","account":{"id":"ACME-PC07"}}`))
	h.only()
}

// Out of order: a success that happened after a failure but is delivered
// before it wins; the late failure opens nothing.
func TestLateFailureOlderThanSuccessOpensNoTicket(t *testing.T) {
	h := start(t)
	failedAt := h.clock.Now().Add(-10 * time.Minute)
	succeededAt := h.clock.Now().Add(-2 * time.Minute)
	h.deliver(event("backup.completed", "1001", succeededAt, backup("success", "ACME-SRV01", succeededAt)))
	h.deliver(event("backup.completed", "1001", failedAt, backup("failure", "ACME-SRV01", failedAt)))
	if tks := h.sim.Tickets(); len(tks) != 0 {
		t.Fatalf("a failure older than the last success opened %+v", tks)
	}
	// A newer failure still opens a ticket.
	h.deliver(h.failure("ACME-SRV01"))
	h.only()
}

// Out of order the other way: a success older than the failure that opened
// the ticket, delivered late, does not resolve it.
func TestLateSuccessOlderThanFailureDoesNotResolve(t *testing.T) {
	h := start(t)
	successAt := h.clock.Now().Add(-10 * time.Minute)
	h.deliver(h.failure("ACME-SRV01"))
	h.deliver(event("backup.completed", "1001", successAt, backup("success", "ACME-SRV01", successAt)))
	if tk := h.only(); tk.ClosedFlag {
		t.Fatalf("an old success resolved the ticket: %+v", tk)
	}
}

// After a resolve, later successes keep moving the clearing time forward: a
// failure older than the newest success, delivered late, does not reopen.
func TestLateFailureAfterResolveDoesNotReopen(t *testing.T) {
	h := start(t)
	h.deliver(h.failure("ACME-SRV01"))
	tk := h.only()
	h.clock.Add(time.Hour)
	h.deliver(h.success("ACME-SRV01"))
	lateFailureAt := h.clock.Now().Add(30 * time.Minute)
	h.clock.Add(time.Hour)
	h.deliver(h.success("ACME-SRV01")) // no ticket to resolve: only remembered
	h.clock.Add(time.Minute)
	h.deliver(event("backup.completed", "1001", lateFailureAt, backup("failure", "ACME-SRV01", lateFailureAt)))
	if got := h.only(); !got.ClosedFlag {
		t.Fatalf("a failure older than the newest success reopened the ticket: %+v", got)
	}
	h.deliver(h.failure("ACME-SRV01"))
	if got := h.only(); got.ID != tk.ID || got.ClosedFlag {
		t.Fatalf("a new failure did not reopen the ticket: %+v", got)
	}
}
