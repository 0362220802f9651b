package datasync

import (
	"testing"

	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/usage"
)

// A customer known only by notifications has no backup figures: they are
// not measured (so nothing is billed as zero); snapshot counts still are.
func TestNoAccountsMeansUnknownNotZero(t *testing.T) {
	five := 5
	f := Aggregate(nil, usage.Customer{ArchivingMailboxes: &five}, RoundUp)
	for _, svc := range []partner.BillingService{partner.BillOnlineSelectGB, partner.BillOnlineServers, partner.BillLocalStorageGB, partner.BillShadowProtectServers} {
		if f.Measured[svc] {
			t.Errorf("%s measured with no accounts", svc)
		}
	}
	if !f.Measured[partner.BillArchivingMailboxes] || f.Quantities[partner.BillArchivingMailboxes] != 5 {
		t.Errorf("snapshot mailboxes lost: %+v", f)
	}
}
