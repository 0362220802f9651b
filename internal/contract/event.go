// Package contract defines version 1 of the event contract between the backup
// provider's webhook senders and this service: the JSON a sender posts to
// POST /v1/partners/{partnerId}/events, its validation, and the JSON Schema
// published beside it (schema/event-v1.schema.json).
//
// One request carries one event. The event id is the Standard Webhooks
// `webhook-id` header of the request that delivered it; a sender retrying a
// delivery reuses it, and the service acknowledges the repeat without
// enqueueing a second message.
//
// Two versions of the contract are accepted (SpecVersions), named by the
// body's specVersion: "1.0" and "1.1". Version 1.1 is backward compatible:
// it adds two event types and changes nothing else, so every 1.0 body is
// valid unchanged, and a 1.1 body may carry any of the six types. The two
// types added in 1.1 need specVersion "1.1" (MinSpecVersion).
//
// Six kinds of event exist, named by Type:
//
//	backup.completed  a backup of one account ended (success, warning or failure),
//	                  with the account's figures (plan, kind, online and local GB)
//	service.status    a service of a customer (or one account) changed status
//	notification      a provider notification (backup failure, no backup, …) that
//	                  is raised or cleared, with a severity
//	usage.snapshot    a customer's countable usage (mailboxes, licences)
//	account.removed   (1.1) the provider no longer backs up or reports one account
//	                  of the customer (machine decommissioned, account deleted)
//	customer.removed  (1.1) the customer left the provider altogether
//
// A removal happened at the event's occurredAt; its data (Removal) names the
// account (account.removed only) and may give a reason. Removals are ordered
// with the other events of the same account or customer by occurredAt, as
// figures are: an event that occurred before the removal (a late or retried
// delivery) does not bring the account or customer back, while an event that
// occurred after it does (the account or customer is reported again). The
// service applies that rule when it processes events; the contract only
// states it.
//
// Customer ids are the provider's customer ids (the eFolder "CID") and are
// scoped to the partner: the same id under two partners is two customers.
//
// Parse decodes a body strictly and validates it; ParseAt does the same and
// also refuses times more than MaxClockSkew ahead of the receiver's clock
// (CheckClock), which is what the webhook calls; Compact puts an accepted
// body on one line, the form the webhook enqueues; Validate checks an Event
// built in Go (and fills its defaults); Marshal writes an Event as compact
// JSON. Every rule failure is a *ValidationError naming the JSON path of the
// field and the problem. SchemaJSON, the JSON Schema (draft 2020-12) of the
// same contract (both versions), is what senders validate against.
package contract

import "time"

// Contract versions: the value of an event's specVersion.
const (
	// SpecVersion10 is the first version: backup.completed, service.status,
	// notification and usage.snapshot.
	SpecVersion10 = "1.0"
	// SpecVersion11 adds account.removed and customer.removed.
	SpecVersion11 = "1.1"
	// SpecVersion is the newest version, the one an event built in Go
	// should carry (an event of any type is valid with it).
	SpecVersion = SpecVersion11
)

// SpecVersions lists every contract version this service accepts, oldest
// first.
var SpecVersions = []string{SpecVersion10, SpecVersion11}

// MinSpecVersion returns the oldest contract version that has event type t:
// SpecVersion11 for the removal types, SpecVersion10 for the others, "" for
// an unknown type. An event of type t needs a specVersion at least that.
func MinSpecVersion(t Type) string {
	switch t {
	case TypeBackupCompleted, TypeServiceStatus, TypeNotification, TypeUsageSnapshot:
		return SpecVersion10
	case TypeAccountRemoved, TypeCustomerRemoved:
		return SpecVersion11
	}
	return ""
}

// MaxBodyBytes is the largest request body the webhook reads. It is checked
// before anything else of the request is read. SQS allows 256 KiB per message;
// the queue envelope adds the partner and event ids around the body.
const MaxBodyBytes = 64 * 1024

// Type names an event kind.
type Type string

// The event kinds of contract version 1.0.
const (
	TypeBackupCompleted Type = "backup.completed"
	TypeServiceStatus   Type = "service.status"
	TypeNotification    Type = "notification"
	TypeUsageSnapshot   Type = "usage.snapshot"
)

// The event kinds added in contract version 1.1.
const (
	TypeAccountRemoved  Type = "account.removed"
	TypeCustomerRemoved Type = "customer.removed"
)

// Event is one event as posted by a sender. At most one of the data fields
// is set, the one that matches Type (DataField); it is required for every
// type but customer.removed, whose removal data is optional.
type Event struct {
	SpecVersion string    `json:"specVersion"`
	Type        Type      `json:"type"`
	OccurredAt  time.Time `json:"occurredAt"`
	Customer    Customer  `json:"customer"`

	Backup       *BackupCompleted `json:"backup,omitempty"`
	Status       *ServiceStatus   `json:"status,omitempty"`
	Notification *Notification    `json:"notification,omitempty"`
	Usage        *UsageSnapshot   `json:"usage,omitempty"`
	Removal      *Removal         `json:"removal,omitempty"`
}

// Customer is the provider's customer the event belongs to. ManagedID gives
// the ConnectWise managed ID that links it to a company.
type Customer struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// ManagedID is the value an MSP enters as the company's Managed ID and as the
// serial number of its agreement additions: "EFS-<customerId>".
func (c Customer) ManagedID() string { return ManagedIDPrefix + c.ID }

// ManagedIDPrefix starts every managed ID.
const ManagedIDPrefix = "EFS-"

// Account is one backed-up machine (or mailbox set) of a customer.
type Account struct {
	ID   string      `json:"id"`
	Name string      `json:"name,omitempty"`
	Kind AccountKind `json:"kind,omitempty"`
	Plan Plan        `json:"plan,omitempty"`
}

// AccountKind is server or desktop (the guide's "# Servers" / "# Desktops").
type AccountKind string

// Account kinds.
const (
	KindServer  AccountKind = "server"
	KindDesktop AccountKind = "desktop"
)

// Plan is the online backup plan of an account (the guide's Figure 8 levels).
type Plan string

// Plans.
const (
	PlanSelect           Plan = "select"
	PlanBasic            Plan = "basic"
	PlanShadowProtectBDR Plan = "shadowprotect_bdr"
)

// BackupResult is how a backup ended.
type BackupResult string

// Backup results.
const (
	ResultSuccess BackupResult = "success"
	ResultWarning BackupResult = "warning"
	ResultFailure BackupResult = "failure"
)

// BackupCompleted is the data of a backup.completed event.
type BackupCompleted struct {
	Account   Account      `json:"account"`
	Result    BackupResult `json:"result"`
	StartedAt *time.Time   `json:"startedAt,omitempty"`
	EndedAt   time.Time    `json:"endedAt"`
	OnlineGB  float64      `json:"onlineGB"`
	LocalGB   float64      `json:"localGB"`
	// Message is the backup engine's summary, shown in tickets.
	Message string `json:"message,omitempty"`
}

// Service names a provider service.
type Service string

// Services.
const (
	ServiceOnlineBackup   Service = "online_backup"
	ServiceLocalBackup    Service = "local_backup"
	ServiceBDR            Service = "bdr"
	ServiceEmailArchiving Service = "email_archiving"
	ServiceEmailFiltering Service = "email_filtering"
)

// Health is a service status.
type Health string

// Health values. Healthy clears a fault raised for the same service.
const (
	HealthHealthy  Health = "healthy"
	HealthDegraded Health = "degraded"
	HealthFailed   Health = "failed"
)

// ServiceStatus is the data of a service.status event.
type ServiceStatus struct {
	Service Service  `json:"service"`
	Health  Health   `json:"health"`
	Account *Account `json:"account,omitempty"`
	Message string   `json:"message,omitempty"`
}

// NotificationKind is what a notification reports (the guide's notification types).
type NotificationKind string

// Notification kinds.
const (
	NotifyBackupFailure      NotificationKind = "backup_failure"
	NotifyNoBackup           NotificationKind = "no_backup"
	NotifyNoErrorFreeBackup  NotificationKind = "no_error_free_backup"
	NotifyDiskUsage          NotificationKind = "disk_usage"
	NotifyArchivingFailure   NotificationKind = "archiving_failure"
	NotifyBDRHardwareFailure NotificationKind = "bdr_hardware_failure"
)

// NotificationKinds lists every notification kind, in a stable order.
var NotificationKinds = []NotificationKind{
	NotifyBackupFailure, NotifyNoBackup, NotifyNoErrorFreeBackup,
	NotifyDiskUsage, NotifyArchivingFailure, NotifyBDRHardwareFailure,
}

// Severity of a notification, lowest first.
type Severity string

// Severities.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityError    Severity = "error"
	SeverityCritical Severity = "critical"
)

// Severities lists every severity, lowest first.
var Severities = []Severity{SeverityInfo, SeverityWarning, SeverityError, SeverityCritical}

// NotificationState says whether a notification raises a fault or reports that
// it cleared (disk usage back under its threshold, hardware replaced, …).
type NotificationState string

// Notification states.
const (
	StateRaised  NotificationState = "raised"
	StateCleared NotificationState = "cleared"
)

// Notification is the data of a notification event.
type Notification struct {
	Kind     NotificationKind  `json:"kind"`
	Severity Severity          `json:"severity"`
	State    NotificationState `json:"state,omitempty"` // default raised
	Account  *Account          `json:"account,omitempty"`
	Message  string            `json:"message"`
	// Details are free-form facts shown in the ticket description
	// (threshold, usage, last backup time, hardware component, …).
	Details map[string]string `json:"details,omitempty"`
}

// UsageSnapshot is the data of a usage.snapshot event: a customer's countable
// usage at a moment. Absent counters are unknown, not zero.
type UsageSnapshot struct {
	ArchivingMailboxes    *int `json:"archivingMailboxes,omitempty"`
	FilteringMailboxes    *int `json:"filteringMailboxes,omitempty"`
	ShadowProtectServers  *int `json:"shadowProtectServers,omitempty"`
	ShadowProtectDesktops *int `json:"shadowProtectDesktops,omitempty"`
}

// Removal is the data of account.removed and customer.removed. The time of
// the removal is the event's OccurredAt.
type Removal struct {
	// Account is the account removed: required for account.removed (its
	// id required; name, kind and plan optional), not allowed for
	// customer.removed.
	Account *Account `json:"account,omitempty"`
	// Reason says why, in the provider's words (optional; a message, at
	// most MaxMessageRunes characters).
	Reason string `json:"reason,omitempty"`
}
