package worker

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

func TestRetryDelayDoublesUpToFiveMinutes(t *testing.T) {
	// Ten receives add up to about 25 minutes before the DLQ.
	total := time.Duration(0)
	for n := 1; n < 10; n++ {
		total += RetryDelay(0, n)
	}
	if total < 20*time.Minute || total > 30*time.Minute {
		t.Errorf("retry window before the DLQ = %v, want about 25 minutes", total)
	}
	cases := []struct {
		n    int
		want time.Duration
	}{{0, 10 * time.Second}, {1, 10 * time.Second}, {2, 20 * time.Second}, {4, 80 * time.Second}, {6, 5 * time.Minute}, {50, 5 * time.Minute}}
	for _, c := range cases {
		if got := RetryDelay(0, c.n); got != c.want {
			t.Errorf("RetryDelay(receive %d) = %v, want %v", c.n, got, c.want)
		}
	}
	if got := RetryDelay(time.Second, 3); got != 4*time.Second {
		t.Errorf("base 1s, third receive: %v", got)
	}
}

// Records of one customer share a group (they run in order); other
// customers, probes and unreadable messages get their own.
func TestGroupOfKeepsACustomersRecordsTogether(t *testing.T) {
	w := &Worker{DeadLetterARN: "arn:dlq"}
	ev := func(partner, customer string) string {
		return `{"v":1,"job":"event","partnerId":"` + partner + `","eventId":"e","event":{"customer":{"id":"` + customer + `"}}}`
	}
	rec := func(id, body string) events.SQSMessage {
		return events.SQSMessage{MessageId: id, Body: body, EventSourceARN: "arn:events"}
	}
	a1, a2 := w.groupOf(rec("1", ev("p", "1001"))), w.groupOf(rec("2", ev("p", "1001")))
	sync := w.groupOf(rec("3", `{"v":1,"job":"sync","partnerId":"p","eventId":"s","customerId":"1001"}`))
	if a1 != a2 || a1 != sync {
		t.Errorf("one customer's records in groups %q, %q, %q", a1, a2, sync)
	}
	distinct := map[string]bool{a1: true}
	for _, g := range []string{
		w.groupOf(rec("4", ev("p", "1002"))),
		w.groupOf(rec("5", ev("q", "1001"))),
		w.groupOf(rec("6", "not json")),
		w.groupOf(rec("7", "not json either")),
		w.groupOf(events.SQSMessage{MessageId: "8", Body: ev("p", "1001"), EventSourceARN: "arn:dlq"}),
	} {
		if distinct[g] {
			t.Errorf("group %q shared", g)
		}
		distinct[g] = true
	}
}

// barrier is a dead-letter recorder that returns only once n records are
// being recorded at the same time (or fails after a deadline).
type barrier struct {
	n       int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
}

func (b *barrier) Record(ctx context.Context, _ events.SQSMessage) error {
	b.mu.Lock()
	b.arrived++
	if b.arrived == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("the other records never ran at the same time")
	}
}

// Records of different groups run concurrently: three dead letters meet at
// a barrier that only opens when all three are in flight.
func TestHandleRunsGroupsConcurrently(t *testing.T) {
	b := &barrier{n: 3, all: make(chan struct{})}
	w := &Worker{DeadLetterARN: "arn:dlq", DeadLetters: b, BatchConcurrency: 3}
	var ev events.SQSEvent
	for _, id := range []string{"a", "b", "c"} {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: id, Body: "{}", EventSourceARN: "arn:dlq"})
	}
	resp, err := w.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %+v, %v: the records did not run concurrently", resp, err)
	}
}
