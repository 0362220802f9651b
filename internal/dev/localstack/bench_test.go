package localstack_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/dev/localstack"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/signature"
	"github.com/efs-cw/backupbridge/internal/tickets"
)

// The path of one failure event from the webhook to a ticket, on the local
// stack: a signed POST to the local API Gateway → webhook → SQS (goaws) →
// event source → worker → ConnectWise (the simulator). Every event is a
// distinct fault (its own account), so every event creates one ticket; the
// latency of an event is from the start of its POST until the simulator
// holds its ticket.
//
//	go test -run '^$' -bench FailureToTicket -benchtime 1000x ./internal/localstack/
//	LOAD_EVENTS=1000 go test -run TestLoadFailureToTicket -v ./internal/localstack/
//
// LOAD_LOG=1 also prints the service's warnings and every event slower than
// a second (with how long the webhook took to answer).

// loadStack is the local stack with its workers running in the background.
type loadStack struct {
	st     *localstack.Stack
	sim    *cwsim.Sim
	key    []byte
	client *http.Client
	run    int // distinguishes the accounts of successive runs

	mu      sync.Mutex
	waiting map[string]chan time.Time // externalXRef → when its ticket appeared
	next    int                       // the next ticket id to look for
}

func startLoad(tb testing.TB, workers int) *loadStack {
	tb.Helper()
	logger := discardLogger()
	if os.Getenv("LOAD_LOG") != "" { // why was an event slow?
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	st, _, _ := newStack(tb, logger, func(o *localstack.Options) {
		o.Now = nil // real time: leases, claims and signatures as in production
		o.WorkerConcurrency = workers
		o.VisibilityTimeout = 5
	})
	key, err := signature.ParseSecret(partner.DemoWebhookSecret)
	if err != nil {
		tb.Fatal(err)
	}
	ls := &loadStack{st: st, sim: st.Sim, key: key, waiting: map[string]chan time.Time{}, next: 10001,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = st.RunWorkers(ctx) })
	wg.Go(func() { ls.watch(ctx) })
	tb.Cleanup(func() { // before the stack closes (cleanups run last first)
		// Let the workers finish what they hold (the event log, the claims)
		// before stopping them.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && queueDepthOf(tb, st, st.QueueURL)+queueDepthOf(tb, st, st.SyncURL) > 0; {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		wg.Wait()
		ls.client.CloseIdleConnections()
	})
	return ls
}

// watch notes when each new ticket appears in the simulator (ticket ids are
// consecutive and nothing deletes them here).
func (ls *loadStack) watch(ctx context.Context) {
	for ctx.Err() == nil {
		tk, ok := ls.sim.Ticket(ls.next)
		if !ok {
			time.Sleep(500 * time.Microsecond)
			continue
		}
		seen := time.Now()
		ls.mu.Lock()
		ls.next++
		ch := ls.waiting[tk.ExternalXRef]
		delete(ls.waiting, tk.ExternalXRef)
		ls.mu.Unlock()
		if ch != nil {
			ch <- seen
		}
	}
}

// failureToTicket posts the failure of account acct and waits for its
// ticket; it returns the end-to-end latency.
func (ls *loadStack) failureToTicket(acct string) (time.Duration, error) {
	return ls.customerFailureToTicket("1001", acct)
}

// customerFailureToTicket is failureToTicket for a customer's account.
func (ls *loadStack) customerFailureToTicket(customer, acct string) (time.Duration, error) {
	xref := tickets.FaultKey{PartnerID: partner.DemoPartnerID, CustomerID: customer, AccountID: acct, Kind: "backup_failure"}.XRef(1)
	ch := make(chan time.Time, 1)
	ls.mu.Lock()
	ls.waiting[xref] = ch
	ls.mu.Unlock()

	began := time.Now()
	body := event("backup.completed", customer, began, backup("failure", acct, began))
	id := newID()
	req, _ := http.NewRequest(http.MethodPost, ls.st.WebhookURL(partner.DemoPartnerID), bytes.NewReader(body))
	req.Header.Set("content-type", "application/json")
	req.Header.Set(signature.HeaderID, id)
	req.Header.Set(signature.HeaderTimestamp, strconv.FormatInt(began.Unix(), 10))
	req.Header.Set(signature.HeaderSignature, signature.Sign(ls.key, id, began, body))
	resp, err := ls.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return 0, fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	posted := time.Since(began)
	select {
	case seen := <-ch:
		if d := seen.Sub(began); d > time.Second && os.Getenv("LOAD_LOG") != "" {
			fmt.Fprintf(os.Stderr, "slow event %s (%s): webhook answered after %s, ticket after %s\n", id, acct, posted, d)
		}
		return seen.Sub(began), nil
	case <-time.After(60 * time.Second):
		return 0, fmt.Errorf("no ticket for %s after 60s", acct)
	}
}

// loadResult is what a run measured.
type loadResult struct {
	events    int
	latencies []time.Duration // sorted
	calls     int             // ConnectWise calls during the run
	elapsed   time.Duration
}

func (r loadResult) quantile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(q*float64(len(r.latencies))+0.5) - 1
	return r.latencies[min(max(i, 0), len(r.latencies)-1)]
}

func (r loadResult) callsPerEvent() float64 { return float64(r.calls) / float64(r.events) }

func (r loadResult) String() string {
	return fmt.Sprintf("%d events in %s (%.1f events/s): p50 %s, p99 %s, max %s; %.2f ConnectWise calls/event",
		r.events, r.elapsed.Round(time.Millisecond), float64(r.events)/r.elapsed.Seconds(),
		r.quantile(0.50).Round(100*time.Microsecond), r.quantile(0.99).Round(100*time.Microsecond),
		r.latencies[len(r.latencies)-1].Round(100*time.Microsecond), r.callsPerEvent())
}

// warm sends one event so that the first measured one does not pay for the
// cold caches (partner client, managed ID index, board statuses).
func (ls *loadStack) warm(tb testing.TB) {
	tb.Helper()
	if _, err := ls.failureToTicket(fmt.Sprintf("WARM-%d", ls.run)); err != nil {
		tb.Fatal(err)
	}
}

// drive sends n failures of distinct accounts from writers goroutines, each
// waiting for its ticket before sending the next.
func (ls *loadStack) drive(tb testing.TB, n, writers int) loadResult {
	return ls.driveCustomers(tb, n, writers, nil)
}

// driveCustomers is drive with the i-th event for customers[i] (nil: all of
// customer 1001).
func (ls *loadStack) driveCustomers(tb testing.TB, n, writers int, customers []string) loadResult {
	tb.Helper()
	ls.run++
	calls0 := ls.sim.CallCount("", "")
	lat := make([]time.Duration, n)
	errs := make(chan error, writers)
	began := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				customer := "1001"
				if customers != nil {
					customer = customers[i]
				}
				d, err := ls.customerFailureToTicket(customer, fmt.Sprintf("LOAD-%d-%d", ls.run, i))
				if err != nil {
					errs <- err
					return
				}
				lat[i] = d
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	select {
	case err := <-errs:
		tb.Fatal(err)
	default:
	}
	// Every ticket was seen; the worker may still be writing the event log,
	// but ConnectWise calls of an event end with its create.
	r := loadResult{events: n, latencies: lat, calls: ls.sim.CallCount("", "") - calls0, elapsed: elapsed}
	slices.Sort(r.latencies)
	return r
}

func benchmarkFailureToTicket(b *testing.B, writers int) {
	ls := startLoad(b, writers)
	ls.warm(b)
	tickets0 := len(ls.sim.Tickets())
	b.ResetTimer()
	r := ls.drive(b, b.N, writers)
	b.StopTimer()
	if got := len(ls.sim.Tickets()) - tickets0; got != b.N {
		b.Fatalf("%d tickets for %d events", got, b.N)
	}
	b.ReportMetric(float64(r.quantile(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(r.quantile(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(r.callsPerEvent(), "cw-calls/event")
}

// BenchmarkFailureToTicket measures one failure event's path, webhook to
// ticket: one event at a time, and 8 at a time with 8 concurrent workers.
func BenchmarkFailureToTicket(b *testing.B) {
	b.Run("sequential", func(b *testing.B) { benchmarkFailureToTicket(b, 1) })
	b.Run("concurrent-8", func(b *testing.B) { benchmarkFailureToTicket(b, 8) })
}

// TestLoadFailureToTicket is the scripted load run: LOAD_EVENTS failures
// (at least 1000) sequentially, then at 8-way concurrency, each a new
// ticket; it prints p50/p99 and ConnectWise calls per event.
func TestLoadFailureToTicket(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("LOAD_EVENTS"))
	if n <= 0 {
		t.Skip("set LOAD_EVENTS=1000 to run the load test")
	}
	for _, c := range []struct {
		name    string
		writers int
		fresh   bool
	}{{"sequential", 1, false}, {"concurrent-8", 8, false}, {"fresh-customers-concurrent-8", 8, true}} {
		t.Run(c.name, func(t *testing.T) {
			ls := startLoad(t, c.writers)
			var customers []string
			if c.fresh {
				// Each event the first of a new customer (a company of the
				// simulator with its managed ID and agreement): its ticket,
				// and its first data sync queued as a job of its own.
				customers = seedCustomers(t, ls.st, n)
			}
			ls.warm(t)
			r := ls.driveCustomers(t, n, c.writers, customers)
			if got := len(ls.sim.Tickets()); got != n+1 {
				t.Fatalf("%d tickets for %d events (+1 warm-up)", got, n)
			}
			if dlq := dlqDepth(t, ls.st); dlq != 0 {
				t.Fatalf("DLQ holds %d messages", dlq)
			}
			t.Logf("%s: %s", c.name, r)
			fmt.Printf("load %s: %s\n", c.name, r)
		})
	}
}

func dlqDepth(tb testing.TB, st *localstack.Stack) int { return queueDepthOf(tb, st, st.DLQURL) }

// queueDepthOf is the number of visible plus in-flight messages of a queue.
func queueDepthOf(tb testing.TB, st *localstack.Stack, url string) int {
	tb.Helper()
	out, err := st.AWS.SQS.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, v := range out.Attributes {
		c, _ := strconv.Atoi(v)
		n += c
	}
	return n
}
