package queue_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
	"github.com/efs-cw/backupbridge/internal/queue"
)

// The Router sends sync jobs to the sync queue and every other job to the
// events queue, one at a time and in batches; without a sync queue,
// everything goes to the events queue.
func TestRouterSendsEachJobToItsQueue(t *testing.T) {
	st := localtest.Stack(t)
	ctx := context.Background()
	events, syncs := st.QueueURLs["EventsQueue"], st.QueueURLs["SyncQueue"]
	if events == "" || syncs == "" {
		t.Fatalf("the template's queues: %v", st.QueueURLs)
	}
	depth := func(url string) int {
		t.Helper()
		out, err := st.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
		return n
	}
	msg := func(job queue.Job, i int) queue.Message {
		return queue.Message{Version: queue.MessageVersion, Job: job, PartnerID: "p", EventID: "e" + strconv.Itoa(i), CustomerID: "c"}
	}
	r := queue.RouterFor(st.SQS, events, syncs)
	if err := r.Enqueue(ctx, msg(queue.JobSync, 0)); err != nil {
		t.Fatal(err)
	}
	if err := r.Enqueue(ctx, msg(queue.JobEvent, 1)); err != nil {
		t.Fatal(err)
	}
	var batch []queue.Message
	for i := range 25 {
		job := queue.JobReprocess
		if i%5 == 0 {
			job = queue.JobSync
		}
		batch = append(batch, msg(job, 10+i))
	}
	if n, err := r.EnqueueBatch(ctx, batch); err != nil || n != 25 {
		t.Fatalf("EnqueueBatch = %d, %v; want 25 sent", n, err)
	}
	if e, s := depth(events), depth(syncs); e != 1+20 || s != 1+5 {
		t.Fatalf("events queue %d, sync queue %d; want 21 and 6", e, s)
	}
	// No sync queue: everything to the events queue.
	if err := queue.RouterFor(st.SQS, events, "").Enqueue(ctx, msg(queue.JobSync, 99)); err != nil {
		t.Fatal(err)
	}
	if e, s := depth(events), depth(syncs); e != 22 || s != 6 {
		t.Fatalf("without a sync queue: events queue %d, sync queue %d; want 22 and 6", e, s)
	}
}
