package admin

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/syncslot"
)

// record stores an event's usage as the worker does.
func (e *env) record(partnerID, body string) {
	e.t.Helper()
	ev, err := contract.Parse([]byte(body))
	if err != nil {
		e.t.Fatalf("event %s: %v", body, err)
	}
	if err := e.api.Usage.Record(context.Background(), partnerID, ev); err != nil {
		e.t.Fatal(err)
	}
}

func backupEvent(customerID, account, plan string, gb float64, at time.Time) string {
	return fmt.Sprintf(`{"specVersion":"1.0","type":"backup.completed","occurredAt":%q,"customer":{"id":%q,"name":"Acme Dental"},`+
		`"backup":{"account":{"id":%q,"name":"<b>%s</b>","kind":"server","plan":%q},"result":"success","endedAt":%q,"onlineGB":%v,"localGB":10}}`,
		at.Format(time.RFC3339), customerID, account, account, plan, at.Format(time.RFC3339), gb)
}

func TestCustomerRead(t *testing.T) {
	e := newEnv(t)
	p := partnerJSON("acme")
	p["products"] = map[string]any{"online_storage_select_gb": "EFS-SELECT-GB"}
	p["integration"] = map[string]any{"billing": []string{"online_storage_select_gb"}}
	p["gbRounding"] = "up"
	e.create(p, 1)
	now := e.api.now()
	e.record("acme", backupEvent("1001", "SRV01", "select", 100.2, now.Add(-time.Hour)))
	e.record("acme", backupEvent("1001", "SRV02", "select", 50.1, now.Add(-time.Hour)))
	e.record("acme", backupEvent("1002", "PC01", "basic", 5, now.Add(-time.Hour)))

	// Customer 1001 synced two hours ago; 1002 never, and pending.
	slots := &syncslot.Slots{DB: e.db, Table: e.table}
	_, sl, err := slots.Claim(context.Background(), "acme", "1001", now.Add(-2*time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := slots.Complete(context.Background(), sl, now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := slots.Claim(context.Background(), "acme", "1002", now, false); err != nil {
		t.Fatal(err)
	}
	busy, _, _ := slots.Claim(context.Background(), "acme", "1002", now, false)
	if busy != syncslot.Busy {
		t.Fatalf("second claim: %v", busy)
	}

	code, m, raw := e.do("GET", "/v1/admin/partners/acme/customers/1001", nil)
	if code != http.StatusOK {
		t.Fatalf("customer: %d %s", code, raw)
	}
	accts := m["accounts"].([]any)
	if len(accts) != 2 || accts[0].(map[string]any)["accountId"] != "SRV01" || accts[0].(map[string]any)["name"] != "<b>SRV01</b>" {
		t.Errorf("accounts %v", accts)
	}
	figs := m["figures"].(map[string]any)
	qs := figs["quantities"].([]any)
	var sel map[string]any
	for _, q := range qs {
		if q.(map[string]any)["service"] == "online_storage_select_gb" {
			sel = q.(map[string]any)
		}
	}
	if sel == nil || sel["quantity"] != 151.0 || sel["product"] != "EFS-SELECT-GB" || sel["billed"] != true || figs["servers"] != 2.0 || figs["successes"] != 2.0 {
		t.Errorf("figures %v", figs)
	}
	sync := m["sync"].(map[string]any)
	if sync["lastSyncAt"] != now.Add(-2*time.Hour).Format(time.RFC3339) || sync["open"] != false || sync["windowHours"] != 12.0 ||
		sync["opensAt"] != now.Add(10*time.Hour).Format(time.RFC3339) || sync["pending"] != false {
		t.Errorf("sync %v", sync)
	}

	// The list: pending first, with their windows.
	code, m, raw = e.do("GET", "/v1/admin/partners/acme/customers", nil)
	if code != http.StatusOK {
		t.Fatalf("customers: %d %s", code, raw)
	}
	cs := m["customers"].([]any)
	if len(cs) != 2 || m["more"] != false {
		t.Fatalf("customers %s", raw)
	}
	first := cs[0].(map[string]any)
	fs := first["sync"].(map[string]any)
	if first["customerId"] != "1002" || fs["pending"] != true || fs["syncingUntil"] == nil || fs["open"] != false {
		t.Errorf("pending customer first with its lease: %v", first)
	}
	if cs[1].(map[string]any)["customerId"] != "1001" {
		t.Errorf("second %v", cs[1])
	}

	// Unknown customer, unknown partner.
	if code, m, _ := e.do("GET", "/v1/admin/partners/acme/customers/9999", nil); code != http.StatusNotFound || m["field"] != "customerId" {
		t.Errorf("unknown customer: %d %v", code, m)
	}
	for _, p := range []string{"/v1/admin/partners/nobody/customers/1001", "/v1/admin/partners/nobody/customers"} {
		if code, _, _ := e.do("GET", p, nil); code != http.StatusNotFound {
			t.Errorf("%s: %d", p, code)
		}
	}
	// A partner without customers: an empty list, not null.
	e.create(partnerJSON("empty"), 2)
	if _, _, raw := e.do("GET", "/v1/admin/partners/empty/customers", nil); raw != `{"customers":[],"more":false}` {
		t.Errorf("empty list %s", raw)
	}
}

func TestCustomerOfUnreadablePartner(t *testing.T) {
	e := newEnv(t)
	e.create(partnerJSON("acme"), 1)
	e.record("acme", backupEvent("1001", "SRV01", "select", 1, e.api.now()))
	e.damage("acme")
	// Reads still answer (with the default window and rounding).
	if code, _, raw := e.do("GET", "/v1/admin/partners/acme/customers/1001", nil); code != http.StatusOK {
		t.Errorf("customer of an unreadable partner: %d %s", code, raw)
	}
	if code, _, raw := e.do("GET", "/v1/admin/partners/acme/customers", nil); code != http.StatusOK {
		t.Errorf("customers of an unreadable partner: %d %s", code, raw)
	}
}
