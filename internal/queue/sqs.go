package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQS sends messages to the events queue.
type SQS struct {
	Client *sqs.Client
	URL    string
}

// Enqueue sends one message. It returns only once SQS has accepted it.
func (q *SQS) Enqueue(ctx context.Context, m Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode message %s: %w", m.EventID, err)
	}
	if _, err := q.Client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String(string(b))}); err != nil {
		return fmt.Errorf("send message %s: %w", m.EventID, err)
	}
	return nil
}

// EnqueueBatch sends up to any number of messages, ten per SendMessageBatch
// call, and returns how many were accepted; messages SQS refused are retried
// once, then reported in the error.
func (q *SQS) EnqueueBatch(ctx context.Context, ms []Message) (int, error) {
	sent := 0
	for start := 0; start < len(ms); start += 10 {
		chunk := ms[start:min(start+10, len(ms))]
		entries := make([]types.SendMessageBatchRequestEntry, 0, len(chunk))
		for i, m := range chunk {
			b, err := json.Marshal(m)
			if err != nil {
				return sent, fmt.Errorf("encode message %s: %w", m.EventID, err)
			}
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(b))})
		}
		for attempt := 0; len(entries) > 0; attempt++ {
			out, err := q.Client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.URL), Entries: entries})
			if err != nil {
				return sent, fmt.Errorf("send message batch: %w", err)
			}
			// Count what was not refused (goaws leaves Successful empty).
			sent += len(entries) - len(out.Failed)
			if len(out.Failed) == 0 {
				break
			}
			if attempt == 1 {
				return sent, fmt.Errorf("SQS refused %d messages: %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
			}
			failed := map[string]bool{}
			for _, f := range out.Failed {
				failed[aws.ToString(f.Id)] = true
			}
			var again []types.SendMessageBatchRequestEntry
			for _, e := range entries {
				if failed[aws.ToString(e.Id)] {
					again = append(again, e)
				}
			}
			entries = again
		}
	}
	return sent, nil
}

// RetryIn makes a received message visible again after d (at most 12 hours,
// SQS's limit), so that a failed message is retried sooner than the queue's
// visibility timeout.
func (q *SQS) RetryIn(ctx context.Context, receiptHandle string, d time.Duration) error {
	secs := int32(min(max(d, 0), 12*time.Hour) / time.Second)
	_, err := q.Client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(q.URL), ReceiptHandle: aws.String(receiptHandle), VisibilityTimeout: secs,
	})
	if err != nil {
		return fmt.Errorf("change message visibility: %w", err)
	}
	return nil
}

// Router sends each message to the queue of its job: sync jobs (JobSync)
// to Sync, everything else to Events. A nil Sync sends everything to
// Events.
type Router struct {
	Events, Sync *SQS
}

func (r *Router) of(m Message) *SQS {
	if m.Job == JobSync && r.Sync != nil {
		return r.Sync
	}
	return r.Events
}

// Enqueue sends one message to its job's queue.
func (r *Router) Enqueue(ctx context.Context, m Message) error {
	return r.of(m).Enqueue(ctx, m)
}

// EnqueueBatch sends messages to their jobs' queues (each queue's share in
// batches of ten) and returns how many were accepted.
func (r *Router) EnqueueBatch(ctx context.Context, ms []Message) (int, error) {
	var events, syncs []Message
	for _, m := range ms {
		if r.of(m) == r.Events {
			events = append(events, m)
		} else {
			syncs = append(syncs, m)
		}
	}
	sent := 0
	for _, part := range []struct {
		q  *SQS
		ms []Message
	}{{r.Events, events}, {r.Sync, syncs}} {
		if len(part.ms) == 0 {
			continue
		}
		n, err := part.q.EnqueueBatch(ctx, part.ms)
		sent += n
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// RouterFor is the Router of the events queue at eventsURL and the sync
// queue at syncURL (empty: none; sync jobs go to the events queue).
func RouterFor(c *sqs.Client, eventsURL, syncURL string) *Router {
	r := &Router{Events: &SQS{Client: c, URL: eventsURL}}
	if syncURL != "" {
		r.Sync = &SQS{Client: c, URL: syncURL}
	}
	return r
}
