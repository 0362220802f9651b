package worker

import (
	"context"
	"net/http"
	"sync/atomic"
)

// callCounterKey carries a per-message counter of ConnectWise HTTP calls.
type callCounterKey struct{}

func withCallCounter(ctx context.Context, n *atomic.Int64) context.Context {
	return context.WithValue(ctx, callCounterKey{}, n)
}

// countingTransport counts every HTTP request (retries included) made with a
// context that carries a counter: the "ConnectWise calls" of the event log.
type countingTransport struct{ base http.RoundTripper }

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if n, ok := r.Context().Value(callCounterKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
	return t.base.RoundTrip(r)
}

// countingClient returns a copy of hc whose transport counts calls.
func countingClient(hc *http.Client) *http.Client {
	c := *hc
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = countingTransport{base: base}
	return &c
}
