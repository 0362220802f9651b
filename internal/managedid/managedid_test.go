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

// The issue-10 lookups: a customer's mapping is kept with no expiry and
// checked with one call by a cold worker; an old index is checked entry by
// entry instead of scanned again; a mapping whose company lost the managed
// ID (a person moved it) is dropped and the scan finds the new company; a
// miss scans at most once per MissInterval.
func TestMappingsSpareTheScan(t *testing.T) {
	ctx := context.Background()
	sim, demo, cw := simClient(t)
	db, tbl := localtest.Table(t)
	shared := &managedid.DynamoStore{DB: db, Table: tbl}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	calls := func() int { return len(sim.Calls()) }

	first := &managedid.Directory{Now: clock, Shared: shared, Key: "demo"}
	if c, err := first.Lookup(ctx, cw, "EFS-1001"); err != nil || c.ID != demo.Acme.ID {
		t.Fatalf("lookup: %+v %v", c, err)
	}
	if _, found, err := shared.LoadMapping(ctx, "demo", "EFS-1001"); err != nil || !found {
		t.Fatalf("the mapping was not stored: %v", err)
	}
	// Same Directory: no call.
	n := calls()
	if _, err := first.Lookup(ctx, cw, "EFS-1001"); err != nil || calls() != n {
		t.Fatalf("a known mapping made %d calls (%v)", calls()-n, err)
	}

	// A day later (the index long past its TTL), a cold worker: one check.
	now = now.Add(24 * time.Hour)
	cold := &managedid.Directory{Now: clock, Shared: shared, Key: "demo"}
	n = calls()
	if c, err := cold.Lookup(ctx, cw, "EFS-1001"); err != nil || c.ID != demo.Acme.ID {
		t.Fatalf("cold lookup: %+v %v", c, err)
	}
	if got := calls() - n; got != 1 {
		t.Errorf("cold worker, stored mapping: %d calls, want 1 (the check)", got)
	}
	// A customer with no mapping yet, the index old: one check of its entry.
	n = calls()
	if c, err := cold.Lookup(ctx, cw, "EFS-1002"); err != nil || c.ID != demo.Birch.ID {
		t.Fatalf("old index lookup: %+v %v", c, err)
	}
	if got := calls() - n; got != 1 {
		t.Errorf("old index entry: %d calls, want 1 (the check)", got)
	}

	// A person moves EFS-1001 from Acme to Cedar.
	for _, m := range sim.ManagementSummaries(demo.Acme.ID) {
		if m.GroupIdentifier == "EFS-1001" {
			if _, _, err := cw.Companies.PatchManagementSummary(ctx, demo.Acme.ID, m.ID, []connectwise.PatchOp{connectwise.Replace("groupIdentifier", "EFS-OLD-1001")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := sim.AddManagementSummary(demo.Cedar.ID, cwsim.ManagementSummary{GroupIdentifier: "EFS-1001", DeviceType: cwsim.DeviceTypeBackupStats, ManagementSolution: cwsim.Ref{ID: demo.SolutionID}}); err != nil {
		t.Fatal(err)
	}
	moved := &managedid.Directory{Now: clock, Shared: shared, Key: "demo"}
	if c, err := moved.Lookup(ctx, cw, "EFS-1001"); err != nil || c.ID != demo.Cedar.ID {
		t.Fatalf("after the move: %+v %v, want Cedar %d", c, err, demo.Cedar.ID)
	}
	if c, found, _ := shared.LoadMapping(ctx, "demo", "EFS-1001"); !found || c.ID != demo.Cedar.ID {
		t.Errorf("stored mapping after the move = %+v (found %v), want Cedar", c, found)
	}

	// Unmapped: the move's scan is fresh, so no call; once the miss
	// interval has passed, one scan, then no call from another worker.
	n = calls()
	if _, err := moved.Lookup(ctx, cw, "EFS-9999"); !errors.Is(err, managedid.ErrNotLinked) || calls() != n {
		t.Fatalf("unmapped right after a scan: %v, %d calls", err, calls()-n)
	}
	now = now.Add(6 * time.Minute)
	if _, err := moved.Lookup(ctx, cw, "EFS-9999"); !errors.Is(err, managedid.ErrNotLinked) || calls() < n+2 {
		t.Fatalf("unmapped after the miss interval: %v, %d calls, want a scan", err, calls()-n)
	}
	other := &managedid.Directory{Now: clock, Shared: shared, Key: "demo"}
	n = calls()
	if _, err := other.Lookup(ctx, cw, "EFS-9999"); !errors.Is(err, managedid.ErrNotLinked) {
		t.Fatalf("unmapped, other worker: %v", err)
	}
	if got := calls() - n; got != 0 {
		t.Errorf("a second miss within the miss interval (another worker) made %d calls", got)
	}
}
