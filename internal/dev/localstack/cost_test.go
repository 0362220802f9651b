package localstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/efs-cw/backupbridge/internal/dev/costmeter"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/dev/localaws"
	"github.com/efs-cw/backupbridge/internal/dev/localstack"
	"github.com/efs-cw/backupbridge/internal/dev/stackdef"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/signature"
)

// TestCost is `make bench-cost`: for each event type it drives COST_EVENTS
// events (default 200) through the local API Gateway (the webhook) and the
// worker, with the costmeter middleware on the stack's AWS clients, and
// prints the AWS requests, the DynamoDB capacity units and the dollars per
// event type (package costmeter says how each is counted).
//
// How the events are driven: a phase's events are all posted (2 at a time),
// then the queue is drained by one event-source poller, so the worker gets
// full batches of 10 (the template's BatchSize: with no batching window a
// receive returns what is queued, up to 10, so under load batches are full;
// a trickle of events pays one invocation per receive, see the README). The health tick and the resync
// schedule do not run (fixed costs, not per event). Before the phases, one
// failure and one success of customer 1001 warm the caches (the partner,
// its secrets, its ConnectWise client) and run customer 1001's data sync:
// the events of customer 1001 then find its 12-hour sync window closed, as
// most events do; "usage, sync" uses a new customer per event (each a
// company of the simulator with its managed ID and agreement), whose window
// is open. COST_ONLY (a regexp of the type names) runs some types only.
//
// It runs only when BENCH_COST is set (make bench-cost sets it);
// TestWriteBudget runs the same phases, a few events each, in make test.
func TestCost(t *testing.T) {
	if os.Getenv("BENCH_COST") == "" {
		t.Skip("a benchmark: make bench-cost (BENCH_COST=1)")
	}
	n := 200
	if v, err := strconv.Atoi(os.Getenv("COST_EVENTS")); err == nil && v > 0 {
		n = v
	}
	var only *regexp.Regexp
	if v := os.Getenv("COST_ONLY"); v != "" {
		only = regexp.MustCompile(v)
	}
	rows := costPhases(t, n, only)
	var out bytes.Buffer
	fmt.Fprintf(&out, "\nmake bench-cost: %d events per type, through the local API Gateway, SQS (goaws), the worker and DynamoDB (minidyn)\n\n", n)
	// The order (they ran in the order of costPhases).
	var report []costmeter.Row
	for _, name := range []string{"failure, new fault", "failure, open fault", "success, resolves", "success, no fault",
		"notification", "usage, window closed", "usage, sync", "duplicate delivery"} {
		if r, ok := rows[name]; ok {
			report = append(report, r)
		}
	}
	costmeter.Report(&out, report, costmeter.USEast1)
	fmt.Print(out.String())
}

// writeBudget is the most DynamoDB write units an event of each type may
// cost (the figures of make bench-cost): a change that adds a write to the
// event path fails TestWriteBudget. "usage, sync" is the sync of a customer
// whose window is open (once per customer per 12 hours), not an event path;
// here each is a new customer's first, which also stores the customer's
// company mapping (package managedid) and records its additions' changes
// in the billing audit trail (package audit: 2 here) and their baselines
// for drift (1 item per customer). A new fault's ticket also records its
// reference → fault item, so that a ConnectWise callback about the ticket
// finds the fault (package tickets, callback.go): 1 per ticket created.
var writeBudget = map[string]float64{
	"failure, new fault":   7,
	"failure, open fault":  5,
	"success, resolves":    6,
	"success, no fault":    4,
	"notification":         6, // opens a ticket: +1 reference item, as a new fault
	"usage, window closed": 5,
	"usage, sync":          22,
	"duplicate delivery":   0,
}

// TestWriteBudget runs the cost phases with a few events each and holds
// every event type to its write budget, counted by the same meter.
func TestWriteBudget(t *testing.T) {
	rows := costPhases(t, 4, nil)
	for name, budget := range writeBudget {
		r, ok := rows[name]
		if !ok {
			t.Errorf("no phase %q", name)
			continue
		}
		if got := r.WCU(); got > budget {
			t.Errorf("%s: %.2f write units per event, budget %.0f", name, got, budget)
		}
	}
}

// costPhases drives n events of each type (only: the types whose names
// match) and returns each type's metered row.
func costPhases(t *testing.T, n int, only *regexp.Regexp) map[string]costmeter.Row {
	ctx := context.Background()
	def, err := stackdef.Load()
	if err != nil {
		t.Fatal(err)
	}
	meter := costmeter.New()
	st, _, _ := newStack(t, discardLogger(), func(o *localstack.Options) {
		o.Now = nil                        // real time: leases, claims and signatures as deployed
		o.VisibilityTimeout = 10           // a receive goaws loses (the SDK retries it) holds its messages this long
		o.InvokeTimeout = 60 * time.Second // the template's
		o.APIOptions = meter.APIOptions()
		o.WrapSecrets = meter.Secrets
	})
	// Clients the meter does not see: its own item reads, and the test's
	// queue checks.
	cfg, err := localaws.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	meter.Configure(costmeter.TablesOf(def, st.AWS.Names), localaws.DynamoClient(cfg, st.AWS.DynamoServer.Endpoint()))
	rawSQS := localaws.SQSClient(cfg, st.AWS.SQSServer.Endpoint())

	memory := map[string]int{}
	for _, id := range []string{"WebhookFunction", "WorkerFunction"} {
		fn, ok := def.Function(id)
		if !ok {
			t.Fatalf("template.yaml has no %s", id)
		}
		memory[id] = fn.MemorySize
	}

	// The worker's event source, short polling, each invocation timed.
	es, ss := *st.EventSource, *st.SyncSource
	es.WaitTime, ss.WaitTime = -1, -1
	worker := es.Handler
	timed := func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		began := time.Now()
		resp, err := worker(ctx, ev)
		meter.Invoked("WorkerFunction", time.Since(began))
		return resp, err
	}
	es.Handler, ss.Handler = timed, timed
	key, err := signature.ParseSecret(partner.DemoWebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	c := &costRun{t: t, st: st, es: &es, ss: &ss, sqs: rawSQS, meter: meter, key: key, memory: memory,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}}
	t.Cleanup(c.client.CloseIdleConnections)

	syncCustomers := seedCustomers(t, st, n)

	// Warm-up: caches, and customer 1001's sync (its window is then closed).
	c.post(c.deliveries(1, func(i int, at time.Time) []byte { return backupEvent("1001", "WARM", "failure", at) }), "accepted")
	c.post(c.deliveries(1, func(i int, at time.Time) []byte { return backupEvent("1001", "WARM", "success", at) }), "accepted")
	c.drain()

	earlier := func(f func(i int, at time.Time) []byte) func(i int, at time.Time) []byte {
		return func(i int, at time.Time) []byte { return f(i, at.Add(-10*time.Minute)) }
	}
	var dup []delivery
	rows := map[string]costmeter.Row{}
	phases := []struct {
		name   string
		setup  func(i int, at time.Time) []byte // nil: none
		event  func(i int, at time.Time) []byte
		status string
	}{
		// First: the table is then small (minidyn's index queries, which only
		// this phase makes, slow down as the table grows; λ time only).
		{name: "usage, sync", event: func(i int, at time.Time) []byte {
			return usageEvent(syncCustomers[i], "Cost customer "+syncCustomers[i], i, at)
		}},
		{name: "failure, new fault", event: func(i int, at time.Time) []byte { return backupEvent("1001", fmt.Sprintf("FO-%d", i), "failure", at) }},
		{name: "failure, open fault",
			setup: earlier(func(i int, at time.Time) []byte { return backupEvent("1001", fmt.Sprintf("FR-%d", i), "failure", at) }),
			event: func(i int, at time.Time) []byte { return backupEvent("1001", fmt.Sprintf("FR-%d", i), "failure", at) }},
		{name: "success, resolves",
			setup: earlier(func(i int, at time.Time) []byte { return backupEvent("1001", fmt.Sprintf("SR-%d", i), "failure", at) }),
			event: func(i int, at time.Time) []byte { return backupEvent("1001", fmt.Sprintf("SR-%d", i), "success", at) }},
		{name: "success, no fault", event: func(i int, at time.Time) []byte { return backupEvent("1001", fmt.Sprintf("SC-%d", i), "success", at) }},
		{name: "notification", event: func(i int, at time.Time) []byte {
			return costEvent("notification", "1001", "Acme Dental", at, "notification",
				fmt.Sprintf(`{"kind":"no_backup","severity":"warning","message":"No backup for 3 days","account":{"id":"NB-%d","name":"NB-%d desktop","kind":"desktop","plan":"basic"}}`, i, i))
		}},
		{name: "usage, window closed", event: func(i int, at time.Time) []byte { return usageEvent("1001", "Acme Dental", i, at) }},
		{name: "duplicate delivery", status: "duplicate",
			setup: func(i int, at time.Time) []byte { return backupEvent("1001", fmt.Sprintf("DU-%d", i), "success", at) }},
	}
	for _, ph := range phases {
		if only != nil && !only.MatchString(ph.name) {
			continue
		}
		if ph.setup != nil {
			setup := c.deliveries(n, ph.setup)
			c.post(setup, "accepted")
			c.drain()
			if ph.status == "duplicate" {
				dup = setup
			}
		}
		ds := dup
		if ph.event != nil {
			ds = c.deliveries(n, ph.event)
		}
		status := ph.status
		if status == "" {
			status = "accepted"
		}
		meter.Reset()
		c.retried = 0
		began := time.Now()
		tickets0, calls0 := len(st.Sim.Tickets()), st.Sim.CallCount("", "")
		c.post(ds, status)
		c.drain()
		row := costmeter.Row{Name: ph.name, Events: n, Snap: meter.Snapshot(), MemoryMB: memory, ConnectWiseCalls: st.Sim.CallCount("", "") - calls0}
		if c.retried > 0 {
			row.Name += fmt.Sprintf(" (%d retried)", c.retried)
		}
		rows[ph.name] = row
		opened := len(st.Sim.Tickets()) - tickets0
		t.Logf("%s: %d events in %s, %d tickets opened, %d ConnectWise calls, %.2f WCU/event", ph.name, n, time.Since(began).Round(time.Millisecond), opened, row.ConnectWiseCalls, row.WCU())
		switch ph.name {
		case "failure, new fault", "notification":
			if opened != n {
				t.Errorf("%s: %d tickets opened for %d events", ph.name, opened, n)
			}
		default:
			if opened != 0 {
				t.Errorf("%s: %d tickets opened, want none", ph.name, opened)
			}
		}
	}
	if d := c.depth(st.DLQURL); d != 0 {
		t.Errorf("the DLQ holds %d messages", d)
	}
	return rows
}

type delivery struct {
	id   string
	body []byte
}

type costRun struct {
	t      *testing.T
	st     *localstack.Stack
	es, ss *localaws.EventSource // the events queue's and the sync queue's
	sqs    *sqs.Client
	meter  *costmeter.Meter
	key    []byte
	memory map[string]int
	client *http.Client
	// retried counts the messages the worker failed (retried from the
	// queue), which the phase then pays for twice.
	retried int
}

func (c *costRun) deliveries(n int, body func(i int, at time.Time) []byte) []delivery {
	ds := make([]delivery, n)
	now := time.Now().UTC().Truncate(time.Second)
	for i := range ds {
		ds[i] = delivery{id: newID(), body: body(i, now)}
	}
	return ds
}

// post sends the deliveries to the webhook, 2 at a time, each counted as
// one API Gateway request and one webhook invocation lasting its round trip
// (the handler's time plus loopback HTTP: an upper bound), and insists on
// a 202 with the given status.
func (c *costRun) post(ds []delivery, status string) {
	c.t.Helper()
	errs := make(chan error, len(ds))
	var wg sync.WaitGroup
	next := make(chan delivery)
	for range 2 {
		wg.Go(func() {
			for d := range next {
				if err := c.postOne(d, status); err != nil {
					errs <- err
				}
			}
		})
	}
	for _, d := range ds {
		next <- d
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		c.t.Fatal(err)
	}
}

func (c *costRun) postOne(d delivery, status string) error {
	now := time.Now()
	req, _ := http.NewRequest(http.MethodPost, c.st.WebhookURL(partner.DemoPartnerID), bytes.NewReader(d.body))
	req.Header.Set("content-type", "application/json")
	req.Header.Set(signature.HeaderID, d.id)
	req.Header.Set(signature.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(signature.HeaderSignature, signature.Sign(c.key, d.id, now, d.body))
	began := time.Now()
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.meter.Invoked("WebhookFunction", time.Since(began))
	c.meter.Count(costmeter.Op{Service: costmeter.APIGateway, Operation: "HTTP API request"}, 1)
	var answer struct{ Status string }
	_ = json.Unmarshal(b, &answer)
	if resp.StatusCode != http.StatusAccepted || answer.Status != status {
		return fmt.Errorf("webhook answered %d %s, want 202 %q", resp.StatusCode, b, status)
	}
	return nil
}

// drain runs the worker's event source until the queue has nothing visible
// or in flight; a retried message fails the test (a retry costs more than
// the event type).
func (c *costRun) drain() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var waiting time.Time
	for idle := 0; idle < 2; {
		if ctx.Err() != nil {
			c.t.Fatalf("the queue did not drain: %d messages left", (c.depth(c.st.QueueURL) + c.depth(c.st.SyncURL)))
		}
		res, err := c.es.PollOnce(ctx)
		if err != nil {
			c.t.Fatalf("poll: %v", err)
		}
		if len(res.Retried) == 0 && res.InvokeErr == nil && res.Received == 0 {
			// The events queue is empty for now: the sync jobs.
			if res, err = c.ss.PollOnce(ctx); err != nil {
				c.t.Fatalf("poll: %v", err)
			}
		}
		if len(res.Retried) > 0 || res.InvokeErr != nil {
			// Counted (their retry is in the phase's figures) and reported.
			c.retried += len(res.Retried)
			c.t.Logf("drain: the worker failed %d messages (%v); they are retried", len(res.Retried), res.InvokeErr)
		}
		if res.Received > 0 {
			idle, waiting = 0, time.Time{}
			continue
		}
		if (c.depth(c.st.QueueURL) + c.depth(c.st.SyncURL)) == 0 {
			idle++
			continue
		}
		idle = 0
		if !waiting.IsZero() && time.Since(waiting) > 5*time.Second {
			c.t.Logf("drain: %d messages in flight and none received for %s", (c.depth(c.st.QueueURL) + c.depth(c.st.SyncURL)), time.Since(waiting).Round(time.Second))
			waiting = time.Now()
		}
		if waiting.IsZero() {
			waiting = time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// depth is the visible plus in-flight messages of a queue, read with a
// client the meter does not count.
func (c *costRun) depth(url string) int {
	c.t.Helper()
	out, err := c.sqs.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	if err != nil {
		c.t.Fatal(err)
	}
	n := 0
	for _, v := range out.Attributes {
		k, _ := strconv.Atoi(v)
		n += k
	}
	return n
}

// seedCustomers adds n companies to the simulator, each with its managed
// ID (EFS-<customer>) and an active agreement billing the demo products, as
// the demo's Acme Dental; it returns their customer ids.
func seedCustomers(t *testing.T, st *localstack.Stack, n int) []string {
	t.Helper()
	demo := st.Demo.Sim
	start := time.Now().UTC().AddDate(-1, 0, 0).Format("2006-01-02T00:00:00Z")
	ids := make([]string, n)
	for i := range ids {
		id := strconv.Itoa(5000 + i)
		ids[i] = id
		co := st.Sim.AddCompany(cwsim.Company{Identifier: "Cost" + id, Name: "Cost customer " + id})
		for _, dt := range []string{cwsim.DeviceTypeWorkstationsAndServers, cwsim.DeviceTypeBackupStats} {
			if _, err := st.Sim.AddManagementSummary(co.ID, cwsim.ManagementSummary{
				GroupIdentifier: "EFS-" + id, ManagementSolution: cwsim.Ref{ID: demo.SolutionID}, DeviceType: dt,
			}); err != nil {
				t.Fatal(err)
			}
		}
		ag, err := st.Sim.AddAgreement(cwsim.Agreement{Name: cwsim.DemoAgreement, Type: cwsim.Ref{ID: 1, Name: "Managed Services"},
			Company: cwsim.Ref{ID: co.ID}, AgreementStatus: cwsim.AgreementActive, StartDate: start, NoEndingDateFlag: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, product := range []string{cwsim.ProductSelectGB, cwsim.ProductOnlineServers, cwsim.ProductOnlineDesktops, cwsim.ProductArchiveMailbox} {
			if _, err := st.Sim.AddAddition(ag.ID, cwsim.Addition{Product: cwsim.Ref{ID: demo.Products[product]}, BillCustomer: cwsim.BillBillable,
				EffectiveDate: start, SerialNumber: "EFS-" + id}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ids
}

func costEvent(typ, customerID, customerName string, at time.Time, key, data string) []byte {
	return fmt.Appendf(nil, `{"specVersion":"1.0","type":%q,"occurredAt":%q,"customer":{"id":%q,"name":%q},%q:%s}`,
		typ, at.UTC().Format(time.RFC3339), customerID, customerName, key, data)
}

func backupEvent(customerID, account, result string, at time.Time) []byte {
	return costEvent("backup.completed", customerID, "Acme Dental", at, "backup", backup(result, account, at))
}

func usageEvent(customerID, name string, i int, at time.Time) []byte {
	return costEvent("usage.snapshot", customerID, name, at, "usage",
		fmt.Sprintf(`{"archivingMailboxes":%d,"filteringMailboxes":16,"shadowProtectServers":2,"shadowProtectDesktops":9}`, 10+i%7))
}
