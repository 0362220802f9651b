// Package audit is the billing audit trail (issue 11, first part): one
// record per change the service makes to an agreement addition (its
// quantity or its invoice description), with the partner, customer,
// agreement, addition, product and billing service, the value before and
// after, and the event (or sync request) that caused it. An operator reads a
// customer's trail by month, as JSON or CSV, to answer "why did this
// quantity change last month?".
//
// Items: pk AUDIT#<partner>#<customer>, sk <month>#<time>#<agreement>#<addition>#<field>,
// kept Retention (default 400 days: at least 13 months) by the table's TTL.
// A change is recorded after ConnectWise took it; a record that cannot be
// written is logged at ERROR by the caller (the change itself stands).
//
// Beside the changes, the same partition keeps the last value the service
// wrote to each addition field (sk LAST#<agreement>#<addition>#<field>):
// the baseline drift is measured against (drift.go). Drifts (a person's
// edit found in ConnectWise) are listed per partner (DRIFT#<partner>), and
// the monthly statement (statement.go) is computed from the trail.
package audit

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/table"
)

// Entry is one change to an agreement addition.
type Entry struct {
	PartnerID   string    `json:"partnerId"`
	CustomerID  string    `json:"customerId"`
	At          time.Time `json:"at"`
	Month       string    `json:"month"` // UTC "2006-01" of At
	AgreementID int       `json:"agreementId"`
	AdditionID  int       `json:"additionId"`
	Product     string    `json:"product"`
	Service     string    `json:"service"`
	Field       string    `json:"field"` // "quantity" or "invoiceDescription"
	// Kind is KindChange (the service wrote From → To), KindDrift (a
	// person's edit found in ConnectWise: From is what the service last
	// wrote, To what ConnectWise held) or KindBaseline (the service's first
	// reading of a field that already held the measured value: From = To).
	Kind string `json:"kind"`
	From string `json:"from"`
	To   string `json:"to"`
	// Note says why, in words, when the change is not an ordinary sync
	// (a removed customer, a drift kept or overwritten).
	Note string `json:"note,omitempty"`
	// EventID is the event whose sync made the change, or the sync's own
	// id (sync:<request>) for the resync's and an operator's syncs.
	EventID string `json:"eventId"`
}

// Entry kinds.
const (
	KindChange   = "change"
	KindDrift    = "drift"
	KindBaseline = "baseline"
)

// Month is the audit month of a time: its UTC calendar month.
func Month(t time.Time) string { return t.UTC().Format("2006-01") }

// Store keeps the trail in the service's table.
type Store struct {
	DB        *dynamodb.Client
	Table     string
	Retention time.Duration // default 400 days
}

func (s *Store) retention() time.Duration { return table.Retention(s.Retention, 400*24*time.Hour) }

func pk(partnerID, customerID string) string { return "AUDIT#" + partnerID + "#" + customerID }

func sortKey(e *Entry) string {
	k := fmt.Sprintf("%s#%s#%d#%d#%s", e.Month, e.At.UTC().Format("2006-01-02T15:04:05.000000000Z"), e.AgreementID, e.AdditionID, e.Field)
	if e.Kind != "" && e.Kind != KindChange {
		k += "#" + e.Kind
	}
	return k
}

// Record stores entries (recording one again overwrites it).
func (s *Store) Record(ctx context.Context, es ...Entry) error {
	for _, e := range es {
		e.Month = Month(e.At)
		if e.Kind == "" {
			e.Kind = KindChange
		}
		item, err := encode(e)
		if err != nil {
			return fmt.Errorf("encode audit entry: %w", err)
		}
		item[table.PK] = table.S(pk(e.PartnerID, e.CustomerID))
		item[table.SK] = table.S(sortKey(&e))
		item[table.ExpiresAt] = table.Seconds(e.At.Add(s.retention()))
		if _, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item}); err != nil {
			return fmt.Errorf("record audit entry for %s/%s: %w", e.PartnerID, e.CustomerID, err)
		}
	}
	return nil
}

// List returns a customer's changes of one month (UTC "2006-01"), oldest
// first.
func (s *Store) List(ctx context.Context, partnerID, customerID, month string) ([]Entry, error) {
	return s.entries(ctx, partnerID, customerID, month+"#")
}

// entries reads a customer's entries whose sort key starts with prefix,
// oldest first.
func (s *Store) entries(ctx context.Context, partnerID, customerID, prefix string) ([]Entry, error) {
	out := []Entry{}
	for item, err := range table.QueryPrefix(ctx, s.DB, s.Table, pk(partnerID, customerID), prefix, false) {
		if err != nil {
			return nil, fmt.Errorf("read the audit trail of %s/%s: %w", partnerID, customerID, err)
		}
		var e Entry
		if err := decode(item, &e); err != nil {
			return nil, fmt.Errorf("decode audit entry: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

func decode(item map[string]types.AttributeValue, v any) error {
	return attributevalue.UnmarshalMapWithOptions(item, v, func(o *attributevalue.DecoderOptions) { o.TagKey = "json" })
}

func encode(v any) (map[string]types.AttributeValue, error) {
	return attributevalue.MarshalMapWithOptions(v, func(o *attributevalue.EncoderOptions) { o.TagKey = "json" })
}

// CSVHeader is the first line of WriteCSV.
var CSVHeader = []string{"at", "partner", "customer", "agreement", "addition", "product", "service", "field", "kind", "from", "to", "event", "note"}

// WriteCSV writes entries as CSV (RFC 4180), with CSVHeader first. Cells
// that a spreadsheet would take for a formula are prefixed with a quote.
func WriteCSV(w io.Writer, es []Entry) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, e := range es {
		row := []string{e.At.UTC().Format(time.RFC3339), e.PartnerID, e.CustomerID, strconv.Itoa(e.AgreementID), strconv.Itoa(e.AdditionID),
			e.Product, e.Service, e.Field, e.Kind, e.From, e.To, e.EventID, e.Note}
		if err := writeRow(cw, row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// writeRow writes one CSV row with every cell defused (cell).
func writeRow(cw *csv.Writer, row []string) error {
	for i, c := range row {
		row[i] = cell(c)
	}
	return cw.Write(row)
}

// cell defuses spreadsheet formulas (a cell starting with = + - @ or a tab
// or carriage return) with a leading quote; numbers stay as they are.
func cell(s string) string {
	if s == "" {
		return s
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}
