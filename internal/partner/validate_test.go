package partner

import (
	"errors"
	"strings"
	"testing"

	"github.com/efs-cw/backupbridge/internal/connectwise"
)

func valid() *Partner {
	return &Partner{ID: "acme-msp", SiteURL: "https://api-na.myconnectwise.net/", CompanyID: "acme", Board: "eFolder Backup", NewStatus: "New"}
}

func TestValidateNamesTheSetting(t *testing.T) {
	cases := []struct {
		name   string
		change func(p *Partner)
		field  string
		says   string
	}{
		{"http site", func(p *Partner) { p.SiteURL = "http://cw.example.com" }, "siteUrl", "https://"},
		{"site with path", func(p *Partner) { p.SiteURL = "https://na.myconnectwise.net/acme" }, "siteUrl", "without the path /acme"},
		{"not a URL", func(p *Partner) { p.SiteURL = "cw" }, "siteUrl", "https://"},
		{"bad id", func(p *Partner) { p.ID = "Acme MSP" }, "id", "lower-case"},
		{"no company", func(p *Partner) { p.CompanyID = " " }, "companyId", "required"},
		{"ticket rule without board", func(p *Partner) { p.Board = "" }, "board", "newStatus"},
		{"unknown action", func(p *Partner) { p.Rules = []Rule{{Action: "email"}} }, "rules[0].action", "open_ticket"},
		{"billing without product", func(p *Partner) { p.Integration.Billing = []BillingService{BillOnlineSelectGB} }, "products.online_storage_select_gb", "cross-referenced"},
		{"unknown service", func(p *Partner) { p.Products = map[BillingService]string{"gold_gb": "X"} }, "products", "unknown"},
		{"bad rounding", func(p *Partner) { p.GBRounding = "banker" }, "gbRounding", "up, nearest or down"},
	}
	for _, c := range cases {
		if c.field == "" {
			continue
		}
		p := valid()
		c.change(p)
		err := p.Validate(connectwise.SitePolicy{})
		var ie *InvalidError
		if !errors.As(err, &ie) {
			t.Errorf("%s: err = %v, want *InvalidError", c.name, err)
			continue
		}
		if ie.Field != c.field || !strings.Contains(ie.Problem, c.says) {
			t.Errorf("%s: %q / %q, want field %q saying %q", c.name, ie.Field, ie.Problem, c.field, c.says)
		}
	}
}

func TestValidateFillsDefaults(t *testing.T) {
	p := valid()
	if err := p.Validate(connectwise.SitePolicy{}); err != nil {
		t.Fatal(err)
	}
	if p.SiteURL != "https://api-na.myconnectwise.net" {
		t.Errorf("site URL not normalised: %q", p.SiteURL)
	}
	if len(p.Rules) != 2 || p.Rules[0].Action != ActionOpenTicket || p.Rules[1].Action != ActionSynchronize {
		t.Errorf("default rules = %+v", p.Rules)
	}
}

func TestSecretsValidate(t *testing.T) {
	w := secretOf(32)
	ok := Secrets{PublicKey: "pub", PrivateKey: "priv", ClientID: "c", WebhookSecrets: []string{w}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]Secrets{
		"pasted space": {PublicKey: "pub ", PrivateKey: "priv", ClientID: "c", WebhookSecrets: []string{w}},
		"no client id": {PublicKey: "pub", PrivateKey: "priv", WebhookSecrets: []string{w}},
		"no webhook":   {PublicKey: "pub", PrivateKey: "priv", ClientID: "c"},
		"bad webhook":  {PublicKey: "pub", PrivateKey: "priv", ClientID: "c", WebhookSecrets: []string{"abc"}},
	} {
		if err := s.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
