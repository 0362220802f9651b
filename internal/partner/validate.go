package partner

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/contract"
)

var idPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`) })

// InvalidError names the setting that is wrong and what to do about it. The
// operator API answers it 400 {"error": Problem, "field": Field}.
type InvalidError struct {
	Field   string
	Problem string
}

// Error returns "<field>: <problem>", or the problem alone when Field is
// empty (the body as a whole is at fault).
func (e *InvalidError) Error() string {
	if e.Field == "" {
		return e.Problem
	}
	return e.Field + ": " + e.Problem
}

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// CheckSiteURL accepts an https ConnectWise site URL with no path (a trailing
// slash is fine) and says exactly what is wrong otherwise (ConnectWise only
// accepts SSL, as the eFolder guide's step 6a says). It is the check the
// ConnectWise client makes, reported as the partner's siteUrl setting.
//
// policy says which hosts may be a site: the zero value (the deployed
// service) refuses loopback, private and link-local addresses; only the local
// stack allows loopback, for its simulator (connectwise.SitePolicy).
func CheckSiteURL(raw string, policy connectwise.SitePolicy) error {
	if _, err := connectwise.CheckSiteURL(raw, policy); err != nil {
		return &InvalidError{Field: "siteUrl", Problem: err.Error()}
	}
	return nil
}

// Validate checks a partner's settings and fills the defaults. Every problem
// is an *InvalidError whose Field names the setting relative to the partner
// ("syncWindowHours", "rules[0].action"); CheckRequest reports the same
// problems as JSON paths of the operator API's body ("partner.…").
//
// Rules: absent (nil) rules get the guide's two default rules (open a
// ticket on warnings and worse; synchronize on everything); an explicit
// empty list means no rules: no notification opens a ticket or triggers a
// data sync.
//
// Whole-number settings (see WholeNumberSettings): 0 means "not set, use
// the default"; otherwise they must lie in their range.
//
// policy is the site host policy (see CheckSiteURL); the deployed service
// passes the zero value.
func (p *Partner) Validate(policy connectwise.SitePolicy) error {
	if !idPattern().MatchString(p.ID) {
		return invalid("id", "must be 1–40 lower-case letters, digits or '-', starting with a letter or digit")
	}
	site, err := connectwise.CheckSiteURL(p.SiteURL, policy)
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
		return invalid("gbRounding", "%s", settingProblem("gbRounding"))
	}
	switch p.Recurrence {
	case "", "reopen", "new":
	default:
		return invalid("recurrence", "%s", settingProblem("recurrence"))
	}
	for _, w := range WholeNumberSettings {
		if !w.check(p) {
			return invalid(w.Name, "%s", w.Problem())
		}
	}
	// Absent rules (nil) get the guide's defaults; an explicit empty list
	// is kept: no rules, so no notification opens a ticket or triggers a
	// sync (the events still update the customers' stored figures).
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

// Validate checks the secret values. Every problem is an *InvalidError
// whose Field is the JSON path in the operator API's body
// ("secrets.privateKey", "secrets.webhookSecrets[1]"); no error repeats a
// secret.
func (s Secrets) Validate() error {
	for _, k := range []struct{ field, v string }{{"secrets.publicKey", s.PublicKey}, {"secrets.privateKey", s.PrivateKey}} {
		if strings.TrimSpace(k.v) == "" {
			return invalid(k.field, "required: publicKey and privateKey are the API member's keys (or the integrator login and its password)")
		}
		if k.v != strings.TrimSpace(k.v) {
			return invalid(k.field, "has leading or trailing spaces (a copy-and-paste slip the guide warns about); retype it")
		}
	}
	if strings.TrimSpace(s.ClientID) == "" {
		return invalid("secrets.clientId", "required: the integration's ConnectWise clientId")
	}
	return CheckWebhookSecrets(s.WebhookSecrets)
}

// ErrKeysBoundElsewhere is matched (errors.Is) by ClientOptions' error when
// the stored ConnectWise keys were given for another site or company than
// the partner's (see Secrets.SiteURL). It is expected, and passes, in the
// minutes after an operator changed the partner's site or company: the
// partner is written first, its new keys just after, and a function may
// still hold the old keys in its cache. Callers treat it as transient (the
// work is retried; package outcome classifies an unknown error so).
var ErrKeysBoundElsewhere = errors.New("the stored ConnectWise keys were given for another site or company")

// Bind records in s the site and company of p: the keys in s are for them
// only. The operator API binds the keys it stores; nothing else should.
func (s *Secrets) Bind(p *Partner) {
	s.SiteURL, s.CompanyID = p.SiteURL, strings.TrimSpace(p.CompanyID)
}

// ClientOptions are the ConnectWise client options of the partner's site
// with its secrets (the caller adds the HTTP client and retry policy). It is
// the one place a partner and its keys are put together: it refuses, with
// an error matching ErrKeysBoundElsewhere and before anything is sent, keys
// bound to another site (compared as SameSite does) or company (compared
// ignoring case). Keys stored without a binding (before it existed) are
// used as they are.
func (p *Partner) ClientOptions(s Secrets) (connectwise.Options, error) {
	var wrong []string
	if s.SiteURL != "" && !SameSite(s.SiteURL, p.SiteURL) {
		wrong = append(wrong, fmt.Sprintf("site %s (the partner's is %s)", s.SiteURL, p.SiteURL))
	}
	if s.CompanyID != "" && !strings.EqualFold(strings.TrimSpace(s.CompanyID), strings.TrimSpace(p.CompanyID)) {
		wrong = append(wrong, fmt.Sprintf("company %q (the partner's is %q)", s.CompanyID, p.CompanyID))
	}
	if len(wrong) > 0 {
		return connectwise.Options{}, fmt.Errorf("partner %s: %w: they were stored for %s, so they are not sent. "+
			"Right after the partner's site or company changed this is expected and passes by itself once the new keys are read (within minutes; the work is retried); "+
			"if it lasts, PUT /v1/admin/partners/%s with the ConnectWise keys for the partner's site and company (secrets.publicKey and secrets.privateKey)",
			p.ID, ErrKeysBoundElsewhere, strings.Join(wrong, " and "), p.ID)
	}
	return connectwise.Options{
		SiteURL:     p.SiteURL,
		Codebase:    p.Codebase,
		Credentials: connectwise.Credentials{CompanyID: p.CompanyID, PublicKey: s.PublicKey, PrivateKey: s.PrivateKey, ClientID: s.ClientID},
	}, nil
}
