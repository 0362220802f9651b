package tickets

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/partner"
)

var at = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func backupEvent(result contract.BackupResult, msg string) *contract.Event {
	return &contract.Event{Type: contract.TypeBackupCompleted, OccurredAt: at, Customer: contract.Customer{ID: "1001", Name: "Acme Dental"},
		Backup: &contract.BackupCompleted{Account: contract.Account{ID: "ACME-SRV01", Name: "File server", Kind: contract.KindServer, Plan: contract.PlanSelect},
			Result: result, EndedAt: at, Message: msg}}
}

func statusEvent(h contract.Health, acct *contract.Account) *contract.Event {
	return &contract.Event{Type: contract.TypeServiceStatus, OccurredAt: at, Customer: contract.Customer{ID: "1001"},
		Status: &contract.ServiceStatus{Service: contract.ServiceOnlineBackup, Health: h, Account: acct, Message: "vault offline"}}
}

func notificationEvent(kind contract.NotificationKind, sev contract.Severity, state contract.NotificationState, acct *contract.Account) *contract.Event {
	return &contract.Event{Type: contract.TypeNotification, OccurredAt: at, Customer: contract.Customer{ID: "1001"},
		Notification: &contract.Notification{Kind: kind, Severity: sev, State: state, Account: acct, Message: "Usage 92%",
			Details: map[string]string{"usage": "92%", "threshold": "90%"}}}
}

// want is the expected shape of one signal.
type want struct {
	fault     FaultKind
	raise     bool
	severity  contract.Severity
	eventType contract.NotificationKind
	account   string // "" for customer-wide
	headline  string
	details   []string // substrings of Details
}

func TestSignalsOf(t *testing.T) {
	acct := &contract.Account{ID: "ACME-PC07"}
	cases := []struct {
		name string
		ev   *contract.Event
		want []want
	}{
		{"backup failure raises backup_failure of the account", backupEvent(contract.ResultFailure, "VSS error 0x8004230f"), []want{
			{fault: "backup_failure", raise: true, severity: contract.SeverityError, eventType: contract.NotifyBackupFailure, account: "ACME-SRV01",
				headline: "Backup failed", details: []string{"File server (ACME-SRV01)", "ended in failure", "2026-03-04 05:06 UTC", "Backup engine: VSS error 0x8004230f"}},
		}},
		{"backup success clears failure, no backup and no error-free backup", backupEvent(contract.ResultSuccess, ""), []want{
			{fault: "backup_failure", severity: contract.SeverityInfo, eventType: contract.NotifyBackupFailure, account: "ACME-SRV01", headline: "Backup failed", details: []string{"completed (success)"}},
			{fault: "no_backup", severity: contract.SeverityInfo, eventType: contract.NotifyNoBackup, account: "ACME-SRV01", headline: "No backup"},
			{fault: "no_error_free_backup", severity: contract.SeverityInfo, eventType: contract.NotifyNoErrorFreeBackup, account: "ACME-SRV01", headline: "No error-free backup"},
		}},
		{"backup warning clears failure and no backup only", backupEvent(contract.ResultWarning, "3 files skipped"), []want{
			{fault: "backup_failure", severity: contract.SeverityInfo, eventType: contract.NotifyBackupFailure, account: "ACME-SRV01", headline: "Backup failed", details: []string{"completed (warning)"}},
			{fault: "no_backup", severity: contract.SeverityInfo, eventType: contract.NotifyNoBackup, account: "ACME-SRV01", headline: "No backup"},
		}},
		{"service failed raises the service fault at error", statusEvent(contract.HealthFailed, nil), []want{
			{fault: "service_online_backup", raise: true, severity: contract.SeverityError, headline: "Service online backup failed", details: []string{"vault offline"}},
		}},
		{"service degraded raises it at warning", statusEvent(contract.HealthDegraded, nil), []want{
			{fault: "service_online_backup", raise: true, severity: contract.SeverityWarning, headline: "Service online backup degraded"},
		}},
		{"service healthy clears it", statusEvent(contract.HealthHealthy, nil), []want{
			{fault: "service_online_backup", severity: contract.SeverityInfo, headline: "Service online backup healthy"},
		}},
		{"service status of one account is that account's fault", statusEvent(contract.HealthFailed, acct), []want{
			{fault: "service_online_backup", raise: true, severity: contract.SeverityError, account: "ACME-PC07", headline: "Service online backup failed"},
		}},
		{"notification raised, customer-wide", notificationEvent(contract.NotifyDiskUsage, contract.SeverityWarning, contract.StateRaised, nil), []want{
			{fault: "disk_usage", raise: true, severity: contract.SeverityWarning, eventType: contract.NotifyDiskUsage, headline: "Disk usage over threshold",
				details: []string{"Usage 92%", "threshold: 90%\nusage: 92%"}}, // details sorted by key
		}},
		{"notification without state raises", notificationEvent(contract.NotifyNoBackup, contract.SeverityError, "", acct), []want{
			{fault: "no_backup", raise: true, severity: contract.SeverityError, eventType: contract.NotifyNoBackup, account: "ACME-PC07", headline: "No backup"},
		}},
		{"notification cleared clears", notificationEvent(contract.NotifyBDRHardwareFailure, contract.SeverityCritical, contract.StateCleared, nil), []want{
			{fault: "bdr_hardware_failure", severity: contract.SeverityCritical, eventType: contract.NotifyBDRHardwareFailure, headline: "BDR hardware failure"},
		}},
		{"usage snapshot says nothing about faults", &contract.Event{Type: contract.TypeUsageSnapshot, OccurredAt: at, Customer: contract.Customer{ID: "1001"}, Usage: &contract.UsageSnapshot{}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := SignalsOf(c.ev)
			if len(got) != len(c.want) {
				t.Fatalf("%d signals, want %d: %+v", len(got), len(c.want), got)
			}
			for i, w := range c.want {
				s := got[i]
				acct := ""
				if s.Account != nil {
					acct = s.Account.ID
				}
				if s.Fault != w.fault || s.Raise != w.raise || s.Severity != w.severity || s.EventType != w.eventType || acct != w.account || s.Headline != w.headline {
					t.Errorf("signal %d = {%s raise=%v %s type=%q account=%q %q}, want %+v", i, s.Fault, s.Raise, s.Severity, s.EventType, acct, s.Headline, w)
				}
				for _, d := range w.details {
					if !strings.Contains(s.Details, d) {
						t.Errorf("signal %d details %q lack %q", i, s.Details, d)
					}
				}
			}
		})
	}
	// Every notification kind has a headline (the ticket summary starts with it).
	for _, k := range contract.NotificationKinds {
		if s := SignalsOf(notificationEvent(k, contract.SeverityError, contract.StateRaised, nil)); s[0].Headline == "" {
			t.Errorf("notification kind %s has no headline", k)
		}
	}
}

func TestOpensTicket(t *testing.T) {
	open := partner.ActionOpenTicket
	sig := func(sev contract.Severity, typ contract.NotificationKind) Signal {
		return Signal{Raise: true, Severity: sev, EventType: typ}
	}
	critical := []partner.Rule{{Action: open, Severities: []contract.Severity{contract.SeverityCritical}}}
	onlyNoBackup := []partner.Rule{{Action: open, EventTypes: []contract.NotificationKind{contract.NotifyNoBackup}}}
	both := []partner.Rule{{Action: open, Severities: []contract.Severity{contract.SeverityError}, EventTypes: []contract.NotificationKind{contract.NotifyBackupFailure}}}
	cases := []struct {
		name  string
		rules []partner.Rule
		sig   Signal
		want  bool
	}{
		{"default rules open warnings", partner.DefaultRules(), sig(contract.SeverityWarning, contract.NotifyDiskUsage), true},
		{"default rules open errors", partner.DefaultRules(), sig(contract.SeverityError, contract.NotifyBackupFailure), true},
		{"default rules open critical", partner.DefaultRules(), sig(contract.SeverityCritical, contract.NotifyBDRHardwareFailure), true},
		{"default rules ignore info", partner.DefaultRules(), sig(contract.SeverityInfo, contract.NotifyNoBackup), false},
		{"default rules open service faults", partner.DefaultRules(), sig(contract.SeverityError, ""), true},
		{"no rules open nothing", nil, sig(contract.SeverityCritical, contract.NotifyBackupFailure), false},
		{"a synchronize rule opens nothing", []partner.Rule{{Action: partner.ActionSynchronize}}, sig(contract.SeverityCritical, contract.NotifyBackupFailure), false},
		{"a rule for all opens everything", []partner.Rule{{Action: open}}, sig(contract.SeverityInfo, ""), true},
		{"critical only: error does not open", critical, sig(contract.SeverityError, contract.NotifyBackupFailure), false},
		{"critical only: critical opens", critical, sig(contract.SeverityCritical, contract.NotifyBackupFailure), true},
		{"event types: listed type opens", onlyNoBackup, sig(contract.SeverityInfo, contract.NotifyNoBackup), true},
		{"event types: other type does not", onlyNoBackup, sig(contract.SeverityCritical, contract.NotifyBackupFailure), false},
		{"event types: service faults need a rule for all types", onlyNoBackup, sig(contract.SeverityCritical, ""), false},
		{"severity and type must both match", both, sig(contract.SeverityError, contract.NotifyBackupFailure), true},
		{"severity matches, type does not", both, sig(contract.SeverityError, contract.NotifyNoBackup), false},
		{"type matches, severity does not", both, sig(contract.SeverityWarning, contract.NotifyBackupFailure), false},
		{"several rules, a later one matches", append(slices.Clone(critical), onlyNoBackup...), sig(contract.SeverityWarning, contract.NotifyNoBackup), true},
		{"several rules all match", append(partner.DefaultRules(), partner.Rule{Action: open}), sig(contract.SeverityError, contract.NotifyBackupFailure), true},
	}
	for _, c := range cases {
		if got := OpensTicket(c.rules, c.sig); got != c.want {
			t.Errorf("%s: OpensTicket = %v, want %v", c.name, got, c.want)
		}
	}
}
