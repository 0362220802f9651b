package partner

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/contract"
)

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// InvalidError names the setting that is wrong and what to do about it.
type InvalidError struct {
	Field   string
	Problem string
}

func (e *InvalidError) Error() string { return e.Field + ": " + e.Problem }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// CheckSiteURL accepts an https ConnectWise site URL with no path (a trailing
// slash is fine) and says exactly what is wrong otherwise (ConnectWise only
// accepts SSL, as the eFolder guide's step 6a says). It is the check the
// ConnectWise client makes, reported as the partner's siteUrl setting.
func CheckSiteURL(raw string) error {
	if _, err := connectwise.CheckSiteURL(raw); err != nil {
		return &InvalidError{Field: "siteUrl", Problem: err.Error()}
	}
	return nil
}

// Validate checks a partner's settings and fills the defaults: a partner with
// no rules gets the guide's two default rules (open a ticket on warnings and
// worse; synchronize on everything).
func (p *Partner) Validate() error {
	if !idPattern.MatchString(p.ID) {
		return invalid("id", "must be 1–40 lower-case letters, digits or '-', starting with a letter or digit")
	}
	site, err := connectwise.CheckSiteURL(p.SiteURL)
	if err != nil {
		return &InvalidError{Field: "siteUrl", Problem: err.Error()}
	}
	p.SiteURL = site
	if strings.TrimSpace(p.CompanyID) == "" {
		return invalid("companyId", "required: the company id you log in to ConnectWise with")
	}
	if p.Codebase != "" && !strings.HasSuffix(p.Codebase, "/") {
		p.Codebase += "/"
	}
	switch p.GBRounding {
	case "", "up", "nearest", "down":
	default:
		return invalid("gbRounding", "must be up, nearest or down")
	}
	if p.SyncWindowHours < 0 {
		return invalid("syncWindowHours", "must be 0 (default 12) or more")
	}
	if p.Rules == nil {
		p.Rules = DefaultRules()
	}
	for i, r := range p.Rules {
		f := fmt.Sprintf("rules[%d]", i)
		if r.Action != ActionOpenTicket && r.Action != ActionSynchronize {
			return invalid(f+".action", "must be %q or %q", ActionOpenTicket, ActionSynchronize)
		}
		for _, s := range r.Severities {
			if !slices.Contains(contract.Severities, s) {
				return invalid(f+".severities", "unknown severity %q", s)
			}
		}
		for _, k := range r.EventTypes {
			if !slices.Contains(contract.NotificationKinds, k) {
				return invalid(f+".eventTypes", "unknown event type %q", k)
			}
		}
		if r.Action == ActionOpenTicket && (p.Board == "" || p.NewStatus == "") {
			return invalid("board", "a rule opens tickets, so board and newStatus are required (the service board and its status for new tickets)")
		}
	}
	for svc, product := range p.Products {
		if !slices.Contains(BillingServices, svc) {
			return invalid("products", "unknown billing service %q", svc)
		}
		if strings.TrimSpace(product) == "" || len(product) > 75 {
			return invalid("products."+string(svc), "must be a ConnectWise product identifier of 1–75 characters")
		}
	}
	for _, svc := range p.Integration.Billing {
		if !slices.Contains(BillingServices, svc) {
			return invalid("integration.billing", "unknown billing service %q", svc)
		}
		if p.Products[svc] == "" {
			return invalid("products."+string(svc), "billing for %s is on, so it needs a cross-referenced ConnectWise product (the guide's step 5)", svc)
		}
	}
	return nil
}

// DefaultRules are the rules of a partner that set none: open a ticket for
// warnings and worse of every event type, and synchronize on every event.
func DefaultRules() []Rule {
	return []Rule{
		{Action: ActionOpenTicket, Severities: []contract.Severity{contract.SeverityWarning, contract.SeverityError, contract.SeverityCritical}},
		{Action: ActionSynchronize},
	}
}

// Validate checks the secret values.
func (s Secrets) Validate() error {
	if strings.TrimSpace(s.PublicKey) == "" || strings.TrimSpace(s.PrivateKey) == "" {
		return invalid("secrets", "publicKey and privateKey (or the integrator login and its password) are required")
	}
	if s.PublicKey != strings.TrimSpace(s.PublicKey) || s.PrivateKey != strings.TrimSpace(s.PrivateKey) {
		return invalid("secrets", "the keys have leading or trailing spaces (a copy-and-paste slip the guide warns about); retype them")
	}
	if strings.TrimSpace(s.ClientID) == "" {
		return invalid("secrets.clientId", "required: the integration's ConnectWise clientId")
	}
	if len(s.WebhookSecrets) == 0 {
		return invalid("secrets.webhookSecrets", "at least one webhook signing secret (whsec_…) is required")
	}
	for _, w := range s.WebhookSecrets {
		if !strings.HasPrefix(w, "whsec_") {
			return invalid("secrets.webhookSecrets", "each secret must start with whsec_")
		}
	}
	return nil
}

// ClientOptions are the ConnectWise client options of the partner's site
// with its secrets (the caller adds the HTTP client and retry policy).
func (p *Partner) ClientOptions(s Secrets) connectwise.Options {
	return connectwise.Options{
		SiteURL:     p.SiteURL,
		Codebase:    p.Codebase,
		Credentials: connectwise.Credentials{CompanyID: p.CompanyID, PublicKey: s.PublicKey, PrivateKey: s.PrivateKey, ClientID: s.ClientID},
	}
}
