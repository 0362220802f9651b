package admin

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"

	"github.com/efs-cw/backupbridge/internal/audit"
)

var monthRE = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

// auditTrail answers GET …/customers/{cid}/audit?month=2026-11[&format=csv]:
// the customer's changes to agreement additions in that UTC month (default
// the current one), oldest first, as JSON or as a CSV file.
func (a *API) auditTrail(ctx context.Context, partnerID, customerID string, q url.Values) response {
	if _, resp := a.lookup(ctx, partnerID); resp != nil {
		return *resp
	}
	if a.Audit == nil {
		return a.internal(ctx, errors.New("admin: no audit store"))
	}
	month := q.Get("month")
	if month == "" {
		month = audit.Month(a.now())
	}
	if !monthRE.MatchString(month) {
		return reply(http.StatusBadRequest, errBody("month must be YYYY-MM, e.g. 2026-11", "month"))
	}
	es, err := a.Audit.List(ctx, partnerID, customerID, month)
	if err != nil {
		return a.internal(ctx, err)
	}
	switch q.Get("format") {
	case "", "json":
		return reply(http.StatusOK, map[string]any{"partnerId": partnerID, "customerId": customerID, "month": month, "changes": es})
	case "csv":
		var buf bytes.Buffer
		if err := audit.WriteCSV(&buf, es); err != nil {
			return a.internal(ctx, err)
		}
		return response{status: http.StatusOK, raw: buf.Bytes(), contentType: "text/csv; charset=utf-8",
			filename: "audit-" + partnerID + "-" + customerID + "-" + month + ".csv"}
	}
	return reply(http.StatusBadRequest, errBody("format must be json or csv", "format"))
}
