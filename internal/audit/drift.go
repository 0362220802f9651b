package audit

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/efs-cw/backupbridge/internal/table"
)

// Drift is measured against the last value the service wrote to an
// addition field (its baseline): when ConnectWise holds something else, a
// person edited the addition. A customer's baselines are one item in the
// trail's own partition (sk LAST, no expiry: it is the current state, not
// history), read with one GetItem before the sync compares and written
// once after a sync that changed any.

const lastSK = "LAST"

// Baseline is the last value the service wrote to one addition field.
// KeptFound is a person's value of the field that the service found and
// left (respectManualEdits), so that the same drift is reported once.
type Baseline struct {
	Value     string `json:"v"`
	KeptFound string `json:"k,omitempty"`
}

// Baselines returns the customer's baselines by field key (the key the
// data sync gives each addition field, datasync.FieldKey).
func (s *Store) Baselines(ctx context.Context, partnerID, customerID string) (map[string]Baseline, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: table.Key(pk(partnerID, customerID), lastSK), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read the written values of %s/%s: %w", partnerID, customerID, err)
	}
	var doc struct {
		Fields map[string]Baseline `json:"fields"`
	}
	if err := decode(out.Item, &doc); err != nil {
		return nil, fmt.Errorf("decode the written values of %s/%s: %w", partnerID, customerID, err)
	}
	if doc.Fields == nil {
		doc.Fields = map[string]Baseline{}
	}
	return doc.Fields, nil
}

// SetBaselines stores a customer's baselines (all of them: the item is
// replaced).
func (s *Store) SetBaselines(ctx context.Context, partnerID, customerID string, at time.Time, bs map[string]Baseline) error {
	item, err := encode(struct {
		Fields map[string]Baseline `json:"fields"`
		At     time.Time           `json:"at"`
	}{bs, at.UTC()})
	if err != nil {
		return fmt.Errorf("encode baselines: %w", err)
	}
	item[table.PK], item[table.SK] = table.S(pk(partnerID, customerID)), table.S(lastSK)
	if _, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item}); err != nil {
		return fmt.Errorf("record the values written for %s/%s: %w", partnerID, customerID, err)
	}
	return nil
}

// What the service did about a drift.
const (
	DriftOverwritten = "overwritten" // the measured figure replaced the person's edit
	DriftKept        = "kept"        // the person's edit stands (respectManualEdits)
)

// Drift is a person's edit of an addition field found by a sync: the last
// one found per field, listed by partner (pk DRIFT#<partner>, sk
// <customer>#<agreement>#<addition>#<field>), kept Retention.
type Drift struct {
	PartnerID   string    `json:"partnerId"`
	CustomerID  string    `json:"customerId"`
	DetectedAt  time.Time `json:"detectedAt"`
	AgreementID int       `json:"agreementId"`
	AdditionID  int       `json:"additionId"`
	Product     string    `json:"product"`
	Service     string    `json:"service"`
	Field       string    `json:"field"`
	// Written is what the service last wrote, Found what ConnectWise held,
	// Measured the figure the service measured at that sync.
	Written  string `json:"written"`
	Found    string `json:"found"`
	Measured string `json:"measured"`
	// Action is DriftOverwritten or DriftKept.
	Action  string `json:"action"`
	EventID string `json:"eventId"`
}

func driftPK(partnerID string) string { return "DRIFT#" + partnerID }

// RecordDrift stores drifts (a later one of the same field replaces the
// earlier; the trail keeps both as KindDrift entries).
func (s *Store) RecordDrift(ctx context.Context, ds ...Drift) error {
	for _, d := range ds {
		item, err := encode(d)
		if err != nil {
			return fmt.Errorf("encode drift: %w", err)
		}
		item[table.PK] = table.S(driftPK(d.PartnerID))
		item[table.SK] = table.S(fmt.Sprintf("%s#%d#%d#%s", d.CustomerID, d.AgreementID, d.AdditionID, d.Field))
		item[table.ExpiresAt] = table.Seconds(d.DetectedAt.Add(s.retention()))
		if _, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item}); err != nil {
			return fmt.Errorf("record drift for %s/%s: %w", d.PartnerID, d.CustomerID, err)
		}
	}
	return nil
}

// Drifts lists a partner's drifts, newest first.
func (s *Store) Drifts(ctx context.Context, partnerID string) ([]Drift, error) {
	out := []Drift{}
	for item, err := range table.QueryPrefix(ctx, s.DB, s.Table, driftPK(partnerID), "", false) {
		if err != nil {
			return nil, fmt.Errorf("read the drifts of %s: %w", partnerID, err)
		}
		var d Drift
		if err := decode(item, &d); err != nil {
			return nil, fmt.Errorf("decode drift: %w", err)
		}
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b Drift) int { return b.DetectedAt.Compare(a.DetectedAt) })
	return out, nil
}

// DriftCSVHeader is the first line of WriteDriftCSV.
var DriftCSVHeader = []string{"detected", "partner", "customer", "agreement", "addition", "product", "service", "field", "written", "found", "measured", "action", "event"}

// WriteDriftCSV writes drifts as CSV, with DriftCSVHeader first.
func WriteDriftCSV(w io.Writer, ds []Drift) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(DriftCSVHeader); err != nil {
		return err
	}
	for _, d := range ds {
		if err := writeRow(cw, []string{d.DetectedAt.UTC().Format(time.RFC3339), d.PartnerID, d.CustomerID,
			strconv.Itoa(d.AgreementID), strconv.Itoa(d.AdditionID), d.Product, d.Service, d.Field,
			d.Written, d.Found, d.Measured, d.Action, d.EventID}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
