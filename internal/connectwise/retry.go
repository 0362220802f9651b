package connectwise

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// RetryPolicy says how Do retries. Zero fields take the defaults.
type RetryPolicy struct {
	// MaxAttempts is the number of tries, the first included (default 4;
	// 1 disables retries).
	MaxAttempts int
	// Base is the backoff ceiling of the first retry (default 500ms).
	Base time.Duration
	// Max caps the backoff ceiling (default 20s). A server's Retry-After
	// may ask for longer; it is honoured, bounded by the context deadline.
	Max time.Duration
	// Sleep waits d or until ctx is done (default: a timer honouring ctx).
	// Tests inject one that records the waits. Like Rand, it must be safe
	// for concurrent use when the client is shared.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1) for the jitter (default math/rand/v2).
	Rand func() float64
}

// Retry defaults.
const (
	DefaultMaxAttempts = 4
	DefaultRetryBase   = 500 * time.Millisecond
	DefaultRetryMax    = 20 * time.Second
)

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.Base <= 0 {
		p.Base = DefaultRetryBase
	}
	if p.Max <= 0 {
		p.Max = DefaultRetryMax
	}
	if p.Max < p.Base {
		p.Max = p.Base
	}
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	return p
}

// sleep waits d, or returns ctx's error as soon as ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Backoff returns the wait before the retry that follows failed try number
// attempt+1 (attempt counts from 0: 0 is the wait after the first failure).
//
// The schedule is full jitter: a random wait between 0 and base·2^attempt,
// capped at max (that is, rnd × min(base·2^attempt, max), with rnd in
// [0, 1)); when the server sent Retry-After, at least that. With the
// defaults (500ms, 20s) the ceilings are 0.5s, 1s, 2s, 4s, ... 20s.
// Backoff is pure: the caller supplies the random number.
func Backoff(attempt int, retryAfter time.Duration, base, max time.Duration, rnd float64) time.Duration {
	if attempt < 0 {
		attempt = 0
	}
	ceiling := base
	if ceiling < 0 {
		ceiling = 0
	}
	for i := 0; i < attempt && ceiling > 0; i++ {
		if (max > 0 && ceiling >= max) || ceiling > math.MaxInt64/2 {
			break
		}
		ceiling *= 2
	}
	if max > 0 && ceiling > max {
		ceiling = max
	}
	switch {
	case rnd < 0 || math.IsNaN(rnd):
		rnd = 0
	case rnd > 1:
		rnd = 1
	}
	d := time.Duration(rnd * float64(ceiling))
	if d < retryAfter {
		d = retryAfter
	}
	return d
}
