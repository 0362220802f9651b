package datasync_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/datasync"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/usage"
)

// env is a started simulator seeded with the demo MSP and a client for it.
type env struct {
	sim  *cwsim.Sim
	demo cwsim.Demo
	cw   *connectwise.Client
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	sim := cwsim.New(cwsim.Options{})
	demo := cwsim.SeedDemo(sim)
	if err := sim.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(sim.Close)
	cw, err := connectwise.NewClient(context.Background(), connectwise.Options{
		SiteURL:  sim.URL(),
		Codebase: "v4_6_release/",
		Credentials: connectwise.Credentials{
			CompanyID:  cwsim.DemoCompanyID,
			PublicKey:  cwsim.DemoPublicKey,
			PrivateKey: cwsim.DemoPrivateKey,
			ClientID:   cwsim.DemoClientID,
		},
		HTTPClient: sim.Client(),
		Retry:      connectwise.RetryPolicy{MaxAttempts: 2, Base: time.Millisecond, Max: time.Millisecond},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return &env{sim: sim, demo: demo, cw: cw}
}

// demoPartner bills the four services every demo agreement has additions
// for, with statistics and invoice descriptions on.
func demoPartner() *partner.Partner {
	return &partner.Partner{
		ID: "demo", Name: "Demo MSP",
		Integration: partner.Integration{
			UpdateBackupStatistics:    true,
			UpdateInvoiceDescriptions: true,
			Billing: []partner.BillingService{
				partner.BillOnlineSelectGB, partner.BillOnlineServers,
				partner.BillOnlineDesktops, partner.BillArchivingMailboxes,
			},
		},
		Products: map[partner.BillingService]string{
			partner.BillOnlineSelectGB:        cwsim.ProductSelectGB,
			partner.BillOnlineBasicGB:         cwsim.ProductBasicGB,
			partner.BillOnlineBDRGB:           cwsim.ProductBDRGB,
			partner.BillOnlineServers:         cwsim.ProductOnlineServers,
			partner.BillOnlineDesktops:        cwsim.ProductOnlineDesktops,
			partner.BillLocalStorageGB:        cwsim.ProductLocalGB,
			partner.BillLocalServers:          cwsim.ProductLocalServers,
			partner.BillLocalDesktops:         cwsim.ProductLocalDesktops,
			partner.BillShadowProtectServers:  cwsim.ProductSPServers,
			partner.BillShadowProtectDesktops: cwsim.ProductSPDesktops,
			partner.BillArchivingMailboxes:    cwsim.ProductArchiveMailbox,
			partner.BillFilteringMailboxes:    cwsim.ProductFilterMailbox,
		},
	}
}

var lastBackup = time.Date(2026, 11, 28, 3, 12, 0, 0, time.UTC)

// acmeAccounts are three accounts of customer 1001: Select GB
// 120.4 + 10.25 = 130.65 → 131, one server, two desktops.
func acmeAccounts() []usage.Account {
	acct := func(id, name string, kind contract.AccountKind, plan contract.Plan, online, local float64, ok, failed int) usage.Account {
		return usage.Account{
			PartnerID: "demo", CustomerID: "1001", AccountID: id, Name: name, Kind: kind, Plan: plan,
			OnlineGB: online, LocalGB: local, LastBackupAt: lastBackup, LastResult: contract.ResultSuccess,
			Period: "2026-11", Successes: ok, Failures: failed, AsOf: lastBackup,
		}
	}
	return []usage.Account{
		acct("ACME-SRV01", "File server", contract.KindServer, contract.PlanSelect, 120.4, 300, 28, 2),
		acct("ACME-PC01", "Reception PC", contract.KindDesktop, contract.PlanSelect, 10.25, 0, 30, 0),
		acct("ACME-PC02", "", contract.KindDesktop, contract.PlanBasic, 5, 0, 29, 1),
	}
}

func acmeCustomer() usage.Customer {
	n := 12
	return usage.Customer{PartnerID: "demo", CustomerID: "1001", Name: "Acme Dental", ArchivingMailboxes: &n}
}

func (e *env) acmeRequest(accts []usage.Account, cust usage.Customer) datasync.Request {
	return datasync.Request{
		Partner:   demoPartner(),
		CW:        e.cw,
		CompanyID: e.demo.Acme.ID,
		ManagedID: cwsim.DemoAcmeManagedID,
		Figures:   datasync.Aggregate(accts, cust, datasync.RoundUp),
	}
}

// sync runs a sync that must not fail and checks that Result.Calls counts
// exactly the calls the simulator saw.
func (e *env) sync(tb testing.TB, r datasync.Request) datasync.Result {
	tb.Helper()
	before := len(e.sim.Calls())
	res, err := datasync.Sync(context.Background(), r)
	if err != nil {
		tb.Fatalf("Sync: %v", err)
	}
	if got := len(e.sim.Calls()) - before; got != res.Calls {
		tb.Fatalf("Result.Calls = %d, the simulator saw %d", res.Calls, got)
	}
	return res
}

// writes returns the calls since index from that were not GETs.
func (e *env) writes(from int) []cwsim.Call {
	var out []cwsim.Call
	for _, c := range e.sim.Calls()[from:] {
		if c.Method != http.MethodGet {
			out = append(out, c)
		}
	}
	return out
}

// addition returns the addition of the Acme agreement for a product.
func (e *env) addition(tb testing.TB, product string) cwsim.Addition {
	tb.Helper()
	a, ok := e.sim.Addition(e.demo.Acme.Additions[product])
	if !ok {
		tb.Fatalf("no addition for %s", product)
	}
	return a
}

// do sends one raw API call (for test set-up the client has no method for).
func (e *env) do(tb testing.TB, method, path string, body any) {
	tb.Helper()
	req, err := e.cw.NewRequest(context.Background(), method, path, body)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := e.cw.Do(req, nil); err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
}

func callList(calls []cwsim.Call) string {
	s := ""
	for _, c := range calls {
		s += fmt.Sprintf("\n  %s %s?%s → %d", c.Method, c.Path, c.Query, c.Status)
	}
	return s
}

func codes(res datasync.Result) []string {
	var out []string
	for _, e := range res.Errors {
		out = append(out, e.Code)
	}
	return out
}
