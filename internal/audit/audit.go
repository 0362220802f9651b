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
// Drift (comparing ConnectWise's value with the last one written) and the
// monthly statement are left for later (docs/issue11-design.md).
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
	From        string    `json:"from"`
	To          string    `json:"to"`
	// EventID is the event whose sync made the change, or the sync's own
	// id (sync:<request>) for the resync's and an operator's syncs.
	EventID string `json:"eventId"`
}

// Month is the audit month of a time: its UTC calendar month.
func Month(t time.Time) string { return t.UTC().Format("2006-01") }

// Value renders a changed value for the trail (numbers without trailing
// zeros, text as it is).
func Value(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// Store keeps the trail in the service's table.
type Store struct {
	DB        *dynamodb.Client
	Table     string
	Retention time.Duration // default 400 days
}

func (s *Store) retention() time.Duration { return table.Retention(s.Retention, 400*24*time.Hour) }

func pk(partnerID, customerID string) string { return "AUDIT#" + partnerID + "#" + customerID }

func sortKey(e *Entry) string {
	return fmt.Sprintf("%s#%s#%d#%d#%s", e.Month, e.At.UTC().Format("2006-01-02T15:04:05.000000000Z"), e.AgreementID, e.AdditionID, e.Field)
}

// Record stores entries (recording one again overwrites it).
func (s *Store) Record(ctx context.Context, es ...Entry) error {
	for _, e := range es {
		e.Month = Month(e.At)
		item, err := attributevalue.MarshalMapWithOptions(e, func(o *attributevalue.EncoderOptions) { o.TagKey = "json" })
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
	out := []Entry{}
	for item, err := range table.QueryPrefix(ctx, s.DB, s.Table, pk(partnerID, customerID), month+"#", false) {
		if err != nil {
			return nil, fmt.Errorf("read the audit trail of %s/%s: %w", partnerID, customerID, err)
		}
		var e Entry
		if err := attributevalue.UnmarshalMapWithOptions(item, &e, func(o *attributevalue.DecoderOptions) { o.TagKey = "json" }); err != nil {
			return nil, fmt.Errorf("decode audit entry: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// CSVHeader is the first line of WriteCSV.
var CSVHeader = []string{"at", "partner", "customer", "agreement", "addition", "product", "service", "field", "from", "to", "event"}

// WriteCSV writes entries as CSV (RFC 4180), with CSVHeader first. Cells
// that a spreadsheet would take for a formula are prefixed with a quote.
func WriteCSV(w io.Writer, es []Entry) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, e := range es {
		row := []string{e.At.UTC().Format(time.RFC3339), e.PartnerID, e.CustomerID, strconv.Itoa(e.AgreementID), strconv.Itoa(e.AdditionID),
			e.Product, e.Service, e.Field, e.From, e.To, e.EventID}
		for i, c := range row {
			row[i] = cell(c)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
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
