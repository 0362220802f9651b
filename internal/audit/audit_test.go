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
		if len(rows) != 4 || rows[0][0] != "at" || rows[3][9] != "151" {
			t.Fatalf("CSV = %q", rows)
		}
		for _, r := range rows[1:] {
			if r[7] == "invoiceDescription" && r[9] != `'=HYPERLINK("x")` {
				t.Errorf("a formula-looking cell was not defused: %q", r[9])
			}
		}
	})
}

func TestValue(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
	}{{121.0, "121"}, {120.5, "120.5"}, {"text", "text"}, {nil, ""}, {3, "3"}} {
		if got := audit.Value(c.in); got != c.want {
			t.Errorf("Value(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}
