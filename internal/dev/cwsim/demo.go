package cwsim

import (
	"fmt"
	"time"
)

// Credentials of the demo API member seeded by SeedDemo. The simulator
// accepts any GUID as clientId; DemoClientID is one.
const (
	DemoCompanyID  = "demo_msp"
	DemoPublicKey  = "demo-public-key"
	DemoPrivateKey = "demo-private-key"
	DemoClientID   = "3f6f1b8e-2c4d-4e1a-9b7c-5d2e8f0a1c36"
)

// Names of the demo setup.
const (
	DemoBackupBoard     = "eFolder Backup"
	DemoHelpDeskBoard   = "Help Desk"
	DemoBoardType       = "Backup"
	DemoPriorityNormal  = "Priority 3 - Normal Response"
	DemoPriorityQuick   = "Priority 2 - Quick Response"
	DemoSolution        = "eFolder"
	DemoAgreement       = "Managed Backup"
	DemoConfigBackup    = "Backup Stats"
	DemoConfigLicense   = "License"
	DemoAcmeManagedID   = "EFS-1001"
	DemoBirchManagedID  = "EFS-1002"
	DemoAcmeIdentifier  = "AcmeDental"
	DemoBirchIdentifier = "BirchLegal"
	DemoCedarIdentifier = "CedarClinic"
)

// Catalog identifiers of the demo products: one per row of the eFolder
// guide's Figure 8.
const (
	ProductSelectGB       = "EFS-SELECT-GB"
	ProductBasicGB        = "EFS-BASIC-GB"
	ProductBDRGB          = "EFS-BDR-GB"
	ProductOnlineServers  = "EFS-ONLINE-SERVERS"
	ProductOnlineDesktops = "EFS-ONLINE-DESKTOPS"
	ProductLocalGB        = "EFS-LOCAL-GB"
	ProductLocalServers   = "EFS-LOCAL-SERVERS"
	ProductLocalDesktops  = "EFS-LOCAL-DESKTOPS"
	ProductSPServers      = "EFS-SP-SERVERS"
	ProductSPDesktops     = "EFS-SP-DESKTOPS"
	ProductArchiveMailbox = "EFS-ARCHIVE-MBX"
	ProductFilterMailbox  = "EFS-FILTER-MBX"
)

// DemoProduct is a demo catalog item with its row of the guide's Figure 8
// (Type, Level, Configuration type) and the unit it bills.
type DemoProduct struct {
	Identifier        string
	Description       string
	Type              string
	Level             string
	ConfigurationType string
	Unit              string
	Price             float64
	Cost              float64
}

// DemoCatalog returns the demo products in Figure 8 order.
func DemoCatalog() []DemoProduct {
	return []DemoProduct{
		{ProductSelectGB, "Select Online Backup Storage", "Online Storage", "Select", DemoConfigBackup, "GB", 2.00, 0.50},
		{ProductBasicGB, "Basic Online Backup Storage", "Online Storage", "Basic", DemoConfigBackup, "GB", 1.50, 0.40},
		{ProductBDRGB, "ShadowProtect BDR Storage", "Online Storage", "ShadowProtect BDR", DemoConfigBackup, "GB", 1.00, 0.30},
		{ProductOnlineServers, "Online Backup # Servers", "Online Storage", "# Servers", DemoConfigBackup, "servers", 25.00, 8.00},
		{ProductOnlineDesktops, "Online Backup # Desktops", "Online Storage", "# Desktops", DemoConfigBackup, "desktops", 6.00, 2.00},
		{ProductLocalGB, "Local Backup Storage", "Local Storage", "", DemoConfigBackup, "GB", 0.10, 0.00},
		{ProductLocalServers, "Local Backup # Servers", "Local Backups", "# Servers", DemoConfigBackup, "servers", 10.00, 3.00},
		{ProductLocalDesktops, "Local Backup # Desktops", "Local Backups", "# Desktops", DemoConfigBackup, "desktops", 3.00, 1.00},
		{ProductSPServers, "ShadowProtect BDR Servers", "Other Licenses", "ShadowProtect Servers", DemoConfigLicense, "licenses", 30.00, 12.00},
		{ProductSPDesktops, "ShadowProtect BDR Desktops", "Other Licenses", "ShadowProtect Desktops", DemoConfigLicense, "licenses", 8.00, 3.00},
		{ProductArchiveMailbox, "Email Archiving # Mailboxes", "Email Archiving", "Exchange", DemoConfigLicense, "mailboxes", 3.00, 1.00},
		{ProductFilterMailbox, "Email Filtering # Mailboxes", "Email Filtering", "", DemoConfigLicense, "mailboxes", 2.00, 0.60},
	}
}

// demoAdditionProducts are the products every demo agreement bills.
var demoAdditionProducts = []string{ProductSelectGB, ProductOnlineServers, ProductOnlineDesktops, ProductArchiveMailbox}

// demoSelectIncluded is the free allowance (lessIncluded) of the Select GB
// addition.
const demoSelectIncluded = 25

// DemoCompany is a company seeded by SeedDemo.
type DemoCompany struct {
	ID         int
	Identifier string
	Name       string
	// ManagedID is "EFS-<customer id>", empty for a company without one.
	ManagedID string
	// SummaryIDs are the Management tab rows: WorkstationsAndServers first,
	// BackupStats second (none without a managed ID).
	SummaryIDs []int
	// AgreementID is the active "Managed Backup" agreement (0 if none).
	AgreementID int
	// Additions maps a product identifier to the agreement addition id.
	Additions map[string]int
}

// Demo holds the ids of what SeedDemo created.
type Demo struct {
	// BackupBoard is "eFolder Backup" with statuses New (default, not
	// closed, NotResponded), In Progress, Waiting, Resolved (closed) and
	// Closed (closed); HelpDeskBoard is "Help Desk" with New (default),
	// In Progress and Completed (closed). Use Board.StatusByName.
	BackupBoard   Board
	HelpDeskBoard Board
	// Status ids of the backup board.
	StatusNew, StatusInProgress, StatusWaiting, StatusResolved, StatusClosed int
	// PriorityNormal ("Priority 3 - Normal Response", the default) and
	// PriorityQuick ("Priority 2 - Quick Response").
	PriorityNormal, PriorityQuick int
	// BackupTypeID is the "Backup" type of the backup board;
	// HelpDeskTypeID the "Incident" type of the help desk board.
	BackupTypeID, HelpDeskTypeID int
	// SolutionID is the "eFolder" management IT solution.
	SolutionID int
	// Companies: Acme Dental (EFS-1001) and Birch Legal (EFS-1002) with
	// managed IDs and agreements, Cedar Clinic with neither.
	Acme, Birch, Cedar DemoCompany
	// Products maps every DemoCatalog identifier to its catalog id.
	Products map[string]int
	// Configuration types "Backup Stats" and "License".
	BackupStatsTypeID, LicenseTypeID int
}

// SeedDemo seeds a new Sim with the demo MSP: the demo API member, boards,
// priorities, the eFolder management solution, three companies, the Figure 8
// catalog, agreements with additions, and configuration types. Call it once
// on a new Sim. It panics only if the simulator itself is broken (it seeds
// fixed, valid data).
func SeedDemo(s *Sim) Demo {
	d, err := seedDemo(s)
	if err != nil {
		panic(fmt.Sprintf("cwsim: SeedDemo: %v", err))
	}
	return d
}

func seedDemo(s *Sim) (Demo, error) {
	var d Demo
	s.AddMember(DemoCompanyID, DemoPublicKey, DemoPrivateKey)

	d.BackupBoard = s.AddBoard(DemoBackupBoard,
		Status{Name: "New", DefaultFlag: true, EscalationStatus: EscalationNotResponded, DisplayOnBoard: true},
		Status{Name: "In Progress", EscalationStatus: EscalationResponded, DisplayOnBoard: true},
		Status{Name: "Waiting", EscalationStatus: EscalationResolutionPlan, DisplayOnBoard: true},
		Status{Name: "Resolved", ClosedStatus: true, EscalationStatus: EscalationResolved},
		Status{Name: "Closed", ClosedStatus: true, EscalationStatus: EscalationNoEscalation},
	)
	st := d.BackupBoard.Statuses
	d.StatusNew, d.StatusInProgress, d.StatusWaiting, d.StatusResolved, d.StatusClosed = st[0].ID, st[1].ID, st[2].ID, st[3].ID, st[4].ID
	d.HelpDeskBoard = s.AddBoard(DemoHelpDeskBoard,
		Status{Name: "New", DefaultFlag: true, DisplayOnBoard: true},
		Status{Name: "In Progress", EscalationStatus: EscalationResponded, DisplayOnBoard: true},
		Status{Name: "Completed", ClosedStatus: true},
	)
	d.PriorityNormal = s.AddPriority(DemoPriorityNormal).ID
	d.PriorityQuick = s.AddPriority(DemoPriorityQuick).ID
	bt, err := s.AddBoardType(d.BackupBoard.ID, DemoBoardType)
	if err != nil {
		return d, err
	}
	d.BackupTypeID = bt.ID
	ht, err := s.AddBoardType(d.HelpDeskBoard.ID, "Incident")
	if err != nil {
		return d, err
	}
	d.HelpDeskTypeID = ht.ID
	sol, err := s.AddManagementITSolution(DemoSolution)
	if err != nil {
		return d, err
	}
	d.SolutionID = sol.ID
	d.BackupStatsTypeID = s.AddConfigurationType(DemoConfigBackup).ID
	d.LicenseTypeID = s.AddConfigurationType(DemoConfigLicense).ID

	d.Products = map[string]int{}
	for _, p := range DemoCatalog() {
		prod, err := s.AddProduct(Product{
			Identifier:          p.Identifier,
			Description:         p.Description,
			CustomerDescription: fmt.Sprintf("%s, $%.2f per %s", p.Description, p.Price, singular(p.Unit)),
			Price:               p.Price,
			Cost:                p.Cost,
		})
		if err != nil {
			return d, err
		}
		d.Products[p.Identifier] = prod.ID
	}

	now := s.now()
	firstOfMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		dst              *DemoCompany
		identifier, name string
		managedID        string
	}{
		{&d.Acme, DemoAcmeIdentifier, "Acme Dental", DemoAcmeManagedID},
		{&d.Birch, DemoBirchIdentifier, "Birch Legal", DemoBirchManagedID},
		{&d.Cedar, DemoCedarIdentifier, "Cedar Clinic", ""},
	} {
		co := s.AddCompany(Company{Identifier: c.identifier, Name: c.name})
		*c.dst = DemoCompany{ID: co.ID, Identifier: co.Identifier, Name: co.Name, ManagedID: c.managedID}
		if c.managedID == "" {
			continue
		}
		for _, dt := range []string{DeviceTypeWorkstationsAndServers, DeviceTypeBackupStats} {
			row, err := s.AddManagementSummary(co.ID, ManagementSummary{
				GroupIdentifier:    c.managedID,
				ManagementSolution: Ref{ID: sol.ID},
				DeviceType:         dt,
			})
			if err != nil {
				return d, err
			}
			c.dst.SummaryIDs = append(c.dst.SummaryIDs, row.ID)
		}
		ag, err := s.AddAgreement(Agreement{
			Name:             DemoAgreement,
			Type:             Ref{ID: 1, Name: "Managed Services"},
			Company:          Ref{ID: co.ID},
			AgreementStatus:  AgreementActive,
			StartDate:        formatTime(firstOfMonth.AddDate(-1, 0, 0)),
			NoEndingDateFlag: true,
		})
		if err != nil {
			return d, err
		}
		c.dst.AgreementID = ag.ID
		c.dst.Additions = map[string]int{}
		for _, pid := range demoAdditionProducts {
			a := Addition{
				Product:       Ref{ID: d.Products[pid]},
				BillCustomer:  BillBillable,
				EffectiveDate: formatTime(firstOfMonth),
				SerialNumber:  c.managedID,
			}
			if pid == ProductSelectGB {
				a.LessIncluded = demoSelectIncluded
			}
			add, err := s.AddAddition(ag.ID, a)
			if err != nil {
				return d, err
			}
			c.dst.Additions[pid] = add.ID
		}
	}
	return d, nil
}

func singular(unit string) string {
	switch unit {
	case "servers":
		return "server"
	case "desktops":
		return "desktop"
	case "licenses":
		return "license"
	case "mailboxes":
		return "mailbox"
	}
	return unit
}
