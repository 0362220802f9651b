package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/signature"
)

var now = time.Date(2026, 3, 3, 2, 6, 31, 0, time.UTC)

// fakeSecrets is a SecretSource over a map.
type fakeSecrets struct {
	mu      sync.Mutex
	secrets map[string][]string
	err     error
	calls   int
}

func (f *fakeSecrets) WebhookSecrets(_ context.Context, partnerID string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	s, ok := f.secrets[partnerID]
	if !ok {
		return nil, fmt.Errorf("secrets of partner %s: %w", partnerID, partner.ErrNotFound)
	}
	return s, nil
}

// fakeQueue records enqueued messages.
type fakeQueue struct {
	mu   sync.Mutex
	msgs []queue.Message
	err  error
}

func (f *fakeQueue) Enqueue(_ context.Context, m queue.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.msgs = append(f.msgs, m)
	return nil
}

// fakeDeliveries keeps claims in memory, with the semantics of the DynamoDB
// implementation: a claim expires after claimTTL unless completed.
type fakeDeliveries struct {
	mu                      sync.Mutex
	items                   map[string]*delivery
	beginErr, completeErr   error
	abandonErr              error
	begun, completed, freed []string
}

type delivery struct {
	done    bool
	expires time.Time
}

const claimTTL = time.Minute

func (f *fakeDeliveries) Begin(_ context.Context, partnerID, webhookID string, now time.Time) (DeliveryState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.beginErr != nil {
		return 0, f.beginErr
	}
	key := partnerID + "#" + webhookID
	f.begun = append(f.begun, key)
	if f.items == nil {
		f.items = map[string]*delivery{}
	}
	if d, ok := f.items[key]; ok {
		if d.done {
			return DeliveryDone, nil
		}
		if now.Before(d.expires) {
			return DeliveryInFlight, nil
		}
	}
	f.items[key] = &delivery{expires: now.Add(claimTTL)}
	return DeliveryNew, nil
}

func (f *fakeDeliveries) Complete(_ context.Context, partnerID, webhookID string, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := partnerID + "#" + webhookID
	f.completed = append(f.completed, key)
	if f.completeErr != nil {
		return f.completeErr
	}
	f.items[key].done = true
	return nil
}

func (f *fakeDeliveries) Abandon(_ context.Context, partnerID, webhookID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := partnerID + "#" + webhookID
	f.freed = append(f.freed, key)
	if f.abandonErr != nil {
		return f.abandonErr
	}
	delete(f.items, key)
	return nil
}

// harness is a Handler over fakes, with its log in a buffer.
type harness struct {
	h          *Handler
	secrets    *fakeSecrets
	queue      *fakeQueue
	deliveries *fakeDeliveries
	log        *bytes.Buffer
}

// rotatedSecret is the demo partner's second secret (a rotation in progress).
const rotatedSecret = "whsec_cm90YXRlZC1zZWNyZXQtb2YtdGhlLWRlbW8tcGFydG5lcg=="

func newHarness(t testing.TB) *harness {
	t.Helper()
	var buf bytes.Buffer
	hs := &harness{
		secrets:    &fakeSecrets{secrets: map[string][]string{partner.DemoPartnerID: {partner.DemoWebhookSecret}}},
		queue:      &fakeQueue{},
		deliveries: &fakeDeliveries{},
		log:        &buf,
	}
	hs.h = &Handler{
		Secrets: hs.secrets, Queue: hs.queue, Deliveries: hs.deliveries,
		Now: func() time.Time { return now },
		Log: slog.New(slog.NewJSONHandler(&buf, nil)),
	}
	return hs
}

func key(t testing.TB, secret string) []byte {
	t.Helper()
	k, err := signature.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sampleBody(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../events/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// request builds a request of the demo partner signed with the demo secret at
// time at, with id "msg_1".
func request(t testing.TB, body string, at time.Time) events.APIGatewayV2HTTPRequest {
	t.Helper()
	return events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       Route,
		RawPath:        "/v1/partners/demo/events",
		PathParameters: map[string]string{"partnerId": partner.DemoPartnerID},
		Headers: map[string]string{
			"content-type":            "application/json",
			signature.HeaderID:        "msg_1",
			signature.HeaderTimestamp: strconv.FormatInt(at.Unix(), 10),
			signature.HeaderSignature: signature.Sign(key(t, partner.DemoWebhookSecret), "msg_1", at, []byte(body)),
		},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: Route,
			HTTP:     events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/v1/partners/demo/events"},
		},
		Body: body,
	}
}

// resign signs req again (after its body or id changed) with the given secrets.
func resign(t testing.TB, req *events.APIGatewayV2HTTPRequest, at time.Time, secrets ...string) {
	t.Helper()
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			t.Fatal(err)
		}
		body = b
	}
	id := req.Headers[signature.HeaderID]
	var sigs []string
	for _, s := range secrets {
		sigs = append(sigs, signature.Sign(key(t, s), id, at, body))
	}
	req.Headers[signature.HeaderTimestamp] = strconv.FormatInt(at.Unix(), 10)
	req.Headers[signature.HeaderSignature] = strings.Join(sigs, " ")
}

func decodeBody(t testing.TB, resp events.APIGatewayV2HTTPResponse) map[string]any {
	t.Helper()
	if ct := resp.Headers["Content-Type"]; ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &m); err != nil {
		t.Fatalf("answer body is not JSON: %v: %s", err, resp.Body)
	}
	return m
}

const unauthorizedBody = `{"error":"invalid or missing signature"}`

func TestHandle(t *testing.T) {
	t.Parallel()
	failure := sampleBody(t, "backup-completed-failure")
	big := `{"pad":"` + strings.Repeat("x", contract.MaxBodyBytes) + `"}`

	for _, c := range []struct {
		name   string
		setup  func(t *testing.T, hs *harness, req *events.APIGatewayV2HTTPRequest)
		status int
		// body: the exact answer body, or (when it starts with "~") a
		// substring of it.
		body string
		// field of a 400 answer, when checked.
		field         *string
		enqueued      int
		secretsCalled *int
		retryAfter    string
		outcome       string
	}{
		{name: "accepted", status: 202, body: `{"eventId":"msg_1","status":"accepted"}`, enqueued: 1, outcome: OutcomeAccepted},
		{name: "header names in any case", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			h := map[string]string{}
			for k, v := range r.Headers {
				h[strings.ToUpper(k[:1])+k[1:]] = v
			}
			r.Headers = h
		}, status: 202, enqueued: 1, outcome: OutcomeAccepted},
		{name: "content-type with charset", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.Headers["content-type"] = "application/json; charset=UTF-8"
		}, status: 202, enqueued: 1},
		{name: "base64 body", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.Body, r.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(r.Body)), true
		}, status: 202, enqueued: 1},
		{name: "rotation: partner holds two secrets, signed with the new one", setup: func(t *testing.T, hs *harness, r *events.APIGatewayV2HTTPRequest) {
			hs.secrets.secrets[partner.DemoPartnerID] = []string{partner.DemoWebhookSecret, rotatedSecret}
			resign(t, r, now, rotatedSecret)
		}, status: 202, enqueued: 1},
		{name: "rotation: signed with two secrets, partner holds the new one", setup: func(t *testing.T, hs *harness, r *events.APIGatewayV2HTTPRequest) {
			hs.secrets.secrets[partner.DemoPartnerID] = []string{rotatedSecret}
			resign(t, r, now, partner.DemoWebhookSecret, rotatedSecret)
		}, status: 202, enqueued: 1},
		{name: "an unusable secret beside a good one is skipped", setup: func(t *testing.T, hs *harness, r *events.APIGatewayV2HTTPRequest) {
			hs.secrets.secrets[partner.DemoPartnerID] = []string{"whsec_short", partner.DemoWebhookSecret}
		}, status: 202, enqueued: 1},
		{name: "path from rawPath when there are no path parameters", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.PathParameters = nil
			r.RawPath = "/prod/v1/partners/demo/events"
		}, status: 202, enqueued: 1},

		// Route.
		{name: "other path", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.PathParameters, r.RawPath = nil, "/v1/partners/demo/things"
		}, status: 404, secretsCalled: ptr(0), outcome: OutcomeNotFound},
		{name: "partner id with a slash", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.PathParameters, r.RawPath = nil, "/v1/partners/de/mo/events"
		}, status: 404, secretsCalled: ptr(0)},
		{name: "odd partner id", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.PathParameters["partnerId"] = "../admin"
		}, status: 404, secretsCalled: ptr(0)},
		{name: "GET", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.RequestContext.HTTP.Method = "GET"
		}, status: 405, secretsCalled: ptr(0), outcome: OutcomeMethodNotAllowed},

		// Size, first.
		{name: "oversize body", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.Body = big
			resign(t, r, now, partner.DemoWebhookSecret)
		}, status: 413, body: `{"error":"body is larger than 65536 bytes"}`, secretsCalled: ptr(0), outcome: OutcomeTooLarge},
		{name: "oversize base64 body", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.Body, r.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(big)), true
		}, status: 413, secretsCalled: ptr(0)},
		{name: "oversize body without headers is still 413", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.Body, r.Headers = big, nil
		}, status: 413, secretsCalled: ptr(0)},
		{name: "body of exactly the limit, base64", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			pad := contract.MaxBodyBytes - len(r.Body)
			r.Body = strings.Replace(r.Body, "{", "{"+strings.Repeat(" ", pad), 1)
			r.Body, r.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(r.Body)), true
			resign(t, r, now, partner.DemoWebhookSecret)
		}, status: 202, enqueued: 1},
		{name: "bad base64", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.Body, r.IsBase64Encoded = "not base64!", true
		}, status: 400, body: "~not valid base64", secretsCalled: ptr(0), outcome: OutcomeBadBase64},

		// Signature: one answer for all.
		{name: "signature from another secret", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			resign(t, r, now, rotatedSecret)
		}, status: 401, body: unauthorizedBody, outcome: OutcomeUnauthorized},
		{name: "tampered body", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.Body = strings.Replace(r.Body, `"failure"`, `"success"`, 1)
		}, status: 401, body: unauthorizedBody},
		{name: "stale: signed 6 minutes ago", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			resign(t, r, now.Add(-6*time.Minute), partner.DemoWebhookSecret)
		}, status: 401, body: unauthorizedBody},
		{name: "stale: signed 6 minutes ahead", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			resign(t, r, now.Add(6*time.Minute), partner.DemoWebhookSecret)
		}, status: 401, body: unauthorizedBody},
		{name: "signed 4 minutes ago", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			resign(t, r, now.Add(-4*time.Minute), partner.DemoWebhookSecret)
		}, status: 202, enqueued: 1},
		{name: "unknown partner", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.PathParameters["partnerId"] = "nobody"
		}, status: 401, body: unauthorizedBody, outcome: OutcomeUnknownPartner},
		{name: "missing signature header", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			delete(r.Headers, signature.HeaderSignature)
		}, status: 401, body: unauthorizedBody, secretsCalled: ptr(0)},
		{name: "missing id header", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			delete(r.Headers, signature.HeaderID)
		}, status: 401, body: unauthorizedBody, secretsCalled: ptr(0)},
		{name: "timestamp not seconds", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.Headers[signature.HeaderTimestamp] = now.Format(time.RFC3339)
		}, status: 401, body: unauthorizedBody},
		{name: "secrets unavailable", setup: func(t *testing.T, hs *harness, _ *events.APIGatewayV2HTTPRequest) {
			hs.secrets.err = errors.New("secretsmanager: throttled (token=SECRET-TOKEN)")
		}, status: 503, body: `{"error":"temporarily unavailable; retry later"}`, retryAfter: "10", outcome: OutcomeSecretsUnavailable},
		{name: "no usable secret", setup: func(t *testing.T, hs *harness, _ *events.APIGatewayV2HTTPRequest) {
			hs.secrets.secrets[partner.DemoPartnerID] = []string{"not-a-secret"}
		}, status: 503, retryAfter: "10"},

		// Content type and body.
		{name: "text/plain", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.Headers["content-type"] = "text/plain"
		}, status: 415, body: `{"error":"content-type must be application/json"}`, outcome: OutcomeUnsupportedType},
		{name: "no content type", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			delete(r.Headers, "content-type")
		}, status: 415},
		{name: "JSON in another charset", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.Headers["content-type"] = "application/json; charset=latin1"
		}, status: 415},
		{name: "webhook-id with a space", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.Headers[signature.HeaderID] = "msg 1"
			resign(t, r, now, partner.DemoWebhookSecret)
		}, status: 400, field: ptr("webhook-id"), outcome: OutcomeInvalidID},
		{name: "malformed JSON", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.Body = `{"specVersion":"1.0",`
			resign(t, r, now, partner.DemoWebhookSecret)
		}, status: 400, body: "~body is not valid JSON", field: ptr(""), outcome: OutcomeInvalidEvent},
		{name: "contract violation", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.Body = strings.Replace(r.Body, `"plan": "select"`, `"plan": "gold"`, 1)
			resign(t, r, now, partner.DemoWebhookSecret)
		}, status: 400, body: `{"error":"backup.account.plan: must be one of select, basic, shadowprotect_bdr","field":"backup.account.plan"}`, field: ptr("backup.account.plan")},
		{name: "unknown field", setup: func(t *testing.T, _ *harness, r *events.APIGatewayV2HTTPRequest) {
			r.Body = strings.Replace(r.Body, `"result"`, `"outcome": "x", "result"`, 1)
			resign(t, r, now, partner.DemoWebhookSecret)
		}, status: 400, field: ptr("backup.outcome"), body: "~unknown field"},

		// Deliveries and queue.
		{name: "in flight", setup: func(t *testing.T, hs *harness, _ *events.APIGatewayV2HTTPRequest) {
			hs.deliveries.items = map[string]*delivery{"demo#msg_1": {expires: now.Add(30 * time.Second)}}
		}, status: 409, body: "~still being processed", retryAfter: "5", outcome: OutcomeInFlight},
		{name: "expired claim is taken over", setup: func(t *testing.T, hs *harness, _ *events.APIGatewayV2HTTPRequest) {
			hs.deliveries.items = map[string]*delivery{"demo#msg_1": {expires: now.Add(-time.Second)}}
		}, status: 202, enqueued: 1},
		{name: "already done", setup: func(t *testing.T, hs *harness, _ *events.APIGatewayV2HTTPRequest) {
			hs.deliveries.items = map[string]*delivery{"demo#msg_1": {done: true}}
		}, status: 202, body: `{"eventId":"msg_1","status":"duplicate"}`, outcome: OutcomeDuplicate},
		{name: "claim fails", setup: func(t *testing.T, hs *harness, _ *events.APIGatewayV2HTTPRequest) {
			hs.deliveries.beginErr = errors.New("dynamodb: ProvisionedThroughputExceededException")
		}, status: 503, retryAfter: "10", outcome: OutcomeClaimFailed},
		{name: "enqueue fails", setup: func(t *testing.T, hs *harness, _ *events.APIGatewayV2HTTPRequest) {
			hs.queue.err = errors.New("sqs: connection reset")
		}, status: 503, body: `{"error":"temporarily unavailable; retry later"}`, retryAfter: "10", outcome: OutcomeEnqueueFailed},
		{name: "enqueue and abandon fail", setup: func(t *testing.T, hs *harness, _ *events.APIGatewayV2HTTPRequest) {
			hs.queue.err = errors.New("sqs: connection reset")
			hs.deliveries.abandonErr = errors.New("dynamodb: timeout")
		}, status: 503, retryAfter: "10"},
		{name: "complete fails, still accepted", setup: func(t *testing.T, hs *harness, _ *events.APIGatewayV2HTTPRequest) {
			hs.deliveries.completeErr = errors.New("dynamodb: timeout")
		}, status: 202, body: `{"eventId":"msg_1","status":"accepted"}`, enqueued: 1, outcome: OutcomeAccepted},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t)
			req := request(t, failure, now)
			if c.setup != nil {
				c.setup(t, hs, &req)
			}
			resp, err := hs.h.Handle(context.Background(), req)
			if err != nil {
				t.Fatalf("Handle returned an error: %v", err)
			}
			if resp.StatusCode != c.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, c.status, resp.Body)
			}
			m := decodeBody(t, resp)
			switch {
			case c.body == "":
			case strings.HasPrefix(c.body, "~"):
				if !strings.Contains(resp.Body, c.body[1:]) {
					t.Errorf("body = %s, want it to contain %q", resp.Body, c.body[1:])
				}
			case resp.Body != c.body:
				t.Errorf("body = %s, want %s", resp.Body, c.body)
			}
			if c.field != nil {
				if f, ok := m["field"]; !ok || f != *c.field {
					t.Errorf("field = %v (present %v), want %q", f, ok, *c.field)
				}
			}
			if got := resp.Headers["Retry-After"]; got != c.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, c.retryAfter)
			}
			if len(hs.queue.msgs) != c.enqueued {
				t.Errorf("%d messages enqueued, want %d", len(hs.queue.msgs), c.enqueued)
			}
			if c.secretsCalled != nil && hs.secrets.calls != *c.secretsCalled {
				t.Errorf("secrets source called %d times, want %d", hs.secrets.calls, *c.secretsCalled)
			}
			if c.status == http.StatusMethodNotAllowed && resp.Headers["Allow"] != "POST" {
				t.Errorf("Allow = %q", resp.Headers["Allow"])
			}
			checkLog(t, hs, req, c.status, c.outcome)
		})
	}
}

// checkLog checks the one log line of a request: status, outcome, and no
// secret, signature or internal token in it.
func checkLog(t *testing.T, hs *harness, req events.APIGatewayV2HTTPRequest, status int, outcome string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(hs.log.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want 1:\n%s", len(lines), hs.log)
	}
	var l map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &l); err != nil {
		t.Fatal(err)
	}
	if l["status"] != float64(status) || l["msg"] != "webhook request" {
		t.Errorf("log line = %s", lines[0])
	}
	if outcome != "" && l["outcome"] != outcome {
		t.Errorf("logged outcome = %v, want %s", l["outcome"], outcome)
	}
	secrets := []string{partner.DemoWebhookSecret[6:], rotatedSecret[6:], "demo-webhook-secret"}
	for _, sig := range strings.Fields(req.Headers[signature.HeaderSignature]) {
		if len(sig) > 3 {
			secrets = append(secrets, sig[3:])
		}
	}
	for _, s := range secrets {
		if strings.Contains(lines[0], s) {
			t.Errorf("log line holds a secret or signature: %s", lines[0])
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestAcceptedMessage(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	body := sampleBody(t, "notification-no-backup") // no state: the default is filled
	resp, _ := hs.h.Handle(context.Background(), request(t, body, now))
	if resp.StatusCode != 202 {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	if len(hs.queue.msgs) != 1 {
		t.Fatalf("%d messages", len(hs.queue.msgs))
	}
	m := hs.queue.msgs[0]
	if m.Version != queue.MessageVersion || m.Job != queue.JobEvent || m.PartnerID != "demo" || m.EventID != "msg_1" || !m.ReceivedAt.Equal(now) {
		t.Errorf("message = %+v", m)
	}
	if bytes.Contains(m.Event, []byte("\n")) || !json.Valid(m.Event) {
		t.Errorf("event is not compact JSON: %s", m.Event)
	}
	e, err := contract.Parse(m.Event)
	if err != nil {
		t.Fatalf("queued event does not parse: %v", err)
	}
	if e.Notification.State != contract.StateRaised || e.Customer.ID != "1001" {
		t.Errorf("queued event = %+v", e.Notification)
	}
	if got := hs.deliveries.completed; len(got) != 1 || got[0] != "demo#msg_1" {
		t.Errorf("completed = %v", got)
	}
}

func TestDuplicateDeliveryEnqueuesOnce(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	req := request(t, sampleBody(t, "backup-completed-success"), now)
	want := []string{`{"eventId":"msg_1","status":"accepted"}`, `{"eventId":"msg_1","status":"duplicate"}`, `{"eventId":"msg_1","status":"duplicate"}`}
	for i, w := range want {
		resp, _ := hs.h.Handle(context.Background(), req)
		if resp.StatusCode != 202 || resp.Body != w {
			t.Errorf("delivery %d: %d %s, want 202 %s", i+1, resp.StatusCode, resp.Body, w)
		}
	}
	if len(hs.queue.msgs) != 1 {
		t.Errorf("%d messages enqueued, want 1", len(hs.queue.msgs))
	}
}

func TestRetryAfterEnqueueFailureSucceeds(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	req := request(t, sampleBody(t, "usage-snapshot"), now)
	hs.queue.err = errors.New("sqs down")
	if resp, _ := hs.h.Handle(context.Background(), req); resp.StatusCode != 503 {
		t.Fatalf("first attempt: %d", resp.StatusCode)
	}
	if got := hs.deliveries.freed; len(got) != 1 || got[0] != "demo#msg_1" {
		t.Errorf("abandoned = %v, want the claim released", got)
	}
	if len(hs.deliveries.completed) != 0 {
		t.Errorf("completed after a failed enqueue: %v", hs.deliveries.completed)
	}
	hs.queue.err = nil
	if resp, _ := hs.h.Handle(context.Background(), req); resp.StatusCode != 202 || !strings.Contains(resp.Body, "accepted") {
		t.Fatalf("retry: %d %s", resp.StatusCode, resp.Body)
	}
	if len(hs.queue.msgs) != 1 {
		t.Errorf("%d messages", len(hs.queue.msgs))
	}
}

// TestEverySampleIsAccepted sends every raw sample in events/ through the handler.
func TestEverySampleIsAccepted(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir("../../events")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if e.IsDir() || !ok || name == "env" { // env.json: the SAM --env-vars file
			continue
		}
		hs := newHarness(t)
		resp, _ := hs.h.Handle(context.Background(), request(t, sampleBody(t, name), now))
		if resp.StatusCode != 202 {
			t.Errorf("%s: %d %s", name, resp.StatusCode, resp.Body)
		}
	}
}

func TestBodySize(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 2, 3, 4, 100, contract.MaxBodyBytes, contract.MaxBodyBytes + 1} {
		enc := base64.StdEncoding.EncodeToString(make([]byte, n))
		if got := bodySize(events.APIGatewayV2HTTPRequest{Body: enc, IsBase64Encoded: true}); got != n {
			t.Errorf("bodySize of base64 of %d bytes = %d", n, got)
		}
	}
}

func TestDeliveryStateString(t *testing.T) {
	t.Parallel()
	if DeliveryNew.String() != "new" || DeliveryDone.String() != "done" || DeliveryInFlight.String() != "in-flight" || DeliveryState(0).String() != "DeliveryState(0)" {
		t.Error("DeliveryState.String")
	}
	if !strings.Contains(msgInFlight, strconv.Itoa(RetryAfterInFlight)+" seconds") {
		t.Error("the in-flight message disagrees with RetryAfterInFlight")
	}
}

// alwaysNew is a Deliveries that always grants the claim (for the benchmark).
type alwaysNew struct{}

func (alwaysNew) Begin(context.Context, string, string, time.Time) (DeliveryState, error) {
	return DeliveryNew, nil
}
func (alwaysNew) Complete(context.Context, string, string, time.Time) error { return nil }
func (alwaysNew) Abandon(context.Context, string, string) error             { return nil }

type discardQueue struct{}

func (discardQueue) Enqueue(context.Context, queue.Message) error { return nil }

func BenchmarkHandle(b *testing.B) {
	h := &Handler{
		Secrets:    &fakeSecrets{secrets: map[string][]string{partner.DemoPartnerID: {partner.DemoWebhookSecret}}},
		Queue:      discardQueue{},
		Deliveries: alwaysNew{},
		Now:        func() time.Time { return now },
		Log:        slog.New(slog.DiscardHandler),
	}
	req := request(b, sampleBody(b, "notification-backup-failure"), now)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, _ := h.Handle(ctx, req)
		if resp.StatusCode != 202 {
			b.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
	}
}

// TestCommittedAPIGatewayEvents replays every events/apigw/*.json (what sam
// local invoke takes) at the time it was signed: each is accepted and
// enqueues its raw sample.
func TestCommittedAPIGatewayEvents(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir("../../events/apigw")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 13 {
		t.Fatalf("%d API Gateway events, want one per sample (go run ./infra/signevents)", len(entries))
	}
	for _, e := range entries {
		b, err := os.ReadFile("../../events/apigw/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		var req events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(b, &req); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if raw := sampleBody(t, strings.TrimSuffix(e.Name(), ".json")); req.Body != raw {
			t.Errorf("%s: body differs from its raw sample: run go run ./infra/signevents", e.Name())
		}
		sec, err := strconv.ParseInt(req.Headers[signature.HeaderTimestamp], 10, 64)
		if err != nil {
			t.Fatalf("%s: timestamp: %v", e.Name(), err)
		}
		hs := newHarness(t)
		hs.h.Now = func() time.Time { return time.Unix(sec, 0) }
		resp, _ := hs.h.Handle(context.Background(), req)
		if resp.StatusCode != 202 || len(hs.queue.msgs) != 1 {
			t.Errorf("%s: %d %s", e.Name(), resp.StatusCode, resp.Body)
		}
	}
}
