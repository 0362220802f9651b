package admin

// Partner health from the operator's side (package health has the design):
//
//	POST /v1/admin/partners/{id}/pause   {"reason": "..."} → 200 {"connection"}
//	POST /v1/admin/partners/{id}/resume  → 202 {"connection", "replays"}; 409 when not paused
//
// and the "connection" object of GET …/health. An operator's pause holds
// the partner's events exactly as an automatic one, but is never lifted by a
// probe; resume lifts either kind. Saving new ConnectWise keys (PUT with
// secrets) for a partner paused automatically sends a probe at once.

import (
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/efs-cw/backupbridge/internal/health"
	"github.com/efs-cw/backupbridge/internal/outcome"
)

// Connection is a partner's health as the API shows it.
type Connection struct {
	health.Status
	// HeldTooLong: events have been held longer than the parked retention
	// (14 days); they are kept.
	HeldTooLong bool `json:"heldTooLong,omitempty"`
}

func (a *API) connection(ctx context.Context, id string) (*Connection, error) {
	if a.Health == nil {
		return nil, nil
	}
	st, err := a.Health.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return &Connection{Status: st, HeldTooLong: st.HeldTooLong(a.now())}, nil
}

// maxPauseReason bounds an operator's pause reason, in characters.
const maxPauseReason = 200

func (a *API) pause(id string, r *http.Request) response {
	ctx := r.Context()
	if _, resp := a.lookup(ctx, id); resp != nil {
		return *resp
	}
	var b struct {
		Reason string `json:"reason"`
	}
	if err := decode(r, &b); err != nil {
		return reply(http.StatusBadRequest, errBody("body must be {\"reason\": \"why the partner is paused\"}", "reason"))
	}
	b.Reason = strings.TrimSpace(b.Reason)
	if b.Reason == "" || utf8.RuneCountInString(b.Reason) > maxPauseReason {
		return reply(http.StatusBadRequest, errBody("reason: say why, in 1 to 200 characters (it is shown on the partner and in its held events)", "reason"))
	}
	if a.Health == nil {
		return reply(http.StatusNotImplemented, errBody("partner health is not configured", ""))
	}
	st, _, err := a.Health.Pause(ctx, id, health.Cause{Code: outcome.CodeOperatorPause, Reason: "paused by an operator: " + b.Reason, ByOperator: true}, a.now())
	if err != nil {
		return a.internal(ctx, err)
	}
	if a.Logger != nil {
		a.Logger.WarnContext(ctx, "partner paused by an operator", "partnerId", id, "reason", b.Reason)
	}
	return reply(http.StatusOK, map[string]any{"connection": Connection{Status: st, HeldTooLong: st.HeldTooLong(a.now())}})
}

func (a *API) resume(ctx context.Context, id string) response {
	if a.Health == nil {
		return reply(http.StatusNotImplemented, errBody("partner health is not configured", ""))
	}
	// A deleted partner may be resumed: its held events then replay into
	// the event log as PARTNER_NOT_FOUND, reprocessable.
	st, resumed, err := a.Health.Resume(ctx, id, true, a.now())
	if err != nil {
		return a.internal(ctx, err)
	}
	if !resumed {
		if st.State == health.Resuming {
			return reply(http.StatusConflict, errBody("the partner is already resuming: its held events are replaying", ""))
		}
		return reply(http.StatusConflict, errBody("the partner is not paused (state "+string(st.State)+")", ""))
	}
	replays, _, err := health.ReplayAll(ctx, a.Health, a.Queue, id, a.now())
	if err != nil {
		// The health tick sends them within a minute.
		a.logError(ctx, "resume: send replays", err)
	}
	if a.Logger != nil {
		a.Logger.InfoContext(ctx, "partner resumed by an operator", "partnerId", id, "parked", st.Parked)
	}
	return reply(http.StatusAccepted, map[string]any{"connection": Connection{Status: st}, "replays": replays})
}

// probeNewKeys sends a probe for a partner paused automatically whose keys
// were just saved; it reports whether it did.
func (a *API) probeNewKeys(ctx context.Context, id string) bool {
	if a.Health == nil {
		return false
	}
	st, err := a.Health.Get(ctx, id)
	if err != nil || st.State != health.Paused || st.ByOperator {
		return false
	}
	if err := a.Queue.Enqueue(ctx, health.ProbeMessage(id, a.now())); err != nil {
		a.logError(ctx, "send probe after new keys", err)
		return false
	}
	return true
}
