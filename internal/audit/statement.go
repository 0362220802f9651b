package audit

import (
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/efs-cw/backupbridge/internal/table"
)

// The monthly statement is computed from the trail: a customer's billed
// value of an addition field at month end is the last value the trail
// shows on or before the end of the month (a change's To, a drift's To, a
// baseline's value), and its opening value the last one before the month
// began. Only fields the service has written or read are known; a customer
// the service never billed has no lines.

// Line is one addition field of a customer's statement.
type Line struct {
	AgreementID int    `json:"agreementId"`
	AdditionID  int    `json:"additionId"`
	Product     string `json:"product"`
	Service     string `json:"service"`
	Field       string `json:"field"`
	// Opening is the value when the month began, Closing at month end
	// ("" when the trail holds none yet).
	Opening string `json:"opening"`
	Closing string `json:"closing"`
	// Changes counts the service's changes during the month, Drifts the
	// persons' edits found.
	Changes int `json:"changes"`
	Drifts  int `json:"drifts"`
}

// CustomerStatement is one customer's part of a monthly statement.
type CustomerStatement struct {
	CustomerID string  `json:"customerId"`
	Lines      []Line  `json:"lines"`
	Entries    []Entry `json:"entries"` // the month's trail, oldest first
}

// Statement is a partner's monthly statement.
type Statement struct {
	PartnerID string              `json:"partnerId"`
	Month     string              `json:"month"`
	Customers []CustomerStatement `json:"customers"`
}

// CustomerStatement computes a customer's lines for month (UTC "2006-01")
// from its trail up to the month's end. ok is false when the trail holds
// nothing for the customer up to then.
func (s *Store) CustomerStatement(ctx context.Context, partnerID, customerID, month string) (cs CustomerStatement, ok bool, err error) {
	start, err := time.Parse("2006-01", month)
	if err != nil {
		return cs, false, fmt.Errorf("month %q: %w", month, err)
	}
	type key struct {
		agreement, addition int
		field               string
	}
	lines := map[key]*Line{}
	var order []key
	cs = CustomerStatement{CustomerID: customerID, Lines: []Line{}, Entries: []Entry{}}
	// Sort keys start with the month; "~" sorts after every "#…" suffix.
	for item, qerr := range table.QueryRange(ctx, s.DB, s.Table, pk(partnerID, customerID), "0000-00", month+"#~") {
		if qerr != nil {
			return cs, false, fmt.Errorf("read the audit trail of %s/%s: %w", partnerID, customerID, qerr)
		}
		var e Entry
		if err := decode(item, &e); err != nil {
			return cs, false, fmt.Errorf("decode audit entry: %w", err)
		}
		k := key{e.AgreementID, e.AdditionID, e.Field}
		l := lines[k]
		if l == nil {
			l = &Line{AgreementID: e.AgreementID, AdditionID: e.AdditionID, Field: e.Field}
			lines[k] = l
			order = append(order, k)
		}
		l.Product, l.Service = e.Product, e.Service
		inMonth := !e.At.Before(start)
		if inMonth {
			cs.Entries = append(cs.Entries, e)
			switch e.Kind {
			case KindDrift:
				l.Drifts++
			case KindChange, "":
				l.Changes++
			}
		} else {
			l.Opening = e.To
		}
		l.Closing = e.To
	}
	if len(order) == 0 {
		return cs, false, nil
	}
	slices.SortFunc(order, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.agreement, b.agreement), cmp.Compare(a.addition, b.addition), cmp.Compare(a.field, b.field))
	})
	for _, k := range order {
		cs.Lines = append(cs.Lines, *lines[k])
	}
	return cs, true, nil
}

// StatementCSVHeader is the first line of WriteStatementCSV.
var StatementCSVHeader = []string{"month", "partner", "customer", "agreement", "addition", "product", "service", "field", "opening", "closing", "changes", "drifts"}

// WriteStatementCSV writes one row per customer line, with
// StatementCSVHeader first.
func WriteStatementCSV(w io.Writer, st Statement) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(StatementCSVHeader); err != nil {
		return err
	}
	for _, c := range st.Customers {
		for _, l := range c.Lines {
			if err := writeRow(cw, []string{st.Month, st.PartnerID, c.CustomerID, strconv.Itoa(l.AgreementID), strconv.Itoa(l.AdditionID),
				l.Product, l.Service, l.Field, l.Opening, l.Closing, strconv.Itoa(l.Changes), strconv.Itoa(l.Drifts)}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
