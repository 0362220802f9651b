package localstack_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/dev/localaws"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
)

// moveToDLQ does what the events queue's redrive policy does after
// maxReceiveCount receives: it takes the one message of the events queue
// (once it is visible again) and sends it, as it is, to the DLQ.
func (h *harness) moveToDLQ() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		out, err := h.st.AWS.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(h.st.QueueURL), MaxNumberOfMessages: 1, WaitTimeSeconds: 1})
		if err != nil {
			h.t.Fatalf("receive from the events queue: %v", err)
		}
		if len(out.Messages) == 0 {
			continue
		}
		msg := out.Messages[0]
		h.sendToDLQ(aws.ToString(msg.Body))
		if _, err := h.st.AWS.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(h.st.QueueURL), ReceiptHandle: msg.ReceiptHandle}); err != nil {
			h.t.Fatal(err)
		}
		return
	}
}

func (h *harness) sendToDLQ(body string) {
	h.t.Helper()
	if _, err := h.st.AWS.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(h.st.DLQURL), MessageBody: aws.String(body)}); err != nil {
		h.t.Fatalf("send to the DLQ: %v", err)
	}
}

// deadLettered is the demo partner's failed list through the operator API,
// its dead_lettered entries only.
func (h *harness) deadLettered() []eventlog.Entry {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.st.URL+"/v1/admin/partners/demo/events?failed=true&limit=500", nil)
	req.Header.Set("authorization", "Bearer "+h.st.OperatorToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var page eventlog.Page
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
		h.t.Fatalf("failed list: %d %v", resp.StatusCode, err)
	}
	var out []eventlog.Entry
	for _, e := range page.Entries {
		if e.Outcome == eventlog.OutcomeDeadLettered {
			out = append(out, e)
		}
	}
	return out
}

// An event that keeps failing reaches the DLQ; the DLQ's event source
// records it in the event log, with its last reason, once although SQS
// delivers it twice; the operator redrives it and it is processed once; a
// second redrive finds nothing.
func TestDeadLetterRecordedAndRedrivenOnce(t *testing.T) {
	h := start(t)
	ctx := context.Background()

	// A real attempt that fails transiently (ConnectWise answers 503 to
	// every create the client tries) leaves its reason on the claim.
	h.sim.Inject(cwsim.Fault{Method: "POST", Path: "/service/tickets", Status: http.StatusServiceUnavailable, Times: 4})
	id := h.send(h.failure("ACME-SRV01"))
	if res := h.pollOnce(); res.Received != 1 || len(res.Retried) != 1 {
		t.Fatalf("first attempt: %+v, want the message retried", res)
	}
	// The attempt also queued the customer's data sync as its own job, on
	// the sync queue.
	if res, err := h.st.SyncSource.PollOnce(context.Background()); err != nil || res.Received != 1 || len(res.Retried) != 0 {
		t.Fatalf("the sync job: %+v %v, want it received and done", res, err)
	}
	h.moveToDLQ()
	if n := h.queueDepth(h.st.QueueURL); n != 0 {
		t.Fatalf("events queue holds %d", n)
	}

	// The first recording's delete is lost (the invocation reports the
	// record failed), so SQS delivers it again.
	lost := *h.st.DeadLetterSource
	lost.WaitTime = -1
	lost.Handler = func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		resp, err := h.st.Service.Worker.Handle(ctx, ev)
		for _, r := range ev.Records {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		}
		return resp, err
	}
	if res, err := lost.PollOnce(ctx); err != nil || res.Received != 1 || len(res.Retried) != 1 {
		t.Fatalf("first recording: %+v %v", res, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for h.queueDepth(h.st.DLQURL) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the DLQ message was not recorded and deleted")
		}
		if _, err := h.st.DeadLetterSource.PollOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}

	dead := h.deadLettered()
	if len(dead) != 1 {
		t.Fatalf("dead-lettered entries = %+v, want exactly one", dead)
	}
	e := dead[0]
	if e.EventID != id || e.Code != outcome.CodeDeadLettered || e.CustomerID != "1001" || e.EventType != "backup.completed" || len(e.Event) == 0 || len(e.Queued) == 0 {
		t.Errorf("dead-lettered entry = %+v", e)
	}
	if !strings.Contains(e.Message, outcome.CodeUnavailable) || !strings.Contains(e.Message, "503") {
		t.Errorf("message %q does not give the last reason (%s, 503)", e.Message, outcome.CodeUnavailable)
	}
	if !strings.Contains(e.Remedy, "POST /v1/admin/partners/demo/dead-letters/redrive") {
		t.Errorf("remedy %q does not say how to redrive", e.Remedy)
	}
	if n := len(h.sim.Tickets()); n != 0 {
		t.Fatalf("tickets = %d before the redrive", n)
	}

	// The operator redrives it: one ticket.
	if code, b := h.operator(http.MethodPost, "/v1/admin/partners/demo/dead-letters/redrive", map[string]string{"eventId": id}); code != http.StatusAccepted || b["redriven"] != 1.0 {
		t.Fatalf("redrive: %d %v", code, b)
	}
	h.settle()
	h.only()
	if all, ok := createCalls(h.sim); all != 5 || ok != 1 {
		t.Errorf("create calls = %d (%d succeeded), want the 4 refused and 1", all, ok)
	}
	if opened := h.ticketEntries("opened"); len(opened) != 1 || opened[0].EventID != id {
		t.Errorf("opened entries = %+v, want one of %s", opened, id)
	}
	if dead := h.deadLettered(); len(dead) != 0 {
		t.Errorf("failed list still holds %+v", dead)
	}
	if code, b := h.operator(http.MethodPost, "/v1/admin/partners/demo/dead-letters/redrive", map[string]string{"eventId": id}); code != http.StatusNotFound {
		t.Errorf("second redrive: %d %v, want 404", code, b)
	}
	if code, b := h.operator(http.MethodPost, "/v1/admin/partners/demo/dead-letters/redrive", map[string]bool{"all": true}); code != http.StatusNotFound {
		t.Errorf("redrive all with nothing left: %d %v, want 404", code, b)
	}
	h.settle()
	h.only()

	// RunWorkers runs the DLQ's event source beside the events queue's.
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = h.st.RunWorkers(wctx) })
	probe, _ := json.Marshal(queue.Message{Version: queue.MessageVersion, Job: queue.JobProbe, PartnerID: partner.DemoPartnerID, EventID: "probe-dlq", ReceivedAt: h.clock.Now()})
	h.sendToDLQ(string(probe))
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if dead := h.deadLettered(); len(dead) == 1 && dead[0].EventID == "probe-dlq" && h.queueDepth(h.st.DLQURL) == 0 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the running workers did not record the probe's dead letter: %+v", h.deadLettered())
		}
	}
	cancel()
	wg.Wait()

	// Nothing is lost: what cannot be recorded stays in the DLQ.
	h.sendToDLQ("not a queue message")
	// A long poll the stopped workers left open in goaws may take the
	// message first (it is then invisible for the visibility timeout): poll
	// until it is received.
	var res localaws.Result
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; {
		res, err = h.st.DeadLetterSource.PollOnce(ctx)
		if err != nil || res.Received > 0 || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || res.Received != 1 || len(res.Retried) != 1 || len(res.Deleted) != 0 {
		t.Fatalf("undecodable dead letter: %+v %v, want it left in the DLQ", res, err)
	}
	// goaws's ApproximateNumberOfMessages counts the in-flight messages too
	// (queueDepth counts them twice).
	out, err := h.st.AWS.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(h.st.DLQURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		t.Fatal(err)
	}
	if n := out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)]; n != "1" {
		t.Errorf("DLQ holds %s messages, want the undecodable one", n)
	}
}
