package console

// The partner setup wizard (docs/console.md, README "Partner setup"):
//
//	GET  /console/partners/new                 step 1 of a new partner
//	POST /console/partners/new                 check the site and keys; create the partner
//	GET  /console/partners/{id}/edit           → step 1
//	GET  /console/partners/{id}/edit/{step}    steps 1–6 of an existing partner
//	POST /console/partners/{id}/edit/{step}    save a step (steps 1–5)
//
// Like every console page it has no path to the data of its own: it reads
// and writes through the operator API (c.call), with the JSON a script
// sends.
//
// State between the steps is the stored partner itself, not the browser:
// step 1 checks the site and keys live (POST /v1/admin/connectwise/check)
// and, once the check passes, creates the partner (POST /v1/admin/partners)
// with the keys, a generated webhook signing secret and no notification
// rules (so a half-configured partner opens no ticket and triggers no sync
// until step 4). Every later step is a PUT of the partner read fresh from the
// API with this step's settings changed and the version the page showed
// (a hidden field): a partner changed meanwhile is answered 409 by the API,
// and the step says so and overwrites nothing. The ConnectWise keys never
// appear in a page: they are posted once, in step 1, and never rendered
// back.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/partner"
)

func init() {
	registerPages(func(c *Console, mux *http.ServeMux) { c.wizardRoutes(mux) })
}

// wizardRoutes registers the setup wizard's routes on mux. It is safe to
// call more than once on the same mux (from registerPages and from Routes):
// the second call finds the routes registered and does nothing.
func (c *Console) wizardRoutes(mux *http.ServeMux) {
	probe, _ := http.NewRequest(http.MethodGet, "/console/partners/new", nil)
	if _, pattern := mux.Handler(probe); pattern == "GET /console/partners/new" {
		return
	}
	mux.HandleFunc("GET /console/partners/new", c.page(c.wizardNew))
	mux.HandleFunc("POST /console/partners/new", c.action(c.wizardCreate))
	mux.HandleFunc("GET /console/partners/{id}/edit", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, wizardURL(r.PathValue("id"), 1), http.StatusSeeOther)
	})
	mux.HandleFunc("GET /console/partners/{id}/edit/{step}", c.page(c.wizardStep))
	mux.HandleFunc("POST /console/partners/{id}/edit/{step}", c.action(c.wizardSave))
}

// wizardSteps are the steps' titles, step 1 first.
var wizardSteps = []string{
	"ConnectWise site and keys",
	"Service board and statuses",
	"Products and billing",
	"Notification rules",
	"Webhook signing secret",
	"Checklist",
}

// wizardConflict is what a step says when the API refuses its write
// because the partner changed since the page was read (409).
const wizardConflict = "Someone else changed this partner; reload to see their change. Nothing was saved."

// wizardURL is the page of a step of partner id.
func wizardURL(id string, step int) string {
	return "/console/partners/" + url.PathEscape(id) + "/edit/" + strconv.Itoa(step)
}

// wizardStepLink is one entry of the wizard's step list.
type wizardStepLink struct {
	N       int
	Title   string
	URL     string // empty: not reachable yet (a new partner)
	Current bool
}

// wizardData is what templates/wizard.html executes with (as .Data).
type wizardData struct {
	Step      int
	Title     string
	Steps     []wizardStepLink
	New       bool // a partner not created yet (step 1)
	PartnerID string
	Name      string
	Version   int
	// Error is the API's refusal in words; ErrField the form field it
	// names (when it names one); Conflict a 409 on the version.
	Error    string
	ErrField string
	Conflict bool
	// Unreadable: the stored partner does not decode (what to fix).
	Unreadable string
	Self       string // this step's page (the forms' action)
	Next       string // the next step's page
	Prev       string // the previous step's page

	Site    *wizardSite
	Check   *wizardCheck
	Board   *wizardBoard
	Billing *wizardBilling
	Rules   *wizardRules
	Secret  *wizardSecret
	Doctor  *wizardDoctor
}

// Invalid reports whether the error names the form field f.
func (d *wizardData) Invalid(f string) bool { return d.ErrField != "" && d.ErrField == f }

// setAPIError records a refusal of the API (or a failure to call it).
func (d *wizardData) setAPIError(status int, ae *APIError, err error) {
	switch {
	case err != nil:
		d.Error = "internal error; see the admin function's log"
	case status == http.StatusConflict && ae != nil && ae.Field == "partner.version":
		d.Conflict, d.Error = true, wizardConflict
	case ae != nil:
		d.Error, d.ErrField = ae.Error, formField(ae.Field)
		if ae.Field != "" {
			d.Error = ae.Field + ": " + ae.Error
		}
	}
}

// formField is the wizard's form field for the API's JSON path:
// "partner.siteUrl" → "siteUrl", "secrets.privateKey" → "privateKey",
// "partner.products.local_storage_gb" → "product-local_storage_gb".
func formField(apiField string) string {
	f := strings.TrimPrefix(strings.TrimPrefix(apiField, "partner."), "secrets.")
	if svc, ok := strings.CutPrefix(f, "products."); ok {
		return "product-" + svc
	}
	if i := strings.IndexAny(f, ".["); i > 0 {
		f = f[:i]
	}
	return f
}

func (c *Console) newWizardData(step int, id string) *wizardData {
	d := &wizardData{Step: step, Title: wizardSteps[step-1], PartnerID: id, New: id == "", Self: "/console/partners/new"}
	for i, t := range wizardSteps {
		l := wizardStepLink{N: i + 1, Title: t, Current: i+1 == step}
		if id != "" {
			l.URL = wizardURL(id, i+1)
		}
		d.Steps = append(d.Steps, l)
	}
	if id != "" {
		d.Self = wizardURL(id, step)
		if step > 1 {
			d.Prev = wizardURL(id, step-1)
		}
		if step < len(wizardSteps) {
			d.Next = wizardURL(id, step+1)
		}
	}
	return d
}

// renderWizard answers the wizard page.
func (c *Console) renderWizard(w http.ResponseWriter, r *http.Request, status int, d *wizardData) {
	c.render(w, r, status, "wizard.html", d)
}

// wizardStatus is the status of a page that shows a refusal.
func wizardStatus(d *wizardData, apiStatus int) int {
	switch {
	case d.Error == "":
		return http.StatusOK
	case apiStatus >= 400:
		return apiStatus
	}
	return http.StatusBadGateway
}

// --- reading the partner ---

// wizardPartner is the part of GET /v1/admin/partners/{id} the wizard shows.
type wizardPartner struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	SiteURL      string `json:"siteUrl"`
	CompanyID    string `json:"companyId"`
	Codebase     string `json:"codebase"`
	Board        string `json:"board"`
	NewStatus    string `json:"newStatus"`
	ClosedStatus string `json:"closedStatus"`
	Integration  struct {
		UpdateBackupStatistics    bool     `json:"updateBackupStatistics"`
		UpdateInvoiceDescriptions bool     `json:"updateInvoiceDescriptions"`
		Billing                   []string `json:"billing"`
	} `json:"integration"`
	Products map[string]string `json:"products"`
	Rules    []wizardRule      `json:"rules"`
	Version  int               `json:"version"`
}

type wizardRule struct {
	Action     string   `json:"action"`
	Severities []string `json:"severities,omitempty"`
	EventTypes []string `json:"eventTypes,omitempty"`
}

// wizardRead is a partner as GET answers it: the typed view, the raw
// settings (written back by a step with only its own settings changed),
// the redacted secrets and, for a partner that does not decode, what to fix.
type wizardRead struct {
	P       wizardPartner
	Raw     map[string]any
	Secrets *struct {
		ClientID       string `json:"clientId"`
		WebhookSecrets int    `json:"webhookSecrets"`
	}
	Problem string
}

func (c *Console) wizardGet(ctx context.Context, id string) (*wizardRead, int, *APIError, error) {
	var got struct {
		Partner json.RawMessage `json:"partner"`
		Secrets *struct {
			ClientID       string `json:"clientId"`
			WebhookSecrets int    `json:"webhookSecrets"`
		} `json:"secrets"`
		Error string `json:"error"`
	}
	st, ae, err := c.call(ctx, http.MethodGet, apiPath("partners", id), nil, &got)
	if ae != nil || err != nil {
		return nil, st, ae, err
	}
	rd := &wizardRead{Secrets: got.Secrets, Problem: got.Error}
	if err := json.Unmarshal(got.Partner, &rd.P); err != nil {
		return nil, st, nil, fmt.Errorf("console: decoding partner %s: %w", id, err)
	}
	if err := json.Unmarshal(got.Partner, &rd.Raw); err != nil || rd.Raw == nil {
		return nil, st, nil, fmt.Errorf("console: decoding partner %s: %v", id, err)
	}
	return rd, st, nil, nil
}

// wizardPut writes a step: the partner is read fresh from the API, change
// sets this step's settings, and it is PUT with version, the version the
// step's page showed (so that a change made meanwhile is refused 409 and
// nothing is overwritten). secrets, when not nil, go with it.
func (c *Console) wizardPut(ctx context.Context, id string, version int, change func(m map[string]any), secrets map[string]any) (int, *APIError, error) {
	rd, st, ae, err := c.wizardGet(ctx, id)
	if ae != nil || err != nil {
		return st, ae, err
	}
	m := rd.Raw
	change(m)
	m["id"], m["version"] = id, version
	body := map[string]any{"partner": m}
	if secrets != nil {
		body["secrets"] = secrets
	}
	return c.call(ctx, http.MethodPut, apiPath("partners", id), body, nil)
}

// formVersion is the version field of a step's form.
func formVersion(r *http.Request) (int, bool) {
	v, err := strconv.Atoi(r.PostFormValue("version"))
	return v, err == nil && v > 0
}

// savedResult is what a step's save answers, and what a repeated submit of
// the same form (its nonce) answers again: a redirect to Back, or the
// refusal to show on the step.
func savedResult(next string, status int, ae *APIError, err error) onceResult {
	if ae == nil && err == nil {
		return onceResult{Status: http.StatusSeeOther, Result: actionResult{Back: next}}
	}
	res := onceResult{Status: status, Result: actionResult{Failed: true}}
	if err != nil {
		res.Status, res.Result.Message = http.StatusInternalServerError, "internal error; see the admin function's log"
		return res
	}
	res.Result.Message, res.Result.Detail = ae.Error, ae.Field
	return res
}

// --- step 1: site, company, keys ---

// wizardSite is step 1's form.
type wizardSite struct {
	ID        string
	Name      string
	SiteURL   string
	CompanyID string
	Codebase  string
	ClientID  string
	// Stored: the partner exists (edit): keys are optional, and replacing
	// them replaces the webhook signing secret too.
	Stored bool
	// NewSecret is the webhook signing secret generated when the keys were
	// replaced, shown once.
	NewSecret string
}

// wizardCheck is the answer of POST /v1/admin/connectwise/check.
type wizardCheck struct {
	OK                bool           `json:"ok"`
	Problems          []problemView  `json:"problems"`
	Boards            []checkBoard   `json:"boards"`
	Products          []checkProduct `json:"products"`
	ProductsTruncated bool           `json:"productsTruncated"`
	BoardsTruncated   bool           `json:"boardsTruncated"`
	Notes             []string       `json:"notes"`
}

type checkBoard struct {
	ID       int           `json:"id"`
	Name     string        `json:"name"`
	Statuses []checkStatus `json:"statuses"`
}

type checkStatus struct {
	ID      int    `json:"id"`
	Name    string `json:"name"`
	Closed  bool   `json:"closed"`
	Default bool   `json:"default"`
}

type checkProduct struct {
	Identifier  string `json:"identifier"`
	Description string `json:"description"`
}

// siteCheck calls the check: body is the site and keys, or {"partnerId"}.
func (c *Console) siteCheck(ctx context.Context, body map[string]any) (*wizardCheck, int, *APIError, error) {
	var ck wizardCheck
	st, ae, err := c.call(ctx, http.MethodPost, "/v1/admin/connectwise/check", body, &ck)
	if ae != nil || err != nil {
		return nil, st, ae, err
	}
	return &ck, st, nil, nil
}

func (c *Console) wizardNew(w http.ResponseWriter, r *http.Request, _ Identity) {
	d := c.newWizardData(1, "")
	d.Site = &wizardSite{}
	c.renderWizard(w, r, http.StatusOK, d)
}

// siteForm reads step 1's form (never echoing the keys into the page).
func siteForm(r *http.Request) (site wizardSite, publicKey, privateKey string) {
	f := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	site = wizardSite{ID: f("id"), Name: f("name"), SiteURL: f("siteUrl"), CompanyID: f("companyId"), Codebase: f("codebase"), ClientID: f("clientId")}
	// The keys as typed: a key with surrounding spaces is refused by the
	// API (a copy-and-paste slip), not silently trimmed.
	return site, r.PostFormValue("publicKey"), r.PostFormValue("privateKey")
}

func (site wizardSite) checkBody(publicKey, privateKey string) map[string]any {
	b := map[string]any{"siteUrl": site.SiteURL, "companyId": site.CompanyID, "publicKey": publicKey, "privateKey": privateKey, "clientId": site.ClientID}
	if site.Codebase != "" {
		b["codebase"] = site.Codebase
	}
	return b
}

// wizardCreate answers POST /console/partners/new: op=check checks the site
// and keys; op=create checks them and, when the check passes, creates the
// partner and goes on to step 2.
func (c *Console) wizardCreate(w http.ResponseWriter, r *http.Request, _ Identity) {
	site, pub, priv := siteForm(r)
	d := c.newWizardData(1, "")
	d.Site = &site
	if r.PostFormValue("op") != "create" {
		ck, st, ae, err := c.siteCheck(r.Context(), site.checkBody(pub, priv))
		d.Check = ck
		d.setAPIError(st, ae, err)
		c.renderWizard(w, r, wizardStatus(d, st), d)
		return
	}
	var ck *wizardCheck // what the first submit saw (a repeat sees nothing)
	res := c.once(r, func() onceResult {
		var secret string
		var failed *onceResult
		if ck, secret, failed = c.checkKeys(r, site, pub, priv, "The check did not pass, so the partner was not created: fix what it found and try again."); failed != nil {
			return *failed
		}
		p := map[string]any{"id": site.ID, "name": site.Name, "siteUrl": site.SiteURL, "companyId": site.CompanyID,
			// No rules until step 4: the partner opens no ticket and
			// triggers no sync while it is being set up.
			"rules":       []any{},
			"integration": map[string]any{"updateBackupStatistics": true, "updateInvoiceDescriptions": true}}
		if site.Codebase != "" {
			p["codebase"] = site.Codebase
		}
		s := map[string]any{"publicKey": pub, "privateKey": priv, "clientId": site.ClientID, "webhookSecrets": []string{secret}}
		st, ae, err := c.call(r.Context(), http.MethodPost, apiPath("partners"), map[string]any{"partner": p, "secrets": s}, nil)
		return savedResult(wizardURL(site.ID, 2), st, ae, err)
	})
	if res.Status == http.StatusSeeOther {
		http.Redirect(w, r, res.Result.Back, http.StatusSeeOther)
		return
	}
	d.Check = ck
	if res.Result.Message != "" {
		d.setAPIError(res.Status, &APIError{Error: res.Result.Message, Field: res.Result.Detail}, nil)
	}
	c.renderWizard(w, r, res.Status, d)
}

// wizardNewSecret is a webhook signing secret for a new partner: "whsec_"
// and the standard base64 of 32 bytes from crypto/rand (the operator API's
// rule). It is never shown: step 5 generates the one given to the sender.
// checkKeys checks the site and keys live and, when they pass, generates
// the webhook signing secret that goes with them. failed is the answer when
// they do not (notPassed as its message), or when the check or the secret
// failed.
func (c *Console) checkKeys(r *http.Request, site wizardSite, pub, priv, notPassed string) (ck *wizardCheck, secret string, failed *onceResult) {
	fail := func(o onceResult) (*wizardCheck, string, *onceResult) { return ck, "", &o }
	ck, st, ae, err := c.siteCheck(r.Context(), site.checkBody(pub, priv))
	if ae != nil || err != nil {
		return fail(savedResult("", st, ae, err))
	}
	if !ck.OK {
		return fail(onceResult{Status: http.StatusUnprocessableEntity, Result: actionResult{Failed: true, Message: notPassed}})
	}
	if secret, err = wizardNewSecret(); err != nil {
		return fail(savedResult("", 0, nil, err))
	}
	return ck, secret, nil
}

func wizardNewSecret() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("console: generating a webhook secret: %w", err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(key), nil
}

// --- steps of an existing partner ---

// wizardStepOf reads the {step} of the path (1–6).
func wizardStepOf(r *http.Request) (int, bool) {
	n, err := strconv.Atoi(r.PathValue("step"))
	return n, err == nil && n >= 1 && n <= len(wizardSteps) && r.PathValue("step") == strconv.Itoa(n)
}

func (c *Console) wizardNotFound(w http.ResponseWriter, r *http.Request) {
	c.renderFlash(w, r, http.StatusNotFound, "error.html", "There is no such step of the setup.", errorPage{Status: http.StatusNotFound})
}

// wizardStep answers GET /console/partners/{id}/edit/{step}.
func (c *Console) wizardStep(w http.ResponseWriter, r *http.Request, id Identity) {
	step, ok := wizardStepOf(r)
	if !ok {
		c.wizardNotFound(w, r)
		return
	}
	pid := r.PathValue("id")
	rd, st, ae, err := c.wizardGet(r.Context(), pid)
	if ae != nil || err != nil {
		c.apiFailed(w, r, st, ae, err)
		return
	}
	d := c.newWizardData(step, pid)
	d.fill(rd)
	status := http.StatusOK
	switch step {
	case 1:
		d.Site = rd.site()
	case 2:
		status = c.boardStep(r, d, rd, id.CanWrite())
	case 3:
		status = c.billingStep(r, d, rd, id.CanWrite())
	case 4:
		d.Rules = rulesOf(rd.P.Rules)
	case 5:
		d.Secret = &wizardSecret{}
		if rd.Secrets != nil {
			d.Secret.Count = rd.Secrets.WebhookSecrets
		}
	case 6:
		status = c.doctorStep(r, d)
	}
	c.renderWizard(w, r, status, d)
}

// fill sets what every step of a stored partner shows.
func (d *wizardData) fill(rd *wizardRead) {
	d.Name, d.Version, d.Unreadable = rd.P.Name, rd.P.Version, rd.Problem
}

func (rd *wizardRead) site() *wizardSite {
	s := &wizardSite{ID: rd.P.ID, Name: rd.P.Name, SiteURL: rd.P.SiteURL, CompanyID: rd.P.CompanyID, Codebase: rd.P.Codebase, Stored: true}
	if rd.Secrets != nil {
		s.ClientID = rd.Secrets.ClientID
	}
	return s
}

// wizardSave answers POST /console/partners/{id}/edit/{step}.
func (c *Console) wizardSave(w http.ResponseWriter, r *http.Request, _ Identity) {
	step, ok := wizardStepOf(r)
	if !ok || step == 6 {
		c.wizardNotFound(w, r)
		return
	}
	switch step {
	case 1:
		c.saveSite(w, r)
	case 2:
		c.saveBoard(w, r)
	case 3:
		c.saveBilling(w, r)
	case 4:
		c.saveRules(w, r)
	case 5:
		c.saveSecret(w, r)
	}
}

// saveStep runs a step's PUT once per form (nonce) and redirects to the
// next step; a refusal re-renders the step through again with the error.
func (c *Console) saveStep(w http.ResponseWriter, r *http.Request, step int, change func(m map[string]any), again func(d *wizardData, rd *wizardRead)) {
	pid := r.PathValue("id")
	version, ok := formVersion(r)
	var res onceResult
	if !ok {
		res = onceResult{Status: http.StatusBadRequest, Result: actionResult{Failed: true, Message: "the form lacks the partner's version: reload the page"}}
	} else {
		res = c.once(r, func() onceResult {
			st, ae, err := c.wizardPut(r.Context(), pid, version, change, nil)
			return savedResult(wizardURL(pid, step+1), st, ae, err)
		})
	}
	if res.Status == http.StatusSeeOther {
		http.Redirect(w, r, res.Result.Back, http.StatusSeeOther)
		return
	}
	c.wizardRefused(w, r, step, version, res, again)
}

// wizardRefused shows a step again with the refusal of its save. The page
// keeps the version the operator's form had: after a 409 the form stays
// stale until reloaded, so a second click is refused again rather than
// overwriting the other change.
func (c *Console) wizardRefused(w http.ResponseWriter, r *http.Request, step, version int, res onceResult, again func(d *wizardData, rd *wizardRead)) {
	pid := r.PathValue("id")
	d := c.newWizardData(step, pid)
	d.setAPIError(res.Status, &APIError{Error: res.Result.Message, Field: res.Result.Detail}, nil)
	rd, st, ae, err := c.wizardGet(r.Context(), pid)
	if ae != nil || err != nil {
		c.apiFailed(w, r, st, ae, err)
		return
	}
	d.fill(rd)
	if version > 0 {
		d.Version = version
	}
	if again != nil {
		again(d, rd)
	}
	c.renderWizard(w, r, res.Status, d)
}

// saveSite saves step 1 of a stored partner: the name, site, company and
// codebase; and, when keys are entered, the keys (checked live first),
// which replaces the webhook signing secret too (the API stores the
// secrets as a whole and never shows the stored ones).
func (c *Console) saveSite(w http.ResponseWriter, r *http.Request) {
	pid := r.PathValue("id")
	site, pub, priv := siteForm(r)
	site.ID, site.Stored = pid, true
	withKeys := pub != "" || priv != ""
	again := func(d *wizardData, _ *wizardRead) { d.Site = &site }
	version, _ := formVersion(r)
	refuse := func(status int, msg, field string) {
		c.wizardRefused(w, r, 1, version, onceResult{Status: status, Result: actionResult{Failed: true, Message: msg, Detail: field}}, again)
	}
	if r.PostFormValue("op") == "check" {
		body := site.checkBody(pub, priv)
		if !withKeys {
			body = map[string]any{"partnerId": pid}
		}
		ck, st, ae, err := c.siteCheck(r.Context(), body)
		d := c.newWizardData(1, pid)
		rd, gst, gae, gerr := c.wizardGet(r.Context(), pid)
		if gae != nil || gerr != nil {
			c.apiFailed(w, r, gst, gae, gerr)
			return
		}
		d.fill(rd)
		d.Version = version
		d.Site, d.Check = &site, ck
		d.setAPIError(st, ae, err)
		if !withKeys && (!strings.EqualFold(site.SiteURL, rd.P.SiteURL) || !strings.EqualFold(site.CompanyID, rd.P.CompanyID)) && d.Error == "" {
			d.Error = "The check used the stored site and company with the stored keys: to check another site or company, enter the keys for it."
		}
		c.renderWizard(w, r, wizardStatus(d, st), d)
		return
	}
	if !withKeys && site.ClientID != "" {
		// The clientId is stored with the keys: changing it alone would
		// need them (the API stores the secrets as a whole).
		rd, st, ae, err := c.wizardGet(r.Context(), pid)
		if ae != nil || err != nil {
			c.apiFailed(w, r, st, ae, err)
			return
		}
		if rd.Secrets != nil && rd.Secrets.ClientID != site.ClientID {
			refuse(http.StatusBadRequest, "The clientId is stored with the ConnectWise keys: to change it, enter the keys too.", "publicKey")
			return
		}
	}
	if withKeys && r.PostFormValue("replaceSecret") != "yes" {
		refuse(http.StatusBadRequest, "Replacing the keys replaces the webhook signing secret too: tick the box to confirm, then give the new secret (shown once) to the backup provider.", "replaceSecret")
		return
	}
	var ck *wizardCheck
	var secret string
	res := c.once(r, func() onceResult {
		if version == 0 {
			return onceResult{Status: http.StatusBadRequest, Result: actionResult{Failed: true, Message: "the form lacks the partner's version: reload the page"}}
		}
		var secrets map[string]any
		if withKeys {
			var failed *onceResult
			if ck, secret, failed = c.checkKeys(r, site, pub, priv, "The check of the new keys did not pass, so nothing was saved: fix what it found and try again."); failed != nil {
				return *failed
			}
			secrets = map[string]any{"publicKey": pub, "privateKey": priv, "clientId": site.ClientID, "webhookSecrets": []string{secret}}
		}
		st, ae, err := c.wizardPut(r.Context(), pid, version, func(m map[string]any) {
			m["name"], m["siteUrl"], m["companyId"] = site.Name, site.SiteURL, site.CompanyID
			if site.Codebase != "" {
				m["codebase"] = site.Codebase
			} else {
				delete(m, "codebase")
			}
		}, secrets)
		if ae != nil || err != nil {
			secret = ""
		}
		return savedResult(wizardURL(pid, 2), st, ae, err)
	})
	if res.Status == http.StatusSeeOther && secret == "" {
		http.Redirect(w, r, res.Result.Back, http.StatusSeeOther)
		return
	}
	if res.Status == http.StatusSeeOther {
		// The keys were replaced: the new webhook secret, once, on the
		// answer to this submit (a repeat of the form is redirected).
		d := c.newWizardData(1, pid)
		rd, st, ae, err := c.wizardGet(r.Context(), pid)
		if ae != nil || err != nil {
			c.apiFailed(w, r, st, ae, err)
			return
		}
		d.fill(rd)
		d.Site = rd.site()
		d.Site.NewSecret = secret
		c.renderWizard(w, r, http.StatusOK, d)
		return
	}
	c.wizardRefused(w, r, 1, version, res, func(d *wizardData, _ *wizardRead) {
		d.Site, d.Check = &site, ck
	})
}

// --- labels ---

// billingLabels name the guide's Figure 8 rows.
var billingLabels = map[partner.BillingService]string{
	partner.BillOnlineSelectGB:        "Online storage, Select (GB)",
	partner.BillOnlineBasicGB:         "Online storage, Basic (GB)",
	partner.BillOnlineBDRGB:           "Online storage, ShadowProtect BDR (GB)",
	partner.BillOnlineServers:         "Online storage, number of servers",
	partner.BillOnlineDesktops:        "Online storage, number of desktops",
	partner.BillLocalStorageGB:        "Local storage (GB)",
	partner.BillLocalServers:          "Local backups, number of servers",
	partner.BillLocalDesktops:         "Local backups, number of desktops",
	partner.BillShadowProtectServers:  "ShadowProtect licences, servers",
	partner.BillShadowProtectDesktops: "ShadowProtect licences, desktops",
	partner.BillArchivingMailboxes:    "Email archiving, mailboxes",
	partner.BillFilteringMailboxes:    "Email filtering, mailboxes",
}

var eventTypeLabels = map[contract.NotificationKind]string{
	contract.NotifyBackupFailure:      "Backup failure",
	contract.NotifyNoBackup:           "No backup",
	contract.NotifyNoErrorFreeBackup:  "No error-free backup",
	contract.NotifyDiskUsage:          "Disk usage",
	contract.NotifyArchivingFailure:   "Archiving failure",
	contract.NotifyBDRHardwareFailure: "BDR hardware failure",
}
