package localstack_test

import (
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/audit"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
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
