package partner_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/partner"
)

// slowStore is a SecretStore whose reads can be held: a read started before
// a write returns after it.
type slowStore struct {
	mu      sync.Mutex
	s       map[string]partner.Secrets
	hold    chan struct{} // a read waits on it when not nil
	reading chan struct{} // closed once a held read has read
}

func (st *slowStore) GetSecrets(_ context.Context, id string) (partner.Secrets, error) {
	st.mu.Lock()
	s, ok := st.s[id]
	hold, reading := st.hold, st.reading
	st.mu.Unlock()
	if hold != nil {
		close(reading)
		<-hold
	}
	if !ok {
		return partner.Secrets{}, partner.ErrNotFound
	}
	return s, nil
}

func (st *slowStore) PutSecrets(_ context.Context, id string, s partner.Secrets) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.s[id] = s
	return nil
}

// TestCachedSecretsReadOvertakenByWrite: a read that began before a
// PutSecrets and returns after it must not cache the old secrets: after the
// write, the function that wrote reads the new ones at once, not after the
// TTL.
func TestCachedSecretsReadOvertakenByWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &slowStore{s: map[string]partner.Secrets{"acme": {PublicKey: "old"}}}
	c := &partner.CachedSecrets{Store: st, TTL: time.Hour}

	st.hold, st.reading = make(chan struct{}), make(chan struct{})
	done := make(chan partner.Secrets)
	go func() {
		s, err := c.GetSecrets(ctx, "acme")
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	<-st.reading // the read has the old secrets in hand
	st.mu.Lock()
	hold := st.hold
	st.hold = nil
	st.mu.Unlock()
	if err := c.PutSecrets(ctx, "acme", partner.Secrets{PublicKey: "new"}); err != nil {
		t.Fatal(err)
	}
	close(hold)
	if s := <-done; s.PublicKey != "old" {
		t.Fatalf("the overtaken read returned %q", s.PublicKey)
	}
	s, err := c.GetSecrets(ctx, "acme")
	if err != nil || s.PublicKey != "new" {
		t.Fatalf("after PutSecrets: %q, %v; want the new secrets, not the old ones cached by a read the write overtook", s.PublicKey, err)
	}

	// And the plain case: a cached copy is forgotten by PutSecrets.
	if err := c.PutSecrets(ctx, "acme", partner.Secrets{PublicKey: "newer"}); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.GetSecrets(ctx, "acme"); s.PublicKey != "newer" {
		t.Fatalf("after a second PutSecrets: %q", s.PublicKey)
	}
}
