package audit_test

import (
	"bytes"
	"encoding/csv"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/audit"
	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
)

// A customer's trail is read by month, oldest first, apart from other
// months and customers; the CSV has one row per change and defuses
// formula-looking cells.
func TestTrailByMonthAndCSV(t *testing.T) {
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		s := &audit.Store{DB: b.DB, Table: b.Table}
		ctx := t.Context()
		oct := time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC)
		nov := time.Date(2026, 11, 3, 2, 0, 0, 0, time.UTC)
		entry := func(customer string, at time.Time, field, from, to string) audit.Entry {
			return audit.Entry{PartnerID: "p", CustomerID: customer, At: at, AgreementID: 700, AdditionID: 3001,
				Product: "EFS-SELECT-GB", Service: "online_storage_select_gb", Field: field, From: from, To: to, EventID: "msg_1"}
		}
		if err := s.Record(ctx,
			entry("C1", nov.Add(time.Hour), "quantity", "121", "151"),
			entry("C1", nov, "quantity", "0", "121"),
			entry("C1", nov, "invoiceDescription", "", "=HYPERLINK(\"x\")"),
			entry("C1", oct, "quantity", "5", "0"),
			entry("C2", nov, "quantity", "0", "9"),
		); err != nil {
			t.Fatal(err)
		}
		got, err := s.List(ctx, "p", "C1", "2026-11")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].At != nov || got[2].To != "151" || got[0].Month != "2026-11" {
			t.Fatalf("November of C1 = %+v, want its 3 changes oldest first", got)
		}
		if oct, _ := s.List(ctx, "p", "C1", "2026-10"); len(oct) != 1 || oct[0].From != "5" {
			t.Errorf("October of C1 = %+v, want its one change", oct)
		}
		var buf bytes.Buffer
		if err := audit.WriteCSV(&buf, got); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 4 || rows[0][0] != "at" || rows[3][10] != "151" {
			t.Fatalf("CSV = %q", rows)
		}
		for _, r := range rows[1:] {
			if r[7] == "invoiceDescription" && r[10] != `'=HYPERLINK("x")` {
				t.Errorf("a formula-looking cell was not defused: %q", r[10])
			}
		}
	})
}

// Baselines round-trip (with a kept person's value); drifts are listed
// newest first with one per addition field; and the monthly statement's
// opening and closing values come from the trail before and within the
// month, counting the month's changes and drifts.
func TestBaselinesDriftsAndStatement(t *testing.T) {
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		s := &audit.Store{DB: b.DB, Table: b.Table}
		ctx := t.Context()
		oct := time.Date(2026, 10, 20, 9, 0, 0, 0, time.UTC)
		nov := time.Date(2026, 11, 3, 2, 0, 0, 0, time.UTC)
		dec := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

		if err := s.SetBaselines(ctx, "p", "C1", nov, map[string]audit.Baseline{
			"700#3001#quantity": {Value: "151"}, "700#3001#invoiceDescription": {Value: "x", KeptFound: "y"},
		}); err != nil {
			t.Fatal(err)
		}
		bs, err := s.Baselines(ctx, "p", "C1")
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) != 2 || bs["700#3001#quantity"].Value != "151" || bs["700#3001#invoiceDescription"].KeptFound != "y" {
			t.Fatalf("baselines = %+v", bs)
		}

		d := audit.Drift{PartnerID: "p", CustomerID: "C1", AgreementID: 700, AdditionID: 3001, Field: "quantity", Written: "121", Found: "100", Measured: "121", Action: audit.DriftOverwritten}
		d1, d2, d3 := d, d, d
		d1.DetectedAt, d2.DetectedAt = oct, nov
		d2.Found = "90"
		d3.DetectedAt, d3.CustomerID = nov.Add(time.Hour), "C2"
		if err := s.RecordDrift(ctx, d1, d2, d3); err != nil {
			t.Fatal(err)
		}
		ds, err := s.Drifts(ctx, "p")
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 2 || ds[0].CustomerID != "C2" || ds[1].Found != "90" {
			t.Fatalf("drifts = %+v, want C2's then C1's latest (90)", ds)
		}

		entry := func(at time.Time, kind, from, to string) audit.Entry {
			return audit.Entry{PartnerID: "p", CustomerID: "C1", At: at, Kind: kind, AgreementID: 700, AdditionID: 3001,
				Product: "EFS-SELECT-GB", Service: "online_storage_select_gb", Field: "quantity", From: from, To: to}
		}
		if err := s.Record(ctx,
			entry(oct, audit.KindChange, "0", "121"),
			entry(nov, audit.KindDrift, "121", "100"),
			entry(nov.Add(time.Minute), audit.KindChange, "100", "121"),
			entry(nov.Add(time.Hour), audit.KindChange, "121", "151"),
			entry(dec, audit.KindChange, "151", "160"),
		); err != nil {
			t.Fatal(err)
		}
		cs, ok, err := s.CustomerStatement(ctx, "p", "C1", "2026-11")
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		if len(cs.Lines) != 1 || len(cs.Entries) != 3 {
			t.Fatalf("statement = %+v, want one line and November's 3 entries", cs)
		}
		if l := cs.Lines[0]; l.Opening != "121" || l.Closing != "151" || l.Changes != 2 || l.Drifts != 1 || l.Product != "EFS-SELECT-GB" {
			t.Errorf("line = %+v, want 121 → 151 with 2 changes and 1 drift", l)
		}
		if _, ok, _ := s.CustomerStatement(ctx, "p", "C1", "2026-09"); ok {
			t.Error("September has a statement, before any change")
		}
		var buf bytes.Buffer
		if err := audit.WriteStatementCSV(&buf, audit.Statement{PartnerID: "p", Month: "2026-11", Customers: []audit.CustomerStatement{cs}}); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&buf).ReadAll()
		if err != nil || len(rows) != 2 || rows[1][8] != "121" || rows[1][9] != "151" {
			t.Fatalf("statement CSV = %q (%v)", rows, err)
		}
	})
}
