package datasync_test

import (
	"fmt"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/datasync"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/usage"
)

// Aggregate a customer's accounts into the quantities billed: GB summed per
// plan and then rounded up, machines counted by kind, mailboxes only when the
// provider reported them.
func ExampleAggregate() {
	accts := []usage.Account{
		{AccountID: "ACME-SRV01", Name: "File server", Kind: contract.KindServer, Plan: contract.PlanSelect, OnlineGB: 120.4},
		{AccountID: "ACME-PC01", Name: "Reception PC", Kind: contract.KindDesktop, Plan: contract.PlanSelect, OnlineGB: 10.25},
	}
	f := datasync.Aggregate(accts, usage.Customer{}, datasync.RoundUp)
	fmt.Println("Select GB:", f.Quantities[partner.BillOnlineSelectGB])
	fmt.Println("servers:", f.Quantities[partner.BillOnlineServers], "desktops:", f.Quantities[partner.BillOnlineDesktops])
	fmt.Println("archiving mailboxes measured:", f.Measured[partner.BillArchivingMailboxes])
	fmt.Println(datasync.InvoiceDescription(partner.BillOnlineSelectGB, f))
	// Output:
	// Select GB: 131
	// servers: 1 desktops: 1
	// archiving mailboxes measured: false
	// Reception PC (ACME-PC01), Select: 10.25 GB
	// File server (ACME-SRV01), Select: 120.4 GB
}
