package partner

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/efs-cw/backupbridge/internal/connectwise"
)

// body is a valid create body with the partner's settings replaced by
// partnerJSON (a JSON object's inside, without braces) when given.
func body(partnerJSON string) string {
	if partnerJSON == "" {
		partnerJSON = `"id":"acme-msp","siteUrl":"https://api-na.myconnectwise.net","companyId":"acme","board":"B","newStatus":"New"`
	}
	return fmt.Sprintf(`{"partner":{%s},"secrets":{"publicKey":"pub","privateKey":"priv","clientId":"c","webhookSecrets":[%q]}}`, partnerJSON, secretOf(32))
}

const base = `"id":"acme-msp","siteUrl":"https://api-na.myconnectwise.net","companyId":"acme","board":"B","newStatus":"New",`

func TestDecodeRequestAcceptsTheREADMEBody(t *testing.T) {
	b := `{
  "partner": {
    "id": "acme-msp", "name": "Acme MSP",
    "siteUrl": "https://api-na.myconnectwise.net", "companyId": "acmemsp",
    "board": "eFolder Backup", "newStatus": "New", "priority": "Priority 3 - Normal Response",
    "noteEveryMinutes": 60, "recurrence": "reopen", "reopenWithinHours": 24,
    "gbRounding": "up", "syncWindowHours": 12,
    "integration": { "updateBackupStatistics": true, "updateInvoiceDescriptions": true,
                     "billing": ["online_storage_select_gb", "online_storage_servers"] },
    "products": { "online_storage_select_gb": "EFS-SELECT-GB", "online_storage_servers": "EFS-ONLINE-SERVERS" },
    "rules": [ { "action": "open_ticket", "severities": ["warning","error","critical"] },
               { "action": "synchronize" } ]
  },
  "secrets": { "publicKey": "pk", "privateKey": "sk", "clientId": "guid",
               "webhookSecrets": ["` + secretOf(32) + `"] }
}`
	p, s, err := DecodeRequest(strings.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRequest(p, s, connectwise.SitePolicy{}); err != nil {
		t.Fatal(err)
	}
	if p.SyncWindowHours != 12 || p.NoteEveryMinutes != 60 || len(p.Rules) != 2 || p.Products[BillOnlineServers] != "EFS-ONLINE-SERVERS" || s.PrivateKey != "sk" {
		t.Errorf("decoded %+v / %+v", p, s)
	}
}

func TestDecodeRequestOptionalParts(t *testing.T) {
	p, s, err := DecodeRequest(strings.NewReader(`{"partner":{"id":"a","version":3}}`))
	if err != nil || p == nil || p.Version != 3 || s != nil {
		t.Errorf("partner only: %+v %+v %v", p, s, err)
	}
	p, s, err = DecodeRequest(strings.NewReader(`{"partner":{"id":"a","rules":null},"secrets":null}`))
	if err != nil || p == nil || p.Rules != nil || s != nil {
		t.Errorf("nulls: %+v %+v %v", p, s, err)
	}
	p, _, err = DecodeRequest(strings.NewReader(`{"partner":{"id":"a","rules":[]}}`))
	if err != nil || p.Rules == nil || len(p.Rules) != 0 {
		t.Errorf("empty rules must stay an empty list (no rules): %#v %v", p.Rules, err)
	}
}

func TestDecodeRequestNamesTheField(t *testing.T) {
	cases := []struct {
		name, body string
		field      string
		says       string
	}{
		// Whole numbers: fractions, strings, exponents, booleans, too big.
		{"fraction window", body(base + `"syncWindowHours":1.5`), "partner.syncWindowHours", "a whole number of hours from 1 to 168"},
		{"string window", body(base + `"syncWindowHours":"12"`), "partner.syncWindowHours", "a whole number of hours from 1 to 168"},
		{"exponent window", body(base + `"syncWindowHours":1e1`), "partner.syncWindowHours", "whole number"},
		{"bool window", body(base + `"syncWindowHours":true`), "partner.syncWindowHours", "whole number"},
		{"huge window", body(base + `"syncWindowHours":99999999999999999999`), "partner.syncWindowHours", "whole number"},
		{"fraction notes", body(base + `"noteEveryMinutes":1.5`), "partner.noteEveryMinutes", "a whole number of minutes from 1 to 1440"},
		{"string notes", body(base + `"noteEveryMinutes":"60"`), "partner.noteEveryMinutes", "whole number of minutes"},
		{"fraction reopen", body(base + `"reopenWithinHours":0.5`), "partner.reopenWithinHours", "a whole number of hours from 1 to 720"},
		{"fraction version", body(base + `"version":1.5`), "partner.version", "whole number"},
		{"string version", body(base + `"version":"2"`), "partner.version", "whole number"},
		// Other types.
		{"number name", body(base + `"name":5`), "partner.name", "must be a string"},
		{"number rounding", body(base + `"gbRounding":1`), "partner.gbRounding", "up, nearest or down"},
		{"string switch", body(base + `"integration":{"updateBackupStatistics":"yes"}`), "partner.integration.updateBackupStatistics", "true or false"},
		{"integration list", body(base + `"integration":[]`), "partner.integration", "must be an object"},
		{"billing string", body(base + `"integration":{"billing":"local_storage_gb"}`), "partner.integration.billing", "list of billing services"},
		{"billing number", body(base + `"integration":{"billing":["local_storage_gb",3]}`), "partner.integration.billing[1]", "list of billing services"},
		{"products list", body(base + `"products":["x"]`), "partner.products", "mapping billing services"},
		{"product number", body(base + `"products":{"local_storage_gb":7}`), "partner.products.local_storage_gb", "must be a string"},
		{"rules object", body(base + `"rules":{"action":"open_ticket"}`), "partner.rules", "list of rules"},
		{"rule string", body(base + `"rules":["open_ticket"]`), "partner.rules[0]", "must be an object"},
		{"rule action number", body(base + `"rules":[{"action":"synchronize"},{"action":1}]`), "partner.rules[1].action", `"open_ticket" or "synchronize"`},
		{"rule severities string", body(base + `"rules":[{"action":"open_ticket","severities":"error"}]`), "partner.rules[0].severities", "list of severities"},
		// Unknown and misspelt keys.
		{"unknown setting", body(base + `"syncWindow":12`), "partner.syncWindow", "unknown field"},
		{"wrong case", body(base + `"SyncWindowHours":12`), "partner.SyncWindowHours", `did you mean "syncWindowHours"`},
		{"unknown rule key", body(base + `"rules":[{"action":"open_ticket","severity":["error"]}]`), "partner.rules[0].severity", "unknown field"},
		{"unknown secret", `{"partner":{"id":"a"},"secrets":{"password":"x"}}`, "secrets.password", "unknown field"},
		{"unknown top", `{"partner":{"id":"a"},"extra":1}`, "extra", "partner, secrets"},
		{"odd key", `{"partner":{"id":"a","a b\u0000c":1}}`, `partner["a b\x00c"]`, "unknown field"},
		{"duplicate", body(base + `"syncWindowHours":12,"syncWindowHours":13`), "partner.syncWindowHours", "more than once"},
		// Secrets.
		{"secrets list", `{"partner":{"id":"a"},"secrets":[]}`, "secrets", "must be an object"},
		{"webhook secret number", `{"partner":{"id":"a"},"secrets":{"webhookSecrets":["` + secretOf(32) + `",1]}}`, "secrets.webhookSecrets[1]", "whsec_"},
		{"webhook secrets string", `{"partner":{"id":"a"},"secrets":{"webhookSecrets":"whsec_x"}}`, "secrets.webhookSecrets", "list of webhook signing secrets"},
		{"key number", `{"partner":{"id":"a"},"secrets":{"privateKey":12}}`, "secrets.privateKey", "must be a string"},
		// The body as a whole.
		{"partner string", `{"partner":"acme"}`, "partner", "must be an object"},
		{"array body", `[]`, "", "must be a JSON object"},
		{"string body", `"x"`, "", "must be a JSON object"},
		{"empty body", ``, "", "body is empty"},
		{"spaces", "  \n", "", "body is empty"},
		{"not JSON", `{"partner":`, "", "not valid JSON"},
		{"syntax", `{"partner":{"id":"a",}}`, "", "not valid JSON"},
		{"trailing", `{"partner":{"id":"a"}} {}`, "", "data after"},
		{"bad UTF-8", "{\"partner\":{\"name\":\"\xff\"}}", "", "UTF-8"},
		{"too deep", `{"partner":{"products":{"a":{"b":{"c":{"d":{"e":{"f":{"g":{}}}}}}}}}}`, "partner.products.a.b.c.d.e.f", "nested too deeply"},
		{"too big", `{"partner":{"name":"` + strings.Repeat("x", MaxRequestBytes) + `"}}`, "", "larger than"},
	}
	for _, c := range cases {
		p, s, err := DecodeRequest(strings.NewReader(c.body))
		var ie *InvalidError
		if !errors.As(err, &ie) {
			t.Errorf("%s: err = %v (partner %v, secrets %v), want *InvalidError", c.name, err, p, s)
			continue
		}
		if ie.Field != c.field || !strings.Contains(ie.Problem, c.says) {
			t.Errorf("%s: field %q problem %q; want field %q saying %q", c.name, ie.Field, ie.Problem, c.field, c.says)
		}
		if strings.Contains(ie.Problem, "json:") || strings.Contains(ie.Problem, "Go struct") || strings.Contains(ie.Problem, "Go value") {
			t.Errorf("%s: raw Go decoding error: %q", c.name, ie.Problem)
		}
		if strings.Contains(ie.Problem, "whsec_x") || strings.Contains(ie.Problem, "acme") {
			t.Errorf("%s: problem repeats the value: %q", c.name, ie.Problem)
		}
	}
}

func TestCheckRequestNamesJSONPaths(t *testing.T) {
	cases := []struct {
		name, body  string
		field, says string
	}{
		{"window too long", body(base + `"syncWindowHours":169`), "partner.syncWindowHours", "from 1 to 168"},
		{"negative window", body(base + `"syncWindowHours":-1`), "partner.syncWindowHours", "from 1 to 168"},
		{"notes too rare", body(base + `"noteEveryMinutes":1441`), "partner.noteEveryMinutes", "from 1 to 1440"},
		{"negative notes", body(base + `"noteEveryMinutes":-5`), "partner.noteEveryMinutes", "from 1 to 1440"},
		{"reopen too long", body(base + `"reopenWithinHours":721`), "partner.reopenWithinHours", "from 1 to 720"},
		{"recurrence", body(base + `"recurrence":"always"`), "partner.recurrence", "reopen or new"},
		{"rounding", body(base + `"gbRounding":"banker"`), "partner.gbRounding", "up, nearest or down"},
		{"action", body(base + `"rules":[{"action":"email"}]`), "partner.rules[0].action", "open_ticket"},
		{"webhook secret", strings.Replace(body(""), secretOf(32), "whsec_short", 1), "secrets.webhookSecrets[0]", "24 to 64"},
	}
	for _, c := range cases {
		p, s, err := DecodeRequest(strings.NewReader(c.body))
		if err != nil {
			t.Errorf("%s: decode: %v", c.name, err)
			continue
		}
		err = CheckRequest(p, s, connectwise.SitePolicy{})
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Field != c.field || !strings.Contains(ie.Problem, c.says) {
			t.Errorf("%s: %v; want field %q saying %q", c.name, err, c.field, c.says)
		}
	}
	for _, ok := range []string{
		body(base + `"syncWindowHours":1`), body(base + `"syncWindowHours":168`), body(base + `"syncWindowHours":0`),
		body(base + `"noteEveryMinutes":1440`), body(base + `"reopenWithinHours":720`), body(base + `"recurrence":"new"`),
	} {
		p, s, err := DecodeRequest(strings.NewReader(ok))
		if err == nil {
			err = CheckRequest(p, s, connectwise.SitePolicy{})
		}
		if err != nil {
			t.Errorf("%s: refused: %v", ok, err)
		}
	}
	if err := CheckRequest(nil, nil, connectwise.SitePolicy{}); err == nil {
		t.Error("no partner accepted")
	}
}

func TestRulesAbsentOrEmpty(t *testing.T) {
	p, s, err := DecodeRequest(strings.NewReader(body(base + `"rules":[]`)))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRequest(p, s, connectwise.SitePolicy{}); err != nil || p.Rules == nil || len(p.Rules) != 0 {
		t.Errorf("explicit empty rules: %#v, %v; want kept empty (no rules)", p.Rules, err)
	}
	p, s, err = DecodeRequest(strings.NewReader(body("")))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRequest(p, s, connectwise.SitePolicy{}); err != nil || len(p.Rules) != 2 {
		t.Errorf("absent rules: %#v, %v; want the default rules", p.Rules, err)
	}
}

func TestCheckUpdateNeedsKeysForANewSite(t *testing.T) {
	old := &Partner{ID: "acme", SiteURL: "https://api-na.myconnectwise.net", CompanyID: "acme", Codebase: "v2025_1/"}
	keys := &Secrets{PublicKey: "pub", PrivateKey: "priv"}
	cases := []struct {
		name    string
		change  func(p *Partner)
		secrets *Secrets
		field   string // "" when allowed
		names   string
	}{
		{"new site, no secrets", func(p *Partner) { p.SiteURL = "https://evil.example.com" }, nil, "secrets.publicKey", "partner.siteUrl"},
		{"new company, no secrets", func(p *Partner) { p.CompanyID = "other" }, nil, "secrets.publicKey", "partner.companyId"},
		{"both changed", func(p *Partner) { p.SiteURL = "https://evil.example.com"; p.CompanyID = "other" }, nil, "secrets.publicKey", "partner.siteUrl and partner.companyId"},
		{"new port", func(p *Partner) { p.SiteURL = "https://api-na.myconnectwise.net:8443" }, nil, "secrets.publicKey", "partner.siteUrl"},
		{"public key only", func(p *Partner) { p.SiteURL = "https://evil.example.com" }, &Secrets{PublicKey: "pub"}, "secrets.privateKey", "partner.siteUrl"},
		{"private key only", func(p *Partner) { p.CompanyID = "other" }, &Secrets{PrivateKey: "priv"}, "secrets.publicKey", "partner.companyId"},
		{"blank keys", func(p *Partner) { p.CompanyID = "other" }, &Secrets{PublicKey: " ", PrivateKey: " "}, "secrets.publicKey", "partner.companyId"},
		{"new site with keys", func(p *Partner) { p.SiteURL = "https://eu.myconnectwise.net" }, keys, "", ""},
		{"new company with keys", func(p *Partner) { p.CompanyID = "other" }, keys, "", ""},
		{"same site, trailing slash and case", func(p *Partner) { p.SiteURL = "https://API-NA.myconnectwise.net/" }, nil, "", ""},
		{"same site, explicit port", func(p *Partner) { p.SiteURL = "https://api-na.myconnectwise.net:443" }, nil, "", ""},
		{"company case", func(p *Partner) { p.CompanyID = "ACME" }, nil, "", ""},
		{"codebase only", func(p *Partner) { p.Codebase = "v2025_2/" }, nil, "", ""},
		{"board only", func(p *Partner) { p.Board = "Other" }, nil, "", ""},
	}
	for _, c := range cases {
		updated := *old
		c.change(&updated)
		err := CheckUpdate(old, &updated, c.secrets)
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: refused: %v", c.name, err)
			}
			continue
		}
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Field != c.field || !strings.Contains(ie.Problem, c.names+" changed") ||
			!strings.Contains(ie.Problem, "publicKey and privateKey") {
			t.Errorf("%s: %v; want field %s naming %s", c.name, err, c.field, c.names)
		}
	}
	// A stored partner that cannot be read: keys required.
	var ie *InvalidError
	if err := CheckUpdate(nil, old, nil); !errors.As(err, &ie) || ie.Field != "secrets.publicKey" {
		t.Errorf("unreadable old: %v", err)
	}
	if err := CheckUpdate(nil, old, keys); err != nil {
		t.Errorf("unreadable old with keys: %v", err)
	}
}
