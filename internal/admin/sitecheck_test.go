package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
)

// startSim starts a ConnectWise simulator seeded with the demo MSP on
// 127.0.0.1 and lets the API talk to it (the local stack's loopback
// policy, trusting the simulator's CA).
func (e *env) startSim() (*cwsim.Sim, cwsim.Demo) {
	e.t.Helper()
	sim := cwsim.New(cwsim.Options{})
	demo := cwsim.SeedDemo(sim)
	if err := sim.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(sim.Close)
	if !strings.HasPrefix(sim.URL(), "https://127.0.0.1:") {
		e.t.Fatalf("simulator at %s, want loopback", sim.URL())
	}
	policy := connectwise.SitePolicy{AllowLoopback: true}
	hc, err := connectwise.NewHTTPClient(connectwise.HTTPClientOptions{RootCAs: sim.CertPool(), Policy: policy, Timeout: 10 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	e.api.HTTPClient, e.api.SitePolicy = hc, policy
	e.routes = e.api.Routes()
	return sim, demo
}

// demoCheck is a check body with the simulator's demo credentials.
func demoCheck(sim *cwsim.Sim) map[string]any {
	return map[string]any{"siteUrl": sim.URL(), "companyId": cwsim.DemoCompanyID,
		"publicKey": cwsim.DemoPublicKey, "privateKey": cwsim.DemoPrivateKey, "clientId": cwsim.DemoClientID}
}

// checkAnswer is the decoded answer of a check.
type checkAnswer struct {
	OK       bool
	Problems []Problem
	Boards   []CheckBoard
	Products []CheckProduct
	Trunc    bool `json:"productsTruncated"`
	Notes    []string
}

func (e *env) check(body any) (int, checkAnswer, string) {
	e.t.Helper()
	code, _, raw := e.do("POST", "/v1/admin/connectwise/check", body)
	var a checkAnswer
	if code == http.StatusOK {
		decodeJSON(e.t, raw, &a)
	}
	return code, a, raw
}

// TestSiteCheckGoodKeys: good keys list the site's active boards with
// their statuses (closed ones marked) and the catalog, and store nothing.
func TestSiteCheckGoodKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sim, demo := e.startSim()
	if _, err := sim.AddStatus(demo.HelpDeskBoard.ID, cwsim.Status{Name: "Retired", Inactive: true}); err != nil {
		t.Fatal(err)
	}
	for _, body := range []map[string]any{demoCheck(sim), func() map[string]any {
		b := demoCheck(sim)
		b["codebase"] = strings.TrimSuffix(sim.Codebase(), "/") // the slash is added
		return b
	}()} {
		code, a, raw := e.check(body)
		if code != http.StatusOK || !a.OK || len(a.Problems) != 0 {
			t.Fatalf("check with good keys: %d %s", code, raw)
		}
		if strings.Contains(raw, cwsim.DemoPrivateKey) || strings.Contains(raw, cwsim.DemoPublicKey) {
			t.Errorf("the answer repeats a key: %s", raw)
		}
		var names []string
		for _, b := range a.Boards {
			names = append(names, b.Name)
		}
		if got := strings.Join(names, ","); got != cwsim.DemoBackupBoard+","+cwsim.DemoHelpDeskBoard {
			t.Errorf("boards %q, want the two demo boards by name", got)
		}
		var sts []string
		for _, st := range a.Boards[0].Statuses {
			sts = append(sts, fmt.Sprintf("%s/%v", st.Name, st.Closed))
		}
		if got := strings.Join(sts, ","); got != "New/false,In Progress/false,Waiting/false,Resolved/true,Closed/true" {
			t.Errorf("statuses of %s: %s", a.Boards[0].Name, got)
		}
		if a.Boards[0].Statuses[0].ID != demo.StatusNew || a.Boards[0].ID != demo.BackupBoard.ID {
			t.Errorf("ids are not the site's: %+v", a.Boards[0])
		}
		for _, st := range a.Boards[1].Statuses {
			if st.Name == "Retired" {
				t.Errorf("an inactive status is listed")
			}
		}
		if len(a.Products) != len(cwsim.DemoCatalog()) || a.Trunc {
			t.Errorf("%d products (truncated %v), want the %d of the demo catalog", len(a.Products), a.Trunc, len(cwsim.DemoCatalog()))
		}
		found := false
		for _, p := range a.Products {
			found = found || p.Identifier == cwsim.ProductSelectGB && p.Description == "Select Online Backup Storage"
		}
		if !found {
			t.Errorf("products %+v lack %s", a.Products, cwsim.ProductSelectGB)
		}
	}
	for _, c := range sim.Calls() {
		if c.Method != http.MethodGet {
			t.Errorf("the check changed the site: %s %s", c.Method, c.Path)
		}
	}
	if n := e.secrets.count(); n != 0 {
		t.Errorf("the check wrote secrets %d time(s)", n)
	}
}

// TestSiteCheckCapsTheCatalog: a catalog larger than MaxCheckProducts is
// listed up to the cap, and the answer says so; inactive products are left
// out.
func TestSiteCheckCapsTheCatalog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sim, demo := e.startSim()
	if err := sim.SetProductInactive(demo.Products[cwsim.ProductBasicGB], true); err != nil {
		t.Fatal(err)
	}
	code, a, raw := e.check(demoCheck(sim))
	if code != http.StatusOK || !a.OK {
		t.Fatalf("check: %d %s", code, raw)
	}
	for _, p := range a.Products {
		if p.Identifier == cwsim.ProductBasicGB {
			t.Errorf("an inactive product is listed")
		}
	}
	for i := range MaxCheckProducts {
		if _, err := sim.AddProduct(cwsim.Product{Identifier: fmt.Sprintf("BULK-%04d", i), Description: "bulk"}); err != nil {
			t.Fatal(err)
		}
	}
	code, a, raw = e.check(demoCheck(sim))
	if code != http.StatusOK || !a.OK {
		t.Fatalf("check: %d %.500s", code, raw)
	}
	if len(a.Products) != MaxCheckProducts || !a.Trunc || len(a.Notes) == 0 || !strings.Contains(a.Notes[0], "1000") {
		t.Errorf("%d products, truncated %v, notes %q: want the cap, said", len(a.Products), a.Trunc, a.Notes)
	}
}

// TestSiteCheckBadKeys: keys ConnectWise refuses are a problem in words,
// never repeating a key; an unknown company names companyId.
func TestSiteCheckBadKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sim, _ := e.startSim()
	for _, tc := range []struct {
		name, key, value, setting string
	}{
		{"wrong private key", "privateKey", "not-the-private-key", "secrets"},
		{"wrong public key", "publicKey", "not-the-public-key", "secrets"},
		{"clientId not a GUID", "clientId", "not-a-guid", "secrets"},
		{"unknown company", "companyId", "nosuchmsp", "companyId"},
	} {
		body := demoCheck(sim)
		body[tc.key] = tc.value
		code, a, raw := e.check(body)
		if code != http.StatusOK || a.OK || len(a.Problems) != 1 || a.Problems[0].Setting != tc.setting {
			t.Errorf("%s: %d %s, want ok=false and one problem with %s", tc.name, code, raw, tc.setting)
			continue
		}
		if len(a.Boards) != 0 || len(a.Products) != 0 {
			t.Errorf("%s: lists shown: %s", tc.name, raw)
		}
		for _, secret := range []string{"not-the-private-key", cwsim.DemoPrivateKey, "not-the-public-key"} {
			if strings.Contains(raw, secret) {
				t.Errorf("%s: the answer repeats a key: %s", tc.name, raw)
			}
		}
	}
}

// TestSiteCheckRefusesInternalHosts: a site at an internal address is
// refused 400 naming siteUrl and never connected to, whatever the keys;
// loopback only under the local stack's policy.
func TestSiteCheckRefusesInternalHosts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sim := cwsim.New(cwsim.Options{})
	cwsim.SeedDemo(sim)
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	for _, site := range []string{sim.URL(), "https://169.254.169.254", "https://[fd00:ec2::254]", "https://10.0.0.1", "https://0.0.0.0", "https://[::]", "https://localhost", "http://api-na.myconnectwise.net"} {
		body := demoCheck(sim)
		body["siteUrl"] = site
		code, m, raw := e.do("POST", "/v1/admin/connectwise/check", body)
		if code != http.StatusBadRequest || m["field"] != "siteUrl" {
			t.Errorf("site %s: %d %s, want 400 naming siteUrl", site, code, raw)
		}
	}
	if n := e.net.calls.Load(); n != 0 {
		t.Errorf("%d request(s) sent to refused sites", n)
	}
	if n := len(sim.Calls()); n != 0 {
		t.Errorf("the loopback simulator got %d call(s) under the deployed policy", n)
	}
}

// TestSiteCheckBody: the body is either the keys or partnerId, strictly.
func TestSiteCheckBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sim, _ := e.startSim()
	full := demoCheck(sim)
	for _, tc := range []struct {
		name  string
		body  any
		field string
	}{
		{"unknown field", `{"siteUrl": "https://x.example", "privatekey": "k"}`, ""},
		{"not JSON", `nope`, ""},
		{"missing keys", map[string]any{"siteUrl": sim.URL(), "companyId": "demo_msp"}, "publicKey"},
		{"missing clientId", func() map[string]any {
			b := demoCheck(sim)
			delete(b, "clientId")
			return b
		}(), "clientId"},
		{"spaces", func() map[string]any {
			b := demoCheck(sim)
			b["privateKey"] = " " + cwsim.DemoPrivateKey
			return b
		}(), "privateKey"},
		{"partnerId with a site", map[string]any{"partnerId": "acme", "siteUrl": full["siteUrl"]}, "partnerId"},
	} {
		code, m, raw := e.do("POST", "/v1/admin/connectwise/check", tc.body)
		if code != http.StatusBadRequest || (tc.field != "" && m["field"] != tc.field) {
			t.Errorf("%s: %d %s, want 400 naming %q", tc.name, code, raw, tc.field)
		}
		if strings.Contains(raw, cwsim.DemoPrivateKey) {
			t.Errorf("%s: the answer repeats the key", tc.name)
		}
	}
	if n := len(sim.Calls()); n != 0 {
		t.Errorf("refused bodies made %d call(s)", n)
	}
}

// TestSiteCheckStoredPartner: {"partnerId"} checks a stored partner with
// its stored keys; an unknown partner is 404, one without keys 409.
func TestSiteCheckStoredPartner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sim, _ := e.startSim()
	p := map[string]any{"id": "acme", "name": "Acme MSP", "siteUrl": sim.URL(), "companyId": cwsim.DemoCompanyID,
		"board": cwsim.DemoBackupBoard, "newStatus": "New"}
	s := map[string]any{"publicKey": cwsim.DemoPublicKey, "privateKey": cwsim.DemoPrivateKey, "clientId": cwsim.DemoClientID, "webhookSecrets": []string{whsec(1)}}
	if code, m, _ := e.do("POST", "/v1/admin/partners", map[string]any{"partner": p, "secrets": s}); code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	code, a, raw := e.check(map[string]any{"partnerId": "acme"})
	if code != http.StatusOK || !a.OK || len(a.Boards) != 2 || len(a.Products) == 0 {
		t.Fatalf("check of the stored partner: %d %s", code, raw)
	}
	if code, _, raw := e.do("POST", "/v1/admin/connectwise/check", map[string]any{"partnerId": "nobody"}); code != http.StatusNotFound {
		t.Errorf("unknown partner: %d %s", code, raw)
	}
	// Stored keys are never sent to a site named in the request.
	if code, m, _ := e.do("POST", "/v1/admin/connectwise/check", map[string]any{"partnerId": "acme", "siteUrl": "https://evil.example"}); code != http.StatusBadRequest || m["field"] != "partnerId" {
		t.Errorf("partnerId with another site: %d %v", code, m)
	}
}

func decodeJSON(t *testing.T, raw string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		t.Fatalf("answer %q: %v", raw, err)
	}
}

// TestSiteCheckNeverRepeatsABody: an HTML page from a front end is reported
// by its status only, never repeated.
func TestSiteCheckNeverRepeatsABody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sim, _ := e.startSim()
	sim.Inject(cwsim.Fault{Method: "GET", Path: "/procurement/catalog", Status: http.StatusForbidden, HTMLBody: true, Times: -1})
	code, a, raw := e.check(demoCheck(sim))
	if code != http.StatusOK || a.OK || len(a.Problems) != 1 || a.Problems[0].Setting != "secrets" || !strings.Contains(a.Problems[0].Problem, "403") {
		t.Fatalf("catalog answered an HTML 403: %d %s", code, raw)
	}
	if strings.Contains(strings.ToLower(raw), "html") || strings.Contains(raw, "\\u003c") || strings.Contains(raw, "<") {
		t.Errorf("the answer repeats the HTML body: %s", raw)
	}
}
