package datasync_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/datasync"
	"github.com/efs-cw/backupbridge/internal/usage"
)

// manyAccounts returns n accounts of customer 1001: a third servers, all on
// the Select plan.
func manyAccounts(n int) []usage.Account {
	if n <= 3 {
		return acmeAccounts()[:n]
	}
	out := make([]usage.Account, n)
	for i := range out {
		kind := contract.KindDesktop
		if i%3 == 0 {
			kind = contract.KindServer
		}
		out[i] = usage.Account{
			PartnerID: "demo", CustomerID: "1001", AccountID: fmt.Sprintf("ACME-%04d", i), Name: fmt.Sprintf("Machine %d", i),
			Kind: kind, Plan: contract.PlanSelect, OnlineGB: float64(10 + i), LastBackupAt: lastBackup,
			Period: "2026-11", Successes: 20, Failures: i % 2,
		}
	}
	return out
}

// naiveCalls is what a naive sync would spend on the same customer: read
// each record, then write every field of every record without comparing,
// one call per field:
//
//   - statistics: list the management rows, then one PATCH per field (5);
//   - each account's configuration: one search by serial number, then on a
//     first sync a type lookup and a POST, afterwards one PATCH per backup
//     field (4);
//   - each billed service: list the agreements, list each agreement's
//     additions, PATCH the quantity, PATCH the invoice description.
func naiveCalls(accounts, services, agreements int, first bool) int {
	stats := 1 + 5
	perConfig := 1 + 4
	if first {
		perConfig = 1 + 1 + 1
	}
	perService := 1 + agreements + 1 + 1
	return stats + accounts*perConfig + services*perService
}

// BenchmarkSyncCalls reports the ConnectWise calls of one customer sync
// ("calls/sync") against the simulator, and what the naive sync of
// naiveCalls would make ("naive-calls/sync"), for a first sync, a sync with
// nothing new and a sync where one account's size changed one quantity.
func BenchmarkSyncCalls(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{3, 50} {
		services := len(demoPartner().Integration.Billing)
		for _, scenario := range []string{"first", "no-change", "one-quantity-changed"} {
			b.Run(fmt.Sprintf("%s/%d-accounts", scenario, n), func(b *testing.B) {
				calls := 0
				for b.Loop() {
					b.StopTimer()
					e := newEnv(b)
					accts := manyAccounts(n)
					if scenario != "first" {
						e.sync(b, e.acmeRequest(accts, acmeCustomer()))
					}
					if scenario == "one-quantity-changed" {
						accts[1].OnlineGB += 5
					}
					req := e.acmeRequest(accts, acmeCustomer())
					b.StartTimer()
					res, err := datasync.Sync(ctx, req)
					if err != nil || len(res.Errors) > 0 {
						b.Fatalf("sync: %v %+v", err, res.Errors)
					}
					calls += res.Calls
					b.StopTimer()
					e.sim.Close()
					b.StartTimer()
				}
				b.ReportMetric(float64(calls)/float64(b.N), "calls/sync")
				b.ReportMetric(float64(naiveCalls(n, services, 1, scenario == "first")), "naive-calls/sync")
			})
		}
	}
}

// BenchmarkSyncDuration is the time of one sync with nothing new (four
// reads over HTTPS) against the in-process simulator.
func BenchmarkSyncDuration(b *testing.B) {
	e := newEnv(b)
	req := e.acmeRequest(acmeAccounts(), acmeCustomer())
	e.sync(b, req)
	ctx := context.Background()
	calls := 0
	for b.Loop() {
		res, err := datasync.Sync(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		calls += res.Calls
	}
	b.ReportMetric(float64(calls)/float64(b.N), "calls/sync")
}
