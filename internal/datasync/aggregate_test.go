package datasync_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/datasync"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/usage"
)

func account(id string, kind contract.AccountKind, plan contract.Plan, online, local float64) usage.Account {
	return usage.Account{AccountID: id, Kind: kind, Plan: plan, OnlineGB: online, LocalGB: local, Period: "2026-11"}
}

func intp(n int) *int { return &n }

func TestAggregateByPlanAndKind(t *testing.T) {
	t.Parallel()
	accts := []usage.Account{
		account("s1", contract.KindServer, contract.PlanSelect, 100.2, 500),
		account("d1", contract.KindDesktop, contract.PlanSelect, 20.1, 0),
		account("s2", contract.KindServer, contract.PlanBasic, 50, 0),
		account("d2", contract.KindDesktop, contract.PlanBasic, 0.5, 10.3),
		account("s3", contract.KindServer, contract.PlanShadowProtectBDR, 300.01, 1000),
		account("d3", contract.KindDesktop, contract.PlanShadowProtectBDR, 40, 0),
		account("d4", contract.KindDesktop, contract.PlanShadowProtectBDR, 1, 0),
		{AccountID: "x1", OnlineGB: 999}, // no kind: never backed up, not counted
	}
	f := datasync.Aggregate(accts, usage.Customer{}, datasync.RoundUp)
	want := map[partner.BillingService]float64{
		partner.BillOnlineSelectGB:        121, // 120.3 → 121
		partner.BillOnlineBasicGB:         51,  // 50.5 → 51
		partner.BillOnlineBDRGB:           342, // 341.01 → 342
		partner.BillOnlineServers:         3,
		partner.BillOnlineDesktops:        4,
		partner.BillLocalStorageGB:        1511, // 1510.3 → 1511
		partner.BillLocalServers:          2,
		partner.BillLocalDesktops:         1,
		partner.BillShadowProtectServers:  1, // no snapshot: BDR accounts by kind
		partner.BillShadowProtectDesktops: 2,
	}
	for svc, q := range want {
		if got := f.Quantities[svc]; got != q || !f.Measured[svc] {
			t.Errorf("%s = %v (measured %v), want %v", svc, got, f.Measured[svc], q)
		}
	}
	for _, svc := range []partner.BillingService{partner.BillArchivingMailboxes, partner.BillFilteringMailboxes} {
		if f.Measured[svc] {
			t.Errorf("%s measured without a usage snapshot", svc)
		}
		if _, ok := f.Quantities[svc]; ok {
			t.Errorf("%s has a quantity without a usage snapshot", svc)
		}
	}
	if f.Servers != 3 || f.Workstations != 4 || len(f.Accounts) != 7 {
		t.Errorf("servers %d, workstations %d, accounts %d; want 3, 4, 7", f.Servers, f.Workstations, len(f.Accounts))
	}
	if !slices.IsSortedFunc(f.Accounts, func(a, b usage.Account) int { return strings.Compare(a.AccountID, b.AccountID) }) {
		t.Error("accounts not sorted by id")
	}
}

func TestAggregateTakesCountsFromTheUsageSnapshot(t *testing.T) {
	t.Parallel()
	accts := []usage.Account{account("s3", contract.KindServer, contract.PlanShadowProtectBDR, 1, 0)}
	cust := usage.Customer{ArchivingMailboxes: intp(0), FilteringMailboxes: intp(45), ShadowProtectServers: intp(4)}
	f := datasync.Aggregate(accts, cust, datasync.RoundUp)
	for svc, q := range map[partner.BillingService]float64{
		partner.BillArchivingMailboxes:    0, // reported zero is measured zero
		partner.BillFilteringMailboxes:    45,
		partner.BillShadowProtectServers:  4, // the snapshot wins over the 1 BDR server
		partner.BillShadowProtectDesktops: 0, // not in the snapshot: counted from accounts
	} {
		if got := f.Quantities[svc]; got != q || !f.Measured[svc] {
			t.Errorf("%s = %v (measured %v), want %v", svc, got, f.Measured[svc], q)
		}
	}
	if !f.FromSnapshot[partner.BillShadowProtectServers] || f.FromSnapshot[partner.BillShadowProtectDesktops] {
		t.Errorf("FromSnapshot = %v", f.FromSnapshot)
	}
}

func TestAggregateRoundingModes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		gbs            []float64
		up, near, down float64
		name           string
	}{
		{name: "a ten-thousandth bills a GB when rounding up", gbs: []float64{0.0001}, up: 1, near: 0, down: 0},
		{name: "exact integers are unchanged", gbs: []float64{40, 2}, up: 42, near: 42, down: 42},
		{name: "float noise is not a GB", gbs: []float64{10.1, 9.9}, up: 20, near: 20, down: 20},
		{name: "noise over many accounts", gbs: slices.Repeat([]float64{0.1}, 30), up: 3, near: 3, down: 3},
		{name: "sum first, then round", gbs: []float64{0.4, 0.4, 0.4}, up: 2, near: 1, down: 1},
		{name: "half rounds away from zero", gbs: []float64{2.25, 0.25}, up: 3, near: 3, down: 2},
		{name: "nothing", gbs: nil, up: 0, near: 0, down: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var accts []usage.Account
			for i, gb := range tc.gbs {
				accts = append(accts, account(fmt.Sprint(i), contract.KindDesktop, contract.PlanSelect, gb, gb))
			}
			for mode, want := range map[datasync.Rounding]float64{
				datasync.RoundUp: tc.up, "": tc.up, datasync.RoundNearest: tc.near, datasync.RoundDown: tc.down,
			} {
				f := datasync.Aggregate(accts, usage.Customer{}, mode)
				if got := f.Quantities[partner.BillOnlineSelectGB]; got != want {
					t.Errorf("%q: Select GB = %v, want %v", mode, got, want)
				}
				if got := f.Quantities[partner.BillLocalStorageGB]; got != want {
					t.Errorf("%q: local GB = %v, want %v", mode, got, want)
				}
			}
		})
	}
}

func TestAggregateCountsOnlyTheNewestPeriod(t *testing.T) {
	t.Parallel()
	old := account("a", contract.KindServer, contract.PlanSelect, 1, 0)
	old.Period, old.Successes, old.Failures = "2026-10", 30, 1
	cur := account("b", contract.KindServer, contract.PlanSelect, 1, 0)
	cur.Period, cur.Successes, cur.Failures = "2026-11", 5, 2
	f := datasync.Aggregate([]usage.Account{old, cur}, usage.Customer{}, datasync.RoundUp)
	if f.Period != "2026-11" || f.Successes != 5 || f.Failures != 2 || f.Servers != 2 {
		t.Errorf("period %q successes %d failures %d servers %d; want 2026-11, 5, 2, 2", f.Period, f.Successes, f.Failures, f.Servers)
	}
}

// TestAggregateInvariants checks, over random account sets, that the
// figures add up whatever the mix of plans, kinds and sizes.
func TestAggregateInvariants(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(4, 2026))
	plans := []contract.Plan{contract.PlanSelect, contract.PlanBasic, contract.PlanShadowProtectBDR}
	kinds := []contract.AccountKind{contract.KindServer, contract.KindDesktop}
	for iter := range 500 {
		n := rng.IntN(60)
		accts := make([]usage.Account, n)
		var raw = map[contract.Plan]float64{}
		rawLocal := 0.0
		for i := range accts {
			a := account(fmt.Sprintf("A%03d", rng.IntN(1000)), kinds[rng.IntN(2)], plans[rng.IntN(3)], 0, 0)
			switch rng.IntN(4) {
			case 0: // whole GB
				a.OnlineGB = float64(rng.IntN(2000))
			case 1: // tiny
				a.OnlineGB = rng.Float64() / 1000
			default:
				a.OnlineGB = math.Round(rng.Float64()*500000) / 1000
			}
			if rng.IntN(3) == 0 {
				a.LocalGB = math.Round(rng.Float64()*900000) / 1000
			}
			a.Successes, a.Failures = rng.IntN(40), rng.IntN(5)
			raw[a.Plan] += a.OnlineGB
			rawLocal += a.LocalGB
			accts[i] = a
		}
		var cust usage.Customer
		if rng.IntN(2) == 0 {
			cust.ArchivingMailboxes = intp(rng.IntN(100))
		}
		up := datasync.Aggregate(accts, cust, datasync.RoundUp)
		near := datasync.Aggregate(accts, cust, datasync.RoundNearest)
		down := datasync.Aggregate(accts, cust, datasync.RoundDown)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("set %d (%d accounts): %s", iter, n, fmt.Sprintf(format, args...))
		}

		if up.Servers+up.Workstations != n || len(up.Accounts) != n {
			fail("servers %d + workstations %d != %d accounts", up.Servers, up.Workstations, n)
		}
		q := up.Quantities
		if q[partner.BillOnlineServers] != float64(up.Servers) || q[partner.BillOnlineDesktops] != float64(up.Workstations) {
			fail("online servers/desktops %v/%v != %d/%d", q[partner.BillOnlineServers], q[partner.BillOnlineDesktops], up.Servers, up.Workstations)
		}
		if q[partner.BillLocalServers] > q[partner.BillOnlineServers] || q[partner.BillLocalDesktops] > q[partner.BillOnlineDesktops] {
			fail("more local machines than machines")
		}
		if q[partner.BillShadowProtectServers]+q[partner.BillShadowProtectDesktops] > float64(n) {
			fail("more ShadowProtect licences than accounts")
		}
		// Total GB = sum by plan: every account's GB is billed under exactly
		// one plan, so the billed plan totals bracket the raw total.
		totalRaw, sumUp, sumDown := 0.0, 0.0, 0.0
		for _, a := range accts {
			totalRaw += a.OnlineGB
		}
		for _, svc := range []partner.BillingService{partner.BillOnlineSelectGB, partner.BillOnlineBasicGB, partner.BillOnlineBDRGB} {
			sumUp += up.Quantities[svc]
			sumDown += down.Quantities[svc]
		}
		if sumDown > totalRaw+1e-6 || totalRaw > sumUp+1e-6 || sumUp-sumDown > 3 {
			fail("total online GB %v outside the plan totals [%v, %v]", totalRaw, sumDown, sumUp)
		}
		for _, svc := range []partner.BillingService{partner.BillOnlineSelectGB, partner.BillOnlineBasicGB, partner.BillOnlineBDRGB, partner.BillLocalStorageGB} {
			r := rawLocal
			if svc != partner.BillLocalStorageGB {
				r = raw[planOf(svc)]
			}
			u, m, d := up.Quantities[svc], near.Quantities[svc], down.Quantities[svc]
			if u < r-1e-6 || d > r+1e-6 || !(d <= m && m <= u) || u-d > 1 {
				fail("%s: raw %v, up %v, nearest %v, down %v", svc, r, u, m, d)
			}
			if u != math.Trunc(u) || d != math.Trunc(d) || m != math.Trunc(m) {
				fail("%s: not whole GB: %v %v %v", svc, u, m, d)
			}
			if whole := math.Round(r); math.Abs(r-whole) < 1e-9 && (u != whole || d != whole) {
				fail("%s: whole %v rounded to %v/%v", svc, r, u, d)
			}
		}
		if up.Measured[partner.BillArchivingMailboxes] != (cust.ArchivingMailboxes != nil) {
			fail("archiving measured = %v with snapshot %v", up.Measured[partner.BillArchivingMailboxes], cust.ArchivingMailboxes)
		}
		// Counts do not depend on the rounding.
		for _, svc := range partner.BillingServices {
			if !slices.Contains([]partner.BillingService{partner.BillOnlineSelectGB, partner.BillOnlineBasicGB, partner.BillOnlineBDRGB, partner.BillLocalStorageGB}, svc) &&
				up.Quantities[svc] != down.Quantities[svc] {
				fail("count %s depends on rounding", svc)
			}
		}
	}
}

func planOf(svc partner.BillingService) contract.Plan {
	switch svc {
	case partner.BillOnlineSelectGB:
		return contract.PlanSelect
	case partner.BillOnlineBasicGB:
		return contract.PlanBasic
	}
	return contract.PlanShadowProtectBDR
}

func TestInvoiceDescriptionFitsAndSummarises(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 10, 100, 150, 1000, 20000} {
		var accts []usage.Account
		for i := range n {
			a := account(fmt.Sprintf("ACCOUNT-%06d", i), contract.KindServer, contract.PlanSelect, 1234.5, 0)
			a.Name = "Server with a fairly long descriptive name №" + fmt.Sprint(i)
			accts = append(accts, a)
		}
		f := datasync.Aggregate(accts, usage.Customer{}, datasync.RoundUp)
		for _, svc := range []partner.BillingService{partner.BillOnlineSelectGB, partner.BillOnlineServers} {
			d := datasync.InvoiceDescription(svc, f)
			if c := utf8.RuneCountInString(d); c > datasync.MaxInvoiceDescription {
				t.Fatalf("%d accounts, %s: %d characters", n, svc, c)
			}
			lines := strings.Split(d, "\n")
			if len(lines) == n {
				continue // all fit
			}
			last := lines[len(lines)-1]
			more := n - (len(lines) - 1)
			want := fmt.Sprintf("… and %s more accounts", thousands(more))
			if svc == partner.BillOnlineSelectGB {
				want += ", " + gbText(float64(more)*1234.5) + " GB"
			}
			if last != want {
				t.Errorf("%d accounts, %s: last line %q, want %q", n, svc, last, want)
			}
		}
	}
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func gbText(gb float64) string {
	whole := math.Floor(gb)
	s := thousands(int(whole))
	if frac := gb - whole; frac > 0 {
		s += strings.TrimPrefix(strings.TrimRight(fmt.Sprintf("%.2f", frac), "0"), "0")
	}
	return s
}
