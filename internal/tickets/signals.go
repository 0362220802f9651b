package tickets

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// Signal is what an event says about one fault: raised (it is failing now)
// or cleared (it was fixed).
type Signal struct {
	Fault    FaultKind
	Account  *contract.Account // nil for customer-wide faults
	Raise    bool
	Severity contract.Severity
	// EventType is the notification type the partner's rules match on; empty
	// for service status faults, which only rules for all event types match.
	EventType contract.NotificationKind
	Headline  string // "Backup failed", "No backup", …
	Details   string // what happened, for the description and notes
	// Removal: a clearing signal of an account.removed event (its ticket
	// is resolved with a note saying the account was removed).
	Removal bool
}

// FaultKind names a kind of fault. Notification kinds are fault kinds;
// service status faults are "service_<service>".
type FaultKind string

var headlines = map[contract.NotificationKind]string{
	contract.NotifyBackupFailure:      "Backup failed",
	contract.NotifyNoBackup:           "No backup",
	contract.NotifyNoErrorFreeBackup:  "No error-free backup",
	contract.NotifyDiskUsage:          "Disk usage over threshold",
	contract.NotifyArchivingFailure:   "Archiving failed",
	contract.NotifyBDRHardwareFailure: "BDR hardware failure",
}

// SignalsOf returns what an event raises or clears:
//
//   - backup.completed failure raises backup_failure for the account; success
//     clears backup_failure, no_backup and no_error_free_backup; warning clears
//     backup_failure and no_backup (data was backed up, with errors).
//   - service.status failed/degraded raises service_<service> (error/warning);
//     healthy clears it.
//   - notification raised raises its kind with its severity; cleared clears it.
//   - usage.snapshot says nothing about faults.
//   - account.removed (contract v1.1) clears every fault kind of the
//     account, so that its open tickets are resolved with a note saying why;
//     customer.removed clears every customer-wide fault kind (the worker adds
//     each account's, Service.ApplyRemovedAccounts).
func SignalsOf(ev *contract.Event) []Signal {
	switch ev.Type {
	case contract.TypeAccountRemoved:
		return removalSignals(ev, ev.Removal.Account, "")
	case contract.TypeCustomerRemoved:
		return removalSignals(ev, nil, "")
	case contract.TypeBackupCompleted:
		b := ev.Backup
		acct := b.Account
		switch b.Result {
		case contract.ResultFailure:
			d := fmt.Sprintf("The backup of %s ended in failure at %s.", accountLabel(&acct), b.EndedAt.UTC().Format("2006-01-02 15:04 MST"))
			if b.Message != "" {
				d += "\nBackup engine: " + b.Message
			}
			return []Signal{{Fault: FaultKind(contract.NotifyBackupFailure), Account: &acct, Raise: true,
				Severity: contract.SeverityError, EventType: contract.NotifyBackupFailure, Headline: "Backup failed", Details: d}}
		case contract.ResultSuccess, contract.ResultWarning:
			d := fmt.Sprintf("The backup of %s completed (%s) at %s.", accountLabel(&acct), b.Result, b.EndedAt.UTC().Format("2006-01-02 15:04 MST"))
			kinds := []contract.NotificationKind{contract.NotifyBackupFailure, contract.NotifyNoBackup}
			if b.Result == contract.ResultSuccess {
				kinds = append(kinds, contract.NotifyNoErrorFreeBackup)
			}
			var out []Signal
			for _, k := range kinds {
				out = append(out, Signal{Fault: FaultKind(k), Account: &acct, Severity: contract.SeverityInfo, EventType: k, Headline: headlines[k], Details: d})
			}
			return out
		}
	case contract.TypeServiceStatus:
		s := ev.Status
		sig := Signal{Fault: FaultKind("service_" + string(s.Service)), Account: s.Account, EventType: "",
			Headline: fmt.Sprintf("Service %s %s", strings.ReplaceAll(string(s.Service), "_", " "), s.Health)}
		sig.Details = sig.Headline + "."
		if s.Message != "" {
			sig.Details += "\n" + s.Message
		}
		switch s.Health {
		case contract.HealthFailed:
			sig.Raise, sig.Severity = true, contract.SeverityError
		case contract.HealthDegraded:
			sig.Raise, sig.Severity = true, contract.SeverityWarning
		default:
			sig.Severity = contract.SeverityInfo
		}
		return []Signal{sig}
	case contract.TypeNotification:
		n := ev.Notification
		sig := Signal{Fault: FaultKind(n.Kind), Account: n.Account, Raise: n.State != contract.StateCleared,
			Severity: n.Severity, EventType: n.Kind, Headline: headlines[n.Kind]}
		var b strings.Builder
		b.WriteString(n.Message)
		for _, k := range slices.Sorted(maps.Keys(n.Details)) {
			fmt.Fprintf(&b, "\n%s: %s", k, n.Details[k])
		}
		sig.Details = b.String()
		return []Signal{sig}
	}
	return nil
}

// removalSignals are the clearing signals of a removal: every fault kind of
// the account (nil: of the customer as a whole). why, when set, is said
// first.
func removalSignals(ev *contract.Event, acct *contract.Account, why string) []Signal {
	d := fmt.Sprintf("The customer was removed from the backup service at %s.", ev.OccurredAt.UTC().Format("2006-01-02 15:04 MST"))
	if acct != nil {
		d = fmt.Sprintf("The account %s was removed from the backup service at %s.", accountLabel(acct), ev.OccurredAt.UTC().Format("2006-01-02 15:04 MST"))
		if why != "" {
			d = fmt.Sprintf("The account %s is no longer backed up: %s at %s.", accountLabel(acct), why, ev.OccurredAt.UTC().Format("2006-01-02 15:04 MST"))
		}
	}
	if ev.Removal != nil && ev.Removal.Reason != "" {
		d += "\nReason: " + ev.Removal.Reason
	}
	var out []Signal
	for _, k := range contract.NotificationKinds {
		out = append(out, Signal{Fault: FaultKind(k), Account: acct, Severity: contract.SeverityInfo, EventType: k, Headline: headlines[k], Details: d, Removal: true})
	}
	for _, svc := range contract.Services {
		out = append(out, Signal{Fault: FaultKind("service_" + string(svc)), Account: acct, Severity: contract.SeverityInfo, Details: d, Removal: true,
			Headline: fmt.Sprintf("Service %s", strings.ReplaceAll(string(svc), "_", " "))})
	}
	return out
}

func accountLabel(a *contract.Account) string {
	if a == nil {
		return "the customer"
	}
	if a.Name != "" && a.Name != a.ID {
		return fmt.Sprintf("%s (%s)", a.Name, a.ID)
	}
	return a.ID
}

// OpensTicket reports whether the partner's rules open a ticket for a raised
// signal: some "open a ticket" rule matches its severity (no severities = all)
// and its event type (no event types = all, the guide's "Subscribe to All
// Event Types"). Several rules may match; the event still opens one ticket.
func OpensTicket(rules []partner.Rule, s Signal) bool {
	for _, r := range rules {
		if r.Action != partner.ActionOpenTicket {
			continue
		}
		if len(r.Severities) > 0 && !slices.Contains(r.Severities, s.Severity) {
			continue
		}
		if len(r.EventTypes) > 0 && (s.EventType == "" || !slices.Contains(r.EventTypes, s.EventType)) {
			continue
		}
		return true
	}
	return false
}
