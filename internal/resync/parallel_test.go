package resync_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/resync"
	"github.com/efs-cw/backupbridge/internal/syncslot"
)

// These tests run the resync over in-process partners, customers and queue
// (the event log is on minidyn: Resync.Log is the concrete *eventlog.Log).

var errBoom = errors.New("boom")

// fakePartners lists n partners p000…, with err in place of the partner at
// index errAt (when err is set).
type fakePartners struct {
	n     int
	errAt int
	err   error
}

func (f fakePartners) All(ctx context.Context) iter.Seq2[*partner.Partner, error] {
	return func(yield func(*partner.Partner, error) bool) {
		for i := range f.n {
			if f.err != nil && i == f.errAt {
				if !yield(nil, f.err) {
					return
				}
				continue
			}
			if !yield(&partner.Partner{ID: fmt.Sprintf("p%03d", i)}, nil) {
				return
			}
		}
	}
}

// fakeCustomers gives every partner perPartner customers, every tenth with
// its window closed, in pages of 50 that each take pageDelay; failFor's walk
// fails after its first page. It records how many walks run at once.
type fakeCustomers struct {
	perPartner int
	pageDelay  time.Duration
	failFor    string
	now        time.Time
	walks, max atomic.Int64
}

func (f *fakeCustomers) Customers(ctx context.Context, partnerID string) iter.Seq2[syncslot.Listed, error] {
	return func(yield func(syncslot.Listed, error) bool) {
		n := f.walks.Add(1)
		defer f.walks.Add(-1)
		for m := f.max.Load(); n > m && !f.max.CompareAndSwap(m, n); m = f.max.Load() {
		}
		for i := range f.perPartner {
			if i%50 == 0 {
				if i > 0 && partnerID == f.failFor {
					yield(syncslot.Listed{}, errBoom)
					return
				}
				time.Sleep(f.pageDelay)
			}
			c := syncslot.Listed{CustomerID: fmt.Sprintf("%s-c%04d", partnerID, i)}
			if i%10 == 0 {
				c.State.LastSyncAt = f.now.Add(-time.Hour)
			}
			if i%10 == 1 {
				c.State.Pending = true
			}
			if !yield(c, nil) {
				return
			}
		}
	}
}

// slowQueue takes delay per batch, records what it is sent and how many
// batches were in flight at most, and fails the failAt-th call (1-based;
// 0: none).
type slowQueue struct {
	delay  time.Duration
	failAt int64

	calls, inFlight, max atomic.Int64
	mu                   sync.Mutex
	msgs                 []queue.Message
	sizes                []int
}

func (q *slowQueue) EnqueueBatch(ctx context.Context, ms []queue.Message) (int, error) {
	n := q.inFlight.Add(1)
	defer q.inFlight.Add(-1)
	for m := q.max.Load(); n > m && !q.max.CompareAndSwap(m, n); m = q.max.Load() {
	}
	if q.calls.Add(1) == q.failAt {
		return 0, errBoom
	}
	select {
	case <-time.After(q.delay):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, ms...)
	q.sizes = append(q.sizes, len(ms))
	return len(ms), nil
}

// run runs r, failing the test if it does not return within a minute (a
// deadlock).
func runWithin(t *testing.T, ctx context.Context, r *resync.Resync) (resync.Report, error) {
	t.Helper()
	type result struct {
		rep resync.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := r.Run(ctx)
		done <- result{rep, err}
	}()
	select {
	case res := <-done:
		return res.rep, res.err
	case <-time.After(time.Minute):
		t.Fatal("the resync did not return within a minute")
		return resync.Report{}, nil
	}
}

// TestResyncIsParallelAndBounded: partners are walked several at a time, up
// to Walkers, and batches of at most ten are sent several at a time, up to
// InFlight; every customer with an open window gets exactly one job.
func TestResyncIsParallelAndBounded(t *testing.T) {
	db, tbl := localtest.Table(t)
	now := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name              string
		walkers, inFlight int
		wantWalks, wantIn int64
	}{
		{"defaults", 0, 0, resync.DefaultWalkers, resync.DefaultInFlight},
		{"set", 3, 5, 3, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const partners, perPartner = 40, 95
			cs := &fakeCustomers{perPartner: perPartner, pageDelay: 2 * time.Millisecond, now: now}
			q := &slowQueue{delay: 3 * time.Millisecond}
			r := &resync.Resync{
				Partners: fakePartners{n: partners}, Log: &eventlog.Log{DB: db, Table: tbl}, Queue: q, Customers: cs,
				Now: func() time.Time { return now }, Walkers: tc.walkers, InFlight: tc.inFlight,
			}
			rep, err := runWithin(t, t.Context(), r)
			if err != nil {
				t.Fatal(err)
			}
			const closed = partners * 10 // customers 0, 10, …, 90 of each partner; 1, 11, …, 91 pending
			const syncs = partners*perPartner - closed
			want := resync.Report{Partners: partners, Enqueued: syncs, Customers: partners * perPartner, Syncs: syncs, Pending: partners * 10, Closed: closed}
			rep.DurationMS = 0
			if rep != want {
				t.Errorf("report %+v, want %+v", rep, want)
			}
			seen := map[string]int{}
			for _, m := range q.msgs {
				seen[m.CustomerID]++
				if m.Job != queue.JobSync || m.RequestID != "resync-2026-11-30" || m.EventID != "sync:resync-2026-11-30" || !strings.HasPrefix(m.CustomerID, m.PartnerID+"-") {
					t.Fatalf("message %+v", m)
				}
			}
			if len(seen) != syncs || len(q.msgs) != syncs {
				t.Errorf("%d messages for %d customers, want %d each", len(q.msgs), len(seen), syncs)
			}
			for _, n := range q.sizes {
				if n > 10 {
					t.Fatalf("a batch of %d messages", n)
				}
			}
			// Ten per batch but for the walkers' last ones.
			if len(q.sizes) > syncs/10+int(tc.wantWalks) {
				t.Errorf("%d batches for %d messages", len(q.sizes), syncs)
			}
			walks, in := cs.max.Load(), q.max.Load()
			t.Logf("at most %d partners walked and %d batches in flight at once", walks, in)
			if walks < 2 || walks > tc.wantWalks {
				t.Errorf("at most %d partners walked at once, want 2 to %d", walks, tc.wantWalks)
			}
			if in < 2 || in > tc.wantIn {
				t.Errorf("at most %d batches in flight at once, want 2 to %d", in, tc.wantIn)
			}
		})
	}
}

// TestResyncStopsAtTheFirstError: a batch SQS refused, a page of customers
// that cannot be read, a page of partners that cannot be read, or the end of
// the caller's context stops the run with that error (no deadlock, nothing
// left running); a partner that cannot be decoded does not.
func TestResyncStopsAtTheFirstError(t *testing.T) {
	db, tbl := localtest.Table(t)
	now := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	newResync := func() (*resync.Resync, *fakeCustomers, *slowQueue) {
		cs := &fakeCustomers{perPartner: 120, now: now}
		q := &slowQueue{delay: time.Millisecond}
		return &resync.Resync{Partners: fakePartners{n: 30}, Log: &eventlog.Log{DB: db, Table: tbl}, Queue: q, Customers: cs,
			Now: func() time.Time { return now }}, cs, q
	}

	t.Run("batch refused", func(t *testing.T) {
		r, _, q := newResync()
		q.failAt = 25
		rep, err := runWithin(t, t.Context(), r)
		if !errors.Is(err, errBoom) {
			t.Fatalf("error %v, want %v", err, errBoom)
		}
		if rep.Enqueued >= rep.Syncs || rep.Enqueued != len(q.msgs) {
			t.Errorf("report %+v after %d messages sent", rep, len(q.msgs))
		}
	})
	t.Run("customers unreadable", func(t *testing.T) {
		r, cs, _ := newResync()
		cs.failFor = "p007"
		_, err := runWithin(t, t.Context(), r)
		if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "resync partner p007") {
			t.Fatalf("error %v, want %v naming p007", err, errBoom)
		}
	})
	t.Run("partners unreadable", func(t *testing.T) {
		r, _, _ := newResync()
		r.Partners = fakePartners{n: 30, errAt: 12, err: errBoom}
		rep, err := runWithin(t, t.Context(), r)
		if !errors.Is(err, errBoom) || !strings.HasPrefix(err.Error(), "resync: ") {
			t.Fatalf("error %v, want resync: %v", err, errBoom)
		}
		if rep.Partners != 12 {
			t.Errorf("report %+v, want the 12 partners before the error", rep)
		}
	})
	t.Run("one partner undecodable", func(t *testing.T) {
		r, _, q := newResync()
		r.Partners = fakePartners{n: 30, errAt: 12, err: fmt.Errorf("partner p012: %w", partner.ErrUnreadable)}
		rep, err := runWithin(t, t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Partners != 29 || rep.Unreadable != 1 || rep.Syncs != 29*108 || len(q.msgs) != rep.Syncs {
			t.Errorf("report %+v (%d messages), want 29 partners, 1 unreadable, %d syncs", rep, len(q.msgs), 29*108)
		}
	})
	t.Run("context cancelled", func(t *testing.T) {
		r, _, q := newResync()
		ctx, cancel := context.WithCancel(t.Context())
		q.delay = 20 * time.Millisecond
		time.AfterFunc(30*time.Millisecond, cancel)
		_, err := runWithin(t, ctx, r)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want %v", err, context.Canceled)
		}
	})
}

// TestResyncReprocessesFixableFailures: each partner's fixable failures
// younger than MaxAge, with the event kept, are sent back once per event as
// reprocess jobs with the day's request id; the others are skipped and
// counted.
func TestResyncReprocessesFixableFailures(t *testing.T) {
	ctx := t.Context()
	db, tbl := localtest.Table(t)
	log := &eventlog.Log{DB: db, Table: tbl}
	now := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	ev := json.RawMessage(`{"specversion":"1.0"}`)
	partners := 12
	for i := range partners {
		pid := fmt.Sprintf("p%03d", i)
		for _, e := range []eventlog.Entry{
			{EventID: "fix", Code: outcome.CodeManagementID, Subject: "a", At: now.Add(-time.Hour), Event: ev},
			{EventID: "fix", Code: outcome.CodeManagementID, Subject: "b", At: now.Add(-2 * time.Hour), Event: ev}, // the same event: one job
			{EventID: "auth", Code: outcome.CodeAuth, At: now.Add(-13 * 24 * time.Hour), Event: ev},
			{EventID: "old", Code: outcome.CodeBoardNotFound, At: now.Add(-15 * 24 * time.Hour), Event: ev}, // older than MaxAge
			{EventID: "internal", Code: outcome.CodeInternal, At: now.Add(-time.Hour), Event: ev},           // not fixable by a person
			{EventID: "noevent", Code: outcome.CodeStatusNotFound, At: now.Add(-time.Hour)},                 // nothing to reprocess
		} {
			e.PartnerID, e.What, e.Outcome = pid, eventlog.WhatTicket, eventlog.OutcomeFailed
			if err := log.Record(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	q := &slowQueue{delay: time.Millisecond}
	r := &resync.Resync{Partners: fakePartners{n: partners}, Log: log, Queue: q, Customers: &fakeCustomers{perPartner: 3, now: now},
		Now: func() time.Time { return now }}
	rep, err := runWithin(t, ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Partners != partners || rep.Syncs != 2*partners || rep.Skipped != 3*partners || rep.Enqueued != rep.Syncs+2*partners {
		t.Fatalf("report %+v, want %d partners, %d syncs, %d skipped, %d reprocess jobs", rep, partners, 2*partners, 3*partners, 2*partners)
	}
	jobs := map[string]int{}
	for _, m := range q.msgs {
		if m.Job != queue.JobReprocess {
			continue
		}
		jobs[m.PartnerID+"/"+m.EventID]++
		if m.RequestID != "resync-2026-11-30" || string(m.Event) != string(ev) || !m.ReceivedAt.Equal(now) {
			t.Errorf("reprocess job %+v", m)
		}
	}
	for i := range partners {
		for _, id := range []string{"fix", "auth"} {
			if k := fmt.Sprintf("p%03d/%s", i, id); jobs[k] != 1 {
				t.Errorf("%s: %d reprocess jobs, want 1", k, jobs[k])
			}
		}
	}
	if len(jobs) != 2*partners {
		t.Errorf("reprocess jobs %v, want fix and auth of each partner", jobs)
	}
}
