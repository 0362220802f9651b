package contract

import (
	"strconv"
	"time"
)

// MaxClockSkew is how far ahead of the receiver's clock a time of an event
// may be. An event cannot have happened in the future; a few minutes allow
// for the sender's clock being a little ahead (the same tolerance as the
// webhook-timestamp of the signature). An event's times in the past are
// never refused: late and retried events are normal.
const MaxClockSkew = 5 * time.Minute

// clockProblem is the problem of a time too far ahead.
var clockProblem = "must not be more than " + strconv.Itoa(int(MaxClockSkew/time.Minute)) +
	" minutes ahead of the receiver's clock (an event cannot be in the future; check the sender's clock)"

// CheckClock refuses an event whose occurredAt, backup.endedAt or
// backup.startedAt is more than MaxClockSkew ahead of now (the receiver's
// clock): a *ValidationError naming the field, which the webhook answers
// 400 {"error", "field"} like any contract violation. It returns nil (an
// untyped nil error) when the times are fine. A time exactly MaxClockSkew
// ahead is accepted.
//
// It is separate from Validate because it depends on the time of receipt:
// a queued event is checked against the time it was received, not against
// the time it is processed.
func CheckClock(e *Event, now time.Time) error {
	if e == nil {
		return nil
	}
	latest := now.Add(MaxClockSkew)
	ahead := func(t time.Time) bool { return !t.IsZero() && t.After(latest) }
	switch {
	case ahead(e.OccurredAt):
		return &ValidationError{Field: "occurredAt", Problem: clockProblem}
	case e.Backup != nil && e.Backup.StartedAt != nil && ahead(*e.Backup.StartedAt):
		return &ValidationError{Field: "backup.startedAt", Problem: clockProblem}
	case e.Backup != nil && ahead(e.Backup.EndedAt):
		return &ValidationError{Field: "backup.endedAt", Problem: clockProblem}
	}
	return nil
}

// ParseAt is Parse followed by CheckClock at now: the body as the webhook
// receives it at time now. Every failure is a *ValidationError.
func ParseAt(body []byte, now time.Time) (*Event, error) {
	e, err := Parse(body)
	if err != nil {
		return nil, err
	}
	if err := CheckClock(e, now); err != nil {
		return nil, err
	}
	return e, nil
}
