package claim_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/claim"
	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
)

// Of many concurrent claimants exactly one gets the claim.
func TestOneWinnerAmongConcurrentClaims(t *testing.T) {
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		if b.Name == "moto" {
			t.Skip(localtest.MotoRaces)
		}
		s := &claim.Store{DB: b.DB, Table: b.Table, Prefix: "TEST#", Retention: time.Hour}
		now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		got := map[claim.State]int{}
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, _, err := s.Begin(context.Background(), "k", now, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[st]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if got[claim.New] != 1 || got[claim.InFlight] != 15 {
			t.Fatalf("states = %v", got)
		}
	})
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		s := &claim.Store{DB: b.DB, Table: b.Table, Prefix: "TEST#", Retention: time.Hour}
		t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

		st, c, err := s.Begin(ctx, "a", t0, time.Minute)
		if err != nil || st != claim.New {
			t.Fatalf("begin: %v %v", st, err)
		}
		// The holder crashed: after its in-progress expiry another takes over,
		// and the old holder can no longer complete.
		st, c2, err := s.Begin(ctx, "a", t0.Add(2*time.Minute), time.Minute)
		if err != nil || st != claim.New {
			t.Fatalf("takeover after expiry: %v %v", st, err)
		}
		if err := s.Complete(ctx, c, t0.Add(2*time.Minute)); err == nil {
			t.Fatal("a stale holder completed a claim it lost")
		}
		if err := s.Complete(ctx, c2, t0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if st, _, _ := s.Begin(ctx, "a", t0.Add(3*time.Minute), time.Minute); st != claim.Done {
			t.Fatalf("after complete: %v, want done", st)
		}
		// Past the retention the key is new again (compared in the condition,
		// not left to TTL).
		if st, _, _ := s.Begin(ctx, "a", t0.Add(2*time.Hour+3*time.Minute), time.Minute); st != claim.New {
			t.Fatalf("after retention: %v, want new", st)
		}
		// Abandon lets a retry take the claim at once.
		st, c3, _ := s.Begin(ctx, "b", t0, time.Hour)
		if st != claim.New {
			t.Fatal(st)
		}
		if err := s.Abandon(ctx, c3); err != nil {
			t.Fatal(err)
		}
		if st, _, _ := s.Begin(ctx, "b", t0, time.Hour); st != claim.New {
			t.Fatalf("after abandon: %v, want new", st)
		}
	})
}

// A retry learns what the attempt before it left: the code and reason it
// abandoned with, or that it never came back; Last reads the same for the
// dead-letter recorder.
func TestPriorAttemptsAreReported(t *testing.T) {
	ctx := context.Background()
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		s := &claim.Store{DB: b.DB, Table: b.Table, Prefix: "TEST#", Retention: time.Hour}
		t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
		st, c, err := s.Begin(ctx, "p", t0, time.Minute)
		if err != nil || st != claim.New || c.Prior != (claim.Attempt{}) {
			t.Fatalf("first Begin = %v %+v %v, want new without prior", st, c.Prior, err)
		}
		if err := s.AbandonWith(ctx, c, "CW_UNAVAILABLE", "ConnectWise 503"); err != nil {
			t.Fatal(err)
		}
		a, st, found, err := s.Last(ctx, "p")
		if err != nil || !found || st != claim.New || a.Code != "CW_UNAVAILABLE" || a.Reason != "ConnectWise 503" || a.Attempts != 1 {
			t.Fatalf("Last after abandon = %+v %v %v %v", a, st, found, err)
		}
		st, c, err = s.Begin(ctx, "p", t0, time.Minute)
		if err != nil || st != claim.New {
			t.Fatalf("retry Begin = %v %v", st, err)
		}
		if c.Prior.Code != "CW_UNAVAILABLE" || c.Prior.Reason != "ConnectWise 503" || c.Prior.Attempts != 1 {
			t.Fatalf("retry prior = %+v", c.Prior)
		}
		// This attempt never comes back; the next one takes over after the lease.
		st, c, err = s.Begin(ctx, "p", t0.Add(2*time.Minute), time.Minute)
		if err != nil || st != claim.New || c.Prior.Reason != claim.ReasonUnfinished || c.Prior.Attempts != 2 {
			t.Fatalf("takeover Begin = %v %+v %v", st, c.Prior, err)
		}
		if err := s.Complete(ctx, c, t0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, st, _, _ := s.Last(ctx, "p"); st != claim.Done {
			t.Fatalf("Last after complete: state %v, want done", st)
		}
		if _, _, found, _ := s.Last(ctx, "never"); found {
			t.Fatal("Last found a key never claimed")
		}
	})
}

// The one-write form: Check only reads, MarkDone records the key done until
// its retention passes, and a first-wave claim still held reads InFlight.
func TestCheckAndMarkDone(t *testing.T) {
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		s := &claim.Store{DB: b.DB, Table: b.Table, Prefix: "TEST#", Retention: time.Hour}
		ctx := t.Context()
		now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
		if st, err := s.Check(ctx, "k1", now); err != nil || st != claim.New {
			t.Fatalf("Check of an unknown key = %v, %v; want new", st, err)
		}
		if _, err := s.MarkDone(ctx, "k1", now); err != nil {
			t.Fatal(err)
		}
		if st, err := s.Check(ctx, "k1", now.Add(59*time.Minute)); err != nil || st != claim.Done {
			t.Fatalf("Check after MarkDone = %v, %v; want done", st, err)
		}
		if st, err := s.Check(ctx, "k1", now.Add(61*time.Minute)); err != nil || st != claim.New {
			t.Fatalf("Check after the retention = %v, %v; want new", st, err)
		}
		// Begin on a key marked done finds it done.
		if st, _, err := s.Begin(ctx, "k1", now.Add(time.Minute), time.Minute); err != nil || st != claim.Done {
			t.Fatalf("Begin after MarkDone = %v, %v; want done", st, err)
		}
		if _, _, err := s.Begin(ctx, "k2", now, time.Minute); err != nil {
			t.Fatal(err)
		}
		if st, err := s.Check(ctx, "k2", now.Add(30*time.Second)); err != nil || st != claim.InFlight {
			t.Fatalf("Check of a held claim = %v, %v; want in-flight", st, err)
		}
		if st, err := s.Check(ctx, "k2", now.Add(2*time.Minute)); err != nil || st != claim.New {
			t.Fatalf("Check of a lapsed claim = %v, %v; want new", st, err)
		}
	})
}

// Two copies of one message's work: a failure recorded before the other
// copy's MarkDone is reported by it (the work's last word is then that
// copy's); a failure after it writes nothing and says the work is complete.
func TestFailAndMarkDoneOfTwoCopies(t *testing.T) {
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		s := &claim.Store{DB: b.DB, Table: b.Table, Prefix: "TEST#", Retention: time.Hour}
		ctx := t.Context()
		now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
		_, a, err := s.Peek(ctx, "k", now)
		if err != nil {
			t.Fatal(err)
		}
		_, bcopy, err := s.Peek(ctx, "k", now)
		if err != nil {
			t.Fatal(err)
		}
		if completed, err := s.Fail(ctx, a, "CW_UNAVAILABLE", "503", now); err != nil || completed {
			t.Fatalf("first failure: completed=%v err=%v", completed, err)
		}
		failed, err := s.MarkDone(ctx, bcopy.Key, now.Add(time.Second))
		if err != nil || failed.Attempts != 1 || failed.Code != "CW_UNAVAILABLE" {
			t.Fatalf("MarkDone after a failure reported %+v (%v), want 1 failed attempt", failed, err)
		}
		if completed, err := s.Fail(ctx, a, "CW_UNAVAILABLE", "503 again", now.Add(2*time.Second)); err != nil || !completed {
			t.Fatalf("a failure after MarkDone: completed=%v err=%v, want completed", completed, err)
		}
		if st, _, err := s.Peek(ctx, "k", now.Add(3*time.Second)); err != nil || st != claim.Done {
			t.Fatalf("after the late failure: %v %v, want done", st, err)
		}
		if failed, err := s.MarkDone(ctx, "k", now.Add(4*time.Second)); err != nil || failed.Attempts != 0 {
			t.Fatalf("MarkDone over a completed record reported %+v (%v), want nothing", failed, err)
		}
	})
}
