// Package resync is the scheduled daily resync (the guide's "normal 12-hour
// daily sync"). It walks every partner, one page at a time, and sends the
// events whose push failed for a reason a person can fix in ConnectWise (a
// missing managed ID, board or status, rejected credentials, …) back to the
// worker as reprocess jobs, in SendMessageBatch calls. So a failure an MSP
// fixed during the day heals by the next morning without anyone clicking
// "reprocess".
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

// Run walks every partner and enqueues reprocess jobs.
func (r *Resync) Run(ctx context.Context) (Report, error) {
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	maxAge := r.MaxAge
	if maxAge <= 0 {
		maxAge = 14 * 24 * time.Hour
	}
	began := time.Now()
	requestID := "resync-" + now.UTC().Format("2006-01-02")
	var rep Report
	batch := make([]queue.Message, 0, 10)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := r.Queue.EnqueueBatch(ctx, batch)
		rep.Enqueued += n
		batch = batch[:0]
		return err
	}
	enqueue := func(m queue.Message) error {
		batch = append(batch, m)
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	}
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
			return rep, fmt.Errorf("resync: %w", err)
		}
		rep.Partners++
		if r.Customers != nil {
			window := p.SyncWindow()
			for c, err := range r.Customers.Customers(ctx, p.ID) {
				if err != nil {
					return rep, fmt.Errorf("resync partner %s: %w", p.ID, err)
				}
				rep.Customers++
				if !c.State.IsOpen(now, window) {
					rep.Closed++
					continue
				}
				if c.State.Pending {
					rep.Pending++
				}
				rep.Syncs++
				if err := enqueue(queue.Message{Version: queue.MessageVersion, Job: queue.JobSync, PartnerID: p.ID,
					EventID: "sync:" + requestID, RequestID: requestID, CustomerID: c.CustomerID, ReceivedAt: now}); err != nil {
					return rep, err
				}
			}
		}
		seen := map[string]bool{}
		for e, err := range r.Log.Outstanding(ctx, p.ID) {
			if err != nil {
				return rep, fmt.Errorf("resync partner %s: %w", p.ID, err)
			}
			if seen[e.EventID] {
				continue
			}
			seen[e.EventID] = true
			if !Reprocessable[e.Code] || len(e.Event) == 0 || now.Sub(e.At) > maxAge {
				rep.Skipped++
				continue
			}
			if err := enqueue(queue.Message{
				Version: queue.MessageVersion, Job: queue.JobReprocess, PartnerID: p.ID,
				EventID: e.EventID, RequestID: requestID, ReceivedAt: now, Event: e.Event,
			}); err != nil {
				return rep, err
			}
		}
	}
	if err := flush(); err != nil {
		return rep, err
	}
	rep.DurationMS = int(time.Since(began).Milliseconds())
	if r.Logger != nil {
		r.Logger.InfoContext(ctx, "resync done", "partners", rep.Partners, "reprocess", rep.Enqueued-rep.Syncs, "skipped", rep.Skipped,
			"customers", rep.Customers, "syncs", rep.Syncs, "pending", rep.Pending, "windowClosed", rep.Closed)
	}
	return rep, nil
}

func (r *Resync) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}
