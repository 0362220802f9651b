// Package resync is the scheduled daily resync (the guide's "normal 12-hour
// daily sync"). It walks every partner, one page at a time (several partners
// at once, see Resync.Run), and sends the events whose push failed for a
// reason a person can fix in ConnectWise (a missing managed ID, board or
// status, rejected credentials, …) back to the worker as reprocess jobs, in
// SendMessageBatch calls (several at once). So a failure an MSP fixed during
// the day heals by the next morning without anyone clicking "reprocess".
//
// Each day's resync of an event is one reprocess request (the request id is
// the date), so a schedule that fires twice does not push twice.
//
// It also runs the daily data sync: every customer of every partner whose
// 12-hour window is open gets a sync job (pending customers first — those
// whose change was throttled); a customer whose window is still closed is
// skipped and counted.
package resync

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/syncslot"
)

// Customers lists a partner's customers with their sync slots.
type Customers interface {
	Customers(ctx context.Context, partnerID string) iter.Seq2[syncslot.Listed, error]
}

// Partners lists partners.
type Partners interface {
	All(ctx context.Context) iter.Seq2[*partner.Partner, error]
}

// Sender sends batches of queue messages.
type Sender interface {
	EnqueueBatch(ctx context.Context, ms []queue.Message) (int, error)
}

// Reprocessable are the failure codes a person fixes in ConnectWise or in the
// partner's settings, after which the event can succeed.
var Reprocessable = map[string]bool{
	outcome.CodeManagementID:      true,
	outcome.CodeAuth:              true,
	outcome.CodeBoardNotFound:     true,
	outcome.CodeStatusNotFound:    true,
	outcome.CodeNoClosedStatus:    true,
	outcome.CodePartnerSecrets:    true,
	outcome.CodeInvalidSite:       true,
	outcome.CodePartnerUnreadable: true,
	outcome.CodeRejected:          true,
	outcome.CodePartnerNotFound:   true,
}

// Resync runs the daily resync.
type Resync struct {
	Partners Partners
	Log      *eventlog.Log
	Queue    Sender
	// Customers, when set, adds the daily data sync.
	Customers Customers
	Now       func() time.Time
	Logger    *slog.Logger
	// MaxAge bounds how old a failure may be to be retried (default 14 days).
	MaxAge time.Duration
	// Walkers bounds how many partners are walked at once (default
	// DefaultWalkers); InFlight how many SendMessageBatch calls are in
	// flight at once (default DefaultInFlight).
	Walkers, InFlight int
}

// Report says what a run did.
type Report struct {
	Partners   int `json:"partners"`
	Enqueued   int `json:"enqueued"` // messages sent: reprocess and sync jobs
	Skipped    int `json:"skipped"`  // failures not worth retrying, or too old
	Customers  int `json:"customers"`
	Syncs      int `json:"syncs"`              // sync jobs enqueued
	Pending    int `json:"pending"`            // of which were pending
	Closed     int `json:"windowClosed"`       // customers skipped: window still closed
	Unreadable int `json:"unreadablePartners"` // partners skipped: settings cannot be decoded (fix with PUT)
	DurationMS int `json:"durationMs"`
}

// Bounds of the resync's concurrency (Resync.Walkers, Resync.InFlight).
const (
	// DefaultWalkers is how many partners are walked at once.
	DefaultWalkers = 8
	// DefaultInFlight is how many SendMessageBatch calls are in flight at
	// once.
	DefaultInFlight = 16
)

// batchSize is SQS's SendMessageBatch limit.
const batchSize = 10

// Run walks every partner and enqueues reprocess and sync jobs.
//
// Partners are walked in parallel, at most Walkers at a time, each one page
// of customers and one page of failures at a time; their jobs go out in
// batches of ten, at most InFlight SendMessageBatch calls at a time. Memory
// is bounded by those two numbers, whatever the number of partners and
// customers: a walker holds its page and the batch it fills, a sender the
// batch it sends. The jobs of one partner are sent in the order it lists
// them (pending customers first), by several senders at once, so they may
// reach the queue slightly out of that order.
//
// The first error (a page that cannot be read, a batch SQS refused) stops
// the run: the walks and sends in progress are cancelled and Run returns it
// with the counts so far. A partner whose settings cannot be decoded is not
// an error: it is counted (Unreadable), logged and skipped.
func (r *Resync) Run(ctx context.Context) (Report, error) {
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	maxAge := r.MaxAge
	if maxAge <= 0 {
		maxAge = 14 * 24 * time.Hour
	}
	walkers, inFlight := r.Walkers, r.InFlight
	if walkers <= 0 {
		walkers = DefaultWalkers
	}
	if inFlight <= 0 {
		inFlight = DefaultInFlight
	}
	began := time.Now()
	requestID := "resync-" + now.UTC().Format("2006-01-02")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		cancel()
	}
	// stopped reports whether the run is stopping: after a failure, or when
	// the caller's context ended (then that is the error).
	stopped := func() bool {
		if ctx.Err() == nil {
			return false
		}
		fail(context.Cause(ctx))
		return true
	}

	// Senders: at most inFlight batches in flight.
	batches := make(chan []queue.Message)
	var enqueued atomic.Int64
	var senders sync.WaitGroup
	for range inFlight {
		senders.Go(func() {
			for b := range batches {
				if stopped() {
					continue // drop what is left
				}
				n, err := r.Queue.EnqueueBatch(ctx, b)
				enqueued.Add(int64(n))
				if err != nil {
					fail(err)
				}
			}
		})
	}

	// Walkers: at most walkers partners at a time, each counting in its own
	// report and filling its own batch (kept across its partners, so a
	// partner's last few jobs share a batch with the next one's first).
	partners := make(chan *partner.Partner)
	reports := make([]Report, walkers)
	var walking sync.WaitGroup
	for i := range walkers {
		walking.Go(func() {
			w := walker{r: r, now: now, maxAge: maxAge, requestID: requestID, batches: batches, rep: &reports[i]}
			for p := range partners {
				if stopped() {
					continue
				}
				if err := w.walk(ctx, p); err != nil {
					fail(err)
				}
			}
			if !stopped() {
				if err := w.flush(ctx); err != nil {
					fail(err)
				}
			}
		})
	}

	var rep Report
	for p, err := range r.Partners.All(ctx) {
		if errors.Is(err, partner.ErrUnreadable) {
			// One partner's damaged settings must not stop every other
			// partner's resync. Its events are logged PARTNER_UNREADABLE
			// by the worker; here it is counted and named once.
			rep.Unreadable++
			r.log().ErrorContext(ctx, "resync: partner settings cannot be read; skipped", "error", err)
			continue
		}
		if err != nil {
			fail(fmt.Errorf("resync: %w", err))
			break
		}
		rep.Partners++
		select {
		case partners <- p:
		case <-ctx.Done():
		}
		if stopped() {
			break
		}
	}
	close(partners)
	walking.Wait()
	close(batches)
	senders.Wait()

	for _, w := range reports {
		rep.Skipped += w.Skipped
		rep.Customers += w.Customers
		rep.Syncs += w.Syncs
		rep.Pending += w.Pending
		rep.Closed += w.Closed
	}
	rep.Enqueued = int(enqueued.Load())
	if firstErr != nil {
		return rep, firstErr
	}
	rep.DurationMS = int(time.Since(began).Milliseconds())
	if r.Logger != nil {
		r.Logger.InfoContext(ctx, "resync done", "partners", rep.Partners, "reprocess", rep.Enqueued-rep.Syncs, "skipped", rep.Skipped,
			"customers", rep.Customers, "syncs", rep.Syncs, "pending", rep.Pending, "windowClosed", rep.Closed)
	}
	return rep, nil
}

// walker walks partners one after the other (one goroutine of Run).
type walker struct {
	r         *Resync
	now       time.Time
	maxAge    time.Duration
	requestID string
	batches   chan<- []queue.Message
	batch     []queue.Message
	rep       *Report
}

// walk enqueues a partner's sync jobs (customers whose window is open) and
// reprocess jobs (fixable failures).
func (w *walker) walk(ctx context.Context, p *partner.Partner) error {
	if w.r.Customers != nil {
		window := p.SyncWindow()
		for c, err := range w.r.Customers.Customers(ctx, p.ID) {
			if err != nil {
				return fmt.Errorf("resync partner %s: %w", p.ID, err)
			}
			w.rep.Customers++
			if !c.State.IsOpen(w.now, window) {
				w.rep.Closed++
				continue
			}
			if c.State.Pending {
				w.rep.Pending++
			}
			w.rep.Syncs++
			if err := w.enqueue(ctx, queue.Message{Version: queue.MessageVersion, Job: queue.JobSync, PartnerID: p.ID,
				EventID: "sync:" + w.requestID, RequestID: w.requestID, CustomerID: c.CustomerID, ReceivedAt: w.now}); err != nil {
				return err
			}
		}
	}
	seen := map[string]bool{}
	for e, err := range w.r.Log.Outstanding(ctx, p.ID) {
		if err != nil {
			return fmt.Errorf("resync partner %s: %w", p.ID, err)
		}
		if seen[e.EventID] {
			continue
		}
		seen[e.EventID] = true
		if !Reprocessable[e.Code] || len(e.Event) == 0 || w.now.Sub(e.At) > w.maxAge {
			w.rep.Skipped++
			continue
		}
		if err := w.enqueue(ctx, queue.Message{
			Version: queue.MessageVersion, Job: queue.JobReprocess, PartnerID: p.ID,
			EventID: e.EventID, RequestID: w.requestID, ReceivedAt: w.now, Event: e.Event,
		}); err != nil {
			return err
		}
	}
	return nil
}

// enqueue adds m to the batch and hands a full batch to a sender, waiting
// for one to be free.
func (w *walker) enqueue(ctx context.Context, m queue.Message) error {
	if w.batch == nil {
		w.batch = make([]queue.Message, 0, batchSize)
	}
	w.batch = append(w.batch, m)
	if len(w.batch) < batchSize {
		return nil
	}
	return w.flush(ctx)
}

// flush hands the batch, if any, to a sender.
func (w *walker) flush(ctx context.Context) error {
	if len(w.batch) == 0 {
		return nil
	}
	select {
	case w.batches <- w.batch:
		w.batch = nil // the sender owns it now
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Resync) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}
