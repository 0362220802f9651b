package localaws

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Every calls fn once per interval until ctx is done, the local stand-in for
// an EventBridge schedule rule: the first call comes one interval after the
// start, calls never overlap (a slow fn delays the next tick), and an error or
// a panic in fn is logged and the schedule goes on. Every blocks; run it in
// its own goroutine. log nil means slog.Default().
func Every(ctx context.Context, interval time.Duration, fn func(ctx context.Context) error, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	if interval <= 0 {
		log.ErrorContext(ctx, "schedule: interval must be positive", "interval", interval)
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := callScheduled(ctx, fn)
		if err != nil && ctx.Err() == nil {
			attrs := []any{"err", err}
			var pe *PanicError
			if errors.As(err, &pe) {
				attrs = append(attrs, "stack", string(pe.Stack))
			}
			log.ErrorContext(ctx, "schedule: invocation failed", attrs...)
		}
	}
}

func callScheduled(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return fn(ctx)
}

// ScheduledEvent is the event EventBridge sends a function from a schedule
// rule named rule at time t, for callers of Every that invoke a handler
// taking events.EventBridgeEvent.
func ScheduledEvent(t time.Time, rule string) events.EventBridgeEvent {
	return events.EventBridgeEvent{
		Version:    "0",
		ID:         newEventID(),
		DetailType: "Scheduled Event",
		Source:     "aws.events",
		AccountID:  AccountID,
		Time:       t.UTC().Truncate(time.Second),
		Region:     Region,
		Resources:  []string{"arn:aws:events:" + Region + ":" + AccountID + ":rule/" + rule},
		Detail:     json.RawMessage("{}"),
	}
}

// newEventID is a random UUID (version 4), the shape of EventBridge's ids.
func newEventID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
