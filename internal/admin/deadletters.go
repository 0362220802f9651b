package admin

// POST /v1/admin/partners/{id}/dead-letters/redrive: send dead-lettered
// events back to the events queue (package deadletter).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// DeadLetters redrives the dead-lettered events of the event log
// (deadletter.Recorder): each returns how many messages it sent to the
// events queue, 0 when nothing dead-lettered matched.
type DeadLetters interface {
	// Redrive sends the partner's dead-lettered event eventID again.
	Redrive(ctx context.Context, partnerID, eventID string) (int, error)
	// RedriveAll sends every dead-lettered event of the partner again.
	RedriveAll(ctx context.Context, partnerID string) (int, error)
}

// redriveDeadLetters answers POST /v1/admin/partners/{id}/dead-letters/redrive
// with body {"eventId": "..."} (one event) or {"all": true} (all of the
// partner's): 202 {"redriven": n}, the messages sent back to the events
// queue, whose entries leave the failed list (the worker processes each
// event once); 404 when nothing dead-lettered matches (never dead-lettered,
// or redriven already); 400 for another body.
func (a *API) redriveDeadLetters(id string, r *http.Request) response {
	ctx := r.Context()
	var b struct {
		EventID string `json:"eventId"`
		All     bool   `json:"all"`
	}
	r.Body = io.NopCloser(io.LimitReader(r.Body, 4<<10))
	if err := decode(r, &b); err != nil || (b.EventID == "") == !b.All {
		return reply(http.StatusBadRequest, errBody(`body must be {"eventId": "..."} (one dead-lettered event) or {"all": true} (every dead-lettered event of the partner)`, "eventId"))
	}
	if a.DeadLetters == nil {
		return a.internal(ctx, errors.New("admin: no dead-letter redrive configured"))
	}
	var n int
	var err error
	if b.All {
		n, err = a.DeadLetters.RedriveAll(ctx, id)
	} else {
		n, err = a.DeadLetters.Redrive(ctx, id, b.EventID)
	}
	switch {
	case err != nil:
		a.logError(ctx, "redrive dead letters", err)
		msg := "could not redrive: nothing was sent; try again"
		if n > 0 {
			msg = fmt.Sprintf("redrove %d, then failed; try again (what was sent left the failed list; the rest is still there, and the worker processes each event once)", n)
		}
		return reply(http.StatusServiceUnavailable, errBody(msg, ""))
	case n == 0 && b.All:
		return reply(http.StatusNotFound, errBody("partner "+id+" has no dead-lettered event waiting for a redrive (see GET /v1/admin/partners/"+id+"/events?failed=true)", ""))
	case n == 0:
		return reply(http.StatusNotFound, errBody("no dead-lettered entry of event "+b.EventID+" is waiting for a redrive: it was never dead-lettered, or it was redriven already (see GET /v1/admin/partners/"+id+"/events?event="+b.EventID+")", "eventId"))
	}
	return reply(http.StatusAccepted, map[string]any{"redriven": n})
}
