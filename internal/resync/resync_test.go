package resync_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/resync"
	"github.com/efs-cw/backupbridge/internal/syncslot"
	"github.com/efs-cw/backupbridge/internal/usage"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestResyncEnumeratesEveryCustomer registers customers across partners on
// the local servers (minidyn, goaws), runs the resync, and checks that every
// customer got exactly one sync job, sent in SendMessageBatch calls, while
// the heap stays flat (the walk is paged).
//
// The scripted load run of issue 4 (100,000 customers across 100 partners):
//
//	RESYNC_CUSTOMERS=100000 RESYNC_PARTNERS=100 go test -run TestResyncEnumeratesEveryCustomer -v -timeout 60m ./internal/resync/
func TestResyncEnumeratesEveryCustomer(t *testing.T) {
	customers := envInt("RESYNC_CUSTOMERS", 2000)
	partners := envInt("RESYNC_PARTNERS", 20)
	ctx := context.Background()
	st := localtest.Stack(t)
	tbl := st.Names["Table"]
	ps := &partner.Store{DB: st.DynamoDB, Table: tbl}
	us := &usage.Store{DB: st.DynamoDB, Table: tbl}
	for i := range partners {
		p := &partner.Partner{ID: fmt.Sprintf("p%03d", i), SiteURL: "https://cw.example.com", CompanyID: "x", Board: "B", NewStatus: "New"}
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := ps.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= customers {
					return
				}
				ev := &contract.Event{SpecVersion: "1.0", Type: contract.TypeNotification, OccurredAt: start, Customer: contract.Customer{ID: fmt.Sprintf("c%06d", i)}}
				if err := us.Record(ctx, fmt.Sprintf("p%03d", i%partners), ev); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("registered %d customers across %d partners in %s", customers, partners, time.Since(start).Round(time.Millisecond))

	// A tenth of the customers were synced an hour ago: their window is closed.
	slots := &syncslot.Slots{DB: st.DynamoDB, Table: tbl}
	closed := 0
	for i := 0; i < customers; i += 10 {
		o, sl, err := slots.Claim(ctx, fmt.Sprintf("p%03d", i%partners), fmt.Sprintf("c%06d", i), start.Add(-time.Hour), false)
		if err != nil || o != syncslot.Claimed {
			t.Fatalf("claim: %v %v", o, err)
		}
		if err := slots.Complete(ctx, sl, start.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		closed++
	}

	r := &resync.Resync{
		Partners:  ps,
		Log:       &eventlog.Log{DB: st.DynamoDB, Table: tbl},
		Queue:     &queue.SQS{Client: st.SQS, URL: st.QueueURLs["EventsQueue"]},
		Customers: slots,
		Now:       func() time.Time { return start },
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	t0 := time.Now()
	rep, err := r.Run(ctx)
	wall := time.Since(t0)
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resync of %d customers / %d partners: wall %s, peak heap in use %.1f MiB (%.1f MiB above the start), report %+v",
		customers, partners, wall.Round(time.Millisecond), float64(peak.Load())/(1<<20), float64(peak.Load()-min(peak.Load(), base.HeapInuse))/(1<<20), rep)

	if rep.Partners != partners || rep.Customers != customers || rep.Closed != closed || rep.Syncs != customers-closed || rep.Enqueued != rep.Syncs {
		t.Fatalf("report = %+v, want %d partners, %d customers, %d closed, %d syncs", rep, partners, customers, closed, customers-closed)
	}
	out, err := st.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(st.QueueURLs["EventsQueue"]),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)]); n != customers-closed {
		t.Fatalf("queue holds %d messages, want %d", n, customers-closed)
	}
}
