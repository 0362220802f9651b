package tickets

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
	"github.com/efs-cw/backupbridge/internal/table"
)

// faultStore is a FaultStore on minidyn with the template's table.
func faultStore(t *testing.T) *FaultStore {
	t.Helper()
	db, tbl := localtest.Table(t)
	return &FaultStore{DB: db, Table: tbl}
}

var testKey = FaultKey{PartnerID: "demo", CustomerID: "1001", AccountID: "SRV01", Kind: "backup_failure"}

// The lock: the loser of a race gets ErrBusy; a holder whose lease ran out
// loses the lock to the next worker and cannot write any more.
func TestFaultLockIsExclusiveAndExpires(t *testing.T) {
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		s := &FaultStore{DB: b.DB, Table: b.Table}
		ctx := context.Background()
		now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

		f, err := s.Lock(ctx, testKey, "a", now, time.Minute)
		if err != nil || f.State != StateNone || f.Seq != 0 {
			t.Fatalf("first lock: %+v %v", f, err)
		}
		if _, err := s.Lock(ctx, testKey, "b", now.Add(59*time.Second), time.Minute); !errors.Is(err, ErrBusy) {
			t.Fatalf("second lock within the lease: %v, want ErrBusy", err)
		}
		f.State, f.TicketID, f.Seq = StateOpen, 10001, 1
		if err := s.Save(ctx, testKey, f, "a", now, time.Minute, false); err != nil {
			t.Fatalf("checkpoint: %v", err)
		}
		// a's lease (renewed by the checkpoint) runs out; b takes over.
		g, err := s.Lock(ctx, testKey, "b", now.Add(61*time.Second), time.Minute)
		if err != nil || g.TicketID != 10001 || g.State != StateOpen {
			t.Fatalf("lock after the lease: %+v %v", g, err)
		}
		if err := s.Save(ctx, testKey, f, "a", now, time.Minute, true); !errors.Is(err, ErrLockLost) {
			t.Fatalf("save by the old holder: %v, want ErrLockLost", err)
		}
		g.LastNoteAt = now
		if err := s.Save(ctx, testKey, g, "b", now, time.Minute, true); err != nil {
			t.Fatal(err)
		}
		// Released: anyone may lock at once.
		h, err := s.Lock(ctx, testKey, "c", now.Add(62*time.Second), time.Minute)
		if err != nil || !h.LastNoteAt.Equal(now) || h.Version != 2 {
			t.Fatalf("lock after release: %+v %v", h, err)
		}
	})
}

// NoteCleared writes only when nothing changed since the read, and the state
// of a fault that never had a ticket expires; a ticket's state does not.
func TestNoteClearedIsConditional(t *testing.T) {
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		s := &FaultStore{DB: b.DB, Table: b.Table}
		ctx := context.Background()
		now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

		ok, err := s.NoteCleared(ctx, testKey, Fault{}, false, now, now)
		if err != nil || !ok {
			t.Fatalf("new fault: %v %v", ok, err)
		}
		f, found, err := s.Get(ctx, testKey)
		if err != nil || !found || !f.LastClearedAt.Equal(now) || f.State != StateNone {
			t.Fatalf("after NoteCleared: %+v %v %v", f, found, err)
		}
		if exp := expiresAt(t, s); exp == "" {
			t.Error("the state of a fault without a ticket has no expiry")
		}
		// Someone created it meanwhile: no blind overwrite.
		if ok, err := s.NoteCleared(ctx, testKey, Fault{}, false, now.Add(time.Minute), now); ok || err != nil {
			t.Fatalf("create over an existing item: %v %v", ok, err)
		}
		// Based on the version read: changes it once.
		if ok, err := s.NoteCleared(ctx, testKey, f, true, now.Add(2*time.Minute), now); !ok || err != nil {
			t.Fatalf("update: %v %v", ok, err)
		}
		if ok, err := s.NoteCleared(ctx, testKey, f, true, now.Add(3*time.Minute), now); ok || err != nil {
			t.Fatalf("update from a stale read: %v %v", ok, err)
		}
		f, _, _ = s.Get(ctx, testKey)
		if !f.LastClearedAt.Equal(now.Add(2 * time.Minute)) {
			t.Fatalf("lastClearedAt = %s", f.LastClearedAt)
		}
		// Locked by a worker: not touched.
		locked, err := s.Lock(ctx, testKey, "w", now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := s.NoteCleared(ctx, testKey, f, true, now.Add(4*time.Minute), now); ok || err != nil {
			t.Fatalf("update while locked: %v %v", ok, err)
		}
		// The worker opens a ticket: the state no longer expires.
		locked.State, locked.TicketID, locked.Seq = StateOpen, 10001, 1
		if err := s.Save(ctx, testKey, locked, "w", now, time.Minute, true); err != nil {
			t.Fatal(err)
		}
		if exp := expiresAt(t, s); exp != "" {
			t.Errorf("the state of a fault with a ticket expires at %s", exp)
		}
		locked, _, _ = s.Get(ctx, testKey)
		locked.State = StateResolved
		if ok, err := s.NoteCleared(ctx, testKey, locked, true, now.Add(5*time.Minute), now); !ok || err != nil {
			t.Fatalf("update of a resolved fault: %v %v", ok, err)
		}
		if exp := expiresAt(t, s); exp != "" {
			t.Errorf("a resolved fault's state got an expiry %s", exp)
		}
	})
}

func expiresAt(t *testing.T, s *FaultStore) string {
	t.Helper()
	out, err := s.DB.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: table.Key(faultPK(testKey), "FAULT"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := out.Item[table.ExpiresAt]; ok {
		if n, ok := v.(*types.AttributeValueMemberN); ok {
			return n.Value
		}
		return "?"
	}
	return ""
}
