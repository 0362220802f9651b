package console

// Steps 2–6 of the setup wizard (see wizard.go).

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// option is one <option> or checkbox of a form.
type option struct {
	Value    string
	Label    string
	Selected bool
}

// liveLists reads the site's boards and catalog for steps 2 and 3 (a
// check of the stored partner with its stored keys). ok=false when they
// could not be read: d says why.
func (c *Console) liveLists(ctx context.Context, d *wizardData, id string) (*wizardCheck, int, bool) {
	ck, st, ae, err := c.siteCheck(ctx, map[string]any{"partnerId": id})
	if ae != nil || err != nil {
		d.setAPIError(st, ae, err)
		d.Error = "The site's lists could not be read: " + d.Error
		return nil, wizardStatus(d, st), false
	}
	d.Check = ck
	if !ck.OK {
		return ck, http.StatusOK, false
	}
	return ck, http.StatusOK, true
}

// --- step 2: board and statuses ---

// wizardBoard is step 2's form.
type wizardBoard struct {
	// Boards are the site's boards (the first form: choose one, then its
	// statuses are listed).
	Boards []option
	// Board is the chosen board's name (a hidden field of the second form).
	Board string
	// Open are the chosen board's statuses that are not closed (for new
	// tickets); Closed its closed ones.
	Open   []option
	Closed []option
	// ClosedDefault: no closed status chosen (the board's first).
	ClosedDefault bool
	// Stored values, and whether the stored board is on the site.
	StoredBoard, StoredNew, StoredClosed string
	StoredMissing                        bool
	// Unavailable: the lists could not be read (Error or Check says why).
	Unavailable bool
}

// boardStep fills step 2 (GET, or again after a refused save): the site's
// boards, and the statuses of the one chosen (?board=<id>, else the posted
// or stored one, else the first).
func (c *Console) boardStep(r *http.Request, d *wizardData, rd *wizardRead, canWrite bool) int {
	b := &wizardBoard{StoredBoard: rd.P.Board, StoredNew: rd.P.NewStatus, StoredClosed: rd.P.ClosedStatus}
	d.Board = b
	if !canWrite {
		return http.StatusOK // a viewer sees the stored settings; no call to ConnectWise
	}
	ck, status, ok := c.liveLists(r.Context(), d, rd.P.ID)
	if !ok {
		b.Unavailable = true
		return status
	}
	posted := r.Method == http.MethodPost
	chosen := -1
	if id, err := strconv.Atoi(r.URL.Query().Get("board")); err == nil {
		chosen = slices.IndexFunc(ck.Boards, func(x checkBoard) bool { return x.ID == id })
	}
	byName := func(name string) int {
		for i, x := range ck.Boards {
			if strings.EqualFold(x.Name, name) {
				return i
			}
		}
		return -1
	}
	if chosen < 0 && posted {
		chosen = byName(r.PostFormValue("board"))
	}
	if stored := byName(rd.P.Board); rd.P.Board != "" && stored < 0 {
		b.StoredMissing = true
	} else if chosen < 0 {
		chosen = stored
	}
	if chosen < 0 && len(ck.Boards) > 0 {
		chosen = 0
	}
	for i, x := range ck.Boards {
		b.Boards = append(b.Boards, option{Value: strconv.Itoa(x.ID), Label: x.Name, Selected: i == chosen})
	}
	if chosen < 0 {
		return http.StatusOK
	}
	board := ck.Boards[chosen]
	b.Board = board.Name
	wantNew, wantClosed := "", ""
	switch {
	case posted:
		wantNew, wantClosed = r.PostFormValue("newStatus"), r.PostFormValue("closedStatus")
	case strings.EqualFold(board.Name, rd.P.Board):
		wantNew, wantClosed = rd.P.NewStatus, rd.P.ClosedStatus
	}
	if wantNew == "" {
		for _, s := range board.Statuses {
			if s.Default && !s.Closed {
				wantNew = s.Name
			}
		}
	}
	for _, s := range board.Statuses {
		if s.Closed {
			b.Closed = append(b.Closed, option{Value: s.Name, Label: s.Name, Selected: strings.EqualFold(s.Name, wantClosed)})
		} else {
			b.Open = append(b.Open, option{Value: s.Name, Label: s.Name, Selected: strings.EqualFold(s.Name, wantNew)})
		}
	}
	b.ClosedDefault = !slices.ContainsFunc(b.Closed, func(o option) bool { return o.Selected })
	return http.StatusOK
}

func (c *Console) saveBoard(w http.ResponseWriter, r *http.Request) {
	board, newStatus, closed := strings.TrimSpace(r.PostFormValue("board")), strings.TrimSpace(r.PostFormValue("newStatus")), strings.TrimSpace(r.PostFormValue("closedStatus"))
	again := func(d *wizardData, rd *wizardRead) { c.boardStep(r, d, rd, true) }
	version, _ := formVersion(r)
	switch {
	case board == "":
		c.wizardRefused(w, r, 2, version, onceResult{Status: http.StatusBadRequest, Result: actionResult{Failed: true, Message: "choose the service board for the tickets", Detail: "board"}}, again)
		return
	case newStatus == "":
		c.wizardRefused(w, r, 2, version, onceResult{Status: http.StatusBadRequest, Result: actionResult{Failed: true, Message: "choose the status new tickets get", Detail: "newStatus"}}, again)
		return
	}
	c.saveStep(w, r, 2, func(m map[string]any) {
		m["board"], m["newStatus"] = board, newStatus
		if closed == "" {
			delete(m, "closedStatus")
		} else {
			m["closedStatus"] = closed
		}
	}, again)
}

// --- step 3: products and billing ---

// wizardBilling is step 3's form: per billing service of the guide's
// Figure 8, whether it is billed and its catalog product.
type wizardBilling struct {
	Rows                      []billingRow
	UpdateBackupStatistics    bool
	UpdateInvoiceDescriptions bool
	Unavailable               bool
}

type billingRow struct {
	Service string
	Label   string
	Billed  bool
	Product string
	Options []option
}

func (c *Console) billingStep(r *http.Request, d *wizardData, rd *wizardRead, canWrite bool) int {
	b := &wizardBilling{UpdateBackupStatistics: rd.P.Integration.UpdateBackupStatistics, UpdateInvoiceDescriptions: rd.P.Integration.UpdateInvoiceDescriptions}
	d.Billing = b
	posted := r.Method == http.MethodPost
	if posted {
		b.UpdateBackupStatistics, b.UpdateInvoiceDescriptions = r.PostFormValue("updateBackupStatistics") == "on", r.PostFormValue("updateInvoiceDescriptions") == "on"
	}
	for _, svc := range partner.BillingServices {
		row := billingRow{Service: string(svc), Label: billingLabels[svc], Product: rd.P.Products[string(svc)],
			Billed: slices.Contains(rd.P.Integration.Billing, string(svc))}
		if posted {
			row.Product, row.Billed = strings.TrimSpace(r.PostFormValue("product-"+string(svc))), r.PostFormValue("bill-"+string(svc)) == "on"
		}
		b.Rows = append(b.Rows, row)
	}
	if !canWrite {
		return http.StatusOK
	}
	ck, status, ok := c.liveLists(r.Context(), d, rd.P.ID)
	if !ok {
		b.Unavailable = true
		return status
	}
	for i := range b.Rows {
		row := &b.Rows[i]
		row.Options = append(row.Options, option{Value: "", Label: "(no product)", Selected: row.Product == ""})
		found := row.Product == ""
		for _, p := range ck.Products {
			sel := row.Product != "" && strings.EqualFold(p.Identifier, row.Product)
			found = found || sel
			label := p.Identifier
			if p.Description != "" {
				label += " — " + p.Description
			}
			row.Options = append(row.Options, option{Value: p.Identifier, Label: label, Selected: sel})
		}
		if !found {
			// Keep the stored cross-reference selectable: saving must not
			// drop it silently (the doctor reports a missing product).
			row.Options = append(row.Options, option{Value: row.Product, Label: row.Product + " (not in the site's active catalog)", Selected: true})
		}
	}
	return http.StatusOK
}

func (c *Console) saveBilling(w http.ResponseWriter, r *http.Request) {
	products := map[string]any{}
	billing := []string{}
	for _, svc := range partner.BillingServices {
		if p := strings.TrimSpace(r.PostFormValue("product-" + string(svc))); p != "" {
			products[string(svc)] = p
		}
		if r.PostFormValue("bill-"+string(svc)) == "on" {
			billing = append(billing, string(svc))
		}
	}
	c.saveStep(w, r, 3, func(m map[string]any) {
		integ, _ := m["integration"].(map[string]any)
		if integ == nil {
			integ = map[string]any{}
		}
		integ["updateBackupStatistics"] = r.PostFormValue("updateBackupStatistics") == "on"
		integ["updateInvoiceDescriptions"] = r.PostFormValue("updateInvoiceDescriptions") == "on"
		integ["billing"] = billing
		m["integration"], m["products"] = integ, products
	}, func(d *wizardData, rd *wizardRead) { c.billingStep(r, d, rd, true) })
}

// --- step 4: notification rules ---

// maxRuleRows bounds the rule rows of the form.
const maxRuleRows = 20

// wizardRules is step 4's form: one row per rule, plus empty rows to add
// one. A row without an action is no rule.
type wizardRules struct {
	Rows []ruleRow
	// Paused: the stored partner has no rules (none of its events opens a
	// ticket or triggers a sync); Defaulted: the guide's two default rules
	// are preselected in their place.
	Paused    bool
	Defaulted bool
}

type ruleRow struct {
	N          int // the row's index in the form
	Num        int // N+1, as shown
	Actions    []option
	Severities []option
	EventTypes []option
}

// ruleActions are the rule actions and their labels.
var ruleActions = []option{
	{Value: "", Label: "(no rule)"},
	{Value: string(partner.ActionOpenTicket), Label: "Open a ticket"},
	{Value: string(partner.ActionSynchronize), Label: "Synchronize the customer's data"},
}

func newRuleRow(n int, rl wizardRule) ruleRow {
	row := ruleRow{N: n, Num: n + 1}
	for _, a := range ruleActions {
		a.Selected = a.Value == rl.Action
		row.Actions = append(row.Actions, a)
	}
	for _, s := range contract.Severities {
		row.Severities = append(row.Severities, option{Value: string(s), Label: string(s), Selected: slices.Contains(rl.Severities, string(s))})
	}
	for _, k := range contract.NotificationKinds {
		row.EventTypes = append(row.EventTypes, option{Value: string(k), Label: eventTypeLabels[k], Selected: slices.Contains(rl.EventTypes, string(k))})
	}
	return row
}

// rulesOf is the form of the stored rules (the guide's defaults
// preselected when there are none), with two empty rows to add rules.
func rulesOf(stored []wizardRule) *wizardRules {
	rs := &wizardRules{}
	rules := stored
	if len(rules) == 0 {
		rs.Paused, rs.Defaulted = true, true
		for _, d := range partner.DefaultRules() {
			rl := wizardRule{Action: string(d.Action)}
			for _, s := range d.Severities {
				rl.Severities = append(rl.Severities, string(s))
			}
			for _, k := range d.EventTypes {
				rl.EventTypes = append(rl.EventTypes, string(k))
			}
			rules = append(rules, rl)
		}
	}
	for i, rl := range rules {
		rs.Rows = append(rs.Rows, newRuleRow(i, rl))
	}
	for i := len(rules); i < min(len(rules)+2, maxRuleRows); i++ {
		rs.Rows = append(rs.Rows, newRuleRow(i, wizardRule{}))
	}
	return rs
}

// postedRules reads the rule rows of step 4's form.
func postedRules(r *http.Request) []wizardRule {
	rows, _ := strconv.Atoi(r.PostFormValue("rows"))
	rows = max(0, min(rows, maxRuleRows))
	rules := []wizardRule{}
	for i := range rows {
		action := r.PostFormValue(fmt.Sprintf("rule-%d-action", i))
		if action == "" {
			continue
		}
		rules = append(rules, wizardRule{Action: action,
			Severities: r.PostForm[fmt.Sprintf("rule-%d-severity", i)],
			EventTypes: r.PostForm[fmt.Sprintf("rule-%d-type", i)]})
	}
	return rules
}

func (c *Console) saveRules(w http.ResponseWriter, r *http.Request) {
	rules := postedRules(r)
	c.saveStep(w, r, 4, func(m map[string]any) {
		// Always a list: [] is "no rules", while null would be the defaults.
		m["rules"] = rules
	}, func(d *wizardData, _ *wizardRead) {
		d.Rules = rulesOf(rules)
		d.Rules.Paused, d.Rules.Defaulted = len(rules) == 0, false
		if len(rules) == 0 {
			d.Rules = &wizardRules{Paused: true}
			for i := range 2 {
				d.Rules.Rows = append(d.Rules.Rows, newRuleRow(i, wizardRule{}))
			}
		}
	})
}

// --- step 5: webhook signing secret ---

// wizardSecret is step 5: how many signing secrets are stored, and the new
// one right after it was generated (shown on that answer only).
type wizardSecret struct {
	Count     int
	NewSecret string
	Message   string
}

func (c *Console) saveSecret(w http.ResponseWriter, r *http.Request) {
	pid := r.PathValue("id")
	op := r.PostFormValue("op")
	d := c.newWizardData(5, pid)
	d.Secret = &wizardSecret{}
	if op != "rotate" && op != "retire" {
		d.Error = "Choose to generate a new secret or to retire the older ones."
	}
	var secret string // set by the first submit of the form only
	var res onceResult
	if d.Error == "" {
		res = c.once(r, func() onceResult {
			var out struct {
				Secret string `json:"secret"`
				Count  int    `json:"count"`
			}
			st, ae, err := c.call(r.Context(), http.MethodPost, apiPath("partners", pid, "webhook-secrets"), map[string]any{"action": op}, &out)
			if ae != nil || err != nil {
				return savedResult("", st, ae, err)
			}
			secret = out.Secret
			msg := "The older secrets were retired: only the newest is kept."
			if op == "rotate" {
				msg = "A new secret was generated."
			}
			return onceResult{Status: http.StatusOK, Result: actionResult{Message: msg}}
		})
		if res.Result.Failed {
			d.setAPIError(res.Status, &APIError{Error: res.Result.Message, Field: res.Result.Detail}, nil)
		} else {
			d.Secret.Message, d.Secret.NewSecret = res.Result.Message, secret
			if op == "rotate" && secret == "" {
				d.Secret.Message = "This form was already submitted: the new secret was shown on the answer to that submit only. If you did not copy it, generate another one."
			}
		}
	}
	rd, st, ae, err := c.wizardGet(r.Context(), pid)
	if ae != nil || err != nil {
		c.apiFailed(w, r, st, ae, err)
		return
	}
	d.fill(rd)
	if rd.Secrets != nil {
		d.Secret.Count = rd.Secrets.WebhookSecrets
	}
	status := http.StatusOK
	if d.Error != "" {
		status = max(res.Status, http.StatusBadRequest)
	}
	c.renderWizard(w, r, status, d)
}

// --- step 6: the doctor's checklist ---

// wizardDoctor is step 6: the doctor's findings as a checklist.
type wizardDoctor struct {
	OK    bool
	Items []checkItem
}

// checkItem is one line of the checklist: State is "ok", "problem" or
// "unchecked" (not checked because an earlier item failed).
type checkItem struct {
	Label    string
	State    string
	Problems []string
}

// doctorItems are the checklist's lines: what the guide's setup needs, the
// doctor's settings they cover, and whether the later lines depend on it
// (nothing more is checked when the site or the keys fail).
var doctorItems = []struct {
	label   string
	match   func(setting string) bool
	blocker bool // nothing after it is checked when it fails
	onSite  bool // checked only when the site and keys work
}{
	{"The site is an https ConnectWise site that answers", func(s string) bool { return s == "siteUrl" || s == "partner" }, true, false},
	{"ConnectWise accepts the keys (company id, public and private key, clientId, security role)", func(s string) bool {
		return (s == "secrets" || strings.HasPrefix(s, "secrets.")) && !strings.HasPrefix(s, "secrets.webhookSecrets")
	}, true, false},
	{"The webhook can verify deliveries with the stored signing secrets", func(s string) bool { return strings.HasPrefix(s, "secrets.webhookSecrets") }, false, false},
	{"The service board and its statuses exist", func(s string) bool {
		return s == "board" || s == "newStatus" || s == "closedStatus" || s == "priority" || s == "ticketType"
	}, false, true},
	{"The cross-referenced products exist in the catalog", func(s string) bool { return s == "products" || strings.HasPrefix(s, "products.") }, false, true},
	{"Customers that send events have a company with their managed ID, and clean agreement additions", func(s string) bool { return strings.HasPrefix(s, "customers") }, false, true},
}

func (c *Console) doctorStep(r *http.Request, d *wizardData) int {
	var got struct {
		OK       bool          `json:"ok"`
		Problems []problemView `json:"problems"`
	}
	st, ae, err := c.call(r.Context(), http.MethodGet, apiPath("partners", d.PartnerID, "doctor"), nil, &got)
	if ae != nil || err != nil {
		d.setAPIError(st, ae, err)
		return wizardStatus(d, st)
	}
	c.doctor.put(d.PartnerID, doctorVerdict{At: c.now(), OK: got.OK, Problems: len(got.Problems)})
	d.Doctor = buildChecklist(got.OK, got.Problems)
	return http.StatusOK
}

// buildChecklist sorts the doctor's problems into the checklist's lines;
// a problem no line covers gets a line of its own.
func buildChecklist(ok bool, problems []problemView) *wizardDoctor {
	doc := &wizardDoctor{OK: ok}
	used := make([]bool, len(problems))
	blocked := false
	// Without stored secrets the doctor checks neither ConnectWise nor the
	// webhook secrets.
	noKeys := slices.ContainsFunc(problems, func(p problemView) bool {
		return p.Setting == "secrets" && strings.HasPrefix(p.Problem, "no ConnectWise keys stored")
	})
	for _, it := range doctorItems {
		item := checkItem{Label: it.label, State: "ok"}
		for i, p := range problems {
			if !used[i] && it.match(p.Setting) {
				used[i] = true
				item.Problems = append(item.Problems, p.Problem)
			}
		}
		switch {
		case len(item.Problems) > 0:
			item.State = "problem"
		case blocked && it.onSite, noKeys && !it.blocker:
			item.State = "unchecked"
		}
		if it.blocker && len(item.Problems) > 0 {
			blocked = true
		}
		doc.Items = append(doc.Items, item)
	}
	for i, p := range problems {
		if !used[i] {
			doc.Items = append(doc.Items, checkItem{Label: "Setting " + p.Setting, State: "problem", Problems: []string{p.Problem}})
		}
	}
	return doc
}
