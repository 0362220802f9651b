package localstack_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/dev/localaws"
	"github.com/efs-cw/backupbridge/internal/dev/localstack"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// newStack brings up the whole local stack with the test settings of start,
// changed by mod (nil for none). It works for tests and benchmarks alike.
func newStack(tb testing.TB, logger *slog.Logger, mod func(*localstack.Options)) (*localstack.Stack, *clock, *noSleep) {
	tb.Helper()
	ck := &clock{t: time.Now().UTC().Truncate(time.Second)}
	ns := &noSleep{}
	opts := localstack.Options{
		Dir:               tb.TempDir(),
		Addr:              "127.0.0.1:0",
		VisibilityTimeout: 1,
		WorkerConcurrency: 1,
		InvokeTimeout:     20 * time.Second,
		Retry:             ns.policy(),
		Now:               ck.Now,
		Logger:            logger,
		OperatorToken:     "test-operator",
	}
	if mod != nil {
		mod(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := localstack.Start(ctx, opts)
	if err != nil {
		tb.Fatalf("start local stack: %v", err)
	}
	tb.Cleanup(st.Close)
	return st, ck, ns
}

// startWith is start with changed options (a short ConnectWise timeout, …).
func startWith(t *testing.T, mod func(*localstack.Options)) *harness {
	t.Helper()
	h, _ := startLogged(t, mod)
	return h
}

// startLogged is startWith that also returns the service log so far, for a
// test to read (the log is printed when the test fails).
func startLogged(t *testing.T, mod func(*localstack.Options)) (*harness, func() string) {
	t.Helper()
	var logBuf bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&logMu, &logBuf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, ck, ns := newStack(t, logger, mod)
	t.Cleanup(func() {
		if t.Failed() {
			logMu.Lock()
			t.Logf("service log:\n%s", tail(logBuf.String(), 8000))
			logMu.Unlock()
		}
	})
	return &harness{t: t, st: st, sim: st.Sim, clock: ck, sleep: ns}, func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return logBuf.String()
	}
}

// discardLogger drops everything below errors (benchmarks, load runs).
func discardLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
}

// send posts body under a new webhook-id at the clock's time, insists that
// it was accepted, and returns the event id.
func (h *harness) send(body []byte) string {
	h.t.Helper()
	id := newID()
	code, b := h.post(id, body)
	if code != http.StatusAccepted {
		h.t.Fatalf("post %s: %d %v", body, code, b)
	}
	return id
}

// deliver sends body and runs the worker until the queue is empty.
func (h *harness) deliver(body []byte) string {
	h.t.Helper()
	id := h.send(body)
	h.settle()
	return id
}

// failure / success are backup.completed events of customer 1001's account at the clock's time.
func (h *harness) failure(account string) []byte {
	now := h.clock.Now()
	return event("backup.completed", "1001", now, backup("failure", account, now))
}

func (h *harness) success(account string) []byte {
	now := h.clock.Now()
	return event("backup.completed", "1001", now, backup("success", account, now))
}

// settle is drain with short polling: the same end state (nothing visible,
// nothing in flight), without a one-second long poll on every empty receive.
func (h *harness) settle() {
	h.t.Helper()
	es, ss := *h.st.EventSource, *h.st.SyncSource
	es.WaitTime, ss.WaitTime = -1, -1
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for idle := 0; idle < 2; {
		if ctx.Err() != nil {
			h.t.Fatalf("queues did not drain: %d messages left", h.depth())
		}
		if h.sim != nil {
			// ConnectWise's callbacks about what the last messages did
			// to tickets are delivered (and enqueued) before the queues
			// are read again.
			if err := h.sim.WaitCallbacks(ctx); err != nil {
				h.t.Fatalf("callbacks: %v", err)
			}
		}
		received := 0
		for _, src := range []*localaws.EventSource{&es, &ss} {
			res, err := src.PollOnce(ctx)
			if err != nil {
				h.t.Fatalf("poll: %v", err)
			}
			received += res.Received
		}
		if received > 0 {
			idle = 0
			continue
		}
		if h.depth() == 0 {
			idle++
			continue
		}
		idle = 0
		time.Sleep(20 * time.Millisecond) // a retried message reappears after the visibility timeout
	}
}

// only returns the one ticket the simulator holds, or fails.
func (h *harness) only() cwsim.Ticket {
	h.t.Helper()
	tks := h.sim.Tickets()
	if len(tks) != 1 {
		h.t.Fatalf("tickets = %d, want 1: %+v", len(tks), tks)
	}
	return tks[0]
}

// ticket returns ticket id as the simulator holds it now.
func (h *harness) ticket(id int) cwsim.Ticket {
	h.t.Helper()
	tk, ok := h.sim.Ticket(id)
	if !ok {
		h.t.Fatalf("ticket %d does not exist", id)
	}
	return tk
}

// updatePartner changes the demo partner's settings as the operator API would.
func (h *harness) updatePartner(change func(p *partner.Partner)) {
	h.t.Helper()
	ctx := context.Background()
	p, err := h.st.Service.Partners.Get(ctx, partner.DemoPartnerID)
	if err != nil {
		h.t.Fatal(err)
	}
	change(p)
	if err := p.Validate(connectwise.SitePolicy{AllowLoopback: true}); err != nil {
		h.t.Fatalf("partner settings: %v", err)
	}
	if err := h.st.Service.Partners.Update(ctx, p); err != nil {
		h.t.Fatal(err)
	}
}

// ticketLog is the event log's ticket entries (not statistics, billing, …),
// newest first; failedOnly keeps the failed ones.
func (h *harness) ticketLog(failedOnly bool) []eventlog.Entry {
	h.t.Helper()
	var out []eventlog.Entry
	for _, e := range h.events(eventlog.Query{Limit: 500, FailedOnly: failedOnly}) {
		if e.What == eventlog.WhatTicket {
			out = append(out, e)
		}
	}
	return out
}

// pollOnce runs the worker on what the queue holds now (one batch).
func (h *harness) pollOnce() localaws.Result {
	h.t.Helper()
	if h.sim != nil {
		// Callbacks the simulator still owes are on the queue first, so
		// that what one poll receives does not depend on their timing.
		if err := h.sim.WaitCallbacks(context.Background()); err != nil {
			h.t.Fatalf("callbacks: %v", err)
		}
	}
	res, err := h.st.EventSource.PollOnce(context.Background())
	if err != nil {
		h.t.Fatalf("poll: %v", err)
	}
	return res
}

// ticketEntries are the event log's ticket entries whose message starts with
// action ("opened", "noted", …), newest first.
func (h *harness) ticketEntries(action string) []eventlog.Entry {
	h.t.Helper()
	var out []eventlog.Entry
	for _, e := range h.ticketLog(false) {
		if strings.HasPrefix(e.Message, action+" ") {
			out = append(out, e)
		}
	}
	return out
}

// createCalls counts ticket creations the simulator received (POST
// /service/tickets exactly; CallCount's prefix would count notes and
// searches too), and how many of them it answered 2xx.
func createCalls(sim *cwsim.Sim) (all, ok int) {
	for _, c := range sim.Calls() {
		if c.Method == http.MethodPost && strings.TrimSuffix(c.Path, "/") == "/service/tickets" {
			all++
			if c.Status/100 == 2 {
				ok++
			}
		}
	}
	return all, ok
}

// notesOf splits a ticket's notes (the first is the initial description).
func notesOf(sim *cwsim.Sim, id int) (detail, internal, resolution []cwsim.TicketNote) {
	for _, n := range sim.Notes(id) {
		switch {
		case n.ResolutionFlag:
			resolution = append(resolution, n)
		case n.InternalAnalysisFlag:
			internal = append(internal, n)
		default:
			detail = append(detail, n)
		}
	}
	return detail, internal, resolution
}

func statusName(b cwsim.Board, id int) string {
	for _, s := range b.Statuses {
		if s.ID == id {
			return s.Name
		}
	}
	return "?"
}

func isClosedStatusOf(b cwsim.Board, id int) bool {
	for _, s := range b.Statuses {
		if s.ID == id {
			return s.ClosedStatus
		}
	}
	return false
}

// cwsimTicket is a ticket a person creates by hand.
func cwsimTicket(companyID, boardID int, summary string) cwsim.Ticket {
	return cwsim.Ticket{Summary: summary, Company: cwsim.Ref{ID: companyID}, Board: cwsim.Ref{ID: boardID}}
}
