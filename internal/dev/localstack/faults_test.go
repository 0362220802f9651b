package localstack_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/dev/localstack"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/tickets"
)

// The faults ConnectWise really produces, injected into the simulator.

var acmeServerFailure = tickets.FaultKey{PartnerID: partner.DemoPartnerID, CustomerID: "1001", AccountID: "ACME-SRV01", Kind: "backup_failure"}

// ConnectWise creates the ticket but the worker never sees the answer (the
// connection drops, or the worker's HTTP timeout fires first): the retry
// finds the ticket by its externalXRef — or, where ConnectWise refuses that
// filter, by the narrow search — and there is still exactly one ticket.
func TestLostCreateResponseStillOneTicket(t *testing.T) {
	cases := []struct {
		name       string
		filterable bool
		fault      cwsim.Fault
	}{
		{"connection dropped, xref filter", true, cwsim.Fault{Method: "POST", Path: "/service/tickets", LoseResponse: true}},
		{"connection dropped, fallback search", false, cwsim.Fault{Method: "POST", Path: "/service/tickets", LoseResponse: true}},
		{"client timeout, xref filter", true, cwsim.Fault{Method: "POST", Path: "/service/tickets", Delay: 4 * time.Second}},
		{"client timeout, fallback search", false, cwsim.Fault{Method: "POST", Path: "/service/tickets", Delay: 4 * time.Second}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := startWith(t, func(o *localstack.Options) { o.ConnectWiseTimeout = 2 * time.Second })
			h.sim.SetXRefFilterable(c.filterable)
			// Another ticket of the same company on the board, which the
			// fallback search must not mistake for ours.
			demo := h.st.Demo.Sim
			if _, err := h.sim.AddTicket(cwsimTicket(demo.Acme.ID, demo.BackupBoard.ID, "Backup failed: ACME-SRV01 file server – Acme Dental")); err != nil {
				t.Fatal(err)
			}
			h.settle() // ConnectWise's callback about that ticket, before the event
			h.sim.Inject(c.fault)
			started := time.Now()
			h.send(h.failure("ACME-SRV01"))
			// First attempt: the create's answer is lost; the message goes back.
			if res := h.pollOnce(); res.Received != 1 || len(res.Retried) != 1 {
				t.Fatalf("first attempt: %+v, want the message retried", res)
			}
			if c.fault.Delay > 0 && time.Since(started) < 2*time.Second {
				t.Errorf("the client timeout did not fire (took %s)", time.Since(started))
			}
			var retrying bool
			for _, e := range h.ticketLog(false) {
				retrying = retrying || (e.Outcome == eventlog.OutcomeRetrying && e.Code == outcome.CodeUnavailable)
			}
			if !retrying {
				t.Errorf("no retrying entry after the lost answer: %+v", h.ticketLog(false))
			}
			if n := len(h.sim.Tickets()); n != 2 {
				t.Fatalf("tickets after the lost answer = %d, want 2 (ConnectWise did create it)", n)
			}
			// The retry, a second later.
			h.clock.Add(time.Second)
			h.settle()

			tks := h.sim.Tickets()
			if len(tks) != 2 {
				t.Fatalf("tickets = %d, want the person's ticket and exactly one of ours: %+v", len(tks), tks)
			}
			tk := tks[1]
			if all, ok := createCalls(h.sim); all != 1 || ok != 1 {
				t.Fatalf("create calls = %d (%d answered 2xx), want 1: the retry created again", all, ok)
			}
			if h.sim.PendingFaults() != 0 {
				t.Fatal("the fault was not applied to the create")
			}
			var found bool
			for _, e := range h.ticketLog(false) {
				found = found || (e.Outcome == eventlog.OutcomeDone && e.TicketID == tk.ID && strings.Contains(e.Message, "earlier attempt"))
			}
			if !found {
				t.Errorf("event log does not say the ticket was found: %+v", h.ticketLog(false))
			}
			if !c.filterable {
				var searched bool
				for _, call := range h.sim.Calls() {
					searched = searched || (call.Method == "GET" && call.Path == "/service/tickets" && strings.Contains(call.Query, "company%2Fid"))
				}
				if !searched {
					t.Error("the fallback search was not used")
				}
			}
			f, _, err := h.st.Service.Faults.Get(context.Background(), acmeServerFailure)
			if err != nil || f.State != tickets.StateOpen || f.TicketID != tk.ID || f.Creating {
				t.Fatalf("fault state = %+v (%v), want open with ticket %d", f, err, tk.ID)
			}

			// The adopted ticket is the fault's ticket: a success resolves it.
			h.clock.Add(time.Minute)
			h.deliver(h.success("ACME-SRV01"))
			if !h.ticket(tk.ID).ClosedFlag || h.ticket(tks[0].ID).ClosedFlag {
				t.Error("success did not resolve exactly the adopted ticket")
			}
		})
	}
}

// 429 with Retry-After on the create: the client waits at least that long
// (the recorded waits of the retry policy), then creates once.
func TestRateLimitedCreateHonoursRetryAfter(t *testing.T) {
	h := start(t)
	h.sim.Inject(cwsim.Fault{Method: "POST", Path: "/service/tickets", Status: http.StatusTooManyRequests, RetryAfter: 7 * time.Second})
	h.deliver(h.failure("ACME-SRV01"))
	h.only()
	if all, ok := createCalls(h.sim); all != 2 || ok != 1 {
		t.Fatalf("create calls = %d (%d succeeded), want the throttled one and one more", all, ok)
	}
	h.sleep.mu.Lock()
	waits := append([]time.Duration(nil), h.sleep.waits...)
	h.sleep.mu.Unlock()
	if len(waits) != 1 || waits[0] < 7*time.Second {
		t.Fatalf("retry waits = %v, want one of at least the Retry-After of 7s", waits)
	}
	for _, e := range h.ticketLog(false) {
		if e.Outcome != eventlog.OutcomeDone {
			t.Errorf("unexpected entry %+v: the retry happened inside the client", e)
		}
	}
}

// Throttling that outlasts the client's attempts sends the message back to
// the queue; the next delivery opens the ticket (and only one).
func TestRateLimitBeyondAttemptsRetriesThroughTheQueue(t *testing.T) {
	h := start(t)
	h.sim.Inject(cwsim.Fault{Method: "POST", Path: "/service/tickets", Status: http.StatusTooManyRequests, RetryAfter: time.Second, Times: 4})
	h.send(h.failure("ACME-SRV01"))
	if res := h.pollOnce(); len(res.Retried) != 1 {
		t.Fatalf("first delivery: %+v, want the message retried", res)
	}
	var retrying bool
	for _, e := range h.ticketLog(false) {
		retrying = retrying || (e.Outcome == eventlog.OutcomeRetrying && e.Code == outcome.CodeUnavailable && strings.Contains(e.Message, "429"))
	}
	if !retrying {
		t.Errorf("no retrying entry for the throttled attempt: %+v", h.ticketLog(false))
	}
	h.clock.Add(time.Second)
	h.settle()
	h.only()
	if all, ok := createCalls(h.sim); all != 5 || ok != 1 {
		t.Fatalf("create calls = %d (%d succeeded), want 4 throttled and 1 created", all, ok)
	}
	if n := h.queueDepth(h.st.DLQURL); n != 0 {
		t.Errorf("DLQ holds %d", n)
	}
}

// 5xx answers to reads and to the closing PATCH (JSON and a cloud front
// end's HTML page) are retried with backoff, and the ticket is resolved.
func TestServerErrorsThenSuccessAreRetried(t *testing.T) {
	h := start(t)
	h.deliver(h.failure("ACME-SRV01"))
	tk := h.only()
	h.sim.Inject(cwsim.Fault{Method: "GET", Path: "/service/tickets/{id}", Status: http.StatusServiceUnavailable})
	h.sim.Inject(cwsim.Fault{Method: "PATCH", Path: "/service/tickets/{id}", Status: http.StatusBadGateway, HTMLBody: true})
	h.sim.Inject(cwsim.Fault{Method: "PATCH", Path: "/service/tickets/{id}", Status: http.StatusInternalServerError})

	h.clock.Add(time.Minute)
	h.deliver(h.success("ACME-SRV01"))
	got := h.only()
	if !got.ClosedFlag {
		t.Fatalf("ticket not resolved after 5xx retries: %+v", got)
	}
	if _, _, res := notesOf(h.sim, tk.ID); len(res) != 1 {
		t.Errorf("resolution notes = %d, want 1", len(res))
	}
	if h.sim.PendingFaults() != 0 {
		t.Error("not every injected fault was hit")
	}
	h.sleep.mu.Lock()
	waits := len(h.sleep.waits)
	h.sleep.mu.Unlock()
	if waits != 3 {
		t.Errorf("retry waits = %d, want 3 (one per 5xx)", waits)
	}
	if patches := h.sim.CallCount("PATCH", "/service/tickets"); patches != 3 {
		t.Errorf("PATCH calls = %d, want 3", patches)
	}
}

// Permanent refusals are recorded in the event log with ConnectWise's
// message and code (or the setting to fix), not retried: the queue drains,
// nothing reaches the DLQ, and the event is kept for reprocessing.
func TestPermanentRejectionIsRecordedNotRetried(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(h *harness)
		code    string
		creates int
		check   func(t *testing.T, e eventlog.Entry)
	}{
		{"ConnectWise answers 400 to the create", func(h *harness) {
			h.sim.Inject(cwsim.Fault{Method: "POST", Path: "/service/tickets", Status: http.StatusBadRequest})
		}, outcome.CodeRejected, 1, func(t *testing.T, e eventlog.Entry) {
			if !strings.Contains(e.ConnectWiseMessage, "Injected fault 400") || !strings.Contains(e.Message, "400") || !strings.Contains(e.Message, "InvalidObject") {
				t.Errorf("entry lacks ConnectWise's message and code: message %q, ConnectWise message %q", e.Message, e.ConnectWiseMessage)
			}
		}},
		{"the board has no status named as the new-ticket status", func(h *harness) {
			h.updatePartner(func(p *partner.Partner) { p.NewStatus = "Triage" })
		}, outcome.CodeStatusNotFound, 0, func(t *testing.T, e eventlog.Entry) {
			if !strings.Contains(e.Remedy, `"Triage"`) || !strings.Contains(e.Remedy, "eFolder Backup") {
				t.Errorf("remedy does not name the status and the board: %q", e.Remedy)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := start(t)
			c.setup(h)
			id := h.deliver(h.failure("ACME-SRV01"))
			if n := len(h.sim.Tickets()); n != 0 {
				t.Fatalf("tickets = %d", n)
			}
			if all, _ := createCalls(h.sim); all != c.creates {
				t.Fatalf("create calls = %d, want %d (a permanent error is not retried)", all, c.creates)
			}
			if n := h.queueDepth(h.st.DLQURL); n != 0 {
				t.Fatalf("DLQ holds %d messages", n)
			}
			failed := h.ticketLog(true)
			if len(failed) != 1 {
				t.Fatalf("failed entries = %+v, want 1", failed)
			}
			e := failed[0]
			if e.EventID != id || e.Code != c.code || e.Remedy == "" || len(e.Event) == 0 || e.What != eventlog.WhatTicket {
				t.Fatalf("failed entry = %+v, want code %s with a remedy and the event", e, c.code)
			}
			c.check(t, e)
			f, _, err := h.st.Service.Faults.Get(context.Background(), acmeServerFailure)
			if err != nil || f.Creating || f.State != tickets.StateNone {
				t.Errorf("fault state after a refused create = %+v (%v), want no ticket and nothing being created", f, err)
			}

			// After the fix, the operator reprocesses: one ticket.
			h.updatePartner(func(p *partner.Partner) { p.NewStatus = "New" })
			if code, b := h.operator(http.MethodPost, "/v1/admin/partners/demo/reprocess", map[string]string{"eventId": id}); code != http.StatusAccepted {
				t.Fatalf("reprocess: %d %v", code, b)
			}
			h.settle()
			if tk := h.only(); tk.ClosedFlag {
				t.Fatalf("ticket after reprocess: %+v", tk)
			}
			if left := h.ticketLog(true); len(left) != 0 {
				t.Errorf("failed list still holds %+v", left)
			}
		})
	}
}

// ConnectWise keeps failing the closing PATCH after the resolution note was
// added: the message is retried through the queue, and the retry closes the
// ticket without a second resolution note.
func TestCloseRetriedThroughQueueAddsOneResolutionNote(t *testing.T) {
	h := start(t)
	h.deliver(h.failure("ACME-SRV01"))
	tk := h.only()
	h.sim.Inject(cwsim.Fault{Method: "PATCH", Path: "/service/tickets/{id}", Status: http.StatusServiceUnavailable, Times: 4})
	h.clock.Add(time.Minute)
	h.send(h.success("ACME-SRV01"))
	if res := h.pollOnce(); len(res.Retried) != 1 {
		t.Fatalf("first attempt: %+v, want the message retried", res)
	}
	if h.ticket(tk.ID).ClosedFlag {
		t.Fatal("closed although every PATCH failed")
	}
	h.clock.Add(time.Second)
	h.settle()
	if !h.ticket(tk.ID).ClosedFlag {
		t.Fatal("the retry did not close the ticket")
	}
	if _, _, res := notesOf(h.sim, tk.ID); len(res) != 1 {
		t.Fatalf("resolution notes = %d, want 1: %+v", len(res), res)
	}
}

// The same for a reopen: the recurrence note is added once although the
// status change is retried through the queue.
func TestReopenRetriedThroughQueueAddsOneNote(t *testing.T) {
	h := start(t)
	h.deliver(h.failure("ACME-SRV01"))
	tk := h.only()
	h.clock.Add(time.Hour)
	h.deliver(h.success("ACME-SRV01"))
	h.sim.Inject(cwsim.Fault{Method: "PATCH", Path: "/service/tickets/{id}", Status: http.StatusBadGateway, Times: 4})
	h.clock.Add(time.Hour)
	h.send(h.failure("ACME-SRV01"))
	if res := h.pollOnce(); len(res.Retried) != 1 {
		t.Fatalf("first attempt: %+v, want the message retried", res)
	}
	h.clock.Add(time.Second)
	h.settle()
	if got := h.only(); got.ID != tk.ID || got.ClosedFlag {
		t.Fatalf("ticket = %+v, want %d reopened", got, tk.ID)
	}
	var recurred int
	for _, n := range h.sim.Notes(tk.ID) {
		if strings.Contains(n.Text, "recurred") {
			recurred++
		}
	}
	if recurred != 1 {
		t.Fatalf("recurrence notes = %d, want 1", recurred)
	}
}
