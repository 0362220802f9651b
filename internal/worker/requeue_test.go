package worker

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

type recordingRequeuer struct{ handles []string }

func (r *recordingRequeuer) RetryIn(_ context.Context, receiptHandle string, _ time.Duration) error {
	r.handles = append(r.handles, receiptHandle)
	return nil
}

// A failed record is brought back through the queue it came from: the sync
// queue's records through SyncRequeue, every other through Requeue.
func TestRequeueGoesBackToTheRecordsQueue(t *testing.T) {
	evq, syncs := &recordingRequeuer{}, &recordingRequeuer{}
	w := &Worker{Requeue: evq, SyncRequeue: syncs, SyncQueueARN: "arn:aws:sqs:us-east-1:1:SyncQueue"}
	w.requeue(t.Context(), events.SQSMessage{ReceiptHandle: "from-sync", EventSourceARN: "arn:aws:sqs:us-east-1:1:SyncQueue",
		Attributes: map[string]string{"ApproximateReceiveCount": "2"}})
	w.requeue(t.Context(), events.SQSMessage{ReceiptHandle: "from-events", EventSourceARN: "arn:aws:sqs:us-east-1:1:EventsQueue",
		Attributes: map[string]string{"ApproximateReceiveCount": "1"}})
	if len(syncs.handles) != 1 || syncs.handles[0] != "from-sync" || len(evq.handles) != 1 || evq.handles[0] != "from-events" {
		t.Fatalf("sync requeues %v, events requeues %v", syncs.handles, evq.handles)
	}
}
