package localstack_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// backupGB is a successful backup of one server account on plan with gb online.
func backupGB(account, plan string, gb float64, at time.Time) string {
	return fmt.Sprintf(`{"account":{"id":%q,"name":%q,"kind":"server","plan":%q},"result":"success","endedAt":%q,"onlineGB":%g,"localGB":0}`,
		account, account, plan, at.UTC().Format(time.RFC3339), gb)
}

// addition returns the addition of product on a demo company's agreement.
func addition(t *testing.T, h *harness, c cwsim.DemoCompany, product string) cwsim.Addition {
	t.Helper()
	for _, a := range h.sim.Additions(c.AgreementID) {
		if a.Product.Identifier == product {
			return a
		}
	}
	t.Fatalf("no addition for %s on agreement %d", product, c.AgreementID)
	return cwsim.Addition{}
}

func backupStatsRow(h *harness, c cwsim.DemoCompany) *cwsim.ManagementSummary {
	for _, r := range h.sim.ManagementSummaries(c.ID) {
		if r.DeviceType == cwsim.DeviceTypeBackupStats && r.GroupIdentifier == c.ManagedID {
			return &r
		}
	}
	return nil
}

// enableBilling turns billing on for svc in the demo partner's settings.
func enableBilling(t *testing.T, h *harness, svc partner.BillingService) {
	t.Helper()
	ctx := context.Background()
	p, err := h.st.Service.Partners.Get(ctx, partner.DemoPartnerID)
	if err != nil {
		t.Fatal(err)
	}
	p.Integration.Billing = append(p.Integration.Billing, svc)
	if err := h.st.Service.Partners.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
}

func writes(h *harness) int {
	n := 0
	for _, c := range h.sim.Calls() {
		if c.Method != http.MethodGet && !strings.HasSuffix(c.Path, "/search") {
			n++
		}
	}
	return n
}

// The first backup of a customer: statistics row and configuration, addition
// quantities set, lessIncluded untouched. A second event inside the window is
// throttled and pending with no ConnectWise call; 12 hours later the resync
// pushes the pending change.
func TestFirstSyncThenThrottledThenPendingLandsAfterWindow(t *testing.T) {
	h := start(t)
	acme := h.st.Demo.Sim.Acme
	before := addition(t, h, acme, cwsim.ProductSelectGB)
	at := h.clock.Now()
	if code, b := h.post(newID(), event("backup.completed", "1001", at, backupGB("ACME-SRV01", "select", 120.4, at))); code != http.StatusAccepted {
		t.Fatalf("post: %d %v", code, b)
	}
	h.drain()

	sel := addition(t, h, acme, cwsim.ProductSelectGB)
	if sel.Quantity != 121 {
		t.Errorf("Select GB quantity = %v, want 121 (120.4 rounded up)", sel.Quantity)
	}
	if sel.LessIncluded != before.LessIncluded || sel.UnitPrice != before.UnitPrice || sel.UnitCost != before.UnitCost {
		t.Errorf("lessIncluded/prices changed: before %+v after %+v", before, sel)
	}
	if !strings.Contains(sel.InvoiceDescription, "ACME-SRV01") {
		t.Errorf("invoice description = %q", sel.InvoiceDescription)
	}
	if q := addition(t, h, acme, cwsim.ProductOnlineServers).Quantity; q != 1 {
		t.Errorf("online servers = %v, want 1", q)
	}
	row := backupStatsRow(h, acme)
	if row == nil || row.SuccessfulBackupJobs != 1 || row.TotalServers != 1 {
		t.Errorf("BackupStats row = %+v", row)
	}
	var cfg bool
	for _, c := range h.sim.Configurations() {
		cfg = cfg || (strings.HasSuffix(c.SerialNumber, "ACME-SRV01") && c.BackupBillableSpaceGb > 120)
	}
	if !cfg {
		t.Errorf("no configuration for ACME-SRV01: %+v", h.sim.Configurations())
	}

	// Inside the window.
	h.clock.Add(time.Hour)
	at2 := h.clock.Now()
	w0 := writes(h)
	calls0 := len(h.sim.Calls())
	h.post(newID(), event("backup.completed", "1001", at2, backupGB("ACME-SRV01", "select", 150.2, at2)))
	h.drain()
	if n := len(h.sim.Calls()) - calls0; n != 0 {
		t.Errorf("throttled event made %d ConnectWise calls, want 0: %+v", n, h.sim.Calls()[calls0:])
	}
	// The event's one line says the sync is pending, and when it may run.
	var pending bool
	for _, e := range h.events(eventlog.Query{CustomerID: "1001"}) {
		pending = pending || (e.What == eventlog.WhatEvent && e.Outcome == eventlog.OutcomeDone && strings.Contains(e.Message, "the data sync is pending") && strings.Contains(e.Message, "the window opens at"))
	}
	if !pending {
		t.Errorf("no line saying the sync is pending: %+v", h.events(eventlog.Query{CustomerID: "1001"}))
	}
	if q := addition(t, h, acme, cwsim.ProductSelectGB).Quantity; q != 121 {
		t.Errorf("quantity changed inside the window: %v", q)
	}

	// 12 hours after the first sync: the resync pushes the pending change.
	h.clock.Add(12 * time.Hour)
	rep, err := h.st.Service.Resync.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Syncs < 1 || rep.Pending < 1 {
		t.Errorf("resync report = %+v, want the pending customer synced", rep)
	}
	h.drain()
	if q := addition(t, h, acme, cwsim.ProductSelectGB).Quantity; q != 151 {
		t.Errorf("after the window: Select GB = %v, want 151", q)
	}
	if writes(h) == w0 {
		t.Error("the pending change was not written")
	}
}

// 20 events for one customer processed by 8 concurrent workers: one sync.
func TestConcurrentEventsForOneCustomerGiveOneSync(t *testing.T) {
	h := start(t)
	at := h.clock.Now()
	for i := range 20 {
		code, b := h.post(newID(), event("backup.completed", "1002", at, backupGB(fmt.Sprintf("BIRCH-%02d", i), "select", 10, at)))
		if code != http.StatusAccepted {
			t.Fatalf("post %d: %d %v", i, code, b)
		}
	}
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && h.queueDepth(h.st.QueueURL) > 0 {
				if _, err := h.st.EventSource.PollOnce(ctx); err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	h.drain()

	// Each event has its one line; the events that found the window open
	// queued a sync job, the others marked the customer pending; one job
	// took the slot and pushed, the others found it taken and wrote nothing.
	synced := map[string]bool{}
	lines, queued, pending := 0, 0, 0
	for _, e := range h.events(eventlog.Query{CustomerID: "1002", Limit: 500}) {
		switch {
		case e.What == eventlog.WhatEvent:
			lines++
			if strings.Contains(e.Message, "the data sync is queued") {
				queued++
			}
			if strings.Contains(e.Message, "the data sync is pending") {
				pending++
			}
		case e.What.IsSync() && e.What != eventlog.WhatSync && e.Outcome == eventlog.OutcomeDone:
			synced[e.EventID] = true
		case e.What == eventlog.WhatSync:
			t.Errorf("sync line %+v: a job that finds the slot taken writes none", e)
		}
	}
	if len(synced) != 1 {
		t.Fatalf("%d events synced, want exactly 1 (%d queued a job, %d found it pending)", len(synced), queued, pending)
	}
	if lines != 20 || queued+pending != 20 || queued < 1 {
		t.Errorf("event lines = %d (%d queued a sync, %d pending), want 20 lines, each saying one of the two", lines, queued, pending)
	}
	// Nothing lost: the customer is pending, and a forced sync pushes all 20.
	if code, b := h.operator(http.MethodPost, "/v1/admin/partners/demo/customers/1002/sync", nil); code != http.StatusAccepted {
		t.Fatalf("sync now: %d %v", code, b)
	}
	h.drain()
	if q := addition(t, h, h.st.Demo.Sim.Birch, cwsim.ProductOnlineServers).Quantity; q != 20 {
		t.Errorf("after the forced sync: servers = %v, want 20", q)
	}
}

// Reprocess (sync now) bypasses the window, and two clicks are one sync; the
// preview shows the change without making it.
func TestSyncNowBypassesWindowAndPreviewWritesNothing(t *testing.T) {
	h := start(t)
	acme := h.st.Demo.Sim.Acme
	at := h.clock.Now()
	h.post(newID(), event("backup.completed", "1001", at, backupGB("ACME-SRV01", "select", 40, at)))
	h.drain()
	h.clock.Add(time.Minute)
	at2 := h.clock.Now()
	h.post(newID(), event("backup.completed", "1001", at2, backupGB("ACME-SRV01", "select", 70, at2)))
	h.drain()
	if q := addition(t, h, acme, cwsim.ProductSelectGB).Quantity; q != 40 {
		t.Fatalf("quantity = %v, want 40 (second event throttled)", q)
	}

	w0 := writes(h)
	code, b := h.operator(http.MethodGet, "/v1/admin/partners/demo/customers/1001/preview", nil)
	if code != http.StatusOK {
		t.Fatalf("preview: %d %v", code, b)
	}
	changes, _ := b["changes"].([]any)
	if len(changes) == 0 || !strings.Contains(fmt.Sprint(changes), "70") {
		t.Errorf("preview changes = %v", changes)
	}
	if writes(h) != w0 {
		t.Fatal("preview wrote to ConnectWise")
	}

	c1, b1 := h.operator(http.MethodPost, "/v1/admin/partners/demo/customers/1001/sync", nil)
	c2, b2 := h.operator(http.MethodPost, "/v1/admin/partners/demo/customers/1001/sync", nil)
	if c1 != http.StatusAccepted || c2 != http.StatusAccepted || b1["requestId"] != b2["requestId"] {
		t.Fatalf("sync now twice: %d %v / %d %v", c1, b1, c2, b2)
	}
	h.drain()
	if q := addition(t, h, acme, cwsim.ProductSelectGB).Quantity; q != 70 {
		t.Errorf("after sync now: %v, want 70", q)
	}
	syncs := 0
	for _, e := range h.events(eventlog.Query{CustomerID: "1001", Limit: 500}) {
		if e.What == eventlog.WhatBilling && e.Outcome == eventlog.OutcomeDone && strings.HasPrefix(e.EventID, "sync:") {
			syncs++
		}
	}
	if syncs != 1 {
		t.Errorf("two clicks gave %d syncs, want 1", syncs)
	}
}

// The resync walks every customer: open windows get a sync job, closed ones
// are skipped and counted.
func TestResyncOverManyCustomers(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	at := h.clock.Now()
	for i := range 40 {
		ev := &contract.Event{SpecVersion: "1.0", Type: contract.TypeBackupCompleted, OccurredAt: at, Customer: contract.Customer{ID: fmt.Sprintf("C%03d", i)},
			Backup: &contract.BackupCompleted{Account: contract.Account{ID: "PC1", Kind: contract.KindDesktop, Plan: contract.PlanBasic}, Result: contract.ResultSuccess, EndedAt: at, OnlineGB: 3}}
		if err := h.st.Service.Usage.Record(ctx, partner.DemoPartnerID, ev); err != nil {
			t.Fatal(err)
		}
	}
	// A customer known only by a notification is listed but has nothing to push.
	if err := h.st.Service.Usage.Record(ctx, partner.DemoPartnerID, &contract.Event{SpecVersion: "1.0", Type: contract.TypeNotification, OccurredAt: at, Customer: contract.Customer{ID: "N001"}}); err != nil {
		t.Fatal(err)
	}
	// One customer synced just now: its window is closed.
	h.post(newID(), event("backup.completed", "1001", at, backupGB("ACME-SRV01", "select", 5, at)))
	h.drain()

	rep, err := h.st.Service.Resync.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Customers != 42 || rep.Syncs != 41 || rep.Closed != 1 {
		t.Fatalf("resync report = %+v, want 42 customers, 41 syncs, 1 window closed", rep)
	}
	if n, e := h.queueDepth(h.st.SyncURL), h.queueDepth(h.st.QueueURL); n != 41 || e != 0 {
		t.Fatalf("sync queue depth = %d, events queue %d; want 41 sync jobs on the sync queue, none on the events queue", n, e)
	}
	// The same day's second run enqueues again but the jobs are the same
	// requests: each customer is still synced once.
	h.drain()
	var mgmt int
	for _, e := range h.events(eventlog.Query{FailedOnly: true, Limit: 500}) {
		if e.Code == outcome.CodeManagementID {
			mgmt++
		}
	}
	if mgmt != 40 {
		t.Errorf("unmapped customers reported %d management ID errors, want 40", mgmt)
	}
	var nothing bool
	for _, e := range h.events(eventlog.Query{CustomerID: "N001"}) {
		nothing = nothing || (e.What == eventlog.WhatSync && e.Outcome == eventlog.OutcomeSkipped && strings.Contains(e.Message, "nothing pushed"))
	}
	if !nothing {
		t.Errorf("the notification-only customer was not skipped: %+v", h.events(eventlog.Query{CustomerID: "N001"}))
	}
}

// Billing errors: a missing addition and a duplicate addition are coded
// errors, and their additions are not changed.
func TestMissingAndDuplicateAdditions(t *testing.T) {
	h := start(t)
	acme := h.st.Demo.Sim.Acme
	enableBilling(t, h, partner.BillOnlineBDRGB)
	dup := addition(t, h, acme, cwsim.ProductSelectGB)
	dup.ID = 0
	if _, err := h.sim.AddAddition(acme.AgreementID, dup); err != nil {
		t.Fatal(err)
	}
	before := h.sim.Additions(acme.AgreementID)

	at := h.clock.Now()
	h.post(newID(), event("backup.completed", "1001", at, backupGB("ACME-BDR1", "shadowprotect_bdr", 500, at)))
	h.post(newID(), event("backup.completed", "1001", at, backupGB("ACME-SRV01", "select", 80, at)))
	h.drain()

	codes := map[string]eventlog.Entry{}
	for _, e := range h.events(eventlog.Query{FailedOnly: true, Limit: 500}) {
		codes[e.Code] = e
	}
	for _, c := range []string{"ADDITION_MISSING", "ADDITION_DUPLICATE"} {
		e, ok := codes[c]
		if !ok {
			t.Errorf("no %s entry: %+v", c, codes)
			continue
		}
		if e.Remedy == "" || !strings.Contains(e.Message+e.Remedy, "EFS-1001") {
			t.Errorf("%s entry lacks a remedy naming the serial: %+v", c, e)
		}
	}
	for _, a := range h.sim.Additions(acme.AgreementID) {
		if a.Product.Identifier != cwsim.ProductSelectGB {
			continue
		}
		for _, b := range before {
			if b.ID == a.ID && b.Quantity != a.Quantity {
				t.Errorf("duplicate addition %d changed: %v → %v", a.ID, b.Quantity, a.Quantity)
			}
		}
	}
}

// The doctor reads ConnectWise and names each missing piece of setup.
func TestDoctorListsEachProblem(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	p, s := h.st.Demo.Partner, h.st.Demo.Secrets
	broken := *p
	broken.ID, broken.Board, broken.Version = "broken", "No Such Board", 0
	broken.Products = map[partner.BillingService]string{partner.BillOnlineSelectGB: "NO-SUCH-PRODUCT", partner.BillOnlineServers: cwsim.ProductOnlineServers}
	broken.Integration.Billing = []partner.BillingService{partner.BillOnlineSelectGB, partner.BillOnlineServers}
	code, b := h.operator(http.MethodPost, "/v1/admin/partners", map[string]any{"partner": broken, "secrets": s})
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, b)
	}
	// A customer without a managed ID sends events; an addition lacks its serial.
	for _, cid := range []string{"1003", "1001"} {
		ev := &contract.Event{SpecVersion: "1.0", Type: contract.TypeNotification, OccurredAt: h.clock.Now(), Customer: contract.Customer{ID: cid}}
		if err := h.st.Service.Usage.Record(ctx, "broken", ev); err != nil {
			t.Fatal(err)
		}
	}
	acme := h.st.Demo.Sim.Acme
	if _, err := h.sim.AddAddition(acme.AgreementID, cwsim.Addition{Product: cwsim.Ref{Identifier: cwsim.ProductOnlineServers}, BillCustomer: cwsim.BillBillable, Quantity: 1}); err != nil {
		t.Fatal(err)
	}

	code, b = h.operator(http.MethodGet, "/v1/admin/partners/broken/doctor", nil)
	if code != http.StatusOK || b["ok"] != false {
		t.Fatalf("doctor: %d %v", code, b)
	}
	text := fmt.Sprint(b["problems"])
	for _, want := range []string{"No Such Board", "NO-SUCH-PRODUCT", "EFS-1003", "without a serial number"} {
		if !strings.Contains(text, want) {
			t.Errorf("doctor did not report %q: %s", want, text)
		}
	}
	// Bad credentials are reported as such.
	s.PrivateKey = "wrong"
	badKeys := *p
	badKeys.ID, badKeys.Version = "badkeys", 0
	h.operator(http.MethodPost, "/v1/admin/partners", map[string]any{"partner": badKeys, "secrets": s})
	_, b = h.operator(http.MethodGet, "/v1/admin/partners/badkeys/doctor", nil)
	if !strings.Contains(fmt.Sprint(b["problems"]), "rejected the credentials") {
		t.Errorf("doctor with bad keys: %v", b)
	}
}

// A billing error leaves the failed list once a later sync of the customer
// no longer hits it.
func TestFixedBillingErrorLeavesTheFailedList(t *testing.T) {
	h := start(t)
	birch := h.st.Demo.Sim.Birch
	enableBilling(t, h, partner.BillOnlineBDRGB)
	at := h.clock.Now()
	h.post(newID(), event("backup.completed", "1002", at, backupGB("BIRCH-BDR", "shadowprotect_bdr", 700.2, at)))
	h.drain()
	missing := func() int {
		n := 0
		for _, e := range h.events(eventlog.Query{FailedOnly: true, CustomerID: "1002", Limit: 500}) {
			if e.Code == "ADDITION_MISSING" {
				n++
			}
		}
		return n
	}
	if missing() != 1 {
		t.Fatalf("failed list = %+v, want one ADDITION_MISSING", h.events(eventlog.Query{FailedOnly: true, Limit: 500}))
	}
	// The MSP adds the addition; the operator syncs the customer now.
	if _, err := h.sim.AddAddition(birch.AgreementID, cwsim.Addition{Product: cwsim.Ref{Identifier: cwsim.ProductBDRGB}, BillCustomer: cwsim.BillBillable, SerialNumber: birch.ManagedID}); err != nil {
		t.Fatal(err)
	}
	if code, b := h.operator(http.MethodPost, "/v1/admin/partners/demo/customers/1002/sync", nil); code != http.StatusAccepted {
		t.Fatalf("sync now: %d %v", code, b)
	}
	h.drain()
	if q := addition(t, h, birch, cwsim.ProductBDRGB).Quantity; q != 701 {
		t.Errorf("BDR GB = %v, want 701", q)
	}
	if n := missing(); n != 0 {
		t.Errorf("ADDITION_MISSING still on the failed list after the fix (%d)", n)
	}
}

// A sync with nothing new makes no ConnectWise call (issue 10): the daily
// resync of a customer whose figures are those it pushed last logs "nothing
// changed" and asks ConnectWise nothing; once the fingerprint is older than
// worker.FullCompareEvery the sync compares with ConnectWise again (and
// finds it holds the figures); a person's change in ConnectWise is put
// right then, or at once by an operator's sync.
func TestNoChangeSyncAsksConnectWiseNothing(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	at := h.clock.Now()
	h.deliver(event("backup.completed", "1001", at, backupGB("ACME-SRV01", "select", 120.4, at)))
	acme := h.st.Demo.Sim.Acme
	if q := addition(t, h, acme, cwsim.ProductSelectGB).Quantity; q != 121 {
		t.Fatalf("first sync: Select GB = %v, want 121", q)
	}
	resync := func() (calls int, lines []eventlog.Entry) {
		t.Helper()
		h.clock.Add(13 * time.Hour)
		began := h.clock.Now()
		n := len(h.sim.Calls())
		if _, err := h.st.Service.Resync.Run(ctx); err != nil {
			t.Fatal(err)
		}
		h.settle()
		for _, e := range h.events(eventlog.Query{CustomerID: "1001"}) {
			if e.What.IsSync() && !e.At.Before(began) {
				lines = append(lines, e)
			}
		}
		return len(h.sim.Calls()) - n, lines
	}
	calls, lines := resync()
	if calls != 0 {
		t.Errorf("no-change resync made %d ConnectWise calls, want 0: %+v", calls, h.sim.Calls()[len(h.sim.Calls())-calls:])
	}
	if len(lines) != 1 || lines[0].Outcome != eventlog.OutcomeSkipped || !strings.Contains(lines[0].Message, "nothing changed since the figures pushed at") {
		t.Errorf("no-change resync lines = %+v, want one 'nothing changed' line", lines)
	}

	// A person sets the quantity by hand; a week on, the sync compares and
	// puts it right.
	sel := addition(t, h, acme, cwsim.ProductSelectGB)
	if err := h.sim.SetAdditionQuantity(sel.ID, 5); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(7 * 24 * time.Hour)
	calls, _ = resync()
	if calls == 0 {
		t.Error("a sync past FullCompareEvery made no ConnectWise call; want it to compare")
	}
	if q := addition(t, h, acme, cwsim.ProductSelectGB).Quantity; q != 121 {
		t.Errorf("after the full compare: Select GB = %v, want 121 again", q)
	}
}
