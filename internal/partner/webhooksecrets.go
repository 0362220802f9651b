package partner

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/efs-cw/backupbridge/internal/signature"
)

// Bounds of a webhook signing secret an operator may store: "whsec_"
// followed by the standard base64 of MinWebhookSecretBytes to
// MaxWebhookSecretBytes key bytes. They lie inside what package signature
// can verify with (signature.MinSecretBytes to signature.MaxSecretBytes),
// so every secret the operator API accepts is one the webhook can use.
const (
	MinWebhookSecretBytes = 24
	MaxWebhookSecretBytes = 64
)

// webhookSecretRule says what a webhook secret must be, for the operator.
var webhookSecretRule = fmt.Sprintf("must be %s followed by the standard base64 (A–Z, a–z, 0–9, '+', '/', '=' padding) of %d to %d random bytes, with no spaces, e.g. %s plus 44 base64 characters for 32 bytes",
	signature.SecretPrefix, MinWebhookSecretBytes, MaxWebhookSecretBytes, signature.SecretPrefix)

// CheckWebhookSecrets applies the operator API's rule to a list of webhook
// signing secrets: at least one, each "whsec_" + standard base64 of 24 to 64
// decoded bytes (decoded exactly as package signature decodes it). It
// returns an *InvalidError naming the first bad entry
// ("secrets.webhookSecrets[1]") and what is allowed; the error never
// repeats a secret. Secrets.Validate uses it; the doctor can call it on the
// stored list to report a secret that works but is weaker than the rule.
func CheckWebhookSecrets(secrets []string) error {
	if len(secrets) == 0 {
		return invalid("secrets.webhookSecrets", "at least one webhook signing secret is required; each %s", webhookSecretRule)
	}
	for i, s := range secrets {
		if err := checkWebhookSecret(s); err != nil {
			return &InvalidError{Field: fmt.Sprintf("secrets.webhookSecrets[%d]", i), Problem: err.Error()}
		}
	}
	return nil
}

func checkWebhookSecret(s string) error {
	if s != strings.TrimSpace(s) {
		return fmt.Errorf("has leading or trailing spaces (a copy-and-paste slip); it %s", webhookSecretRule)
	}
	enc, ok := strings.CutPrefix(s, signature.SecretPrefix)
	if !ok {
		return fmt.Errorf("does not start with %s; it %s", signature.SecretPrefix, webhookSecretRule)
	}
	// The same decoding as signature.ParseSecret: padded, or padding left off.
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(enc)
	}
	if err != nil {
		return fmt.Errorf("is not %s followed by standard base64; it %s", signature.SecretPrefix, webhookSecretRule)
	}
	if len(key) < MinWebhookSecretBytes || len(key) > MaxWebhookSecretBytes {
		return fmt.Errorf("decodes to %d bytes; it %s", len(key), webhookSecretRule)
	}
	if _, err := signature.ParseSecret(s); err != nil { // cannot happen: the bounds lie inside the verifier's
		return fmt.Errorf("cannot be used to verify signatures; it %s", webhookSecretRule)
	}
	return nil
}

// UsableWebhookSecrets tells, at request time, which of a partner's stored
// webhook secrets the webhook can verify signatures with. keys are the
// decoded keys of the usable ones (those package signature accepts: this is
// deliberately the verifier's rule, not the stricter CheckWebhookSecrets,
// so that a secret stored before that rule keeps working). problem is nil
// when every stored secret is usable; otherwise an *InvalidError naming the
// first unusable entry (or "secrets.webhookSecrets" when none is stored),
// never repeating a secret.
//
// The webhook answers a partner with no usable key like a bad signature
// (401, the sender cannot fix our configuration and a 503 would make it
// retry for nothing) and logs problem as an error; with some usable keys it
// verifies with those and logs problem as a warning.
func UsableWebhookSecrets(stored []string) (keys [][]byte, problem error) {
	if len(stored) == 0 {
		return nil, invalid("secrets.webhookSecrets", "no webhook signing secret is stored for the partner; set one with PUT /v1/admin/partners/{id} (each %s)", webhookSecretRule)
	}
	keys = make([][]byte, 0, len(stored))
	for i, s := range stored {
		k, err := signature.ParseSecret(s)
		if err != nil {
			if problem == nil {
				problem = &InvalidError{Field: fmt.Sprintf("secrets.webhookSecrets[%d]", i),
					Problem: fmt.Sprintf("the stored secret cannot be used to verify signatures (%s); replace it with PUT /v1/admin/partners/{id}: it %s", strings.TrimPrefix(err.Error(), "signature: "), webhookSecretRule)}
			}
			continue
		}
		keys = append(keys, k)
	}
	return keys, problem
}
