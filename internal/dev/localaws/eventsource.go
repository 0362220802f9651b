package localaws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQSHandler is the shape of a Lambda function fed by an SQS event source
// mapping with FunctionResponseTypes [ReportBatchItemFailures].
type SQSHandler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// Defaults of EventSource, the same as Lambda's where Lambda has one.
const (
	DefaultBatchSize     = 10
	MaxBatchSize         = 10
	DefaultWaitTime      = time.Second
	DefaultInvokeTimeout = 60 * time.Second
)

// EventSource does locally what the Lambda SQS event source mapping does in
// AWS, which no emulator provides: poll the queue, hand each batch to the
// function as an events.SQSEvent, and delete what the function reports done.
//
// With ReportBatchItemFailures, Lambda:
//   - deletes nothing when the invocation fails (an error, a panic, a
//     timeout): the whole batch comes back after the visibility timeout;
//   - otherwise deletes every record not named in BatchItemFailures;
//   - treats a response naming an id that is not in the batch, or an empty
//     itemIdentifier, as a failure of the whole batch.
//
// Messages that are not deleted are left alone: they reappear when the
// queue's visibility timeout runs out, and the queue's redrive policy moves
// them to the DLQ after maxReceiveCount receives. Nothing here counts
// receives.
//
// goaws differences to keep in mind: ApproximateReceiveCount stays "1" on
// every redelivery (the redrive still happens after maxReceiveCount),
// SentTimestamp is stamped at receive time, and a message reappears up to a
// second after its visibility timeout (goaws checks once a second).
type EventSource struct {
	SQS      *sqs.Client
	QueueURL string
	// QueueARN is the eventSourceARN of every record.
	QueueARN string
	Handler  SQSHandler
	// BatchSize is the most records per invocation, 1–10 (default 10).
	BatchSize int
	// Concurrency is the number of pollers, each invoking the handler
	// independently, so up to Concurrency invocations run at once (default 1).
	Concurrency int
	// WaitTime is the long-poll wait of each receive, rounded up to whole
	// seconds (default 1s; negative means short polling).
	WaitTime time.Duration
	// InvokeTimeout is the deadline of each invocation's context, like the
	// function's timeout (default 60s). A handler still running at the
	// deadline is abandoned and its batch counts as failed, as when Lambda
	// ends a timed-out invocation.
	InvokeTimeout time.Duration
	// Log receives one line per invocation problem; nil means slog.Default().
	Log *slog.Logger
}

// Result is the outcome of one PollOnce.
type Result struct {
	// Received is the number of messages in the batch (0: nothing to do,
	// the handler was not invoked).
	Received int
	// Deleted lists the message ids deleted from the queue.
	Deleted []string
	// Retried lists the message ids left on the queue to come back after the
	// visibility timeout.
	Retried []string
	// InvokeErr is why the whole batch failed: the handler's error, a
	// *PanicError, ErrInvokeTimeout, or an *InvalidResponseError. Nil when
	// the handler returned normally with a valid response.
	InvokeErr error
}

// ErrInvokeTimeout is Result.InvokeErr when the handler was still running at
// InvokeTimeout.
var ErrInvokeTimeout = errors.New("invocation timed out")

// PanicError is Result.InvokeErr when the handler panicked.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.Value) }

// InvalidResponseError is Result.InvokeErr when BatchItemFailures names an
// empty or unknown itemIdentifier; Lambda then fails the whole batch.
type InvalidResponseError struct {
	ItemIdentifier string
}

func (e *InvalidResponseError) Error() string {
	if e.ItemIdentifier == "" {
		return "batchItemFailures holds an empty itemIdentifier"
	}
	return fmt.Sprintf("batchItemFailures names %q, which is not a message of the batch", e.ItemIdentifier)
}

func (e *EventSource) validate() error {
	switch {
	case e.SQS == nil:
		return errors.New("event source: no SQS client")
	case e.QueueURL == "":
		return errors.New("event source: no queue URL")
	case e.Handler == nil:
		return errors.New("event source: no handler")
	case e.BatchSize < 0 || e.BatchSize > MaxBatchSize:
		return fmt.Errorf("event source: batch size %d: want 1–%d", e.BatchSize, MaxBatchSize)
	}
	return nil
}

func (e *EventSource) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

// Run polls with Concurrency pollers until ctx is done, then waits for them
// and returns nil. An SQS error is logged and the poller backs off for a
// second; a failed invocation is logged and polling goes on.
func (e *EventSource) Run(ctx context.Context) error {
	if err := e.validate(); err != nil {
		return err
	}
	n := e.Concurrency
	if n <= 0 {
		n = 1
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Go(func() { e.poll(ctx, i) })
	}
	wg.Wait()
	return nil
}

func (e *EventSource) poll(ctx context.Context, poller int) {
	log := e.log().With("queue", e.QueueURL, "poller", poller)
	for ctx.Err() == nil {
		res, err := e.PollOnce(ctx)
		var pause time.Duration
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.ErrorContext(ctx, "event source: SQS call failed", "err", err)
			pause = time.Second
		case res.Received == 0 && e.WaitTime < 0:
			pause = 100 * time.Millisecond // short polling an empty queue
		}
		if pause > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
		}
	}
}

// PollOnce runs one receive → invoke → delete cycle, for tests that want to
// step the pipeline deterministically. The error is an SQS failure (receive
// or delete); a failed invocation is reported in Result.InvokeErr instead.
func (e *EventSource) PollOnce(ctx context.Context) (Result, error) {
	if err := e.validate(); err != nil {
		return Result{}, err
	}
	batch := e.BatchSize
	if batch == 0 {
		batch = DefaultBatchSize
	}
	wait := e.WaitTime
	if wait == 0 {
		wait = DefaultWaitTime
	}
	waitSeconds := int32(0)
	if wait > 0 {
		waitSeconds = int32((wait + time.Second - 1) / time.Second)
	}

	out, err := e.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(e.QueueURL),
		MaxNumberOfMessages: int32(batch),
		WaitTimeSeconds:     waitSeconds,
		// MessageSystemAttributeNames replaced the deprecated AttributeNames.
		// goaws v0.5.4 reads neither and always returns SentTimestamp,
		// ApproximateReceiveCount and the rest.
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{
			sqstypes.MessageSystemAttributeNameAll,
		},
		MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		return Result{}, fmt.Errorf("receive from %s: %w", e.QueueURL, err)
	}
	if len(out.Messages) == 0 {
		return Result{}, nil
	}

	ev := e.event(out.Messages)
	res := Result{Received: len(ev.Records)}
	resp, invokeErr := e.invoke(ctx, ev)
	if invokeErr == nil {
		invokeErr = checkFailures(ev, resp)
	}

	log := e.log().With("queue", e.QueueURL, "batch", len(ev.Records))
	if invokeErr != nil {
		res.InvokeErr = invokeErr
		for _, r := range ev.Records {
			res.Retried = append(res.Retried, r.MessageId)
		}
		attrs := []any{"err", invokeErr}
		var pe *PanicError
		if errors.As(invokeErr, &pe) {
			attrs = append(attrs, "stack", string(pe.Stack))
		}
		log.ErrorContext(ctx, "event source: invocation failed, the whole batch will be retried", attrs...)
		return res, nil
	}

	failed := make(map[string]bool, len(resp.BatchItemFailures))
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	var entries []sqstypes.DeleteMessageBatchRequestEntry
	entryIDs := map[string]string{} // batch entry id → message id
	for i, r := range ev.Records {
		if failed[r.MessageId] {
			res.Retried = append(res.Retried, r.MessageId)
			continue
		}
		id := strconv.Itoa(i)
		entryIDs[id] = r.MessageId
		entries = append(entries, sqstypes.DeleteMessageBatchRequestEntry{
			Id:            aws.String(id),
			ReceiptHandle: aws.String(r.ReceiptHandle),
		})
	}
	if len(res.Retried) > 0 {
		log.InfoContext(ctx, "event source: batch item failures will be retried", "ids", res.Retried)
	}
	if len(entries) == 0 {
		return res, nil
	}
	// The delete must happen even if ctx was cancelled while the handler
	// ran: the work is done, and a redelivery would repeat it.
	delCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	del, err := e.SQS.DeleteMessageBatch(delCtx, &sqs.DeleteMessageBatchInput{
		QueueUrl: aws.String(e.QueueURL),
		Entries:  entries,
	})
	if err != nil {
		for _, en := range entries {
			res.Retried = append(res.Retried, entryIDs[aws.ToString(en.Id)])
		}
		return res, fmt.Errorf("delete from %s: %w", e.QueueURL, err)
	}
	for _, ok := range del.Successful {
		res.Deleted = append(res.Deleted, entryIDs[aws.ToString(ok.Id)])
	}
	var errs []error
	for _, f := range del.Failed {
		id := entryIDs[aws.ToString(f.Id)]
		res.Retried = append(res.Retried, id)
		if redelivered(f) {
			// The message's visibility ran out while the handler ran and
			// another receive took it: its receipt handle is stale. SQS
			// redelivers it, at least once, and the handler is idempotent;
			// this is not a failure of the loop.
			e.log().Warn("event source: message redelivered before its delete (visibility timeout shorter than the invocation)", "messageId", id)
			continue
		}
		errs = append(errs, fmt.Errorf("message %s: %s %s", id, aws.ToString(f.Code), aws.ToString(f.Message)))
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("delete from %s: %w", e.QueueURL, errors.Join(errs...))
	}
	return res, nil
}

// redelivered reports whether a failed delete means the receipt handle is
// stale because the message was received again: SQS's
// ReceiptHandleIsInvalid, goaws's "Message not found".
func redelivered(f sqstypes.BatchResultErrorEntry) bool {
	return aws.ToString(f.Code) == "ReceiptHandleIsInvalid" || aws.ToString(f.Message) == "Message not found"
}

// event builds the SQS event exactly as Lambda does.
func (e *EventSource) event(msgs []sqstypes.Message) events.SQSEvent {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, 0, len(msgs))}
	for _, m := range msgs {
		attrs := make(map[string]string, len(m.Attributes))
		for k, v := range m.Attributes {
			attrs[k] = v
		}
		mattrs := make(map[string]events.SQSMessageAttribute, len(m.MessageAttributes))
		for k, v := range m.MessageAttributes {
			mattrs[k] = events.SQSMessageAttribute{
				StringValue:      v.StringValue,
				BinaryValue:      v.BinaryValue,
				StringListValues: nonNil(v.StringListValues),
				BinaryListValues: nonNil(v.BinaryListValues),
				DataType:         aws.ToString(v.DataType),
			}
		}
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId:              aws.ToString(m.MessageId),
			ReceiptHandle:          aws.ToString(m.ReceiptHandle),
			Body:                   aws.ToString(m.Body),
			Md5OfBody:              aws.ToString(m.MD5OfBody),
			Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
			Attributes:             attrs,
			MessageAttributes:      mattrs,
			EventSourceARN:         e.QueueARN,
			EventSource:            "aws:sqs",
			AWSRegion:              Region,
		})
	}
	return ev
}

// nonNil gives Lambda's [] instead of null for an absent list.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// invoke calls the handler with the invocation deadline, see invokeFunc.
func (e *EventSource) invoke(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	timeout := e.InvokeTimeout
	if timeout <= 0 {
		timeout = DefaultInvokeTimeout
	}
	return invokeFunc(ctx, timeout, func(ctx context.Context) (events.SQSEventResponse, error) {
		return e.Handler(ctx, ev)
	})
}

// invokeFunc runs fn like Lambda runs a function: with a context that ends
// at timeout, a panic turned into a *PanicError, and a function still
// running at the deadline reported as ErrInvokeTimeout (its goroutine is
// abandoned, as Lambda would freeze or end it).
func invokeFunc[T any](ctx context.Context, timeout time.Duration, fn func(context.Context) (T, error)) (T, error) {
	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	type outcome struct {
		v   T
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		defer func() {
			if v := recover(); v != nil {
				o = outcome{err: &PanicError{Value: v, Stack: debug.Stack()}}
			}
			done <- o
		}()
		o.v, o.err = fn(ictx)
	}()
	var zero T
	select {
	case o := <-done:
		return o.v, o.err
	case <-ictx.Done():
		// Prefer a result that raced the deadline.
		select {
		case o := <-done:
			return o.v, o.err
		default:
		}
		if ctx.Err() != nil {
			return zero, fmt.Errorf("invocation abandoned: %w", ctx.Err())
		}
		return zero, fmt.Errorf("%w after %s", ErrInvokeTimeout, timeout)
	}
}

// checkFailures applies Lambda's rule that a response naming an empty or
// unknown itemIdentifier fails the whole batch.
func checkFailures(ev events.SQSEvent, resp events.SQSEventResponse) error {
	if len(resp.BatchItemFailures) == 0 {
		return nil
	}
	ids := make(map[string]bool, len(ev.Records))
	for _, r := range ev.Records {
		ids[r.MessageId] = true
	}
	for _, f := range resp.BatchItemFailures {
		if f.ItemIdentifier == "" || !ids[f.ItemIdentifier] {
			return &InvalidResponseError{ItemIdentifier: f.ItemIdentifier}
		}
	}
	return nil
}
