package console

// Partner connection health (issue 9): the state of a partner's connection
// to ConnectWise, as the operator API's health answer carries it
// ("connection"), and the operator's controls over it:
//
//	POST /console/partners/{id}/pause    reason=…            → POST /v1/admin/partners/{id}/pause {"reason"}
//	POST /console/partners/{id}/resume                       → POST /v1/admin/partners/{id}/resume
//	POST /console/partners/{id}/redrive  eventId=… or all=true → POST /v1/admin/partners/{id}/dead-letters/redrive
//
// Each is a write form like the others (c.action: a signed-in operator, same
// origin, the session's CSRF token; c.once: the form's nonce makes a repeated
// submit one API call).

import (
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// connectionView is the "connection" of GET /v1/admin/partners/{id}/health.
type connectionView struct {
	PartnerID string `json:"partnerId"`
	// State: healthy, degraded, paused or resuming.
	State  string    `json:"state"`
	Code   string    `json:"code"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	// ByOperator: an operator paused the partner; only an operator resumes it.
	ByOperator     bool      `json:"byOperator"`
	Failures       int       `json:"failures"`
	LastFailureAt  time.Time `json:"lastFailureAt"`
	NextProbeAt    time.Time `json:"nextProbeAt"`
	Probes         int       `json:"probes"`
	LastProbeAt    time.Time `json:"lastProbeAt"`
	LastProbeError string    `json:"lastProbeError"`
	PauseID        string    `json:"pauseId"`
	// Parked is the number of events held; PausedAt when they began to be
	// held (no held event is older); HeldTooLong: held longer than the
	// service keeps a message (they stay held, and are reported).
	Parked      int       `json:"parked"`
	PausedAt    time.Time `json:"pausedAt"`
	HeldTooLong bool      `json:"heldTooLong"`
}

// The connection states.
const (
	stateHealthy  = "healthy"
	stateDegraded = "degraded"
	statePaused   = "paused"
	stateResuming = "resuming"
)

// Paused: no ConnectWise call is made; events are parked (Resume is offered).
func (c connectionView) Paused() bool { return c.State == statePaused }

// Holding: the partner's events are held (paused or resuming).
func (c connectionView) Holding() bool { return c.State == statePaused || c.State == stateResuming }

// Degraded: transient failures, events still processed.
func (c connectionView) Degraded() bool { return c.State == stateDegraded }

// StateClass is the badge's CSS class (one of a fixed set).
func (c connectionView) StateClass() string {
	switch c.State {
	case stateHealthy, stateDegraded, statePaused, stateResuming:
		return "state-" + c.State
	}
	return "state-other"
}

// StateLabel is the badge's text.
func (c connectionView) StateLabel() string {
	if c.State == "" {
		return "unknown"
	}
	return c.State
}

// Outcomes of the event log that belong to partner health: parked (held
// while the partner is paused) and dead_lettered (redrivable).
const (
	outcomeParked       = "parked"
	outcomeDeadLettered = "dead_lettered"
)

// Redrivable: a dead-lettered entry (the API redrives it by event id).
func (e entryView) Redrivable() bool { return e.Outcome == outcomeDeadLettered }

// Parked: held while the partner is paused; replayed when it resumes.
func (e entryView) Parked() bool { return e.Outcome == outcomeParked }

// maxPauseReason bounds the pause form's reason (characters).
const maxPauseReason = 200

func partnerURL(id string) string { return "/console/partners/" + url.PathEscape(id) }

func (c *Console) pauseAction(w http.ResponseWriter, r *http.Request, _ Identity) {
	id := r.PathValue("id")
	back := partnerURL(id)
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" || utf8.RuneCountInString(reason) > maxPauseReason {
		c.renderResult(w, r, onceResult{Status: http.StatusBadRequest, Result: actionResult{Title: "Pause", Failed: true,
			Message: "Say why you pause the partner (at most 200 characters): the reason is shown on the partner and with its held events.",
			Back:    back, BackTo: "the partner"}})
		return
	}
	res := c.once(r, func() onceResult {
		var out struct {
			Connection connectionView `json:"connection"`
		}
		st, ae, err := c.call(r.Context(), http.MethodPost, apiPath("partners", id, "pause"), map[string]any{"reason": reason}, &out)
		if ae != nil || err != nil {
			return c.failedResult(r, "Pause", st, ae, err, back, "the partner")
		}
		msg := "Partner " + id + " is paused: no ConnectWise call is made for it, and its events are held until an operator resumes it."
		return onceResult{Status: st, Result: actionResult{Title: "Pause", Back: back, BackTo: "the partner", Message: msg,
			Detail: pauseDetail(out.Connection)}}
	})
	c.renderResult(w, r, res)
}

func pauseDetail(cv connectionView) string {
	var parts []string
	if cv.PauseID != "" {
		parts = append(parts, "Pause "+cv.PauseID)
	}
	if cv.Parked > 0 {
		parts = append(parts, plural(cv.Parked, "event", "events")+" held")
	}
	return strings.Join(parts, "; ")
}

func (c *Console) resumeAction(w http.ResponseWriter, r *http.Request, _ Identity) {
	id := r.PathValue("id")
	back := partnerURL(id)
	res := c.once(r, func() onceResult {
		var out struct {
			Connection connectionView `json:"connection"`
			Replays    int            `json:"replays"`
		}
		st, ae, err := c.call(r.Context(), http.MethodPost, apiPath("partners", id, "resume"), nil, &out)
		if ae != nil || err != nil {
			return c.failedResult(r, "Resume", st, ae, err, back, "the partner")
		}
		msg := "Partner " + id + " is resumed: no event was held."
		if out.Replays > 0 {
			msg = "Partner " + id + " is resuming: " + plural(out.Replays, "held event is", "held events are") +
				" being replayed, each customer's in arrival order; new events wait behind them."
		}
		return onceResult{Status: st, Result: actionResult{Title: "Resume", Back: back, BackTo: "the partner", Message: msg}}
	})
	c.renderResult(w, r, res)
}

func (c *Console) redriveAction(w http.ResponseWriter, r *http.Request, _ Identity) {
	id := r.PathValue("id")
	back := "/console/partners/" + url.PathEscape(id) + "/events?outcome=" + outcomeDeadLettered
	eventID := strings.TrimSpace(r.PostFormValue("eventId"))
	all := r.PostFormValue("all") == "true"
	var body map[string]any
	switch {
	case eventID != "" && !all:
		body = map[string]any{"eventId": eventID}
	case eventID == "" && all:
		body = map[string]any{"all": true}
	default:
		c.renderResult(w, r, onceResult{Status: http.StatusBadRequest, Result: actionResult{Title: "Redrive", Failed: true,
			Message: "Choose one dead-lettered event, or all of them.", Back: back, BackTo: "the dead letters"}})
		return
	}
	res := c.once(r, func() onceResult {
		var out struct {
			Redriven int `json:"redriven"`
		}
		st, ae, err := c.call(r.Context(), http.MethodPost, apiPath("partners", id, "dead-letters", "redrive"), body, &out)
		if ae != nil || err != nil {
			return c.failedResult(r, "Redrive", st, ae, err, back, "the dead letters")
		}
		return onceResult{Status: st, Result: actionResult{Title: "Redrive", Back: back, BackTo: "the dead letters",
			Message: plural(out.Redriven, "dead-lettered event was", "dead-lettered events were") +
				" sent back to the queue; their new entries appear in the event log in a moment."}}
	})
	c.renderResult(w, r, res)
}
