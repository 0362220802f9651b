package managedid_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
	"github.com/efs-cw/backupbridge/internal/managedid"
)

func simClient(t *testing.T) (*cwsim.Sim, cwsim.Demo, *connectwise.Client) {
	t.Helper()
	sim := cwsim.New(cwsim.Options{})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	demo := cwsim.SeedDemo(sim)
	cw, err := connectwise.NewClient(context.Background(), connectwise.Options{
		SiteURL: sim.URL(), Codebase: cwsim.DefaultCodebase, HTTPClient: sim.Client(),
		Credentials: connectwise.Credentials{CompanyID: cwsim.DemoCompanyID, PublicKey: cwsim.DemoPublicKey, PrivateKey: cwsim.DemoPrivateKey, ClientID: cwsim.DemoClientID},
	})
	if err != nil {
		t.Fatal(err)
	}
	return sim, demo, cw
}

// A cold worker reuses the index another worker stored instead of reading
// every company again; a miss re-reads at most once per MissInterval;
// Forget forces a re-read.
func TestSharedIndexSavesColdWorkersTheScan(t *testing.T) {
	ctx := context.Background()
	sim, demo, cw := simClient(t)
	db, tbl := localtest.Table(t)
	shared := &managedid.DynamoStore{DB: db, Table: tbl}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }

	first := &managedid.Directory{Now: clock, Shared: shared, Key: "demo"}
	c, err := first.Lookup(ctx, cw, "EFS-1001")
	if err != nil || c.ID != demo.Acme.ID {
		t.Fatalf("lookup: %+v %v", c, err)
	}
	scan := len(sim.Calls())
	if scan < 2 {
		t.Fatalf("first lookup made %d calls; expected a scan", scan)
	}

	cold := &managedid.Directory{Now: clock, Shared: shared, Key: "demo"}
	if c, err := cold.Lookup(ctx, cw, "EFS-1002"); err != nil || c.ID != demo.Birch.ID {
		t.Fatalf("cold lookup: %+v %v", c, err)
	}
	if n := len(sim.Calls()) - scan; n != 0 {
		t.Fatalf("cold worker made %d ConnectWise calls, want 0 (shared index)", n)
	}

	// An unmapped customer: not linked, and no second scan within the miss interval.
	if _, err := cold.Lookup(ctx, cw, "EFS-1003"); !errors.Is(err, managedid.ErrNotLinked) {
		t.Fatalf("unmapped: %v", err)
	}
	if n := len(sim.Calls()) - scan; n != 0 {
		t.Fatalf("miss inside the miss interval made %d calls", n)
	}
	// The operator adds the mapping and reprocesses: Forget makes it visible.
	for _, dt := range []string{cwsim.DeviceTypeWorkstationsAndServers, cwsim.DeviceTypeBackupStats} {
		if _, err := sim.AddManagementSummary(demo.Cedar.ID, cwsim.ManagementSummary{GroupIdentifier: "EFS-1003", DeviceType: dt, ManagementSolution: cwsim.Ref{ID: demo.SolutionID}}); err != nil {
			t.Fatal(err)
		}
	}
	cold.Forget()
	if c, err := cold.Lookup(ctx, cw, "EFS-1003"); err != nil || c.ID != demo.Cedar.ID {
		t.Fatalf("after the fix: %+v %v", c, err)
	}
}
