package admin

// POST /v1/admin/partners/{id}/webhook-secrets: rotate or retire a
// partner's webhook signing secrets without sending its ConnectWise keys.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/signature"
)

const (
	// NewWebhookSecretBytes is the key size of a generated webhook secret.
	NewWebhookSecretBytes = 32
	// MaxWebhookSecrets is the most signing secrets a partner keeps: a
	// rotation beyond it is refused until the old ones are retired.
	MaxWebhookSecrets = 5
)

// newWebhookSecret returns "whsec_" + the standard base64 of
// NewWebhookSecretBytes bytes from crypto/rand.
func newWebhookSecret() (string, error) {
	key := make([]byte, NewWebhookSecretBytes)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("generate a webhook secret: %w", err)
	}
	return signature.SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// webhookSecrets answers POST /v1/admin/partners/{id}/webhook-secrets:
//
//   - {"action": "rotate"}: a new secret (crypto/rand, 32 bytes) is added
//     after the stored ones, which are kept so that the sender can switch
//     over; the answer, 200 {"secret", "count"}, is the only place the new
//     secret is ever shown. Stored secrets the webhook cannot use at all
//     are dropped on the way (they verify nothing).
//   - {"action": "retire"}: only the newest (the last) secret is kept;
//     200 {"count": 1}.
//
// The ConnectWise keys and their binding are written back exactly as
// stored. Order, as for every secrets write of the API: the partner is read
// (404; a partner that does not decode is still served: rotating its
// webhook secret needs none of its settings), then its secrets (409 when
// none are stored), the new list is checked (partner.CheckWebhookSecrets),
// and only then written.
func (a *API) webhookSecrets(id string, r *http.Request) response {
	ctx := r.Context()
	var b struct {
		Action string `json:"action"`
	}
	r.Body = io.NopCloser(io.LimitReader(r.Body, 4<<10))
	if err := decode(r, &b); err != nil || (b.Action != "rotate" && b.Action != "retire") {
		return reply(http.StatusBadRequest, errBody(`body must be {"action": "rotate"} (add a new secret, keeping the current ones) or {"action": "retire"} (keep only the newest)`, "action"))
	}
	if _, err := a.Partners.Get(ctx, id); errors.Is(err, partner.ErrNotFound) {
		return reply(http.StatusNotFound, errBody("no partner "+id, ""))
	} else if err != nil && !errors.Is(err, partner.ErrUnreadable) {
		return a.internal(ctx, err)
	}
	s, found, err := a.secrets(ctx, id)
	if err != nil {
		return a.internal(ctx, err)
	}
	if !found {
		return reply(http.StatusConflict, errBody("no secrets are stored for partner "+id+": PUT the partner with its secrets (ConnectWise keys and a webhook secret) first", "secrets"))
	}
	var secret string
	switch b.Action {
	case "rotate":
		var kept []string
		for _, old := range s.WebhookSecrets {
			if keys, _ := partner.UsableWebhookSecrets([]string{old}); len(keys) == 1 {
				kept = append(kept, old)
			}
		}
		if len(kept) >= MaxWebhookSecrets {
			return reply(http.StatusConflict, errBody(fmt.Sprintf("partner %s already has %d webhook signing secrets: retire the old ones first (once the sender signs with the newest)", id, len(kept)), "action"))
		}
		if secret, err = newWebhookSecret(); err != nil {
			return a.internal(ctx, err)
		}
		// The new secret meets the operator API's rule; the kept ones are
		// those the webhook verifies with today (one stored before the
		// rule is kept while the sender may still sign with it: the
		// doctor names it, and retiring drops it).
		if err := partner.CheckWebhookSecrets([]string{secret}); err != nil {
			return a.internal(ctx, err)
		}
		s.WebhookSecrets = append(kept, secret)
		if _, unusable := partner.UsableWebhookSecrets(s.WebhookSecrets); unusable != nil {
			return a.internal(ctx, unusable)
		}
	case "retire":
		if len(s.WebhookSecrets) == 0 {
			return reply(http.StatusConflict, errBody("no webhook signing secret is stored: rotate to create one", "action"))
		}
		newest := s.WebhookSecrets[len(s.WebhookSecrets)-1]
		if err := partner.CheckWebhookSecrets([]string{newest}); err != nil {
			return reply(http.StatusConflict, errBody("the newest stored webhook secret does not meet the rule for secrets, so it cannot be kept alone: rotate first, switch the sender to the new secret, then retire", "action"))
		}
		s.WebhookSecrets = []string{newest}
	}
	ctx = context.WithoutCancel(ctx) // once written, finish even if the caller goes away
	if err := a.Secrets.PutSecrets(ctx, id, s); err != nil {
		a.logError(ctx, "webhook secrets not stored", err)
		return reply(http.StatusServiceUnavailable, errBody("the webhook secrets could not be stored: nothing changed; try again", ""))
	}
	if secret != "" {
		// Secrets Manager has no conditional write: a concurrent rotation
		// could have replaced this one. Never show a secret that is not
		// stored.
		now, found, err := a.secrets(ctx, id)
		if err != nil {
			return a.internal(ctx, err)
		}
		if !found || !slices.Contains(now.WebhookSecrets, secret) {
			return reply(http.StatusConflict, errBody("the webhook secrets were changed by someone else at the same time, so the new secret was not kept: read them again and retry", "action"))
		}
	}
	out := map[string]any{"count": len(s.WebhookSecrets)}
	if secret != "" {
		out["secret"] = secret
	}
	return reply(http.StatusOK, out)
}
