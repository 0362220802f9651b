package worker

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/efs-cw/backupbridge/internal/claim"
	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/syncslot"
	"github.com/efs-cw/backupbridge/internal/tickets"
	"github.com/efs-cw/backupbridge/internal/usage"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixture is a worker on a local table with a settable clock.
type fixture struct {
	w        *Worker
	db       *dynamodb.Client
	tbl      string
	partners *partner.Store
	now      time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, tbl := localtest.Table(t)
	f := &fixture{db: db, tbl: tbl, partners: &partner.Store{DB: db, Table: tbl},
		now: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)}
	f.w = &Worker{
		Partners: f.partners,
		Claims:   &claim.Store{DB: db, Table: tbl, Prefix: "EVENT#"},
		Log:      &eventlog.Log{DB: db, Table: tbl},
		Sync: &Sync{
			Usage: &usage.Store{DB: db, Table: tbl},
			Slots: &syncslot.Slots{DB: db, Table: tbl},
		},
		Now:    func() time.Time { return f.now },
		Logger: quiet,
	}
	return f
}

func (f *fixture) entries(t *testing.T, partnerID string) []eventlog.Entry {
	t.Helper()
	p, err := f.w.Log.List(context.Background(), eventlog.Query{PartnerID: partnerID})
	if err != nil {
		t.Fatal(err)
	}
	return p.Entries
}

func backupEvent(t *testing.T, customerID string, at time.Time) []byte {
	t.Helper()
	ev := &contract.Event{SpecVersion: contract.SpecVersion, Type: contract.TypeBackupCompleted, OccurredAt: at,
		Customer: contract.Customer{ID: customerID},
		Backup: &contract.BackupCompleted{Account: contract.Account{ID: "SRV1", Kind: contract.KindServer, Plan: contract.PlanSelect},
			Result: contract.ResultFailure, EndedAt: at, OnlineGB: 10}}
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := contract.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sqsEvent(t *testing.T, msgs ...queue.Message) events.SQSEvent {
	t.Helper()
	var ev events.SQSEvent
	for i, m := range msgs {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: "m" + string(rune('0'+i)), Body: string(b)})
	}
	return ev
}

// TestUnreadablePartnerIsPermanent: a stored partner that cannot be decoded
// (here: rules stored as a string, what an empty rule list used to become)
// is recorded with PARTNER_UNREADABLE and a remedy, and the message is
// acknowledged instead of going back to the queue again and again.
func TestUnreadablePartnerIsPermanent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	p := &partner.Partner{ID: "broken", SiteURL: "https://api-na.myconnectwise.net", CompanyID: "acme", Board: "B", NewStatus: "New"}
	if err := p.Validate(connectwise.SitePolicy{AllowLoopback: true}); err != nil {
		t.Fatal(err)
	}
	if err := f.partners.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	localtest.DamagePartnerRules(t, f.db, f.tbl, "broken", "PARTNERS")

	body := backupEvent(t, "C1", f.now.Add(-time.Minute))
	resp, err := f.w.Handle(ctx, sqsEvent(t,
		queue.Message{Version: queue.MessageVersion, Job: queue.JobEvent, PartnerID: "broken", EventID: "evt-1", ReceivedAt: f.now, Event: body},
		queue.Message{Version: queue.MessageVersion, Job: queue.JobSync, PartnerID: "broken", EventID: "sync:r1", RequestID: "r1", CustomerID: "C1", ReceivedAt: f.now},
	))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("messages sent back to the queue: %+v (an unreadable partner must not be retried)", resp.BatchItemFailures)
	}
	got := f.entries(t, "broken")
	if len(got) != 2 {
		t.Fatalf("event log: %+v, want one entry per message", got)
	}
	for _, e := range got {
		if e.Outcome != eventlog.OutcomeFailed || e.Code != outcome.CodePartnerUnreadable || !strings.Contains(e.Remedy, "PUT") ||
			!strings.Contains(e.Message, "broken") || !strings.Contains(e.Message, "rules") {
			t.Errorf("entry %+v", e)
		}
	}
	// The event is kept, so that it can be reprocessed after the fix.
	for _, e := range got {
		if e.EventID == "evt-1" && len(e.Event) == 0 {
			t.Error("the failed event's body is not kept for reprocessing")
		}
	}
}

// TestQueuedFutureEventIsRefused: an event queued with a time far ahead of
// its receipt (accepted before the webhook checked the clock) is recorded
// as EVENT_INVALID and not applied.
func TestQueuedFutureEventIsRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	future := backupEvent(t, "C1", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC))
	resp, err := f.w.Handle(ctx, sqsEvent(t,
		queue.Message{Version: queue.MessageVersion, Job: queue.JobEvent, PartnerID: "p1", EventID: "evt-future", ReceivedAt: f.now, Event: future}))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("%+v, %v", resp, err)
	}
	got := f.entries(t, "p1")
	if len(got) != 1 || got[0].Code != outcome.CodeInvalidEvent || !strings.Contains(got[0].Message, "occurredAt") {
		t.Fatalf("event log: %+v", got)
	}
}

// TestThrottledMessageUsesTheDefaultWindow: with syncWindowHours unset, the
// "throttled" entry says the window opens 12 hours after the last sync (it
// used to say it opens at the last sync itself); with a window set, that one.
func TestThrottledMessageUsesTheDefaultWindow(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	lastSync := f.now
	for _, c := range []struct {
		partnerID string
		hours     int
		opens     time.Time
	}{
		{"default-window", 0, lastSync.Add(12 * time.Hour)},
		{"two-hours", 2, lastSync.Add(2 * time.Hour)},
	} {
		f.now = lastSync
		p := &partner.Partner{ID: c.partnerID, SyncWindowHours: c.hours,
			Integration: partner.Integration{UpdateBackupStatistics: true}, Rules: []partner.Rule{{Action: partner.ActionSynchronize}}}
		ev, err := contract.Parse(backupEvent(t, "C1", lastSync))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.w.Sync.Usage.Record(ctx, c.partnerID, ev); err != nil {
			t.Fatal(err)
		}
		res, slot, err := f.w.Sync.Slots.Claim(ctx, c.partnerID, "C1", lastSync, false)
		if err != nil || res != syncslot.Claimed {
			t.Fatalf("first sync: %v, %v", res, err)
		}
		if err := f.w.Sync.Slots.Complete(ctx, slot, lastSync); err != nil {
			t.Fatal(err)
		}

		f.now = lastSync.Add(time.Hour)
		var calls atomic.Int64
		base := eventlog.Entry{PartnerID: c.partnerID, EventID: "evt-2", At: f.now}
		if retry := f.w.syncCustomer(ctx, quiet, tickets.Target{Partner: p}, ev.Customer, false, false, base, nil, &calls, f.now); retry {
			t.Fatal("throttled sync asks for a retry")
		}
		got := f.entries(t, c.partnerID)
		if len(got) != 1 || got[0].What != eventlog.WhatSync || got[0].Outcome != eventlog.OutcomeThrottled {
			t.Fatalf("%s: event log %+v", c.partnerID, got)
		}
		want := "the window opens at " + c.opens.Format(time.RFC3339)
		if !strings.Contains(got[0].Message, want) {
			t.Errorf("%s: message %q does not say %q", c.partnerID, got[0].Message, want)
		}
	}
}

func TestSyncWindowDefaultIsTheSlotDefault(t *testing.T) {
	if partner.DefaultSyncWindow != syncslot.DefaultWindow {
		t.Errorf("partner.DefaultSyncWindow %v, syncslot.DefaultWindow %v", partner.DefaultSyncWindow, syncslot.DefaultWindow)
	}
	if got := (&partner.Partner{}).SyncWindow(); got != 12*time.Hour {
		t.Errorf("default SyncWindow = %v", got)
	}
	if got := (&partner.Partner{SyncWindowHours: 3}).SyncWindow(); got != 3*time.Hour {
		t.Errorf("SyncWindow(3) = %v", got)
	}
}
