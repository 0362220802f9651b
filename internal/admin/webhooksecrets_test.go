package admin

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/signature"
)

// rotate asks for a new webhook secret.
func (e *env) rotate(id string) (int, map[string]any, string) {
	e.t.Helper()
	return e.do("POST", "/v1/admin/partners/"+id+"/webhook-secrets", map[string]any{"action": "rotate"})
}

// verifies reports whether the webhook, with the stored secrets of id,
// accepts a delivery signed with secret.
func (e *env) verifies(id, secret string) bool {
	e.t.Helper()
	s, ok := e.secrets.stored(e.t, id)
	if !ok {
		e.t.Fatalf("no secrets stored for %s", id)
	}
	keys, _ := partner.UsableWebhookSecrets(s.WebhookSecrets)
	key, err := signature.ParseSecret(secret)
	if err != nil {
		e.t.Fatal(err)
	}
	now := time.Now()
	body := []byte(`{"type":"test"}`)
	return signature.Verify(keys, "msg_1", strconv.FormatInt(now.Unix(), 10), signature.Sign(key, "msg_1", now, body), body, now) == nil
}

// TestRotateWebhookSecret: rotate returns a new secret once (whsec_ and 32
// random bytes), keeps the current ones so that the sender can switch over,
// leaves the ConnectWise keys and their binding as stored, and the webhook
// accepts signatures made with it; retire keeps only the newest.
func TestRotateWebhookSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(partnerJSON("acme"), 1)
	before, _ := e.secrets.stored(t, "acme")

	code, m, raw := e.rotate("acme")
	if code != http.StatusOK || m["count"] != float64(2) {
		t.Fatalf("rotate: %d %s", code, raw)
	}
	secret, _ := m["secret"].(string)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if !strings.HasPrefix(secret, "whsec_") || err != nil || len(key) != 32 {
		t.Fatalf("secret %q is not whsec_ + base64 of 32 bytes", secret)
	}
	if err := partner.CheckWebhookSecrets([]string{secret}); err != nil {
		t.Errorf("the new secret breaks the API's own rule: %v", err)
	}
	after, _ := e.secrets.stored(t, "acme")
	if !slices.Equal(after.WebhookSecrets, []string{whsec(1), secret}) {
		t.Errorf("stored webhook secrets: %d, want the old one then the new one", len(after.WebhookSecrets))
	}
	if after.PublicKey != before.PublicKey || after.PrivateKey != before.PrivateKey || after.ClientID != before.ClientID ||
		after.SiteURL != before.SiteURL || after.CompanyID != before.CompanyID || after.SiteURL == "" {
		t.Errorf("rotation changed the ConnectWise keys or their binding")
	}
	if !e.verifies("acme", secret) || !e.verifies("acme", whsec(1)) {
		t.Errorf("the webhook does not accept both the new and the old secret during the switch-over")
	}
	// Shown once: never again by GET.
	if _, _, raw := e.do("GET", "/v1/admin/partners/acme", nil); strings.Contains(raw, secret) || strings.Contains(raw, whsec(1)) {
		t.Errorf("GET shows a webhook secret: %s", raw)
	}
	// A second rotation: another secret.
	_, m2, _ := e.rotate("acme")
	if m2["secret"] == secret || m2["count"] != float64(3) {
		t.Errorf("second rotation: %v", m2["count"])
	}
	newest := m2["secret"].(string)

	code, m, raw = e.do("POST", "/v1/admin/partners/acme/webhook-secrets", map[string]any{"action": "retire"})
	if code != http.StatusOK || m["count"] != float64(1) || m["secret"] != nil {
		t.Fatalf("retire: %d %s", code, raw)
	}
	if s, _ := e.secrets.stored(t, "acme"); !slices.Equal(s.WebhookSecrets, []string{newest}) {
		t.Errorf("retire kept %d secrets, want only the newest", len(s.WebhookSecrets))
	}
	if !e.verifies("acme", newest) || e.verifies("acme", whsec(1)) || e.verifies("acme", secret) {
		t.Errorf("after retire the webhook must accept the newest secret only")
	}
}

// TestWebhookSecretsRefusals: a bad body, an unknown partner, one without
// secrets, too many secrets, and a failed write (nothing changed).
func TestWebhookSecretsRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(partnerJSON("acme"), 1)
	for _, body := range []any{`{"action": "delete"}`, `{}`, `{"action": "rotate", "secret": "whsec_x"}`, `[`} {
		if code, m, raw := e.do("POST", "/v1/admin/partners/acme/webhook-secrets", body); code != http.StatusBadRequest || m["field"] != "action" {
			t.Errorf("body %v: %d %s, want 400 naming action", body, code, raw)
		}
	}
	if code, _, raw := e.rotate("nobody"); code != http.StatusNotFound {
		t.Errorf("unknown partner: %d %s", code, raw)
	}
	if err := e.store.Create(context.Background(), &partner.Partner{ID: "bare", Name: "Bare", SiteURL: "https://api-na.myconnectwise.net", CompanyID: "bare"}); err != nil {
		t.Fatal(err)
	}
	if code, m, raw := e.rotate("bare"); code != http.StatusConflict || m["field"] != "secrets" {
		t.Errorf("partner without secrets: %d %s", code, raw)
	}
	if _, ok := e.secrets.stored(t, "bare"); ok {
		t.Errorf("rotation created secrets without ConnectWise keys")
	}

	e.secrets.set(errors.New("secrets manager is down"), nil)
	code, _, raw := e.rotate("acme")
	if code != http.StatusServiceUnavailable || strings.Contains(raw, "whsec_") {
		t.Errorf("failed write: %d %s, want 503 without a secret", code, raw)
	}
	e.secrets.set(nil, nil)
	if s, _ := e.secrets.stored(t, "acme"); len(s.WebhookSecrets) != 1 {
		t.Errorf("a failed rotation changed the stored secrets")
	}

	for range MaxWebhookSecrets - 1 {
		if code, _, raw := e.rotate("acme"); code != http.StatusOK {
			t.Fatalf("rotate: %d %s", code, raw)
		}
	}
	if code, m, raw := e.rotate("acme"); code != http.StatusConflict || m["field"] != "action" || strings.Contains(raw, "whsec_") {
		t.Errorf("rotation beyond %d secrets: %d %s", MaxWebhookSecrets, code, raw)
	}
}

// TestRotateDropsUnusableSecrets: a stored secret the webhook cannot use
// (stored before the rule) verifies nothing, so rotation drops it; a usable
// one older than the rule is kept until retired.
func TestRotateDropsUnusableSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(partnerJSON("acme"), 1)
	s, _ := e.secrets.stored(t, "acme")
	weak := "whsec_" + base64.StdEncoding.EncodeToString([]byte("sixteen-byte-key")) // usable by the verifier, below the rule
	if _, err := signature.ParseSecret(weak); err != nil {
		t.Skipf("the verifier no longer accepts 16-byte keys: %v", err)
	}
	s.WebhookSecrets = []string{"whsec_short", weak}
	if err := e.secrets.file.PutSecrets(context.Background(), "acme", s); err != nil {
		t.Fatal(err)
	}
	code, m, raw := e.rotate("acme")
	if code != http.StatusOK {
		t.Fatalf("rotate: %d %s", code, raw)
	}
	after, _ := e.secrets.stored(t, "acme")
	if !slices.Equal(after.WebhookSecrets, []string{weak, m["secret"].(string)}) {
		t.Errorf("stored %d secrets, want the usable old one and the new one", len(after.WebhookSecrets))
	}
	if code, _, raw := e.do("POST", "/v1/admin/partners/acme/webhook-secrets", map[string]any{"action": "retire"}); code != http.StatusOK {
		t.Fatalf("retire: %d %s", code, raw)
	}
	if after, _ := e.secrets.stored(t, "acme"); partner.CheckWebhookSecrets(after.WebhookSecrets) != nil {
		t.Errorf("after retire the stored secrets break the rule")
	}
}
