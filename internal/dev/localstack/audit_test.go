package localstack_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/audit"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// The billing audit trail (issue 11, first part): every change the syncs
// make to a customer's additions is in the trail of its month, with the
// value before and after and the event that caused it, through the
// operator API as JSON and as CSV.
func TestBillingAuditTrail(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	at := h.clock.Now()
	h.deliver(event("backup.completed", "1001", at, backupGB("ACME-SRV01", "select", 120.4, at)))
	h.clock.Add(13 * time.Hour)
	at2 := h.clock.Now()
	h.post(newID(), event("backup.completed", "1001", at2, backupGB("ACME-SRV01", "select", 150.2, at2)))
	h.settle()
	acme := h.st.Demo.Sim.Acme
	sel := addition(t, h, acme, cwsim.ProductSelectGB)
	if sel.Quantity != 151 {
		t.Fatalf("Select GB = %v, want 151 after the second sync", sel.Quantity)
	}

	var quantities []string
	seen := map[string]bool{}
	for _, month := range []string{audit.Month(at), audit.Month(at2)} {
		if seen[month] {
			continue
		}
		seen[month] = true
		es, err := h.st.Service.Admin.Audit.List(ctx, "demo", "1001", month)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.AdditionID == sel.ID && e.Field == "quantity" {
				quantities = append(quantities, e.From+"→"+e.To)
				if e.EventID == "" || e.Product != cwsim.ProductSelectGB || e.AgreementID != acme.AgreementID {
					t.Errorf("audit entry %+v: want the event, the product and the agreement", e)
				}
			}
		}
	}
	if strings.Join(quantities, ", ") != "0→121, 121→151" {
		t.Fatalf("Select GB's quantity changes in the trail = %v, want 0→121, 121→151", quantities)
	}

	// Through the operator API: JSON, then CSV.
	code, body := h.operator(http.MethodGet, "/v1/admin/partners/demo/customers/1001/audit?month="+audit.Month(at2), nil)
	if code != http.StatusOK || body["month"] != audit.Month(at2) {
		t.Fatalf("audit JSON: %d %v", code, body)
	}
	if changes, _ := body["changes"].([]any); len(changes) == 0 {
		t.Fatalf("audit JSON has no changes: %v", body)
	}
	req, _ := http.NewRequest(http.MethodGet, h.st.URL+"/v1/admin/partners/demo/customers/1001/audit?format=csv&month="+audit.Month(at2), nil)
	req.Header.Set("authorization", "Bearer "+h.st.OperatorToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("audit CSV: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	rows, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if err != nil || len(rows) < 2 || rows[0][0] != "at" {
		t.Fatalf("audit CSV rows = %q (%v)", rows, err)
	}
	if code, _ := h.operator(http.MethodGet, "/v1/admin/partners/demo/customers/1001/audit?month=2026-13", nil); code != http.StatusBadRequest {
		t.Errorf("a bad month: %d, want 400", code)
	}
}

// Drift (issue 11): a person edits a billed quantity in ConnectWise; the
// next sync finds it against the value the service last wrote, records it
// in the trail and the drift report, and writes the measured figure over
// it; with "respect manual edits" the person's value stands and the drift
// is reported once. The monthly statement shows the month's opening and
// closing quantity with its changes and drifts.
func TestDriftDetectedAndReported(t *testing.T) {
	h := start(t)
	acme := h.st.Demo.Sim.Acme
	at := h.clock.Now()
	h.deliver(event("backup.completed", "1001", at, backupGB("ACME-SRV01", "select", 120.4, at)))
	sel := addition(t, h, acme, cwsim.ProductSelectGB)
	if sel.Quantity != 121 {
		t.Fatalf("Select GB = %v after the first sync, want 121", sel.Quantity)
	}

	// A technician "corrects" the quantity to 100.
	if err := h.sim.SetAdditionQuantity(sel.ID, 100); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(13 * time.Hour)
	at2 := h.clock.Now()
	h.deliver(event("backup.completed", "1001", at2, backupGB("ACME-SRV01", "select", 130.2, at2)))
	if q := addition(t, h, acme, cwsim.ProductSelectGB).Quantity; q != 131 {
		t.Fatalf("Select GB = %v, want the measured 131 written over the edit", q)
	}
	code, body := h.operator(http.MethodGet, "/v1/admin/partners/demo/drifts", nil)
	ds, _ := body["drifts"].([]any)
	if code != http.StatusOK || len(ds) != 1 {
		t.Fatalf("drift report: %d %v, want one drift", code, body)
	}
	d, _ := ds[0].(map[string]any)
	if d["customerId"] != "1001" || d["written"] != "121" || d["found"] != "100" || d["measured"] != "131" ||
		d["action"] != audit.DriftOverwritten || d["product"] != cwsim.ProductSelectGB {
		t.Errorf("drift = %v", d)
	}

	// Respect manual edits: the next edit stands, and is reported once.
	h.updatePartner(func(p *partner.Partner) { p.Integration.RespectManualEdits = true })
	if err := h.sim.SetAdditionQuantity(sel.ID, 90); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		h.clock.Add(13 * time.Hour)
		at := h.clock.Now()
		h.deliver(event("backup.completed", "1001", at, backupGB("ACME-SRV01", "select", 140.2+float64(i), at)))
		if q := addition(t, h, acme, cwsim.ProductSelectGB).Quantity; q != 90 {
			t.Fatalf("sync %d: Select GB = %v, want the person's 90 kept", i, q)
		}
	}
	_, body = h.operator(http.MethodGet, "/v1/admin/partners/demo/drifts", nil)
	ds, _ = body["drifts"].([]any)
	if d, _ := ds[0].(map[string]any); len(ds) != 1 || d["found"] != "90" || d["action"] != audit.DriftKept || d["written"] != "131" {
		t.Errorf("drift report after the kept edit = %v", body)
	}
	drifts := 0
	for _, month := range months(at, h.clock.Now()) {
		es, err := h.st.Service.Admin.Audit.List(context.Background(), "demo", "1001", month)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Kind == audit.KindDrift {
				drifts++
				if e.Note == "" {
					t.Errorf("drift entry without a note: %+v", e)
				}
			}
		}
	}
	if drifts != 2 {
		t.Errorf("drift entries in the trail = %d, want 2 (the kept one once, not once per sync)", drifts)
	}

	// The statement of the last month: Select GB's line, in JSON and CSV.
	month := audit.Month(h.clock.Now())
	code, body = h.operator(http.MethodGet, "/v1/admin/partners/demo/statement?month="+month, nil)
	custs, _ := body["customers"].([]any)
	if code != http.StatusOK || len(custs) != 1 {
		t.Fatalf("statement: %d %v", code, body)
	}
	found := false
	for _, l := range custs[0].(map[string]any)["lines"].([]any) {
		l := l.(map[string]any)
		if l["product"] == cwsim.ProductSelectGB && l["field"] == "quantity" {
			found = true
			if l["closing"] != "90" {
				t.Errorf("Select GB closes the month at %v, want the person's 90 (the last value the trail saw)", l["closing"])
			}
		}
	}
	if !found {
		t.Errorf("no Select GB quantity line in %v", custs[0])
	}
	raw := h.operatorRaw(http.MethodGet, "/v1/admin/partners/demo/statement?format=csv&month="+month)
	rows, err := csv.NewReader(strings.NewReader(raw)).ReadAll()
	if err != nil || len(rows) < 2 || rows[0][0] != "month" {
		t.Fatalf("statement CSV = %q (%v)", rows, err)
	}
}

// months lists the UTC months from a to b.
func months(a, b time.Time) []string {
	var out []string
	for m := time.Date(a.Year(), a.Month(), 1, 0, 0, 0, 0, time.UTC); !m.After(b); m = m.AddDate(0, 1, 0) {
		out = append(out, audit.Month(m))
	}
	return out
}

// operatorRaw sends an operator request and returns the body as text.
func (h *harness) operatorRaw(method, path string) string {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.st.URL+path, nil)
	req.Header.Set("authorization", "Bearer "+h.st.OperatorToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return string(raw)
}

// A month of synthetic events (issue 11's must-show): two backups a day of
// two accounts whose sizes grow, for 30 days. The trail holds every change:
// each quantity change starts from the previous one's value, the last one
// ends at the addition's quantity in ConnectWise, and every value the
// addition held is in the chain.
func TestAuditTrailHoldsEveryChangeOfAMonth(t *testing.T) {
	h := start(t)
	acme := h.st.Demo.Sim.Acme
	ctx := context.Background()
	first := h.clock.Now()
	seen := map[float64]bool{}
	for day := range 30 {
		for i, acct := range []string{"ACME-SRV01", "ACME-SRV02"} {
			at := h.clock.Now()
			gb := 100 + float64(day*7+i*3) + 0.4
			h.deliver(event("backup.completed", "1001", at, backupGB(acct, "select", gb, at)))
		}
		seen[addition(t, h, acme, cwsim.ProductSelectGB).Quantity] = true
		h.clock.Add(13 * time.Hour)
	}
	sel := addition(t, h, acme, cwsim.ProductSelectGB)
	var chain []audit.Entry
	for _, month := range months(first, h.clock.Now()) {
		es, err := h.st.Service.Admin.Audit.List(ctx, "demo", "1001", month)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.AdditionID == sel.ID && e.Field == "quantity" && e.Kind == audit.KindChange {
				chain = append(chain, e)
			}
		}
	}
	if len(chain) < 20 {
		t.Fatalf("the trail holds %d Select GB changes for 30 days of growth, want one per sync that changed it", len(chain))
	}
	t.Logf("%d Select GB changes over 30 days, ConnectWise ends at %v", len(chain), sel.Quantity)
	for i := 1; i < len(chain); i++ {
		if chain[i].From != chain[i-1].To {
			t.Fatalf("change %d starts at %s, the one before ended at %s: a change is missing", i, chain[i].From, chain[i-1].To)
		}
	}
	if last := chain[len(chain)-1].To; last != fmt.Sprint(sel.Quantity) {
		t.Errorf("the last change ends at %s, ConnectWise holds %v", last, sel.Quantity)
	}
	inChain := map[string]bool{chain[0].From: true}
	for _, e := range chain {
		inChain[e.To] = true
	}
	for q := range seen {
		if !inChain[fmt.Sprint(q)] {
			t.Errorf("ConnectWise held Select GB %v during the month, but no change in the trail led to it", q)
		}
	}
}
