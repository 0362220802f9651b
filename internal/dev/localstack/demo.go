package localstack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/tickets"
)

// Demo is the seeded demo partner and what the simulator holds for it.
type Demo struct {
	Partner *partner.Partner
	Secrets partner.Secrets
	Sim     cwsim.Demo
}

// DemoPartner is the demo partner's settings for a ConnectWise site at
// siteURL: the simulator's demo company, board "eFolder Backup" with status
// "New", every Figure 8 product cross-referenced, billing on for the services
// the demo agreements have additions for (DemoBilled), both default rules.
func DemoPartner(siteURL string) (*partner.Partner, partner.Secrets) {
	p := &partner.Partner{
		ID:        partner.DemoPartnerID,
		Name:      "Demo MSP",
		SiteURL:   siteURL,
		CompanyID: cwsim.DemoCompanyID,
		Codebase:  cwsim.DefaultCodebase,
		Board:     "eFolder Backup",
		NewStatus: "New",
		Priority:  "Priority 3 - Normal Response",
		Integration: partner.Integration{
			UpdateBackupStatistics:    true,
			UpdateInvoiceDescriptions: true,
		},
		Products: map[partner.BillingService]string{},
		Rules:    partner.DefaultRules(),
	}
	for svc, product := range DemoProducts {
		p.Products[svc] = product
	}
	p.Integration.Billing = append(p.Integration.Billing, DemoBilled...)
	s := partner.Secrets{
		PublicKey:      cwsim.DemoPublicKey,
		PrivateKey:     cwsim.DemoPrivateKey,
		ClientID:       cwsim.DemoClientID,
		WebhookSecrets: []string{partner.DemoWebhookSecret},
	}
	return p, s
}

// DemoProducts cross-references every billing service to the simulator's
// demo catalog.
var DemoProducts = map[partner.BillingService]string{
	partner.BillOnlineSelectGB:        "EFS-SELECT-GB",
	partner.BillOnlineBasicGB:         "EFS-BASIC-GB",
	partner.BillOnlineBDRGB:           "EFS-BDR-GB",
	partner.BillOnlineServers:         "EFS-ONLINE-SERVERS",
	partner.BillOnlineDesktops:        "EFS-ONLINE-DESKTOPS",
	partner.BillLocalStorageGB:        "EFS-LOCAL-GB",
	partner.BillLocalServers:          "EFS-LOCAL-SERVERS",
	partner.BillLocalDesktops:         "EFS-LOCAL-DESKTOPS",
	partner.BillShadowProtectServers:  "EFS-SP-SERVERS",
	partner.BillShadowProtectDesktops: "EFS-SP-DESKTOPS",
	partner.BillArchivingMailboxes:    "EFS-ARCHIVE-MBX",
	partner.BillFilteringMailboxes:    "EFS-FILTER-MBX",
}

// DemoBilled are the billing services the demo agreements have additions for.
var DemoBilled = []partner.BillingService{
	partner.BillOnlineSelectGB, partner.BillOnlineServers, partner.BillOnlineDesktops, partner.BillArchivingMailboxes,
}

// SeedDemo fills the simulator with the demo site and stores the demo
// partner (settings in DynamoDB, secrets in the local secrets file).
func SeedDemo(ctx context.Context, sim *cwsim.Sim, svc *Service) (*Demo, error) {
	d := &Demo{Sim: cwsim.SeedDemo(sim)}
	d.Partner, d.Secrets = DemoPartner(sim.URL())
	if err := d.Partner.Validate(connectwise.SitePolicy{AllowLoopback: true}); err != nil { // the simulator is on loopback
		return nil, fmt.Errorf("demo partner: %w", err)
	}
	if err := svc.Secrets.PutSecrets(ctx, d.Partner.ID, d.Secrets); err != nil {
		return nil, fmt.Errorf("store demo secrets: %w", err)
	}
	if err := svc.Partners.Create(ctx, d.Partner); err != nil && !errors.Is(err, partner.ErrExists) {
		return nil, fmt.Errorf("store demo partner: %w", err)
	}
	return d, nil
}

// DemoCustomers are the demo site's customers with managed IDs, and one
// company without (Cedar Clinic, to show the management ID error).
var DemoCustomers = []contract.Customer{
	{ID: "1001", Name: "Acme Dental"},
	{ID: "1002", Name: "Birch Legal"},
}

// RegisterCallback registers the demo partner's ConnectWise callback at
// the simulator, pointing at the local stack's baseURL.
func (d *Demo) RegisterCallback(ctx context.Context, sim *cwsim.Sim, svc *Service, baseURL string) error {
	opts, err := d.Partner.ClientOptions(d.Secrets)
	if err != nil {
		return err
	}
	opts.HTTPClient = sim.Client()
	cw, err := connectwise.NewClient(ctx, opts)
	if err != nil {
		return err
	}
	board, err := (&tickets.Boards{}).Configured(ctx, cw, d.Partner)
	if err != nil {
		return fmt.Errorf("demo board: %w", err)
	}
	if _, err := svc.Admin.Callbacks.Register(ctx, cw, d.Partner.ID, board.ID, baseURL, time.Now()); err != nil {
		return fmt.Errorf("register the demo callback: %w", err)
	}
	return nil
}
