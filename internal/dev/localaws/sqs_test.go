package localaws_test

import (
	"context"
	"crypto/md5"
	"debug/buildinfo"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/efs-cw/backupbridge/internal/dev/localaws"
	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
	"github.com/efs-cw/backupbridge/internal/dev/stackdef"
)

const maxReceives = 3

// queuePair starts goaws and creates a work queue redriving to a DLQ after
// maxReceives receives, with a 1-second visibility timeout instead of the
// template-like 360. The DLQ is listed last to check that it is created first.
func queuePair(t *testing.T, prefix string) (client *sqs.Client, urls, arns map[string]string) {
	t.Helper()
	ctx := testContext(t)
	srv := localtest.SQS(t)
	cfg, err := localaws.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	client = localaws.SQSClient(cfg, srv.Endpoint())
	st := &stackdef.Stack{Queues: []stackdef.Queue{
		{LogicalID: "Work", VisibilityTimeout: 360, MessageRetentionPeriod: 1209600, DeadLetterTarget: "DLQ", MaxReceiveCount: maxReceives},
		{LogicalID: "DLQ", MessageRetentionPeriod: 1209600},
	}}
	names := map[string]string{"Work": prefix + "-work", "DLQ": prefix + "-dlq"}
	urls, err = localaws.CreateQueues(ctx, client, st, names, map[string]int{"Work": 1})
	if err != nil {
		t.Fatalf("CreateQueues: %v", err)
	}
	arns = map[string]string{}
	for id, url := range urls {
		if arns[id], err = localaws.QueueARN(ctx, client, url); err != nil {
			t.Fatal(err)
		}
	}
	if want := srv.QueueARN(prefix + "-dlq"); arns["DLQ"] != want {
		t.Fatalf("DLQ ARN = %q, want %q", arns["DLQ"], want)
	}
	return client, urls, arns
}

// testLog writes to the test's output, shown when it fails or with -v.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func send(t *testing.T, c *sqs.Client, url string, bodies ...string) map[string]string {
	t.Helper()
	ids := map[string]string{} // body → message id
	for _, b := range bodies {
		out, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{
			QueueUrl:    aws.String(url),
			MessageBody: aws.String(b),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{
				"kind": {DataType: aws.String("String"), StringValue: aws.String("test")},
			},
		})
		if err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
		ids[b] = aws.ToString(out.MessageId)
	}
	return ids
}

func queueDepth(t *testing.T, c *sqs.Client, url string) (visible, hidden string) {
	t.Helper()
	out, err := c.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Attributes["ApproximateNumberOfMessages"], out.Attributes["ApproximateNumberOfMessagesNotVisible"]
}

func TestCreateQueuesSetsVisibilityAndRedrive(t *testing.T) {
	t.Parallel()
	c, urls, arns := queuePair(t, "attrs")
	out, err := c.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(urls["Work"]),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Attributes["VisibilityTimeout"]; got != "1" {
		t.Errorf("VisibilityTimeout = %q, want the override 1", got)
	}
	rp := out.Attributes["RedrivePolicy"]
	if !strings.Contains(rp, arns["DLQ"]) || !strings.Contains(rp, fmt.Sprint(maxReceives)) {
		t.Errorf("RedrivePolicy = %q, want the DLQ ARN %s and maxReceiveCount %d", rp, arns["DLQ"], maxReceives)
	}
	dlq, err := c.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(urls["DLQ"]),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameVisibilityTimeout},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := dlq.Attributes["VisibilityTimeout"]; got != "30" {
		t.Errorf("DLQ VisibilityTimeout = %q, want goaws's default 30", got)
	}
}

// TestGoawsListensOnLoopbackOnly lists the sockets listening on goaws's port
// (/proc/net/tcp and /proc/net/tcp6, and `ss -ltn` where it is installed) and
// checks that 127.0.0.1 is the only address: goaws has no authentication, so
// a port open on another interface would let any host queue events.
func TestGoawsListensOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	srv := localtest.SQS(t)
	u, err := url.Parse(srv.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("endpoint %s has no port: %v", srv.Endpoint(), err)
	}
	addrs, err := localaws.ListeningAddrs(port)
	if errors.Is(err, localaws.ErrSocketsUnlisted) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) == 0 {
		t.Fatalf("no socket listens on goaws's port %d (the socket list is misread)", port)
	}
	for _, a := range addrs {
		if a != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("goaws's port %d is open on %s; want 127.0.0.1 only", port, a)
		}
	}

	// The same, as ss(8) reports it.
	ss, err := exec.LookPath("ss")
	if err != nil {
		t.Logf("ss is not installed; checked /proc/net only")
		return
	}
	out, err := exec.CommandContext(t.Context(), ss, "-H", "-l", "-t", "-n", fmt.Sprintf("sport = :%d", port)).Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatalf("ss lists no socket on port %d", port)
	}
	for _, line := range lines {
		f := strings.Fields(line) // State Recv-Q Send-Q Local Peer
		if len(f) < 5 || f[3] != fmt.Sprintf("127.0.0.1:%d", port) {
			t.Errorf("ss: %q; want only 127.0.0.1:%d", line, port)
		}
	}
}

// TestListeningAddrsReadsBothFamilies checks the socket list against
// listeners whose addresses are known: 127.0.0.1 and, where the machine has
// IPv6, ::1.
func TestListeningAddrsReadsBothFamilies(t *testing.T) {
	t.Parallel()
	for _, network := range []string{"tcp4", "tcp6"} {
		host := map[string]string{"tcp4": "127.0.0.1", "tcp6": "::1"}[network]
		l, err := net.Listen(network, net.JoinHostPort(host, "0"))
		if err != nil {
			if network == "tcp6" {
				t.Logf("no IPv6 loopback: %v", err)
				continue
			}
			t.Fatal(err)
		}
		defer l.Close()
		addr := l.Addr().(*net.TCPAddr)
		got, err := localaws.ListeningAddrs(addr.Port)
		if errors.Is(err, localaws.ErrSocketsUnlisted) {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		if want := netip.MustParseAddr(host); !slices.Equal(got, []netip.Addr{want}) {
			t.Errorf("%s listener on %s: ListeningAddrs = %v, want [%s]", network, addr, got, want)
		}
	}
}

// TestGoawsIsThePinnedLoopbackBuild checks what EnsureGoaws runs: the
// loopback-only command of this module, built with goaws GoawsVersion.
func TestGoawsIsThePinnedLoopbackBuild(t *testing.T) {
	t.Parallel()
	if os.Getenv(localaws.GoawsBinEnv) != "" {
		t.Skipf("$%s chooses the binary", localaws.GoawsBinEnv)
	}
	bin, err := localaws.EnsureGoaws(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if bi.Path != localaws.GoawsCommand {
		t.Errorf("%s is %s, want %s", bin, bi.Path, localaws.GoawsCommand)
	}
	i := slices.IndexFunc(bi.Deps, func(m *debug.Module) bool { return m.Path == "github.com/Admiral-Piett/goaws" })
	if i < 0 || bi.Deps[i].Version != localaws.GoawsVersion {
		t.Errorf("%s is not built from goaws %s (go.mod's requirement and GoawsVersion must agree)", bin, localaws.GoawsVersion)
	}
}

func TestCreateQueuesRejectsUnknownDeadLetterTarget(t *testing.T) {
	t.Parallel()
	st := &stackdef.Stack{Queues: []stackdef.Queue{{LogicalID: "Work", DeadLetterTarget: "Nope", MaxReceiveCount: 5}}}
	// The check comes before any call, so no server is needed.
	_, err := localaws.CreateQueues(t.Context(), nil, st, map[string]string{"Work": "w"}, nil)
	if err == nil || !strings.Contains(err.Error(), "Nope") {
		t.Fatalf("err = %v, want one naming the missing target", err)
	}
}

// TestBatchItemFailureIsRetriedThenDeadLettered walks one batch through the
// event source: the handler reports one of three messages as failed.
func TestBatchItemFailureIsRetriedThenDeadLettered(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c, urls, arns := queuePair(t, "partial")
	ids := send(t, c, urls["Work"], "ok-1", "fail", "ok-2")
	failID := ids["fail"]

	var mu sync.Mutex
	var batches []events.SQSEvent
	src := &localaws.EventSource{
		SQS: c, QueueURL: urls["Work"], QueueARN: arns["Work"], Log: testLog(t),
		Handler: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			mu.Lock()
			batches = append(batches, ev)
			mu.Unlock()
			var resp events.SQSEventResponse
			for _, r := range ev.Records {
				if r.Body == "fail" {
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				}
			}
			return resp, nil
		},
	}

	res, err := src.PollOnce(ctx)
	if err != nil {
		t.Fatalf("PollOnce: %v", err)
	}
	if res.Received != 3 || len(res.Deleted) != 2 || len(res.Retried) != 1 || res.Retried[0] != failID || res.InvokeErr != nil {
		t.Fatalf("first poll = %+v, want 3 received, 2 deleted, %s retried", res, failID)
	}
	for _, id := range res.Deleted {
		if id == failID {
			t.Fatalf("the failed message %s was deleted", failID)
		}
	}
	checkRecords(t, batches[0], arns["Work"])

	// The failed message is hidden now, and comes back after the 1-second
	// visibility timeout; after maxReceives receives it is in the DLQ.
	if v, h := queueDepth(t, c, urls["Work"]); v != "1" || h != "1" {
		t.Fatalf("after the first poll: %s messages (%s hidden), want the failed one, hidden", v, h)
	}
	receives := 1
	deadline := time.Now().Add(30 * time.Second)
	var dead []sqstypes.Message
	for len(dead) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("message not in the DLQ after %d receives", receives)
		}
		res, err := src.PollOnce(ctx)
		if err != nil {
			t.Fatalf("PollOnce: %v", err)
		}
		if res.Received > 0 {
			if res.Received != 1 || res.Retried[0] != failID || len(res.Deleted) != 0 {
				t.Fatalf("redelivery = %+v, want only %s, retried", res, failID)
			}
			receives++
		}
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(urls["DLQ"]), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		dead = out.Messages
	}
	if receives != maxReceives {
		t.Errorf("the failed message was received %d times before the redrive, want maxReceiveCount %d", receives, maxReceives)
	}
	if len(dead) != 1 || aws.ToString(dead[0].MessageId) != failID || aws.ToString(dead[0].Body) != "fail" {
		t.Fatalf("DLQ holds %+v, want the failed message %s", dead, failID)
	}
	if v, h := queueDepth(t, c, urls["Work"]); v != "0" || h != "0" {
		t.Errorf("work queue: %s messages (%s hidden), want empty", v, h)
	}
}

func checkRecords(t *testing.T, ev events.SQSEvent, arn string) {
	t.Helper()
	for _, r := range ev.Records {
		if r.EventSource != "aws:sqs" || r.EventSourceARN != arn || r.AWSRegion != localaws.Region {
			t.Errorf("record source = %q %q %q, want aws:sqs %s %s", r.EventSource, r.EventSourceARN, r.AWSRegion, arn, localaws.Region)
		}
		if r.MessageId == "" || r.ReceiptHandle == "" {
			t.Errorf("record %+v lacks messageId or receiptHandle", r)
		}
		sum := md5.Sum([]byte(r.Body))
		if r.Md5OfBody != hex.EncodeToString(sum[:]) {
			t.Errorf("md5OfBody = %q, want the MD5 of %q", r.Md5OfBody, r.Body)
		}
		for _, a := range []string{"ApproximateReceiveCount", "SentTimestamp", "ApproximateFirstReceiveTimestamp", "SenderId"} {
			if r.Attributes[a] == "" {
				t.Errorf("record attributes %v lack %s", r.Attributes, a)
			}
		}
		ma, ok := r.MessageAttributes["kind"]
		if !ok || ma.DataType != "String" || ma.StringValue == nil || *ma.StringValue != "test" {
			t.Errorf("messageAttributes = %+v, want kind=test (String)", r.MessageAttributes)
		}
	}
}

func TestHandlerErrorDeletesNothing(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c, urls, arns := queuePair(t, "errs")
	send(t, c, urls["Work"], "a", "b")

	boom := errors.New("boom")
	var fail atomic.Bool
	fail.Store(true)
	src := &localaws.EventSource{
		SQS: c, QueueURL: urls["Work"], QueueARN: arns["Work"], Log: testLog(t),
		Handler: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			if fail.Load() {
				// Even a failure list is ignored when the invocation fails.
				return events.SQSEventResponse{}, boom
			}
			return events.SQSEventResponse{}, nil
		},
	}
	res, err := src.PollOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Received != 2 || len(res.Deleted) != 0 || len(res.Retried) != 2 || !errors.Is(res.InvokeErr, boom) {
		t.Fatalf("PollOnce = %+v, want 2 received, none deleted, InvokeErr boom", res)
	}

	fail.Store(false)
	deleted := drain(t, src, 2)
	if deleted != 2 {
		t.Fatalf("deleted %d after the retry, want 2", deleted)
	}
}

// drain polls until want messages have been deleted or 20 s have passed.
func drain(t *testing.T, src *localaws.EventSource, want int) int {
	t.Helper()
	deleted := 0
	deadline := time.Now().Add(20 * time.Second)
	for deleted < want && time.Now().Before(deadline) {
		res, err := src.PollOnce(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		deleted += len(res.Deleted)
	}
	return deleted
}

func TestInvalidFailureListFailsWholeBatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, id string }{{"unknown id", "not-a-message-id"}, {"empty id", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, urls, arns := queuePair(t, "invalid-"+strings.ReplaceAll(tc.name, " ", "-"))
			send(t, c, urls["Work"], "a", "b")
			src := &localaws.EventSource{
				SQS: c, QueueURL: urls["Work"], QueueARN: arns["Work"], Log: testLog(t),
				Handler: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
					return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: tc.id}}}, nil
				},
			}
			res, err := src.PollOnce(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var inv *localaws.InvalidResponseError
			if res.Received != 2 || len(res.Deleted) != 0 || !errors.As(res.InvokeErr, &inv) {
				t.Fatalf("PollOnce = %+v, want nothing deleted and an InvalidResponseError", res)
			}
		})
	}
}

func TestPanicDeletesNothingAndRunSurvives(t *testing.T) {
	t.Parallel()
	c, urls, arns := queuePair(t, "panic")
	send(t, c, urls["Work"], "x")

	var calls atomic.Int32
	done := make(chan events.SQSEvent, 1)
	src := &localaws.EventSource{
		SQS: c, QueueURL: urls["Work"], QueueARN: arns["Work"], Log: testLog(t),
		Concurrency: 2,
		Handler: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			if calls.Add(1) == 1 {
				panic("first invocation panics")
			}
			select {
			case done <- ev:
			default:
			}
			return events.SQSEventResponse{}, nil
		},
	}
	ctx, cancel := context.WithCancel(testContext(t))
	runErr := make(chan error, 1)
	go func() { runErr <- src.Run(ctx) }()

	select {
	case ev := <-done:
		if len(ev.Records) != 1 || ev.Records[0].Body != "x" {
			t.Fatalf("second invocation got %+v, want the message x again", ev)
		}
	case err := <-runErr:
		t.Fatalf("Run returned %v while the queue still had work", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the message never came back after the panic")
	}
	if n := calls.Load(); n < 2 {
		t.Fatalf("handler called %d times, want the panic and a retry", n)
	}
	cancel()
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	// The successful retry deleted it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, h := queueDepth(t, c, urls["Work"])
		if v == "0" && h == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("work queue still holds %s messages (%s hidden)", v, h)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestInvokeTimeoutFailsBatch(t *testing.T) {
	t.Parallel()
	c, urls, arns := queuePair(t, "timeout")
	send(t, c, urls["Work"], "slow")
	release := make(chan struct{})
	defer close(release)
	src := &localaws.EventSource{
		SQS: c, QueueURL: urls["Work"], QueueARN: arns["Work"], Log: testLog(t),
		InvokeTimeout: 200 * time.Millisecond,
		Handler: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			<-release // ignores its context, like a stuck function
			return events.SQSEventResponse{}, nil
		},
	}
	res, err := src.PollOnce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res.InvokeErr, localaws.ErrInvokeTimeout) || len(res.Deleted) != 0 {
		t.Fatalf("PollOnce = %+v, want ErrInvokeTimeout and nothing deleted", res)
	}
}

func TestEventSourceValidates(t *testing.T) {
	t.Parallel()
	src := &localaws.EventSource{QueueURL: "u", Handler: func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		return events.SQSEventResponse{}, nil
	}}
	if _, err := src.PollOnce(t.Context()); err == nil {
		t.Fatal("PollOnce without an SQS client succeeded")
	}
}

// TestStaleReceiptIsARedeliveryNotAnError: when a message is received again
// while its handler still runs (its visibility ran out), the first delete
// finds a stale receipt handle. That is SQS's at-least-once delivery, not a
// failure of the loop: PollOnce reports the message retried, without an
// error, and the message is still there for its redelivery.
func TestStaleReceiptIsARedeliveryNotAnError(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c, urls, arns := queuePair(t, "stale")
	send(t, c, urls["Work"], "slow")
	src := &localaws.EventSource{
		SQS: c, QueueURL: urls["Work"], QueueARN: arns["Work"], Log: testLog(t),
		Handler: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			// Another receive takes the message, as after a visibility
			// timeout shorter than the invocation (made visible at once
			// here instead of waiting for it).
			for _, r := range ev.Records {
				if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(urls["Work"]), ReceiptHandle: aws.String(r.ReceiptHandle), VisibilityTimeout: 0}); err != nil {
					return events.SQSEventResponse{}, err
				}
			}
			out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(urls["Work"]), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
			if err != nil || len(out.Messages) != 1 {
				return events.SQSEventResponse{}, fmt.Errorf("second receive: %d messages, %v", len(out.Messages), err)
			}
			return events.SQSEventResponse{}, nil
		},
	}
	res, err := src.PollOnce(ctx)
	if err != nil {
		t.Fatalf("PollOnce: %v (a stale receipt handle is a redelivery)", err)
	}
	if res.Received != 1 || res.InvokeErr != nil {
		t.Fatalf("poll = %+v", res)
	}
	if len(res.Deleted) == 1 {
		t.Skip("this SQS accepted the stale receipt handle: nothing to redeliver")
	}
	if len(res.Retried) != 1 {
		t.Fatalf("poll = %+v, want the message retried", res)
	}
}
