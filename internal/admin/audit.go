package admin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/efs-cw/backupbridge/internal/audit"
)

var monthRE = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

// auditTrail answers GET …/customers/{cid}/audit?month=2026-11[&format=csv]:
// the customer's changes to agreement additions in that UTC month (default
// the current one), oldest first, as JSON or as a CSV file.
func (a *API) auditTrail(ctx context.Context, partnerID, customerID string, q url.Values) response {
	month, resp := a.auditMonth(ctx, partnerID, q)
	if resp != nil {
		return *resp
	}
	es, err := a.Audit.List(ctx, partnerID, customerID, month)
	if err != nil {
		return a.internal(ctx, err)
	}
	return a.jsonOrCSV(ctx, q, map[string]any{"partnerId": partnerID, "customerId": customerID, "month": month, "changes": es},
		"audit-"+partnerID+"-"+customerID+"-"+month+".csv", func(w io.Writer) error { return audit.WriteCSV(w, es) })
}

// drifts answers GET …/drifts[?format=csv]: the partner's drifts (a
// person's edit of an addition the service bills, found by a sync), newest
// first, the last one per addition field.
func (a *API) drifts(ctx context.Context, partnerID string, q url.Values) response {
	if resp := a.auditReady(ctx, partnerID); resp != nil {
		return *resp
	}
	ds, err := a.Audit.Drifts(ctx, partnerID)
	if err != nil {
		return a.internal(ctx, err)
	}
	return a.jsonOrCSV(ctx, q, map[string]any{"partnerId": partnerID, "drifts": ds},
		"drifts-"+partnerID+".csv", func(w io.Writer) error { return audit.WriteDriftCSV(w, ds) })
}

// statement answers GET …/statement?month=2026-11[&format=csv]: each
// customer's billed values at the end of the month (and at its start), with
// the month's changes, from the audit trail.
func (a *API) statement(ctx context.Context, partnerID string, q url.Values) response {
	month, resp := a.auditMonth(ctx, partnerID, q)
	if resp != nil {
		return *resp
	}
	if a.Customers == nil {
		return a.internal(ctx, errors.New("admin: no customer list"))
	}
	st := audit.Statement{PartnerID: partnerID, Month: month, Customers: []audit.CustomerStatement{}}
	for c, err := range a.Customers.Customers(ctx, partnerID) {
		if err != nil {
			return a.internal(ctx, err)
		}
		cs, ok, err := a.Audit.CustomerStatement(ctx, partnerID, c.CustomerID, month)
		if err != nil {
			return a.internal(ctx, err)
		}
		if ok {
			st.Customers = append(st.Customers, cs)
		}
	}
	slices.SortFunc(st.Customers, func(x, y audit.CustomerStatement) int { return strings.Compare(x.CustomerID, y.CustomerID) })
	return a.jsonOrCSV(ctx, q, st, "statement-"+partnerID+"-"+month+".csv", func(w io.Writer) error { return audit.WriteStatementCSV(w, st) })
}

// auditMonth checks the partner and the audit store, and reads ?month=
// (default the current UTC month).
func (a *API) auditMonth(ctx context.Context, partnerID string, q url.Values) (string, *response) {
	if resp := a.auditReady(ctx, partnerID); resp != nil {
		return "", resp
	}
	month := q.Get("month")
	if month == "" {
		month = audit.Month(a.now())
	}
	if !monthRE.MatchString(month) {
		r := reply(http.StatusBadRequest, errBody("month must be YYYY-MM, e.g. 2026-11", "month"))
		return "", &r
	}
	return month, nil
}

// auditReady checks the partner and the audit store.
func (a *API) auditReady(ctx context.Context, partnerID string) *response {
	if _, resp := a.lookup(ctx, partnerID); resp != nil {
		return resp
	}
	if a.Audit == nil {
		r := a.internal(ctx, errors.New("admin: no audit store"))
		return &r
	}
	return nil
}

// jsonOrCSV answers v as JSON, or (format=csv) what writeCSV writes, as a
// file named filename.
func (a *API) jsonOrCSV(ctx context.Context, q url.Values, v any, filename string, writeCSV func(io.Writer) error) response {
	switch q.Get("format") {
	case "", "json":
		return reply(http.StatusOK, v)
	case "csv":
		var buf bytes.Buffer
		if err := writeCSV(&buf); err != nil {
			return a.internal(ctx, err)
		}
		return response{status: http.StatusOK, raw: buf.Bytes(), contentType: "text/csv; charset=utf-8", filename: filename}
	}
	return reply(http.StatusBadRequest, errBody("format must be json or csv", "format"))
}
