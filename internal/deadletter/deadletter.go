// Package deadletter makes the dead-letter queue visible and reversible: a
// message that reaches EventsDLQ (the events queue gave up on it after
// maxReceiveCount receives) becomes an entry of its partner's event log, and
// an operator redrives it from there.
//
// # Recording
//
// The worker function has a second event source, on EventsDLQ (template.yaml,
// WorkerFunctionDeadLetters); worker.Worker hands the records of that queue
// to Recorder.Record, which writes one event log entry per message:
//
//   - outcome dead_lettered, code DEAD_LETTERED, so it is on the failed list
//     (GET /v1/admin/partners/{id}/events?failed=true) until it is redriven;
//   - its message says how often the work was tried and the last failure in
//     words, read from the worker's claim of the message's work (the claim
//     keeps the code and reason of the last attempt that gave it back,
//     claim.Store.Last); when no attempt left a reason it says so;
//   - it keeps the event (Event) and the queue message as it reached the
//     dead-letter queue (Queued): once the entry is written the message is
//     deleted from the dead-letter queue, and the entry is its only copy
//     (kept the event log's retention, 90 days, longer than the queue's 14).
//
// Nothing is lost: when the entry cannot be written, or the message is not a
// queue message this version understands, Record returns an error, the
// worker reports the record as a batch item failure, and the message stays
// in the dead-letter queue, where it comes back after the queue's visibility
// timeout and where the DLQ's age alarm (DLQRecorderFailingAlarm) sees it.
//
// SQS delivers at least once, so one message may be recorded twice. Two
// things make that one entry: the entry's sort key is fixed by the message
// (its time is the message's ReceivedAt, its subject the SQS message id, so
// a second write overwrites the first), and the recording is claimed under
// DEADLETTER#<message id> (Recorded): a message recorded once is not
// recorded again, so a redelivery cannot put an entry that was already
// redriven back on the failed list.
//
// # Redriving
//
// Redrive and RedriveAll (the operator API's POST
// /v1/admin/partners/{id}/dead-letters/redrive) walk the partner's
// outstanding failed entries, take the dead_lettered ones asked for, send
// each one's Queued message back to the events queue, oldest first, and only
// then take exactly those entries off the failed list. A redriven event is
// processed once: the worker's claim of its work is ABANDONED (its attempts
// gave it back) or lapsed, so the worker takes it; if it was completed after
// all, the worker acknowledges the message as a duplicate. A second redrive
// finds the entry resolved and sends nothing; two redrives racing may both
// send, and the worker's claim still does the work once. Should sending fail
// half way, what was sent is resolved and the rest stays listed.
package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/efs-cw/backupbridge/internal/claim"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/metrics"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/queue"
)

// RecordedPrefix is the claim prefix of recorded dead letters (keyed by SQS
// message id).
const RecordedPrefix = "DEADLETTER#"

// RecordedRetention is how long a recorded message is remembered: longer
// than EventsDLQ keeps a message (14 days).
const RecordedRetention = 15 * 24 * time.Hour

// RedrivePath is the operator route that redrives a partner's dead letters.
func RedrivePath(partnerID string) string {
	return "/v1/admin/partners/" + partnerID + "/dead-letters/redrive"
}

// Enqueuer sends a message to the events queue (queue.SQS).
type Enqueuer interface {
	Enqueue(ctx context.Context, m queue.Message) error
}

// Recorder records dead letters in the event log and redrives them.
// Record needs Claims and Log (Recorded, Metrics optional); Redrive needs
// Log and Queue.
type Recorder struct {
	// Claims is the worker's claim store of message work (prefix EVENT#):
	// the last reason comes from there.
	Claims *claim.Store
	// Recorded remembers the messages recorded (prefix RecordedPrefix);
	// nil: the sort key alone keeps a repeat to one entry.
	Recorded *claim.Store
	Log      *eventlog.Log
	// Queue is the events queue, for redrives.
	Queue   Enqueuer
	Metrics *metrics.EMF
	Now     func() time.Time
	Logger  *slog.Logger
	// MaxReceives is the events queue's maxReceiveCount (template.yaml), for
	// the entry's message (0: unknown).
	MaxReceives int
}

func (r *Recorder) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Recorder) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// Record writes the event log entry of one message of the dead-letter
// queue. An error leaves the message in the dead-letter queue.
func (r *Recorder) Record(ctx context.Context, rec events.SQSMessage) error {
	log := r.logger().With("messageId", rec.MessageId)
	m, err := decode(rec.Body)
	if err != nil {
		log.ErrorContext(ctx, "dead letter is not a queue message this version understands; it stays in the dead-letter queue: read it there (SQS console, \"Poll for messages\") and delete it by hand once dealt with", "error", err)
		return fmt.Errorf("dead letter %s: %w", rec.MessageId, err)
	}
	log = log.With("partnerId", m.PartnerID, "eventId", m.EventID, "job", m.Job)

	var held claim.Claim
	if r.Recorded != nil {
		lease := 2 * time.Minute
		if dl, ok := ctx.Deadline(); ok {
			lease = max(time.Until(dl)+5*time.Second, time.Second)
		}
		st, c, err := r.Recorded.Begin(ctx, rec.MessageId, r.now(), lease)
		if err != nil {
			return fmt.Errorf("dead letter %s: %w", rec.MessageId, err)
		}
		switch st {
		case claim.Done:
			log.InfoContext(ctx, "dead letter already recorded (a repeated delivery)")
			return nil
		case claim.InFlight:
			return fmt.Errorf("dead letter %s: another invocation is recording it", rec.MessageId)
		}
		held = c
	}
	e, err := r.entry(ctx, rec, m)
	if err == nil {
		err = r.Log.Record(ctx, e)
	}
	if err != nil {
		if r.Recorded != nil {
			if aerr := r.Recorded.Abandon(context.WithoutCancel(ctx), held); aerr != nil {
				log.WarnContext(ctx, "give back the dead letter's claim", "error", aerr)
			}
		}
		return fmt.Errorf("dead letter %s: %w", rec.MessageId, err)
	}
	if r.Recorded != nil {
		// Recorded: a failure here only means a repeat writes the same
		// entry again (same sort key).
		if err := r.Recorded.Complete(context.WithoutCancel(ctx), held, r.now()); err != nil {
			log.WarnContext(ctx, "complete the dead letter's claim", "error", err)
		}
	}
	r.Metrics.Count(map[string]float64{metrics.DeadLettered: 1}, map[string]string{"partnerId": m.PartnerID, "job": string(m.Job)})
	log.WarnContext(ctx, "dead letter recorded in the event log", "customerId", e.CustomerID, "message", e.Message)
	return nil
}

// decode reads a queue message, refusing what the worker would refuse.
func decode(body string) (*queue.Message, error) {
	var m queue.Message
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return nil, fmt.Errorf("body is not a queue message: %w", err)
	}
	if m.Version != queue.MessageVersion {
		return nil, fmt.Errorf("queue message version %d, this code reads %d", m.Version, queue.MessageVersion)
	}
	if m.PartnerID == "" || m.EventID == "" {
		return nil, errors.New("queue message without partnerId or eventId")
	}
	return &m, nil
}

// entry builds the message's event log entry.
func (r *Recorder) entry(ctx context.Context, rec events.SQSMessage, m *queue.Message) (eventlog.Entry, error) {
	e := eventlog.Entry{
		PartnerID: m.PartnerID, EventID: m.EventID, CustomerID: m.CustomerID,
		What: eventlog.WhatEvent, Subject: rec.MessageId,
		Outcome: eventlog.OutcomeDeadLettered, Code: outcome.CodeDeadLettered,
		At:    at(rec, m, r.now()),
		Event: m.Event, Queued: json.RawMessage(rec.Body),
	}
	if m.Job == queue.JobSync {
		e.What = eventlog.WhatSync
	}
	if len(m.Event) > 0 {
		var ev struct {
			Type     string `json:"type"`
			Customer struct {
				ID string `json:"id"`
			} `json:"customer"`
		}
		// A body that does not decode still gets its entry, without them.
		if json.Unmarshal(m.Event, &ev) == nil {
			e.EventType = ev.Type
			if e.CustomerID == "" {
				e.CustomerID = ev.Customer.ID
			}
		}
	}
	last, err := r.lastReason(ctx, m)
	if err != nil {
		return e, err
	}
	e.Message = r.tries(m) + " " + last
	e.Remedy = fmt.Sprintf("fix the cause the message names (this event's other entries and the worker's log for SQS message %s tell more), "+
		"then redrive it: POST %s with {\"eventId\": %q} (or {\"all\": true} for every dead-lettered event of the partner); "+
		"it is processed once. The message has left the dead-letter queue: this entry keeps it until then",
		rec.MessageId, RedrivePath(m.PartnerID), m.EventID)
	return e, nil
}

// at is the entry's time, fixed by the message so that recording it twice
// writes one entry: when it was queued (ReceivedAt, which every producer
// sets), else SQS's SentTimestamp, else now.
func at(rec events.SQSMessage, m *queue.Message, now time.Time) time.Time {
	if !m.ReceivedAt.IsZero() {
		return m.ReceivedAt.UTC()
	}
	if ms, err := strconv.ParseInt(rec.Attributes["SentTimestamp"], 10, 64); err == nil && ms > 0 {
		return time.UnixMilli(ms).UTC()
	}
	return now.UTC()
}

// what names the message's job in words.
func what(m *queue.Message) string {
	switch m.Job {
	case queue.JobEvent:
		return "this event"
	case queue.JobReprocess:
		return "this reprocess request of the event"
	case queue.JobSync:
		return "this data sync of customer " + m.CustomerID
	case queue.JobProbe:
		return "this ConnectWise probe (a partner health job)"
	case queue.JobReplay:
		return "this replay of customer " + m.CustomerID + "'s held events (a partner health job)"
	}
	return fmt.Sprintf("this %q job", m.Job)
}

func (r *Recorder) tries(m *queue.Message) string {
	times := "repeatedly"
	if r.MaxReceives > 0 {
		times = fmt.Sprintf("%d times (its maxReceiveCount)", r.MaxReceives)
	}
	return fmt.Sprintf("The events queue delivered %s %s without success and moved it to the dead-letter queue: its work was not done.", what(m), times)
}

// lastReason says what the attempts left on the work's claim.
func (r *Recorder) lastReason(ctx context.Context, m *queue.Message) (string, error) {
	if m.Job == queue.JobProbe || m.Job == queue.JobReplay {
		return "Health jobs keep no attempt record, so no attempt recorded a reason: read the worker's log for it. Redriving a health job is harmless.", nil
	}
	if r.Claims == nil {
		return "No attempt recorded a reason (no claim store to read).", nil
	}
	a, state, found, err := r.Claims.Last(ctx, m.ClaimKey())
	if err != nil {
		return "", err
	}
	var b strings.Builder
	switch {
	case !found:
		b.WriteString("No attempt recorded a reason: the worker never began this work, or every attempt timed out or stopped before it finished (a failed attempt records its reason; the message may also be undecodable, or every invocation failed before it began).")
	case a.Reason == "":
		fmt.Fprintf(&b, "The worker began %s, but no attempt recorded a reason (every attempt timed out or stopped before it finished).", attempts(a.Attempts))
	default:
		fmt.Fprintf(&b, "The worker began %s; the last failure", attempts(a.Attempts))
		if a.Code != "" {
			fmt.Fprintf(&b, " (%s)", a.Code)
		}
		fmt.Fprintf(&b, ": %s.", strings.TrimSuffix(a.Reason, "."))
		if state == claim.InFlight {
			b.WriteString(" A later attempt did not finish (it timed out or stopped).")
		}
	}
	if found && state == claim.Done {
		b.WriteString(" Its work was completed since, by another delivery: a redrive is acknowledged as a duplicate.")
	}
	return b.String(), nil
}

func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return strconv.Itoa(n) + " attempts"
}

// Redrive sends the partner's dead-lettered messages of eventID back to the
// events queue and takes their entries off the failed list; it returns how
// many messages it sent (0: nothing dead-lettered of that event is listed).
func (r *Recorder) Redrive(ctx context.Context, partnerID, eventID string) (int, error) {
	return r.redrive(ctx, partnerID, func(e eventlog.Entry) bool { return e.EventID == eventID })
}

// RedriveAll is Redrive for every dead-lettered entry of the partner.
func (r *Recorder) RedriveAll(ctx context.Context, partnerID string) (int, error) {
	return r.redrive(ctx, partnerID, func(eventlog.Entry) bool { return true })
}

// entryKey identifies one entry (the fields of its sort key).
type entryKey struct {
	at                               int64
	eventID, customerID, what, about string
}

func keyOf(e eventlog.Entry) entryKey {
	return entryKey{e.At.UnixNano(), e.EventID, e.CustomerID, string(e.What), e.Subject}
}

func (r *Recorder) redrive(ctx context.Context, partnerID string, match func(eventlog.Entry) bool) (int, error) {
	var listed []eventlog.Entry
	for e, err := range r.Log.Outstanding(ctx, partnerID) {
		if err != nil {
			return 0, err
		}
		if e.Outcome == eventlog.OutcomeDeadLettered && match(e) {
			listed = append(listed, e)
		}
	}
	if len(listed) == 0 {
		return 0, nil
	}
	slices.Reverse(listed) // oldest first, as they arrived
	sent := map[string]bool{}
	redriven := map[entryKey]bool{}
	var errs []error
	for _, e := range listed {
		m, err := decode(string(e.Queued))
		if err != nil {
			errs = append(errs, fmt.Errorf("dead-lettered entry of event %s (SQS message %s) keeps no message to redrive: %w", e.EventID, e.Subject, err))
			continue
		}
		// The same work dead-lettered twice is sent once.
		if k := m.ClaimKey(); !sent[k] {
			if err := r.Queue.Enqueue(ctx, *m); err != nil {
				errs = append(errs, err)
				break
			}
			sent[k] = true
		}
		redriven[keyOf(e)] = true
	}
	if len(redriven) > 0 {
		// Only what was sent, and exactly those entries.
		err := r.Log.ResolveWhere(context.WithoutCancel(ctx), partnerID, r.now(), nil, func(e eventlog.Entry) bool {
			return e.Outcome == eventlog.OutcomeDeadLettered && redriven[keyOf(e)]
		})
		if err != nil {
			errs = append(errs, err)
		}
		r.logger().InfoContext(ctx, "dead letters redriven", "partnerId", partnerID, "sent", len(sent), "entries", len(redriven))
	}
	return len(sent), errors.Join(errs...)
}
