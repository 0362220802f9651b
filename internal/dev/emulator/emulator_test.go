package emulator_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/dev/emulator"
	"github.com/efs-cw/backupbridge/internal/dev/localaws"
	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
	"github.com/efs-cw/backupbridge/internal/dev/localstack"
	"github.com/efs-cw/backupbridge/internal/dev/stackdef"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/resync"
	"github.com/efs-cw/backupbridge/internal/service"
	"github.com/efs-cw/backupbridge/internal/signature"
)

// functions are the directories under functions/.
var functions = []string{"webhook", "worker", "resync", "admin"}

// unreachableSite is an https ConnectWise site nobody listens on: the worker
// fails transiently (connection refused) on every event.
const unreachableSite = "https://127.0.0.1:1"

// rig is the local AWS stack, the demo partner and the built functions.
type rig struct {
	root    string
	def     *stackdef.Stack
	st      *localaws.Stack
	rie     string
	secrets string            // the LOCAL secrets file
	bins    map[string]string // function name → host bootstrap
}

// setup starts the table and queues of the template, stores the demo
// partner (at siteURL) in DynamoDB and its secrets in a local secrets file,
// installs the RIE and builds every function for the host.
func setup(t *testing.T, siteURL string) *rig {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	r := &rig{bins: map[string]string{}}
	var err error
	if r.root, err = localaws.RepoRoot(); err != nil {
		t.Fatal(err)
	}
	if r.rie, err = emulator.EnsureRIE(ctx); err != nil {
		t.Fatalf("install the RIE: %v", err)
	}
	if r.def, err = stackdef.Load(); err != nil {
		t.Fatal(err)
	}
	r.st = localtest.Stack(t)

	dir := t.TempDir()
	r.secrets = filepath.Join(dir, "LOCAL-ONLY-secrets.json")
	p, s := localstack.DemoPartner(siteURL)
	if err := p.Validate(connectwise.SitePolicy{AllowLoopback: true}); err != nil {
		t.Fatalf("demo partner: %v", err)
	}
	if err := (&partner.Store{DB: r.st.DynamoDB, Table: r.st.Names["Table"]}).Create(ctx, p); err != nil {
		t.Fatalf("store the demo partner: %v", err)
	}
	if err := (&partner.LocalSecretsFile{Path: r.secrets}).PutSecrets(ctx, p.ID, s); err != nil {
		t.Fatalf("store the demo secrets: %v", err)
	}

	for _, name := range functions {
		if r.bins[name], err = emulator.BuildFunction(ctx, name, filepath.Join(dir, "bin")); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// env is the environment the template gives function name, pointed at the
// local stack, with the LOCAL secrets file.
func (r *rig) env(t *testing.T, name string) map[string]string {
	t.Helper()
	env, err := emulator.FunctionEnv(r.def, emulator.LogicalID(name), r.st)
	if err != nil {
		t.Fatal(err)
	}
	env["LOCAL_SECRETS_FILE"] = r.secrets
	// The development switch: the test partner's site is on loopback. The
	// template never sets it (internal/dev/stackdef checks).
	env[service.DevAllowLoopbackSites] = "1"
	for _, k := range []string{"TABLE_NAME", "QUEUE_URL", "SECRETS_PREFIX", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"} {
		if env[k] == "" {
			t.Fatalf("%s: %s is empty in %v", name, k, env)
		}
	}
	if env["SECRETS_PREFIX"] != "backupbridge/partners/" {
		t.Fatalf("SECRETS_PREFIX = %q, want the template's default backupbridge/partners/", env["SECRETS_PREFIX"])
	}
	return env
}

// start runs function name under the RIE until the test ends; its output is
// logged when the test fails.
func (r *rig) start(t *testing.T, name string, env map[string]string) *emulator.Function {
	t.Helper()
	f, err := emulator.StartWith(t.Context(), r.bins[name], env, emulator.Options{RIE: r.rie})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = f.Close()
		if t.Failed() {
			t.Logf("%s under the RIE, output:\n%s", name, tail(f.Output(), 60))
		}
	})
	return f
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (r *rig) readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func invoke(t *testing.T, f *emulator.Function, payload any) []byte {
	t.Helper()
	b, ok := payload.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(payload); err != nil {
			t.Fatal(err)
		}
	}
	out, err := f.Invoke(t.Context(), b)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	return out
}

func invokeHTTP(t *testing.T, f *emulator.Function, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	var resp events.APIGatewayV2HTTPResponse
	out := invoke(t, f, req)
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s is not an API Gateway v2 response: %v", out, err)
	}
	return resp
}

// signed returns req with its body signed for the demo partner as message
// id at ts.
func signed(t *testing.T, req events.APIGatewayV2HTTPRequest, id string, ts time.Time) events.APIGatewayV2HTTPRequest {
	t.Helper()
	key, err := signature.ParseSecret(partner.DemoWebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	req.Headers = maps.Clone(req.Headers)
	req.Headers[signature.HeaderID] = id
	req.Headers[signature.HeaderTimestamp] = strconv.FormatInt(ts.Unix(), 10)
	req.Headers[signature.HeaderSignature] = signature.Sign(key, id, ts, []byte(req.Body))
	req.Headers["content-length"] = strconv.Itoa(len(req.Body))
	req.RequestContext.TimeEpoch = ts.UnixMilli()
	return req
}

// TestFunctionsUnderRIE runs each function's real main (service.Run, and
// lambdahttp for the HTTP functions) under the Lambda Runtime Interface
// Emulator, with the environment template.yaml gives it, against the local
// table and queues.
func TestFunctionsUnderRIE(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the four functions and runs them under the Lambda RIE")
	}
	r := setup(t, unreachableSite)

	t.Run("webhook", func(t *testing.T) {
		f := r.start(t, "webhook", r.env(t, "webhook"))
		var sample events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(r.readFile(t, "events/apigw/notification-backup-failure.json"), &sample); err != nil {
			t.Fatal(err)
		}
		queueURL := r.st.QueueURLs["EventsQueue"]

		// Re-signed now: accepted and on the queue.
		id := "msg_rie_" + strconv.FormatInt(time.Now().UnixNano(), 36)
		resp := invokeHTTP(t, f, signed(t, sample, id, time.Now()))
		if resp.StatusCode != 202 || !strings.Contains(resp.Body, `"accepted"`) {
			t.Fatalf("re-signed sample: %d %s, want 202 accepted", resp.StatusCode, resp.Body)
		}
		// The request's log line carries the invocation's Lambda request id.
		if rep, ok := f.LastReport(); !ok || !waitOutput(f, `"requestId":"`+rep.RequestID+`"`) {
			t.Errorf("no log line carries the request id of the invocation (%+v):\n%s", rep, tail(f.Output(), 20))
		} else if line := grepLine(f.Output(), `"requestId":"`+rep.RequestID+`"`); !strings.Contains(line, `"msg":"webhook request"`) || !strings.Contains(line, `"outcome":"accepted"`) {
			t.Errorf("the request id is not on the webhook's request line: %s", line)
		}
		msgs := receive(t, r.st.SQS, queueURL, 1)
		if len(msgs) != 1 {
			t.Fatalf("queue holds %d messages after an accepted webhook, want 1", len(msgs))
		}
		var m queue.Message
		if err := json.Unmarshal([]byte(msgs[0]), &m); err != nil {
			t.Fatalf("queue message %s: %v", msgs[0], err)
		}
		if m.Version != queue.MessageVersion || m.Job != queue.JobEvent || m.PartnerID != partner.DemoPartnerID || m.EventID != id || len(m.Event) == 0 {
			t.Errorf("queue message = %s, want a v%d event job of partner demo, eventId %s", msgs[0], queue.MessageVersion, id)
		}

		// The committed sample as it is: its signature is older than the
		// tolerance, so 401. (When someone has just re-signed the samples,
		// go run ./infra/signevents, it is not stale yet: sign it 10 minutes
		// in the past instead, which is what it will be.)
		stale := sample
		ts, err := strconv.ParseInt(sample.Headers[signature.HeaderTimestamp], 10, 64)
		if err != nil {
			t.Fatalf("sample webhook-timestamp: %v", err)
		}
		if age := time.Since(time.Unix(ts, 0)); age <= signature.Tolerance {
			t.Logf("the committed sample was signed %v ago, inside the tolerance; signing it 10 minutes in the past", age.Round(time.Second))
			stale = signed(t, sample, sample.Headers[signature.HeaderID], time.Now().Add(-10*time.Minute))
		}
		resp = invokeHTTP(t, f, stale)
		if resp.StatusCode != 401 {
			t.Errorf("stale sample: %d %s, want 401", resp.StatusCode, resp.Body)
		}

		// The same event as API Gateway passes a body it takes for binary:
		// base64, decoded by the adapter. A new id, so not a duplicate.
		b64 := signed(t, sample, id+"-b64", time.Now())
		b64.Body, b64.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(sample.Body)), true
		resp = invokeHTTP(t, f, b64)
		if resp.StatusCode != 202 || !strings.Contains(resp.Body, `"accepted"`) {
			t.Errorf("base64 body: %d %s, want 202 accepted", resp.StatusCode, resp.Body)
		}
		if msgs := receive(t, r.st.SQS, queueURL, 1); len(msgs) != 1 {
			t.Errorf("queue holds %d messages after an accepted base64 webhook, want 1", len(msgs))
		}

		// A body over 64 KiB: 413, before the signature is even looked at.
		big := sample
		big.Body = `{"pad":"` + strings.Repeat("x", contract.MaxBodyBytes) + `"}`
		resp = invokeHTTP(t, f, signed(t, big, id+"-big", time.Now()))
		if resp.StatusCode != 413 {
			t.Errorf("%d-byte body: %d %s, want 413", len(big.Body), resp.StatusCode, resp.Body)
		}
		if msgs := receive(t, r.st.SQS, queueURL, 0); len(msgs) != 0 {
			t.Errorf("refused requests put %d messages on the queue: %v", len(msgs), msgs)
		}
		if d := f.InitDuration(); d <= 0 {
			t.Errorf("InitDuration = %v after the first invoke, want > 0", d)
		}
		if reps := f.Reports(); len(reps) != 4 {
			t.Errorf("%d REPORT lines after 4 invokes: %+v", len(reps), reps)
		}
	})

	t.Run("worker", func(t *testing.T) {
		f := r.start(t, "worker", r.env(t, "worker"))
		samples, err := filepath.Glob(filepath.Join(r.root, "events", "sqs", "*.json"))
		if err != nil || len(samples) == 0 {
			t.Fatalf("no events/sqs/*.json samples (%v)", err)
		}
		for _, path := range samples {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var ev events.SQSEvent
			if err := json.Unmarshal(b, &ev); err != nil || len(ev.Records) == 0 {
				t.Fatalf("%s: not an SQS event with records (%v)", path, err)
			}
			// The partner's site refuses connections: every record that
			// needs ConnectWise is a transient failure, reported for
			// redelivery. A backup success opens no ticket and closes none
			// here: it only queues the customer's data sync as its own job
			// and is acknowledged.
			failed := batchFailures(t, invoke(t, f, b))
			if filepath.Base(path) == "backup-completed-success.json" {
				if len(failed) != 0 {
					t.Errorf("%s: batchItemFailures %v, want none (no ConnectWise call on the event's path)", filepath.Base(path), failed)
				}
				if !waitOutput(f, "the data sync is queued as its own job") {
					t.Errorf("%s: no log line says the data sync was queued", filepath.Base(path))
				}
				continue
			}
			for _, rec := range ev.Records {
				if !slices.Contains(failed, rec.MessageId) {
					t.Errorf("%s: record %s not in batchItemFailures %v (site unreachable: want a transient failure)", filepath.Base(path), rec.MessageId, failed)
				}
			}
			if len(failed) != len(ev.Records) {
				t.Errorf("%s: batchItemFailures %v, want exactly the %d records", filepath.Base(path), failed, len(ev.Records))
			}
		}
		// And for the right reason: the handler reached ConnectWise and
		// classified the refusal as transient.
		waitOutput(f, "connection refused")
		for _, path := range samples {
			var ev events.SQSEvent
			_ = json.Unmarshal(r.readFile(t, filepath.Join("events", "sqs", filepath.Base(path))), &ev)
			if filepath.Base(path) == "backup-completed-success.json" {
				continue
			}
			for _, rec := range ev.Records {
				line := grepLine(f.Output(), `"messageId":"`+rec.MessageId+`"`, `"kind":"transient"`)
				if !strings.Contains(line, "127.0.0.1:1") {
					t.Errorf("no log line says record %s failed transiently on the unreachable site (got %q)", rec.MessageId, line)
				}
				// The worker's lines carry the invocation's Lambda request id.
				if !regexp.MustCompile(`"requestId":"[0-9a-f-]{36}"`).MatchString(line) {
					t.Errorf("the worker's log line carries no Lambda request id: %s", line)
				}
			}
		}

		bad := events.SQSEvent{Records: []events.SQSMessage{{
			MessageId: "rie-undecodable-1", ReceiptHandle: "rh", Body: "this is not a queue message",
			EventSource: "aws:sqs", EventSourceARN: r.st.QueueARNs["EventsQueue"], AWSRegion: localaws.Region,
		}}}
		if failed := batchFailures(t, invoke(t, f, bad)); !slices.Equal(failed, []string{"rie-undecodable-1"}) {
			t.Errorf("undecodable record: batchItemFailures = %v, want [rie-undecodable-1]", failed)
		}
		if !waitOutput(f, "undecodable queue message") {
			t.Errorf("the worker did not log the undecodable message")
		}
	})

	t.Run("resync", func(t *testing.T) {
		f := r.start(t, "resync", r.env(t, "resync"))
		out := invoke(t, f, r.readFile(t, "events/schedule/resync.json"))
		var rep resync.Report
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("resync answered %s: %v", out, err)
		}
		var raw map[string]json.RawMessage
		_ = json.Unmarshal(out, &raw)
		if rep.Partners != 1 || string(raw["partners"]) != "1" {
			t.Errorf("resync report = %s, want \"partners\": 1", out)
		}
	})

	t.Run("admin", func(t *testing.T) {
		f := r.start(t, "admin", r.env(t, "admin"))

		resp := invokeHTTP(t, f, adminRequest("GET", "/v1/admin/partners/demo", ""))
		var got struct {
			Partner partner.Partner `json:"partner"`
			Secrets map[string]any  `json:"secrets"`
		}
		if resp.StatusCode != 200 {
			t.Fatalf("GET demo: %d %s, want 200", resp.StatusCode, resp.Body)
		}
		if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
			t.Fatalf("GET demo: %s: %v", resp.Body, err)
		}
		if got.Partner.ID != partner.DemoPartnerID || got.Partner.SiteURL != unreachableSite {
			t.Errorf("GET demo: partner %+v, want demo at %s", got.Partner, unreachableSite)
		}
		_, demoSecrets := localstack.DemoPartner(unreachableSite)
		if got.Secrets["privateKeySet"] != true || strings.Contains(resp.Body, demoSecrets.PrivateKey) || strings.Contains(resp.Body, partner.DemoWebhookSecret) {
			t.Errorf("GET demo: secrets must be redacted and read from the local file: %s", resp.Body)
		}

		p, s := localstack.DemoPartner("http://cw.example.com")
		p.ID = "rie-plain-http"
		body, err := json.Marshal(map[string]any{"partner": p, "secrets": s})
		if err != nil {
			t.Fatal(err)
		}
		resp = invokeHTTP(t, f, adminRequest("POST", "/v1/admin/partners", string(body)))
		var e struct{ Error, Field string }
		_ = json.Unmarshal([]byte(resp.Body), &e)
		if resp.StatusCode != 400 || e.Field != "partner.siteUrl" {
			t.Errorf("POST with an http:// site: %d %s, want 400 naming partner.siteUrl", resp.StatusCode, resp.Body)
		}
	})

	t.Run("missing TABLE_NAME", func(t *testing.T) {
		env := r.env(t, "webhook")
		delete(env, "TABLE_NAME")
		f := r.start(t, "webhook", env)
		_, err := f.Invoke(t.Context(), []byte(`{}`))
		var ie *emulator.InvokeError
		if !errors.As(err, &ie) {
			t.Fatalf("invoke without TABLE_NAME: err = %v, want the emulator's init failure (*InvokeError)", err)
		}
		want := "webhook: missing environment variables: TABLE_NAME"
		if !waitOutput(f, want) {
			t.Errorf("invoke answered %v; the log does not say %q", err, want)
		}
		t.Logf("init failure: %v; log line: %s", err, grepLine(f.Output(), "missing environment variables"))
	})
}

// grepLine returns the first line of s holding every one of subs.
func grepLine(s string, subs ...string) string {
	for line := range strings.Lines(s) {
		all := true
		for _, sub := range subs {
			all = all && strings.Contains(line, sub)
		}
		if all {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// waitOutput waits (up to 3 s) until f's output holds sub: the function's
// own lines reach the RIE's output asynchronously.
func waitOutput(f *emulator.Function, sub string) bool {
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(f.Output(), sub) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// adminRequest is the API Gateway v2 request of the operator route
// ANY /v1/admin/{proxy+}.
func adminRequest(method, path, body string) events.APIGatewayV2HTTPRequest {
	return events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       "ANY /v1/admin/{proxy+}",
		RawPath:        path,
		Headers:        map[string]string{"content-type": "application/json"},
		PathParameters: map[string]string{"proxy": strings.TrimPrefix(path, "/v1/admin/")},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:  "ANY /v1/admin/{proxy+}",
			Stage:     "$default",
			RequestID: "rie-admin",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: "127.0.0.1",
			},
			TimeEpoch: time.Now().UnixMilli(),
		},
		Body: body,
	}
}

// batchFailures decodes a worker response, checking it is exactly the
// events.SQSEventResponse shape Lambda expects.
func batchFailures(t *testing.T, out []byte) []string {
	t.Helper()
	var raw map[string][]map[string]string
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatalf("worker answered %s, not an SQSEventResponse: %v", out, err)
	}
	if _, ok := raw["batchItemFailures"]; !ok || len(raw) != 1 {
		t.Fatalf("worker answered %s, want {\"batchItemFailures\": [...]}", out)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

// receive polls the queue until want messages arrived (or, with want 0, for
// a second), deleting what it receives, and returns their bodies.
func receive(t *testing.T, client *sqs.Client, url string, want int) []string {
	t.Helper()
	var bodies []string
	deadline := time.Now().Add(5 * time.Second)
	if want == 0 {
		deadline = time.Now().Add(time.Second)
	}
	for time.Now().Before(deadline) && (want == 0 || len(bodies) < want) {
		out, err := client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
		})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			if _, err := client.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete: %v", err)
			}
		}
		if len(out.Messages) == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	return bodies
}
