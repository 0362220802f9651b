package cwsim

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func q(cond string) string { return "?conditions=" + url.QueryEscape(cond) }

func TestDemoSeed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	d := e.demo
	var companies []Company
	e.do("GET", "/company/companies"+q(`identifier="AcmeDental"`), nil).wantStatus(t, http.StatusOK).decode(t, &companies)
	if len(companies) != 1 || companies[0].ID != d.Acme.ID || companies[0].Name != "Acme Dental" || companies[0].Status.Name != "Active" || companies[0].DeletedFlag {
		t.Fatalf("companies %+v", companies)
	}
	if len(e.sim.Companies()) != 3 || d.Cedar.ManagedID != "" || d.Cedar.AgreementID != 0 {
		t.Fatalf("demo companies %+v", d)
	}
	var boards []Board
	e.do("GET", "/service/boards"+q(`name="eFolder Backup"`), nil).wantStatus(t, http.StatusOK).decode(t, &boards)
	if len(boards) != 1 || boards[0].ID != d.BackupBoard.ID {
		t.Fatalf("boards %+v", boards)
	}
	var statuses []Status
	e.do("GET", fmt.Sprintf("/service/boards/%d/statuses", d.BackupBoard.ID), nil).wantStatus(t, http.StatusOK).decode(t, &statuses)
	want := []struct {
		name        string
		closed, def bool
		escalation  string
		id          int
	}{
		{"New", false, true, EscalationNotResponded, d.StatusNew},
		{"In Progress", false, false, EscalationResponded, d.StatusInProgress},
		{"Waiting", false, false, EscalationResolutionPlan, d.StatusWaiting},
		{"Resolved", true, false, EscalationResolved, d.StatusResolved},
		{"Closed", true, false, EscalationNoEscalation, d.StatusClosed},
	}
	if len(statuses) != len(want) {
		t.Fatalf("statuses %+v", statuses)
	}
	for i, w := range want {
		s := statuses[i]
		if s.Name != w.name || s.ClosedStatus != w.closed || s.DefaultFlag != w.def || s.EscalationStatus != w.escalation || s.ID != w.id || s.Board.ID != d.BackupBoard.ID {
			t.Errorf("status %d: %+v", i, s)
		}
	}
	var closed []Status
	e.do("GET", fmt.Sprintf("/service/boards/%d/statuses", d.BackupBoard.ID)+q("closedStatus=true"), nil).wantStatus(t, http.StatusOK).decode(t, &closed)
	if len(closed) != 2 {
		t.Errorf("closed statuses %+v", closed)
	}
	var types []BoardType
	e.do("GET", fmt.Sprintf("/service/boards/%d/types", d.BackupBoard.ID), nil).wantStatus(t, http.StatusOK).decode(t, &types)
	if len(types) != 1 || types[0].Name != DemoBoardType {
		t.Errorf("types %+v", types)
	}
	var prios []Priority
	e.do("GET", "/service/priorities"+q(`name="Priority 3 - Normal Response"`), nil).wantStatus(t, http.StatusOK).decode(t, &prios)
	if len(prios) != 1 || prios[0].ID != d.PriorityNormal || !prios[0].DefaultFlag {
		t.Errorf("priorities %+v", prios)
	}
	var sols []ManagementITSolution
	e.do("GET", "/company/managementItSolutions", nil).wantStatus(t, http.StatusOK).decode(t, &sols)
	if len(sols) != 1 || sols[0].Name != DemoSolution || sols[0].ManagementITSolutionType != "Custom" {
		t.Errorf("solutions %+v", sols)
	}
	var products []Product
	e.do("GET", "/procurement/catalog"+q(`identifier like "EFS-*"`)+"&pageSize=100", nil).wantStatus(t, http.StatusOK).decode(t, &products)
	if len(products) != len(DemoCatalog()) || len(d.Products) != 12 {
		t.Errorf("%d products", len(products))
	}
	e.do("GET", "/procurement/catalog"+q(`identifier="EFS-SELECT-GB"`), nil).wantStatus(t, http.StatusOK).decode(t, &products)
	if len(products) != 1 || products[0].ID != d.Products[ProductSelectGB] || products[0].Price == 0 {
		t.Errorf("select product %+v", products)
	}
	var cts []ConfigurationType
	e.do("GET", "/company/configurations/types", nil).wantStatus(t, http.StatusOK).decode(t, &cts)
	if len(cts) != 2 || cts[0].Name != DemoConfigBackup || cts[1].Name != DemoConfigLicense {
		t.Errorf("configuration types %+v", cts)
	}
}

// TestCompanyFieldLimits: ConnectWise keeps a company identifier to 30
// characters and a name to 50; the simulator cannot hold a longer one.
func TestCompanyFieldLimits(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	ok := s.AddCompany(Company{Identifier: strings.Repeat("i", maxCompanyIdentifier), Name: strings.Repeat("n", maxCompanyName)})
	if ok.ID == 0 {
		t.Fatalf("company at the limits not added: %+v", ok)
	}
	for _, c := range []Company{
		{Identifier: strings.Repeat("i", maxCompanyIdentifier+1), Name: "Too Long Identifier"},
		{Identifier: "TooLongName", Name: strings.Repeat("n", maxCompanyName+1)},
	} {
		func() {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), "cannot be longer than") {
					t.Errorf("AddCompany(%q, %q): recovered %v, want a panic about the length", c.Identifier, c.Name, r)
				}
			}()
			s.AddCompany(c)
		}()
	}
	if n := len(s.Companies()); n != 1 {
		t.Errorf("%d companies, want only the one within the limits", n)
	}
}

func TestManagementSummaries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	base := fmt.Sprintf("/company/companies/%d/managementSummaryReports", e.demo.Acme.ID)
	var rows []ManagementSummary
	e.do("GET", base, nil).wantStatus(t, http.StatusOK).decode(t, &rows)
	if len(rows) != 2 || rows[0].DeviceType != DeviceTypeWorkstationsAndServers || rows[1].DeviceType != DeviceTypeBackupStats {
		t.Fatalf("rows %+v", rows)
	}
	for i, r := range rows {
		if r.GroupIdentifier != DemoAcmeManagedID || r.ManagementSolution.Name != DemoSolution || r.ID != e.demo.Acme.SummaryIDs[i] || r.Company.ID != e.demo.Acme.ID {
			t.Errorf("row %+v", r)
		}
	}
	// Every company's rows, found by managed ID, are per company.
	var cedar []ManagementSummary
	e.do("GET", fmt.Sprintf("/company/companies/%d/managementSummaryReports", e.demo.Cedar.ID), nil).wantStatus(t, http.StatusOK).decode(t, &cedar)
	if len(cedar) != 0 {
		t.Errorf("cedar rows %+v", cedar)
	}
	e.do("GET", "/company/companies/999999/managementSummaryReports", nil).wantStatus(t, http.StatusNotFound)

	row := fmt.Sprintf("%s/%d", base, rows[1].ID)
	var got ManagementSummary
	e.do("PATCH", row, `[{"op":"replace","path":"successfulBackupJobs","value":12},{"op":"replace","path":"failedBackupJobs","value":1},{"op":"replace","path":"totalServers","value":2}]`).
		wantStatus(t, http.StatusOK).decode(t, &got)
	if got.SuccessfulBackupJobs != 12 || got.FailedBackupJobs != 1 || got.TotalServers != 2 || got.GroupIdentifier != DemoAcmeManagedID {
		t.Fatalf("patched row %+v", got)
	}
	e.do("PATCH", row, `[{"op":"replace","path":"failedBackupJobs","value":-1}]`).wantFieldError(t, "failedBackupJobs")
	e.do("PATCH", row, `[{"op":"replace","path":"deviceType","value":"Backup Stats"}]`).wantFieldError(t, "deviceType")
	e.do("PATCH", row, `[{"op":"replace","path":"company","value":{"id":1}}]`).wantFieldError(t, "company")
	e.do("PATCH", row, `[{"op":"replace","path":"managementSolution/id","value":1}]`).wantStatus(t, http.StatusOK)

	// PUT replaces the row: what the body leaves out is reset.
	put := map[string]any{"groupIdentifier": DemoAcmeManagedID, "managementSolution": map[string]any{"name": DemoSolution}, "deviceType": DeviceTypeBackupStats, "successfulBackupJobs": 3}
	e.do("PUT", row, put).wantStatus(t, http.StatusOK).decode(t, &got)
	if got.SuccessfulBackupJobs != 3 || got.FailedBackupJobs != 0 {
		t.Fatalf("put row %+v", got)
	}
	delete(put, "groupIdentifier")
	e.do("PUT", row, put).wantFieldError(t, "groupIdentifier")

	tests := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no managed ID", map[string]any{"managementSolution": map[string]any{"id": e.demo.SolutionID}, "deviceType": DeviceTypeBackupStats}, "groupIdentifier"},
		{"managed ID too long", map[string]any{"groupIdentifier": strings.Repeat("E", 101), "managementSolution": map[string]any{"id": e.demo.SolutionID}, "deviceType": DeviceTypeBackupStats}, "groupIdentifier"},
		{"unknown solution", map[string]any{"groupIdentifier": "EFS-1", "managementSolution": map[string]any{"name": "Kaseya"}, "deviceType": DeviceTypeBackupStats}, "managementSolution"},
		{"bad device type", map[string]any{"groupIdentifier": "EFS-1", "managementSolution": map[string]any{"id": e.demo.SolutionID}, "deviceType": "Servers and Workstations"}, "deviceType"},
		{"agreement of another company", map[string]any{"groupIdentifier": "EFS-1", "managementSolution": map[string]any{"id": e.demo.SolutionID}, "deviceType": DeviceTypeBackupStats, "agreement": map[string]any{"id": e.demo.Birch.AgreementID}}, "agreement"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.do("POST", base, tc.body).wantFieldError(t, tc.field)
		})
	}
	var created ManagementSummary
	e.do("POST", base, map[string]any{"groupIdentifier": "EFS-1009", "managementSolution": map[string]any{"id": e.demo.SolutionID}, "deviceType": DeviceTypeServers, "agreement": map[string]any{"id": e.demo.Acme.AgreementID}}).
		wantStatus(t, http.StatusCreated).decode(t, &created)
	if created.Agreement.Name != DemoAgreement {
		t.Errorf("created %+v", created)
	}
	e.do("DELETE", fmt.Sprintf("%s/%d", base, created.ID), nil).wantStatus(t, http.StatusNoContent)
	e.do("GET", fmt.Sprintf("%s/%d", base, created.ID), nil).wantStatus(t, http.StatusNotFound)
	// A row id under another company is not found.
	e.do("GET", fmt.Sprintf("/company/companies/%d/managementSummaryReports/%d", e.demo.Birch.ID, rows[0].ID), nil).wantStatus(t, http.StatusNotFound)
	if n := len(e.sim.ManagementSummaries(e.demo.Acme.ID)); n != 2 {
		t.Errorf("%d rows", n)
	}
}

func TestManagementITSolutions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.do("POST", "/company/managementItSolutions", map[string]any{"name": "eFolder", "managementItSolutionType": "Custom", "managementSolutionName": "eFolder"}).wantFieldError(t, "name")
	e.do("POST", "/company/managementItSolutions", map[string]any{"name": "Other", "managementItSolutionType": "Custom"}).wantFieldError(t, "managementSolutionName")
	e.do("POST", "/company/managementItSolutions", map[string]any{"name": "Other", "managementItSolutionType": "Whatever"}).wantFieldError(t, "managementItSolutionType")
	e.do("POST", "/company/managementItSolutions", map[string]any{"name": "Other", "managementItSolutionType": "Custom", "managementSolutionName": "Other"}).wantStatus(t, http.StatusCreated)
}

func TestAgreementsAndAdditions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	cancelled, err := e.sim.AddAgreement(Agreement{Name: "Old", Company: Ref{ID: e.demo.Acme.ID}, AgreementStatus: AgreementCancelled})
	if err != nil {
		t.Fatal(err)
	}
	var ags []Agreement
	e.do("GET", "/finance/agreements"+q(fmt.Sprintf(`company/id=%d and agreementStatus="Active" and cancelledFlag=false`, e.demo.Acme.ID)), nil).
		wantStatus(t, http.StatusOK).decode(t, &ags)
	if len(ags) != 1 || ags[0].ID != e.demo.Acme.AgreementID || ags[0].Name != DemoAgreement {
		t.Fatalf("agreements %+v", ags)
	}
	e.do("GET", "/finance/agreements"+q(`agreementStatus="Cancelled"`), nil).wantStatus(t, http.StatusOK).decode(t, &ags)
	if len(ags) != 1 || ags[0].ID != cancelled.ID || !ags[0].CancelledFlag {
		t.Fatalf("cancelled agreements %+v", ags)
	}

	base := fmt.Sprintf("/finance/agreements/%d/additions", e.demo.Acme.AgreementID)
	var adds []Addition
	e.do("GET", base, nil).wantStatus(t, http.StatusOK).decode(t, &adds)
	if len(adds) != 4 {
		t.Fatalf("additions %+v", adds)
	}
	sel := adds[0]
	if sel.Product.Identifier != ProductSelectGB || sel.LessIncluded != 25 || sel.SerialNumber != DemoAcmeManagedID || sel.BillCustomer != BillBillable || sel.UnitPrice != 2 || sel.ID != e.demo.Acme.Additions[ProductSelectGB] {
		t.Fatalf("select addition %+v", sel)
	}
	// Patching the quantity keeps lessIncluded and prices; ext price follows.
	var got Addition
	addPath := fmt.Sprintf("%s/%d", base, sel.ID)
	e.do("PATCH", addPath, `[{"op":"replace","path":"quantity","value":40.5},{"op":"replace","path":"invoiceDescription","value":"SERVER01: 40.5 GB"}]`).
		wantStatus(t, http.StatusOK).decode(t, &got)
	if got.Quantity != 40.5 || got.LessIncluded != 25 || got.UnitPrice != 2 || got.BilledQuantity != 15.5 || got.ExtPrice != 31 || got.InvoiceDescription != "SERVER01: 40.5 GB" {
		t.Fatalf("patched addition %+v", got)
	}
	if stored, _ := e.sim.Addition(sel.ID); stored != got {
		t.Fatalf("stored %+v", stored)
	}
	e.do("PATCH", addPath, `[{"op":"replace","path":"quantity","value":"40"}]`).wantFieldError(t, "quantity")
	e.do("PATCH", addPath, `[{"op":"replace","path":"quantity","value":-1}]`).wantFieldError(t, "quantity")
	e.do("PATCH", addPath, `[{"op":"replace","path":"serialNumber","value":"`+strings.Repeat("S", 51)+`"}]`).wantFieldError(t, "serialNumber")
	e.do("PATCH", addPath, `[{"op":"replace","path":"invoiceDescription","value":"`+strings.Repeat("d", 6001)+`"}]`).wantFieldError(t, "invoiceDescription")
	e.do("PATCH", addPath, `[{"op":"replace","path":"billCustomer","value":"Maybe"}]`).wantFieldError(t, "billCustomer")
	e.do("PATCH", addPath, `[{"op":"remove","path":"product"}]`).wantFieldError(t, "product")
	e.do("PATCH", addPath, `[{"op":"replace","path":"extPrice","value":1}]`).wantFieldError(t, "extPrice")
	e.do("PATCH", addPath, `[{"op":"replace","path":"Quantity","value":1}]`).wantFieldError(t, "Quantity")

	// serialNumber is not filterable: clients match it themselves.
	e.do("GET", base+q(`serialNumber="EFS-1001"`), nil).wantFieldError(t, "serialNumber")
	e.do("GET", base+q(`product/identifier="EFS-ONLINE-SERVERS"`), nil).wantStatus(t, http.StatusOK).decode(t, &adds)
	if len(adds) != 1 {
		t.Fatalf("additions by product %+v", adds)
	}

	// POST: product and billCustomer required; prices default to the product's.
	e.do("POST", base, map[string]any{"billCustomer": BillBillable, "quantity": 1}).wantFieldError(t, "product")
	e.do("POST", base, map[string]any{"product": map[string]any{"identifier": ProductLocalGB}, "quantity": 1}).wantFieldError(t, "billCustomer")
	e.do("POST", base, map[string]any{"product": map[string]any{"identifier": "NOPE"}, "billCustomer": BillBillable}).wantFieldError(t, "product")
	e.do("POST", base, map[string]any{"product": map[string]any{"identifier": ProductLocalGB}, "billCustomer": BillBillable, "effectiveDate": "yesterday"}).wantFieldError(t, "effectiveDate")
	var created Addition
	e.do("POST", base, map[string]any{"product": map[string]any{"identifier": ProductLocalServers}, "billCustomer": BillNoCharge, "quantity": 2, "serialNumber": DemoAcmeManagedID, "effectiveDate": "2026-03-01T00:00:00+01:00"}).
		wantStatus(t, http.StatusCreated).decode(t, &created)
	if created.UnitPrice != 10 || created.UnitCost != 3 || created.Product.ID != e.demo.Products[ProductLocalServers] || created.AgreementID != e.demo.Acme.AgreementID || created.EffectiveDate != "2026-02-28T23:00:00Z" {
		t.Fatalf("created addition %+v", created)
	}
	// PUT replaces: lessIncluded left out becomes 0.
	e.do("PUT", addPath, map[string]any{"product": map[string]any{"id": sel.Product.ID}, "billCustomer": BillBillable, "quantity": 30}).
		wantStatus(t, http.StatusOK).decode(t, &got)
	if got.LessIncluded != 0 || got.Quantity != 30 {
		t.Fatalf("put addition %+v", got)
	}
	e.do("DELETE", fmt.Sprintf("%s/%d", base, created.ID), nil).wantStatus(t, http.StatusNoContent)
	e.do("GET", fmt.Sprintf("%s/%d", base, created.ID), nil).wantStatus(t, http.StatusNotFound)
	// An addition under another agreement is not found.
	e.do("GET", fmt.Sprintf("/finance/agreements/%d/additions/%d", e.demo.Birch.AgreementID, sel.ID), nil).wantStatus(t, http.StatusNotFound)
	if n := len(e.sim.Additions(e.demo.Acme.AgreementID)); n != 4 {
		t.Fatalf("%d additions", n)
	}
}

func TestConfigurations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	body := map[string]any{
		"name":                  "SERVER01 backup",
		"type":                  map[string]any{"name": DemoConfigBackup},
		"company":               map[string]any{"identifier": DemoAcmeIdentifier},
		"serialNumber":          "EFS-1001-a1",
		"backupSuccesses":       5,
		"lastBackupDate":        "2026-03-01T02:00:00Z",
		"backupBillableSpaceGb": 40.5,
		"backupYear":            2026,
		"backupMonth":           3,
	}
	var c Configuration
	e.do("POST", "/company/configurations", body).wantStatus(t, http.StatusCreated).decode(t, &c)
	if c.Type.ID != e.demo.BackupStatsTypeID || c.Company.ID != e.demo.Acme.ID || !c.ActiveFlag || c.BackupSuccesses != 5 || c.Status.Name != "Active" {
		t.Fatalf("configuration %+v", c)
	}
	tests := []struct {
		name   string
		change func(b map[string]any)
		field  string
	}{
		{"name missing", func(b map[string]any) { delete(b, "name") }, "name"},
		{"name too long", func(b map[string]any) { b["name"] = strings.Repeat("n", 101) }, "name"},
		{"type missing", func(b map[string]any) { delete(b, "type") }, "type"},
		{"type unknown", func(b map[string]any) { b["type"] = map[string]any{"name": "Server"} }, "type"},
		{"company missing", func(b map[string]any) { delete(b, "company") }, "company"},
		{"serial too long", func(b map[string]any) { b["serialNumber"] = strings.Repeat("s", 251) }, "serialNumber"},
		{"month 13", func(b map[string]any) { b["backupMonth"] = 13 }, "backupMonth"},
		{"date malformed", func(b map[string]any) { b["lastBackupDate"] = "03/01/2026" }, "lastBackupDate"},
		{"count as float", func(b map[string]any) { b["backupFailed"] = 1.5 }, "backupFailed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := map[string]any{}
			for k, v := range body {
				b[k] = v
			}
			tc.change(b)
			e.do("POST", "/company/configurations", b).wantFieldError(t, tc.field)
		})
	}
	path := fmt.Sprintf("/company/configurations/%d", c.ID)
	var got Configuration
	e.do("PATCH", path, `[{"op":"replace","path":"backupFailed","value":2},{"op":"replace","path":"activeFlag","value":false}]`).wantStatus(t, http.StatusOK).decode(t, &got)
	if got.BackupFailed != 2 || got.ActiveFlag || got.BackupSuccesses != 5 {
		t.Fatalf("patched %+v", got)
	}
	e.do("PATCH", path, `[{"op":"replace","path":"type/name","value":"License"}]`).wantStatus(t, http.StatusOK).decode(t, &got)
	if got.Type.ID != e.demo.BackupStatsTypeID {
		t.Fatal("type/name patch changed the type")
	}
	var list []Configuration
	e.do("GET", "/company/configurations"+q(fmt.Sprintf(`company/id=%d and type/name="Backup Stats" and serialNumber="EFS-1001-a1"`, e.demo.Acme.ID)), nil).wantStatus(t, http.StatusOK).decode(t, &list)
	if len(list) != 1 || list[0].ID != c.ID {
		t.Fatalf("configurations %+v", list)
	}
	put := map[string]any{"name": "renamed", "type": map[string]any{"id": e.demo.LicenseTypeID}, "company": map[string]any{"id": e.demo.Acme.ID}}
	e.do("PUT", path, put).wantStatus(t, http.StatusOK).decode(t, &got)
	if got.Name != "renamed" || got.BackupFailed != 0 || !got.ActiveFlag || got.Type.Name != DemoConfigLicense {
		t.Fatalf("put %+v", got)
	}
	if n := len(e.sim.Configurations()); n != 1 {
		t.Fatalf("%d configurations", n)
	}
}
