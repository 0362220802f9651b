// Package partner models one MSP (a partner of the backup provider) and its
// ConnectWise site: what the eFolder portal's "PSA Credentials", "Integration
// Setup" and "Partner Notifications" pages held. The non-secret settings live
// in DynamoDB; the ConnectWise keys and the webhook signing secrets live in
// Secrets Manager (see Secrets).
package partner

import "github.com/efs-cw/backupbridge/internal/contract"

// Partner is one MSP = one ConnectWise site.
type Partner struct {
	ID   string `json:"id"`
	Name string `json:"name"`

	// SiteURL is the ConnectWise site, https only (for example
	// https://api-na.myconnectwise.net). CompanyID is the ConnectWise company
	// id used to log in. Codebase is looked up from login/companyinfo when empty.
	SiteURL   string `json:"siteUrl"`
	CompanyID string `json:"companyId"`
	Codebase  string `json:"codebase,omitempty"`

	// Tickets: the service board and the status new tickets get, and the
	// optional priority and type names.
	Board        string `json:"board"`
	NewStatus    string `json:"newStatus"`
	ClosedStatus string `json:"closedStatus,omitempty"` // default: the board's first closed status
	Priority     string `json:"priority,omitempty"`
	TicketType   string `json:"ticketType,omitempty"`

	// NoteEveryMinutes limits the notes a repeating fault adds to its open
	// ticket to one per interval (0: default 60; else 1 to 1440).
	NoteEveryMinutes int `json:"noteEveryMinutes,omitempty"`
	// Recurrence says what a fault that comes back after its ticket was
	// resolved does: "reopen" the last ticket when it recurs within
	// ReopenWithinHours (default 24), else open a new one; "new" always opens
	// a new ticket. Default "reopen". ReopenWithinHours: 0 means 24, else 1
	// to 720.
	Recurrence        string `json:"recurrence,omitempty"`
	ReopenWithinHours int    `json:"reopenWithinHours,omitempty"`

	Integration Integration `json:"integration"`
	// GBRounding is how billed GB totals are rounded: "up" to the next whole
	// GB (default), "nearest" or "down". Counts are exact.
	GBRounding string `json:"gbRounding,omitempty"`
	// SyncWindowHours is the least time between two data syncs of a customer
	// (0: DefaultSyncWindow, the guide's 12 hours; else 1 to 168). Read it
	// through SyncWindow.
	SyncWindowHours int `json:"syncWindowHours,omitempty"`
	// Products maps each billed service of the guide's Figure 8 to the
	// identifier of a ConnectWise catalog product.
	Products map[BillingService]string `json:"products,omitempty"`
	// Rules are the partner's notification rules. Left out (nil), Validate
	// fills the guide's defaults (DefaultRules); an explicit empty list
	// means no rules: no notification opens a ticket and no event triggers
	// a data sync (events still update the customers' stored figures, and
	// an operator can still sync a customer by hand).
	Rules []Rule `json:"rules"`

	// Version increases with every update (optimistic locking).
	Version int `json:"version"`
}

// Integration holds the guide's "Integration Setup" switches.
type Integration struct {
	UpdateBackupStatistics    bool             `json:"updateBackupStatistics"`
	UpdateInvoiceDescriptions bool             `json:"updateInvoiceDescriptions"`
	Billing                   []BillingService `json:"billing,omitempty"`
	// RespectManualEdits leaves an addition field a person edited in
	// ConnectWise (its value differs from the one the service last wrote)
	// as the person set it; the drift is reported either way. Off: the
	// measured figure is written over the edit.
	RespectManualEdits bool `json:"respectManualEdits,omitempty"`
}

// BillingService is one row of the guide's Figure 8 (service ⇄ product cross reference).
type BillingService string

// Billing services (Figure 8).
const (
	BillOnlineSelectGB        BillingService = "online_storage_select_gb"
	BillOnlineBasicGB         BillingService = "online_storage_basic_gb"
	BillOnlineBDRGB           BillingService = "online_storage_shadowprotect_bdr_gb"
	BillOnlineServers         BillingService = "online_storage_servers"
	BillOnlineDesktops        BillingService = "online_storage_desktops"
	BillLocalStorageGB        BillingService = "local_storage_gb"
	BillLocalServers          BillingService = "local_backups_servers"
	BillLocalDesktops         BillingService = "local_backups_desktops"
	BillShadowProtectServers  BillingService = "licenses_shadowprotect_servers"
	BillShadowProtectDesktops BillingService = "licenses_shadowprotect_desktops"
	BillArchivingMailboxes    BillingService = "email_archiving_mailboxes"
	BillFilteringMailboxes    BillingService = "email_filtering_mailboxes"
)

// BillingServices lists every billing service in the guide's order.
var BillingServices = []BillingService{
	BillOnlineSelectGB, BillOnlineBasicGB, BillOnlineBDRGB, BillOnlineServers,
	BillOnlineDesktops, BillLocalStorageGB, BillLocalServers, BillLocalDesktops,
	BillShadowProtectServers, BillShadowProtectDesktops, BillArchivingMailboxes,
	BillFilteringMailboxes,
}

// Action is what a notification rule does.
type Action string

// Rule actions (the guide's "Notification Action").
const (
	ActionOpenTicket  Action = "open_ticket"
	ActionSynchronize Action = "synchronize"
)

// Rule is one partner notification rule. Empty Severities or EventTypes mean
// all of them (the guide's "Subscribe to All Event Types: Yes").
type Rule struct {
	Action     Action                      `json:"action"`
	Severities []contract.Severity         `json:"severities,omitempty"`
	EventTypes []contract.NotificationKind `json:"eventTypes,omitempty"`
}

// Secrets are the partner's secret values, stored in Secrets Manager under
// one secret per partner.
type Secrets struct {
	// ConnectWise API member keys; for a legacy integrator login, PublicKey is
	// the login name and PrivateKey its password (same Basic auth shape).
	PublicKey  string `json:"publicKey"`
	PrivateKey string `json:"privateKey"`
	// ClientID is the integration's ConnectWise clientId header value.
	ClientID string `json:"clientId"`
	// WebhookSecrets are the Standard Webhooks signing secrets ("whsec_…");
	// more than one while a secret is being rotated.
	WebhookSecrets []string `json:"webhookSecrets"`

	// SiteURL and CompanyID bind the ConnectWise keys to the site and the
	// company they were given for. The operator API sets them from the
	// partner when it stores the keys (Bind); a request cannot set them
	// (DecodeRequest refuses them as unknown fields). ClientOptions refuses
	// to send keys bound to another site or company. Both are empty in
	// secrets stored before the binding existed: such keys are used as they
	// are.
	SiteURL   string `json:"siteUrl,omitempty"`
	CompanyID string `json:"companyId,omitempty"`
}
