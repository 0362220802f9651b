package datasync_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/datasync"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/usage"
)

func TestFirstSyncSetsStatisticsConfigurationsAndQuantities(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	selectBefore := e.addition(t, cwsim.ProductSelectGB)

	res := e.sync(t, e.acmeRequest(acmeAccounts(), acmeCustomer()))
	if len(res.Errors) > 0 {
		t.Fatalf("errors: %+v", res.Errors)
	}

	// The seeded BackupStats row is updated, not duplicated.
	rows := e.sim.ManagementSummaries(e.demo.Acme.ID)
	if len(rows) != 2 {
		t.Fatalf("management rows: %d, want the 2 seeded", len(rows))
	}
	st := rows[1]
	if st.ID != e.demo.Acme.SummaryIDs[1] || st.DeviceType != cwsim.DeviceTypeBackupStats {
		t.Fatalf("second row is %+v, want the seeded BackupStats row", st)
	}
	if st.SuccessfulBackupJobs != 87 || st.FailedBackupJobs != 3 || st.TotalServers != 1 ||
		st.TotalWorkstations != 2 || st.TotalManagedMachines != 3 {
		t.Errorf("BackupStats row = %+v", st)
	}

	// One configuration per account, typed Backup Stats, with its figures.
	cfgs := e.sim.Configurations()
	if len(cfgs) != 3 {
		t.Fatalf("configurations: %d, want 3", len(cfgs))
	}
	bySerial := map[string]cwsim.Configuration{}
	for _, c := range cfgs {
		bySerial[c.SerialNumber] = c
	}
	srv, ok := bySerial["EFS-1001/ACME-SRV01"]
	if !ok {
		t.Fatalf("no configuration EFS-1001/ACME-SRV01 in %+v", cfgs)
	}
	if srv.Name != "File server" || srv.Type.ID != e.demo.BackupStatsTypeID || srv.Company.ID != e.demo.Acme.ID ||
		srv.BackupSuccesses != 28 || srv.BackupFailed != 2 || srv.BackupBillableSpaceGb != 120.4 ||
		srv.LastBackupDate != "2026-11-28T03:12:00Z" {
		t.Errorf("server configuration = %+v", srv)
	}
	if pc2 := bySerial["EFS-1001/ACME-PC02"]; pc2.Name != "ACME-PC02" {
		t.Errorf("a nameless account's configuration is named %q, want its id", pc2.Name)
	}

	// Quantities set; lessIncluded, prices and costs untouched.
	for product, want := range map[string]float64{
		cwsim.ProductSelectGB: 131, cwsim.ProductOnlineServers: 1,
		cwsim.ProductOnlineDesktops: 2, cwsim.ProductArchiveMailbox: 12,
	} {
		if got := e.addition(t, product).Quantity; got != want {
			t.Errorf("%s quantity = %v, want %v", product, got, want)
		}
	}
	sel := e.addition(t, cwsim.ProductSelectGB)
	if sel.LessIncluded != 25 || sel.UnitPrice != selectBefore.UnitPrice || sel.UnitCost != selectBefore.UnitCost {
		t.Errorf("Select addition lessIncluded/price/cost = %v/%v/%v, want 25/%v/%v",
			sel.LessIncluded, sel.UnitPrice, sel.UnitCost, selectBefore.UnitPrice, selectBefore.UnitCost)
	}
	if sel.BilledQuantity != 106 {
		t.Errorf("billed quantity = %v, want 131 - 25 included = 106", sel.BilledQuantity)
	}
	wantDesc := "Reception PC (ACME-PC01), Select: 10.25 GB\nFile server (ACME-SRV01), Select: 120.4 GB"
	if sel.InvoiceDescription != wantDesc {
		t.Errorf("Select invoice description = %q, want %q", sel.InvoiceDescription, wantDesc)
	}
	if d := e.addition(t, cwsim.ProductOnlineDesktops).InvoiceDescription; d != "Reception PC (ACME-PC01), Select\nACME-PC02, Basic" {
		t.Errorf("desktops invoice description = %q", d)
	}
	if d := e.addition(t, cwsim.ProductArchiveMailbox).InvoiceDescription; d != "12 email archiving mailboxes (as reported by the backup provider)" {
		t.Errorf("mailboxes invoice description = %q", d)
	}

	// Reads: rows, configurations, type, agreements, additions; writes: the
	// row patch, 3 creates and 4 addition patches.
	if res.Calls != 13 {
		t.Errorf("calls = %d, want 13:%s", res.Calls, callList(e.sim.Calls()))
	}
}

func TestSecondIdenticalSyncOnlyReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req := e.acmeRequest(acmeAccounts(), acmeCustomer())
	e.sync(t, req)
	from := len(e.sim.Calls())

	res := e.sync(t, req)
	if w := e.writes(from); len(w) > 0 {
		t.Fatalf("a no-change sync wrote:%s", callList(w))
	}
	if len(res.Changes) != 0 || len(res.Errors) != 0 {
		t.Errorf("changes %+v, errors %+v", res.Changes, res.Errors)
	}
	if res.Calls != 4 {
		t.Errorf("calls = %d, want 4 reads (rows, configurations, agreements, additions):%s", res.Calls, callList(e.sim.Calls()[from:]))
	}
}

func TestOneChangedAccountPatchesOneAdditionAndItsConfiguration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	accts := acmeAccounts()
	e.sync(t, e.acmeRequest(accts, acmeCustomer()))
	from := len(e.sim.Calls())

	accts[1].OnlineGB = 15.25 // Select: 120.4 + 15.25 = 135.65 → 136
	res := e.sync(t, e.acmeRequest(accts, acmeCustomer()))
	w := e.writes(from)
	if len(w) != 2 {
		t.Fatalf("writes:%s\nwant one addition PATCH and one configuration PATCH", callList(w))
	}
	sel := e.demo.Acme.Additions[cwsim.ProductSelectGB]
	wantPaths := []string{
		fmt.Sprintf("PATCH /company/configurations/%d", configID(t, e, "EFS-1001/ACME-PC01")),
		fmt.Sprintf("PATCH /finance/agreements/%d/additions/%d", e.demo.Acme.AgreementID, sel),
	}
	for i, c := range w {
		if got := c.Method + " " + c.Path; got != wantPaths[i] {
			t.Errorf("write %d = %s, want %s", i, got, wantPaths[i])
		}
	}
	// Quantity and description in the same PATCH.
	if body := string(w[1].Body); !strings.Contains(body, `"quantity"`) || !strings.Contains(body, `"invoiceDescription"`) {
		t.Errorf("addition PATCH body = %s, want quantity and invoiceDescription", body)
	}
	if body := string(w[0].Body); body != `[{"op":"replace","path":"backupBillableSpaceGb","value":15.25}]` {
		t.Errorf("configuration PATCH body = %s, want only backupBillableSpaceGb", body)
	}
	if got := e.addition(t, cwsim.ProductSelectGB); got.Quantity != 136 || got.LessIncluded != 25 {
		t.Errorf("Select addition quantity/lessIncluded = %v/%v, want 136/25", got.Quantity, got.LessIncluded)
	}
	if res.Calls != 6 {
		t.Errorf("calls = %d, want 4 reads + 2 writes", res.Calls)
	}
	want := []struct{ what, field string }{
		{datasync.WhatConfiguration, "backupBillableSpaceGb"},
		{datasync.WhatBilling, "quantity"},
		{datasync.WhatDescription, "invoiceDescription"},
	}
	if len(res.Changes) != len(want) {
		t.Fatalf("changes = %+v", res.Changes)
	}
	for i, c := range res.Changes {
		if c.What != want[i].what || c.Field != want[i].field || c.Created {
			t.Errorf("change %d = %+v, want %s %s", i, c, want[i].what, want[i].field)
		}
	}
	if c := res.Changes[1]; c.From != 131.0 || c.To != 136.0 ||
		c.Target != fmt.Sprintf("addition %d (%s) on agreement %d", sel, cwsim.ProductSelectGB, e.demo.Acme.AgreementID) {
		t.Errorf("quantity change = %+v", c)
	}
}

func configID(t *testing.T, e *env, serial string) int {
	t.Helper()
	for _, c := range e.sim.Configurations() {
		if c.SerialNumber == serial {
			return c.ID
		}
	}
	t.Fatalf("no configuration %s", serial)
	return 0
}

func TestMissingBackupStatsRowIsCreatedWithTheManagedIDsSolution(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.do(t, http.MethodDelete, fmt.Sprintf("company/companies/%d/managementSummaryReports/%d", e.demo.Acme.ID, e.demo.Acme.SummaryIDs[1]), nil)

	res := e.sync(t, e.acmeRequest(acmeAccounts(), acmeCustomer()))
	if len(res.Errors) > 0 {
		t.Fatalf("errors: %+v", res.Errors)
	}
	rows := e.sim.ManagementSummaries(e.demo.Acme.ID)
	if len(rows) != 2 {
		t.Fatalf("rows = %+v", rows)
	}
	st := rows[1]
	if st.GroupIdentifier != "EFS-1001" || st.DeviceType != cwsim.DeviceTypeBackupStats ||
		st.ManagementSolution.ID != e.demo.SolutionID || st.SuccessfulBackupJobs != 87 || st.TotalManagedMachines != 3 {
		t.Errorf("created row = %+v", st)
	}
	if c := res.Changes[0]; !c.Created || c.What != datasync.WhatStatistics {
		t.Errorf("first change = %+v, want a created statistics row", c)
	}
}

// additionsOf returns an agreement's additions, whole.
func (e *env) additionsOf(agreementID int) []cwsim.Addition { return e.sim.Additions(agreementID) }

func TestAdditionProblemsAreCodedAndChangeNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		setup   func(t *testing.T, e *env, p *partner.Partner)
		code    string
		product string
	}{
		{
			name: "missing addition",
			setup: func(t *testing.T, e *env, p *partner.Partner) {
				e.do(t, http.MethodDelete, fmt.Sprintf("finance/agreements/%d/additions/%d", e.demo.Acme.AgreementID, e.demo.Acme.Additions[cwsim.ProductOnlineServers]), nil)
			},
			code: outcome.CodeAdditionMissing, product: cwsim.ProductOnlineServers,
		},
		{
			name: "duplicate addition",
			setup: func(t *testing.T, e *env, p *partner.Partner) {
				_, err := e.sim.AddAddition(e.demo.Acme.AgreementID, cwsim.Addition{
					Product: cwsim.Ref{ID: e.demo.Products[cwsim.ProductOnlineServers]}, BillCustomer: cwsim.BillBillable,
					SerialNumber: "efs-1001 ", Quantity: 7,
				})
				if err != nil {
					t.Fatal(err)
				}
			},
			code: outcome.CodeAdditionDuplicate, product: cwsim.ProductOnlineServers,
		},
		{
			name: "cancelled addition",
			setup: func(t *testing.T, e *env, p *partner.Partner) {
				a := e.addition(t, cwsim.ProductOnlineServers)
				_, _, err := e.cw.Agreements.PatchAddition(context.Background(), e.demo.Acme.AgreementID, a.ID,
					[]connectwise.PatchOp{connectwise.Replace("cancelledDate", a.EffectiveDate)})
				if err != nil {
					t.Fatal(err)
				}
			},
			code: outcome.CodeAdditionCancelled, product: cwsim.ProductOnlineServers,
		},
		{
			name: "product not in the catalog",
			setup: func(t *testing.T, e *env, p *partner.Partner) {
				p.Products[partner.BillOnlineServers] = "EFS-NO-SUCH-PRODUCT"
			},
			code: outcome.CodeProductNotFound, product: cwsim.ProductOnlineServers,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			req := e.acmeRequest(acmeAccounts(), acmeCustomer())
			tc.setup(t, e, req.Partner)
			before := e.additionsOf(e.demo.Acme.AgreementID)

			res := e.sync(t, req)
			if got := codes(res); !slices.Equal(got, []string{tc.code}) {
				t.Fatalf("error codes = %v, want [%s]: %+v", got, tc.code, res.Errors)
			}
			se := res.Errors[0]
			if se.What != datasync.WhatBilling || se.Remedy == "" || !strings.Contains(se.Message, req.Partner.Products[partner.BillOnlineServers]) {
				t.Errorf("error = %+v", se)
			}
			// Nothing changed for the service: its additions are as they were.
			after := e.additionsOf(e.demo.Acme.AgreementID)
			for _, b := range before {
				if b.Product.Identifier != tc.product {
					continue
				}
				i := slices.IndexFunc(after, func(a cwsim.Addition) bool { return a.ID == b.ID })
				if i < 0 || !reflect.DeepEqual(after[i], b) {
					t.Errorf("addition %d changed: %+v → %+v", b.ID, b, after[i])
				}
			}
			// The other services were synced.
			if got := e.addition(t, cwsim.ProductSelectGB).Quantity; got != 131 {
				t.Errorf("Select quantity = %v, want 131 (other services go ahead)", got)
			}
			// The catalog is read only for a service with no addition at all.
			catalog := e.sim.CallCount(http.MethodGet, "/procurement/catalog")
			wantCatalog := 0
			if tc.code == outcome.CodeAdditionMissing || tc.code == outcome.CodeProductNotFound {
				wantCatalog = 1
			}
			if catalog != wantCatalog {
				t.Errorf("catalog calls = %d, want %d", catalog, wantCatalog)
			}
		})
	}
}

func TestNotMeasuredServiceIsLeftAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.addition(t, cwsim.ProductArchiveMailbox)
	_, _, err := e.cw.Agreements.PatchAddition(context.Background(), e.demo.Acme.AgreementID, a.ID,
		[]connectwise.PatchOp{connectwise.Replace("quantity", 40)})
	if err != nil {
		t.Fatal(err)
	}
	cust := acmeCustomer()
	cust.ArchivingMailboxes = nil // never reported
	res := e.sync(t, e.acmeRequest(acmeAccounts(), cust))
	if len(res.Errors) > 0 {
		t.Fatalf("errors: %+v", res.Errors)
	}
	if got := e.addition(t, cwsim.ProductArchiveMailbox); got.Quantity != 40 || got.InvoiceDescription != "" {
		t.Errorf("archiving addition = %+v, want it untouched (quantity 40)", got)
	}
	for _, c := range res.Changes {
		if strings.Contains(c.Target, cwsim.ProductArchiveMailbox) {
			t.Errorf("change to the unmeasured service: %+v", c)
		}
	}
}

func TestDryRunWritesNothingAndReportsTheSameChanges(t *testing.T) {
	t.Parallel()
	for _, second := range []bool{false, true} {
		t.Run(fmt.Sprintf("after a first sync=%v", second), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			accts := acmeAccounts()
			if second {
				e.sync(t, e.acmeRequest(accts, acmeCustomer()))
				accts[0].Successes++
				accts[2].OnlineGB = 7.5
			}
			req := e.acmeRequest(accts, acmeCustomer())
			req.DryRun = true
			from := len(e.sim.Calls())
			dry := e.sync(t, req)
			if w := e.writes(from); len(w) > 0 {
				t.Fatalf("dry run wrote:%s", callList(w))
			}
			if len(dry.Changes) == 0 {
				t.Fatal("dry run reports no changes")
			}
			req.DryRun = false
			real := e.sync(t, req)
			if !reflect.DeepEqual(dry.Changes, real.Changes) {
				t.Errorf("dry run changes differ from the real run:\ndry  %+v\nreal %+v", dry.Changes, real.Changes)
			}
			if len(e.writes(from)) == 0 {
				t.Error("the real run wrote nothing")
			}
		})
	}
}

func TestLongInvoiceDescriptionIsSummarised(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var accts []usage.Account
	total := 0.0
	for i := range 400 {
		gb := float64(i%50) + 0.5
		total += gb
		accts = append(accts, usage.Account{
			PartnerID: "demo", CustomerID: "1001", AccountID: fmt.Sprintf("ACME-PC%04d", i),
			Name: "Workstation in the accounts department, floor " + fmt.Sprint(i%7), Kind: contract.KindDesktop,
			Plan: contract.PlanSelect, OnlineGB: gb, LastBackupAt: lastBackup, Period: "2026-11", Successes: 1,
		})
	}
	req := e.acmeRequest(accts, acmeCustomer())
	req.Partner.Integration.UpdateBackupStatistics = false // only billing here
	res := e.sync(t, req)
	if len(res.Errors) > 0 {
		t.Fatalf("errors: %+v", res.Errors)
	}
	sel := e.addition(t, cwsim.ProductSelectGB)
	d := sel.InvoiceDescription
	if n := utf8.RuneCountInString(d); n > datasync.MaxInvoiceDescription || n < datasync.MaxInvoiceDescription-200 {
		t.Fatalf("description has %d characters, want just under %d", n, datasync.MaxInvoiceDescription)
	}
	lines := strings.Split(d, "\n")
	last := lines[len(lines)-1]
	more := 400 - (len(lines) - 1)
	if !strings.HasPrefix(last, fmt.Sprintf("… and %d more accounts, ", more)) || !strings.HasSuffix(last, " GB") {
		t.Errorf("last line = %q", last)
	}
	if !strings.HasPrefix(lines[0], "Workstation in the accounts department, floor 0 (ACME-PC0000), Select: 0.5 GB") {
		t.Errorf("first line = %q", lines[0])
	}
	if sel.Quantity != total {
		t.Errorf("quantity = %v, want %v", sel.Quantity, total)
	}
	// The summarised description is stable: a second sync writes nothing.
	from := len(e.sim.Calls())
	e.sync(t, req)
	if w := e.writes(from); len(w) > 0 {
		t.Errorf("second sync wrote:%s", callList(w))
	}
}

func TestTransientFailureIsReturnedAndClassified(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.sim.Inject(cwsim.Fault{Method: http.MethodGet, Path: "/finance/agreements", Status: http.StatusServiceUnavailable, Times: -1})
	res, err := datasync.Sync(context.Background(), e.acmeRequest(acmeAccounts(), acmeCustomer()))
	if err == nil {
		t.Fatal("no error")
	}
	if o := outcome.Of(err); o.Kind != outcome.KindTransient || o.Code != outcome.CodeUnavailable {
		t.Errorf("outcome = %v %s, want transient %s", o.Kind, o.Code, outcome.CodeUnavailable)
	}
	// What was done before the failure is reported.
	if len(res.Changes) == 0 || res.Calls == 0 {
		t.Errorf("result = %+v", res)
	}
}

func TestRejectedWriteIsAnItemErrorAndTheSyncGoesOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.sim.Inject(cwsim.Fault{Method: http.MethodPatch, Path: fmt.Sprintf("/finance/agreements/%d/additions/%d",
		e.demo.Acme.AgreementID, e.demo.Acme.Additions[cwsim.ProductOnlineServers]), Status: http.StatusBadRequest})
	res := e.sync(t, e.acmeRequest(acmeAccounts(), acmeCustomer()))
	if got := codes(res); !slices.Equal(got, []string{outcome.CodeRejected}) {
		t.Fatalf("codes = %v", got)
	}
	if res.Errors[0].ConnectWiseMessage == "" {
		t.Errorf("no ConnectWise message: %+v", res.Errors[0])
	}
	if got := e.addition(t, cwsim.ProductOnlineDesktops).Quantity; got != 2 {
		t.Errorf("desktops quantity = %v, want 2 (the sync went on)", got)
	}
}

func TestOnlyStatisticsWhenBillingIsOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req := e.acmeRequest(acmeAccounts(), acmeCustomer())
	req.Partner.Integration.Billing = nil
	res := e.sync(t, req)
	if n := e.sim.CallCount("", "/finance"); n != 0 {
		t.Errorf("%d agreement calls with billing off", n)
	}
	if res.Calls != 7 { // rows + patch, configurations + type + 3 creates
		t.Errorf("calls = %d, want 7", res.Calls)
	}
}
