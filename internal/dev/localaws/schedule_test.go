package localaws_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/dev/localaws"
)

func TestEveryKeepsGoingAfterErrorsAndPanics(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	var calls atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		localaws.Every(ctx, 5*time.Millisecond, func(ctx context.Context) error {
			switch calls.Add(1) {
			case 1:
				return errors.New("transient")
			case 2:
				panic("bad")
			case 4:
				cancel()
			}
			return nil
		}, slog.New(slog.DiscardHandler))
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Every did not stop after cancel")
	}
	if n := calls.Load(); n != 4 {
		t.Fatalf("fn called %d times, want 4 (error and panic survived, stopped on cancel)", n)
	}
}

func TestScheduledEvent(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 5, 1, 3, 0, 0, 0, time.UTC)
	ev := localaws.ScheduledEvent(at, "resync-daily")
	if ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" || !ev.Time.Equal(at) ||
		len(ev.Resources) != 1 || ev.Resources[0] != "arn:aws:events:us-east-1:100010001000:rule/resync-daily" ||
		len(ev.ID) != 36 || string(ev.Detail) != "{}" {
		t.Fatalf("ScheduledEvent = %+v", ev)
	}
}
