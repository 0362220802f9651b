//go:build chaos

package localstack_test

// The isolation benchmark (issue 9): a paused partner must not slow the
// others down. Two runs on fresh stacks, the same workload: the healthy
// partners (demo, chaos-two) send failures from 6 writers, each waiting for
// its ticket (as bench_test.go: latency from the start of the POST to the
// ticket in the simulator), while the third partner (chaos-three) sends an
// event every 20 ms. In the first run nothing fails; in the second,
// chaos-three's keys are refused the whole time, so it is paused and its
// events are parked. The healthy partners' p99 in the second run must be at
// most 1.5 times the first's. Run by `make chaos` (tag chaos);
// ISOLATION_EVENTS (default 400) sets the number of measured events.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/dev/localstack"
	"github.com/efs-cw/backupbridge/internal/health"
)

// ticketWatch notes when each new ticket appears in the simulator (ticket
// ids are consecutive and nothing deletes them here), as bench_test.go's
// loadStack.watch, for every partner.
type ticketWatch struct {
	sim     *cwsim.Sim
	mu      sync.Mutex
	waiting map[string]chan time.Time // externalXRef → when its ticket appeared
	next    int
}

func (w *ticketWatch) run(ctx context.Context) {
	for ctx.Err() == nil {
		tk, ok := w.sim.Ticket(w.next)
		if !ok {
			time.Sleep(500 * time.Microsecond)
			continue
		}
		seen := time.Now()
		w.mu.Lock()
		w.next++
		ch := w.waiting[tk.ExternalXRef]
		delete(w.waiting, tk.ExternalXRef)
		w.mu.Unlock()
		if ch != nil {
			ch <- seen
		}
	}
}

// failureToTicket posts the failure of account acct of partner p and waits
// for its ticket; it returns the latency from the start of the POST.
func (w *ticketWatch) failureToTicket(snd *sender, p *chaosPartner, c contract.Customer, acct string) (time.Duration, error) {
	xref := faultXRefPrefix(p.ID, c.ID, acct) + "1"
	ch := make(chan time.Time, 1)
	w.mu.Lock()
	w.waiting[xref] = ch
	w.mu.Unlock()
	began := time.Now()
	if code, _, _ := snd.deliver(p, newID(), failureEvent(c, acct, began)); code != 202 {
		return 0, fmt.Errorf("webhook answered %d", code)
	}
	select {
	case seen := <-ch:
		return seen.Sub(began), nil
	case <-time.After(60 * time.Second):
		return 0, fmt.Errorf("no ticket for %s/%s after 60s", p.ID, acct)
	}
}

// isolationResult is one run's measure.
type isolationResult struct {
	load  loadResult
	noise int    // events the third partner sent meanwhile
	third string // the third partner's health at the end
}

func isolationRun(t *testing.T, pause bool, n int) isolationResult {
	t.Helper()
	st, _, _ := newStack(t, discardLogger(), func(o *localstack.Options) {
		o.Now = nil
		o.WorkerConcurrency = 8
		chaosQueueTimes(o)
		o.ConnectWiseTimeout = 5 * time.Second
		o.Retry = smallWaits(50 * time.Millisecond)
	})
	st.Service.Worker.RetryBase = chaosRetryBase
	partners := seedPartners(t, st)
	healthy, third := partners[:2], partners[2]
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() { _ = st.RunWorkers(ctx) })
	wg.Go(func() { st.RunHealth(ctx, time.Second) })
	w := &ticketWatch{sim: st.Sim, waiting: map[string]chan time.Time{}, next: 10001}
	wg.Go(func() { w.run(ctx) })
	snd := newSender(st)
	defer snd.client.CloseIdleConnections()

	if pause {
		if !third.refuseKeys(st.Sim) {
			t.Fatal("the third partner's member was not there to remove")
		}
		snd.deliver(third, newID(), failureEvent(third.Customers[0], "PAUSE-0", time.Now()))
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			h, err := st.Service.Health.Get(ctx, third.ID)
			if err != nil {
				t.Fatal(err)
			}
			if h.State == health.Paused {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the third partner is not paused: %+v", h)
			}
		}
	}
	// Warm every healthy partner's caches (client, managed IDs, board).
	for _, p := range healthy {
		for _, c := range p.Customers {
			if _, err := w.failureToTicket(snd, p, c, "WARM-"+c.ID); err != nil {
				t.Fatal(err)
			}
		}
	}

	done := make(chan struct{})
	noise := 0
	var nwg sync.WaitGroup
	nwg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			c := third.Customers[i%len(third.Customers)]
			snd.deliver(third, newID(), failureEvent(c, fmt.Sprintf("NOISE-%05d", i), time.Now()))
			noise++
		}
	})

	const writers = 6
	lat := make([]time.Duration, n)
	errs := make(chan error, writers)
	calls0 := st.Sim.CallCount("", "")
	began := time.Now()
	var dwg sync.WaitGroup
	for wr := range writers {
		dwg.Go(func() {
			for i := wr; i < n; i += writers {
				p := healthy[i%len(healthy)]
				c := p.Customers[(i/len(healthy))%len(p.Customers)]
				d, err := w.failureToTicket(snd, p, c, fmt.Sprintf("ISO-%05d", i))
				if err != nil {
					errs <- err
					return
				}
				lat[i] = d
			}
		})
	}
	dwg.Wait()
	elapsed := time.Since(began)
	close(done)
	nwg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	r := loadResult{events: n, latencies: lat, calls: st.Sim.CallCount("", "") - calls0, elapsed: elapsed}
	slices.Sort(r.latencies)
	h, err := st.Service.Health.Get(ctx, third.ID)
	if err != nil {
		t.Fatal(err)
	}
	if pause && h.State != health.Paused {
		t.Errorf("the third partner is %s at the end, want paused the whole run", h.State)
	}
	return isolationResult{load: r, noise: noise, third: fmt.Sprintf("%s, %d held; table %d items", h.State, h.Parked, tableItems(t, st))}
}

// TestIsolation is the isolation benchmark.
func TestIsolation(t *testing.T) {
	n := envInt("ISOLATION_EVENTS", 400)
	var base, paused isolationResult
	t.Run("no-faults", func(t *testing.T) { base = isolationRun(t, false, n) })
	t.Run("one-partner-paused", func(t *testing.T) { paused = isolationRun(t, true, n) })
	if t.Failed() || len(base.load.latencies) == 0 || len(paused.load.latencies) == 0 {
		t.FailNow()
	}
	ratio := float64(paused.load.quantile(0.99)) / float64(base.load.quantile(0.99))
	out := fmt.Sprintf("==== isolation benchmark: healthy partners' event→ticket latency (%d events from 6 writers, the third partner sending every 20 ms) ====\n"+
		"no faults:            %s; third partner sent %d (%s)\n"+
		"third partner paused: %s; third partner sent %d (%s)\n"+
		"p99 no faults %s, p99 with a paused partner %s: ratio %.2f (must be <= 1.50)\n====\n",
		n, base.load, base.noise, base.third, paused.load, paused.noise, paused.third,
		base.load.quantile(0.99).Round(100*time.Microsecond), paused.load.quantile(0.99).Round(100*time.Microsecond), ratio)
	t.Log("\n" + out)
	fmt.Print(out)
	if ratio > 1.5 {
		t.Errorf("a paused partner slows the healthy ones: p99 ratio %.2f > 1.5", ratio)
	}
}
