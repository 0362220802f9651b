package usage

import (
	"time"

	"github.com/efs-cw/backupbridge/internal/contract"
)

// Period is the counting period of a time: its UTC calendar month.
func Period(t time.Time) string { return t.UTC().Format("2006-01") }

// ApplyBackup returns the account state after a backup.completed event that
// occurred at `at`. Counts move with every backup of the current period,
// whatever order the events arrive in; the figures (GB, plan, kind, name, last
// backup) only move forward in time: an older event never overwrites them.
// A backup of an earlier period than the stored one changes nothing; one of a
// later period starts the counts again.
func ApplyBackup(a Account, b *contract.BackupCompleted, at time.Time) Account {
	if a.Removed() && !at.After(a.RemovedAt) {
		return a // older than the account's removal
	}
	if b.Result != contract.ResultFailure && at.After(a.LastGoodAt) {
		a.LastGoodAt = at
	}
	if b.Result == contract.ResultSuccess && at.After(a.LastCleanAt) {
		a.LastCleanAt = at
	}
	p := Period(at)
	switch {
	case a.Period == "" || p > a.Period:
		a.Period, a.Successes, a.Failures = p, 0, 0
	case p < a.Period:
		return a
	}
	if b.Result == contract.ResultFailure {
		a.Failures++
	} else {
		a.Successes++
	}
	if at.Before(a.AsOf) {
		return a
	}
	a.AsOf = at
	acct := b.Account
	a.AccountID = acct.ID
	if acct.Name != "" {
		a.Name = acct.Name
	}
	a.Kind, a.Plan = acct.Kind, acct.Plan
	a.OnlineGB, a.LocalGB = b.OnlineGB, b.LocalGB
	a.LastBackupAt, a.LastResult = b.EndedAt, b.Result
	return a
}

// ApplyStatus returns the account state after a service.status event about
// the account.
func ApplyStatus(a Account, s *contract.ServiceStatus, at time.Time) Account {
	if at.Before(a.AsOf) || s.Account == nil || (a.Removed() && !at.After(a.RemovedAt)) {
		return a
	}
	a.AsOf = at
	a.AccountID = s.Account.ID
	if s.Account.Name != "" {
		a.Name = s.Account.Name
	}
	if s.Account.Kind != "" {
		a.Kind = s.Account.Kind
	}
	if s.Account.Plan != "" {
		a.Plan = s.Account.Plan
	}
	a.Health = s.Health
	return a
}

// ApplySnapshot returns the customer state after a usage.snapshot event:
// each reported counter replaces the stored one unless the stored snapshot
// is newer; unreported counters are kept.
func ApplySnapshot(c Customer, u *contract.UsageSnapshot, at time.Time) Customer {
	if at.Before(c.UsageAsOf) {
		return c
	}
	c.UsageAsOf = at
	set := func(dst **int, v *int) {
		if v != nil {
			n := *v
			*dst = &n
		}
	}
	set(&c.ArchivingMailboxes, u.ArchivingMailboxes)
	set(&c.FilteringMailboxes, u.FilteringMailboxes)
	set(&c.ShadowProtectServers, u.ShadowProtectServers)
	set(&c.ShadowProtectDesktops, u.ShadowProtectDesktops)
	return c
}

// ApplyAccountRemoved returns the account state after an account.removed
// event that occurred at at: removed, unless an event newer than the
// removal was applied already (it re-added the account).
func ApplyAccountRemoved(a Account, r *contract.Removal, at time.Time) Account {
	if at.After(a.RemovedAt) {
		a.RemovedAt = at
	}
	if r != nil && r.Account != nil {
		a.AccountID = r.Account.ID
		if a.Name == "" {
			a.Name = r.Account.Name
		}
	}
	return a
}

// ApplyCustomerRemoved returns the customer state after a customer.removed
// event that occurred at at.
func ApplyCustomerRemoved(c Customer, at time.Time) Customer {
	if at.After(c.RemovedAt) {
		c.RemovedAt = at
	}
	return c
}
