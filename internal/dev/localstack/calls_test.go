package localstack_test

import (
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/eventlog"
)

// The ConnectWise calls of a customer's first ticket on a warm partner
// (issue 10: "at most 3", where it was 1 + one per company once the
// partner's managed ID index had expired), on a site of 400 companies: the
// index fresh, 20 and 50 minutes old (a new ConnectWise client and
// directory: the worker keeps them 10 minutes; the board an hour). A day
// later the partner is not warm: the board is resolved again (3 calls),
// still without a scan. The ticket's log line counts the calls of its
// attempt; the customer's first data sync runs as its own job and is not in
// it.
func TestFirstTicketCallsOnAWarmPartner(t *testing.T) {
	h := start(t)
	ids := seedCustomers(t, h.st, 400)
	// The partner's first ticket: the one scan of the site.
	h.deliver(h.failure("ACME-SRV01"))
	for i, step := range []struct {
		name    string
		advance time.Duration
	}{
		{"index fresh", 0},
		{"index 20 minutes old", 20 * time.Minute},
		{"index 50 minutes old", 30 * time.Minute},
		{"a day later", 24 * time.Hour},
	} {
		h.clock.Add(step.advance)
		now := h.clock.Now()
		before := len(h.sim.Calls())
		id := h.deliver(event("backup.completed", ids[i], now, backup("failure", "SRV-"+ids[i], now)))
		var line *eventlog.Entry
		for _, e := range h.events(eventlog.Query{CustomerID: ids[i]}) {
			if e.EventID == id && e.What == eventlog.WhatTicket {
				line = &e
			}
		}
		if line == nil || line.Outcome != eventlog.OutcomeDone || line.TicketID == 0 {
			t.Fatalf("%s: no ticket opened for customer %s: %+v", step.name, ids[i], h.events(eventlog.Query{CustomerID: ids[i]}))
		}
		t.Logf("%s: first ticket of customer %s: %d ConnectWise calls", step.name, ids[i], line.Calls)
		want := 3
		if step.advance == 24*time.Hour {
			want = 5 // the board (3), the mapping's check, the create
		}
		if line.Calls > want {
			for _, c := range h.sim.Calls()[before:] {
				t.Logf("  %s %s", c.Method, c.Path)
			}
			t.Errorf("%s: the first ticket of customer %s took %d ConnectWise calls, want at most %d", step.name, ids[i], line.Calls, want)
		}
	}
}
