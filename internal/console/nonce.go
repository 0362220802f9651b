package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"
)

// nonceTTL is how long a form nonce's first result is remembered.
const nonceTTL = 10 * time.Minute

// onceResult is the remembered answer to the first POST with a nonce.
type onceResult struct {
	Status int
	Result actionResult
}

type nonceStore struct {
	mu   sync.Mutex
	now  func() time.Time
	seen map[string]*nonceEntry
}

type nonceEntry struct {
	done chan struct{}
	res  onceResult
	at   time.Time
}

func newNonceStore(now func() time.Time) *nonceStore {
	return &nonceStore{now: now, seen: map[string]*nonceEntry{}}
}

// newNonce is a fresh random nonce, signed so a forged one is not stored.
func (c *Console) newNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	n := base64.RawURLEncoding.EncodeToString(b)
	return n + "." + c.nonceMAC(n)
}

func (c *Console) nonceMAC(n string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("bb-console-nonce\x00" + n))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

func (c *Console) validNonce(s string) bool {
	n, mac, ok := strings.Cut(s, ".")
	return ok && n != "" && hmac.Equal([]byte(mac), []byte(c.nonceMAC(n)))
}

// once runs do for the first POST carrying the form's nonce (field nonce)
// and remembers its result for nonceTTL: a repeated POST with the same
// nonce (a double click, a reload that resubmits) gets the first result, and
// do is not called again. A request without a valid nonce runs do.
func (c *Console) once(r *http.Request, do func() onceResult) onceResult {
	n := r.PostFormValue("nonce")
	if !c.validNonce(n) {
		return do()
	}
	// The same form sent again: same person, same action, same nonce.
	key := r.URL.Path + "\x00" + n
	if id, ok := c.identify(r); ok {
		key = id.Subject + "\x00" + key
	}
	s := c.nonces
	s.mu.Lock()
	now := s.now()
	for k, e := range s.seen {
		if now.Sub(e.at) > nonceTTL {
			select {
			case <-e.done:
				delete(s.seen, k)
			default:
			}
		}
	}
	if e, ok := s.seen[key]; ok {
		s.mu.Unlock()
		<-e.done
		return e.res
	}
	e := &nonceEntry{done: make(chan struct{}), at: now}
	s.seen[key] = e
	s.mu.Unlock()
	defer close(e.done)
	e.res = do()
	return e.res
}
