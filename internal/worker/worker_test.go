package worker

import (
	"testing"
	"time"
)

func TestRetryDelayDoublesUpToFiveMinutes(t *testing.T) {
	// Ten receives add up to about 25 minutes before the DLQ.
	total := time.Duration(0)
	for n := 1; n < 10; n++ {
		total += RetryDelay(0, n)
	}
	if total < 20*time.Minute || total > 30*time.Minute {
		t.Errorf("retry window before the DLQ = %v, want about 25 minutes", total)
	}
	cases := []struct {
		n    int
		want time.Duration
	}{{0, 10 * time.Second}, {1, 10 * time.Second}, {2, 20 * time.Second}, {4, 80 * time.Second}, {6, 5 * time.Minute}, {50, 5 * time.Minute}}
	for _, c := range cases {
		if got := RetryDelay(0, c.n); got != c.want {
			t.Errorf("RetryDelay(receive %d) = %v, want %v", c.n, got, c.want)
		}
	}
	if got := RetryDelay(time.Second, 3); got != 4*time.Second {
		t.Errorf("base 1s, third receive: %v", got)
	}
}
