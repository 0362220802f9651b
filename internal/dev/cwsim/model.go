package cwsim

// Ref is a ConnectWise reference to another record, as it appears in JSON:
// {"id":..,"name":..} (company references also carry "identifier", product
// references "identifier" and "description", ticket references "summary"). On input a client may name
// the record by ID, or by Name / Identifier where ConnectWise allows it; the
// simulator resolves it and stores the ID with the current name.
type Ref struct {
	ID          int    `json:"id"`
	Identifier  string `json:"identifier,omitempty"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Summary     string `json:"summary,omitempty"`
}

// Info is the `_info` block of a record.
type Info struct {
	LastUpdated string `json:"lastUpdated,omitempty"`
	DateEntered string `json:"dateEntered,omitempty"`
	EnteredBy   string `json:"enteredBy,omitempty"`
	UpdatedBy   string `json:"updatedBy,omitempty"`
}

// Company is a ConnectWise company (GET /company/companies).
type Company struct {
	ID          int    `json:"id"`
	Identifier  string `json:"identifier"`
	Name        string `json:"name"`
	Status      Ref    `json:"status,omitzero"`
	DeletedFlag bool   `json:"deletedFlag"`
	Info        Info   `json:"_info,omitzero"`
}

// Device types of a management summary row.
const (
	DeviceTypeWorkstationsAndServers = "WorkstationsAndServers"
	DeviceTypeBackupStats            = "BackupStats"
	DeviceTypeServers                = "Servers"
	DeviceTypeWorkstations           = "Workstations"
)

// ManagementSummary is one row of a company's Management tab
// (/company/companies/{id}/managementSummaryReports): the managed ID
// (GroupIdentifier) of a management solution for a device type, with the
// figures of the executive summary report.
type ManagementSummary struct {
	ID                   int    `json:"id"`
	Company              Ref    `json:"company,omitzero"`
	GroupIdentifier      string `json:"groupIdentifier"`
	ManagementSolution   Ref    `json:"managementSolution,omitzero"`
	DeviceType           string `json:"deviceType,omitempty"`
	Agreement            Ref    `json:"agreement,omitzero"`
	SuccessfulBackupJobs int    `json:"successfulBackupJobs"`
	FailedBackupJobs     int    `json:"failedBackupJobs"`
	TotalServers         int    `json:"totalServers"`
	TotalWorkstations    int    `json:"totalWorkstations"`
	TotalManagedMachines int    `json:"totalManagedMachines"`
	ServersDiskSpaceLow  int    `json:"serversDiskSpaceLow"`
	TotalNotifications   int    `json:"totalNotifications"`
	AlertsGenerated      int    `json:"alertsGenerated"`
	Info                 Info   `json:"_info,omitzero"`
}

// ManagementITSolution is a management IT solution (/company/managementItSolutions).
type ManagementITSolution struct {
	ID                       int    `json:"id"`
	Name                     string `json:"name"`
	ManagementITSolutionType string `json:"managementItSolutionType"`
	ManagementSolutionName   string `json:"managementSolutionName,omitempty"`
	Info                     Info   `json:"_info,omitzero"`
}

// Escalation statuses of a board status.
const (
	EscalationNotResponded   = "NotResponded"
	EscalationResponded      = "Responded"
	EscalationResolutionPlan = "ResolutionPlan"
	EscalationResolved       = "Resolved"
	EscalationNoEscalation   = "NoEscalation"
)

// Board is a service board. Statuses lists its statuses (not part of the
// board's JSON; the API serves them at /service/boards/{id}/statuses).
type Board struct {
	ID           int      `json:"id"`
	Name         string   `json:"name"`
	InactiveFlag bool     `json:"inactiveFlag"`
	Info         Info     `json:"_info,omitzero"`
	Statuses     []Status `json:"-"`
}

// StatusByName returns the board's status with that name (case-insensitive).
func (b Board) StatusByName(name string) (Status, bool) {
	for _, st := range b.Statuses {
		if equalFold(st.Name, name) {
			return st, true
		}
	}
	return Status{}, false
}

// Status is a status of a service board. Status ids are unique across
// boards, and a status is only valid on its own board.
type Status struct {
	ID               int    `json:"id"`
	Name             string `json:"name"`
	Board            Ref    `json:"board,omitzero"`
	SortOrder        int    `json:"sortOrder"`
	DisplayOnBoard   bool   `json:"displayOnBoard"`
	Inactive         bool   `json:"inactive"`
	ClosedStatus     bool   `json:"closedStatus"`
	DefaultFlag      bool   `json:"defaultFlag"`
	EscalationStatus string `json:"escalationStatus,omitempty"`
	Info             Info   `json:"_info,omitzero"`
}

// BoardType is a ticket type of a service board (/service/boards/{id}/types).
type BoardType struct {
	ID           int    `json:"id"`
	Name         string `json:"name"`
	Board        Ref    `json:"board,omitzero"`
	DefaultFlag  bool   `json:"defaultFlag"`
	InactiveFlag bool   `json:"inactiveFlag"`
	Info         Info   `json:"_info,omitzero"`
}

// Priority is a ticket priority (/service/priorities).
type Priority struct {
	ID          int    `json:"id"`
	Name        string `json:"name"`
	SortOrder   int    `json:"sortOrder"`
	DefaultFlag bool   `json:"defaultFlag"`
	Info        Info   `json:"_info,omitzero"`
}

// Ticket is a service ticket. InitialDescription is what the client posted
// (never served by the API, kept for tests); ConnectWise also turns it into
// the ticket's first note, and so does the simulator.
type Ticket struct {
	ID                 int    `json:"id"`
	Summary            string `json:"summary"`
	RecordType         string `json:"recordType"`
	Board              Ref    `json:"board,omitzero"`
	Status             Ref    `json:"status,omitzero"`
	Company            Ref    `json:"company,omitzero"`
	Priority           Ref    `json:"priority,omitzero"`
	Type               Ref    `json:"type,omitzero"`
	ExternalXRef       string `json:"externalXRef,omitempty"`
	ClosedFlag         bool   `json:"closedFlag"`
	ClosedDate         string `json:"closedDate,omitempty"`
	ClosedBy           string `json:"closedBy,omitempty"`
	MergedParentTicket Ref    `json:"mergedParentTicket,omitzero"`
	Info               Info   `json:"_info,omitzero"`
	InitialDescription string `json:"-"`
}

// TicketNote is a note of a ticket (/service/tickets/{id}/notes).
type TicketNote struct {
	ID                    int    `json:"id"`
	TicketID              int    `json:"ticketId"`
	Text                  string `json:"text"`
	DetailDescriptionFlag bool   `json:"detailDescriptionFlag"`
	InternalAnalysisFlag  bool   `json:"internalAnalysisFlag"`
	ResolutionFlag        bool   `json:"resolutionFlag"`
	CustomerUpdatedFlag   bool   `json:"customerUpdatedFlag"`
	InternalFlag          bool   `json:"internalFlag"`
	ExternalFlag          bool   `json:"externalFlag"`
	DateCreated           string `json:"dateCreated,omitempty"`
	CreatedBy             string `json:"createdBy,omitempty"`
	Info                  Info   `json:"_info,omitzero"`
}

// Agreement statuses.
const (
	AgreementActive    = "Active"
	AgreementCancelled = "Cancelled"
	AgreementExpired   = "Expired"
	AgreementInactive  = "Inactive"
)

// Agreement is a finance agreement (/finance/agreements).
type Agreement struct {
	ID               int    `json:"id"`
	Name             string `json:"name"`
	Type             Ref    `json:"type,omitzero"`
	Company          Ref    `json:"company,omitzero"`
	AgreementStatus  string `json:"agreementStatus"`
	CancelledFlag    bool   `json:"cancelledFlag"`
	StartDate        string `json:"startDate,omitempty"`
	EndDate          string `json:"endDate,omitempty"`
	NoEndingDateFlag bool   `json:"noEndingDateFlag"`
	Info             Info   `json:"_info,omitzero"`
}

// Bill customer values of an addition.
const (
	BillBillable  = "Billable"
	BillDoNotBill = "DoNotBill"
	BillNoCharge  = "NoCharge"
)

// Addition is an agreement addition (/finance/agreements/{id}/additions).
// BilledQuantity, ExtPrice and ExtCost are derived: quantity less included
// (never below zero), times the unit price or cost. AgreementStatus is the
// agreement's status, or Cancelled once CancelledDate has passed.
type Addition struct {
	ID                 int     `json:"id"`
	AgreementID        int     `json:"agreementId"`
	Product            Ref     `json:"product,omitzero"`
	BillCustomer       string  `json:"billCustomer"`
	Quantity           float64 `json:"quantity"`
	LessIncluded       float64 `json:"lessIncluded"`
	UnitPrice          float64 `json:"unitPrice"`
	UnitCost           float64 `json:"unitCost"`
	BilledQuantity     float64 `json:"billedQuantity"`
	ExtPrice           float64 `json:"extPrice"`
	ExtCost            float64 `json:"extCost"`
	EffectiveDate      string  `json:"effectiveDate,omitempty"`
	CancelledDate      string  `json:"cancelledDate,omitempty"`
	SerialNumber       string  `json:"serialNumber,omitempty"`
	InvoiceDescription string  `json:"invoiceDescription,omitempty"`
	Description        string  `json:"description,omitempty"`
	TaxableFlag        bool    `json:"taxableFlag"`
	AgreementStatus    string  `json:"agreementStatus,omitempty"`
	Info               Info    `json:"_info,omitzero"`
}

// Product is a catalog item (/procurement/catalog).
type Product struct {
	ID                  int     `json:"id"`
	Identifier          string  `json:"identifier"`
	Description         string  `json:"description"`
	CustomerDescription string  `json:"customerDescription,omitempty"`
	Price               float64 `json:"price"`
	Cost                float64 `json:"cost"`
	InactiveFlag        bool    `json:"inactiveFlag"`
	Info                Info    `json:"_info,omitzero"`
}

// Configuration is a company configuration (/company/configurations) with
// the backup figures ConnectWise keeps on it.
type Configuration struct {
	ID                        int     `json:"id"`
	Name                      string  `json:"name"`
	Type                      Ref     `json:"type,omitzero"`
	Company                   Ref     `json:"company,omitzero"`
	Status                    Ref     `json:"status,omitzero"`
	SerialNumber              string  `json:"serialNumber,omitempty"`
	BackupSuccesses           int     `json:"backupSuccesses"`
	BackupIncomplete          int     `json:"backupIncomplete"`
	BackupFailed              int     `json:"backupFailed"`
	BackupRestores            int     `json:"backupRestores"`
	LastBackupDate            string  `json:"lastBackupDate,omitempty"`
	BackupServerName          string  `json:"backupServerName,omitempty"`
	BackupBillableSpaceGb     float64 `json:"backupBillableSpaceGb"`
	BackupProtectedDeviceList string  `json:"backupProtectedDeviceList,omitempty"`
	BackupYear                int     `json:"backupYear"`
	BackupMonth               int     `json:"backupMonth"`
	ActiveFlag                bool    `json:"activeFlag"`
	Info                      Info    `json:"_info,omitzero"`
}

// ConfigurationType is a configuration type (/company/configurations/types).
type ConfigurationType struct {
	ID           int    `json:"id"`
	Name         string `json:"name"`
	InactiveFlag bool   `json:"inactiveFlag"`
	Info         Info   `json:"_info,omitzero"`
}
