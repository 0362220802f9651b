package stackdef

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/efs-cw/backupbridge/internal/service/resyncfn"
	"github.com/efs-cw/backupbridge/internal/service/workerfn"
)

// The checks below run on the real template.yaml (embedded in package
// backupbridge) and on the Makefile and events/env.json beside it: the wiring
// that `sam deploy` would only reveal at run time.

// repoRoot is the module root relative to this package's directory, where go
// test runs.
const repoRoot = "../../.."

// functionDirs maps each function's logical id to its directory under
// functions/.
var functionDirs = map[string]string{
	"WebhookFunction": "webhook",
	"WorkerFunction":  "worker",
	"ResyncFunction":  "resync",
	"AdminFunction":   "admin",
}

// alarmTarget is where every alarm must send its notifications.
const alarmTarget = "!If [CreateAlarmTopic, !Ref AlarmTopic, !Ref AlarmTopicArn]"

func loadTemplate(t *testing.T) *Stack {
	t.Helper()
	s, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

func mustFunction(t *testing.T, s *Stack, id string) Function {
	t.Helper()
	f, ok := s.Function(id)
	if !ok {
		t.Fatalf("template has no %s %s", TypeFunction, id)
	}
	return f
}

// makeTargets returns the Makefile's targets and the recipe lines of each.
func makeTargets(t *testing.T) (map[string][]string, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatalf("read the Makefile: %v", err)
	}
	targets := map[string][]string{}
	rule := regexp.MustCompile(`^([A-Za-z0-9_.-]+):([^=]|$)`)
	current := ""
	for line := range strings.SplitSeq(string(b), "\n") {
		if m := rule.FindStringSubmatch(line); m != nil {
			current = m[1]
			targets[current] = nil
			continue
		}
		if strings.HasPrefix(line, "\t") && current != "" {
			targets[current] = append(targets[current], strings.TrimSpace(line))
			continue
		}
		if strings.TrimSpace(line) == "" || !strings.HasPrefix(line, "\t") {
			current = ""
		}
	}
	return targets, string(b)
}

func TestTheFourFunctionsExist(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	for _, id := range slices.Sorted(maps.Keys(functionDirs)) {
		if _, ok := s.Function(id); !ok {
			t.Errorf("template has no %s %s", TypeFunction, id)
		}
	}
	for _, f := range s.Functions {
		if _, ok := functionDirs[f.LogicalID]; !ok {
			t.Errorf("function %s is not one of the four of docs/design.md; add it to functionDirs (and an alarm, a Makefile target)", f.LogicalID)
		}
	}
}

func TestEveryFunctionIsAnArm64BootstrapBuiltByTheMakefile(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	targets, makefile := makeTargets(t)
	fnList := regexp.MustCompile(`(?m)^FUNCTIONS\s*:?=\s*(.*)$`).FindStringSubmatch(makefile)
	if fnList == nil {
		t.Fatal("the Makefile has no FUNCTIONS := ... line")
	}
	listed := strings.Fields(fnList[1])
	if len(s.Functions) == 0 {
		t.Fatal("template has no functions")
	}
	for _, f := range s.Functions {
		if f.Handler != "bootstrap" {
			t.Errorf("%s: Handler = %q, want bootstrap", f.LogicalID, f.Handler)
		}
		if f.Runtime != "provided.al2023" {
			t.Errorf("%s: Runtime = %q, want provided.al2023", f.LogicalID, f.Runtime)
		}
		if !slices.Equal(f.Architectures, []string{"arm64"}) {
			t.Errorf("%s: Architectures = %q, want [arm64]", f.LogicalID, f.Architectures)
		}
		if f.BuildMethod != "makefile" {
			t.Errorf("%s: Metadata.BuildMethod = %q, want makefile", f.LogicalID, f.BuildMethod)
		}
		if f.CodeURI != "." {
			t.Errorf("%s: CodeUri = %q, want . (the Makefile builds from the module root)", f.LogicalID, f.CodeURI)
		}
		if f.MemorySize != 256 || f.Tracing != "Active" || f.LogFormat != "JSON" {
			t.Errorf("%s: MemorySize %d, Tracing %q, LogFormat %q; want 256, Active, JSON", f.LogicalID, f.MemorySize, f.Tracing, f.LogFormat)
		}
		target := "build-" + f.LogicalID
		recipe, ok := targets[target]
		if !ok {
			t.Errorf("%s: the Makefile has no %s: target (sam build runs it)", f.LogicalID, target)
			continue
		}
		dir := functionDirs[f.LogicalID]
		joined := strings.Join(recipe, "\n")
		if dir == "" || !strings.Contains(joined, "./functions/"+dir) || !strings.Contains(joined, "$(ARTIFACTS_DIR)/bootstrap") {
			t.Errorf("%s: recipe of %s must build ./functions/%s into $(ARTIFACTS_DIR)/bootstrap, got:\n%s", f.LogicalID, target, dir, joined)
		}
		if !slices.Contains(listed, dir) {
			t.Errorf("%s: %q is missing from the Makefile's FUNCTIONS (%q)", f.LogicalID, dir, listed)
		}
		if fi, err := os.Stat(filepath.Join(repoRoot, "functions", dir)); err != nil || !fi.IsDir() {
			t.Errorf("%s: functions/%s is not a directory", f.LogicalID, dir)
		}
	}
}

func TestFunctionTimeouts(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	want := map[string]int{"WebhookFunction": 10, "WorkerFunction": 60, "ResyncFunction": 300, "AdminFunction": 30}
	for id, timeout := range want {
		if f := mustFunction(t, s, id); f.Timeout != timeout {
			t.Errorf("%s: Timeout = %d, want %d", id, f.Timeout, timeout)
		}
	}
	// API Gateway gives an integration at most 30 s.
	for _, id := range []string{"WebhookFunction", "AdminFunction"} {
		if f := mustFunction(t, s, id); f.Timeout > 30 {
			t.Errorf("%s: Timeout %d s exceeds the HTTP API's 30 s integration limit", id, f.Timeout)
		}
	}
}

func TestEventsQueueRedrivesToTheDLQ(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	q, ok := s.Queue("EventsQueue")
	if !ok {
		t.Fatal("template has no queue EventsQueue")
	}
	dlq, ok := s.Queue("EventsDLQ")
	if !ok {
		t.Fatal("template has no queue EventsDLQ")
	}
	if q.DeadLetterTarget != "EventsDLQ" {
		t.Errorf("EventsQueue redrives to %q, want EventsDLQ", q.DeadLetterTarget)
	}
	if q.MaxReceiveCount < 5 {
		t.Errorf("EventsQueue maxReceiveCount = %d, want at least 5", q.MaxReceiveCount)
	}
	if q.MaxReceiveCount != workerfn.QueueMaxReceives {
		t.Errorf("EventsQueue maxReceiveCount = %d, but workerfn.QueueMaxReceives (what dead letters say) is %d", q.MaxReceiveCount, workerfn.QueueMaxReceives)
	}
	worker := mustFunction(t, s, "WorkerFunction")
	if q.VisibilityTimeout < 6*worker.Timeout {
		t.Errorf("EventsQueue VisibilityTimeout = %d s, want at least 6 x WorkerFunction's %d s", q.VisibilityTimeout, worker.Timeout)
	}
	if q.MessageRetentionPeriod != 4*24*3600 || dlq.MessageRetentionPeriod != 14*24*3600 {
		t.Errorf("retention: queue %d s, DLQ %d s; want 4 and 14 days", q.MessageRetentionPeriod, dlq.MessageRetentionPeriod)
	}
	if dlq.MessageRetentionPeriod <= q.MessageRetentionPeriod {
		t.Error("EventsDLQ must keep messages longer than EventsQueue (a moved message keeps its enqueue time)")
	}
	if dlq.HasDeadLetterQueue() {
		t.Error("EventsDLQ must not redrive anywhere")
	}
	if !q.SSE || !dlq.SSE {
		t.Error("both queues must have SqsManagedSseEnabled")
	}
}

// eventSourceMappingType is the CloudFormation type of an event source mapping.
const eventSourceMappingType = "AWS::Lambda::EventSourceMapping"

// TestWorkerConsumesEventsQueueWithBatchItemFailures: the worker's triggers
// are explicit event source mappings (see TestNoAccountWideSQSAccess for why
// not SAM SQS events), with partial batch responses: on EventsQueue with the
// batching of docs/design.md, and on EventsDLQ (the dead-letter recorder,
// package deadletter), each queue's records told apart by
// DEAD_LETTER_QUEUE_ARN; the worker's role has what Lambda's poller needs on
// each queue.
func TestWorkerConsumesEventsQueueWithBatchItemFailures(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	mappings := s.ResourcesOfType(eventSourceMappingType)
	ids := make([]string, 0, len(mappings))
	for _, m := range mappings {
		ids = append(ids, m.LogicalID)
	}
	// WorkerFunctionQueue is SAM's id for the mapping it generated from the
	// former SQS event: kept so that a deployed stack updates its mapping
	// in place.
	if want := []string{"WorkerFunctionDeadLetters", "WorkerFunctionQueue", "WorkerFunctionSyncs"}; !slices.Equal(ids, want) {
		t.Fatalf("%s resources %v, want %v", eventSourceMappingType, ids, want)
	}
	worker := mustFunction(t, s, "WorkerFunction")
	for _, c := range []struct {
		id, queue           string
		window, concurrency int
	}{
		{"WorkerFunctionQueue", "EventsQueue", 0, 20},
		{"WorkerFunctionSyncs", "SyncQueue", 0, 5},
		{"WorkerFunctionDeadLetters", "EventsDLQ", 0, 2},
	} {
		m, _ := s.Resource(c.id)
		p := m.Properties
		if src := p.Get("EventSourceArn"); src.Tag != "!GetAtt" || !src.Points(c.queue) || src.Attribute() != "Arn" {
			t.Errorf("%s: EventSourceArn = %s, want !GetAtt %s.Arn", c.id, src, c.queue)
		}
		if fn := p.Get("FunctionName"); !fn.Points("WorkerFunction") {
			t.Errorf("%s: FunctionName = %s, want WorkerFunction", c.id, fn)
		}
		if en := p.Get("Enabled"); !en.IsZero() {
			if on, err := en.Bool(); err != nil || !on {
				t.Errorf("%s: Enabled = %s, want true", c.id, en)
			}
		}
		var types []string
		for _, v := range p.Get("FunctionResponseTypes").Items() {
			types = append(types, v.Scalar)
		}
		if !slices.Contains(types, "ReportBatchItemFailures") {
			t.Errorf("%s: FunctionResponseTypes = %q, want ReportBatchItemFailures", c.id, types)
		}
		checkInt := func(path []string, want int) {
			t.Helper()
			if n, err := p.Get(path...).Int(); err != nil || n != want {
				t.Errorf("%s: %s = %s, want %d", c.id, strings.Join(path, "."), p.Get(path...), want)
			}
		}
		checkInt([]string{"BatchSize"}, 10)
		checkInt([]string{"MaximumBatchingWindowInSeconds"}, c.window)
		checkInt([]string{"ScalingConfig", "MaximumConcurrency"}, c.concurrency)

		// Lambda refuses a mapping on a queue whose visibility timeout is
		// shorter than the function's timeout.
		if q, ok := s.Queue(c.queue); !ok || q.VisibilityTimeout < worker.Timeout {
			t.Errorf("%s: VisibilityTimeout = %d s, shorter than WorkerFunction's %d s", c.queue, q.VisibilityTimeout, worker.Timeout)
		}
		granted := map[string]bool{}
		for _, st := range worker.Statements {
			if st.Effect != "Allow" || len(st.Resources) != 1 {
				continue
			}
			if r := st.Resources[0]; r.Tag == "!GetAtt" && r.Points(c.queue) && r.Attribute() == "Arn" {
				for _, a := range st.Actions {
					granted[a] = true
				}
			}
		}
		for _, a := range []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"} {
			if !granted[a] {
				t.Errorf("WorkerFunction: no statement allows %s on !GetAtt %s.Arn (the event source mapping %s polls with the function's role)", a, c.queue, c.id)
			}
		}
	}
	if v := worker.Env["DEAD_LETTER_QUEUE_ARN"]; v.Tag != "!GetAtt" || !v.Points("EventsDLQ") || v.Attribute() != "Arn" {
		t.Errorf("WorkerFunction: DEAD_LETTER_QUEUE_ARN = %s, want !GetAtt EventsDLQ.Arn (the worker tells dead letters apart by it)", v)
	}
}

// TestNoAccountWideSQSAccess: no function gets SQS rights beyond its queue.
// A SAM `Events: Type: SQS` makes SAM attach the managed policy
// AWSLambdaSQSQueueExecutionRole (ReceiveMessage, DeleteMessage,
// GetQueueAttributes on every queue of the account), so the template has
// none; nor does it attach managed policies or roles of its own that could.
func TestNoAccountWideSQSAccess(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	for _, f := range s.Functions {
		for _, name := range sortedKeys(f.Events) {
			if e := f.Events[name]; e.Type == "SQS" {
				t.Errorf("%s: event %s is a SAM SQS event, which attaches AWSLambdaSQSQueueExecutionRole (SQS on every queue); use an %s and an inline statement on the queue", f.LogicalID, name, eventSourceMappingType)
			}
		}
		if r := f.Properties.Get("Role"); !r.IsZero() {
			t.Errorf("%s: Role = %s; the functions use the role SAM builds from their inline Policies, which this test can check", f.LogicalID, r)
		}
		for _, st := range f.Statements {
			for _, a := range st.Actions {
				if !strings.HasPrefix(a, "sqs:") {
					continue
				}
				for _, r := range st.Resources {
					if r.Tag != "!GetAtt" || r.Attribute() != "Arn" || s.Resources[r.Target()].Type != TypeQueue {
						t.Errorf("%s (line %d): %s on %s, want a queue of the template (!GetAtt <queue>.Arn)", f.LogicalID, st.Line, a, r)
					}
				}
			}
		}
	}
	s.root.Walk(func(path []string, v Value) bool {
		if len(path) > 0 && path[len(path)-1] == "ManagedPolicyArns" {
			t.Errorf("%s = %s: no managed policies; state the permissions inline, scoped to the resources", strings.Join(path, "."), v)
			return false
		}
		return true
	})
	if roles := s.ResourcesOfType("AWS::IAM::Role"); len(roles) > 0 {
		t.Errorf("the template defines IAM roles (%s); extend this test to check their policies", roles[0].LogicalID)
	}
}

// TestStatefulResourcesSayWhatHappensOnDeletion: the queues, the log groups,
// the table, the console's user pool and its secret state DeletionPolicy and
// UpdateReplacePolicy explicitly (cfn-lint's I3011), with the choices
// template.yaml explains: what holds acknowledged events, the service's state
// or the operators' accounts is retained; the log groups (fixed names, 30-day
// diagnostics) and the console's secret (a session key: losing it signs
// everyone out) are deleted.
func TestStatefulResourcesSayWhatHappensOnDeletion(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	want := map[string]string{
		TypeTable: "Retain", TypeQueue: "Retain", userPoolType: "Retain",
		"AWS::Logs::LogGroup": "Delete", secretType: "Delete",
	}
	counts := map[string]int{}
	for _, id := range sortedKeys(s.Resources) {
		r := s.Resources[id]
		policy, ok := want[r.Type]
		if !ok {
			continue
		}
		counts[r.Type]++
		if r.DeletionPolicy != policy || r.UpdateReplacePolicy != policy {
			t.Errorf("%s (%s): DeletionPolicy %q, UpdateReplacePolicy %q; want both %s", id, r.Type, r.DeletionPolicy, r.UpdateReplacePolicy, policy)
		}
		if r.Type == "AWS::Logs::LogGroup" {
			if n, err := r.Properties.Get("RetentionInDays").Int(); err != nil || n <= 0 {
				t.Errorf("%s: RetentionInDays = %s, want a retention", id, r.Properties.Get("RetentionInDays"))
			}
		}
	}
	// One table, three queues (events, syncs, dead letters), the API's
	// access log and one group per function, the console's user pool and
	// secret.
	if counts[TypeTable] != 1 || counts[TypeQueue] != 3 || counts["AWS::Logs::LogGroup"] != 1+len(s.Functions) ||
		counts[userPoolType] != 1 || counts[secretType] != 1 {
		t.Errorf("found %v; want 1 table, 3 queues, %d log groups, 1 user pool and 1 secret", counts, 1+len(s.Functions))
	}
	if pool, ok := s.Resource("ConsoleUserPool"); ok {
		if p, _ := pool.Properties.Get("DeletionProtection").Literal(); p != "ACTIVE" {
			t.Errorf("ConsoleUserPool: DeletionProtection = %q, want ACTIVE (it holds the operators' accounts)", p)
		}
	}
}

// loopbackSwitch is the development switch that lets a partner's ConnectWise
// site be a loopback address (the local simulator). A deployed function must
// never have it: it would let a partner setting point the worker at the
// function's own host.
const loopbackSwitch = "DEV_ALLOW_LOOPBACK_SITES"

func TestNoFunctionAllowsLoopbackSites(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	for _, f := range s.Functions {
		if v, ok := f.Env[loopbackSwitch]; ok {
			t.Errorf("%s: environment sets %s = %s; the template must never set it", f.LogicalID, loopbackSwitch, v)
		}
	}
	// Anywhere else, too (Globals, a !Sub, another resource type): a key or
	// a value naming it. Comments are not values.
	s.root.Walk(func(path []string, v Value) bool {
		if len(path) > 0 && strings.Contains(path[len(path)-1], loopbackSwitch) ||
			v.Kind == Scalar && strings.Contains(v.Scalar, loopbackSwitch) {
			t.Errorf("%s: names %s; the template must never set it", strings.Join(path, "."), loopbackSwitch)
		}
		return true
	})
}

func TestTheTable(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	if len(s.Tables) != 1 {
		t.Fatalf("%d tables, want the one table of docs/design.md", len(s.Tables))
	}
	tb, ok := s.Table("Table")
	if !ok {
		t.Fatal("the table's logical id must be Table")
	}
	if tb.BillingMode != "PAY_PER_REQUEST" {
		t.Errorf("BillingMode = %q, want PAY_PER_REQUEST", tb.BillingMode)
	}
	if tb.TTLAttribute != "expiresAt" {
		t.Errorf("TTL attribute = %q, want expiresAt (enabled)", tb.TTLAttribute)
	}
	if !tb.PITR || !tb.SSE {
		t.Errorf("PITR %v, SSE %v; want both on", tb.PITR, tb.SSE)
	}
	r, _ := s.Resource("Table")
	if r.DeletionPolicy != "Retain" || r.UpdateReplacePolicy != "Retain" {
		t.Errorf("DeletionPolicy %q, UpdateReplacePolicy %q; want Retain", r.DeletionPolicy, r.UpdateReplacePolicy)
	}
	if tb.KeySchema.Hash() != "pk" || tb.KeySchema.Range() != "sk" {
		t.Errorf("key = %v, want pk HASH, sk RANGE", tb.KeySchema)
	}
	indexes := map[string][2]string{"byCustomer": {"gsi1pk", "gsi1sk"}, "failed": {"gsi2pk", "gsi2sk"}}
	if len(tb.GSIs) != len(indexes) {
		t.Errorf("%d GSIs, want %d", len(tb.GSIs), len(indexes))
	}
	for name, key := range indexes {
		g, ok := tb.GSI(name)
		if !ok {
			t.Errorf("no GSI %s", name)
			continue
		}
		if g.KeySchema.Hash() != key[0] || g.KeySchema.Range() != key[1] || g.ProjectionType != "ALL" {
			t.Errorf("GSI %s = %+v, want %s/%s projecting ALL", name, g, key[0], key[1])
		}
	}
	for _, a := range tb.Attributes {
		if a.Type != "S" {
			t.Errorf("attribute %s is %s, want S", a.Name, a.Type)
		}
	}
}

func TestAlarms(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	if _, ok := s.Conditions["CreateAlarmTopic"]; !ok {
		t.Fatal("no condition CreateAlarmTopic")
	}
	if topic, ok := s.Resource("AlarmTopic"); !ok || topic.Type != "AWS::SNS::Topic" || topic.Condition != "CreateAlarmTopic" {
		t.Errorf("AlarmTopic must be an AWS::SNS::Topic with Condition CreateAlarmTopic, got %+v", topic)
	}

	required := []string{"DLQRecorderFailingAlarm", "DeadLetteredAlarm", "PushFailuresAlarm", "QueueAgeAlarm", "SyncQueueAgeAlarm", "WebhookServerErrorsAlarm"}
	for _, f := range s.Functions {
		required = append(required, f.LogicalID+"ErrorsAlarm")
	}
	for _, id := range required {
		if _, ok := s.Alarm(id); !ok {
			t.Errorf("no alarm %s", id)
		}
	}

	for _, a := range s.Alarms {
		if len(a.AlarmActions) == 0 || len(a.OKActions) == 0 {
			t.Errorf("%s: needs both AlarmActions and OKActions", a.LogicalID)
		}
		for _, act := range a.Actions {
			if act.String() != alarmTarget {
				t.Errorf("%s: action %s, want %s", a.LogicalID, act, alarmTarget)
			}
		}
		if a.TreatMissingData != "notBreaching" {
			t.Errorf("%s: TreatMissingData = %q, want notBreaching", a.LogicalID, a.TreatMissingData)
		}
		if len(a.Description) < 80 {
			t.Errorf("%s: AlarmDescription %q is too short to tell the on-call engineer what it means and what to do", a.LogicalID, a.Description)
		}
		if len(a.Description) > 1024 {
			t.Errorf("%s: AlarmDescription has %d characters; CloudWatch allows 1024", a.LogicalID, len(a.Description))
		}
		for name, dim := range a.Dimensions {
			for _, ref := range dim.References() {
				if r, ok := s.Resources[ref.Name]; !ok || r.Type == "" {
					t.Errorf("%s: dimension %s points at %s, which is not a resource of the template", a.LogicalID, name, ref)
				}
			}
			if _, lit := dim.Literal(); !lit && len(dim.References()) == 0 {
				t.Errorf("%s: dimension %s = %s is neither a literal nor a reference", a.LogicalID, name, dim)
			}
		}
		for _, ref := range a.Namespace.References() {
			if !s.Defines(ref.Name) {
				t.Errorf("%s: Namespace points at undefined %s", a.LogicalID, ref)
			}
		}
	}

	type metric struct {
		namespace, name, dimName, dimTarget, dimAttr, statistic, comparison string
		period                                                              int
		threshold                                                           float64
	}
	want := map[string]metric{
		// Dead letters are recorded and deleted within seconds: one left
		// 15 minutes means the recorder fails.
		"DLQRecorderFailingAlarm": {"AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", "EventsDLQ", "QueueName", "Maximum", "GreaterThanThreshold", 60, 900},
		"DeadLetteredAlarm":       {"!Ref MetricsNamespace", "DeadLettered", "", "", "", "Sum", "GreaterThanOrEqualToThreshold", 300, 1},
		"QueueAgeAlarm":           {"AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", "EventsQueue", "QueueName", "Maximum", "GreaterThanThreshold", 60, 60},
		// The daily resync fills the sync queue on purpose; a job 6 hours
		// old means the syncs are not being consumed.
		"SyncQueueAgeAlarm": {"AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", "SyncQueue", "QueueName", "Maximum", "GreaterThanThreshold", 300, 21600},
		// The worker emits ConnectWisePushFailed in EMF without dimensions;
		// an alarm with any dimension would never see a data point.
		"PushFailuresAlarm":        {"!Ref MetricsNamespace", "ConnectWisePushFailed", "", "", "", "Sum", "GreaterThanOrEqualToThreshold", 300, 1},
		"WebhookServerErrorsAlarm": {"AWS/ApiGateway", "5xx", "ApiId", "HttpApi", "", "Sum", "GreaterThanOrEqualToThreshold", 300, 1},
	}
	for _, f := range s.Functions {
		want[f.LogicalID+"ErrorsAlarm"] = metric{"AWS/Lambda", "Errors", "FunctionName", f.LogicalID, "", "Sum", "GreaterThanThreshold", 300, 0}
	}
	for id, m := range want {
		a, ok := s.Alarm(id)
		if !ok {
			continue // reported above
		}
		if a.Namespace.String() != m.namespace || a.MetricName.String() != m.name {
			t.Errorf("%s: metric %s %s, want %s %s", id, a.Namespace, a.MetricName, m.namespace, m.name)
		}
		if a.Statistic != m.statistic || a.ComparisonOperator != m.comparison || a.Period != m.period || a.Threshold != m.threshold {
			t.Errorf("%s: %s %s %v over %d s, want %s %s %v over %d s", id,
				a.Statistic, a.ComparisonOperator, a.Threshold, a.Period, m.statistic, m.comparison, m.threshold, m.period)
		}
		if m.dimName == "" {
			if len(a.Dimensions) != 0 {
				t.Errorf("%s: dimensions %v, want none", id, a.Dimensions)
			}
			continue
		}
		dim := a.Dimensions[m.dimName]
		if len(a.Dimensions) != 1 || !dim.Points(m.dimTarget) || dim.Attribute() != m.dimAttr {
			t.Errorf("%s: dimensions %v, want only %s pointing at %s (attribute %q)", id, a.Dimensions, m.dimName, m.dimTarget, m.dimAttr)
		}
	}
}

func TestResyncRunsOnTheSchedule(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	resync := mustFunction(t, s, "ResyncFunction")
	daily, tick := false, false
	for _, e := range resync.Events {
		if e.Type != "Schedule" {
			t.Errorf("ResyncFunction event %s: type %s, want Schedule", e.Name, e.Type)
			continue
		}
		sched, input := e.Properties.Get("Schedule"), e.Properties.Get("Input")
		switch {
		case sched.Points("ResyncSchedule"):
			daily = true
			if !input.IsZero() {
				t.Errorf("daily schedule %s has an Input (%s): the resync runs on the EventBridge event", e.Name, input)
			}
		case sched.String() == "rate(1 minute)":
			// The health tick: resyncfn.Handler runs it on this input.
			tick = true
			if input.Scalar != `{"task":"`+resyncfn.TaskHealth+`"}` {
				t.Errorf("health schedule %s: Input = %s, want {\"task\":%q}", e.Name, input, resyncfn.TaskHealth)
			}
		default:
			t.Errorf("ResyncFunction schedule %s: %s is neither !Ref ResyncSchedule nor the health tick's rate(1 minute)", e.Name, sched)
		}
	}
	if !daily || !tick {
		t.Errorf("ResyncFunction: daily resync schedule %v, health tick %v; want both", daily, tick)
	}
	if p := s.Parameters["ResyncSchedule"]; p.Default != "cron(15 3 * * ? *)" {
		t.Errorf("ResyncSchedule default = %q", p.Default)
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	api, ok := s.Resource("HttpApi")
	if !ok || api.Type != "AWS::Serverless::HttpApi" {
		t.Fatalf("HttpApi must be an AWS::Serverless::HttpApi, got %q", api.Type)
	}
	if on, err := api.Properties.Get("Auth", "EnableIamAuthorizer").Bool(); err != nil || !on {
		t.Error("HttpApi: Auth.EnableIamAuthorizer must be true for the AWS_IAM admin route")
	}
	if d := api.Properties.Get("Auth", "DefaultAuthorizer"); !d.IsZero() {
		t.Errorf("HttpApi: DefaultAuthorizer %s would also apply to the webhook, which authenticates by signature", d)
	}
	for _, key := range []string{"ThrottlingBurstLimit", "ThrottlingRateLimit"} {
		if n, err := api.Properties.Get("DefaultRouteSettings", key).Int(); err != nil || n <= 0 {
			t.Errorf("HttpApi: DefaultRouteSettings.%s must be set", key)
		}
	}

	route := func(fn, method, path string) Event {
		t.Helper()
		f := mustFunction(t, s, fn)
		for _, e := range f.Events {
			if e.Type == "HttpApi" && e.Properties.Get("Method").Scalar == method && e.Properties.Get("Path").Scalar == path {
				if !e.Properties.Get("ApiId").Points("HttpApi") {
					t.Errorf("%s: route %s %s is not on HttpApi (ApiId %s)", fn, method, path, e.Properties.Get("ApiId"))
				}
				return e
			}
		}
		t.Errorf("%s has no HttpApi event %s %s", fn, method, path)
		return Event{}
	}
	if e := route("WebhookFunction", "POST", "/v1/partners/{partnerId}/events"); !e.Properties.Get("Auth").IsZero() {
		t.Errorf("the webhook route must not set Auth (it verifies signatures), got %s", e.Properties.Get("Auth"))
	}
	if e := route("AdminFunction", "ANY", "/v1/admin/{proxy+}"); e.Properties.Get("Auth", "Authorizer").Scalar != "AWS_IAM" {
		t.Errorf("the admin route's Auth.Authorizer = %s, want AWS_IAM", e.Properties.Get("Auth", "Authorizer"))
	}
	// The console: GET /console (which also takes GET /console/) and
	// everything under /console/, on the admin function, without an
	// authorizer: browsers send the session as a cookie, which neither IAM
	// nor an HTTP API JWT authorizer (a header or the query string) reads,
	// and sign-in must be reachable signed out. The function verifies the
	// Cognito ID token and its session cookie itself (internal/console).
	for _, r := range [][2]string{{"GET", "/console"}, {"ANY", "/console/{proxy+}"}} {
		e := route("AdminFunction", r[0], r[1])
		if a := e.Properties.Get("Auth"); !a.IsZero() {
			t.Errorf("console route %s %s: Auth = %s; the console authenticates in the function (README, \"Operator console\")", r[0], r[1], a)
		}
		if v, _ := e.Properties.Get("PayloadFormatVersion").Literal(); v != "2.0" {
			t.Errorf("console route %s %s: PayloadFormatVersion = %q, want 2.0 (internal/lambdahttp)", r[0], r[1], v)
		}
	}
	if a := api.Properties.Get("Auth", "Authorizers"); !a.IsZero() {
		t.Errorf("HttpApi: Auth.Authorizers = %s; no route uses a JWT authorizer (see the console routes); if one does now, check its issuer and audience here", a)
	}
	// Every route of the API, in one place: a new one must be added here.
	var routes []string
	for _, f := range s.Functions {
		for _, e := range f.Events {
			if e.Type == "HttpApi" {
				routes = append(routes, f.LogicalID+" "+e.Properties.Get("Method").Scalar+" "+e.Properties.Get("Path").Scalar)
			}
		}
	}
	slices.Sort(routes)
	want := []string{
		"AdminFunction ANY /console/{proxy+}",
		"AdminFunction ANY /v1/admin/{proxy+}",
		"AdminFunction GET /console",
		"WebhookFunction POST /v1/partners/{partnerId}/callbacks/{token}",
		"WebhookFunction POST /v1/partners/{partnerId}/events",
	}
	if !slices.Equal(routes, want) {
		t.Errorf("HTTP API routes:\n%s\nwant:\n%s", strings.Join(routes, "\n"), strings.Join(want, "\n"))
	}
}

// broadResourceActions may use Resource "*": the services have no
// resource-level permissions for them. (The worker's EMF metrics are log
// lines and need no cloudwatch:PutMetricData.)
var broadResourceActions = map[string]bool{
	"xray:PutTraceSegments":    true,
	"xray:PutTelemetryRecords": true,
	"cloudwatch:PutMetricData": true,
}

func TestNoWildcardIAM(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	var docs int
	s.root.Get("Resources").Walk(func(path []string, v Value) bool {
		if v.Kind != Mapping || v.Tag != "" || v.Get("Statement").IsZero() {
			return true
		}
		docs++
		where := strings.Join(path, ".")
		sts, err := ParseStatements(v)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			return false
		}
		for _, st := range sts {
			if st.Effect == "Allow" && (len(st.NotActions) > 0 || len(st.NotResources) > 0) {
				t.Errorf("%s (line %d): Allow with NotAction/NotResource grants nearly everything", where, st.Line)
			}
			if len(st.Actions) == 0 {
				t.Errorf("%s (line %d): statement without Action", where, st.Line)
			}
			for _, a := range st.Actions {
				if strings.Contains(a, "*") {
					t.Errorf("%s (line %d): wildcard action %q", where, st.Line, a)
				}
			}
			for _, r := range st.Resources {
				lit, ok := r.Literal()
				if !ok || lit != "*" {
					continue
				}
				for _, a := range st.Actions {
					if !broadResourceActions[a] {
						t.Errorf("%s (line %d): action %s on Resource \"*\"; scope it to the resource", where, st.Line, a)
					}
				}
			}
		}
		return false
	})
	if docs == 0 {
		t.Error("found no policy document at all; the walk is broken")
	}

	secretsArn := "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretsPrefix}*"
	consoleArn := consoleSecretARN
	for _, f := range s.Functions {
		for i, p := range f.Policies {
			if p.Kind != Mapping || p.Tag != "" || p.Get("Statement").IsZero() {
				t.Errorf("%s: Policies[%d] = %s is not an inline policy document; managed policies and SAM policy templates can widen access unseen", f.LogicalID, i, p)
			}
		}
		for _, st := range f.Statements {
			for _, a := range st.Actions {
				if !strings.HasPrefix(a, "secretsmanager:") {
					continue
				}
				for _, r := range st.Resources {
					// The admin function may also read (only read) the
					// console's secret (TestConsoleSignIn).
					if f.LogicalID == "AdminFunction" && a == "secretsmanager:GetSecretValue" && r.String() == consoleArn {
						continue
					}
					if r.Tag != "!Sub" || r.Scalar != secretsArn {
						t.Errorf("%s (line %d): %s on %s, want only the partner prefix %s", f.LogicalID, st.Line, a, r, secretsArn)
					}
				}
			}
		}
	}
}

func TestEveryReferenceNamesSomethingDefined(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	refs := s.References()
	if len(refs) < 20 {
		t.Fatalf("only %d references found; the walk is broken", len(refs))
	}
	for _, r := range refs {
		switch {
		case r.Func == "Condition":
			if _, ok := s.Conditions[r.Name]; !ok {
				t.Errorf("%s: no such condition", r)
			}
		case r.Func == "GetAtt" || r.Attribute != "":
			if _, ok := s.Resources[r.Name]; !ok {
				t.Errorf("%s: no such resource", r)
			}
		default:
			if !s.Defines(r.Name) {
				t.Errorf("%s: not a parameter, resource or pseudo parameter", r)
			}
		}
	}
	for _, r := range s.Resources {
		if _, ok := s.Conditions[r.Condition]; r.Condition != "" && !ok {
			t.Errorf("resource %s: Condition %s does not exist", r.LogicalID, r.Condition)
		}
		for _, d := range r.DependsOn {
			if _, ok := s.Resources[d]; !ok {
				t.Errorf("resource %s: DependsOn %s does not exist", r.LogicalID, d)
			}
		}
	}
}

// designEnv is the environment of docs/design.md; localEnv the local-only
// variables, declared empty so that events/env.json can override them.
var (
	designEnv = map[string]string{
		"TABLE_NAME":               "!Ref Table",
		"QUEUE_URL":                "!Ref EventsQueue",
		"SECRETS_PREFIX":           "!Ref SecretsPrefix",
		"METRICS_NAMESPACE":        "!Ref MetricsNamespace",
		"LOG_LEVEL":                "!Ref LogLevel",
		"EVENT_LOG_RETENTION_DAYS": "!Ref EventLogRetentionDays",
		"DEAD_LETTER_QUEUE_ARN":    "!GetAtt EventsDLQ.Arn",
		"SYNC_QUEUE_URL":           "!Ref SyncQueue",
		"SYNC_QUEUE_ARN":           "!GetAtt SyncQueue.Arn",
		"ALARM_TOPIC_ARN":          "!If [CreateAlarmTopic, !Ref AlarmTopic, !Ref AlarmTopicArn]",
		// The console's sign-in (AdminFunction only; TestConsoleSignIn).
		"COGNITO_ISSUER":    `!Sub "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${ConsoleUserPool}"`,
		"COGNITO_DOMAIN":    `!Sub "https://${ConsoleUserPoolDomain}.auth.${AWS::Region}.amazoncognito.com"`,
		"CONSOLE_SECRET_ID": "!Sub " + consoleSecretName,
	}
	// consoleEnv are the variables of the console's sign-in.
	consoleEnv = []string{"COGNITO_ISSUER", "COGNITO_DOMAIN", "CONSOLE_SECRET_ID"}
	localEnv   = []string{"LOCAL_SECRETS_FILE", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"}
)

func TestFunctionEnvironment(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	common := []string{"TABLE_NAME", "SECRETS_PREFIX", "LOG_LEVEL"}
	need := map[string][]string{
		"WebhookFunction": {"QUEUE_URL"},
		"WorkerFunction":  {"QUEUE_URL", "METRICS_NAMESPACE", "EVENT_LOG_RETENTION_DAYS", "DEAD_LETTER_QUEUE_ARN", "ALARM_TOPIC_ARN", "SYNC_QUEUE_URL", "SYNC_QUEUE_ARN"},
		"ResyncFunction":  {"QUEUE_URL", "METRICS_NAMESPACE", "SYNC_QUEUE_URL"},
		"AdminFunction":   append([]string{"QUEUE_URL", "SYNC_QUEUE_URL"}, consoleEnv...),
	}
	for id, extra := range need {
		f := mustFunction(t, s, id)
		for _, name := range append(slices.Clone(common), extra...) {
			v, ok := f.Env[name]
			if !ok {
				t.Errorf("%s: no environment variable %s", id, name)
				continue
			}
			if v.String() != designEnv[name] {
				t.Errorf("%s: %s = %s, want %s", id, name, v, designEnv[name])
			}
		}
	}
	for _, f := range s.Functions {
		for name, v := range f.Env {
			switch {
			case slices.Contains(consoleEnv, name) && f.LogicalID != "AdminFunction":
				t.Errorf("%s: %s is the console's, which only AdminFunction serves", f.LogicalID, name)
			case designEnv[name] != "":
				if v.String() != designEnv[name] {
					t.Errorf("%s: %s = %s, want %s", f.LogicalID, name, v, designEnv[name])
				}
			case slices.Contains(localEnv, name):
				if lit, ok := v.Literal(); !ok || lit != "" {
					t.Errorf("%s: local-only %s = %s must be empty in the deployed template", f.LogicalID, name, v)
				}
			default:
				t.Errorf("%s: environment variable %s is not in docs/design.md", f.LogicalID, name)
			}
		}
	}
}

func TestLocalEnvFileOverridesDeclaredVariables(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	b, err := os.ReadFile(filepath.Join(repoRoot, "events", "env.json"))
	if err != nil {
		t.Fatalf("read events/env.json: %v", err)
	}
	var env map[string]map[string]string
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("events/env.json: %v", err)
	}
	for id, vars := range env {
		f, ok := s.Function(id)
		if !ok {
			t.Errorf("events/env.json: %s is not a function of the template", id)
			continue
		}
		for name := range vars {
			if _, declared := f.Env[name]; !declared {
				t.Errorf("events/env.json: %s.%s is not declared in the template, so sam local ignores it", id, name)
			}
		}
	}
	for _, f := range s.Functions {
		if _, ok := env[f.LogicalID]; !ok {
			t.Errorf("events/env.json has no entry for %s", f.LogicalID)
		}
	}
}

func TestLogGroups(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	for _, f := range s.Functions {
		id := f.LogGroup.Target()
		r, ok := s.Resource(id)
		if f.LogGroup.Tag != "!Ref" || !ok || r.Type != "AWS::Logs::LogGroup" {
			t.Errorf("%s: LoggingConfig.LogGroup = %s, want !Ref of an AWS::Logs::LogGroup", f.LogicalID, f.LogGroup)
			continue
		}
		if n, err := r.Properties.Get("RetentionInDays").Int(); err != nil || n != 30 {
			t.Errorf("%s: log group %s RetentionInDays = %s, want 30", f.LogicalID, id, r.Properties.Get("RetentionInDays"))
		}
	}
}

func TestOutputs(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	apiBase := "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
	want := map[string]string{
		"WebhookUrl":        "!Sub " + apiBase + "/v1/partners/{partnerId}/events",
		"AdminApiUrl":       "!Sub " + apiBase + "/v1/admin/",
		"ConsoleUrl":        "!Sub " + apiBase + "/console/",
		"ConsoleUserPoolId": "!Ref ConsoleUserPool",
		"EventsQueueUrl":    "!Ref EventsQueue",
		"EventsDLQUrl":      "!Ref EventsDLQ",
		"TableName":         "!Ref Table",
		"AlarmTopicArn":     alarmTarget,
	}
	for name, w := range want {
		o, ok := s.Outputs[name]
		if !ok {
			t.Errorf("no output %s", name)
			continue
		}
		got := o.Value.Tag + " " + o.Value.Scalar
		if o.Value.Tag != "!Sub" {
			got = o.Value.String()
		}
		if got != w {
			t.Errorf("output %s = %s, want %s", name, got, w)
		}
	}
	// The webhook URL must be the webhook route's path: the API uses the
	// $default stage, so there is no stage segment.
	if api, _ := s.Resource("HttpApi"); !api.Properties.Get("StageName").IsZero() {
		if name, _ := api.Properties.Get("StageName").Literal(); name != "$default" {
			t.Errorf("HttpApi StageName %q puts a stage segment in the URLs; the outputs assume $default", name)
		}
	}
}

func TestParameters(t *testing.T) {
	t.Parallel()
	s := loadTemplate(t)
	want := map[string]string{
		"Stage":                 "prod",
		"SecretsPrefix":         "backupbridge/partners/",
		"AlarmTopicArn":         "",
		"AlarmEmail":            "",
		"ResyncSchedule":        "cron(15 3 * * ? *)",
		"EventLogRetentionDays": "90",
		"LogLevel":              "INFO",
		"MetricsNamespace":      "BackupBridge",
		"CognitoDomainPrefix":   "",
	}
	for name, def := range want {
		p, ok := s.Parameters[name]
		if !ok || !p.HasDefault || p.Default != def {
			t.Errorf("parameter %s: %+v, want default %q", name, p, def)
		}
	}
}
