package datasync

import (
	"cmp"
	"math"
	"slices"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/usage"
)

// Rounding is how a billed GB total is rounded to whole GB (the partner's
// gbRounding setting). Counts are never rounded.
type Rounding string

// Rounding modes.
const (
	// RoundUp bills the next whole GB (the default, and what an empty or
	// unknown Rounding means): 0.0001 GB bills 1 GB.
	RoundUp Rounding = "up"
	// RoundNearest bills the nearest whole GB, halves away from zero.
	RoundNearest Rounding = "nearest"
	// RoundDown bills the whole GB below.
	RoundDown Rounding = "down"
)

// gbPerUnit: a GB sum is first rounded to a millionth of a GB, so that float
// noise (10.1 + 9.9 = 20.000000000000004) does not bill an extra GB; a
// millionth of a GB is far below any size a backup provider reports.
const gbPerUnit = 1e6

// Round rounds a GB total by r.
func (r Rounding) Round(gb float64) float64 {
	units := math.Round(gb * gbPerUnit) // a whole number of millionths
	switch r {
	case RoundNearest:
		return math.Round(units / gbPerUnit)
	case RoundDown:
		return math.Floor(units / gbPerUnit)
	default:
		return math.Ceil(units / gbPerUnit)
	}
}

// Figures are a customer's measured figures, aggregated from its accounts at
// sync time.
type Figures struct {
	// Quantities holds the quantity of every measured billing service of the
	// guide's Figure 8: GB totals rounded by the partner's Rounding (sum
	// first, then round), counts exact.
	Quantities map[partner.BillingService]float64
	// Measured tells which services were measured. A service that is not
	// (mailboxes the provider never reported) is left alone by the sync: its
	// quantity is unknown, not zero.
	Measured map[partner.BillingService]bool
	// FromSnapshot tells which quantities came from the customer's
	// usage.snapshot rather than from its accounts.
	FromSnapshot map[partner.BillingService]bool
	// Period is the newest counting period ("2006-01") among the accounts.
	Period string
	// Successes and Failures are the backup jobs of Period, summed over the
	// accounts (an account whose counts belong to an older period adds none).
	Successes, Failures int
	// Servers and Workstations count the accounts by kind.
	Servers, Workstations int
	// Accounts are the accounts counted, sorted by id, for invoice
	// descriptions and configurations.
	Accounts []usage.Account
	// CustomerRemoved: the customer is removed (every quantity is zero).
	CustomerRemoved bool `json:",omitempty"`
}

// Aggregate computes a customer's figures from its accounts and its
// customer-wide usage.
//
//   - Select, Basic and ShadowProtect BDR GB: the OnlineGB of the accounts on
//     that plan, summed, then rounded.
//   - Online servers / desktops: every account, by kind.
//   - Local storage GB: the LocalGB of every account, summed, then rounded.
//   - Local servers / desktops: the accounts with LocalGB > 0, by kind.
//   - ShadowProtect servers / desktops: the licence counts of the customer's
//     usage snapshot when it reported them (the provider knows about
//     licences on machines it does not back up), else the accounts on the
//     shadowprotect_bdr plan, by kind.
//   - Archiving / filtering mailboxes: the snapshot's counts; without one the
//     service is not measured.
//
// An account without a kind has never been backed up (a status or
// notification event created it) and is left out of every figure, and so
// is a removed account (account.removed): once every account is removed,
// the account-based figures are measured zeros, not unknown. A removed
// customer (customer.removed) has every quantity measured at zero and
// CustomerRemoved set.
func Aggregate(accts []usage.Account, cust usage.Customer, rounding Rounding) Figures {
	f := Figures{
		Quantities:   map[partner.BillingService]float64{},
		Measured:     map[partner.BillingService]bool{},
		FromSnapshot: map[partner.BillingService]bool{},
	}
	if cust.Removed(accts) {
		for _, s := range partner.BillingServices {
			f.Quantities[s], f.Measured[s] = 0, true
		}
		f.CustomerRemoved = true
		return f
	}
	removed := false
	for _, a := range accts {
		if a.Kind != contract.KindServer && a.Kind != contract.KindDesktop {
			continue
		}
		if a.Removed() {
			removed = true
			continue
		}
		f.Accounts = append(f.Accounts, a)
		if a.Period > f.Period {
			f.Period = a.Period
		}
	}
	slices.SortStableFunc(f.Accounts, func(a, b usage.Account) int { return cmp.Compare(a.AccountID, b.AccountID) })

	var gb = map[partner.BillingService]float64{}
	count := func(s partner.BillingService) { f.Quantities[s]++ }
	for _, s := range partner.BillingServices {
		f.Quantities[s] = 0
		f.Measured[s] = true
	}
	for _, a := range f.Accounts {
		server := a.Kind == contract.KindServer
		if server {
			f.Servers++
		} else {
			f.Workstations++
		}
		if a.Period == f.Period {
			f.Successes += a.Successes
			f.Failures += a.Failures
		}
		if svc, ok := planService[a.Plan]; ok {
			gb[svc] += a.OnlineGB
		}
		gb[partner.BillLocalStorageGB] += a.LocalGB
		count(pick(server, partner.BillOnlineServers, partner.BillOnlineDesktops))
		if a.LocalGB > 0 {
			count(pick(server, partner.BillLocalServers, partner.BillLocalDesktops))
		}
		if a.Plan == contract.PlanShadowProtectBDR {
			count(pick(server, partner.BillShadowProtectServers, partner.BillShadowProtectDesktops))
		}
	}
	for _, svc := range gbServices {
		f.Quantities[svc] = rounding.Round(gb[svc])
	}
	for svc, n := range map[partner.BillingService]*int{
		partner.BillShadowProtectServers:  cust.ShadowProtectServers,
		partner.BillShadowProtectDesktops: cust.ShadowProtectDesktops,
		partner.BillArchivingMailboxes:    cust.ArchivingMailboxes,
		partner.BillFilteringMailboxes:    cust.FilteringMailboxes,
	} {
		switch {
		case n != nil:
			f.Quantities[svc] = float64(*n)
			f.FromSnapshot[svc] = true
		case svc == partner.BillArchivingMailboxes || svc == partner.BillFilteringMailboxes:
			delete(f.Quantities, svc)
			f.Measured[svc] = false
		}
	}
	if len(f.Accounts) == 0 && !removed {
		// No backup account reported yet: the account-based figures are
		// unknown, not zero (a new deployment must not zero every bill).
		for _, svc := range partner.BillingServices {
			if !f.FromSnapshot[svc] && svc != partner.BillArchivingMailboxes && svc != partner.BillFilteringMailboxes {
				delete(f.Quantities, svc)
				f.Measured[svc] = false
			}
		}
	}
	return f
}

// planService is the GB billing service of each plan.
var planService = map[contract.Plan]partner.BillingService{
	contract.PlanSelect:           partner.BillOnlineSelectGB,
	contract.PlanBasic:            partner.BillOnlineBasicGB,
	contract.PlanShadowProtectBDR: partner.BillOnlineBDRGB,
}

// gbServices are the services billed in GB.
var gbServices = []partner.BillingService{
	partner.BillOnlineSelectGB, partner.BillOnlineBasicGB, partner.BillOnlineBDRGB, partner.BillLocalStorageGB,
}

func isGBService(s partner.BillingService) bool { return slices.Contains(gbServices, s) }

func pick[T any](cond bool, a, b T) T {
	if cond {
		return a
	}
	return b
}
