package health_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
	"github.com/efs-cw/backupbridge/internal/health"
	"github.com/efs-cw/backupbridge/internal/queue"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func storeOn(b localtest.Backend) *health.Store {
	return &health.Store{DB: b.DB, Table: b.Table}
}

func msg(partnerID, customer, eventID string, at time.Time) queue.Message {
	return queue.Message{Version: queue.MessageVersion, Job: queue.JobEvent, PartnerID: partnerID, EventID: eventID, ReceivedAt: at,
		Event: json.RawMessage(fmt.Sprintf(`{"customer":{"id":%q}}`, customer))}
}

// A single transient failure degrades; PauseAfterFailures in a row pause,
// once; a success in between starts the count again; failures further apart
// than FailureWindow do not add up.
func TestFailuresDegradeThenPauseOnce(t *testing.T) {
	ctx := context.Background()
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		s := storeOn(b)
		st, paused, err := s.Failure(ctx, "p", "CW_UNAVAILABLE", "503", t0)
		if err != nil || paused || st.State != health.Degraded || st.Failures != 1 {
			t.Fatalf("first failure: %+v paused=%v err=%v", st, paused, err)
		}
		if err := s.Success(ctx, "p", t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if st, _ := s.Get(ctx, "p"); st.State != health.Healthy || st.Failures != 0 {
			t.Fatalf("after success: %+v", st)
		}
		// Failures far apart never add up to a pause.
		for i := range 2 * health.PauseAfterFailures {
			if _, paused, _ := s.Failure(ctx, "p", "CW_UNAVAILABLE", "503", t0.Add(time.Duration(i+1)*(health.FailureWindow+time.Second))); paused {
				t.Fatalf("failure %d, each more than the window apart, paused", i)
			}
		}
		// In a row, concurrently: exactly one caller pauses.
		if b.Name == "moto" {
			t.Log("the concurrent part runs on minidyn only: " + localtest.MotoRaces)
			return
		}
		at := t0.Add(24 * time.Hour)
		var mu sync.Mutex
		pauses := 0
		var wg sync.WaitGroup
		for i := range 3 * health.PauseAfterFailures {
			wg.Go(func() {
				_, paused, err := s.Failure(ctx, "p", "CW_UNAVAILABLE", fmt.Sprintf("503 #%d", i), at)
				if err != nil {
					t.Error(err)
				}
				if paused {
					mu.Lock()
					pauses++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		st, _ = s.Get(ctx, "p")
		if pauses != 1 || st.State != health.Paused || st.PauseID == "" {
			t.Fatalf("pauses = %d, state %+v; want exactly one pause", pauses, st)
		}
		if want := at.Add(health.ProbeBase); !st.NextProbeAt.Equal(want) {
			t.Errorf("next probe at %v, want %v", st.NextProbeAt, want)
		}
	})
}

// Credentials refused pause at once; many concurrent workers meeting the
// same refusal raise one pause; a Retry-After pushes the first probe out.
func TestPauseIsOneTransition(t *testing.T) {
	ctx := context.Background()
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		if b.Name == "moto" {
			t.Skip(localtest.MotoRaces)
		}
		s := storeOn(b)
		var wg sync.WaitGroup
		var mu sync.Mutex
		pauses := 0
		for range 12 {
			wg.Go(func() {
				_, paused, err := s.Pause(ctx, "p", health.Cause{Code: "CW_RATE_LIMITED", Reason: "429", RetryAfter: time.Hour}, t0)
				if err != nil {
					t.Error(err)
				}
				if paused {
					mu.Lock()
					pauses++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		st, _ := s.Get(ctx, "p")
		if pauses != 1 || st.State != health.Paused || st.Code != "CW_RATE_LIMITED" {
			t.Fatalf("pauses = %d, %+v", pauses, st)
		}
		if !st.NextProbeAt.Equal(t0.Add(time.Hour)) || st.ProbeDue(t0.Add(59*time.Minute)) || !st.ProbeDue(t0.Add(time.Hour)) {
			t.Fatalf("next probe %v: want the Retry-After, an hour", st.NextProbeAt)
		}
		// A failed probe backs off, never before ConnectWise's Retry-After.
		st, err := s.ProbeFailed(ctx, "p", "429 again", 2*time.Hour, t0.Add(time.Hour))
		if err != nil || !st.NextProbeAt.Equal(t0.Add(3*time.Hour)) || st.Probes != 1 {
			t.Fatalf("after a failed probe: %+v %v", st, err)
		}
		st, _ = s.ProbeFailed(ctx, "p", "503", 0, t0.Add(3*time.Hour))
		if want := t0.Add(3*time.Hour + health.ProbeDelay(2)); !st.NextProbeAt.Equal(want) {
			t.Fatalf("backoff: next %v, want %v", st.NextProbeAt, want)
		}
		if health.ProbeDelay(40) != health.ProbeMax {
			t.Fatalf("ProbeDelay is not capped: %v", health.ProbeDelay(40))
		}
	})
}

// An operator's pause is not lifted by a probe; an operator's resume lifts it.
func TestOperatorPauseNeedsAnOperator(t *testing.T) {
	ctx := context.Background()
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		s := storeOn(b)
		if _, paused, err := s.Pause(ctx, "p", health.Cause{Code: "OPERATOR_PAUSE", Reason: "maintenance", ByOperator: true}, t0); err != nil || !paused {
			t.Fatalf("pause: %v %v", paused, err)
		}
		if st, _ := s.Get(ctx, "p"); st.ProbeDue(t0.Add(24 * time.Hour)) {
			t.Fatal("an operator's pause is probed")
		}
		if _, _, err := s.Resume(ctx, "p", false, t0); err != health.ErrOperatorHold {
			t.Fatalf("probe resume: %v, want ErrOperatorHold", err)
		}
		st, resumed, err := s.Resume(ctx, "p", true, t0)
		if err != nil || !resumed || st.State != health.Resuming {
			t.Fatalf("operator resume: %+v %v %v", st, resumed, err)
		}
	})
}

// Parking: only while holding; a duplicate parks once; each customer's
// messages come back in order of receipt; unparking twice counts once; a
// resuming partner settles only when nothing is held.
func TestParkHoldsInOrderAndSettlesWhenEmpty(t *testing.T) {
	ctx := context.Background()
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		s := storeOn(b)
		if res, err := s.Park(ctx, msg("p", "c1", "e0", t0), "c1", t0); err != nil || res != health.NotHolding {
			t.Fatalf("park while healthy: %v %v, want NotHolding", res, err)
		}
		if _, _, err := s.Pause(ctx, "p", health.Cause{Code: "CW_AUTH_FAILED", Reason: "401"}, t0); err != nil {
			t.Fatal(err)
		}
		// Arrival order differs from the order they are parked in.
		for i, n := range []int{3, 1, 2, 1} {
			res, err := s.Park(ctx, msg("p", "c1", fmt.Sprintf("e%d", n), t0.Add(time.Duration(n)*time.Second)), "c1", t0.Add(time.Minute))
			want := health.ParkedNow
			if i == 3 {
				want = health.AlreadyParked
			}
			if err != nil || res != want {
				t.Fatalf("park e%d: %v %v, want %v", n, res, err, want)
			}
		}
		if _, err := s.Park(ctx, msg("p", "c2", "f1", t0), "c2", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		st, _ := s.Get(ctx, "p")
		if st.Parked != 4 || !st.PausedAt.Equal(t0) {
			t.Fatalf("parked %d paused at %v, want 4 since %v", st.Parked, st.PausedAt, t0)
		}
		cs, err := s.Customers(ctx, "p")
		if err != nil || len(cs) != 2 {
			t.Fatalf("customers %v %v", cs, err)
		}
		held, err := s.Held(ctx, "p", "c1", 10)
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, h := range held {
			order = append(order, h.Message.EventID)
		}
		if fmt.Sprint(order) != "[e1 e2 e3]" {
			t.Fatalf("held order %v, want [e1 e2 e3]", order)
		}
		if _, _, err := s.Resume(ctx, "p", false, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		// New messages while resuming queue up behind the held ones.
		if res, _ := s.Park(ctx, msg("p", "c1", "e9", t0.Add(2*time.Hour)), "c1", t0.Add(2*time.Hour)); res != health.ParkedNow {
			t.Fatalf("park while resuming: %v", res)
		}
		if settled, err := s.Settle(ctx, "p", t0.Add(2*time.Hour)); err != nil || settled {
			t.Fatalf("settled with events held: %v %v", settled, err)
		}
		for _, c := range []string{"c1", "c2"} {
			held, _ := s.Held(ctx, "p", c, 10)
			for _, h := range held {
				if err := s.Unpark(ctx, h); err != nil {
					t.Fatal(err)
				}
				if err := s.Unpark(ctx, h); err != nil { // a concurrent replay's second delete
					t.Fatal(err)
				}
			}
		}
		if st, _ := s.Get(ctx, "p"); st.Parked != 0 {
			t.Fatalf("parked = %d after unparking everything", st.Parked)
		}
		settled, err := s.Settle(ctx, "p", t0.Add(3*time.Hour))
		st, _ = s.Get(ctx, "p")
		if err != nil || !settled || st.State != health.Healthy || st.HeldTooLong(t0.Add(100*24*time.Hour)) {
			t.Fatalf("settle: %v %v, %+v", settled, err, st)
		}
		if res, _ := s.Park(ctx, msg("p", "c1", "e10", t0), "c1", t0); res != health.NotHolding {
			t.Fatalf("park after settling: %v, want NotHolding", res)
		}
	})
}

// Held longer than the retention is reported, not dropped.
func TestHeldTooLong(t *testing.T) {
	ctx := context.Background()
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		s := storeOn(b)
		_, _, _ = s.Pause(ctx, "p", health.Cause{Code: "CW_AUTH_FAILED", Reason: "401"}, t0)
		if _, err := s.Park(ctx, msg("p", "c1", "e1", t0), "c1", t0); err != nil {
			t.Fatal(err)
		}
		st, _ := s.Get(ctx, "p")
		if st.HeldTooLong(t0.Add(health.ParkedRetention)) || !st.HeldTooLong(t0.Add(health.ParkedRetention+time.Minute)) {
			t.Fatal("HeldTooLong does not turn at the retention")
		}
		// Paused again while resuming: the events held since the first pause
		// are still as old.
		_, _, _ = s.Resume(ctx, "p", false, t0.Add(time.Hour))
		_, _, _ = s.Pause(ctx, "p", health.Cause{Code: "CW_AUTH_FAILED", Reason: "401 again"}, t0.Add(2*time.Hour))
		if st, _ := s.Get(ctx, "p"); !st.PausedAt.Equal(t0) || st.State != health.Paused {
			t.Fatalf("paused again: %+v, want pausedAt kept at %v", st, t0)
		}
	})
}

// While resuming, failures count towards a pause again, but only in a row:
// a replayed event that goes through starts the count again.
func TestResumingFailuresCountOnlyInARow(t *testing.T) {
	ctx := context.Background()
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		s := storeOn(b)
		_, _, _ = s.Pause(ctx, "p", health.Cause{Code: "CW_UNAVAILABLE", Reason: "503"}, t0)
		if _, _, err := s.Resume(ctx, "p", false, t0); err != nil {
			t.Fatal(err)
		}
		for round := range 2 {
			for i := range health.PauseAfterFailures - 1 {
				if _, paused, _ := s.Failure(ctx, "p", "CW_UNAVAILABLE", "503", t0.Add(time.Duration(round*10+i)*time.Second)); paused {
					t.Fatalf("round %d: paused after %d failures", round, i+1)
				}
			}
			if err := s.Success(ctx, "p", t0.Add(time.Duration(round*10+9)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		if st, _ := s.Get(ctx, "p"); st.State != health.Resuming || st.Failures != 0 {
			t.Fatalf("%+v, want still resuming with the count cleared", st)
		}
		var paused bool
		for i := range health.PauseAfterFailures {
			_, paused, _ = s.Failure(ctx, "p", "CW_UNAVAILABLE", "503", t0.Add(time.Minute+time.Duration(i)*time.Second))
		}
		if st, _ := s.Get(ctx, "p"); !paused || st.State != health.Paused {
			t.Fatalf("%d failures in a row while resuming: %+v, want paused", health.PauseAfterFailures, st)
		}
	})
}
