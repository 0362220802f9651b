package console

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"time"

	"github.com/efs-cw/backupbridge/internal/audit"
)

// The billing pages (issue 11): a partner's monthly statement and drift
// report (/console/partners/{id}/billing?month=YYYY-MM), and a customer's
// audit trail of a month (/console/partners/{id}/customers/{cid}/audit),
// each with its CSV download, all read from the operator API.

func init() {
	registerPages(func(c *Console, mux *http.ServeMux) {
		mux.HandleFunc("GET /console/partners/{id}/billing", c.page(c.billingPage))
		mux.HandleFunc("GET /console/partners/{id}/billing/statement.csv", c.page(c.csvDownload(func(r *http.Request, month string) string {
			return apiPath("partners", r.PathValue("id"), "statement") + "?format=csv&month=" + month
		})))
		mux.HandleFunc("GET /console/partners/{id}/billing/drifts.csv", c.page(c.csvDownload(func(r *http.Request, _ string) string {
			return apiPath("partners", r.PathValue("id"), "drifts") + "?format=csv"
		})))
		mux.HandleFunc("GET /console/partners/{id}/customers/{cid}/audit", c.page(c.auditPage))
		mux.HandleFunc("GET /console/partners/{id}/customers/{cid}/audit.csv", c.page(c.csvDownload(func(r *http.Request, month string) string {
			return apiPath("partners", r.PathValue("id"), "customers", r.PathValue("cid"), "audit") + "?format=csv&month=" + month
		})))
	})
}

var consoleMonthRE = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

// month is the page's ?month=, or the current UTC month; with the months
// before and after it for the page's navigation.
func (c *Console) month(r *http.Request) (month, prev, next string) {
	month = r.URL.Query().Get("month")
	if !consoleMonthRE.MatchString(month) {
		month = audit.Month(c.now())
	}
	t, _ := time.Parse("2006-01", month)
	return month, t.AddDate(0, -1, 0).Format("2006-01"), t.AddDate(0, 1, 0).Format("2006-01")
}

type billingPageData struct {
	PartnerID         string
	Month, Prev, Next string
	Statement         audit.Statement
	Drifts            []audit.Drift
	DriftsError       string
}

func (c *Console) billingPage(w http.ResponseWriter, r *http.Request, _ Identity) {
	id := r.PathValue("id")
	d := billingPageData{PartnerID: id}
	d.Month, d.Prev, d.Next = c.month(r)
	if st, ae, err := c.call(r.Context(), http.MethodGet, apiPath("partners", id, "statement")+"?month="+d.Month, nil, &d.Statement); ae != nil || err != nil {
		c.apiFailed(w, r, st, ae, err)
		return
	}
	var dr struct {
		Drifts []audit.Drift `json:"drifts"`
	}
	if _, ae, err := c.call(r.Context(), http.MethodGet, apiPath("partners", id, "drifts"), nil, &dr); ae != nil {
		d.DriftsError = ae.Error
	} else if err != nil {
		d.DriftsError = "internal error; see the admin function's log"
	}
	d.Drifts = dr.Drifts
	c.render(w, r, http.StatusOK, "billing.html", d)
}

type auditPageData struct {
	PartnerID, CustomerID string
	Month, Prev, Next     string
	Entries               []audit.Entry
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, _ Identity) {
	d := auditPageData{PartnerID: r.PathValue("id"), CustomerID: r.PathValue("cid")}
	d.Month, d.Prev, d.Next = c.month(r)
	var got struct {
		Changes []audit.Entry `json:"changes"`
	}
	if st, ae, err := c.call(r.Context(), http.MethodGet, apiPath("partners", d.PartnerID, "customers", d.CustomerID, "audit")+"?month="+d.Month, nil, &got); ae != nil || err != nil {
		c.apiFailed(w, r, st, ae, err)
		return
	}
	d.Entries = got.Changes
	c.render(w, r, http.StatusOK, "audit.html", d)
}

// csvDownload serves the operator API's CSV answer for path(r, month) as
// it is (its Content-Type and Content-Disposition included).
func (c *Console) csvDownload(path func(r *http.Request, month string) string) func(w http.ResponseWriter, r *http.Request, _ Identity) {
	return func(w http.ResponseWriter, r *http.Request, _ Identity) {
		month, _, _ := c.month(r)
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, path(r, url.QueryEscape(month)), http.NoBody)
		if err != nil {
			c.apiFailed(w, r, 0, nil, err)
			return
		}
		req.RequestURI = req.URL.RequestURI()
		rec := httptest.NewRecorder()
		c.api.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			c.apiFailed(w, r, rec.Code, &APIError{Error: "the operator API refused the download"}, nil)
			return
		}
		for _, h := range []string{"Content-Type", "Content-Disposition"} {
			if v := rec.Header().Get(h); v != "" {
				w.Header().Set(h, v)
			}
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(rec.Body.Bytes())
	}
}
