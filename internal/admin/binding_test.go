package admin

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/efs-cw/backupbridge/internal/partner"
)

// TestStoredKeysAreBound: the keys the API stores are bound to the
// partner's site and company (set by the server; a body cannot), GET shows
// the binding, an update without keys leaves it, one with keys moves it.
func TestStoredKeysAreBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := partnerJSON("acme")
	p["siteUrl"] = "https://API-NA.myconnectwise.net/"
	e.create(p, 1)
	s, _ := e.secrets.stored(t, "acme")
	stored, err := e.stored("acme")
	if err != nil {
		t.Fatal(err)
	}
	if s.SiteURL != stored.SiteURL || !partner.SameSite(s.SiteURL, "https://api-na.myconnectwise.net") || s.CompanyID != "acme" {
		t.Fatalf("stored binding: site %q company %q; the partner's site is %q", s.SiteURL, s.CompanyID, stored.SiteURL)
	}
	_, m, _ := e.do("GET", "/v1/admin/partners/acme", nil)
	if rs, _ := m["secrets"].(map[string]any); rs == nil || rs["siteUrl"] != stored.SiteURL || rs["companyId"] != "acme" {
		t.Errorf("GET does not show the binding: %v", m["secrets"])
	}

	p = partnerJSON("acme")
	p["version"], p["codebase"] = 1, "v2025_1/"
	if code, m, _ := e.do("PUT", "/v1/admin/partners/acme", map[string]any{"partner": p}); code != http.StatusOK {
		t.Fatalf("update without keys: %d %v", code, m)
	}
	if s2, _ := e.secrets.stored(t, "acme"); s2.SiteURL != s.SiteURL || s2.PublicKey != "PUB1KEY" {
		t.Errorf("an update without keys changed them: %+v", s2)
	}

	p["version"], p["siteUrl"], p["companyId"] = 2, "https://eu.myconnectwise.net", "acme-eu"
	if code, m, _ := e.do("PUT", "/v1/admin/partners/acme", map[string]any{"partner": p, "secrets": secretsJSON(2)}); code != http.StatusOK {
		t.Fatalf("move with keys: %d %v", code, m)
	}
	s, _ = e.secrets.stored(t, "acme")
	if s.SiteURL != "https://eu.myconnectwise.net" || s.CompanyID != "acme-eu" || s.PublicKey != "PUB2KEY" {
		t.Errorf("after the move the keys are %q bound to %q/%q", s.PublicKey, s.SiteURL, s.CompanyID)
	}
}

// TestDoctorReportsKeysBoundElsewhere: keys bound to another site or
// company than the partner's are reported by the doctor and never sent.
func TestDoctorReportsKeysBoundElsewhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct{ id, site, company, says string }{
		{"other-site", "https://eu.myconnectwise.net", "acme", "https://eu.myconnectwise.net"},
		{"other-company", "https://api-na.myconnectwise.net", "someone", `"someone"`},
	} {
		e.create(partnerJSON(c.id), 1)
		s := partner.Secrets{PublicKey: "PUB", PrivateKey: "PRIVATE-KEY", ClientID: "c", WebhookSecrets: []string{whsec(1)}, SiteURL: c.site, CompanyID: c.company}
		if err := e.secrets.file.PutSecrets(context.Background(), c.id, s); err != nil {
			t.Fatal(err)
		}
		code, m, text := e.do("GET", "/v1/admin/partners/"+c.id+"/doctor", nil)
		probs := fmt.Sprint(m["problems"])
		if code != http.StatusOK || m["ok"] != false || !strings.Contains(probs, "setting:secrets") || !strings.Contains(probs, c.says) || !strings.Contains(probs, "not sent") {
			t.Errorf("%s: %d %v", c.id, code, m)
		}
		if strings.Contains(text, "PRIVATE-KEY") {
			t.Errorf("%s: the answer repeats the key: %s", c.id, text)
		}
	}
	if n := e.net.calls.Load(); n != 0 {
		t.Errorf("%d request(s) were sent with keys bound elsewhere", n)
	}
}
