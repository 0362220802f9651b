package partner

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/efs-cw/backupbridge/internal/signature"
)

func secretOf(n int) string {
	return signature.SecretPrefix + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xa5}, n))
}

func okSecrets() Secrets {
	return Secrets{PublicKey: "pub", PrivateKey: "priv", ClientID: "c", WebhookSecrets: []string{secretOf(32)}}
}

func TestSecretsValidateWebhookSecrets(t *testing.T) {
	for name, ws := range map[string][]string{
		"24 bytes":         {secretOf(24)},
		"64 bytes":         {secretOf(64)},
		"new secret":       {signature.NewSecret()},
		"demo":             {DemoWebhookSecret},
		"padding left off": {strings.TrimRight(secretOf(25), "=")},
		"two (rotation)":   {secretOf(32), secretOf(40)},
	} {
		s := okSecrets()
		s.WebhookSecrets = ws
		if err := s.Validate(); err != nil {
			t.Errorf("%s: refused: %v", name, err)
		}
		// Whatever the operator API accepts, the webhook can verify with.
		if keys, problem := UsableWebhookSecrets(ws); problem != nil || len(keys) != len(ws) {
			t.Errorf("%s: accepted but not usable: %d keys, %v", name, len(keys), problem)
		}
	}

	cases := []struct {
		name  string
		ws    []string
		field string
		says  string
	}{
		{"whsec_short (3 bytes)", []string{"whsec_short"}, "secrets.webhookSecrets[0]", "standard base64"},
		{"3 decoded bytes", []string{"whsec_c2hv"}, "secrets.webhookSecrets[0]", "decodes to 3 bytes"},
		{"16 bytes", []string{secretOf(16)}, "secrets.webhookSecrets[0]", "decodes to 16 bytes"},
		{"23 bytes", []string{secretOf(23)}, "secrets.webhookSecrets[0]", "24 to 64"},
		{"65 bytes", []string{secretOf(65)}, "secrets.webhookSecrets[0]", "decodes to 65 bytes"},
		{"second bad", []string{secretOf(32), "whsec_short"}, "secrets.webhookSecrets[1]", "whsec_"},
		{"no prefix", []string{base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))}, "secrets.webhookSecrets[0]", "does not start with whsec_"},
		{"url-safe base64", []string{"whsec_" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))}, "secrets.webhookSecrets[0]", "standard base64"},
		{"pasted space", []string{secretOf(32) + " "}, "secrets.webhookSecrets[0]", "spaces"},
		{"none", nil, "secrets.webhookSecrets", "at least one"},
		{"empty list", []string{}, "secrets.webhookSecrets", "at least one"},
	}
	for _, c := range cases {
		s := okSecrets()
		s.WebhookSecrets = c.ws
		err := s.Validate()
		var ie *InvalidError
		if !errors.As(err, &ie) {
			t.Errorf("%s: err = %v, want *InvalidError", c.name, err)
			continue
		}
		if ie.Field != c.field || !strings.Contains(ie.Problem, c.says) || !strings.Contains(ie.Problem, "24 to 64") {
			t.Errorf("%s: %q / %q, want field %q saying %q and the allowed range", c.name, ie.Field, ie.Problem, c.field, c.says)
		}
		for _, w := range c.ws {
			if len(w) > len("whsec_") && strings.Contains(ie.Problem, strings.TrimPrefix(strings.TrimSpace(w), "whsec_")) {
				t.Errorf("%s: the problem repeats the secret: %q", c.name, ie.Problem)
			}
		}
	}
}

func TestSecretsValidateNamesTheKeyField(t *testing.T) {
	for _, c := range []struct {
		change func(*Secrets)
		field  string
	}{
		{func(s *Secrets) { s.PublicKey = "" }, "secrets.publicKey"},
		{func(s *Secrets) { s.PrivateKey = " " }, "secrets.privateKey"},
		{func(s *Secrets) { s.PublicKey = "pub " }, "secrets.publicKey"},
		{func(s *Secrets) { s.PrivateKey = "\tpriv" }, "secrets.privateKey"},
		{func(s *Secrets) { s.ClientID = "" }, "secrets.clientId"},
	} {
		s := okSecrets()
		c.change(&s)
		var ie *InvalidError
		if err := s.Validate(); !errors.As(err, &ie) || ie.Field != c.field {
			t.Errorf("err = %v, want field %s", err, c.field)
		}
	}
}

func TestUsableWebhookSecrets(t *testing.T) {
	// The state the review found: an operator stored whsec_short.
	keys, problem := UsableWebhookSecrets([]string{"whsec_short"})
	var ie *InvalidError
	if len(keys) != 0 || !errors.As(problem, &ie) || ie.Field != "secrets.webhookSecrets[0]" || !strings.Contains(ie.Problem, "PUT") {
		t.Errorf("whsec_short: %d keys, problem %v", len(keys), problem)
	}

	// One usable, one not: verify with the usable one, report the other.
	keys, problem = UsableWebhookSecrets([]string{"whsec_short", secretOf(32)})
	if len(keys) != 1 || !bytes.Equal(keys[0], bytes.Repeat([]byte{0xa5}, 32)) || !errors.As(problem, &ie) || ie.Field != "secrets.webhookSecrets[0]" {
		t.Errorf("mixed: %d keys, problem %v", len(keys), problem)
	}

	// None stored.
	if keys, problem := UsableWebhookSecrets(nil); len(keys) != 0 || !errors.As(problem, &ie) || ie.Field != "secrets.webhookSecrets" {
		t.Errorf("none: %d keys, problem %v", len(keys), problem)
	}

	// A 16-byte secret stored before the stricter rule still verifies
	// (the verifier's rule), while the doctor's check reports it.
	if keys, problem := UsableWebhookSecrets([]string{secretOf(16)}); len(keys) != 1 || problem != nil {
		t.Errorf("16 bytes: %d keys, problem %v", len(keys), problem)
	}
	if err := CheckWebhookSecrets([]string{secretOf(16)}); !errors.As(err, &ie) || ie.Field != "secrets.webhookSecrets[0]" {
		t.Errorf("CheckWebhookSecrets(16 bytes) = %v", err)
	}
}
