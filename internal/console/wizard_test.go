package console

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/admin"
	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// wzEnv is the console over the real operator API (a local DynamoDB table,
// a local secrets file) talking to the ConnectWise simulator on 127.0.0.1.
type wzEnv struct {
	t       *testing.T
	h       http.Handler
	api     http.Handler
	store   *partner.Store
	secrets *partner.LocalSecretsFile
	sim     *cwsim.Sim
	demo    cwsim.Demo
	op      *http.Cookie
	viewer  *http.Cookie
}

const (
	wzOperatorToken = "wizard-operator-token"
	wzViewerToken   = "wizard-viewer-token"
)

func newWizardEnv(t *testing.T) *wzEnv {
	t.Helper()
	sim := cwsim.New(cwsim.Options{})
	demo := cwsim.SeedDemo(sim)
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	if !strings.HasPrefix(sim.URL(), "https://127.0.0.1:") {
		t.Fatalf("simulator at %s, want loopback", sim.URL())
	}
	policy := connectwise.SitePolicy{AllowLoopback: true}
	hc, err := connectwise.NewHTTPClient(connectwise.HTTPClientOptions{RootCAs: sim.CertPool(), Policy: policy, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	db, tbl := localtest.Table(t)
	e := &wzEnv{t: t, sim: sim, demo: demo, store: &partner.Store{DB: db, Table: tbl},
		secrets: &partner.LocalSecretsFile{Path: filepath.Join(t.TempDir(), "LOCAL-ONLY-secrets.json")}}
	a := &admin.API{Partners: e.store, Secrets: e.secrets, HTTPClient: hc, SitePolicy: policy, Logger: slog.New(slog.DiscardHandler)}
	e.api = a.Routes()
	key := []byte("wizard-test-session-key-32-bytes")
	auth := &TokenSignIn{OperatorToken: wzOperatorToken, ViewerToken: wzViewerToken, Key: key}
	e.h = New(Options{API: e.api, Auth: auth, SessionKey: key, Logger: slog.New(slog.DiscardHandler)}).Routes()
	e.op, e.viewer = e.signIn(wzOperatorToken), e.signIn(wzViewerToken)
	return e
}

func (e *wzEnv) signIn(token string) *http.Cookie {
	e.t.Helper()
	w := e.serve("POST", "/console/signin", url.Values{"token": {token}, "next": {"/console/"}}, nil)
	for _, c := range w.Result().Cookies() {
		if c.Name == SessionCookie && w.Code == http.StatusSeeOther {
			return c
		}
	}
	e.t.Fatalf("sign in: %d %s", w.Code, w.Body)
	return nil
}

func (e *wzEnv) serve(method, target string, form url.Values, cookie *http.Cookie) *httptest.ResponseRecorder {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	if got := w.Header().Get("Content-Security-Policy"); got != ContentSecurityPolicy {
		e.t.Errorf("%s %s: Content-Security-Policy %q", method, target, got)
	}
	return w
}

// get fetches a page as the operator and fails unless it answers want.
func (e *wzEnv) get(target string, want int) string {
	e.t.Helper()
	w := e.serve("GET", target, nil, e.op)
	if w.Code != want {
		e.t.Fatalf("GET %s: %d, want %d\n%s", target, w.Code, want, w.Body)
	}
	wzLabelled(e.t, target, w.Body.String())
	return w.Body.String()
}

var (
	wzCSRF    = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	wzNonce   = regexp.MustCompile(`name="nonce" value="([^"]+)"`)
	wzVersion = regexp.MustCompile(`name="version" value="([0-9]+)"`)
	wzControl = regexp.MustCompile(`<(?:input|select|textarea)\b[^>]*>`)
	wzID      = regexp.MustCompile(`\bid="([^"]+)"`)
	wzSecret  = regexp.MustCompile(`id="new-secret" type="text" readonly value="(whsec_[^"]+)"`)
)

// wzForm is the hidden fields of the first form of page plus fields.
func wzForm(t *testing.T, page string, fields url.Values) url.Values {
	t.Helper()
	m := wzCSRF.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in page:\n%s", page)
	}
	f := url.Values{"csrf": {m[1]}}
	if n := wzNonce.FindStringSubmatch(page); n != nil {
		f.Set("nonce", n[1])
	}
	if v := wzVersion.FindStringSubmatch(page); v != nil {
		f.Set("version", v[1])
	}
	for k, v := range fields {
		f[k] = v
	}
	return f
}

// wzLabelled checks that every visible control of a page has a <label
// for=...> (keyboard and screen-reader use).
func wzLabelled(t *testing.T, what, page string) {
	t.Helper()
	for _, c := range wzControl.FindAllString(page, -1) {
		if strings.Contains(c, `type="hidden"`) {
			continue
		}
		id := wzID.FindStringSubmatch(c)
		if id == nil || !strings.Contains(page, `<label for="`+id[1]+`"`) {
			t.Errorf("%s: control without a label: %s", what, c)
		}
	}
}

func (e *wzEnv) stored(id string) *partner.Partner {
	e.t.Helper()
	p, err := e.store.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *wzEnv) storedSecrets(id string) partner.Secrets {
	e.t.Helper()
	s, err := e.secrets.GetSecrets(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// step1 is the form of step 1 with the simulator's demo keys.
func (e *wzEnv) step1(op string) url.Values {
	return url.Values{"op": {op}, "id": {"acme"}, "name": {"Acme MSP"}, "siteUrl": {e.sim.URL()}, "companyId": {cwsim.DemoCompanyID},
		"publicKey": {cwsim.DemoPublicKey}, "privateKey": {cwsim.DemoPrivateKey}, "clientId": {cwsim.DemoClientID}}
}

// createAcme runs step 1 (check, then create) and returns step 2's page.
func (e *wzEnv) createAcme() {
	e.t.Helper()
	page := e.get("/console/partners/new", http.StatusOK)
	w := e.serve("POST", "/console/partners/new", wzForm(e.t, page, e.step1("create")), e.op)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/partners/acme/edit/2" {
		e.t.Fatalf("create: %d %q\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
}

// TestWizardCreatesPartner walks a new partner through the steps: the live
// check, the creation, board and statuses, products, rules, the webhook
// secret and the doctor's checklist, each through the operator API.
func TestWizardCreatesPartner(t *testing.T) {
	t.Parallel()
	e := newWizardEnv(t)

	// Step 1: check shows the site's lists live; nothing is created and
	// the keys are not put back into the page.
	page := e.get("/console/partners/new", http.StatusOK)
	for _, want := range []string{`<label for="siteUrl">`, `<label for="privateKey">`, `name="csrf"`, `value="check"`} {
		if !strings.Contains(page, want) {
			t.Errorf("step 1 lacks %s", want)
		}
	}
	w := e.serve("POST", "/console/partners/new", wzForm(t, page, e.step1("check")), e.op)
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, "ConnectWise accepted the keys") || !strings.Contains(body, html.EscapeString(cwsim.DemoBackupBoard)) ||
		!strings.Contains(body, "Resolved (closed)") {
		t.Fatalf("check: %d\n%s", w.Code, body)
	}
	if strings.Contains(body, cwsim.DemoPrivateKey) || strings.Contains(body, cwsim.DemoPublicKey) {
		t.Errorf("the check's page repeats a key")
	}
	if _, err := e.store.Get(context.Background(), "acme"); err == nil {
		t.Fatalf("a check created the partner")
	}
	e.createAcme()
	p, s := e.stored("acme"), e.storedSecrets("acme")
	if p.Version != 1 || p.Rules == nil || len(p.Rules) != 0 || p.SiteURL != e.sim.URL() || p.CompanyID != cwsim.DemoCompanyID {
		t.Errorf("created partner %+v: want version 1, no rules (paused until step 4)", p)
	}
	if s.PrivateKey != cwsim.DemoPrivateKey || s.SiteURL != e.sim.URL() || len(s.WebhookSecrets) != 1 || partner.CheckWebhookSecrets(s.WebhookSecrets) != nil {
		t.Errorf("created secrets: bound to %q, %d webhook secrets", s.SiteURL, len(s.WebhookSecrets))
	}

	// Step 2: boards from the site; another board's statuses on request.
	page = e.get("/console/partners/acme/edit/2", http.StatusOK)
	if !strings.Contains(page, `<option value="`+strconv.Itoa(e.demo.BackupBoard.ID)+`" selected>`+html.EscapeString(cwsim.DemoBackupBoard)) ||
		!strings.Contains(page, `<option value="New" selected>New</option>`) {
		t.Errorf("step 2 does not offer the site's boards and the default status:\n%s", page)
	}
	other := e.get("/console/partners/acme/edit/2?board="+strconv.Itoa(e.demo.HelpDeskBoard.ID), http.StatusOK)
	if !strings.Contains(other, `<option value="Completed">Completed</option>`) || strings.Contains(other, `value="Resolved"`) {
		t.Errorf("step 2 with the help desk board chosen does not list its statuses")
	}
	w = e.serve("POST", "/console/partners/acme/edit/2", wzForm(t, page, url.Values{"board": {cwsim.DemoBackupBoard}, "newStatus": {"New"}, "closedStatus": {"Closed"}}), e.op)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/partners/acme/edit/3" {
		t.Fatalf("save step 2: %d %s", w.Code, w.Body)
	}
	if p := e.stored("acme"); p.Board != cwsim.DemoBackupBoard || p.NewStatus != "New" || p.ClosedStatus != "Closed" || p.Version != 2 || p.Name != "Acme MSP" {
		t.Errorf("after step 2: %+v", p)
	}

	// Step 3: the catalog per billing service.
	page = e.get("/console/partners/acme/edit/3", http.StatusOK)
	if !strings.Contains(page, `<select id="product-online_storage_select_gb" name="product-online_storage_select_gb">`) ||
		!strings.Contains(page, `<option value="EFS-SELECT-GB">EFS-SELECT-GB — Select Online Backup Storage</option>`) {
		t.Errorf("step 3 does not offer the catalog:\n%s", page)
	}
	w = e.serve("POST", "/console/partners/acme/edit/3", wzForm(t, page, url.Values{
		"updateBackupStatistics":        {"on"},
		"bill-online_storage_select_gb": {"on"}, "product-online_storage_select_gb": {cwsim.ProductSelectGB},
		"bill-online_storage_servers": {"on"}, "product-online_storage_servers": {cwsim.ProductOnlineServers},
		"product-online_storage_desktops": {cwsim.ProductOnlineDesktops}}), e.op)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/partners/acme/edit/4" {
		t.Fatalf("save step 3: %d %s", w.Code, w.Body)
	}
	p = e.stored("acme")
	if !slices.Equal(p.Integration.Billing, []partner.BillingService{partner.BillOnlineSelectGB, partner.BillOnlineServers}) ||
		p.Products[partner.BillOnlineDesktops] != cwsim.ProductOnlineDesktops || !p.Integration.UpdateBackupStatistics || p.Integration.UpdateInvoiceDescriptions {
		t.Errorf("after step 3: %+v %+v", p.Integration, p.Products)
	}

	// A refused step shows the API's words and saves nothing: billing a
	// service without a product.
	page = e.get("/console/partners/acme/edit/3", http.StatusOK)
	w = e.serve("POST", "/console/partners/acme/edit/3", wzForm(t, page, url.Values{"bill-local_storage_gb": {"on"}}), e.op)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "partner.products.local_storage_gb") ||
		!strings.Contains(w.Body.String(), `id="product-local_storage_gb" name="product-local_storage_gb" aria-invalid="true"`) {
		t.Errorf("billing without a product: %d\n%s", w.Code, w.Body)
	}
	if e.stored("acme").Version != 3 {
		t.Errorf("a refused step changed the partner")
	}

	// Step 4: the guide's two rules preselected.
	page = e.get("/console/partners/acme/edit/4", http.StatusOK)
	if !strings.Contains(page, `<option value="open_ticket" selected>`) || !strings.Contains(page, `<option value="synchronize" selected>`) ||
		!strings.Contains(page, `id="rule-0-severity-warning" name="rule-0-severity" value="warning" checked`) ||
		strings.Contains(page, `id="rule-0-severity-info" name="rule-0-severity" value="info" checked`) {
		t.Errorf("step 4 does not preselect the default rules:\n%s", page)
	}
	w = e.serve("POST", "/console/partners/acme/edit/4", wzForm(t, page, url.Values{"rows": {"4"},
		"rule-0-action": {"open_ticket"}, "rule-0-severity": {"warning", "error", "critical"},
		"rule-1-action": {"synchronize"}, "rule-2-action": {""}, "rule-3-action": {""}}), e.op)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/partners/acme/edit/5" {
		t.Fatalf("save step 4: %d %s", w.Code, w.Body)
	}
	if p := e.stored("acme"); len(p.Rules) != 2 || p.Rules[0].Action != partner.ActionOpenTicket || len(p.Rules[0].Severities) != 3 || p.Rules[1].Action != partner.ActionSynchronize {
		t.Errorf("after step 4: rules %+v", p.Rules)
	}

	// Step 5: a new secret, shown once; a repeated submit does not show it.
	page = e.get("/console/partners/acme/edit/5", http.StatusOK)
	form := wzForm(t, page, url.Values{"op": {"rotate"}})
	w = e.serve("POST", "/console/partners/acme/edit/5", form, e.op)
	m := wzSecret.FindStringSubmatch(w.Body.String())
	if w.Code != http.StatusOK || m == nil || !strings.Contains(w.Body.String(), `<label for="new-secret">`) {
		t.Fatalf("rotate: %d\n%s", w.Code, w.Body)
	}
	secret := html.UnescapeString(m[1])
	if s := e.storedSecrets("acme"); !slices.Equal(s.WebhookSecrets[1:], []string{secret}) || s.PrivateKey != cwsim.DemoPrivateKey {
		t.Errorf("after rotate: %d secrets stored", len(s.WebhookSecrets))
	}
	again := e.serve("POST", "/console/partners/acme/edit/5", form, e.op)
	if again.Code != http.StatusOK || strings.Contains(again.Body.String(), m[1]) || !strings.Contains(again.Body.String(), "already submitted") {
		t.Errorf("repeated rotate: %d, secret shown again or no note", again.Code)
	}
	if n := len(e.storedSecrets("acme").WebhookSecrets); n != 2 {
		t.Errorf("a repeated submit rotated again: %d secrets", n)
	}
	if strings.Contains(e.get("/console/partners/acme/edit/5", http.StatusOK), m[1]) {
		t.Errorf("the secret is shown again")
	}
	page = e.get("/console/partners/acme/edit/5", http.StatusOK)
	if !strings.Contains(page, `value="retire"`) {
		t.Fatalf("no retire button with 2 secrets")
	}
	retireForm := wzForm(t, page[strings.Index(page, `value="rotate"`):], url.Values{"op": {"retire"}})
	if w := e.serve("POST", "/console/partners/acme/edit/5", retireForm, e.op); w.Code != http.StatusOK {
		t.Fatalf("retire: %d %s", w.Code, w.Body)
	}
	if s := e.storedSecrets("acme"); !slices.Equal(s.WebhookSecrets, []string{secret}) {
		t.Errorf("after retire: %d secrets, want the new one only", len(s.WebhookSecrets))
	}

	// Step 6: the doctor's checklist, all green.
	page = e.get("/console/partners/acme/edit/6", http.StatusOK)
	if !strings.Contains(page, "Everything the setup guide requires is in place") || strings.Contains(page, "✗ Problem") ||
		strings.Count(page, `<span class="ok">✓ OK</span>`) < 5 {
		t.Errorf("step 6:\n%s", page)
	}
}

// TestWizardStaleVersion: a step saved from a page whose partner changed
// meanwhile is refused with the conflict message, and overwrites nothing.
func TestWizardStaleVersion(t *testing.T) {
	t.Parallel()
	e := newWizardEnv(t)
	e.createAcme()
	stale := e.get("/console/partners/acme/edit/2", http.StatusOK)

	// Someone else changes the partner (through the API, as a script would).
	p := e.stored("acme")
	p.Name, p.Board, p.NewStatus = "Renamed elsewhere", cwsim.DemoHelpDeskBoard, "New"
	if _, err := e.store.Replace(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	w := e.serve("POST", "/console/partners/acme/edit/2", wzForm(t, stale, url.Values{"board": {cwsim.DemoBackupBoard}, "newStatus": {"New"}}), e.op)
	body := w.Body.String()
	if w.Code != http.StatusConflict || !strings.Contains(body, "Someone else changed this partner; reload to see their change") ||
		!strings.Contains(body, `<a href="/console/partners/acme/edit/2">Reload this step</a>`) {
		t.Fatalf("stale save: %d\n%s", w.Code, body)
	}
	if got := e.stored("acme"); got.Board != cwsim.DemoHelpDeskBoard || got.Name != "Renamed elsewhere" || got.Version != 2 {
		t.Errorf("the stale save overwrote the other change: %+v", got)
	}
	// The page keeps the stale version: submitting it again is refused again.
	w = e.serve("POST", "/console/partners/acme/edit/2", wzForm(t, body, url.Values{"board": {cwsim.DemoBackupBoard}, "newStatus": {"New"}}), e.op)
	if w.Code != http.StatusConflict {
		t.Errorf("second stale save: %d", w.Code)
	}
	// Reloaded, the step saves.
	fresh := e.get("/console/partners/acme/edit/2", http.StatusOK)
	if w := e.serve("POST", "/console/partners/acme/edit/2", wzForm(t, fresh, url.Values{"board": {cwsim.DemoBackupBoard}, "newStatus": {"New"}}), e.op); w.Code != http.StatusSeeOther {
		t.Errorf("save after reload: %d %s", w.Code, w.Body)
	}
	if got := e.stored("acme"); got.Board != cwsim.DemoBackupBoard || got.Name != "Renamed elsewhere" {
		t.Errorf("after reload and save: %+v", got)
	}
}

// TestWizardRefusals: a failed check creates nothing and never repeats a
// key; an internal site is refused without connecting; a viewer sees no
// form and cannot write; a missing CSRF token is 403.
func TestWizardRefusals(t *testing.T) {
	t.Parallel()
	e := newWizardEnv(t)
	page := e.get("/console/partners/new", http.StatusOK)

	bad := e.step1("create")
	bad.Set("privateKey", "wrong-private-key")
	w := e.serve("POST", "/console/partners/new", wzForm(t, page, bad), e.op)
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "ConnectWise rejected the credentials") ||
		strings.Contains(w.Body.String(), "wrong-private-key") {
		t.Errorf("create with a wrong key: %d\n%s", w.Code, w.Body)
	}
	if _, err := e.store.Get(context.Background(), "acme"); err == nil {
		t.Errorf("a failed check created the partner")
	}

	calls := len(e.sim.Calls())
	internal := e.step1("check")
	internal.Set("siteUrl", "https://10.0.0.1")
	w = e.serve("POST", "/console/partners/new", wzForm(t, page, internal), e.op)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `id="siteUrl" name="siteUrl" type="url" value="https://10.0.0.1" required placeholder="https://api-na.myconnectwise.net" aria-describedby="siteUrl-hint" aria-invalid="true"`) {
		t.Errorf("internal site: %d\n%s", w.Code, w.Body)
	}
	if n := len(e.sim.Calls()); n != calls {
		t.Errorf("an internal site made %d calls", n-calls)
	}

	// No CSRF token: 403, nothing created.
	f := wzForm(t, page, e.step1("create"))
	f.Del("csrf")
	if w := e.serve("POST", "/console/partners/new", f, e.op); w.Code != http.StatusForbidden {
		t.Errorf("no csrf: %d", w.Code)
	}
	if _, err := e.store.Get(context.Background(), "acme"); err == nil {
		t.Errorf("a request without the CSRF token created the partner")
	}

	e.createAcme()
	// A viewer: the stored settings, no write control, no ConnectWise call;
	// a write is refused.
	calls = len(e.sim.Calls())
	for _, step := range []string{"1", "2", "3", "4", "5"} {
		w := e.serve("GET", "/console/partners/acme/edit/"+step, nil, e.viewer)
		if w.Code != http.StatusOK || strings.Contains(w.Body.String(), `method="post" action="/console/partners/acme`) || strings.Contains(w.Body.String(), "<select") {
			t.Errorf("viewer, step %s: %d, write controls shown", step, w.Code)
		}
	}
	if n := len(e.sim.Calls()); n != calls {
		t.Errorf("a viewer's pages made %d ConnectWise calls", n-calls)
	}
	vpage := e.serve("GET", "/console/partners/new", nil, e.viewer).Body.String()
	if strings.Contains(vpage, `name="privateKey"`) {
		t.Errorf("a viewer is shown the create form")
	}
	opPage := e.get("/console/partners/acme/edit/5", http.StatusOK)
	vcsrf := wzCSRF.FindStringSubmatch(vpage)
	form := wzForm(t, opPage, url.Values{"op": {"rotate"}})
	form.Set("csrf", vcsrf[1])
	if w := e.serve("POST", "/console/partners/acme/edit/5", form, e.viewer); w.Code != http.StatusForbidden {
		t.Errorf("viewer rotate: %d", w.Code)
	}
	if n := len(e.storedSecrets("acme").WebhookSecrets); n != 1 {
		t.Errorf("a viewer rotated the secret")
	}
	if w := e.serve("GET", "/console/partners/acme/edit/7", nil, e.op); w.Code != http.StatusNotFound {
		t.Errorf("step 7: %d", w.Code)
	}
	if w := e.serve("GET", "/console/partners/acme/edit", nil, e.op); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/partners/acme/edit/1" {
		t.Errorf("edit: %d %q", w.Code, w.Header().Get("Location"))
	}
	if w := e.serve("GET", "/console/partners/new", nil, nil); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/console/signin") {
		t.Errorf("signed out: %d %q", w.Code, w.Header().Get("Location"))
	}
}

// TestWizardEditSite: editing step 1 without keys keeps the stored keys
// and webhook secrets; a site change without keys is refused by the API;
// new keys need the confirmation and replace the webhook secret, shown once.
func TestWizardEditSite(t *testing.T) {
	t.Parallel()
	e := newWizardEnv(t)
	e.createAcme()
	before := e.storedSecrets("acme")

	page := e.get("/console/partners/acme/edit/1", http.StatusOK)
	if strings.Contains(page, cwsim.DemoPrivateKey) || strings.Contains(page, cwsim.DemoPublicKey) || !strings.Contains(page, `value="`+cwsim.DemoClientID+`"`) {
		t.Errorf("step 1 of a stored partner shows a key, or not the clientId")
	}
	f := url.Values{"op": {"save"}, "name": {"Acme Dental MSP"}, "siteUrl": {e.sim.URL()}, "companyId": {cwsim.DemoCompanyID}, "clientId": {cwsim.DemoClientID}}
	w := e.serve("POST", "/console/partners/acme/edit/1", wzForm(t, page, f), e.op)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("rename: %d %s", w.Code, w.Body)
	}
	if p, s := e.stored("acme"), e.storedSecrets("acme"); p.Name != "Acme Dental MSP" || !slices.Equal(s.WebhookSecrets, before.WebhookSecrets) || s.PrivateKey != before.PrivateKey {
		t.Errorf("rename changed the secrets or missed the name")
	}
	// The clientId alone: it is stored with the keys.
	page = e.get("/console/partners/acme/edit/1", http.StatusOK)
	f.Set("clientId", "0f6f1b8e-2c4d-4e1a-9b7c-5d2e8f0a1c36")
	if w := e.serve("POST", "/console/partners/acme/edit/1", wzForm(t, page, f), e.op); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "enter the keys too") {
		t.Errorf("clientId without keys: %d\n%s", w.Code, w.Body)
	}
	// Check with the stored keys.
	page = e.get("/console/partners/acme/edit/1", http.StatusOK)
	w = e.serve("POST", "/console/partners/acme/edit/1", wzForm(t, page, url.Values{"op": {"check"}, "siteUrl": {e.sim.URL()}, "companyId": {cwsim.DemoCompanyID}}), e.op)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "ConnectWise accepted the keys") {
		t.Errorf("check with the stored keys: %d\n%s", w.Code, w.Body)
	}
	// Another company without keys: the API refuses (the stored keys are
	// never sent elsewhere).
	f = url.Values{"op": {"save"}, "name": {"Acme"}, "siteUrl": {e.sim.URL()}, "companyId": {"othermsp"}}
	w = e.serve("POST", "/console/partners/acme/edit/1", wzForm(t, page, f), e.op)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "secrets.publicKey") {
		t.Errorf("company change without keys: %d\n%s", w.Code, w.Body)
	}
	// New keys without the confirmation: refused; with it: saved, and a new
	// webhook secret shown once.
	e.sim.AddMember(cwsim.DemoCompanyID, "second-public", "second-private")
	f = url.Values{"op": {"save"}, "name": {"Acme"}, "siteUrl": {e.sim.URL()}, "companyId": {cwsim.DemoCompanyID},
		"publicKey": {"second-public"}, "privateKey": {"second-private"}, "clientId": {cwsim.DemoClientID}}
	page = e.get("/console/partners/acme/edit/1", http.StatusOK)
	w = e.serve("POST", "/console/partners/acme/edit/1", wzForm(t, page, f), e.op)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `id="replaceSecret" name="replaceSecret" value="yes" aria-invalid="true"`) ||
		strings.Contains(w.Body.String(), "second-private") {
		t.Errorf("new keys without confirmation: %d\n%s", w.Code, w.Body)
	}
	if e.storedSecrets("acme").PrivateKey != cwsim.DemoPrivateKey {
		t.Fatalf("keys replaced without confirmation")
	}
	f.Set("replaceSecret", "yes")
	w = e.serve("POST", "/console/partners/acme/edit/1", wzForm(t, page, f), e.op)
	m := wzSecret.FindStringSubmatch(w.Body.String())
	if w.Code != http.StatusOK || m == nil || strings.Contains(w.Body.String(), "second-private") {
		t.Fatalf("new keys: %d\n%s", w.Code, w.Body)
	}
	if s := e.storedSecrets("acme"); s.PrivateKey != "second-private" || !slices.Equal(s.WebhookSecrets, []string{html.UnescapeString(m[1])}) {
		t.Errorf("after new keys: the stored secrets are not the new keys and the shown webhook secret")
	}
}

// TestBuildChecklist: the doctor's problems land on their lines; after a
// failing site or keys the ConnectWise lines are not checked.
func TestBuildChecklist(t *testing.T) {
	t.Parallel()
	doc := buildChecklist(false, []problemView{
		{Setting: "secrets", Problem: "ConnectWise rejected the credentials"},
		{Setting: "secrets.webhookSecrets[0]", Problem: "weak"},
		{Setting: "odd", Problem: "something else"},
	})
	var states []string
	for _, it := range doc.Items {
		states = append(states, it.State)
	}
	if got := strings.Join(states, ","); got != "ok,problem,problem,unchecked,unchecked,unchecked,problem" {
		t.Errorf("states %s", got)
	}
	if doc.Items[6].Label != "Setting odd" {
		t.Errorf("uncovered problem: %+v", doc.Items[6])
	}
	doc = buildChecklist(false, []problemView{{Setting: "secrets", Problem: "no ConnectWise keys stored for this partner: PUT them"}})
	if doc.Items[2].State != "unchecked" {
		t.Errorf("webhook line without stored secrets: %s", doc.Items[2].State)
	}
	doc = buildChecklist(false, []problemView{{Setting: "products.online_storage_servers", Problem: "missing"}, {Setting: "board", Problem: "no board"}})
	if doc.Items[3].State != "problem" || doc.Items[4].State != "problem" || doc.Items[5].State != "ok" {
		t.Errorf("board and products: %+v", doc.Items)
	}
}

// TestWizardRoutesOnce: wizardRoutes may be called by Routes and by its
// registerPages hook on the same mux without a duplicate-pattern panic.
func TestWizardRoutesOnce(t *testing.T) {
	t.Parallel()
	c := New(Options{API: http.NotFoundHandler(), SessionKey: []byte("k")})
	mux := http.NewServeMux()
	c.pageRoutes(mux) // registers the wizard through registerPages
	c.wizardRoutes(mux)
	c.wizardRoutes(mux)
	req := httptest.NewRequest("GET", "/console/partners/acme/edit/3", nil)
	if _, pattern := mux.Handler(req); pattern != "GET /console/partners/{id}/edit/{step}" {
		t.Errorf("edit step served by %q", pattern)
	}
}
