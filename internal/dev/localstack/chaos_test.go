//go:build chaos

package localstack_test

// The chaos run (issue 9): the whole local stack under a random 30% of
// ConnectWise faults, duplicate deliveries, and one partner whose keys are
// refused for the middle third of the run. It proves that nothing is lost
// or ticketed twice and that no step's last word is "retrying". Built only
// with the tag chaos, so `make test` never runs it:
//
//	make chaos
//	go test -tags chaos -run 'TestChaos|TestIsolation' -count=1 -v -timeout 30m ./internal/dev/localstack/
//
// Knobs (environment): CHAOS_EVENTS (default 10000), CHAOS_SEED (default
// 1), CHAOS_REFUSED_PERCENT (default 33: the three partners get a third of
// the events each), CHAOS_MINUTES (the time budget for sending and
// converging; default the test's deadline less 8 minutes, so that the
// figures are printed and TestIsolation still runs), CHAOS_LOG (a file to
// keep the service's log in; default the test's temporary directory).
//
// Locally every DynamoDB call goes through one lock, and minidyn answers a
// query or a transaction by reading or copying the whole table: with tens
// of thousands of items, each takes a few hundred milliseconds. Parking and
// replaying are made of those (a transaction to park, one to unpark, a query
// per replay batch, the tick's queries), so the more events a run parks
// the slower it gets; the report says how many it parked.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dyntypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/dev/localstack"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/health"
	"github.com/efs-cw/backupbridge/internal/metrics"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/signature"
	"github.com/efs-cw/backupbridge/internal/tickets"
)

// chaosPartner is one partner of the chaos and isolation runs: its own API
// member in the simulator, its own webhook secret, its customers linked to
// simulator companies by managed ID.
type chaosPartner struct {
	ID                               string
	CompanyID, PublicKey, PrivateKey string
	Customers                        []contract.Customer
	key                              []byte // webhook signing key
}

// refuseKeys revokes the partner's API member (401 from now on);
// acceptKeys restores it with the same keys.
func (p *chaosPartner) refuseKeys(sim *cwsim.Sim) bool {
	return sim.RemoveMember(p.CompanyID, p.PublicKey)
}
func (p *chaosPartner) acceptKeys(sim *cwsim.Sim) {
	sim.AddMember(p.CompanyID, p.PublicKey, p.PrivateKey)
}

// seedPartners returns the demo partner and seeds two more, "chaos-two"
// and "chaos-three": each with its API member, webhook secret, and three
// customers whose companies carry their managed IDs (EFS-2001, …) under
// the demo's eFolder solution, both device types, as the demo's companies
// do. They open tickets on the demo board; no data sync.
func seedPartners(tb testing.TB, st *localstack.Stack) []*chaosPartner {
	tb.Helper()
	ctx := context.Background()
	demo := &chaosPartner{ID: partner.DemoPartnerID, CompanyID: cwsim.DemoCompanyID, PublicKey: cwsim.DemoPublicKey,
		PrivateKey: cwsim.DemoPrivateKey, Customers: localstack.DemoCustomers}
	demo.key = mustKey(tb, partner.DemoWebhookSecret)
	all := []*chaosPartner{demo}
	for i, name := range []string{"two", "three"} {
		n := i + 2
		p := &chaosPartner{ID: "chaos-" + name, CompanyID: "msp_" + name, PublicKey: name + "-public-key", PrivateKey: name + "-private-key"}
		st.Sim.AddMember(p.CompanyID, p.PublicKey, p.PrivateKey)
		for c := 1; c <= 3; c++ {
			cust := contract.Customer{ID: fmt.Sprintf("%d%03d", n, c), Name: fmt.Sprintf("Customer %d of MSP %s", c, name)}
			co := st.Sim.AddCompany(cwsim.Company{Identifier: fmt.Sprintf("Chaos%d%03d", n, c), Name: cust.Name})
			for _, dt := range []string{cwsim.DeviceTypeWorkstationsAndServers, cwsim.DeviceTypeBackupStats} {
				if _, err := st.Sim.AddManagementSummary(co.ID, cwsim.ManagementSummary{
					GroupIdentifier: cust.ManagedID(), ManagementSolution: cwsim.Ref{ID: st.Demo.Sim.SolutionID}, DeviceType: dt,
				}); err != nil {
					tb.Fatal(err)
				}
			}
			p.Customers = append(p.Customers, cust)
		}
		settings, secrets := localstack.DemoPartner(st.Sim.URL())
		settings.ID, settings.Name, settings.CompanyID = p.ID, "MSP "+name, p.CompanyID
		settings.Integration = partner.Integration{}
		secret := signature.NewSecret()
		secrets.PublicKey, secrets.PrivateKey, secrets.WebhookSecrets = p.PublicKey, p.PrivateKey, []string{secret}
		if err := settings.Validate(connectwise.SitePolicy{AllowLoopback: true}); err != nil {
			tb.Fatalf("partner %s: %v", p.ID, err)
		}
		if err := st.Service.Secrets.PutSecrets(ctx, p.ID, secrets); err != nil {
			tb.Fatal(err)
		}
		if err := st.Service.Partners.Create(ctx, settings); err != nil {
			tb.Fatal(err)
		}
		p.key = mustKey(tb, secret)
		all = append(all, p)
	}
	return all
}

func mustKey(tb testing.TB, secret string) []byte {
	tb.Helper()
	k, err := signature.ParseSecret(secret)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// failureEvent is a failed backup of account at time at.
func failureEvent(c contract.Customer, account string, at time.Time) []byte {
	return fmt.Appendf(nil, `{"specVersion":"1.0","type":"backup.completed","occurredAt":%q,"customer":{"id":%q,"name":%q},"backup":%s}`,
		at.UTC().Format(time.RFC3339), c.ID, c.Name, backup("failure", account, at))
}

// faultXRefPrefix is the externalXRef of every ticket of a fault, without
// the sequence number.
func faultXRefPrefix(partnerID, customerID, account string) string {
	k := tickets.FaultKey{PartnerID: partnerID, CustomerID: customerID, AccountID: account, Kind: "backup_failure"}
	return strings.TrimSuffix(k.XRef(1), "1")
}

// faultRefOf is the fault part of a ticket's externalXRef ("" for none).
func faultRefOf(xref string) string {
	i := strings.LastIndexByte(xref, ':')
	if !strings.HasPrefix(xref, "efs:") || i < 0 {
		return ""
	}
	return xref[:i+1]
}

// sender posts signed webhooks as a provider would: a 409 (delivery in
// progress), a 5xx or a dropped connection is sent again, signed anew.
type sender struct {
	st     *localstack.Stack
	client *http.Client
}

func newSender(st *localstack.Stack) *sender {
	return &sender{st: st, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}}
}

// post sends once; status is the answer's "status" field (accepted, duplicate).
func (s *sender) post(p *chaosPartner, id string, body []byte) (code int, status string, err error) {
	now := time.Now()
	req, _ := http.NewRequest(http.MethodPost, s.st.WebhookURL(p.ID), bytes.NewReader(body))
	req.Header.Set("content-type", "application/json")
	req.Header.Set(signature.HeaderID, id)
	req.Header.Set(signature.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(signature.HeaderSignature, signature.Sign(p.key, id, now, body))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b struct {
		Status string `json:"status"`
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &b)
	return resp.StatusCode, b.Status, nil
}

// deliver posts until the webhook takes the event (202) or refuses it for
// good (another 4xx); it returns the last answer.
func (s *sender) deliver(p *chaosPartner, id string, body []byte) (code int, status string, attempts int) {
	for attempts = 1; ; attempts++ {
		var err error
		code, status, err = s.post(p, id, body)
		if err == nil && (code == http.StatusAccepted || (code < 500 && code != http.StatusConflict)) {
			return code, status, attempts
		}
		if attempts >= 40 {
			return code, status, attempts
		}
		time.Sleep(time.Duration(min(attempts, 10)) * 50 * time.Millisecond)
	}
}

// chaosQueueTimes sets the queue's visibility timeout well above the
// worker's invocation timeout, as template.yaml does (6×): a batch still
// running when its messages reappear would be handed to a second worker
// and counted as a receive towards the DLQ. The first retry of a failed
// message is shortened to chaosRetryBase instead (worker.RetryBase, which
// Start ties to the visibility timeout).
func chaosQueueTimes(o *localstack.Options) {
	o.InvokeTimeout = 30 * time.Second
	o.VisibilityTimeout = 120
}

const chaosRetryBase = 2 * time.Second

// chaosTick is the health tick's interval in the chaos runs (in AWS, one
// minute). Not a second: locally every tick costs table queries that
// minidyn answers by reading the whole table, under one lock for all of
// DynamoDB (localaws.serialize), and the table holds tens of thousands of
// items by the end of the run.
const chaosTick = 5 * time.Second

// chaosBacklog is the most messages the senders let the queue hold
// (visible or in flight) before they wait: the provider sends as fast as
// the service keeps up, so that "the middle third of the run" is a third
// of the traffic, not a few seconds of a burst the workers then take
// minutes to work through.
const chaosBacklog = 100

// gate holds the senders back while the queue holds more than limit.
type gate struct{ open atomic.Bool }

func startGate(ctx context.Context, wg *sync.WaitGroup, st *localstack.Stack, limit int) *gate {
	g := &gate{}
	g.open.Store(true)
	wg.Go(func() {
		defer g.open.Store(true)
		for ctx.Err() == nil {
			out, err := st.AWS.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
				QueueUrl: aws.String(st.QueueURL),
				AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
					sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
			})
			if err == nil {
				n := 0
				for _, v := range out.Attributes {
					c, _ := strconv.Atoi(v)
					n += c
				}
				g.open.Store(n <= limit)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	return g
}

func (g *gate) wait() {
	for !g.open.Load() {
		time.Sleep(20 * time.Millisecond)
	}
}

// smallWaits is a ConnectWise retry policy whose waits are real but at most
// cap (a Retry-After of seconds included), so that the run is fast.
func smallWaits(cap time.Duration) connectwise.RetryPolicy {
	return connectwise.RetryPolicy{MaxAttempts: 4, Base: 10 * time.Millisecond, Max: 100 * time.Millisecond,
		Sleep: func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(min(d, cap))
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}}
}

// metricTally sums the EMF metric lines the service writes (one JSON
// object a line).
type metricTally struct {
	mu   sync.Mutex
	part []byte
	sum  map[string]float64
}

func (m *metricTally) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sum == nil {
		m.sum = map[string]float64{}
	}
	m.part = append(m.part, p...)
	for {
		i := bytes.IndexByte(m.part, '\n')
		if i < 0 {
			break
		}
		var line map[string]any
		if json.Unmarshal(m.part[:i], &line) == nil {
			for _, name := range []string{metrics.EventsParked, metrics.PartnersPaused, metrics.DeadLettered, metrics.PushFailed, metrics.PushSucceeded} {
				if v, ok := line[name].(float64); ok {
					m.sum[name] += v
				}
			}
		}
		m.part = m.part[i+1:]
	}
	return len(p), nil
}

func (m *metricTally) get(name string) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sum[name]
}

// chaosFault is one fault (partner, customer, account) the run reported.
type chaosFault struct {
	partnerID, customerID, account string
	xrefPrefix                     string
	events                         []string // accepted webhook-ids reporting it
}

// chaosBook is what the senders did.
type chaosBook struct {
	mu        sync.Mutex
	faults    map[string]*chaosFault // by xref prefix
	accepted  map[string]string      // accepted webhook-id → xref prefix
	sent      int                    // events sent
	posts     int                    // HTTP posts, resends included
	ok202     int                    // events answered 202
	dupAcks   int                    // of which "duplicate" (the webhook-id was known)
	redeliver int                    // events that were a re-post of a webhook-id
	again     int                    // events that reported a known fault under a new id
	refused   map[int]int            // events refused for good, by status
}

type sentEvent struct {
	p     *chaosPartner
	id    string
	body  []byte
	fault *chaosFault
}

// TestChaos is the chaos run.
func TestChaos(t *testing.T) {
	total := envInt("CHAOS_EVENTS", 10000)
	seed := int64(envInt("CHAOS_SEED", 1))
	refusedShare := float64(envInt("CHAOS_REFUSED_PERCENT", 33)) / 100
	const senders = 8
	const rate = 0.3

	logPath := os.Getenv("CHAOS_LOG")
	if logPath == "" {
		logPath = filepath.Join(t.TempDir(), "service.log")
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	var logMu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&logMu, logFile}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	tally := &metricTally{}
	st, _, _ := newStack(t, logger, func(o *localstack.Options) {
		o.Now = nil // the real clock: leases, signatures, probe backoff as in production
		o.WorkerConcurrency = 8
		chaosQueueTimes(o)
		o.ConnectWiseTimeout = 5 * time.Second
		o.Retry = smallWaits(50 * time.Millisecond)
		o.MetricsOut = tally
	})
	st.Service.Worker.RetryBase = chaosRetryBase
	partners := seedPartners(t, st)
	refused := partners[2] // chaos-three: keys refused for the middle third

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
		}
	}
	defer stop()
	wg.Go(func() { _ = st.RunWorkers(ctx) })
	wg.Go(func() { st.RunHealth(ctx, chaosTick) })

	st.Sim.SetChaos(cwsim.Chaos{Rate: rate, Seed: seed, RetryAfter: time.Second, Slow: 300 * time.Millisecond})
	calls0 := st.Sim.CallCount("", "")
	book := &chaosBook{faults: map[string]*chaosFault{}, accepted: map[string]string{}, refused: map[int]int{}}
	snd := newSender(st)
	var seq atomic.Int64
	var refusedAt, restoredAt time.Time
	began := time.Now()
	// The run's time budget: sending and converging stop at it, so that the
	// figures are always printed, and TestIsolation still has its minutes
	// before `go test -timeout` (CHAOS_MINUTES, default: the test deadline
	// less 8 minutes, or 22 minutes).
	budget := began.Add(22 * time.Minute)
	if dl, ok := t.Deadline(); ok {
		budget = dl.Add(-8 * time.Minute)
	}
	if m := envInt("CHAOS_MINUTES", 0); m > 0 {
		budget = began.Add(time.Duration(m) * time.Minute)
	}
	gate := startGate(ctx, &wg, st, chaosBacklog)
	var sendWG sync.WaitGroup
	for s := range senders {
		sendWG.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(s)))
			var history []sentEvent
			for i := s; i < total && time.Now().Before(budget); i += senders {
				switch seq.Add(1) {
				case int64(total / 3):
					if !refused.refuseKeys(st.Sim) {
						t.Error("the refused partner's member was not there to remove")
					}
					refusedAt = time.Now()
				case int64(2 * total / 3):
					refused.acceptKeys(st.Sim)
					restoredAt = time.Now()
				}
				var ev sentEvent
				kind := "new"
				r := rng.Float64()
				switch {
				case r < 0.1 && len(history) > 0: // the same webhook-id again
					ev, kind = history[rng.IntN(len(history))], "redeliver"
				case r < 0.2 && len(history) > 0: // the same fault, a new report
					old := history[rng.IntN(len(history))]
					c := customerOf(old.p, old.fault.customerID)
					ev = sentEvent{p: old.p, id: newID(), body: failureEvent(c, old.fault.account, time.Now()), fault: old.fault}
					kind = "again"
				default:
					p := partners[rng.IntN(2)] // the two others share the rest
					if rng.Float64() < refusedShare {
						p = refused
					}
					c := p.Customers[rng.IntN(len(p.Customers))]
					acct := fmt.Sprintf("S%d-E%05d", s, i)
					ev = sentEvent{p: p, id: newID(), body: failureEvent(c, acct, time.Now()),
						fault: &chaosFault{partnerID: p.ID, customerID: c.ID, account: acct, xrefPrefix: faultXRefPrefix(p.ID, c.ID, acct)}}
				}
				gate.wait()
				code, status, attempts := snd.deliver(ev.p, ev.id, ev.body)
				book.mu.Lock()
				book.sent++
				book.posts += attempts
				switch kind {
				case "redeliver":
					book.redeliver++
				case "again":
					book.again++
				}
				if code == http.StatusAccepted {
					book.ok202++
					if status == "duplicate" {
						book.dupAcks++
					}
					f := book.faults[ev.fault.xrefPrefix]
					if f == nil {
						f = ev.fault
						book.faults[f.xrefPrefix] = f
					}
					if _, seen := book.accepted[ev.id]; !seen {
						book.accepted[ev.id] = f.xrefPrefix
						f.events = append(f.events, ev.id)
					}
					if kind == "new" {
						history = append(history, ev)
					}
				} else {
					book.refused[code]++
				}
				book.mu.Unlock()
			}
		})
	}
	sendWG.Wait()
	lastSend := time.Now()
	book.mu.Lock()
	sentAll := book.sent
	book.mu.Unlock()
	t.Logf("sent %d events in %s; converging", sentAll, lastSend.Sub(began).Round(time.Millisecond))

	// Converge: queue and in-flight empty, every partner healthy with
	// nothing held, every fault's ticket present (or the fault's event
	// failed for good, on the failed list).
	deadline := budget
	var convergedAt time.Time
	var why string
	lastReport := time.Now()
	for {
		var ok bool
		ok, why = chaosConverged(t, st, partners, book)
		if ok {
			convergedAt = time.Now()
			break
		}
		if time.Now().After(deadline) {
			break
		}
		if time.Since(lastReport) > 20*time.Second {
			t.Logf("%s after the last send: not converged: %s", time.Since(lastSend).Round(time.Second), why)
			lastReport = time.Now()
		}
		time.Sleep(3 * time.Second)
	}
	stop() // workers and health tick stopped: what follows reads a still stack
	ended := time.Now()
	considered, injected := st.Sim.ChaosStats()
	st.Sim.SetChaos(cwsim.Chaos{})

	// The figures.
	book.mu.Lock()
	defer book.mu.Unlock()
	rep := analyse(t, st, partners, book)
	logMu.Lock()
	logText, _ := os.ReadFile(logPath)
	logMu.Unlock()
	pauses := alarms(string(logText))
	pausesBy := map[string]int{}
	for _, line := range strings.Split(string(logText), "\n") {
		if strings.Contains(line, `"msg":"partner paused","alarm":"PartnerPaused"`) {
			var l struct {
				PartnerID string `json:"partnerId"`
				Code      string `json:"code"`
			}
			_ = json.Unmarshal([]byte(line), &l)
			pausesBy[l.PartnerID+" "+l.Code]++
		}
	}
	repauses := strings.Count(string(logText), `"msg":"partner paused again while replaying its held events"`)

	var b strings.Builder
	fmt.Fprintf(&b, "==== chaos run (seed %d, %d senders, %.0f%% ConnectWise faults, %s (%.0f%% of the events) refused its keys for the middle third) ====\n", seed, senders, rate*100, refused.ID, refusedShare*100)
	if book.sent < total {
		fmt.Fprintf(&b, "NOT ALL SENT               %d of %d events sent before the time budget ran out\n", book.sent, total)
	}
	fmt.Fprintf(&b, "events sent                %d (%d HTTP posts with resends; %d re-posts of a webhook-id, %d repeats of a fault under a new id)\n", book.sent, book.posts, book.redeliver, book.again)
	fmt.Fprintf(&b, "accepted (202)             %d (%d of them answered \"duplicate\"); refused for good: %v\n", book.ok202, book.dupAcks, book.refused)
	fmt.Fprintf(&b, "faults reported            %d, in %d distinct accepted events\n", len(book.faults), len(book.accepted))
	fmt.Fprintf(&b, "tickets in ConnectWise     %d (%d not matching any reported fault)\n", rep.tickets, rep.strayTickets)
	if convergedAt.IsZero() {
		fmt.Fprintf(&b, "lost                       cannot be told: the run did not settle; %d faults have no ticket, are not held and did not fail (queued, in flight or lost)\n", len(rep.lost))
	} else {
		fmt.Fprintf(&b, "LOST                       %d\n", len(rep.lost))
	}
	fmt.Fprintf(&b, "still held (parked)        %d faults without a ticket whose event is still held (not lost; the run did not settle)\n", rep.heldFaults)
	fmt.Fprintf(&b, "DUPLICATED                 %d\n", len(rep.duplicated))
	fmt.Fprintf(&b, "last word \"retrying\"       %d event steps (of which %d of events a later attempt finished: retrying for good); over %d events' %d log entries\n", len(rep.retryingLast), len(rep.retryingSettled), rep.loggedEvents, rep.entries)
	fmt.Fprintf(&b, "accepted, no log entry     %d\n", len(rep.noEntry))
	fmt.Fprintf(&b, "failed for good            %d events (failed/dead_lettered last word)\n", len(rep.failedFinal))
	fmt.Fprintf(&b, "parked                     %d park entries in the event log (%d distinct events); EventsParked metric %.0f\n", rep.parkEntries, rep.parkedEvents, tally.get(metrics.EventsParked))
	fmt.Fprintf(&b, "DLQ depth                  %d (dead_lettered entries: %d)\n", rep.dlq, rep.deadLettered)
	fmt.Fprintf(&b, "pauses (alarm lines)       %d %v; re-paused while replaying: %d; PartnersPaused metric %.0f\n", pauses, pausesBy, repauses, tally.get(metrics.PartnersPaused))
	switch {
	case refusedAt.IsZero():
		fmt.Fprintf(&b, "keys refused               never (the run stopped first)\n")
	case restoredAt.IsZero():
		fmt.Fprintf(&b, "keys refused               from %s, never given back (the run stopped first)\n", refusedAt.Sub(began).Round(time.Millisecond))
	default:
		fmt.Fprintf(&b, "keys refused               %s → %s (%s)\n", refusedAt.Sub(began).Round(time.Millisecond), restoredAt.Sub(began).Round(time.Millisecond), restoredAt.Sub(refusedAt).Round(time.Millisecond))
	}
	if convergedAt.IsZero() {
		fmt.Fprintf(&b, "time to converge           NOT CONVERGED after %s: %s\n", ended.Sub(lastSend).Round(time.Millisecond), why)
	} else {
		fmt.Fprintf(&b, "time to converge           %s (from the last send)\n", convergedAt.Sub(lastSend).Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "sending took               %s (%.0f events/s)\n", lastSend.Sub(began).Round(time.Millisecond), float64(total)/lastSend.Sub(began).Seconds())
	fmt.Fprintf(&b, "total run time             %s\n", ended.Sub(began).Round(time.Millisecond))
	fmt.Fprintf(&b, "ConnectWise calls          %d (%.2f per accepted event); chaos considered %d, injected %v\n", st.Sim.CallCount("", "")-calls0, float64(st.Sim.CallCount("", "")-calls0)/float64(max(len(book.accepted), 1)), considered, injected)
	fmt.Fprintf(&b, "partners at the end        %s\n", rep.partners)
	fmt.Fprintf(&b, "DynamoDB table             %d items at the end (minidyn reads or copies them all for each query and transaction)\n", tableItems(t, st))
	fmt.Fprintf(&b, "service log                %s\n", logPath)
	b.WriteString("====\n")
	t.Log("\n" + b.String())
	fmt.Print(b.String())

	retryingShown := rep.retryingLast
	if convergedAt.IsZero() {
		retryingShown = rep.retryingSettled
	}
	for _, l := range [][]string{rep.lost, rep.duplicated, retryingShown, rep.noEntry} {
		for i, s := range l {
			if i == 10 {
				t.Logf("… and %d more", len(l)-10)
				break
			}
			t.Log(s)
		}
	}
	if convergedAt.IsZero() {
		// Unsettled: only what is known for good counts.
		if len(rep.duplicated) > 0 || len(rep.retryingSettled) > 0 {
			t.Errorf("duplicated %d, last word retrying (for good) %d: want 0, 0", len(rep.duplicated), len(rep.retryingSettled))
		}
	} else {
		if len(rep.lost) > 0 || len(rep.duplicated) > 0 || len(rep.retryingLast) > 0 {
			t.Errorf("lost %d, duplicated %d, last word retrying %d: want 0, 0, 0", len(rep.lost), len(rep.duplicated), len(rep.retryingLast))
		}
		if len(rep.noEntry) > 0 {
			t.Errorf("%d accepted events have no entry in the event log", len(rep.noEntry))
		}
	}
	if convergedAt.IsZero() {
		t.Errorf("not converged: %s", why)
	}
	if book.sent < total {
		t.Errorf("only %d of %d events sent within the time budget", book.sent, total)
	}
}

func customerOf(p *chaosPartner, id string) contract.Customer {
	for _, c := range p.Customers {
		if c.ID == id {
			return c
		}
	}
	return contract.Customer{ID: id}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// chaosConverged reports whether the run has settled, or what it waits for.
func chaosConverged(t *testing.T, st *localstack.Stack, partners []*chaosPartner, book *chaosBook) (bool, string) {
	t.Helper()
	if n := queueDepthOf(t, st, st.QueueURL) + queueDepthOf(t, st, st.SyncURL); n > 0 {
		return false, fmt.Sprintf("%d messages queued or in flight", n)
	}
	for _, p := range partners {
		h, err := st.Service.Health.Get(context.Background(), p.ID)
		if err != nil {
			return false, err.Error()
		}
		if h.State != health.Healthy || h.Parked != 0 {
			return false, fmt.Sprintf("partner %s is %s with %d held", p.ID, h.State, h.Parked)
		}
	}
	have := map[string]bool{}
	for _, tk := range st.Sim.Tickets() {
		have[faultRefOf(tk.ExternalXRef)] = true
	}
	book.mu.Lock()
	defer book.mu.Unlock()
	var failed map[string]bool // read only when a ticket is missing
	missing := 0
	var example string
	for ref, f := range book.faults {
		if have[ref] {
			continue
		}
		if failed == nil {
			failed = failedEvents(t, st, partners)
		}
		if slices.ContainsFunc(f.events, func(id string) bool { return failed[id] }) {
			continue
		}
		missing++
		example = fmt.Sprintf("%s/%s/%s (events %v)", f.partnerID, f.customerID, f.account, f.events)
	}
	if missing > 0 {
		return false, fmt.Sprintf("%d faults without a ticket, e.g. %s", missing, example)
	}
	return true, ""
}

// failedEvents are the events on the partners' failed lists (failed or
// dead_lettered entries).
func failedEvents(t *testing.T, st *localstack.Stack, partners []*chaosPartner) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, p := range partners {
		for _, e := range readLog(t, st, eventlog.Query{PartnerID: p.ID, FailedOnly: true}) {
			out[e.EventID] = true
		}
	}
	return out
}

// readLog reads every entry the query selects, newest first.
func readLog(t *testing.T, st *localstack.Stack, q eventlog.Query) []eventlog.Entry {
	t.Helper()
	q.Limit = 500
	var all []eventlog.Entry
	for {
		page, err := st.Service.Log.List(context.Background(), q)
		if err != nil {
			t.Fatalf("event log: %v", err)
		}
		all = append(all, page.Entries...)
		if page.Cursor == "" {
			return all
		}
		q.Cursor = page.Cursor
	}
}

// chaosReport is what analyse found.
type chaosReport struct {
	tickets, strayTickets int
	lost, duplicated      []string
	retryingLast, noEntry []string
	// retryingSettled: retrying last words of events a later attempt
	// finished (so they stay retrying for good), known even when the run
	// did not settle.
	retryingSettled       []string
	failedFinal           map[string]bool
	entries, loggedEvents int
	parkEntries           int
	parkedEvents          int
	dlq, deadLettered     int
	heldFaults            int
	partners              string
}

// analyse reads the simulator's tickets, the whole event log and the DLQ,
// and checks them against what was accepted.
func analyse(t *testing.T, st *localstack.Stack, partners []*chaosPartner, book *chaosBook) chaosReport {
	t.Helper()
	var rep chaosReport
	byRef := map[string][]cwsim.Ticket{}
	all := st.Sim.Tickets()
	rep.tickets = len(all)
	for _, tk := range all {
		ref := faultRefOf(tk.ExternalXRef)
		if book.faults[ref] == nil {
			rep.strayTickets++
		}
		byRef[ref] = append(byRef[ref], tk)
	}

	// What the partners still hold (parked, not yet replayed): the items
	// under PARKED#<partner> (package health), read page by page.
	held := map[string]bool{}
	for _, p := range partners {
		in := &dynamodb.QueryInput{
			TableName:                 aws.String(st.AWS.Names["Table"]),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]dyntypes.AttributeValue{":pk": &dyntypes.AttributeValueMemberS{Value: "PARKED#" + p.ID}},
			ConsistentRead:            aws.Bool(true),
		}
		for {
			out, err := st.AWS.DynamoDB.Query(context.Background(), in)
			if err != nil {
				t.Fatalf("held events of %s: %v", p.ID, err)
			}
			for _, item := range out.Items {
				var qm queue.Message
				if m, ok := item["message"].(*dyntypes.AttributeValueMemberS); ok && json.Unmarshal([]byte(m.Value), &qm) == nil {
					held[qm.EventID] = true
				}
			}
			if len(out.LastEvaluatedKey) == 0 {
				break
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
	}

	// The event log, bulk: each event's steps (what/subject) and the last
	// word of each (entries come newest first).
	rep.failedFinal = map[string]bool{}
	logged := map[string]bool{}
	parked := map[string]bool{}
	for _, p := range partners {
		entries := readLog(t, st, eventlog.Query{PartnerID: p.ID})
		rep.entries += len(entries)
		last := map[string]eventlog.Entry{}
		finished := map[string]time.Time{} // event → its latest done/skipped ticket entry
		for _, e := range entries {
			logged[e.EventID] = true
			if e.What == eventlog.WhatTicket && (e.Outcome == eventlog.OutcomeDone || e.Outcome == eventlog.OutcomeSkipped) && e.At.After(finished[e.EventID]) {
				finished[e.EventID] = e.At
			}
			if e.Outcome == eventlog.OutcomeParked && e.Code == outcome.CodePartnerPaused {
				rep.parkEntries++
				parked[e.EventID] = true
			}
			if e.Outcome == eventlog.OutcomeDeadLettered {
				rep.deadLettered++
			}
			k := e.EventID + " " + string(e.What) + "/" + e.Subject
			if _, ok := last[k]; !ok {
				last[k] = e
			}
		}
		keys := make([]string, 0, len(last))
		for k := range last {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			e := last[k]
			if !e.Outcome.Final() {
				line := fmt.Sprintf("retrying last: partner %s event %s step %s/%s at %s: %s %s: %s",
					p.ID, e.EventID, e.What, e.Subject, e.At.Format(time.RFC3339Nano), e.Outcome, e.Code, e.Message)
				if at := finished[e.EventID]; at.After(e.At) && !held[e.EventID] {
					// Not pending: a later attempt finished the event's
					// tickets, and nothing of it is held; no entry will
					// follow on this step.
					line += fmt.Sprintf(" [a later attempt finished the event at %s]", at.Format(time.RFC3339Nano))
					rep.retryingSettled = append(rep.retryingSettled, line)
				}
				rep.retryingLast = append(rep.retryingLast, line)
			}
			if e.Outcome.OnFailedList() {
				rep.failedFinal[e.EventID] = true
			}
		}
	}
	rep.loggedEvents = len(logged)
	rep.parkedEvents = len(parked)

	// What the DLQ still holds.
	inDLQ := map[string]bool{}
	rep.dlq = dlqDepth(t, st)
	if rep.dlq > 0 {
		out, err := st.AWS.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(st.DLQURL), MaxNumberOfMessages: 10, VisibilityTimeout: 60,
		})
		if err == nil {
			for _, m := range out.Messages {
				var qm queue.Message
				if json.Unmarshal([]byte(aws.ToString(m.Body)), &qm) == nil {
					inDLQ[qm.EventID] = true
				}
			}
		}
	}

	refs := make([]string, 0, len(book.faults))
	for ref := range book.faults {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	for _, ref := range refs {
		f := book.faults[ref]
		if n := len(byRef[ref]); n > 1 {
			ids := []int{}
			for _, tk := range byRef[ref] {
				ids = append(ids, tk.ID)
			}
			rep.duplicated = append(rep.duplicated, fmt.Sprintf("duplicated: fault %s/%s/%s has %d tickets %v (xrefs %s…), events %v",
				f.partnerID, f.customerID, f.account, n, ids, ref, f.events))
		}
		if len(byRef[ref]) == 0 && slices.ContainsFunc(f.events, func(id string) bool { return held[id] }) {
			rep.heldFaults++
			continue
		}
		if len(byRef[ref]) == 0 && !slices.ContainsFunc(f.events, func(id string) bool { return rep.failedFinal[id] || inDLQ[id] }) {
			rep.lost = append(rep.lost, fmt.Sprintf("no ticket (lost, if the run settled): fault %s/%s/%s has no ticket, is not held, has no failed entry and nothing in the DLQ; events %v",
				f.partnerID, f.customerID, f.account, f.events))
		}
		for _, id := range f.events {
			if !logged[id] {
				rep.noEntry = append(rep.noEntry, fmt.Sprintf("no log entry: partner %s event %s (fault %s)", f.partnerID, id, f.account))
			}
		}
	}
	var ps []string
	for _, p := range partners {
		h, err := st.Service.Health.Get(context.Background(), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, fmt.Sprintf("%s %s (held %d)", p.ID, h.State, h.Parked))
	}
	rep.partners = strings.Join(ps, ", ")
	return rep
}

// tableItems counts the items of the service's table.
func tableItems(t *testing.T, st *localstack.Stack) int {
	t.Helper()
	n := 0
	in := &dynamodb.ScanInput{TableName: aws.String(st.AWS.Names["Table"]), Select: dyntypes.SelectCount}
	for {
		out, err := st.AWS.DynamoDB.Scan(context.Background(), in)
		if err != nil {
			t.Logf("count the table's items: %v", err)
			return -1
		}
		n += int(out.Count)
		if len(out.LastEvaluatedKey) == 0 {
			return n
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
