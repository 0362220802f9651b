package usage

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
)

// ops counts the DynamoDB operations a client sends, by name.
type ops struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *ops) take() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.n
	o.n = map[string]int{}
	return n
}

// storeOn is a Store on b, and the count of the operations it sends.
func storeOn(b localtest.Backend) (*Store, *ops) {
	o := &ops{n: map[string]int{}}
	counted := dynamodb.New(b.DB.Options(), func(opt *dynamodb.Options) {
		opt.APIOptions = append(opt.APIOptions, func(s *middleware.Stack) error {
			return s.Initialize.Add(middleware.InitializeMiddlewareFunc("countOps", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				o.mu.Lock()
				o.n[awsmiddleware.GetOperationName(ctx)]++
				o.mu.Unlock()
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
		})
	})
	return &Store{DB: counted, Table: b.Table}, o
}

func backupEvent(customer, account string, result contract.BackupResult, gb float64, at time.Time) *contract.Event {
	return &contract.Event{SpecVersion: "1.0", Type: contract.TypeBackupCompleted, OccurredAt: at,
		Customer: contract.Customer{ID: customer},
		Backup: &contract.BackupCompleted{Account: contract.Account{ID: account, Kind: contract.KindServer, Plan: contract.PlanSelect},
			Result: result, OnlineGB: gb, EndedAt: at}}
}

func writes(n map[string]int) int { return n["PutItem"] + n["UpdateItem"] + n["DeleteItem"] }

// A backup event is counted once however often it is recorded, with no
// claim of its own: the account item remembers the events it counted. The
// first event of a customer registers it (one put); later ones write only
// the account.
func TestBackupCountedOnceAndCustomerRegisteredOnce(t *testing.T) {
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		s, o := storeOn(b)
		ctx := t.Context()
		at := time.Date(2026, 11, 10, 10, 0, 0, 0, time.UTC)
		ev := backupEvent("C1", "SRV01", contract.ResultFailure, 12, at)
		if err := s.RecordEvent(ctx, "p", "p#e1", ev); err != nil {
			t.Fatal(err)
		}
		if got := o.take(); writes(got) != 2 {
			t.Errorf("first event of a customer: %v, want 2 writes (customer, account)", got)
		}
		for range 3 {
			if err := s.RecordEvent(ctx, "p", "p#e1", ev); err != nil {
				t.Fatal(err)
			}
		}
		if got := o.take(); writes(got) != 0 {
			t.Errorf("the same event again: %v, want no write", got)
		}
		if err := s.RecordEvent(ctx, "p", "p#e2", backupEvent("C1", "SRV01", contract.ResultSuccess, 13, at.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		if got := o.take(); writes(got) != 1 {
			t.Errorf("a new backup of a known account: %v, want 1 write", got)
		}
		_, accts, err := s.Load(ctx, "p", "C1")
		if err != nil {
			t.Fatal(err)
		}
		if len(accts) != 1 || accts[0].Failures != 1 || accts[0].Successes != 1 || accts[0].OnlineGB != 13 {
			t.Fatalf("accounts = %+v, want one failure and one success counted, 13 GB", accts)
		}
		// The account keeps only its newest AppliedKept ids.
		for i := range AppliedKept + 4 {
			if err := s.RecordEvent(ctx, "p", fmt.Sprintf("p#x%d", i), backupEvent("C1", "SRV01", contract.ResultSuccess, 13, at.Add(time.Duration(2+i)*time.Hour))); err != nil {
				t.Fatal(err)
			}
		}
		_, accts, _ = s.Load(ctx, "p", "C1")
		if n := len(accts[0].Applied); n != AppliedKept || accts[0].Applied[n-1] != fmt.Sprintf("p#x%d", AppliedKept+3) {
			t.Errorf("applied = %v, want the newest %d ids", accts[0].Applied, AppliedKept)
		}
		if accts[0].Successes != 1+AppliedKept+4 {
			t.Errorf("successes = %d, want %d", accts[0].Successes, 1+AppliedKept+4)
		}
	})
}

// Events that change nothing stored write nothing: a notification of a
// registered customer, a status repeated, a snapshot repeated.
func TestUnchangedEventsWriteNothing(t *testing.T) {
	localtest.EachBackend(t, func(t *testing.T, b localtest.Backend) {
		s, o := storeOn(b)
		ctx := t.Context()
		at := time.Date(2026, 11, 10, 10, 0, 0, 0, time.UTC)
		note := &contract.Event{SpecVersion: "1.0", Type: contract.TypeNotification, OccurredAt: at, Customer: contract.Customer{ID: "C2"}}
		status := &contract.Event{SpecVersion: "1.0", Type: contract.TypeServiceStatus, OccurredAt: at, Customer: contract.Customer{ID: "C2"},
			Status: &contract.ServiceStatus{Health: contract.HealthHealthy, Account: &contract.Account{ID: "WS1", Kind: contract.KindDesktop}}}
		five := 5
		snap := &contract.Event{SpecVersion: "1.0", Type: contract.TypeUsageSnapshot, OccurredAt: at, Customer: contract.Customer{ID: "C2"},
			Usage: &contract.UsageSnapshot{ArchivingMailboxes: &five}}
		for _, ev := range []*contract.Event{note, status, snap} {
			if err := s.RecordEvent(ctx, "p", "", ev); err != nil {
				t.Fatal(err)
			}
		}
		if got := o.take(); writes(got) != 3 {
			t.Errorf("first notification, status and snapshot: %v, want 3 writes (customer, account, snapshot)", got)
		}
		for _, ev := range []*contract.Event{note, status, snap} {
			if err := s.RecordEvent(ctx, "p", "", ev); err != nil {
				t.Fatal(err)
			}
		}
		if got := o.take(); writes(got) != 0 {
			t.Errorf("the same three again: %v, want no write", got)
		}
		c, _, err := s.Load(ctx, "p", "C2")
		if err != nil {
			t.Fatal(err)
		}
		if c.ArchivingMailboxes == nil || *c.ArchivingMailboxes != 5 {
			t.Errorf("customer = %+v, want 5 archiving mailboxes", c)
		}
	})
}
