package deadletter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/efs-cw/backupbridge/internal/claim"
	"github.com/efs-cw/backupbridge/internal/deadletter"
	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/metrics"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/queue"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// sentQueue is the events queue: it keeps what is sent, and refuses while
// fail is set.
type sentQueue struct {
	mu   sync.Mutex
	msgs []queue.Message
	fail error
}

func (q *sentQueue) Enqueue(_ context.Context, m queue.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return q.fail
	}
	q.msgs = append(q.msgs, m)
	return nil
}

func (q *sentQueue) sent() []queue.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]queue.Message(nil), q.msgs...)
}

type env struct {
	t       *testing.T
	rec     *deadletter.Recorder
	claims  *claim.Store
	log     *eventlog.Log
	queue   *sentQueue
	metrics *bytes.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, tbl := localtest.Table(t)
	e := &env{t: t, queue: &sentQueue{}, metrics: &bytes.Buffer{},
		claims: &claim.Store{DB: db, Table: tbl, Prefix: "EVENT#", Retention: 14 * 24 * time.Hour},
		log:    &eventlog.Log{DB: db, Table: tbl}}
	now := func() time.Time { return t0.Add(30 * time.Minute) }
	e.rec = &deadletter.Recorder{
		Claims:      e.claims,
		Recorded:    &claim.Store{DB: db, Table: tbl, Prefix: deadletter.RecordedPrefix, Retention: deadletter.RecordedRetention},
		Log:         e.log,
		Queue:       e.queue,
		Metrics:     &metrics.EMF{Namespace: "Test", W: e.metrics, Now: now},
		Now:         now,
		MaxReceives: 10,
	}
	return e
}

// message is a JobEvent of partner acme for customer 1001.
func message(eventID string) queue.Message {
	return queue.Message{Version: queue.MessageVersion, Job: queue.JobEvent, PartnerID: "acme", EventID: eventID, ReceivedAt: t0,
		Event: json.RawMessage(`{"specVersion":"1.0","type":"backup.completed","customer":{"id":"1001","name":"Acme Dental"}}`)}
}

// record is the SQS record of m as the DLQ's event source delivers it.
func record(t *testing.T, messageID string, m queue.Message) events.SQSMessage {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return events.SQSMessage{MessageId: messageID, Body: string(b), EventSourceARN: "arn:aws:sqs:us-east-1:000000000000:EventsDLQ",
		Attributes: map[string]string{"SentTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10), "ApproximateReceiveCount": "1"}}
}

// fail runs attempts at m's work that each fail transiently, as the worker
// does: begin the claim, give it back with the reason.
func (e *env) fail(m queue.Message, n int, code, reason string) {
	e.t.Helper()
	for i := range n {
		st, c, err := e.claims.Begin(context.Background(), m.ClaimKey(), t0.Add(time.Duration(i)*time.Minute), time.Minute)
		if err != nil || st != claim.New {
			e.t.Fatalf("attempt %d: %v %v", i+1, st, err)
		}
		if err := e.claims.AbandonWith(context.Background(), c, code, reason); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) failed() []eventlog.Entry {
	e.t.Helper()
	p, err := e.log.List(context.Background(), eventlog.Query{PartnerID: "acme", FailedOnly: true, Limit: 500})
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Entries
}

func (e *env) all() []eventlog.Entry {
	e.t.Helper()
	p, err := e.log.List(context.Background(), eventlog.Query{PartnerID: "acme", Limit: 500})
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Entries
}

func TestDeadLetterRecordedWithItsLastReason(t *testing.T) {
	e := newEnv(t)
	m := message("evt-1")
	e.fail(m, 10, outcome.CodeUnavailable, "ConnectWise answered 503 Service Unavailable")
	rec := record(t, "sqs-1", m)
	if err := e.rec.Record(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	failed := e.failed()
	if len(failed) != 1 {
		t.Fatalf("failed list = %+v, want the dead letter", failed)
	}
	got := failed[0]
	if got.Outcome != eventlog.OutcomeDeadLettered || got.Code != outcome.CodeDeadLettered || got.What != eventlog.WhatEvent ||
		got.EventID != "evt-1" || got.CustomerID != "1001" || got.EventType != "backup.completed" || got.Subject != "sqs-1" || !got.At.Equal(t0) {
		t.Errorf("entry = %+v", got)
	}
	for _, want := range []string{"10 times", "10 attempts", "(CW_UNAVAILABLE)", "ConnectWise answered 503 Service Unavailable", "not done"} {
		if !strings.Contains(got.Message, want) {
			t.Errorf("message %q lacks %q", got.Message, want)
		}
	}
	if !strings.Contains(got.Remedy, "POST /v1/admin/partners/acme/dead-letters/redrive") || !strings.Contains(got.Remedy, `{"eventId": "evt-1"}`) {
		t.Errorf("remedy %q does not say how to redrive", got.Remedy)
	}
	if string(got.Queued) != rec.Body || !bytes.Equal(got.Event, m.Event) {
		t.Errorf("entry keeps queued %s and event %s, want the message and its event", got.Queued, got.Event)
	}
	if !strings.Contains(e.metrics.String(), `"DeadLettered":1`) || strings.Count(e.metrics.String(), "\n") != 1 {
		t.Errorf("metrics = %q, want one DeadLettered line", e.metrics)
	}
}

// SQS delivers at least once: the same DLQ message recorded twice is one
// entry, one metric; and a repeat after the redrive does not put it back on
// the failed list.
func TestSameDeadLetterRecordedTwiceIsOneEntry(t *testing.T) {
	e := newEnv(t)
	m := message("evt-1")
	e.fail(m, 1, outcome.CodeUnavailable, "timeout")
	rec := record(t, "sqs-1", m)
	for range 2 {
		if err := e.rec.Record(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	if all := e.all(); len(all) != 1 {
		t.Fatalf("log = %+v, want one entry", all)
	}
	if n := strings.Count(e.metrics.String(), `"DeadLettered":1`); n != 1 {
		t.Errorf("DeadLettered counted %d times", n)
	}
	if n, err := e.rec.Redrive(context.Background(), "acme", "evt-1"); err != nil || n != 1 {
		t.Fatalf("redrive: %d %v", n, err)
	}
	rec.Attributes["SentTimestamp"] = strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10) // goaws stamps it at receive time
	if err := e.rec.Record(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if all, failed := e.all(), e.failed(); len(all) != 1 || len(failed) != 0 {
		t.Fatalf("after a repeat of a redriven dead letter: log %+v, failed %+v; want one resolved entry", all, failed)
	}
}

// Without the recorded-claim guard the fixed sort key alone keeps a repeat
// to one entry, even with another SentTimestamp.
func TestSortKeyIsFixedByTheMessage(t *testing.T) {
	e := newEnv(t)
	e.rec.Recorded = nil
	rec := record(t, "sqs-1", message("evt-1"))
	for i := range 2 {
		rec.Attributes["SentTimestamp"] = strconv.FormatInt(time.Now().Add(time.Duration(i)*time.Minute).UnixMilli(), 10)
		if err := e.rec.Record(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	if all := e.all(); len(all) != 1 {
		t.Fatalf("log = %+v, want one entry", all)
	}
}

// Nothing is lost: a message that cannot be recorded is an error (it stays
// in the DLQ), and the next delivery records it.
func TestUnrecordableStaysInTheQueue(t *testing.T) {
	e := newEnv(t)
	for name, body := range map[string]string{
		"not JSON":        "hello",
		"another version": `{"v":2,"job":"event","partnerId":"acme","eventId":"x"}`,
		"no partner":      `{"v":1,"job":"event","eventId":"x"}`,
	} {
		if err := e.rec.Record(context.Background(), events.SQSMessage{MessageId: "bad", Body: body}); err == nil {
			t.Errorf("%s: recorded without an error", name)
		}
	}
	if all := e.all(); len(all) != 0 {
		t.Fatalf("log = %+v", all)
	}

	// The log cannot be written: an error, and the recording is not
	// marked done, so the next delivery records it.
	good := *e.log
	broken := good
	broken.Table = "no-such-table"
	e.rec.Log = &broken
	rec := record(t, "sqs-1", message("evt-1"))
	if err := e.rec.Record(context.Background(), rec); err == nil {
		t.Fatal("recorded into a missing table without an error")
	}
	e.rec.Log = &good
	if err := e.rec.Record(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if failed := e.failed(); len(failed) != 1 {
		t.Fatalf("failed = %+v, want the dead letter after the retry", failed)
	}
	if n := strings.Count(e.metrics.String(), `"DeadLettered":1`); n != 1 {
		t.Errorf("DeadLettered counted %d times, want once (when recorded)", n)
	}
}

// The last reason says honestly when there is none.
func TestMessageWithoutAReason(t *testing.T) {
	e := newEnv(t)
	never := message("never")
	if err := e.rec.Record(context.Background(), record(t, "sqs-never", never)); err != nil {
		t.Fatal(err)
	}
	// Begun twice, never given back: both timed out.
	timedOut := message("timed-out")
	for i := range 2 {
		if st, _, err := e.claims.Begin(context.Background(), timedOut.ClaimKey(), t0.Add(time.Duration(i)*time.Hour), time.Minute); err != nil || st != claim.New {
			t.Fatalf("begin: %v %v", st, err)
		}
	}
	if err := e.rec.Record(context.Background(), record(t, "sqs-timed-out", timedOut)); err != nil {
		t.Fatal(err)
	}
	syncJob := queue.Message{Version: queue.MessageVersion, Job: queue.JobSync, PartnerID: "acme", EventID: "sync:r1", RequestID: "r1", CustomerID: "1002", ReceivedAt: t0}
	if err := e.rec.Record(context.Background(), record(t, "sqs-sync", syncJob)); err != nil {
		t.Fatal(err)
	}
	probe := queue.Message{Version: queue.MessageVersion, Job: queue.JobProbe, PartnerID: "acme", EventID: "probe-1", ReceivedAt: t0}
	if err := e.rec.Record(context.Background(), record(t, "sqs-probe", probe)); err != nil {
		t.Fatal(err)
	}
	byID := map[string]eventlog.Entry{}
	for _, en := range e.failed() {
		byID[en.EventID] = en
	}
	checks := map[string][]string{
		"never":     {"No attempt recorded a reason", "never began"},
		"timed-out": {"2 attempts", "no attempt recorded a reason", "timed out"},
		"sync:r1":   {"data sync of customer 1002", "No attempt recorded a reason"},
		"probe-1":   {"ConnectWise probe", "no attempt record", "harmless"},
	}
	for id, wants := range checks {
		en, ok := byID[id]
		if !ok {
			t.Errorf("no dead-lettered entry of %s: %+v", id, byID)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(en.Message, w) {
				t.Errorf("%s: message %q lacks %q", id, en.Message, w)
			}
		}
	}
	if s := byID["sync:r1"]; s.What != eventlog.WhatSync || s.CustomerID != "1002" || s.EventType != "" || len(s.Event) != 0 {
		t.Errorf("sync entry = %+v", s)
	}
}

func TestRedriveOneThenAll(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m1, m2 := message("evt-1"), message("evt-2")
	m2.ReceivedAt = t0.Add(time.Minute)
	e.fail(m1, 10, outcome.CodeUnavailable, "503")
	for _, r := range []events.SQSMessage{record(t, "sqs-1", m1), record(t, "sqs-2", m2)} {
		if err := e.rec.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// A permanent failure of evt-1 is not the redrive's to resolve.
	other := eventlog.Entry{PartnerID: "acme", EventID: "evt-1", CustomerID: "1001", What: eventlog.WhatTicket, Subject: "backup_failure/SRV",
		Outcome: eventlog.OutcomeFailed, Code: outcome.CodeRejected, At: t0.Add(2 * time.Minute)}
	if err := e.log.Record(ctx, other); err != nil {
		t.Fatal(err)
	}

	if n, err := e.rec.Redrive(ctx, "acme", "nothing"); err != nil || n != 0 {
		t.Fatalf("redrive of an event with no dead letter: %d %v", n, err)
	}
	if n, err := e.rec.Redrive(ctx, "acme", "evt-1"); err != nil || n != 1 {
		t.Fatalf("redrive evt-1: %d %v", n, err)
	}
	sent := e.queue.sent()
	if len(sent) != 1 || sent[0].EventID != "evt-1" || sent[0].Job != queue.JobEvent || !sent[0].ReceivedAt.Equal(t0) || !bytes.Equal(sent[0].Event, m1.Event) {
		t.Fatalf("sent %+v, want evt-1's message as it was", sent)
	}
	// The work is the worker's to take: its claim was given back.
	if st, _, err := e.claims.Begin(ctx, sent[0].ClaimKey(), t0.Add(time.Hour), time.Minute); err != nil || st != claim.New {
		t.Errorf("the worker's claim of the redriven work: %v %v, want it free", st, err)
	}
	var left []string
	for _, en := range e.failed() {
		left = append(left, en.EventID+"/"+string(en.Outcome))
	}
	if strings.Join(left, ",") != "evt-1/failed,evt-2/dead_lettered" {
		t.Errorf("failed list after redriving evt-1: %v", left)
	}
	if n, err := e.rec.Redrive(ctx, "acme", "evt-1"); err != nil || n != 0 {
		t.Errorf("second redrive of evt-1: %d %v, want nothing", n, err)
	}
	if n, err := e.rec.RedriveAll(ctx, "acme"); err != nil || n != 1 {
		t.Fatalf("redrive all: %d %v", n, err)
	}
	if sent := e.queue.sent(); len(sent) != 2 || sent[1].EventID != "evt-2" {
		t.Fatalf("sent %+v", sent)
	}
	if n, err := e.rec.RedriveAll(ctx, "acme"); err != nil || n != 0 {
		t.Errorf("second redrive all: %d %v", n, err)
	}
	if failed := e.failed(); len(failed) != 1 || failed[0].Outcome != eventlog.OutcomeFailed {
		t.Errorf("failed list = %+v, want only the permanent failure", failed)
	}
	if all := e.all(); len(all) != 3 {
		t.Errorf("log holds %d entries, want all 3 kept", len(all))
	}
}

// The same work dead-lettered twice (two SQS messages) is sent once, and
// both entries are resolved; a queue that refuses leaves everything listed.
func TestRedriveSendsEachWorkOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m := message("evt-1")
	for _, id := range []string{"sqs-a", "sqs-b"} {
		if err := e.rec.Record(ctx, record(t, id, m)); err != nil {
			t.Fatal(err)
		}
	}
	e.queue.fail = errors.New("SQS is down")
	if n, err := e.rec.RedriveAll(ctx, "acme"); err == nil || n != 0 {
		t.Fatalf("redrive into a refusing queue: %d %v", n, err)
	}
	if failed := e.failed(); len(failed) != 2 {
		t.Fatalf("failed = %+v, want both still listed", failed)
	}
	e.queue.fail = nil
	if n, err := e.rec.RedriveAll(ctx, "acme"); err != nil || n != 1 {
		t.Fatalf("redrive all: %d %v, want one message", n, err)
	}
	if sent := e.queue.sent(); len(sent) != 1 {
		t.Fatalf("sent %+v", sent)
	}
	if failed := e.failed(); len(failed) != 0 {
		t.Fatalf("failed = %+v", failed)
	}
}
