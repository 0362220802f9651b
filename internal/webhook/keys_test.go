package webhook

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/signature"
)

func TestKeyCache(t *testing.T) {
	t.Parallel()
	var c keyCache
	a, b := signature.NewSecret(), signature.NewSecret()
	same := func(stored []string) {
		t.Helper()
		got, gotErr := c.usable(stored)
		want, wantErr := partner.UsableWebhookSecrets(stored)
		if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("%d stored: problem %v, want %v", len(stored), gotErr, wantErr)
		}
		if len(got) != len(want) {
			t.Fatalf("%d stored: %d keys, want %d", len(stored), len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%d stored: key %d differs", len(stored), i)
			}
		}
	}
	for range 2 { // decoded, then from the cache
		same([]string{a})
		same([]string{a, b})
		same([]string{b, a})
	}
	if len(c.keys) != 2 {
		t.Errorf("%d keys cached, want 2", len(c.keys))
	}
	// An unusable secret is never cached and its problem is named every time.
	for range 2 {
		same([]string{a, "whsec_short"})
		same([]string{"not-a-secret"})
		same(nil)
	}
	if len(c.keys) != 2 {
		t.Errorf("%d keys cached after unusable secrets, want 2", len(c.keys))
	}
	// Bounded: past maxCachedKeys the cache starts again.
	for range maxCachedKeys + 1 {
		same([]string{signature.NewSecret()})
	}
	if len(c.keys) > maxCachedKeys {
		t.Errorf("%d keys cached, want at most %d", len(c.keys), maxCachedKeys)
	}
	same([]string{a})
}

// A rotated secret takes effect at once: the cache is by the stored string.
func TestRotatedSecretIsUsedAtOnce(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	if resp := send(t, hs.h, validSpec(t)); resp.status != 202 {
		t.Fatalf("first: %d %s", resp.status, resp.body)
	}
	next := signature.NewSecret()
	hs.secrets.mu.Lock()
	hs.secrets.secrets[partner.DemoPartnerID] = []string{next}
	hs.secrets.mu.Unlock()
	req := validSpec(t)
	req.header[signature.HeaderID] = "msg_2"
	resign(t, req, now, partner.DemoWebhookSecret)
	if resp := send(t, hs.h, req); resp.status != 401 {
		t.Fatalf("signed with the replaced secret: %d %s, want 401", resp.status, resp.body)
	}
	resign(t, req, now, next)
	if resp := send(t, hs.h, req); resp.status != 202 {
		t.Fatalf("signed with the new secret: %d %s, want 202", resp.status, resp.body)
	}
}

// The accepted answer written without json.Marshal is json.Marshal's.
func TestAnswerEncoding(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"msg_1", "a.b:c-d_e~!#$%()*+,/;=?@[]^`{|}", `a"b`, `a\b`, "a<b", "a>b", "a&b", "é", "a\x7fb", ""} {
		for _, status := range []string{statusAccepted, statusDuplicate} {
			a := acceptedAnswer(id, status)
			got, err := a.encode()
			want, werr := json.Marshal(a.body)
			if err != nil || werr != nil || !bytes.Equal(got, want) {
				t.Errorf("id %q: encode = %s (%v), json.Marshal = %s (%v)", id, got, err, want, werr)
			}
		}
	}
}
