package resync_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/resync"
	"github.com/efs-cw/backupbridge/internal/syncslot"
	"github.com/efs-cw/backupbridge/internal/usage"
)

// collect is a Sender that keeps what it is sent (the resync sends several
// batches at once).
type collect struct {
	mu   sync.Mutex
	msgs []queue.Message
}

func (c *collect) EnqueueBatch(_ context.Context, ms []queue.Message) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, ms...)
	return len(ms), nil
}

// TestUnreadablePartnerDoesNotStopTheResync: a partner whose stored
// settings cannot be decoded is counted and skipped; every other partner's
// customers are still synced (before, the first such partner ended the whole
// run with an error, every day).
func TestUnreadablePartnerDoesNotStopTheResync(t *testing.T) {
	ctx := context.Background()
	db, tbl := localtest.Table(t)
	ps := &partner.Store{DB: db, Table: tbl}
	us := &usage.Store{DB: db, Table: tbl}
	now := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	for _, id := range []string{"a-good", "b-broken", "c-good"} {
		p := &partner.Partner{ID: id, SiteURL: "https://cw.example.com", CompanyID: "x", Board: "B", NewStatus: "New"}
		if err := p.Validate(connectwise.SitePolicy{}); err != nil {
			t.Fatal(err)
		}
		if err := ps.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		ev := &contract.Event{SpecVersion: "1.0", Type: contract.TypeNotification, OccurredAt: now.Add(-time.Hour), Customer: contract.Customer{ID: "cust-" + id}}
		if err := us.Record(ctx, id, ev); err != nil {
			t.Fatal(err)
		}
	}
	localtest.DamagePartnerRules(t, db, tbl, "b-broken", "PARTNERS")

	sent := &collect{}
	r := &resync.Resync{
		Partners:  ps,
		Log:       &eventlog.Log{DB: db, Table: tbl},
		Queue:     sent,
		Customers: &syncslot.Slots{DB: db, Table: tbl},
		Now:       func() time.Time { return now },
	}
	rep, err := r.Run(ctx)
	if err != nil {
		t.Fatalf("resync stopped: %v", err)
	}
	if rep.Partners != 2 || rep.Unreadable != 1 || rep.Syncs != 2 {
		t.Fatalf("report %+v, want 2 partners synced, 1 unreadable, 2 syncs", rep)
	}
	for _, m := range sent.msgs {
		if m.PartnerID == "b-broken" {
			t.Errorf("a job was sent for the unreadable partner: %+v", m)
		}
	}
}
