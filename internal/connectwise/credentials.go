package connectwise

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"unicode"
)

const redacted = "[redacted]"

// Credentials identify the caller to ConnectWise: the company ID the
// partner logs in with, an API member's public and private keys, and the
// integration's registered clientId. A legacy integrator login uses the same
// shape, with PublicKey holding the login name and PrivateKey its password.
//
// Credentials never print their secrets: String, GoString, every fmt verb,
// log/slog and encoding/json all show the keys and the clientId as
// "[redacted]" (or "[empty]" when unset, so a missing value is visible).
type Credentials struct {
	CompanyID  string
	PublicKey  string
	PrivateKey string
	ClientID   string
}

func shown(s string) string {
	if s == "" {
		return "[empty]"
	}
	return redacted
}

// String returns the credentials with the keys and clientId redacted.
func (c Credentials) String() string {
	return fmt.Sprintf("connectwise.Credentials{CompanyID: %q, PublicKey: %s, PrivateKey: %s, ClientID: %s}",
		c.CompanyID, shown(c.PublicKey), shown(c.PrivateKey), shown(c.ClientID))
}

// GoString returns the same redacted form as String, for %#v.
func (c Credentials) GoString() string { return c.String() }

// Format writes the redacted form for every fmt verb (%v, %+v, %#v, %s, %q,
// %x, %d, ...), so no verb can reach the raw fields.
func (c Credentials) Format(f fmt.State, verb rune) {
	s := c.String()
	if verb == 'q' {
		s = fmt.Sprintf("%q", s)
	}
	_, _ = io.WriteString(f, s)
}

// LogValue makes log/slog record the redacted form.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("companyId", c.CompanyID),
		slog.String("publicKey", shown(c.PublicKey)),
		slog.String("privateKey", shown(c.PrivateKey)),
		slog.String("clientId", shown(c.ClientID)),
	)
}

// MarshalJSON writes the redacted form: Credentials are never serialised
// with their secrets (store them through the partner's own secret type).
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"companyId":  c.CompanyID,
		"publicKey":  shown(c.PublicKey),
		"privateKey": shown(c.PrivateKey),
		"clientId":   shown(c.ClientID),
	})
}

// validate says which parts are missing or unusable, without echoing them.
func (c Credentials) validate() error {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"company ID", c.CompanyID}, {"public key", c.PublicKey},
		{"private key", c.PrivateKey}, {"clientId", c.ClientID},
	} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("connectwise: credentials are incomplete: missing %s (set the company ID you log in with, the API member's public/private keys and the integration's clientId)",
			strings.Join(missing, ", "))
	}
	for _, f := range []struct{ name, v string }{
		{"company ID", c.CompanyID}, {"public key", c.PublicKey},
		{"private key", c.PrivateKey}, {"clientId", c.ClientID},
	} {
		if strings.IndexFunc(f.v, unicode.IsControl) >= 0 || f.v != strings.TrimSpace(f.v) {
			return fmt.Errorf("connectwise: the %s has surrounding spaces or control characters: paste it again without them", f.name)
		}
	}
	if strings.Contains(c.CompanyID, ":") || strings.Contains(c.PublicKey, ":") {
		return fmt.Errorf("connectwise: the company ID and public key must not contain ':' (Basic auth would split there): check what was pasted")
	}
	return nil
}

// authorization is the Authorization header value:
// Basic base64(companyId+publicKey:privateKey).
func (c Credentials) authorization() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(c.CompanyID+"+"+c.PublicKey+":"+c.PrivateKey))
}
