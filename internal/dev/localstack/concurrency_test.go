package localstack_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/tickets"
)

// The same failure delivered 50 times — one webhook-id posted repeatedly,
// many webhook-ids for the same fault, and SQS duplicates of the same
// message — handled by 8 concurrent worker invocations: exactly one ticket,
// and ConnectWise received exactly one create.
func TestSameFailureDelivered50TimesConcurrentlyOpensOneTicket(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	body := h.failure("ACME-SRV01")

	// A sender retrying one delivery before the worker ran: the webhook
	// enqueues every copy (it writes nothing of its own; the worker's claim
	// makes them one piece of work).
	first := newID()
	for range 5 {
		if code, b := h.post(first, body); code != http.StatusAccepted {
			t.Fatalf("post: %d %v", code, b)
		}
	}
	// The provider reporting the same failure under new webhook-ids.
	ids := []string{first}
	for range 24 {
		ids = append(ids, h.send(body))
	}
	// SQS delivering messages twice: the same queue message again.
	ev, err := contract.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	compact, err := contract.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		m := queue.Message{Version: queue.MessageVersion, Job: queue.JobEvent, PartnerID: partner.DemoPartnerID,
			EventID: ids[i%len(ids)], ReceivedAt: h.clock.Now(), Event: compact}
		if err := h.st.Service.Queue.Enqueue(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.queueDepth(h.st.QueueURL); n != 54 {
		t.Fatalf("queue holds %d messages, want 54", n)
	}

	invocations, peak := h.drainConcurrently(8, 2)
	t.Logf("%d worker invocations, at most %d at once", invocations, peak)
	if invocations < 8 || peak < 2 {
		t.Fatalf("%d invocations, peak concurrency %d: the test did not exercise concurrent workers", invocations, peak)
	}

	tk := h.only()
	if all, ok := createCalls(h.sim); all != 1 || ok != 1 {
		t.Fatalf("ConnectWise ticket creates = %d (%d succeeded), want exactly 1", all, ok)
	}
	if n := len(h.sim.Notes(tk.ID)); n != 1 {
		t.Errorf("ticket has %d notes, want only the description (every repeat was within the note interval)", n)
	}
	if n := h.queueDepth(h.st.DLQURL); n != 0 {
		t.Errorf("DLQ holds %d messages", n)
	}
	if n := len(h.ticketEntries(string(tickets.ActionOpened))); n != 1 {
		t.Errorf("opened entries = %d, want 1", n)
	}
	for _, e := range h.ticketLog(true) {
		t.Errorf("failed ticket entry: %+v", e)
	}
	f, found, err := h.st.Service.Faults.Get(ctx, tickets.FaultKey{PartnerID: partner.DemoPartnerID, CustomerID: "1001", AccountID: "ACME-SRV01", Kind: "backup_failure"})
	if err != nil || !found || f.State != tickets.StateOpen || f.TicketID != tk.ID || f.Creating || f.Seq != 1 {
		t.Errorf("fault state = %+v (found %v, %v), want open with ticket %d", f, found, err, tk.ID)
	}
}

// Failures of many accounts at once, handled concurrently: one ticket each.
func TestConcurrentFailuresOfManyAccountsOpenOneTicketEach(t *testing.T) {
	h := start(t)
	const accounts = 12
	for i := range accounts {
		acct := "ACME-PC" + string(rune('A'+i))
		for range 3 {
			h.send(h.failure(acct))
		}
	}
	h.drainConcurrently(8, 3)
	if n := len(h.sim.Tickets()); n != accounts {
		t.Fatalf("tickets = %d, want %d", n, accounts)
	}
	if all, _ := createCalls(h.sim); all != accounts {
		t.Fatalf("create calls = %d, want %d", all, accounts)
	}
}

// drainConcurrently runs pollers goroutines, each invoking the worker with
// batches of at most batch messages, until the queue has nothing visible or
// in flight. It returns the number of invocations and the most that ran at
// once.
func (h *harness) drainConcurrently(pollers, batch int) (invocations, peak int) {
	h.t.Helper()
	es := *h.st.EventSource
	es.BatchSize, es.WaitTime = batch, -1
	var running, most, count atomic.Int64
	handler := es.Handler
	es.Handler = func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		count.Add(1)
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		return handler(ctx, ev)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, pollers)
	for range pollers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := es.PollOnce(ctx)
				if err != nil {
					errs <- err
					return
				}
				if res.Received == 0 {
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	for idle := 0; idle < 3; {
		if ctx.Err() != nil {
			close(stop)
			wg.Wait()
			h.t.Fatalf("queue did not drain: %d messages left", h.queueDepth(h.st.QueueURL))
		}
		if h.queueDepth(h.st.QueueURL) == 0 && running.Load() == 0 {
			idle++
		} else {
			idle = 0
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		h.t.Fatalf("poll: %v", err)
	default:
	}
	return int(count.Load()), int(most.Load())
}
