package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/efs-cw/backupbridge/internal/metrics"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
)

// Partners reads partner settings (partner.Store).
type Partners interface {
	Get(ctx context.Context, id string) (*partner.Partner, error)
}

// Enqueuer sends a queue message (queue.SQS).
type Enqueuer interface {
	Enqueue(ctx context.Context, m queue.Message) error
}

// Monitor is the health tick, run every minute (the resync function on its
// health schedule; the local stack on a ticker). For each partner with a
// health record it:
//
//   - paused, probe due: sends a probe job (JobProbe) and moves the next
//     probe past it;
//   - resuming: sends a replay job (JobReplay) for each customer with held
//     events (a replay is idempotent: a second one stops at the first event
//     the other holds), or, with nothing held, makes the partner healthy;
//   - partner deleted while holding: resumes it, so that the replay records
//     each held event in the event log as PARTNER_NOT_FOUND, with the
//     event, ready to reprocess if the partner is created again; nothing
//     held and nothing pending: forgets the record;
//   - reports the held count (metric ParkedEvents, per partner as a
//     property) and, once a day, events held longer than ParkedRetention
//     (an ERROR line and the ParkedTooLong metric).
type Monitor struct {
	Health   *Store
	Partners Partners
	Queue    Enqueuer
	Metrics  *metrics.EMF
	Now      func() time.Time
	Logger   *slog.Logger
}

// TickReport says what a tick did.
type TickReport struct {
	Partners int
	Probes   int
	Replays  int
	Settled  int
	Held     int
}

func (m *Monitor) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Monitor) log() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.Default()
}

// Tick runs once over every partner's health. A partner whose step fails
// is logged and the others go on; the error joins the failures.
func (m *Monitor) Tick(ctx context.Context) (TickReport, error) {
	var rep TickReport
	all, err := m.Health.List(ctx)
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, st := range all {
		rep.Partners++
		if err := m.tickOne(ctx, st, &rep); err != nil {
			m.log().ErrorContext(ctx, "health tick of partner failed", "partnerId", st.PartnerID, "error", err)
			errs = append(errs, err)
		}
	}
	return rep, errors.Join(errs...)
}

func (m *Monitor) tickOne(ctx context.Context, st Status, rep *TickReport) error {
	now := m.now()
	if st.Holding() || st.Parked > 0 {
		rep.Held += st.Parked
		m.Metrics.Count(map[string]float64{metrics.ParkedEvents: float64(st.Parked)}, map[string]string{"partnerId": st.PartnerID, "state": string(st.State)})
	}
	if st.HeldTooLong(now) && now.Sub(st.ReportedOldAt) >= 24*time.Hour {
		m.log().ErrorContext(ctx, "events held longer than the retention; they are kept, not dropped: resume the partner or fix its ConnectWise",
			"alarm", "ParkedTooLong", "partnerId", st.PartnerID, "parked", st.Parked, "pausedAt", st.PausedAt.UTC().Format(time.RFC3339),
			"retentionDays", int(ParkedRetention/(24*time.Hour)))
		m.Metrics.Count(map[string]float64{metrics.ParkedTooLong: float64(st.Parked)}, map[string]string{"partnerId": st.PartnerID})
		if err := m.Health.ReportedOld(ctx, st.PartnerID, now); err != nil {
			return err
		}
	}
	if st.Holding() {
		if _, err := m.Partners.Get(ctx, st.PartnerID); errors.Is(err, partner.ErrNotFound) {
			if st.State == Paused {
				m.log().WarnContext(ctx, "partner deleted while paused: replaying its held events into the event log (PARTNER_NOT_FOUND, reprocessable)", "partnerId", st.PartnerID, "parked", st.Parked)
				if _, _, err := m.Health.Resume(ctx, st.PartnerID, true, now); err != nil {
					return err
				}
				st.State = Resuming
			}
		}
	}
	switch {
	case st.ProbeDue(now):
		if err := m.Health.ProbeScheduled(ctx, st.PartnerID, now); err != nil {
			return err
		}
		if err := m.Queue.Enqueue(ctx, ProbeMessage(st.PartnerID, now)); err != nil {
			return err
		}
		rep.Probes++
	case st.State == Resuming:
		n, settled, err := ReplayAll(ctx, m.Health, m.Queue, st.PartnerID, now)
		if err != nil {
			return err
		}
		rep.Replays += n
		if settled {
			rep.Settled++
			m.log().InfoContext(ctx, "partner resumed: every held event replayed", "partnerId", st.PartnerID)
		}
	case st.State == Healthy && st.Parked <= 0:
		if _, err := m.Partners.Get(ctx, st.PartnerID); errors.Is(err, partner.ErrNotFound) {
			return m.Health.Forget(ctx, st.PartnerID)
		}
	}
	return nil
}

// ProbeMessage is the probe job of a partner.
func ProbeMessage(partnerID string, now time.Time) queue.Message {
	return queue.Message{Version: queue.MessageVersion, Job: queue.JobProbe, PartnerID: partnerID,
		EventID: "probe-" + strconv.FormatInt(now.UnixMilli(), 10), ReceivedAt: now}
}

// ReplayMessage is the replay job of one customer of a partner.
func ReplayMessage(partnerID, customerID string, now time.Time) queue.Message {
	return queue.Message{Version: queue.MessageVersion, Job: queue.JobReplay, PartnerID: partnerID, CustomerID: customerID,
		EventID: "replay-" + customerID + "-" + strconv.FormatInt(now.UnixMilli(), 10), ReceivedAt: now}
}

// ReplayAll sends a replay job for each customer of a resuming partner
// with held events; with none held it settles the partner (healthy).
func ReplayAll(ctx context.Context, h *Store, q Enqueuer, partnerID string, now time.Time) (sent int, settled bool, err error) {
	customers, err := h.Customers(ctx, partnerID)
	if err != nil {
		return 0, false, err
	}
	if len(customers) == 0 {
		settled, err = h.Settle(ctx, partnerID, now)
		return 0, settled, err
	}
	for _, c := range customers {
		if err := q.Enqueue(ctx, ReplayMessage(partnerID, c, now)); err != nil {
			return sent, false, fmt.Errorf("enqueue replay of %s/%s: %w", partnerID, c, err)
		}
		sent++
	}
	return sent, false, nil
}
