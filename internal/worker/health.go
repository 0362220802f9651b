package worker

// Partner health in the worker (package health has the design): pausing a
// partner, parking its messages, probing it, and replaying what it held.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/health"
	"github.com/efs-cw/backupbridge/internal/metrics"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/queue"
)

// pauseCause says whether a failure pauses the partner at once:
// ConnectWise refused the credentials or a permission (401/403), or asked
// for a wait (Retry-After) longer than what is left of the invocation.
func (w *Worker) pauseCause(ctx context.Context, err error, c *outcome.Error) *health.Cause {
	if w.Health == nil {
		return nil
	}
	if errors.Is(err, connectwise.ErrUnauthorized) {
		return &health.Cause{Code: outcome.CodeAuth, Reason: err.Error()}
	}
	if c.Kind == outcome.KindTransient && c.RetryAfter > 0 {
		// The invocation's length (template.yaml: 60 s), not what is left
		// of this one: a short wait near the end of an invocation is a
		// retry, not a pause.
		left := w.InvocationTimeout
		if left <= 0 {
			left = time.Minute
		}
		if c.RetryAfter > left {
			return &health.Cause{Code: outcome.CodeRateLimited, RetryAfter: c.RetryAfter,
				Reason: fmt.Sprintf("ConnectWise asked to wait %s (Retry-After), longer than the worker's invocation: %v", c.RetryAfter, err)}
		}
	}
	return nil
}

// pausePartner pauses the partner (one alarm, raised by the worker whose
// write paused it) and forgets its cached client and keys, so that what
// runs next reads them again. replay: the partner was resuming.
func (w *Worker) pausePartner(ctx context.Context, log *slog.Logger, partnerID string, c health.Cause, replay bool) (health.Status, error) {
	w.forgetTarget(partnerID)
	st, paused, err := w.Health.Pause(context.WithoutCancel(ctx), partnerID, c, w.now())
	if err != nil {
		log.ErrorContext(ctx, "pause partner", "error", err)
		return health.Status{}, err
	}
	if paused {
		w.announce(ctx, log, st, replay)
	}
	return st, nil
}

// announce raises the one alarm of a pause; a pause while replaying (the
// cause was not fixed after all) is logged without a second alarm for the
// same outage.
func (w *Worker) announce(ctx context.Context, log *slog.Logger, st health.Status, replay bool) {
	if replay {
		log.WarnContext(ctx, "partner paused again while replaying its held events", "code", st.Code, "reason", st.Reason, "pauseId", st.PauseID)
		return
	}
	w.Metrics.Count(map[string]float64{metrics.PartnersPaused: 1}, map[string]string{"partnerId": st.PartnerID, "code": st.Code})
	w.Alerts.Alert(ctx, health.Alert{PartnerID: st.PartnerID, PauseID: st.PauseID, Code: st.Code, Reason: st.Reason, Since: st.Since})
}

// forgetTarget drops the partner's cached ConnectWise client and keys.
func (w *Worker) forgetTarget(partnerID string) {
	w.mu.Lock()
	delete(w.targets, partnerID)
	w.mu.Unlock()
	if f, ok := w.Secrets.(interface{ Forget(string) }); ok {
		f.Forget(partnerID)
	}
}

// customerOf is the customer a message is about ("" when it cannot be
// told: such a message is processed, not parked; it fails without calling
// ConnectWise).
func customerOf(m *queue.Message) string {
	if m.Job == queue.JobSync {
		return m.CustomerID
	}
	var ev struct {
		Customer struct {
			ID string `json:"id"`
		} `json:"customer"`
		Type string `json:"type"`
	}
	if json.Unmarshal(m.Event, &ev) != nil {
		return ""
	}
	return ev.Customer.ID
}

// park holds m while the partner is paused or resuming. ok is false when
// the message cannot be parked (the partner is not holding any more, or
// the message names no customer): the caller processes it. retrying are
// this attempt's entries that said "retrying": they are rewritten as
// parked, so that no step's last word is "retrying".
func (w *Worker) park(ctx context.Context, log *slog.Logger, m *queue.Message, st health.Status, retrying []eventlog.Entry) (f fate, ok bool) {
	customer := customerOf(m)
	if customer == "" {
		return 0, false
	}
	res, err := w.Health.Park(context.WithoutCancel(ctx), *m, customer, w.now())
	if err != nil {
		log.ErrorContext(ctx, "park message", "error", err)
		return fateRetry, true
	}
	switch res {
	case health.NotHolding:
		return 0, false
	case health.AlreadyParked:
		log.InfoContext(ctx, "duplicate delivery; already held")
		return fateParked, true
	}
	w.Metrics.Count(map[string]float64{metrics.EventsParked: 1}, map[string]string{"partnerId": m.PartnerID})
	msg := fmt.Sprintf("held: partner paused since %s (%s: %s); it replays in arrival order when the partner resumes",
		st.Since.UTC().Format(time.RFC3339), st.Code, st.Reason)
	for _, e := range retrying {
		e.Outcome, e.Message, e.Remedy = eventlog.OutcomeParked, msg+" (this attempt: "+e.Message+")", ""
		w.record(ctx, log, e)
	}
	what := eventlog.WhatEvent
	if m.Job == queue.JobSync {
		what = eventlog.WhatSync
	}
	e := eventlog.Entry{PartnerID: m.PartnerID, EventID: m.EventID, CustomerID: customer, What: what, At: w.now(),
		Outcome: eventlog.OutcomeParked, Code: outcome.CodePartnerPaused, Message: msg,
		Remedy: "none needed for this event; to end the pause fix the cause in ConnectWise (or save new keys, which probes at once) or resume the partner"}
	if m.Job != queue.JobSync {
		var ev struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(m.Event, &ev)
		e.EventType = ev.Type
	}
	w.record(ctx, log, e)
	return fateParked, true
}

// probe answers a probe job: one cheap ConnectWise read with fresh keys.
// Success resumes the partner and sends its replays; failure backs off.
func (w *Worker) probe(ctx context.Context, log *slog.Logger, m *queue.Message) error {
	if w.Health == nil {
		return nil
	}
	st, err := w.Health.Get(ctx, m.PartnerID)
	if err != nil {
		return err
	}
	if st.State != health.Paused {
		return nil
	}
	w.forgetTarget(m.PartnerID)
	err = w.probeCall(ctx, m.PartnerID)
	now := w.now()
	if err != nil {
		c := outcome.Of(err)
		next, perr := w.Health.ProbeFailed(context.WithoutCancel(ctx), m.PartnerID, err.Error(), c.RetryAfter, now)
		if perr != nil {
			return perr
		}
		log.WarnContext(ctx, "probe failed; the partner stays paused", "code", c.Code, "error", err.Error(), "nextProbeAt", next.NextProbeAt.UTC().Format(time.RFC3339))
		return nil
	}
	st, resumed, err := w.Health.Resume(context.WithoutCancel(ctx), m.PartnerID, false, now)
	if errors.Is(err, health.ErrOperatorHold) {
		log.InfoContext(ctx, "probe succeeded but an operator paused this partner; it stays paused")
		return nil
	}
	if err != nil {
		return err
	}
	if resumed {
		log.InfoContext(ctx, "probe succeeded: partner resuming; replaying its held events", "parked", st.Parked, "pauseId", st.PauseID)
		if w.Queue != nil {
			if _, _, err := health.ReplayAll(context.WithoutCancel(ctx), w.Health, w.Queue, m.PartnerID, now); err != nil {
				// The health tick sends them within a minute.
				log.WarnContext(ctx, "send replays", "error", err)
			}
		}
	}
	return nil
}

// probeCall is the probe: GET service/tickets?pageSize=1&fields=id, the
// permission the service needs most, with the partner's current keys.
func (w *Worker) probeCall(ctx context.Context, partnerID string) error {
	t, err := w.target(ctx, partnerID, true)
	if err != nil {
		return err
	}
	req, err := t.CW.NewRequest(ctx, http.MethodGet, "service/tickets?pageSize=1&fields=id", nil)
	if err != nil {
		return err
	}
	_, err = t.CW.Do(req, nil)
	return err
}

// replayBatch is how many held messages a replay reads at a time.
const replayBatch = 25

// replayTries is how often a replay tries a held message that fails
// transiently before it stops and leaves it to the next tick.
const replayTries = 3

// replayWait waits before the try-th retry of a held message: ReplayRetryWait
// (default 1 s) times try. It reports false when the invocation has no time
// left for it.
func (w *Worker) replayWait(ctx context.Context, try int) bool {
	d := w.ReplayRetryWait
	if d <= 0 {
		d = time.Second
	}
	d *= time.Duration(try)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d+10*time.Second {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// replay answers a replay job: the customer's held messages, oldest
// receipt first, each through the normal path (its claim makes it once).
// It stops at the first message that cannot be finished now (another
// worker holds it, a transient failure, the partner paused again), so that
// nothing overtakes it; the health tick sends the replay again.
func (w *Worker) replay(ctx context.Context, log *slog.Logger, m *queue.Message) error {
	if w.Health == nil {
		return nil
	}
	log = log.With("customerId", m.CustomerID)
	done := 0
	for {
		st, err := w.Health.Get(ctx, m.PartnerID)
		if err != nil {
			return err
		}
		if st.State != health.Resuming {
			log.InfoContext(ctx, "replay stopped: the partner is not resuming", "state", st.State, "replayed", done)
			return nil
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < 10*time.Second {
			log.InfoContext(ctx, "replay paused for time; the health tick continues it", "replayed", done)
			return nil
		}
		held, err := w.Health.Held(ctx, m.PartnerID, m.CustomerID, replayBatch)
		if err != nil {
			return err
		}
		if len(held) == 0 {
			log.InfoContext(ctx, "replay done", "replayed", done)
			return nil
		}
		for _, p := range held {
			msg := p.Message
			mlog := log.With("eventId", msg.EventID, "job", msg.Job, "replay", true)
			f := w.run(ctx, mlog, &msg, true)
			// A transient failure is tried again here a few times, shortly,
			// rather than leaving the whole line to wait for the next tick.
			for try := 1; f == fateRetry && try < replayTries; try++ {
				if !w.replayWait(ctx, try) {
					break
				}
				f = w.run(ctx, mlog, &msg, true)
			}
			if f != fateDone {
				log.InfoContext(ctx, "replay stopped at a message that is not finished; the health tick sends the replay again", "eventId", msg.EventID, "replayed", done)
				return nil
			}
			if err := w.Health.Unpark(context.WithoutCancel(ctx), p); err != nil {
				return err
			}
			done++
		}
	}
}
