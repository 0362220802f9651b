// Package usage keeps the measured state of every backup account and
// customer, from which the data sync (statistics, billing quantities, invoice
// descriptions) is computed. Each backup.completed, service.status and
// usage.snapshot event updates the state of its account or customer; an
// event older than what is stored never overwrites it (out-of-order delivery).
package usage

import (
	"time"

	"github.com/efs-cw/backupbridge/internal/contract"
)

// Account is the stored state of one backup account of a customer.
type Account struct {
	PartnerID  string               `json:"partnerId"`
	CustomerID string               `json:"customerId"`
	AccountID  string               `json:"accountId"`
	Name       string               `json:"name,omitempty"`
	Kind       contract.AccountKind `json:"kind,omitempty"`
	Plan       contract.Plan        `json:"plan,omitempty"`
	OnlineGB   float64              `json:"onlineGB"`
	LocalGB    float64              `json:"localGB"`
	// LastBackupAt / LastResult describe the newest backup seen.
	LastBackupAt time.Time             `json:"lastBackupAt,omitzero"`
	LastResult   contract.BackupResult `json:"lastResult,omitempty"`
	// Period is the calendar month (UTC, "2006-01") the counts belong to;
	// a backup in a new month starts the counts again.
	Period    string `json:"period,omitempty"`
	Successes int    `json:"successes"`
	Failures  int    `json:"failures"`
	// Health is the last service status reported for the account, if any.
	Health contract.Health `json:"health,omitempty"`
	// AsOf is the occurrence time of the newest event applied.
	AsOf time.Time `json:"asOf"`
	// LastGoodAt and LastCleanAt are the newest backups that ended in
	// success or warning, and in success: the times a backup cleared the
	// account's backup faults (package tickets reads them, so that a failure
	// delivered after a later good backup opens nothing, with no fault item
	// written for faults that never raised). Maxima, whatever the order.
	LastGoodAt  time.Time `json:"lastGoodAt,omitzero"`
	LastCleanAt time.Time `json:"lastCleanAt,omitzero"`
	// Applied are the ids of the newest backup events counted (at most
	// AppliedKept), so that a repeat is counted once.
	Applied []string `json:"applied,omitempty"`
	// RemovedAt is the time of the newest account.removed event (contract
	// v1.1). The account is removed while no event newer than that has
	// been applied (Removed); an older event changes nothing.
	RemovedAt time.Time `json:"removedAt,omitzero"`
}

// Removed reports whether the account is removed: its removal is at least
// as new as every event applied to it.
func (a Account) Removed() bool { return !a.RemovedAt.IsZero() && !a.RemovedAt.Before(a.AsOf) }

// Customer is the stored customer-wide state: countable usage from
// usage.snapshot events (nil = never reported), each with its own time.
type Customer struct {
	PartnerID             string    `json:"partnerId"`
	CustomerID            string    `json:"customerId"`
	Name                  string    `json:"name,omitempty"`
	ArchivingMailboxes    *int      `json:"archivingMailboxes,omitempty"`
	FilteringMailboxes    *int      `json:"filteringMailboxes,omitempty"`
	ShadowProtectServers  *int      `json:"shadowProtectServers,omitempty"`
	ShadowProtectDesktops *int      `json:"shadowProtectDesktops,omitempty"`
	UsageAsOf             time.Time `json:"usageAsOf,omitzero"`
	// RemovedAt is the time of the newest customer.removed event.
	RemovedAt time.Time `json:"removedAt,omitzero"`
}

// Removed reports whether the customer is removed: a customer.removed
// event is newer than its usage snapshot and than every event applied to
// its accounts (a newer event re-adds it).
func (c Customer) Removed(accts []Account) bool {
	if c.RemovedAt.IsZero() || c.UsageAsOf.After(c.RemovedAt) {
		return false
	}
	for _, a := range accts {
		if a.AsOf.After(c.RemovedAt) {
			return false
		}
	}
	return true
}
