package localstack_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/audit"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
)

func removal(account, reason string) string {
	if account == "" {
		return `{"reason":` + quote(reason) + `}`
	}
	return `{"account":{"id":` + quote(account) + `},"reason":` + quote(reason) + `}`
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// Contract v1.1 (issue 11): a removed account leaves the billed figures and
// the invoice description at the next sync and its open ticket is resolved
// with a note saying why; an event older than the removal does not re-add
// it. A removed customer's quantities go to zero once, with a note in the
// audit trail, and nothing more is pushed for it until a newer event.
func TestRemovedAccountNoLongerBilled(t *testing.T) {
	h := start(t)
	acme := h.st.Demo.Sim.Acme
	at := h.clock.Now()
	h.deliver(event("backup.completed", "1001", at, backupGB("ACME-SRV01", "select", 120.4, at)))
	h.clock.Add(13 * time.Hour) // the next sync's window
	at = h.clock.Now()
	h.deliver(event("backup.completed", "1001", at, backup("failure", "ACME-SRV02", at))) // 120.5 GB, Select
	var tk cwsim.Ticket
	for _, x := range h.sim.Tickets() {
		if strings.Contains(x.Summary, "ACME-SRV02") {
			tk = x
		}
	}
	if tk.ID == 0 {
		t.Fatalf("no ticket for ACME-SRV02's failure: %+v", h.sim.Tickets())
	}
	if q := addition(t, h, acme, cwsim.ProductSelectGB).Quantity; q != 241 {
		t.Fatalf("Select GB = %v before the removal, want 241 (120.4 + 120.5)", q)
	}

	h.clock.Add(13 * time.Hour)
	removedAt := h.clock.Now()
	h.deliver(event("account.removed", "1001", removedAt, removal("ACME-SRV02", "machine decommissioned")))
	sel := addition(t, h, acme, cwsim.ProductSelectGB)
	if sel.Quantity != 121 || strings.Contains(sel.InvoiceDescription, "ACME-SRV02") {
		t.Fatalf("after the removal: Select GB = %v, description %q; want 121 without ACME-SRV02", sel.Quantity, sel.InvoiceDescription)
	}
	if got, _ := h.sim.Ticket(tk.ID); !got.ClosedFlag {
		t.Errorf("ticket %d of the removed account is still open", tk.ID)
	}
	noted := false
	for _, n := range h.sim.Notes(tk.ID) {
		noted = noted || (n.ResolutionFlag && strings.Contains(n.Text, "account was removed") && strings.Contains(n.Text, "machine decommissioned"))
	}
	if !noted {
		t.Errorf("no resolution note saying the account was removed: %+v", h.sim.Notes(tk.ID))
	}

	// A backup older than the removal, delivered late, does not re-add it.
	h.clock.Add(13 * time.Hour)
	late := removedAt.Add(-time.Hour)
	h.deliver(event("backup.completed", "1001", late, backupGB("ACME-SRV02", "select", 15, late)))
	if q := addition(t, h, acme, cwsim.ProductSelectGB).Quantity; q != 121 {
		t.Fatalf("a backup older than the removal re-added the account: Select GB = %v", q)
	}

	// A failure older than the removal, delivered late, opens nothing (a
	// fault kind the account never had, so only the removal stops it).
	before := len(h.sim.Tickets())
	h.deliver(event("notification", "1001", late, `{"kind":"no_backup","severity":"error","account":{"id":"ACME-SRV02"},"message":"no backup for 3 days"}`))
	if n := len(h.sim.Tickets()); n != before {
		t.Fatalf("a failure older than the account's removal opened a ticket (%d tickets, were %d)", n, before)
	}

	// Open tickets of the customer: one of an account, one customer-wide.
	now := h.clock.Now()
	h.deliver(event("backup.completed", "1001", now, backup("failure", "ACME-SRV01", now)))
	h.deliver(event("notification", "1001", now, `{"kind":"disk_usage","severity":"warning","message":"vault 95% full"}`))
	var open []cwsim.Ticket
	for _, x := range h.sim.Tickets() {
		if !x.ClosedFlag {
			open = append(open, x)
		}
	}
	if len(open) != 2 {
		t.Fatalf("open tickets before the customer's removal = %+v, want 2", open)
	}

	// The customer goes: every quantity to zero, once, with a note; its
	// open tickets are resolved.
	h.clock.Add(13 * time.Hour)
	gone := h.clock.Now()
	h.deliver(event("customer.removed", "1001", gone, removal("", "customer left")))
	for _, x := range open {
		got, _ := h.sim.Ticket(x.ID)
		_, _, res := notesOf(h.sim, x.ID)
		if !got.ClosedFlag || len(res) != 1 || !strings.Contains(res[0].Text, "removed from the backup service") || !strings.Contains(res[0].Text, "customer left") {
			t.Errorf("ticket %d (%s) after customer.removed: closed %v, resolution notes %+v", x.ID, x.Summary, got.ClosedFlag, res)
		}
	}
	for product := range acme.Additions {
		if q := addition(t, h, acme, product).Quantity; q != 0 {
			t.Errorf("%s = %v after customer.removed, want 0", product, q)
		}
	}
	es, err := h.st.Service.Admin.Audit.List(context.Background(), "demo", "1001", audit.Month(gone))
	if err != nil {
		t.Fatal(err)
	}
	zeroed := 0
	for _, e := range es {
		if e.Kind == audit.KindChange && e.To == "0" && strings.Contains(e.Note, "customer removed") && e.At.Equal(gone) {
			zeroed++
		}
	}
	if zeroed == 0 {
		t.Errorf("no audit entry notes the customer's removal: %+v", es)
	}
	// Failures older than the customer's removal, delivered late, open
	// nothing: of an account, and customer-wide (kinds never raised).
	before = len(h.sim.Tickets())
	late = gone.Add(-time.Minute)
	h.deliver(event("notification", "1001", late, `{"kind":"no_error_free_backup","severity":"error","account":{"id":"ACME-SRV01"},"message":"no clean backup"}`))
	h.deliver(event("notification", "1001", late, `{"kind":"archiving_failure","severity":"error","message":"archiving stopped"}`))
	if n := len(h.sim.Tickets()); n != before {
		t.Fatalf("failures older than the customer's removal opened tickets (%d tickets, were %d)", n, before)
	}
	// Nothing more: a person's edit stays, even on "sync now".
	if err := h.sim.SetAdditionQuantity(sel.ID, 7); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(13 * time.Hour)
	if code, body := h.operator(http.MethodPost, "/v1/admin/partners/demo/customers/1001/sync", nil); code != http.StatusAccepted {
		t.Fatalf("sync now: %d %v", code, body)
	}
	h.settle()
	if q := addition(t, h, acme, cwsim.ProductSelectGB).Quantity; q != 7 {
		t.Errorf("a removed customer was pushed again: Select GB = %v, want the untouched 7", q)
	}
	// A newer backup re-adds the customer.
	h.clock.Add(13 * time.Hour)
	back := h.clock.Now()
	h.deliver(event("backup.completed", "1001", back, backupGB("ACME-SRV01", "select", 50, back)))
	if q := addition(t, h, acme, cwsim.ProductSelectGB).Quantity; q != 50 {
		t.Errorf("after a backup newer than the removal: Select GB = %v, want 50", q)
	}
}
