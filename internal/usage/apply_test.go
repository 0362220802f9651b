package usage

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/contract"
)

func backup(result contract.BackupResult, gb float64, at time.Time) *contract.BackupCompleted {
	return &contract.BackupCompleted{
		Account: contract.Account{ID: "A1", Name: "srv", Kind: contract.KindServer, Plan: contract.PlanSelect},
		Result:  result, EndedAt: at, OnlineGB: gb, LocalGB: gb * 2,
	}
}

func TestOlderBackupDoesNotOverwriteNewerFigures(t *testing.T) {
	t0 := time.Date(2026, 11, 10, 3, 0, 0, 0, time.UTC)
	a := ApplyBackup(Account{}, backup(contract.ResultSuccess, 200, t0.Add(time.Hour)), t0.Add(time.Hour))
	a = ApplyBackup(a, backup(contract.ResultFailure, 100, t0), t0) // delivered late
	if a.OnlineGB != 200 || a.LastResult != contract.ResultSuccess || !a.LastBackupAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("older event overwrote newer figures: %+v", a)
	}
	if a.Successes != 1 || a.Failures != 1 {
		t.Fatalf("counts = %d/%d, want 1/1 (every backup of the period counts)", a.Successes, a.Failures)
	}
}

func TestNewMonthRestartsCounts(t *testing.T) {
	oct := time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC)
	nov := time.Date(2026, 11, 1, 1, 0, 0, 0, time.UTC)
	a := ApplyBackup(Account{}, backup(contract.ResultFailure, 1, oct), oct)
	a = ApplyBackup(a, backup(contract.ResultSuccess, 2, nov), nov)
	if a.Period != "2026-11" || a.Successes != 1 || a.Failures != 0 {
		t.Fatalf("after the month turned: %+v", a)
	}
	// A late October backup neither counts in November nor changes figures.
	b := ApplyBackup(a, backup(contract.ResultFailure, 9, oct.Add(-time.Hour)), oct.Add(-time.Hour))
	if !reflect.DeepEqual(b, a) {
		t.Fatalf("late backup of an earlier period changed state: %+v", b)
	}
}

// Whatever order a set of backups of one period arrives in, the final state
// is the same: counts are the totals and the figures are the newest event's.
func TestApplyBackupIsOrderIndependent(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for trial := 0; trial < 200; trial++ {
		n := 1 + r.IntN(12)
		type ev struct {
			b  *contract.BackupCompleted
			at time.Time
		}
		evs := make([]ev, n)
		succ, fail := 0, 0
		newest := 0
		for i := range evs {
			at := base.Add(time.Duration(r.IntN(20*24)) * time.Hour).Add(time.Duration(i) * time.Second)
			res := contract.ResultSuccess
			if r.IntN(3) == 0 {
				res, fail = contract.ResultFailure, fail+1
			} else {
				succ++
			}
			evs[i] = ev{backup(res, float64(r.IntN(1000)), at), at}
			if at.After(evs[newest].at) {
				newest = i
			}
		}
		var a Account
		for _, i := range r.Perm(n) {
			a = ApplyBackup(a, evs[i].b, evs[i].at)
		}
		if a.Successes != succ || a.Failures != fail {
			t.Fatalf("trial %d: counts %d/%d, want %d/%d", trial, a.Successes, a.Failures, succ, fail)
		}
		if a.OnlineGB != evs[newest].b.OnlineGB || !a.AsOf.Equal(evs[newest].at) {
			t.Fatalf("trial %d: figures from %v, want the newest event's %v", trial, a.AsOf, evs[newest].at)
		}
	}
}

func TestSnapshotKeepsUnreportedAndRefusesOlder(t *testing.T) {
	t0 := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	five, seven := 5, 7
	c := ApplySnapshot(Customer{}, &contract.UsageSnapshot{ArchivingMailboxes: &five, FilteringMailboxes: &seven}, t0)
	three := 3
	c = ApplySnapshot(c, &contract.UsageSnapshot{ArchivingMailboxes: &three}, t0.Add(time.Hour))
	if *c.ArchivingMailboxes != 3 || *c.FilteringMailboxes != 7 {
		t.Fatalf("snapshot merge: %+v", c)
	}
	nine := 9
	c2 := ApplySnapshot(c, &contract.UsageSnapshot{ArchivingMailboxes: &nine}, t0)
	if *c2.ArchivingMailboxes != 3 {
		t.Fatal("an older snapshot overwrote a newer one")
	}
}
