package datasync

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/usage"
)

// cwDate is ConnectWise's date format.
const cwDate = "2006-01-02T15:04:05Z"

// Limits of a configuration.
const (
	maxConfigurationName   = 100
	maxConfigurationSerial = 250
)

// intField is one integer field of a record: its JSON name and the wanted
// value.
type intField struct {
	name string
	val  int
}

// statistics updates (or creates) the company's BackupStats row for the
// managed ID. A new row takes the management solution of the managed ID's
// WorkstationsAndServers row (the guide enters that row first, with the
// eFolder solution), else of any row of the managed ID, else of any
// BackupStats row of the company. When the managed ID has two BackupStats
// rows the first entered (lowest id) is kept up to date.
func (s *syncer) statistics(ctx context.Context) error {
	r := s.r
	rows, err := listAll(s, connectwise.ListOptions{}, func(o *connectwise.ListOptions) ([]connectwise.ManagementSummary, *connectwise.Response, error) {
		return r.CW.Companies.ListManagementSummaries(ctx, r.CompanyID, o)
	})
	if err != nil {
		return fmt.Errorf("read the management rows of company %d: %w", r.CompanyID, err)
	}
	f := r.Figures
	want := []intField{
		{name: "successfulBackupJobs", val: f.Successes},
		{name: "failedBackupJobs", val: f.Failures},
		{name: "totalServers", val: f.Servers},
		{name: "totalWorkstations", val: f.Workstations},
		{name: "totalManagedMachines", val: f.Servers + f.Workstations},
	}
	var row *connectwise.ManagementSummary
	for i := range rows {
		if rows[i].GroupIdentifier == r.ManagedID && rows[i].DeviceType == connectwise.BackupStats &&
			(row == nil || rows[i].ID < row.ID) {
			row = &rows[i]
		}
	}
	if row == nil {
		return s.createStatsRow(ctx, rows, want)
	}
	cur := []int{row.SuccessfulBackupJobs, row.FailedBackupJobs, row.TotalServers, row.TotalWorkstations, row.TotalManagedMachines}
	target := fmt.Sprintf("management summary %d (%s, BackupStats) of company %d", row.ID, r.ManagedID, r.CompanyID)
	var ops []connectwise.PatchOp
	var changes []Change
	for i, w := range want {
		if cur[i] != w.val {
			ops = append(ops, connectwise.Replace(w.name, w.val))
			changes = append(changes, Change{What: WhatStatistics, Target: target, Field: w.name, From: cur[i], To: w.val})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	if !r.DryRun {
		err := s.call(func() error {
			_, _, err := r.CW.Companies.PatchManagementSummary(ctx, r.CompanyID, row.ID, ops)
			return err
		})
		if err != nil {
			return s.writeFailed(WhatStatistics, target, err)
		}
	}
	s.res.Changes = append(s.res.Changes, changes...)
	return nil
}

func (s *syncer) createStatsRow(ctx context.Context, rows []connectwise.ManagementSummary, want []intField) error {
	r := s.r
	target := fmt.Sprintf("new management summary (%s, BackupStats) of company %d", r.ManagedID, r.CompanyID)
	solution := statsSolution(rows, r.ManagedID)
	if solution == nil {
		s.fail(WhatStatistics, outcome.CodeManagementSolution,
			fmt.Sprintf("company %d has no management row naming a management solution, so its BackupStats row for %s cannot be created", r.CompanyID, r.ManagedID),
			fmt.Sprintf("on the company's Management tab add the managed ID %s with the eFolder management solution twice, device type Workstations and Servers first and Backup Stats second (the guide's per-company setup), then reprocess", r.ManagedID))
		return nil
	}
	m := &connectwise.ManagementSummary{
		GroupIdentifier:      r.ManagedID,
		ManagementSolution:   &connectwise.Reference{ID: solution.ID},
		DeviceType:           connectwise.BackupStats,
		SuccessfulBackupJobs: want[0].val,
		FailedBackupJobs:     want[1].val,
		TotalServers:         want[2].val,
		TotalWorkstations:    want[3].val,
		TotalManagedMachines: want[4].val,
	}
	if !r.DryRun {
		err := s.call(func() error {
			_, _, err := r.CW.Companies.CreateManagementSummary(ctx, r.CompanyID, m)
			return err
		})
		if err != nil {
			return s.writeFailed(WhatStatistics, target, err)
		}
	}
	s.change(Change{What: WhatStatistics, Target: target, Field: "groupIdentifier", To: r.ManagedID, Created: true})
	s.change(Change{What: WhatStatistics, Target: target, Field: "deviceType", To: connectwise.BackupStats, Created: true})
	s.change(Change{What: WhatStatistics, Target: target, Field: "managementSolution", To: solution.ID, Created: true})
	for _, w := range want {
		s.change(Change{What: WhatStatistics, Target: target, Field: w.name, To: w.val, Created: true})
	}
	return nil
}

// statsSolution picks the management solution of a new BackupStats row.
func statsSolution(rows []connectwise.ManagementSummary, managedID string) *connectwise.Reference {
	for _, pass := range []func(connectwise.ManagementSummary) bool{
		func(m connectwise.ManagementSummary) bool {
			return m.GroupIdentifier == managedID && m.DeviceType == connectwise.WorkstationsAndServers
		},
		func(m connectwise.ManagementSummary) bool { return m.GroupIdentifier == managedID },
		func(m connectwise.ManagementSummary) bool { return m.DeviceType == connectwise.BackupStats },
	} {
		for _, m := range rows {
			if pass(m) && m.ManagementSolution != nil && m.ManagementSolution.ID > 0 {
				return m.ManagementSolution
			}
		}
	}
	return nil
}

// ConfigurationSerial is the serial number of an account's configuration:
// "<managed ID>/<account id>", unique per account and found with one
// `serialNumber like "<managed ID>/*"` query per customer.
func ConfigurationSerial(managedID, accountID string) string { return managedID + "/" + accountID }

// configWant is what an account's configuration should hold.
type configWant struct {
	account    usage.Account
	serial     string
	name       string
	successes  int
	failures   int
	lastBackup time.Time // zero: no backup yet, left as it is
	gb         float64
}

func (s *syncer) wantConfig(a usage.Account) configWant {
	w := configWant{
		account: a,
		serial:  ConfigurationSerial(s.r.ManagedID, a.AccountID),
		name:    truncate(oneLine(a.Name), maxConfigurationName),
		gb:      round2(a.OnlineGB),
	}
	if w.name == "" {
		w.name = truncate(a.AccountID, maxConfigurationName)
	}
	// The counts belong to the account's period; counts of a period older
	// than the customer's newest one are last month's, not this month's.
	if a.Period == s.r.Figures.Period {
		w.successes, w.failures = a.Successes, a.Failures
	}
	if !a.LastBackupAt.IsZero() {
		w.lastBackup = a.LastBackupAt.UTC().Truncate(time.Second)
	}
	return w
}

// configurations brings each account's configuration up to date, creating
// the missing ones. The name is set when the configuration is created and
// never changed afterwards (a person may rename it); configurations of
// accounts the provider no longer reports are left alone.
func (s *syncer) configurations(ctx context.Context) error {
	r := s.r
	if len(r.Figures.Accounts) == 0 {
		return nil
	}
	cond, err := connectwise.Build(connectwise.And(
		connectwise.Eq("company/id", r.CompanyID),
		connectwise.LikePrefix("serialNumber", r.ManagedID+"/"),
	))
	if err != nil {
		return fmt.Errorf("configurations of %s: %w", r.ManagedID, err)
	}
	existing, err := listAll(s, connectwise.ListOptions{Conditions: cond, OrderBy: "id asc"}, func(o *connectwise.ListOptions) ([]connectwise.Configuration, *connectwise.Response, error) {
		return r.CW.Configurations.List(ctx, o)
	})
	if err != nil {
		return fmt.Errorf("read the configurations of company %d: %w", r.CompanyID, err)
	}
	bySerial := map[string][]connectwise.Configuration{}
	for _, c := range existing {
		k := strings.TrimSpace(c.SerialNumber)
		bySerial[k] = append(bySerial[k], c)
	}
	typeID := 0 // looked up on the first create; -1: missing (reported)
	for _, a := range r.Figures.Accounts {
		w := s.wantConfig(a)
		found := bySerial[w.serial]
		switch len(found) {
		case 0:
			if typeID == 0 {
				if typeID, err = s.configType(ctx); err != nil {
					return err
				}
			}
			if typeID < 0 {
				continue
			}
			if err := s.createConfig(ctx, w, typeID); err != nil {
				return err
			}
		case 1:
			if err := s.patchConfig(ctx, w, found[0]); err != nil {
				return err
			}
		default:
			s.fail(WhatConfiguration, outcome.CodeConfigDuplicate,
				fmt.Sprintf("configurations %d and %d of company %d both have the serial number %s of account %s", found[0].ID, found[1].ID, r.CompanyID, w.serial, a.AccountID),
				fmt.Sprintf("delete (or change the serial number of) all but one configuration with serial number %s, then reprocess", w.serial))
		}
	}
	return nil
}

// configType returns the id of the "Backup Stats" configuration type, or -1
// after reporting that it is missing.
func (s *syncer) configType(ctx context.Context) (int, error) {
	cond, err := connectwise.Build(connectwise.Eq("name", ConfigurationTypeName))
	if err != nil {
		return 0, fmt.Errorf("configuration type conditions: %w", err)
	}
	var types []connectwise.ConfigurationType
	err = s.call(func() (err error) {
		types, _, err = s.r.CW.Configurations.Types(ctx, &connectwise.ListOptions{Conditions: cond, PageSize: 25})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("read the configuration type %q: %w", ConfigurationTypeName, err)
	}
	inactive := false
	for _, t := range types {
		if strings.EqualFold(strings.TrimSpace(t.Name), ConfigurationTypeName) {
			if !t.InactiveFlag {
				return t.ID, nil
			}
			inactive = true
		}
	}
	problem := "does not exist"
	if inactive {
		problem = "is inactive"
	}
	s.fail(WhatConfiguration, outcome.CodeConfigTypeNotFound,
		fmt.Sprintf("the configuration type %q %s, so the backup configurations of %s cannot be created", ConfigurationTypeName, problem, s.r.ManagedID),
		fmt.Sprintf("in ConnectWise create (or activate) the configuration type %q (Setup Tables > Configuration Types; the guide's Figure 8), then reprocess", ConfigurationTypeName))
	return -1, nil
}

func (s *syncer) createConfig(ctx context.Context, w configWant, typeID int) error {
	r := s.r
	target := fmt.Sprintf("new configuration %s", w.serial)
	cfg := &connectwise.Configuration{
		Name:                  w.name,
		Type:                  &connectwise.Reference{ID: typeID},
		Company:               &connectwise.Reference{ID: r.CompanyID},
		SerialNumber:          truncate(w.serial, maxConfigurationSerial),
		BackupSuccesses:       w.successes,
		BackupFailed:          w.failures,
		BackupBillableSpaceGb: w.gb,
	}
	if !w.lastBackup.IsZero() {
		cfg.LastBackupDate = w.lastBackup.Format(cwDate)
	}
	if !r.DryRun {
		err := s.call(func() error {
			_, _, err := r.CW.Configurations.Create(ctx, cfg)
			return err
		})
		if err != nil {
			return s.writeFailed(WhatConfiguration, target, err)
		}
	}
	add := func(field string, v any) {
		s.change(Change{What: WhatConfiguration, Target: target, Field: field, To: v, Created: true})
	}
	add("name", cfg.Name)
	add("type", ConfigurationTypeName)
	add("serialNumber", cfg.SerialNumber)
	add("backupSuccesses", cfg.BackupSuccesses)
	add("backupFailed", cfg.BackupFailed)
	if cfg.LastBackupDate != "" {
		add("lastBackupDate", cfg.LastBackupDate)
	}
	add("backupBillableSpaceGb", cfg.BackupBillableSpaceGb)
	return nil
}

func (s *syncer) patchConfig(ctx context.Context, w configWant, c connectwise.Configuration) error {
	r := s.r
	target := fmt.Sprintf("configuration %d (%s)", c.ID, w.serial)
	var ops []connectwise.PatchOp
	var changes []Change
	set := func(field string, from, to any) {
		ops = append(ops, connectwise.Replace(field, to))
		changes = append(changes, Change{What: WhatConfiguration, Target: target, Field: field, From: from, To: to})
	}
	if c.BackupSuccesses != w.successes {
		set("backupSuccesses", c.BackupSuccesses, w.successes)
	}
	if c.BackupFailed != w.failures {
		set("backupFailed", c.BackupFailed, w.failures)
	}
	if !w.lastBackup.IsZero() {
		cur, err := time.Parse(time.RFC3339, c.LastBackupDate)
		if err != nil || !cur.Equal(w.lastBackup) {
			set("lastBackupDate", c.LastBackupDate, w.lastBackup.Format(cwDate))
		}
	}
	if !sameFloat(c.BackupBillableSpaceGb, w.gb) {
		set("backupBillableSpaceGb", c.BackupBillableSpaceGb, w.gb)
	}
	if len(ops) == 0 {
		return nil
	}
	if !r.DryRun {
		err := s.call(func() error {
			_, _, err := r.CW.Configurations.Patch(ctx, c.ID, ops)
			return err
		})
		if err != nil {
			return s.writeFailed(WhatConfiguration, target, err)
		}
	}
	s.res.Changes = append(s.res.Changes, changes...)
	return nil
}

// truncate keeps at most n characters of s.
func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}
