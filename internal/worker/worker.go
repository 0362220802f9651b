// Package worker is the queue consumer: the handler of the worker Lambda's
// SQS event source (with ReportBatchItemFailures). For each message it
//
//  1. claims the message's work in DynamoDB (package claim): a message SQS
//     delivers twice, or to two workers at once, is done once;
//  2. loads the partner, its secrets and its ConnectWise client;
//  3. applies the event to tickets (package tickets);
//  4. records every outcome in the event log, and emits the
//     ConnectWisePushFailed metric for failures;
//  5. decides the message's fate in one place (Outcome): done or permanent
//     failure → acknowledged (the event log keeps the event for reprocessing);
//     transient failure → reported in batchItemFailures so SQS delivers it
//     again after the visibility timeout, and moves it to the DLQ after
//     maxReceiveCount.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/efs-cw/backupbridge/internal/claim"
	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/health"
	"github.com/efs-cw/backupbridge/internal/managedid"
	"github.com/efs-cw/backupbridge/internal/metrics"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/tickets"
)

// Partners reads partner settings.
type Partners interface {
	Get(ctx context.Context, id string) (*partner.Partner, error)
}

// Worker handles batches of queue messages.
type Worker struct {
	Partners Partners
	Secrets  partner.SecretStore
	Claims   *claim.Store
	Log      *eventlog.Log
	Tickets  *tickets.Service
	// ManagedIDs shares the managed ID → company index between workers
	// (nil: each worker keeps its own).
	ManagedIDs managedid.Shared
	// Requeue, when set, brings failed messages back after RetryDelay
	// instead of the queue's visibility timeout; RetryBase is its first wait.
	Requeue   Requeuer
	RetryBase time.Duration
	// SyncQueueARN and SyncRequeue: records from the sync queue (the
	// worker's WorkerFunctionSyncs source) are brought back through it.
	SyncQueueARN string
	SyncRequeue  Requeuer
	// Health is the partners' health and their held events (nil: no
	// pausing, as in some unit tests).
	Health *health.Store
	// Alerts raises a pause's one alarm.
	Alerts *health.Alerter
	// Queue sends the replay jobs of a partner a probe resumed.
	Queue health.Enqueuer
	// Sync is the data sync (nil: tickets only).
	Sync    *Sync
	Metrics *metrics.EMF
	// HTTPClient talks to ConnectWise (nil: a default with a timeout).
	HTTPClient *http.Client
	// Retry is the ConnectWise client's retry policy.
	Retry  connectwise.RetryPolicy
	Now    func() time.Time
	Logger *slog.Logger
	// ClientTTL is how long a partner's ConnectWise client (and with it its
	// secrets) is reused by a warm worker (default 10 minutes).
	ClientTTL time.Duration

	// InvocationTimeout is the worker function's timeout (default 60 s, as
	// template.yaml): a 429 asking to wait longer pauses the partner.
	InvocationTimeout time.Duration
	// ReplayRetryWait is the first wait before a replay tries a held message
	// again after a transient failure (default 1 s; see replayWait).
	ReplayRetryWait time.Duration
	// BatchConcurrency bounds how many customers' records of one batch run
	// at once (default DefaultBatchConcurrency).
	BatchConcurrency int
	// DeadLetterARN is the dead-letter queue's ARN: records from it (the
	// worker's second event source) go to DeadLetters instead of being
	// processed.
	DeadLetterARN string
	DeadLetters   DeadLetterRecorder

	mu       sync.Mutex
	targets  map[string]*cachedTarget
	counting *http.Client
}

type cachedTarget struct {
	version   int
	exp       time.Time
	cw        *connectwise.Client
	companies *managedid.Directory
}

func (w *Worker) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Worker) logger() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.Default()
}

// DeadLetterRecorder records a message that reached the dead-letter queue
// (package deadletter). An error leaves it in the dead-letter queue.
type DeadLetterRecorder interface {
	Record(ctx context.Context, rec events.SQSMessage) error
}

// Handle is the Lambda handler. It never returns an error for a single bad
// message (that would fail the whole batch); each message's fate is reported
// through BatchItemFailures.
//
// The records of one customer (same partner and customer) are processed in
// the batch's order, one after another, so that a customer's events keep
// their order; the records of different customers run concurrently, at most
// BatchConcurrency at once (a slow customer, or a sync after a ticket, does
// not hold up another customer's ticket).
func (w *Worker) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var order []string
	groups := map[string][]int{}
	for i, rec := range ev.Records {
		k := w.groupOf(rec)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	failed := make([]bool, len(ev.Records))
	sem := make(chan struct{}, w.batchConcurrency())
	var wg sync.WaitGroup
	for _, k := range order {
		idx := groups[k]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			for _, i := range idx {
				failed[i] = w.handleOne(ctx, ev.Records[i])
			}
		})
	}
	wg.Wait()
	var resp events.SQSEventResponse
	for i, f := range failed {
		if f {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: ev.Records[i].MessageId})
		}
	}
	return resp, nil
}

// DefaultBatchConcurrency is how many customers' records of one batch run at
// once by default (a batch holds at most 10 records).
const DefaultBatchConcurrency = 10

func (w *Worker) batchConcurrency() int {
	if w.BatchConcurrency > 0 {
		return w.BatchConcurrency
	}
	return DefaultBatchConcurrency
}

// groupOf is the key whose records must run in order: the partner and the
// customer of the message (a dead letter, or a message that cannot be read,
// is a group of its own).
func (w *Worker) groupOf(rec events.SQSMessage) string {
	if w.DeadLetterARN != "" && rec.EventSourceARN == w.DeadLetterARN {
		return "dlq#" + rec.MessageId
	}
	var m queue.Message
	if json.Unmarshal([]byte(rec.Body), &m) != nil || m.PartnerID == "" {
		return "msg#" + rec.MessageId
	}
	if m.Job == queue.JobProbe {
		return "probe#" + m.PartnerID
	}
	c := customerOf(&m)
	if c == "" {
		return "msg#" + rec.MessageId
	}
	return "cust#" + m.PartnerID + "#" + c
}

// handleOne handles one record and reports whether it failed (it is then
// given its retry delay).
func (w *Worker) handleOne(ctx context.Context, rec events.SQSMessage) (failed bool) {
	if w.DeadLetters != nil && w.DeadLetterARN != "" && rec.EventSourceARN == w.DeadLetterARN {
		defer func() {
			if r := recover(); r != nil {
				w.logger().ErrorContext(ctx, "dead letter recorder panic; it stays in the dead-letter queue", "messageId", rec.MessageId, "panic", fmt.Sprint(r))
				failed = true
			}
		}()
		if err := w.DeadLetters.Record(ctx, rec); err != nil {
			w.logger().ErrorContext(ctx, "record dead letter failed; it stays in the dead-letter queue", "messageId", rec.MessageId, "error", err)
			return true
		}
		return false
	}
	if err := w.handleRecord(ctx, rec); err != nil {
		w.requeue(ctx, rec)
		return true
	}
	return false
}

// Requeuer sets when a failed message becomes visible again.
type Requeuer interface {
	RetryIn(ctx context.Context, receiptHandle string, after time.Duration) error
}

// RetryDelay is the pure backoff of a message that failed for the n-th time
// (its receive count): RetryBase (default 10 s) doubled for every earlier
// failure, at most five minutes — with the queue's 10 receives, about 25
// minutes of retries before the DLQ. Without it, SQS would redeliver only after the queue's
// visibility timeout (6 minutes, six times the worker's timeout), too slow
// for a fault that is merely busy or a ConnectWise that recovers in seconds.
func RetryDelay(base time.Duration, receiveCount int) time.Duration {
	if base <= 0 {
		base = 10 * time.Second
	}
	d := base
	for i := 1; i < receiveCount && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// requeue shortens the failed message's wait (best effort: if it fails the
// queue's visibility timeout applies).
func (w *Worker) requeue(ctx context.Context, rec events.SQSMessage) {
	rq := w.Requeue
	if w.SyncQueueARN != "" && rec.EventSourceARN == w.SyncQueueARN {
		rq = w.SyncRequeue
	}
	if rq == nil || rec.ReceiptHandle == "" {
		return
	}
	n, _ := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
	if err := rq.RetryIn(context.WithoutCancel(ctx), rec.ReceiptHandle, RetryDelay(w.RetryBase, n)); err != nil {
		w.logger().WarnContext(ctx, "shorten retry wait", "messageId", rec.MessageId, "error", err)
	}
}

// handleRecord returns an error when the message must be delivered again.
func (w *Worker) handleRecord(ctx context.Context, rec events.SQSMessage) (retErr error) {
	log := w.logger().With("messageId", rec.MessageId)
	defer func() {
		// A panic in one message must not take the batch with it.
		if r := recover(); r != nil {
			log.ErrorContext(ctx, "worker panic", "panic", fmt.Sprint(r))
			retErr = fmt.Errorf("panic: %v", r)
		}
	}()
	var m queue.Message
	if err := json.Unmarshal([]byte(rec.Body), &m); err != nil || m.Version != queue.MessageVersion || m.PartnerID == "" || m.EventID == "" {
		// Not ours to understand: leave it to the redrive policy (DLQ),
		// where the on-call engineer sees it.
		log.ErrorContext(ctx, "undecodable queue message; it will reach the DLQ", "error", errString(err), "version", m.Version)
		return fmt.Errorf("undecodable message %s", rec.MessageId)
	}
	log = log.With("partnerId", m.PartnerID, "eventId", m.EventID, "job", m.Job)
	switch m.Job {
	case queue.JobProbe:
		return w.probe(ctx, log, &m)
	case queue.JobReplay:
		return w.replay(ctx, log, &m)
	case queue.JobTicketChanged:
		return w.ticketChanged(ctx, log, &m)
	}
	switch w.run(ctx, log, &m, false) {
	case fateRetry:
		return errors.New("transient failure; retry")
	case fateInFlight:
		return errors.New("in flight elsewhere")
	}
	return nil
}

// fate is what became of one message's work.
type fate int

const (
	// fateDone: done, or failed for good (recorded): acknowledge it.
	fateDone fate = iota
	// fateRetry: a transient failure: deliver it again.
	fateRetry
	// fateInFlight: another worker holds its claim.
	fateInFlight
	// fateParked: held while the partner is paused: acknowledge it (or, in
	// a replay, leave it held).
	fateParked
)

// run does one message's work: parks it if its partner is holding (unless
// this is the replay of a held message), claims it, processes it, and
// settles the partner's health from what ConnectWise answered.
func (w *Worker) run(ctx context.Context, log *slog.Logger, m *queue.Message, replay bool) fate {
	var st health.Status
	if w.Health != nil && !replay {
		var err error
		if st, err = w.Health.Get(ctx, m.PartnerID); err != nil {
			log.ErrorContext(ctx, "read partner health", "error", err)
			return fateRetry
		}
		if st.Holding() {
			if f, ok := w.park(ctx, log, m, st, nil); ok {
				return f
			}
		}
	}

	// One read here and one write at the end (claim.Peek): a copy of the
	// message delivered while this one runs is processed alongside it, and
	// every effect is guarded on its own (the fault's lock, the usage items'
	// event ids, the sync slot). A replay holds an in-progress claim
	// instead (claim.Begin, two writes, only while a partner resumes): the
	// health tick may send a customer's replay again while one is running,
	// and the second must stop at once (in flight), not race the first for
	// the same held message's fault.
	var state claim.State
	var cl claim.Claim
	var err error
	if replay {
		lease := 2 * time.Minute
		if dl, ok := ctx.Deadline(); ok {
			lease = max(time.Until(dl)+5*time.Second, time.Second)
		}
		state, cl, err = w.Claims.Begin(ctx, m.ClaimKey(), w.now(), lease)
	} else {
		state, cl, err = w.Claims.Peek(ctx, m.ClaimKey(), w.now())
	}
	if err != nil {
		log.ErrorContext(ctx, "claim failed", "error", err)
		return fateRetry
	}
	switch state {
	case claim.Done:
		log.InfoContext(ctx, "duplicate delivery; already processed")
		return fateDone
	case claim.InFlight:
		log.InfoContext(ctx, "another worker is processing this event; retry later")
		return fateInFlight
	}

	r := w.process(ctx, log, m, cl.Prior, replay)
	park := false
	var hs health.Status
	switch {
	case r.pause != nil:
		// Credentials refused, or a wait longer than the invocation.
		if _, err := w.failClaim(ctx, cl, replay, r.pause.Code, r.pause.Reason); err != nil {
			log.WarnContext(ctx, "abandon claim", "error", err)
		}
		if hs, err = w.pausePartner(ctx, log, m.PartnerID, *r.pause, replay); err != nil {
			return fateRetry
		}
		park = true
	case r.cwTransient != "" && w.Health != nil:
		// A transient ConnectWise failure: count it; enough in a row pause.
		var paused bool
		hs, paused, err = w.Health.Failure(context.WithoutCancel(ctx), m.PartnerID, outcome.CodeUnavailable, r.cwTransient, w.now())
		if err != nil {
			log.WarnContext(ctx, "record partner failure", "error", err)
		}
		if paused {
			w.forgetTarget(m.PartnerID)
			w.announce(ctx, log, hs, replay)
		}
		if hs.State == health.Paused {
			if _, err := w.failClaim(ctx, cl, replay, r.lastCode, r.lastReason); err != nil {
				log.WarnContext(ctx, "abandon claim", "error", err)
			}
			park = true
		}
	}
	if park {
		if replay {
			// It stays held, first in its customer's line.
			return fateParked
		}
		if f, ok := w.park(ctx, log, m, hs, r.retrying); ok {
			return f
		}
		return fateRetry
	}
	if r.retry {
		completed, err := w.failClaim(ctx, cl, replay, r.lastCode, r.lastReason)
		if err != nil {
			log.WarnContext(ctx, "abandon claim", "error", err)
		}
		if !completed {
			return fateRetry
		}
		// Another copy of the message (a repeated delivery) completed the
		// work meanwhile: nothing is left to retry, and this copy's
		// "retrying" lines are not the last word.
		for _, e := range r.retrying {
			e.Outcome, e.Code, e.Remedy = eventlog.OutcomeSkipped, "", ""
			e.Message = "completed by another delivery of this event (this copy's attempt: " + e.Message + ")"
			e.At = w.now()
			w.record(ctx, log, e)
		}
		return fateDone
	}
	var failed claim.Attempt
	if replay {
		err = w.Claims.Complete(context.WithoutCancel(ctx), cl, w.now())
	} else {
		failed, err = w.Claims.MarkDone(context.WithoutCancel(ctx), cl.Key, w.now())
	}
	if err != nil {
		log.WarnContext(ctx, "complete claim", "error", err)
	}
	if failed.Attempts > cl.Prior.Attempts {
		// A copy of the message failed after this one began (its lines say
		// "retrying"); this copy did the work: the event's last word.
		w.record(ctx, log, eventlog.Entry{PartnerID: m.PartnerID, EventID: m.EventID, CustomerID: customerOf(m), What: eventlog.WhatEvent,
			Outcome: eventlog.OutcomeDone, At: w.now(), Message: fmt.Sprintf("processed on attempt %d (by another delivery of this event than the one that failed)", failed.Attempts+1)})
	}
	if w.Health != nil && r.calls > 0 && (replay || st.State == health.Degraded || st.Failures > 0) {
		// A replay never read the status; otherwise a success only writes
		// when there are failures to clear (Success reads afresh).
		if err := w.Health.Success(context.WithoutCancel(ctx), m.PartnerID, w.now()); err != nil {
			log.WarnContext(ctx, "record partner success", "error", err)
		}
	}
	return fateDone
}

// failClaim records a failed attempt: on a replay's held claim
// (AbandonWith), else on a peeked one (Fail, which reports whether another
// copy completed the work meanwhile).
func (w *Worker) failClaim(ctx context.Context, cl claim.Claim, held bool, code, reason string) (completed bool, err error) {
	if held {
		return false, w.Claims.AbandonWith(context.WithoutCancel(ctx), cl, code, reason)
	}
	return w.Claims.Fail(context.WithoutCancel(ctx), cl, code, reason, w.now())
}

// run collects what one message's processing recorded and met.
type run struct {
	// prior is what earlier attempts at the message left.
	prior claim.Attempt
	// replay: the message is a held one, replayed while its partner
	// resumes (a sync it asks for runs inline: a queued job would be held).
	replay   bool
	mu       sync.Mutex
	failures []eventlog.Entry
	// retrying are the entries recorded as retrying: rewritten as parked if
	// the message is parked.
	retrying []eventlog.Entry
	// pause is the first failure that pauses the partner (credentials
	// refused, a Retry-After longer than the invocation).
	pause *health.Cause
	// cwTransient is the last transient ConnectWise failure (5xx, timeout,
	// 429 after the client's retries): it counts towards a pause.
	cwTransient string
	// lastCode and lastReason are the last failure, kept on the claim for
	// the dead-letter queue's entry.
	lastCode, lastReason string
}

type runKey struct{}

// processed is what process reports.
type processed struct {
	retry                bool
	pause                *health.Cause
	cwTransient          string
	lastCode, lastReason string
	retrying             []eventlog.Entry
	calls                int64
}

// process does the message's work and records it.
func (w *Worker) process(ctx context.Context, log *slog.Logger, m *queue.Message, prior claim.Attempt, replay bool) processed {
	started := w.now()
	var calls atomic.Int64
	ctx = withCallCounter(ctx, &calls)
	thisRun := &run{prior: prior, replay: replay}
	ctx = context.WithValue(ctx, runKey{}, thisRun)
	retry := w.processRun(ctx, log, m, prior, &calls, started, thisRun)
	thisRun.mu.Lock()
	defer thisRun.mu.Unlock()
	return processed{retry: retry, pause: thisRun.pause, cwTransient: thisRun.cwTransient,
		lastCode: thisRun.lastCode, lastReason: thisRun.lastReason, retrying: thisRun.retrying, calls: calls.Load()}
}

func (w *Worker) processRun(ctx context.Context, log *slog.Logger, m *queue.Message, prior claim.Attempt, calls *atomic.Int64, started time.Time, thisRun *run) (retry bool) {
	base := eventlog.Entry{PartnerID: m.PartnerID, EventID: m.EventID, At: started}

	if m.Job == queue.JobSync {
		base.CustomerID = m.CustomerID
		target, err := w.target(ctx, m.PartnerID, m.Force)
		if err != nil {
			return w.recordFailure(ctx, log, base, eventlog.WhatSync, m.Event, err, calls, started)
		}
		if w.Sync == nil {
			return false
		}
		return w.syncCustomer(ctx, log, target, contract.Customer{ID: m.CustomerID}, m.Force, strings.HasPrefix(m.RequestID, SyncRequestPrefix), base, m.Event, calls, started)
	}

	ev, err := contract.Parse(m.Event)
	if err == nil && !m.ReceivedAt.IsZero() {
		// The webhook refuses times ahead of its clock; an event queued
		// before it did (or reprocessed from the log) is held to the same
		// rule against its time of receipt, so it cannot poison the state.
		err = contract.CheckClock(ev, m.ReceivedAt)
	}
	if err != nil {
		e := base
		e.What, e.Outcome, e.Code, e.Message, e.Event = eventlog.WhatEvent, eventlog.OutcomeFailed, outcome.CodeInvalidEvent, err.Error(), m.Event
		e.Remedy = "the queued event does not satisfy the contract; fix the sender and send it again"
		w.record(ctx, log, e)
		return false
	}
	base.CustomerID, base.EventType = ev.Customer.ID, string(ev.Type)

	target, err := w.target(ctx, m.PartnerID, m.Job == queue.JobReprocess)
	if err != nil {
		return w.recordFailure(ctx, log, base, eventlog.WhatEvent, m.Event, err, calls, started)
	}

	if m.Job == queue.JobEvent {
		if err := w.recordUsage(ctx, m, ev); err != nil {
			return w.recordFailure(ctx, log, base, eventlog.WhatEvent, m.Event, err, calls, started)
		}
	}

	results := w.Tickets.Apply(ctx, target, ev)
	if ev.Type == contract.TypeCustomerRemoved && w.Sync != nil {
		// The customer's accounts' tickets are resolved too.
		_, accts, err := w.Sync.Usage.Load(ctx, m.PartnerID, ev.Customer.ID)
		if err != nil {
			return w.recordFailure(ctx, log, base, eventlog.WhatEvent, m.Event, err, calls, started)
		}
		as := make([]contract.Account, len(accts))
		for i, a := range accts {
			as[i] = contract.Account{ID: a.AccountID, Name: a.Name}
			// Each account is removed with its customer, so that a failure
			// older than the removal opens nothing (tickets.ClearedTimes).
			rm := &contract.Event{SpecVersion: contract.SpecVersion, Type: contract.TypeAccountRemoved, OccurredAt: ev.OccurredAt,
				Customer: ev.Customer, Removal: &contract.Removal{Account: &as[i]}}
			if err := w.Sync.Usage.RecordEvent(ctx, m.PartnerID, "", rm); err != nil {
				return w.recordFailure(ctx, log, base, eventlog.WhatEvent, m.Event, err, calls, started)
			}
		}
		results = append(results, w.Tickets.ApplyRemovedAccounts(ctx, target, ev, as)...)
	}
	recorded := 0
	for _, r := range results {
		base.Subject = subject(r)
		if r.Noop && prior.Attempts == 0 {
			continue
		}
		recorded++
		if r.Err != nil {
			if w.recordFailure(ctx, log, base, eventlog.WhatTicket, m.Event, r.Err, calls, started) {
				retry = true
			}
			continue
		}
		e := base
		e.What, e.TicketID, e.Message = eventlog.WhatTicket, r.TicketID, describe(r)
		e.Outcome = eventlog.OutcomeDone
		if r.Action == tickets.ActionSkipped {
			e.Outcome = eventlog.OutcomeSkipped
			if r.Noop {
				// A retry: an earlier attempt may have left a "retrying"
				// entry for this fault; this one is the last word.
				e.Message = fmt.Sprintf("nothing left to do on attempt %d: %s", prior.Attempts+1, describe(r))
			}
		} else {
			w.Metrics.Count(map[string]float64{metrics.PushSucceeded: 1}, map[string]string{"partnerId": m.PartnerID})
		}
		e.Calls, e.DurationMS = int(calls.Load()), w.now().Sub(started).Milliseconds()
		w.record(ctx, log, e)
	}
	base.Subject = ""
	thisRun.mu.Lock()
	paused := thisRun.pause != nil
	thisRun.mu.Unlock()
	syncNote := ""
	if w.Sync != nil && synchronizes(target.Partner, ev) && !paused {
		var r bool
		if syncNote, r = w.requestSync(ctx, log, target, ev.Customer, m, base, calls, started); r {
			retry = true
		}
		if syncNote == "" {
			recorded++ // the sync ran inline and wrote its own entries
		}
	}
	if recorded == 0 {
		// Every accepted event leaves a line in the log: one line.
		e := base
		e.Subject = ""
		e.What, e.Outcome, e.Message = eventlog.WhatEvent, eventlog.OutcomeSkipped, fmt.Sprintf("nothing to do: this %s event opens no ticket and there is no open ticket it resolves", ev.Type)
		if syncNote != "" {
			e.Outcome = eventlog.OutcomeDone
			e.Message = fmt.Sprintf("recorded: this %s event opens no ticket and there is no open ticket it resolves; %s", ev.Type, syncNote)
		}
		e.Calls, e.DurationMS = int(calls.Load()), w.now().Sub(started).Milliseconds()
		w.record(ctx, log, e)
	}
	if n := calls.Load(); n > 0 {
		w.Metrics.Count(map[string]float64{metrics.ConnectWiseCalls: float64(n)}, map[string]string{"partnerId": m.PartnerID})
	}
	if !retry && prior.Attempts > 0 {
		// An earlier attempt may have left an event-level "retrying" entry
		// (reading the partner, recording usage): this attempt is its last word.
		e := base
		e.Subject, e.What, e.Outcome = "", eventlog.WhatEvent, eventlog.OutcomeDone
		e.Message = fmt.Sprintf("processed on attempt %d", prior.Attempts+1)
		e.Calls, e.DurationMS = int(calls.Load()), w.now().Sub(started).Milliseconds()
		w.record(ctx, log, e)
	}
	if m.Job == queue.JobReprocess && !retry {
		// The reprocess supersedes the event's earlier failures: take them
		// off the failed list; what failed again this time stays on it.
		if err := w.Log.Resolve(context.WithoutCancel(ctx), m.PartnerID, m.EventID, w.now(), thisRun.failures); err != nil {
			log.WarnContext(ctx, "resolve failed entries", "error", err)
		}
	}
	return retry
}

func subject(r tickets.Result) string {
	if r.Fault.AccountID == "*" {
		return string(r.Fault.Kind)
	}
	return string(r.Fault.Kind) + "/" + r.Fault.AccountID
}

func describe(r tickets.Result) string {
	s := fmt.Sprintf("%s %s", r.Action, r.Fault.Kind)
	if r.Fault.AccountID != "*" {
		s += " of account " + r.Fault.AccountID
	}
	if r.TicketID != 0 {
		s += fmt.Sprintf(" (ticket %d)", r.TicketID)
	}
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	return s
}

// recordFailure logs a failure and reports whether the message must not be
// completed (transient, or the partner is being paused).
func (w *Worker) recordFailure(ctx context.Context, log *slog.Logger, base eventlog.Entry, what eventlog.What, body json.RawMessage, err error, calls *atomic.Int64, started time.Time) bool {
	c := outcome.Of(err)
	e := base
	e.What, e.Code, e.Message, e.Remedy = what, c.Code, err.Error(), c.Remedy
	e.ConnectWiseMessage = outcome.ConnectWiseMessage(err)
	e.Calls, e.DurationMS = int(calls.Load()), w.now().Sub(started).Milliseconds()
	thisRun, _ := ctx.Value(runKey{}).(*run)
	if cause := w.pauseCause(ctx, err, c); cause != nil {
		// No PushFailed metric: the pause raises its own one alarm, not
		// one per held event.
		e.Code, e.Outcome = cause.Code, eventlog.OutcomeParked
		e.Remedy = "none needed for this event: the partner is paused and the event is held; it replays in order when ConnectWise answers again (a probe succeeds) or an operator resumes the partner. " + c.Remedy
		if thisRun != nil {
			thisRun.mu.Lock()
			if thisRun.pause == nil {
				thisRun.pause = cause
			}
			thisRun.mu.Unlock()
		}
		w.record(ctx, log, e)
		log.WarnContext(ctx, "push failed; the partner is being paused", "code", cause.Code, "error", err.Error())
		return true
	}
	if c.Kind == outcome.KindPermanent {
		e.Outcome, e.Event = eventlog.OutcomeFailed, body
	} else {
		e.Outcome = eventlog.OutcomeRetrying
		if e.Remedy == "" {
			e.Remedy = "none needed yet: the event is retried automatically, and reaches the dead-letter queue if it keeps failing"
		}
		if thisRun != nil {
			thisRun.mu.Lock()
			thisRun.lastCode, thisRun.lastReason = c.Code, err.Error()
			if c.Code == outcome.CodeUnavailable {
				thisRun.cwTransient = err.Error()
			}
			thisRun.mu.Unlock()
		}
	}
	if c.Code != outcome.CodeBusy {
		w.Metrics.Count(map[string]float64{metrics.PushFailed: 1}, map[string]string{"partnerId": base.PartnerID, "code": c.Code})
		w.record(ctx, log, e)
	}
	log.WarnContext(ctx, "push failed", "code", c.Code, "kind", c.Kind.String(), "error", err.Error())
	return c.Kind == outcome.KindTransient
}

func (w *Worker) record(ctx context.Context, log *slog.Logger, e eventlog.Entry) {
	if err := w.Log.Record(context.WithoutCancel(ctx), e); err != nil {
		log.ErrorContext(ctx, "event log write failed", "error", err)
	}
	if run, ok := ctx.Value(runKey{}).(*run); ok {
		run.mu.Lock()
		switch e.Outcome {
		case eventlog.OutcomeFailed:
			run.failures = append(run.failures, e)
		case eventlog.OutcomeRetrying:
			run.retrying = append(run.retrying, e)
		}
		run.mu.Unlock()
	}
	log.InfoContext(ctx, "event processed", "what", e.What, "outcome", e.Outcome, "code", e.Code, "ticketId", e.TicketID, "calls", e.Calls, "message", e.Message)
}

// target returns the partner's ConnectWise client, cached per warm worker.
// fresh forces re-reading the mapping (an operator reprocessing after a fix).
func (w *Worker) target(ctx context.Context, partnerID string, fresh bool) (tickets.Target, error) {
	p, err := w.Partners.Get(ctx, partnerID)
	if errors.Is(err, partner.ErrNotFound) {
		return tickets.Target{}, outcome.Permanent(outcome.CodePartnerNotFound, "the partner was deleted or never configured; configure it through the operator API, then reprocess", err)
	}
	if err != nil {
		// partner.ErrUnreadable (stored settings that do not decode) is
		// classified permanent by outcome.Of (PARTNER_UNREADABLE): reading
		// again cannot help until an operator rewrites the partner.
		return tickets.Target{}, err
	}
	w.mu.Lock()
	ct, ok := w.targets[partnerID]
	w.mu.Unlock()
	if ok && ct.version == p.Version && w.now().Before(ct.exp) {
		if fresh {
			ct.companies.Forget()
		}
		return tickets.Target{Partner: p, CW: ct.cw, Companies: ct.companies}, nil
	}
	s, err := w.Secrets.GetSecrets(ctx, partnerID)
	if errors.Is(err, partner.ErrNotFound) {
		return tickets.Target{}, outcome.Permanent(outcome.CodePartnerSecrets, "the partner has no ConnectWise keys in Secrets Manager; set them through the operator API, then reprocess", err)
	}
	if err != nil {
		return tickets.Target{}, err
	}
	opts, err := p.ClientOptions(s)
	if err != nil {
		// Keys bound to another site or company (partner.ErrKeysBoundElsewhere):
		// not sent; transient, as the new keys arrive within the secrets cache's TTL.
		return tickets.Target{}, err
	}
	opts.HTTPClient, opts.Retry = w.httpClient(), w.Retry
	cw, err := connectwise.NewClient(ctx, opts)
	if err != nil {
		return tickets.Target{}, fmt.Errorf("ConnectWise client of partner %s: %w", partnerID, err)
	}
	ttl := w.ClientTTL
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	dir := &managedid.Directory{Now: w.Now, Key: partnerID}
	if w.ManagedIDs != nil {
		dir.Shared = w.ManagedIDs
	}
	ct = &cachedTarget{version: p.Version, exp: w.now().Add(ttl), cw: cw, companies: dir}
	w.mu.Lock()
	if w.targets == nil {
		w.targets = map[string]*cachedTarget{}
	}
	w.targets[partnerID] = ct
	w.mu.Unlock()
	return tickets.Target{Partner: p, CW: cw, Companies: ct.companies}, nil
}

func (w *Worker) httpClient() *http.Client {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.counting == nil {
		hc := w.HTTPClient
		if hc == nil {
			// The strict default: public sites only, no redirects, https.
			var err error
			if hc, err = connectwise.NewHTTPClient(connectwise.HTTPClientOptions{Timeout: 30 * time.Second}); err != nil {
				panic("connectwise.NewHTTPClient refused its own defaults: " + err.Error()) // cannot happen: no transport given
			}
		}
		w.counting = countingClient(hc)
	}
	return w.counting
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// ticketChanged handles a ConnectWise callback about a ticket (package
// callback), outside the claim: it re-reads the ticket from ConnectWise and
// records what a person did on its fault (tickets.Service.TicketChanged),
// which is the same however often it runs, so a repeat or a replay changes
// nothing and costs no write. Most callbacks are about the service's own
// changes (a ticket it opened, noted or resolved): they write nothing, and
// only the function's log says so. What a person did gets an event log
// line. A partner whose ConnectWise is paused (package health) drops the
// callback with a log line: the next failure reads the ticket anyway.
func (w *Worker) ticketChanged(ctx context.Context, log *slog.Logger, m *queue.Message) error {
	started := w.now()
	var calls atomic.Int64
	ctx = withCallCounter(ctx, &calls)
	if w.Health != nil {
		st, err := w.Health.Get(ctx, m.PartnerID)
		if err != nil {
			return fmt.Errorf("read partner health: %w", err)
		}
		if st.Holding() {
			log.WarnContext(ctx, "connectwise callback dropped: the partner is paused; the next failure reads the ticket", "ticketId", m.TicketID)
			return nil
		}
	}
	base := eventlog.Entry{PartnerID: m.PartnerID, EventID: m.EventID, At: started, EventType: "connectwise.callback", Subject: fmt.Sprintf("ticket/%d", m.TicketID)}
	// A transient failure is retried through the queue with no event-log
	// line (a callback that ends skipped would leave "retrying" as its last
	// word); a permanent one, and a dead letter, are logged.
	failed := func(err error) error {
		if outcome.Of(err).Kind != outcome.KindPermanent {
			log.WarnContext(ctx, "connectwise callback: transient failure; retried through the queue", "ticketId", m.TicketID, "error", err)
			return errors.New("transient failure; retry")
		}
		w.recordFailure(ctx, log, base, eventlog.WhatTicket, m.Event, err, &calls, started)
		return nil
	}
	target, err := w.target(ctx, m.PartnerID, false)
	if err != nil {
		return failed(err)
	}
	// The callback's body (the endpoint queued it as received): a hint only.
	var hint *connectwise.Ticket
	var p connectwise.CallbackPayload
	if json.Unmarshal(m.Event, &p) == nil {
		var tk connectwise.Ticket
		if p.DecodeEntity(&tk) == nil {
			hint = &tk
		}
	}
	r := w.Tickets.TicketChanged(ctx, target, m.TicketID, hint, p.Action == connectwise.CallbackActionDeleted)
	base.CustomerID = r.Fault.CustomerID
	if r.Err != nil {
		return failed(r.Err)
	}
	if r.Action == tickets.ActionSkipped {
		log.InfoContext(ctx, "connectwise callback: nothing to record", "ticketId", m.TicketID, "reason", r.Reason, "calls", calls.Load())
		return nil
	}
	e := base
	e.What, e.Outcome, e.TicketID, e.Message = eventlog.WhatTicket, eventlog.OutcomeDone, r.TicketID, r.Reason
	e.Calls, e.DurationMS = int(calls.Load()), w.now().Sub(started).Milliseconds()
	w.record(ctx, log, e)
	return nil
}
