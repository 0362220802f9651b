package syncslot_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
	"github.com/efs-cw/backupbridge/internal/syncslot"
	"github.com/efs-cw/backupbridge/internal/usage"
)

func setupOn(b localtest.Backend) (*syncslot.Slots, *usage.Store) {
	return &syncslot.Slots{DB: b.DB, Table: b.Table}, &usage.Store{DB: b.DB, Table: b.Table}
}

func register(t *testing.T, u *usage.Store, partnerID, customerID string) {
	t.Helper()
	ev := &contract.Event{Type: contract.TypeNotification, Customer: contract.Customer{ID: customerID}}
	if err := u.Record(context.Background(), partnerID, ev); err != nil {
		t.Fatal(err)
	}
}

// Concurrent events for one customer give one sync.
func TestConcurrentClaimsGiveOneSync(t *testing.T) {
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		if b.Name == "moto" {
			t.Skip(localtest.MotoRaces)
		}
		slots, u := setupOn(b)
		register(t, u, "p", "c1")
		now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		got := map[syncslot.Outcome]int{}
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o, _, err := slots.Claim(context.Background(), "p", "c1", now, false)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[o]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if got[syncslot.Claimed] != 1 || got[syncslot.Busy] != 19 {
			t.Fatalf("outcomes = %v, want 1 claimed and 19 busy", got)
		}
	})
}

// Inside the window: throttled and pending; 12 hours later: claimable, and
// completing clears pending. Force ignores the window.
func TestWindowThrottlesThenOpens(t *testing.T) {
	ctx := context.Background()
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		slots, u := setupOn(b)
		register(t, u, "p", "c1")
		t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
		o, sl, err := slots.Claim(ctx, "p", "c1", t0, false)
		if err != nil || o != syncslot.Claimed {
			t.Fatalf("first claim: %v %v", o, err)
		}
		if err := slots.Complete(ctx, sl, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		o, _, err = slots.Claim(ctx, "p", "c1", t0.Add(time.Hour), false)
		if err != nil || o != syncslot.Throttled {
			t.Fatalf("claim inside the window: %v %v", o, err)
		}
		st, _ := slots.State(ctx, "p", "c1")
		if !st.Pending || !st.OpenAt(syncslot.DefaultWindow).Equal(t0.Add(12*time.Hour)) {
			t.Fatalf("state after throttle: %+v", st)
		}
		var listed []syncslot.Listed
		for c, err := range slots.Customers(ctx, "p") {
			if err != nil {
				t.Fatal(err)
			}
			listed = append(listed, c)
		}
		if len(listed) != 1 || !listed[0].State.Pending {
			t.Fatalf("listed = %+v", listed)
		}
		o, sl, err = slots.Claim(ctx, "p", "c1", t0.Add(2*time.Hour), true)
		if err != nil || o != syncslot.Claimed {
			t.Fatalf("forced claim: %v %v", o, err)
		}
		if err := slots.Complete(ctx, sl, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		o, sl, err = slots.Claim(ctx, "p", "c1", t0.Add(14*time.Hour), false)
		if err != nil || o != syncslot.Claimed {
			t.Fatalf("claim 12 h after the forced sync: %v %v", o, err)
		}
		if err := slots.Complete(ctx, sl, t0.Add(14*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if st, _ := slots.State(ctx, "p", "c1"); st.Pending {
			t.Fatalf("pending not cleared: %+v", st)
		}
	})
}

func TestUnknownCustomerIsAnError(t *testing.T) {
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		slots, _ := setupOn(b)
		if _, _, err := slots.Claim(context.Background(), "p", "never", time.Now(), false); err == nil {
			t.Fatal("claim of an unregistered customer succeeded")
		}
	})
}
