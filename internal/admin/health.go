package admin

// GET /v1/admin/partners/{id}/health: the partner at a glance, from its
// event log alone (no ConnectWise call; the doctor is GET …/doctor).

import (
	"context"
	"net/http"
	"time"

	"github.com/efs-cw/backupbridge/internal/eventlog"
)

// Bounds of the health read: it reads the newest entries down to 24 hours
// back, at most healthScanLimit of them, and one page of the failed list.
const (
	healthScanLimit   = 2000
	healthOutstanding = 500
)

// Health is a partner's event log at a glance.
type Health struct {
	PartnerID string `json:"partnerId"`
	// Connection is the partner's health: healthy, degraded, paused or
	// resuming, why, since when, and the events held (pause.go).
	Connection *Connection `json:"connection,omitempty"`
	// LastEventAt is the newest log entry's time (absent: none).
	LastEventAt time.Time `json:"lastEventAt,omitzero"`
	// LastPushAt is the newest entry with outcome done (absent: none among
	// the entries read).
	LastPushAt time.Time `json:"lastPushAt,omitzero"`
	// Failures24h counts the entries with outcome failed of the last 24
	// hours; FailuresMore: there may be more (the read stopped at its bound).
	Failures24h  int  `json:"failures24h"`
	FailuresMore bool `json:"failuresMore,omitempty"`
	// Outstanding counts the failures no later success resolved (the
	// reprocess list); OutstandingMore: at least that many.
	Outstanding     int  `json:"outstanding"`
	OutstandingMore bool `json:"outstandingMore,omitempty"`
	// Since is the start of the 24 hours counted.
	Since time.Time `json:"since"`
}

func (a *API) health(ctx context.Context, id string) response {
	if _, resp := a.partnerForRead(ctx, id); resp != nil {
		return *resp
	}
	now := a.now().UTC()
	h := Health{PartnerID: id, Since: now.Add(-24 * time.Hour)}
	conn, err := a.connection(ctx, id)
	if err != nil {
		return a.internal(ctx, err)
	}
	h.Connection = conn
	q := eventlog.Query{PartnerID: id, Limit: 500}
	read := 0
scan:
	for {
		page, err := a.Log.List(ctx, q)
		if err != nil {
			return a.internal(ctx, err)
		}
		for _, e := range page.Entries {
			if h.LastEventAt.IsZero() {
				h.LastEventAt = e.At
			}
			if h.LastPushAt.IsZero() && e.Outcome == eventlog.OutcomeDone {
				h.LastPushAt = e.At
			}
			if e.At.Before(h.Since) && !h.LastPushAt.IsZero() {
				break scan
			}
			if e.Outcome == eventlog.OutcomeFailed && !e.At.Before(h.Since) {
				h.Failures24h++
			}
			if read++; read >= healthScanLimit {
				h.FailuresMore = !e.At.Before(h.Since)
				break scan
			}
		}
		if page.Cursor == "" {
			break
		}
		q.Cursor = page.Cursor
	}
	page, err := a.Log.List(ctx, eventlog.Query{PartnerID: id, FailedOnly: true, Limit: healthOutstanding})
	if err != nil {
		return a.internal(ctx, err)
	}
	h.Outstanding, h.OutstandingMore = len(page.Entries), page.Cursor != "" && len(page.Entries) == healthOutstanding
	return reply(http.StatusOK, h)
}
