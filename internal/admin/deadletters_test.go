package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/efs-cw/backupbridge/internal/claim"
	"github.com/efs-cw/backupbridge/internal/deadletter"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/queue"
)

// refusingQueue is an events queue that is down.
type refusingQueue struct{}

func (refusingQueue) Enqueue(context.Context, queue.Message) error {
	return errors.New("test: SQS is down")
}

// withDeadLetters gives the API the real redrive over its table, sending to
// q, and returns the recorder that writes dead letters (as the worker's).
func (e *env) withDeadLetters(q deadletter.Enqueuer) *deadletter.Recorder {
	e.t.Helper()
	l := e.withLog()
	e.api.DeadLetters = &deadletter.Recorder{Log: l, Queue: q, Now: e.api.Now}
	e.routes = e.api.Routes()
	return &deadletter.Recorder{Log: l, Now: e.api.Now, MaxReceives: 10,
		Claims: &claim.Store{DB: e.db, Table: e.table, Prefix: "EVENT#", Retention: time.Hour}}
}

// deadLetter records a dead-lettered event of partner acme, its work
// abandoned once with a reason.
func (e *env) deadLetter(rec *deadletter.Recorder, messageID, eventID string) queue.Message {
	e.t.Helper()
	ctx := context.Background()
	m := queue.Message{Version: queue.MessageVersion, Job: queue.JobEvent, PartnerID: "acme", EventID: eventID, ReceivedAt: e.api.now().Add(-time.Hour),
		Event: json.RawMessage(`{"specVersion":"1.0","type":"backup.completed","customer":{"id":"1001"}}`)}
	_, c, err := rec.Claims.Begin(ctx, m.ClaimKey(), e.api.now().Add(-time.Hour), time.Minute)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := rec.Claims.AbandonWith(ctx, c, outcome.CodeUnavailable, "ConnectWise answered 502"); err != nil {
		e.t.Fatal(err)
	}
	body, _ := json.Marshal(m)
	if err := rec.Record(ctx, events.SQSMessage{MessageId: messageID, Body: string(body)}); err != nil {
		e.t.Fatal(err)
	}
	return m
}

func TestRedriveDeadLetters(t *testing.T) {
	e := newEnv(t)
	q := &fakeQueue{}
	rec := e.withDeadLetters(q)
	const route = "/v1/admin/partners/acme/dead-letters/redrive"

	for _, body := range []string{`{}`, `{"all":false}`, `{"eventId":"evt-1","all":true}`, `{"eventId":""}`, `not json`, `{"eventId":"evt-1","extra":1}`} {
		if code, m, _ := e.do("POST", route, body); code != http.StatusBadRequest || m["field"] != "eventId" || !strings.Contains(m["error"].(string), `{"all": true}`) {
			t.Errorf("body %s: %d %v, want 400 saying what to send", body, code, m)
		}
	}
	if code, m, _ := e.do("POST", route, map[string]any{"all": true}); code != http.StatusNotFound {
		t.Errorf("redrive all with nothing dead-lettered: %d %v", code, m)
	}

	m1 := e.deadLetter(rec, "sqs-1", "evt-1")
	e.deadLetter(rec, "sqs-2", "evt-2")
	e.deadLetter(rec, "sqs-3", "evt-3")
	code, m, raw := e.do("GET", "/v1/admin/partners/acme/events?failed=true", nil)
	if code != http.StatusOK || len(m["entries"].([]any)) != 3 {
		t.Fatalf("failed list: %d %s", code, raw)
	}
	first := m["entries"].([]any)[0].(map[string]any)
	if first["outcome"] != string(eventlog.OutcomeDeadLettered) || first["code"] != outcome.CodeDeadLettered ||
		!strings.Contains(first["message"].(string), "ConnectWise answered 502") || !strings.Contains(first["remedy"].(string), "POST "+route) {
		t.Errorf("dead-lettered entry = %v", first)
	}

	if code, m, _ := e.do("POST", route, map[string]any{"eventId": "evt-1"}); code != http.StatusAccepted || m["redriven"] != 1.0 {
		t.Fatalf("redrive evt-1: %d %v", code, m)
	}
	if len(q.msgs) != 1 || q.msgs[0].EventID != "evt-1" || q.msgs[0].ClaimKey() != m1.ClaimKey() || string(q.msgs[0].Event) != string(m1.Event) {
		t.Fatalf("queued %+v, want evt-1's message", q.msgs)
	}
	if code, m, _ := e.do("POST", route, map[string]any{"eventId": "evt-1"}); code != http.StatusNotFound || m["field"] != "eventId" || !strings.Contains(m["error"].(string), "redriven already") {
		t.Errorf("second redrive of evt-1: %d %v, want 404", code, m)
	}
	if code, m, _ := e.do("POST", route, map[string]any{"eventId": "nobody"}); code != http.StatusNotFound {
		t.Errorf("redrive of an event never dead-lettered: %d %v", code, m)
	}
	if code, m, _ := e.do("POST", route+"/", map[string]any{"all": true}); code != http.StatusAccepted || m["redriven"] != 2.0 {
		t.Fatalf("redrive all: %d %v", code, m)
	}
	if len(q.msgs) != 3 {
		t.Errorf("queued %d messages, want 3", len(q.msgs))
	}
	if code, m, _ := e.do("POST", route, map[string]any{"all": true}); code != http.StatusNotFound {
		t.Errorf("second redrive all: %d %v", code, m)
	}
	if code, m, raw := e.do("GET", "/v1/admin/partners/acme/events?failed=true", nil); code != http.StatusOK || len(m["entries"].([]any)) != 0 {
		t.Errorf("failed list after the redrives: %d %s", code, raw)
	}
	// The entries stay in the log.
	if code, m, raw := e.do("GET", "/v1/admin/partners/acme/events?outcome=dead_lettered", nil); code != http.StatusOK || len(m["entries"].([]any)) != 3 {
		t.Errorf("dead-lettered entries in the log: %d %s", code, raw)
	}
}

// A queue that refuses: 503, and the entry stays on the failed list.
func TestRedriveDeadLettersQueueDown(t *testing.T) {
	e := newEnv(t)
	rec := e.withDeadLetters(refusingQueue{})
	e.deadLetter(rec, "sqs-1", "evt-1")
	if code, m, _ := e.do("POST", "/v1/admin/partners/acme/dead-letters/redrive", map[string]any{"eventId": "evt-1"}); code != http.StatusServiceUnavailable || !strings.Contains(m["error"].(string), "nothing was sent") {
		t.Fatalf("redrive into a refusing queue: %d %v", code, m)
	}
	if code, m, raw := e.do("GET", "/v1/admin/partners/acme/events?failed=true", nil); code != http.StatusOK || len(m["entries"].([]any)) != 1 {
		t.Errorf("failed list: %d %s, want the dead letter still listed", code, raw)
	}
	e.api.DeadLetters = nil
	e.routes = e.api.Routes()
	if code, _, _ := e.do("POST", "/v1/admin/partners/acme/dead-letters/redrive", map[string]any{"eventId": "evt-1"}); code != http.StatusInternalServerError {
		t.Errorf("without a redrive configured: %d, want 500", code)
	}
}
