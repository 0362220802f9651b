package worker

import (
	"testing"
	"time"
)

func TestRetryDelayDoublesUpToFiveMinutes(t *testing.T) {
	cases := []struct {
		n    int
		want time.Duration
	}{{0, 5 * time.Second}, {1, 5 * time.Second}, {2, 10 * time.Second}, {4, 40 * time.Second}, {7, 5 * time.Minute}, {50, 5 * time.Minute}}
	for _, c := range cases {
		if got := RetryDelay(0, c.n); got != c.want {
			t.Errorf("RetryDelay(receive %d) = %v, want %v", c.n, got, c.want)
		}
	}
	if got := RetryDelay(time.Second, 3); got != 4*time.Second {
		t.Errorf("base 1s, third receive: %v", got)
	}
}
