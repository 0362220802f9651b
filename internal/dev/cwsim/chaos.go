package cwsim

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ChaosKind is one kind of random misbehaviour of the chaos mode.
type ChaosKind int

// Kinds of chaos.
const (
	// ChaosRateLimited answers 429 with a short Retry-After (Chaos.RetryAfter),
	// without applying the request.
	ChaosRateLimited ChaosKind = iota
	// ChaosServerError answers 500 without applying the request.
	ChaosServerError
	// ChaosLostUnapplied drops the connection without applying the request
	// (a connection lost in front of ConnectWise).
	ChaosLostUnapplied
	// ChaosLostApplied applies the request, then drops the connection: the
	// client never learns that it succeeded (a ticket created whose answer
	// was lost).
	ChaosLostApplied
	// ChaosSlow holds the answer back Chaos.Slow (below the client's
	// timeout), then applies the request and answers normally.
	ChaosSlow
)

// AllChaosKinds are every kind, the default of Chaos.Kinds.
var AllChaosKinds = []ChaosKind{ChaosRateLimited, ChaosServerError, ChaosLostUnapplied, ChaosLostApplied, ChaosSlow}

func (k ChaosKind) String() string {
	switch k {
	case ChaosRateLimited:
		return "429"
	case ChaosServerError:
		return "500"
	case ChaosLostUnapplied:
		return "lost-unapplied"
	case ChaosLostApplied:
		return "lost-applied"
	case ChaosSlow:
		return "slow"
	}
	return fmt.Sprintf("ChaosKind(%d)", int(k))
}

// Chaos is the random fault mode (SetChaos): each request that no injected
// Fault matched and that Exempt does not exempt is, with probability Rate,
// answered by one of Kinds, picked uniformly.
//
// The decisions come from one random sequence seeded with Seed, drawn once
// per request considered: the same requests in the same order meet the same
// faults. (Under concurrency the order of the requests, and so which one
// meets which fault, varies; the rate and the mix do not.)
type Chaos struct {
	// Rate is the probability, 0 to 1, that a request meets a fault
	// (0 turns the chaos mode off).
	Rate float64
	// Seed seeds the random sequence.
	Seed int64
	// Kinds are the faults to pick from (default AllChaosKinds).
	Kinds []ChaosKind
	// RetryAfter is the Retry-After of ChaosRateLimited (default 1s).
	RetryAfter time.Duration
	// Slow is the delay of ChaosSlow (default 200ms); keep it below the
	// client's timeout, or it is a lost answer.
	Slow time.Duration
	// Exempt, when set, spares the requests it returns true for (method,
	// path relative to the API base as in Fault.Path); they draw no number.
	Exempt func(method, path string) bool
}

// chaosMode is the running chaos mode: its settings, its random sequence
// and what it injected.
type chaosMode struct {
	mu     sync.Mutex
	c      Chaos
	rng    *rand.Rand
	seen   int
	counts map[ChaosKind]int
}

// SetChaos turns the chaos mode on with c, restarting its random sequence
// and its counts, or off when c.Rate <= 0. Injected faults (Inject) still
// come first.
func (s *Sim) SetChaos(c Chaos) {
	if c.Rate <= 0 {
		s.chaos.Store(nil)
		return
	}
	c.Rate = min(c.Rate, 1)
	if len(c.Kinds) == 0 {
		c.Kinds = AllChaosKinds
	}
	c.Kinds = append([]ChaosKind(nil), c.Kinds...)
	if c.RetryAfter <= 0 {
		c.RetryAfter = time.Second
	}
	if c.Slow <= 0 {
		c.Slow = 200 * time.Millisecond
	}
	seed := uint64(c.Seed)
	s.chaos.Store(&chaosMode{c: c, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), counts: map[ChaosKind]int{}})
}

// ChaosStats reports how many requests the chaos mode considered (those
// not exempt and not taken by an injected fault) and how many of each kind
// of fault it injected since SetChaos.
func (s *Sim) ChaosStats() (considered int, injected map[ChaosKind]int) {
	m := s.chaos.Load()
	injected = map[ChaosKind]int{}
	if m == nil {
		return 0, injected
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, n := range m.counts {
		injected[k] = n
	}
	return m.seen, injected
}

// chaosFault draws the chaos mode's decision for one request: nil when the
// mode is off, the request is exempt, or it escapes.
func (s *Sim) chaosFault(method, rel string) *Fault {
	m := s.chaos.Load()
	if m == nil {
		return nil
	}
	if m.c.Exempt != nil && m.c.Exempt(strings.ToUpper(method), rel) {
		return nil
	}
	m.mu.Lock()
	m.seen++
	hit := m.rng.Float64() < m.c.Rate
	var kind ChaosKind
	if hit {
		kind = m.c.Kinds[m.rng.IntN(len(m.c.Kinds))]
		m.counts[kind]++
	}
	m.mu.Unlock()
	if !hit {
		return nil
	}
	switch kind {
	case ChaosRateLimited:
		return &Fault{Status: http.StatusTooManyRequests, RetryAfter: m.c.RetryAfter}
	case ChaosServerError:
		return &Fault{Status: http.StatusInternalServerError}
	case ChaosLostUnapplied:
		return &Fault{Status: http.StatusServiceUnavailable, LoseResponse: true}
	case ChaosLostApplied:
		return &Fault{LoseResponse: true}
	case ChaosSlow:
		return &Fault{Delay: m.c.Slow}
	}
	return nil
}
