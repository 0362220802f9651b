package health

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Alert is the one alarm of a pause.
type Alert struct {
	PartnerID string
	PauseID   string
	Code      string
	Reason    string
	Since     time.Time
}

// Subject is the alarm's one-line subject (at most 100 characters, SNS's limit).
func (a Alert) Subject() string {
	s := fmt.Sprintf("BackupBridge: partner %s paused (%s)", a.PartnerID, a.Code)
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}

// Text is the alarm's message.
func (a Alert) Text() string {
	return fmt.Sprintf("Partner %s was paused at %s (pause %s).\n\nReason (%s): %s\n\n"+
		"While paused, no ConnectWise call is made for this partner and its events are held, in order, "+
		"off the queue. It is probed automatically and resumes on the first probe that succeeds; the held "+
		"events then replay. Fix the cause in ConnectWise (or save new keys with PUT /v1/admin/partners/%s, "+
		"which probes at once), or resume by hand: POST /v1/admin/partners/%s/resume. "+
		"GET /v1/admin/partners/%s/health shows the count held.",
		a.PartnerID, a.Since.UTC().Format(time.RFC3339), a.PauseID, a.Code, a.Reason, a.PartnerID, a.PartnerID, a.PartnerID)
}

// Publisher sends an alarm's subject and message somewhere a person reads
// it (the stack's alarm topic).
type Publisher interface {
	Publish(ctx context.Context, subject, message string) error
}

// Alerter raises a pause's alarm: one ERROR line "partner paused" with
// alarm=PartnerPaused (what the on-call engineer searches for, and what the
// local stack's tests count), then the message on the alarm topic.
type Alerter struct {
	Logger *slog.Logger
	// Topic is the alarm topic (nil: the log line only, as locally).
	Topic Publisher
}

// Alert raises a's alarm.
func (al *Alerter) Alert(ctx context.Context, a Alert) {
	if al == nil {
		return
	}
	log := al.Logger
	if log == nil {
		log = slog.Default()
	}
	log.ErrorContext(ctx, "partner paused", "alarm", "PartnerPaused", "partnerId", a.PartnerID, "pauseId", a.PauseID,
		"code", a.Code, "reason", a.Reason, "since", a.Since.UTC().Format(time.RFC3339))
	if al.Topic == nil {
		return
	}
	if err := al.Topic.Publish(context.WithoutCancel(ctx), a.Subject(), a.Text()); err != nil {
		log.ErrorContext(ctx, "publish the pause alarm to the alarm topic failed (the log line above stands)", "partnerId", a.PartnerID, "error", err)
	}
}
