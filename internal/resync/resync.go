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
// Not yet here: the data sync of statistics and billing (issue 4) will add
// "sync customer" jobs to the same walk.
package resync

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"time"

	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
)

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
	outcome.CodeManagementID:    true,
	outcome.CodeAuth:            true,
	outcome.CodeBoardNotFound:   true,
	outcome.CodeStatusNotFound:  true,
	outcome.CodeNoClosedStatus:  true,
	outcome.CodePartnerSecrets:  true,
	outcome.CodeInvalidSite:     true,
	outcome.CodeRejected:        true,
	outcome.CodePartnerNotFound: true,
}

// Resync runs the daily resync.
type Resync struct {
	Partners Partners
	Log      *eventlog.Log
	Queue    Sender
	Now      func() time.Time
	Logger   *slog.Logger
	// MaxAge bounds how old a failure may be to be retried (default 14 days).
	MaxAge time.Duration
}

// Report says what a run did.
type Report struct {
	Partners   int `json:"partners"`
	Enqueued   int `json:"enqueued"`
	Skipped    int `json:"skipped"` // failures not worth retrying, or too old
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
	for p, err := range r.Partners.All(ctx) {
		if err != nil {
			return rep, fmt.Errorf("resync: %w", err)
		}
		rep.Partners++
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
			batch = append(batch, queue.Message{
				Version: queue.MessageVersion, Job: queue.JobReprocess, PartnerID: p.ID,
				EventID: e.EventID, RequestID: requestID, ReceivedAt: now, Event: e.Event,
			})
			if len(batch) == cap(batch) {
				if err := flush(); err != nil {
					return rep, err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return rep, err
	}
	rep.DurationMS = int(time.Since(now).Milliseconds())
	if r.Logger != nil {
		r.Logger.Info("resync done", "partners", rep.Partners, "enqueued", rep.Enqueued, "skipped", rep.Skipped)
	}
	return rep, nil
}
