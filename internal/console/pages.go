package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The views of the operator API's answers the pages show (decoded from
// its JSON, so the console depends on the API's contract, not its code).

type partnerView struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	SiteURL   string `json:"siteUrl"`
	CompanyID string `json:"companyId"`
	Board     string `json:"board"`
	NewStatus string `json:"newStatus"`
	Version   int    `json:"version"`
	// Problem: the stored settings do not decode (what to fix).
	Problem         string `json:"problem"`
	SyncWindowHours int    `json:"syncWindowHours"`
}

type healthView struct {
	LastEventAt     time.Time `json:"lastEventAt"`
	LastPushAt      time.Time `json:"lastPushAt"`
	Failures24h     int       `json:"failures24h"`
	FailuresMore    bool      `json:"failuresMore"`
	Outstanding     int       `json:"outstanding"`
	OutstandingMore bool      `json:"outstandingMore"`
	// Connection is the partner's connection to ConnectWise (connection.go);
	// nil when the API does not report it.
	Connection *connectionView `json:"connection"`
}

type syncView struct {
	LastSyncAt   time.Time `json:"lastSyncAt"`
	Pending      bool      `json:"pending"`
	PendingSince time.Time `json:"pendingSince"`
	SyncingUntil time.Time `json:"syncingUntil"`
	WindowHours  int       `json:"windowHours"`
	OpensAt      time.Time `json:"opensAt"`
	Open         bool      `json:"open"`
}

type customerListed struct {
	CustomerID string   `json:"customerId"`
	Name       string   `json:"name"`
	Sync       syncView `json:"sync"`
}

type entryView struct {
	CustomerID         string          `json:"customerId"`
	EventID            string          `json:"eventId"`
	EventType          string          `json:"eventType"`
	What               string          `json:"what"`
	Subject            string          `json:"subject"`
	Outcome            string          `json:"outcome"`
	At                 time.Time       `json:"at"`
	Code               string          `json:"code"`
	Message            string          `json:"message"`
	Remedy             string          `json:"remedy"`
	ConnectWiseMessage string          `json:"connectWiseMessage"`
	TicketID           int64           `json:"ticketId"`
	Event              json.RawMessage `json:"event"`
}

// Reprocessable: a failed entry that kept its event (the API refuses the
// others).
func (e entryView) Reprocessable() bool { return e.Outcome == "failed" && len(e.Event) > 0 }

type problemView struct {
	Setting string `json:"setting"`
	Problem string `json:"problem"`
}

// doctorVerdict is the last doctor's answer for a partner, kept in memory
// (per process: in Lambda, per warm instance) so the partner list can show
// it without calling ConnectWise for every partner on every view.
type doctorVerdict struct {
	At       time.Time
	OK       bool
	Problems int
}

type doctorCache struct {
	mu sync.Mutex
	m  map[string]doctorVerdict
}

func (d *doctorCache) get(id string) (doctorVerdict, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.m[id]
	return v, ok
}

func (d *doctorCache) put(id string, v doctorVerdict) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]doctorVerdict{}
	}
	d.m[id] = v
}

// pageRoutes registers the console's own pages (see also registerPages).
func (c *Console) pageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/{$}", c.page(c.partnersPage))
	mux.HandleFunc("GET /console/partners/{id}", c.page(c.partnerPage))
	mux.HandleFunc("GET /console/partners/{id}/doctor", c.page(c.doctorPage))
	mux.HandleFunc("GET /console/partners/{id}/events", c.page(c.eventsPage))
	mux.HandleFunc("POST /console/partners/{id}/reprocess", c.action(c.reprocessAction))
	mux.HandleFunc("POST /console/partners/{id}/redrive", c.action(c.redriveAction))
	mux.HandleFunc("POST /console/partners/{id}/pause", c.action(c.pauseAction))
	mux.HandleFunc("POST /console/partners/{id}/resume", c.action(c.resumeAction))
	mux.HandleFunc("GET /console/partners/{id}/customers/{cid}", c.page(c.customerPage))
	mux.HandleFunc("POST /console/partners/{id}/customers/{cid}/sync", c.action(c.syncAction))
	for _, f := range extraPages {
		f(c, mux)
	}
}

var extraPages []func(*Console, *http.ServeMux)

// registerPages adds pages defined in other files of this package (the
// setup wizard): call it from an init function; f registers its routes on
// the console's mux (use c.page and c.action to wrap the handlers).
func registerPages(f func(c *Console, mux *http.ServeMux)) { extraPages = append(extraPages, f) }

// apiPath builds an operator API path from escaped segments.
func apiPath(segs ...string) string {
	var b strings.Builder
	b.WriteString("/v1/admin")
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// apiFailed renders the API's refusal (or a transport failure) as a page.
func (c *Console) apiFailed(w http.ResponseWriter, r *http.Request, status int, apiErr *APIError, err error) {
	if err != nil {
		c.log.ErrorContext(r.Context(), "console: operator API call", "error", err)
		status, apiErr = http.StatusInternalServerError, &APIError{Error: "internal error; see the admin function's log"}
	}
	if status < 400 {
		status = http.StatusBadGateway
	}
	c.renderFlash(w, r, status, "error.html", apiErr.Error, errorPage{Status: status, Message: apiErr.Error})
}

type partnerRow struct {
	Partner  partnerView
	Health   *healthView
	HealthEr string
	Doctor   *doctorVerdict
}

func (c *Console) partnersPage(w http.ResponseWriter, r *http.Request, _ Identity) {
	var list struct {
		Partners []partnerView `json:"partners"`
	}
	if st, ae, err := c.call(r.Context(), http.MethodGet, apiPath("partners"), nil, &list); ae != nil || err != nil {
		c.apiFailed(w, r, st, ae, err)
		return
	}
	rows := make([]partnerRow, 0, len(list.Partners))
	for _, p := range list.Partners {
		row := partnerRow{Partner: p}
		var h healthView
		if _, ae, err := c.call(r.Context(), http.MethodGet, apiPath("partners", p.ID, "health"), nil, &h); ae != nil {
			row.HealthEr = ae.Error
		} else if err != nil {
			row.HealthEr = "could not be read"
		} else {
			row.Health = &h
		}
		if v, ok := c.doctor.get(p.ID); ok {
			row.Doctor = &v
		}
		rows = append(rows, row)
	}
	c.render(w, r, http.StatusOK, "partners.html", rows)
}

type partnerPageData struct {
	Partner   partnerView
	Health    *healthView
	Customers []customerListed
	More      bool
	Doctor    *doctorVerdict
	Problem   string
}

func (c *Console) partnerPage(w http.ResponseWriter, r *http.Request, _ Identity) {
	id := r.PathValue("id")
	var got struct {
		Partner partnerView `json:"partner"`
		Error   string      `json:"error"`
	}
	if st, ae, err := c.call(r.Context(), http.MethodGet, apiPath("partners", id), nil, &got); ae != nil || err != nil {
		c.apiFailed(w, r, st, ae, err)
		return
	}
	d := partnerPageData{Partner: got.Partner, Problem: got.Error}
	var h healthView
	if _, ae, err := c.call(r.Context(), http.MethodGet, apiPath("partners", id, "health"), nil, &h); ae == nil && err == nil {
		d.Health = &h
	}
	var cs struct {
		Customers []customerListed `json:"customers"`
		More      bool             `json:"more"`
	}
	if st, ae, err := c.call(r.Context(), http.MethodGet, apiPath("partners", id, "customers"), nil, &cs); ae != nil || err != nil {
		c.apiFailed(w, r, st, ae, err)
		return
	}
	d.Customers, d.More = cs.Customers, cs.More
	if v, ok := c.doctor.get(id); ok {
		d.Doctor = &v
	}
	c.render(w, r, http.StatusOK, "partner.html", d)
}

type doctorPageData struct {
	PartnerID string
	Verdict   doctorVerdict
	Problems  []problemView
}

func (c *Console) doctorPage(w http.ResponseWriter, r *http.Request, _ Identity) {
	id := r.PathValue("id")
	var got struct {
		OK       bool          `json:"ok"`
		Problems []problemView `json:"problems"`
	}
	if st, ae, err := c.call(r.Context(), http.MethodGet, apiPath("partners", id, "doctor"), nil, &got); ae != nil || err != nil {
		c.apiFailed(w, r, st, ae, err)
		return
	}
	v := doctorVerdict{At: c.now(), OK: got.OK, Problems: len(got.Problems)}
	c.doctor.put(id, v)
	c.render(w, r, http.StatusOK, "doctor.html", doctorPageData{PartnerID: id, Verdict: v, Problems: got.Problems})
}

// eventFilter is the event log page's filter form.
type eventFilter struct {
	Customer string
	Type     string
	Outcome  string
	Failed   bool
	Cursor   string
}

// query is the filter as the operator API's query (and the page's own).
func (f eventFilter) query(withCursor bool) url.Values {
	q := url.Values{}
	if f.Customer != "" {
		q.Set("customer", f.Customer)
	}
	if f.Type != "" {
		q.Set("type", f.Type)
	}
	if f.Outcome != "" {
		q.Set("outcome", f.Outcome)
	}
	if f.Failed {
		q.Set("failed", "true")
	}
	if withCursor && f.Cursor != "" {
		q.Set("cursor", f.Cursor)
	}
	return q
}

// EventTypes are the event types of the contract (the type filter's
// choices), and the ConnectWise callbacks' entries.
var EventTypes = []string{"backup.completed", "service.status", "notification", "usage.snapshot", "account.removed", "customer.removed", "connectwise.callback"}

// Outcomes are the event log's outcomes (the outcome filter's choices).
var Outcomes = []string{"done", "throttled", "skipped", "failed", "retrying", outcomeParked, outcomeDeadLettered}

type eventsPageData struct {
	PartnerID  string
	SiteURL    string
	Filter     eventFilter
	Types      []string
	Outcomes   []string
	Entries    []entryView
	NextURL    string
	Since      string // default of the "reprocess since" field (UTC)
	FilterNote string
	// Connection: the partner's connection, when the API reported it (the
	// page says when its events are held).
	Connection *connectionView
}

func (c *Console) eventsPage(w http.ResponseWriter, r *http.Request, _ Identity) {
	id := r.PathValue("id")
	q := r.URL.Query()
	f := eventFilter{Customer: strings.TrimSpace(q.Get("customer")), Type: q.Get("type"), Outcome: q.Get("outcome"),
		Failed: q.Get("failed") == "true" || q.Get("failed") == "on", Cursor: q.Get("cursor")}
	var got struct {
		Partner partnerView `json:"partner"`
	}
	if st, ae, err := c.call(r.Context(), http.MethodGet, apiPath("partners", id), nil, &got); ae != nil || err != nil {
		c.apiFailed(w, r, st, ae, err)
		return
	}
	var page struct {
		Entries []entryView `json:"entries"`
		Cursor  string      `json:"cursor"`
	}
	if st, ae, err := c.call(r.Context(), http.MethodGet, apiPath("partners", id, "events")+"?"+f.query(true).Encode(), nil, &page); ae != nil || err != nil {
		c.apiFailed(w, r, st, ae, err)
		return
	}
	d := eventsPageData{PartnerID: id, SiteURL: got.Partner.SiteURL, Filter: f, Types: EventTypes, Outcomes: Outcomes,
		Entries: page.Entries, Since: c.now().UTC().Add(-24 * time.Hour).Format("2006-01-02T15:04")}
	var h healthView
	if _, ae, err := c.call(r.Context(), http.MethodGet, apiPath("partners", id, "health"), nil, &h); ae == nil && err == nil {
		d.Connection = h.Connection
	}
	if page.Cursor != "" {
		next := f
		next.Cursor = page.Cursor
		d.NextURL = "/console/partners/" + url.PathEscape(id) + "/events?" + next.query(true).Encode()
	}
	c.render(w, r, http.StatusOK, "events.html", d)
}

// actionResult is what a write form answers (and, for its nonce, what a
// repeated submit answers again).
type actionResult struct {
	Title   string
	Message string
	Detail  string
	Back    string
	BackTo  string
	Failed  bool
}

func (c *Console) renderResult(w http.ResponseWriter, r *http.Request, res onceResult) {
	if res.Status == 0 { // the first submit's work did not finish
		res = onceResult{Status: http.StatusInternalServerError, Result: actionResult{Title: "Not done", Failed: true,
			Message: "The first submit of this form did not finish; reload the page and try again.", Back: "/console/", BackTo: "the partners"}}
	}
	c.render(w, r, res.Status, "result.html", res.Result)
}

func (c *Console) reprocessAction(w http.ResponseWriter, r *http.Request, _ Identity) {
	id := r.PathValue("id")
	back := "/console/partners/" + url.PathEscape(id) + "/events"
	eventID := strings.TrimSpace(r.PostFormValue("eventId"))
	sinceText := strings.TrimSpace(r.PostFormValue("since"))
	var body map[string]any
	switch {
	case eventID != "" && sinceText == "":
		body = map[string]any{"eventId": eventID}
	case eventID == "" && sinceText != "":
		since, err := parseSince(sinceText)
		if err != nil {
			c.renderResult(w, r, onceResult{Status: http.StatusBadRequest, Result: actionResult{Title: "Reprocess", Failed: true,
				Message: "The time is not understood: give a date and time (UTC), for example 2026-03-03T02:00.", Back: back, BackTo: "the event log"}})
			return
		}
		body = map[string]any{"since": since.Format(time.RFC3339)}
	default:
		c.renderResult(w, r, onceResult{Status: http.StatusBadRequest, Result: actionResult{Title: "Reprocess", Failed: true,
			Message: "Choose one event, or a time since which to reprocess the fixable failures.", Back: back, BackTo: "the event log"}})
		return
	}
	res := c.once(r, func() onceResult {
		var out struct {
			RequestID string `json:"requestId"`
			Queued    *int   `json:"queued"`
		}
		st, ae, err := c.call(r.Context(), http.MethodPost, apiPath("partners", id, "reprocess"), body, &out)
		if ae != nil || err != nil {
			return c.failedResult(r, "Reprocess", st, ae, err, back, "the event log")
		}
		res := actionResult{Title: "Reprocess", Back: back, BackTo: "the event log", Detail: "Request " + out.RequestID}
		if out.Queued != nil {
			res.Message = plural(*out.Queued, "fixable failed event was", "fixable failed events were") + " queued to be processed again."
		} else {
			res.Message = "Event " + eventID + " was queued to be processed again; its new entries appear in the event log in a moment."
		}
		return onceResult{Status: st, Result: res}
	})
	c.renderResult(w, r, res)
}

func (c *Console) syncAction(w http.ResponseWriter, r *http.Request, _ Identity) {
	id, cid := r.PathValue("id"), r.PathValue("cid")
	back := "/console/partners/" + url.PathEscape(id) + "/customers/" + url.PathEscape(cid)
	res := c.once(r, func() onceResult {
		var out struct {
			RequestID string `json:"requestId"`
		}
		st, ae, err := c.call(r.Context(), http.MethodPost, apiPath("partners", id, "customers", cid, "sync"), nil, &out)
		if ae != nil || err != nil {
			return c.failedResult(r, "Sync now", st, ae, err, back, "the customer")
		}
		return onceResult{Status: st, Result: actionResult{Title: "Sync now", Back: back, BackTo: "the customer",
			Message: "The sync of customer " + cid + " was queued; it bypasses the sync window.", Detail: "Request " + out.RequestID}}
	})
	c.renderResult(w, r, res)
}

func (c *Console) failedResult(r *http.Request, title string, status int, ae *APIError, err error, back, backTo string) onceResult {
	if err != nil {
		c.log.ErrorContext(r.Context(), "console: operator API call", "error", err)
		status, ae = http.StatusInternalServerError, &APIError{Error: "internal error; see the admin function's log"}
	}
	return onceResult{Status: status, Result: actionResult{Title: title, Failed: true, Message: ae.Error, Back: back, BackTo: backTo}}
}

// parseSince reads the "since" field: datetime-local (UTC) or RFC 3339.
func parseSince(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Parse(time.RFC3339, s)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

type customerPageData struct {
	PartnerID string
	Customer  struct {
		CustomerID            string    `json:"customerId"`
		Name                  string    `json:"name"`
		ArchivingMailboxes    *int      `json:"archivingMailboxes"`
		FilteringMailboxes    *int      `json:"filteringMailboxes"`
		ShadowProtectServers  *int      `json:"shadowProtectServers"`
		ShadowProtectDesktops *int      `json:"shadowProtectDesktops"`
		UsageAsOf             time.Time `json:"usageAsOf"`
	} `json:"customer"`
	Accounts []struct {
		AccountID    string    `json:"accountId"`
		Name         string    `json:"name"`
		Kind         string    `json:"kind"`
		Plan         string    `json:"plan"`
		OnlineGB     float64   `json:"onlineGB"`
		LocalGB      float64   `json:"localGB"`
		LastBackupAt time.Time `json:"lastBackupAt"`
		LastResult   string    `json:"lastResult"`
		Period       string    `json:"period"`
		Successes    int       `json:"successes"`
		Failures     int       `json:"failures"`
		Health       string    `json:"health"`
	} `json:"accounts"`
	Figures struct {
		Period       string `json:"period"`
		Successes    int    `json:"successes"`
		Failures     int    `json:"failures"`
		Servers      int    `json:"servers"`
		Workstations int    `json:"workstations"`
		Quantities   []struct {
			Service      string  `json:"service"`
			Product      string  `json:"product"`
			Quantity     float64 `json:"quantity"`
			Billed       bool    `json:"billed"`
			FromSnapshot bool    `json:"fromSnapshot"`
		} `json:"quantities"`
	} `json:"figures"`
	Sync syncView `json:"sync"`

	// The preview, when asked for (?preview=1).
	PreviewAsked bool
	Preview      *previewView
	PreviewError string
}

type previewView struct {
	Company struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	} `json:"company"`
	Changes []struct {
		What    string
		Target  string
		Field   string
		From    any
		To      any
		Created bool
	} `json:"changes"`
	Errors []struct {
		What               string
		Code               string
		Message            string
		Remedy             string
		ConnectWiseMessage string
	} `json:"errors"`
	Calls int `json:"calls"`
}

func (c *Console) customerPage(w http.ResponseWriter, r *http.Request, _ Identity) {
	id, cid := r.PathValue("id"), r.PathValue("cid")
	d := customerPageData{PartnerID: id}
	if st, ae, err := c.call(r.Context(), http.MethodGet, apiPath("partners", id, "customers", cid), nil, &d); ae != nil || err != nil {
		c.apiFailed(w, r, st, ae, err)
		return
	}
	if r.URL.Query().Get("preview") == "1" {
		d.PreviewAsked = true
		var p previewView
		if _, ae, err := c.call(r.Context(), http.MethodGet, apiPath("partners", id, "customers", cid, "preview"), nil, &p); ae != nil {
			d.PreviewError = ae.Error
		} else if err != nil {
			c.log.ErrorContext(r.Context(), "console: preview", "error", err)
			d.PreviewError = "internal error; see the admin function's log"
		} else {
			d.Preview = &p
		}
	}
	c.render(w, r, http.StatusOK, "customer.html", d)
}
