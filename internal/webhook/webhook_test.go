package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/lambdahttp"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/signature"
)

var now = time.Date(2026, 3, 10, 2, 6, 31, 0, time.UTC) // after every sample in events/

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

// spec is the request of a test. It is sent to Handler.Routes with
// httptest, or, when gateway is set (or the body is encoded), as the API
// Gateway event Lambda receives, through lambdahttp: the path a request
// takes in production.
type spec struct {
	method, path string
	header       map[string]string
	body         string
	// encoded: body is base64 text, sent with isBase64Encoded.
	encoded bool
	gateway bool
	// stage is the API Gateway stage (gateway only; "" is $default).
	stage string
	// unknownLength: the body's length is not announced (ContentLength
	// -1, as for a chunked request); httptest only.
	unknownLength bool
	// readErr: reading the body fails with it after the first byte;
	// httptest only.
	readErr error
}

// request builds a request of the demo partner signed with the demo secret at
// time at, with id "msg_1".
func request(t testing.TB, body string, at time.Time) *spec {
	t.Helper()
	return &spec{
		method: http.MethodPost,
		path:   "/v1/partners/demo/events",
		header: map[string]string{
			"content-type":            "application/json",
			signature.HeaderID:        "msg_1",
			signature.HeaderTimestamp: strconv.FormatInt(at.Unix(), 10),
			signature.HeaderSignature: signature.Sign(key(t, partner.DemoWebhookSecret), "msg_1", at, []byte(body)),
		},
		body: body,
	}
}

// resign signs req again (after its body or id changed) with the given secrets.
func resign(t testing.TB, req *spec, at time.Time, secrets ...string) {
	t.Helper()
	body := []byte(req.body)
	if req.encoded {
		b, err := base64.StdEncoding.DecodeString(req.body)
		if err != nil {
			t.Fatal(err)
		}
		body = b
	}
	id := req.header[signature.HeaderID]
	var sigs []string
	for _, s := range secrets {
		sigs = append(sigs, signature.Sign(key(t, s), id, at, body))
	}
	req.header[signature.HeaderTimestamp] = strconv.FormatInt(at.Unix(), 10)
	req.header[signature.HeaderSignature] = strings.Join(sigs, " ")
}

// result is what the client got.
type result struct {
	status int
	header http.Header
	body   string
}

// send serves req with h.Routes().
func send(t testing.TB, h *Handler, req *spec) result {
	t.Helper()
	if !req.gateway && !req.encoded && req.stage == "" {
		r := httptest.NewRequest(req.method, req.path, strings.NewReader(req.body))
		for k, v := range req.header {
			r.Header.Set(k, v)
		}
		if req.unknownLength {
			r.ContentLength, r.Body = -1, io.NopCloser(strings.NewReader(req.body))
		}
		if req.readErr != nil {
			r.Body = io.NopCloser(io.MultiReader(strings.NewReader(req.body[:1]), errReader{req.readErr}))
		}
		w := httptest.NewRecorder()
		h.Routes().ServeHTTP(w, r)
		return result{status: w.Code, header: w.Header(), body: w.Body.String()}
	}
	stage := req.stage
	path := req.path
	if stage == "" {
		stage = "$default"
	} else {
		path = "/" + stage + path
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version:         "2.0",
		RouteKey:        Route,
		RawPath:         path,
		Headers:         maps.Clone(req.header),
		Body:            req.body,
		IsBase64Encoded: req.encoded,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: Route,
			Stage:    stage,
			HTTP:     events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: req.method, Path: path},
		},
	}
	resp, err := lambdahttp.Handler(h.Routes())(context.Background(), ev)
	if err != nil {
		t.Fatalf("Lambda handler returned an error: %v", err)
	}
	hdr := http.Header{}
	for k, v := range resp.Headers {
		hdr.Set(k, v)
	}
	return result{status: resp.StatusCode, header: hdr, body: resp.Body}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func decodeBody(t testing.TB, resp result) map[string]any {
	t.Helper()
	if ct := resp.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(resp.body), &m); err != nil {
		t.Fatalf("answer body is not JSON: %v: %s", err, resp.body)
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
		setup  func(t *testing.T, hs *harness, req *spec)
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
		{name: "header names in any case", setup: func(t *testing.T, _ *harness, r *spec) {
			h := map[string]string{}
			for k, v := range r.header {
				h[strings.ToUpper(k[:1])+k[1:]] = v
			}
			r.header, r.gateway = h, true
		}, status: 202, enqueued: 1, outcome: OutcomeAccepted},
		{name: "through API Gateway", setup: func(t *testing.T, _ *harness, r *spec) {
			r.gateway = true
		}, status: 202, body: `{"eventId":"msg_1","status":"accepted"}`, enqueued: 1, outcome: OutcomeAccepted},
		{name: "content-type with charset", setup: func(t *testing.T, _ *harness, r *spec) {
			r.header["content-type"] = "application/json; charset=UTF-8"
		}, status: 202, enqueued: 1},
		{name: "base64 body", setup: func(t *testing.T, _ *harness, r *spec) {
			r.body, r.encoded = base64.StdEncoding.EncodeToString([]byte(r.body)), true
		}, status: 202, enqueued: 1},
		{name: "rotation: partner holds two secrets, signed with the new one", setup: func(t *testing.T, hs *harness, r *spec) {
			hs.secrets.secrets[partner.DemoPartnerID] = []string{partner.DemoWebhookSecret, rotatedSecret}
			resign(t, r, now, rotatedSecret)
		}, status: 202, enqueued: 1},
		{name: "rotation: signed with two secrets, partner holds the new one", setup: func(t *testing.T, hs *harness, r *spec) {
			hs.secrets.secrets[partner.DemoPartnerID] = []string{rotatedSecret}
			resign(t, r, now, partner.DemoWebhookSecret, rotatedSecret)
		}, status: 202, enqueued: 1},
		{name: "an unusable secret beside a good one is skipped", setup: func(t *testing.T, hs *harness, r *spec) {
			hs.secrets.secrets[partner.DemoPartnerID] = []string{"whsec_short", partner.DemoWebhookSecret}
		}, status: 202, enqueued: 1},
		{name: "API Gateway stage in the path", setup: func(t *testing.T, _ *harness, r *spec) {
			r.stage = "prod" // rawPath /prod/v1/partners/demo/events
		}, status: 202, enqueued: 1},

		// Route.
		{name: "other path", setup: func(t *testing.T, _ *harness, r *spec) {
			r.path = "/v1/partners/demo/things"
		}, status: 404, body: `{"error":"not found: POST /v1/partners/{partnerId}/events"}`, secretsCalled: ptr(0), outcome: OutcomeNotFound},
		{name: "partner id with a slash", setup: func(t *testing.T, _ *harness, r *spec) {
			r.path = "/v1/partners/de/mo/events"
		}, status: 404, secretsCalled: ptr(0)},
		{name: "odd partner id", setup: func(t *testing.T, _ *harness, r *spec) {
			r.path = "/v1/partners/..%2Fadmin/events" // partnerId "../admin"
		}, status: 404, secretsCalled: ptr(0), outcome: OutcomeNotFound},
		{name: "partner id too long", setup: func(t *testing.T, _ *harness, r *spec) {
			r.path = "/v1/partners/" + strings.Repeat("p", 65) + "/events"
		}, status: 404, secretsCalled: ptr(0)},
		{name: "GET", setup: func(t *testing.T, _ *harness, r *spec) {
			r.method = http.MethodGet
		}, status: 405, body: `{"error":"method not allowed: use POST"}`, secretsCalled: ptr(0), outcome: OutcomeMethodNotAllowed},
		{name: "PUT through API Gateway", setup: func(t *testing.T, _ *harness, r *spec) {
			r.method, r.gateway = http.MethodPut, true
		}, status: 405, secretsCalled: ptr(0), outcome: OutcomeMethodNotAllowed},

		// Size, first.
		{name: "oversize body", setup: func(t *testing.T, _ *harness, r *spec) {
			r.body = big
			resign(t, r, now, partner.DemoWebhookSecret)
		}, status: 413, body: `{"error":"body is larger than 65536 bytes"}`, secretsCalled: ptr(0), outcome: OutcomeTooLarge},
		{name: "oversize body of unknown length", setup: func(t *testing.T, _ *harness, r *spec) {
			r.body, r.unknownLength = big, true
			resign(t, r, now, partner.DemoWebhookSecret)
		}, status: 413, secretsCalled: ptr(0), outcome: OutcomeTooLarge},
		{name: "oversize body through API Gateway", setup: func(t *testing.T, _ *harness, r *spec) {
			r.body, r.gateway = big, true
		}, status: 413, secretsCalled: ptr(0), outcome: OutcomeTooLarge},
		{name: "oversize base64 body", setup: func(t *testing.T, _ *harness, r *spec) {
			r.body, r.encoded = base64.StdEncoding.EncodeToString([]byte(big)), true
		}, status: 413, secretsCalled: ptr(0)},
		{name: "oversize body without headers is still 413", setup: func(t *testing.T, _ *harness, r *spec) {
			r.body, r.header = big, nil
		}, status: 413, secretsCalled: ptr(0)},
		{name: "body of exactly the limit, base64", setup: func(t *testing.T, _ *harness, r *spec) {
			pad := contract.MaxBodyBytes - len(r.body)
			r.body = strings.Replace(r.body, "{", "{"+strings.Repeat(" ", pad), 1)
			r.body, r.encoded = base64.StdEncoding.EncodeToString([]byte(r.body)), true
			resign(t, r, now, partner.DemoWebhookSecret)
		}, status: 202, enqueued: 1},
		{name: "bad base64", setup: func(t *testing.T, _ *harness, r *spec) {
			r.body, r.encoded = "not base64!", true
		}, status: 400, body: `{"error":"body is marked base64 but is not valid base64"}`, secretsCalled: ptr(0), outcome: OutcomeBadBase64},
		{name: "unreadable body", setup: func(t *testing.T, _ *harness, r *spec) {
			r.readErr = errors.New("connection reset by peer")
		}, status: 400, body: `{"error":"the body could not be read"}`, secretsCalled: ptr(0), outcome: OutcomeUnreadableBody},

		// Signature: one answer for all.
		{name: "signature from another secret", setup: func(t *testing.T, _ *harness, r *spec) {
			resign(t, r, now, rotatedSecret)
		}, status: 401, body: unauthorizedBody, outcome: OutcomeUnauthorized},
		{name: "tampered body", setup: func(t *testing.T, _ *harness, r *spec) {
			r.body = strings.Replace(r.body, `"failure"`, `"success"`, 1)
		}, status: 401, body: unauthorizedBody},
		{name: "stale: signed 6 minutes ago", setup: func(t *testing.T, _ *harness, r *spec) {
			resign(t, r, now.Add(-6*time.Minute), partner.DemoWebhookSecret)
		}, status: 401, body: unauthorizedBody},
		{name: "stale: signed 6 minutes ahead", setup: func(t *testing.T, _ *harness, r *spec) {
			resign(t, r, now.Add(6*time.Minute), partner.DemoWebhookSecret)
		}, status: 401, body: unauthorizedBody},
		{name: "signed 4 minutes ago", setup: func(t *testing.T, _ *harness, r *spec) {
			resign(t, r, now.Add(-4*time.Minute), partner.DemoWebhookSecret)
		}, status: 202, enqueued: 1},
		{name: "unknown partner", setup: func(t *testing.T, _ *harness, r *spec) {
			r.path = "/v1/partners/nobody/events"
		}, status: 401, body: unauthorizedBody, outcome: OutcomeUnknownPartner},
		{name: "missing signature header", setup: func(t *testing.T, _ *harness, r *spec) {
			delete(r.header, signature.HeaderSignature)
		}, status: 401, body: unauthorizedBody, secretsCalled: ptr(0)},
		{name: "missing id header", setup: func(t *testing.T, _ *harness, r *spec) {
			delete(r.header, signature.HeaderID)
		}, status: 401, body: unauthorizedBody, secretsCalled: ptr(0)},
		{name: "timestamp not seconds", setup: func(t *testing.T, _ *harness, r *spec) {
			r.header[signature.HeaderTimestamp] = now.Format(time.RFC3339)
		}, status: 401, body: unauthorizedBody},
		{name: "secrets unavailable", setup: func(t *testing.T, hs *harness, _ *spec) {
			hs.secrets.err = errors.New("secretsmanager: throttled (token=SECRET-TOKEN)")
		}, status: 503, body: `{"error":"temporarily unavailable; retry later"}`, retryAfter: "10", outcome: OutcomeSecretsUnavailable},
		{name: "no usable secret: 401 like a bad signature, not 503", setup: func(t *testing.T, hs *harness, _ *spec) {
			hs.secrets.secrets[partner.DemoPartnerID] = []string{"not-a-secret"}
		}, status: 401, body: unauthorizedBody, outcome: OutcomeSecretsUnusable},
		{name: "whsec_short stored (3 bytes): 401, not 503", setup: func(t *testing.T, hs *harness, _ *spec) {
			hs.secrets.secrets[partner.DemoPartnerID] = []string{"whsec_short"}
		}, status: 401, body: unauthorizedBody, outcome: OutcomeSecretsUnusable},

		// Content type and body.
		{name: "text/plain", setup: func(t *testing.T, _ *harness, r *spec) {
			r.header["content-type"] = "text/plain"
		}, status: 415, body: `{"error":"content-type must be application/json"}`, outcome: OutcomeUnsupportedType},
		{name: "no content type", setup: func(t *testing.T, _ *harness, r *spec) {
			delete(r.header, "content-type")
		}, status: 415},
		{name: "JSON in another charset", setup: func(t *testing.T, _ *harness, r *spec) {
			r.header["content-type"] = "application/json; charset=latin1"
		}, status: 415},
		{name: "webhook-id with a space", setup: func(t *testing.T, _ *harness, r *spec) {
			r.header[signature.HeaderID] = "msg 1"
			resign(t, r, now, partner.DemoWebhookSecret)
		}, status: 400, field: ptr("webhook-id"), outcome: OutcomeInvalidID},
		{name: "malformed JSON", setup: func(t *testing.T, _ *harness, r *spec) {
			r.body = `{"specVersion":"1.0",`
			resign(t, r, now, partner.DemoWebhookSecret)
		}, status: 400, body: "~body is not valid JSON", field: ptr(""), outcome: OutcomeInvalidEvent},
		{name: "contract violation", setup: func(t *testing.T, _ *harness, r *spec) {
			r.body = strings.Replace(r.body, `"plan": "select"`, `"plan": "gold"`, 1)
			resign(t, r, now, partner.DemoWebhookSecret)
		}, status: 400, body: `{"error":"backup.account.plan: must be one of select, basic, shadowprotect_bdr","field":"backup.account.plan"}`, field: ptr("backup.account.plan")},
		{name: "unknown field", setup: func(t *testing.T, _ *harness, r *spec) {
			r.body = strings.Replace(r.body, `"result"`, `"outcome": "x", "result"`, 1)
			resign(t, r, now, partner.DemoWebhookSecret)
		}, status: 400, field: ptr("backup.outcome"), body: "~unknown field"},

		// Deliveries and queue.
		{name: "in flight", setup: func(t *testing.T, hs *harness, _ *spec) {
			hs.deliveries.items = map[string]*delivery{"demo#msg_1": {expires: now.Add(30 * time.Second)}}
		}, status: 409, body: "~still being processed", retryAfter: "5", outcome: OutcomeInFlight},
		{name: "expired claim is taken over", setup: func(t *testing.T, hs *harness, _ *spec) {
			hs.deliveries.items = map[string]*delivery{"demo#msg_1": {expires: now.Add(-time.Second)}}
		}, status: 202, enqueued: 1},
		{name: "already done", setup: func(t *testing.T, hs *harness, _ *spec) {
			hs.deliveries.items = map[string]*delivery{"demo#msg_1": {done: true}}
		}, status: 202, body: `{"eventId":"msg_1","status":"duplicate"}`, outcome: OutcomeDuplicate},
		{name: "claim fails", setup: func(t *testing.T, hs *harness, _ *spec) {
			hs.deliveries.beginErr = errors.New("dynamodb: ProvisionedThroughputExceededException")
		}, status: 503, retryAfter: "10", outcome: OutcomeClaimFailed},
		{name: "enqueue fails", setup: func(t *testing.T, hs *harness, _ *spec) {
			hs.queue.err = errors.New("sqs: connection reset")
		}, status: 503, body: `{"error":"temporarily unavailable; retry later"}`, retryAfter: "10", outcome: OutcomeEnqueueFailed},
		{name: "enqueue and abandon fail", setup: func(t *testing.T, hs *harness, _ *spec) {
			hs.queue.err = errors.New("sqs: connection reset")
			hs.deliveries.abandonErr = errors.New("dynamodb: timeout")
		}, status: 503, retryAfter: "10"},
		{name: "complete fails, still accepted", setup: func(t *testing.T, hs *harness, _ *spec) {
			hs.deliveries.completeErr = errors.New("dynamodb: timeout")
		}, status: 202, body: `{"eventId":"msg_1","status":"accepted"}`, enqueued: 1, outcome: OutcomeAccepted},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t)
			req := request(t, failure, now)
			if c.setup != nil {
				c.setup(t, hs, req)
			}
			resp := send(t, hs.h, req)
			if resp.status != c.status {
				t.Fatalf("status = %d, want %d; body %s", resp.status, c.status, resp.body)
			}
			m := decodeBody(t, resp)
			switch {
			case c.body == "":
			case strings.HasPrefix(c.body, "~"):
				if !strings.Contains(resp.body, c.body[1:]) {
					t.Errorf("body = %s, want it to contain %q", resp.body, c.body[1:])
				}
			case resp.body != c.body:
				t.Errorf("body = %s, want %s", resp.body, c.body)
			}
			if c.field != nil {
				if f, ok := m["field"]; !ok || f != *c.field {
					t.Errorf("field = %v (present %v), want %q", f, ok, *c.field)
				}
			}
			if got := resp.header.Get("Retry-After"); got != c.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, c.retryAfter)
			}
			if len(hs.queue.msgs) != c.enqueued {
				t.Errorf("%d messages enqueued, want %d", len(hs.queue.msgs), c.enqueued)
			}
			if c.secretsCalled != nil && hs.secrets.calls != *c.secretsCalled {
				t.Errorf("secrets source called %d times, want %d", hs.secrets.calls, *c.secretsCalled)
			}
			if c.status == http.StatusMethodNotAllowed && resp.header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q", resp.header.Get("Allow"))
			}
			checkLog(t, hs, req, c.status, c.outcome)
		})
	}
}

// checkLog checks the one log line of a request: status, outcome, and no
// secret, signature or internal token in it.
func checkLog(t *testing.T, hs *harness, req *spec, status int, outcome string) {
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
	for _, sig := range strings.Fields(req.header[signature.HeaderSignature]) {
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
	body := sampleBody(t, "notification-no-backup") // no state: the worker's Parse fills the default
	resp := send(t, hs.h, request(t, body, now))
	if resp.status != 202 {
		t.Fatalf("status %d: %s", resp.status, resp.body)
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
	// The body itself on one line, not re-marshalled.
	var want bytes.Buffer
	if err := json.Compact(&want, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Event, want.Bytes()) {
		t.Errorf("queued event %s, want the body compacted: %s", m.Event, want.Bytes())
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
		resp := send(t, hs.h, req)
		if resp.status != 202 || resp.body != w {
			t.Errorf("delivery %d: %d %s, want 202 %s", i+1, resp.status, resp.body, w)
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
	if resp := send(t, hs.h, req); resp.status != 503 {
		t.Fatalf("first attempt: %d", resp.status)
	}
	if got := hs.deliveries.freed; len(got) != 1 || got[0] != "demo#msg_1" {
		t.Errorf("abandoned = %v, want the claim released", got)
	}
	if len(hs.deliveries.completed) != 0 {
		t.Errorf("completed after a failed enqueue: %v", hs.deliveries.completed)
	}
	hs.queue.err = nil
	if resp := send(t, hs.h, req); resp.status != 202 || !strings.Contains(resp.body, "accepted") {
		t.Fatalf("retry: %d %s", resp.status, resp.body)
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
		resp := send(t, hs.h, request(t, sampleBody(t, name), now))
		if resp.status != 202 {
			t.Errorf("%s: %d %s", name, resp.status, resp.body)
		}
	}
}

// The removal events of contract 1.1 are accepted and enqueued as sent; the
// same body marked 1.0 is refused with 400 naming the type and the version
// it needs, and nothing is enqueued.
func TestRemovalEvents(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"account-removed", "customer-removed"} {
		body := sampleBody(t, name)
		if !strings.Contains(body, `"specVersion": "1.1"`) {
			t.Fatalf("%s is not a 1.1 sample:\n%s", name, body)
		}
		hs := newHarness(t)
		req := request(t, body, now)
		resp := send(t, hs.h, req)
		if resp.status != 202 || resp.body != `{"eventId":"msg_1","status":"accepted"}` {
			t.Fatalf("%s: %d %s, want 202 accepted", name, resp.status, resp.body)
		}
		checkLog(t, hs, req, 202, OutcomeAccepted)
		if len(hs.queue.msgs) != 1 {
			t.Fatalf("%s: %d messages enqueued, want 1", name, len(hs.queue.msgs))
		}
		e, err := contract.Parse(hs.queue.msgs[0].Event)
		if err != nil {
			t.Fatalf("%s: queued event does not parse: %v", name, err)
		}
		if e.SpecVersion != contract.SpecVersion11 || e.Removal == nil || (e.Type == contract.TypeAccountRemoved) != (e.Removal.Account != nil) {
			t.Errorf("%s: queued event = %+v, removal %+v", name, e, e.Removal)
		}

		hs = newHarness(t)
		req = request(t, strings.Replace(body, `"specVersion": "1.1"`, `"specVersion": "1.0"`, 1), now)
		resp = send(t, hs.h, req)
		if resp.status != 400 {
			t.Fatalf("%s in 1.0: %d %s, want 400", name, resp.status, resp.body)
		}
		m := decodeBody(t, resp)
		typ := strings.ReplaceAll(name, "-", ".")
		if want := "type: " + typ + ` needs specVersion "1.1" (not "1.0")`; m["error"] != want || m["field"] != "type" {
			t.Errorf("%s in 1.0: answer %s, want error %q on field type", name, resp.body, want)
		}
		checkLog(t, hs, req, 400, OutcomeInvalidEvent)
		if len(hs.queue.msgs) != 0 {
			t.Errorf("%s in 1.0: %d messages enqueued", name, len(hs.queue.msgs))
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
	routes := h.Routes()
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(req.method, req.path, strings.NewReader(req.body))
		for k, v := range req.header {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		routes.ServeHTTP(w, r)
		if w.Code != 202 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkServeEvent is BenchmarkHandle without building a request per
// event (httptest.NewRequest writes and parses one, about as long as the
// handler itself): one request, its body rewound, answered to a ResponseWriter
// that keeps nothing but the status. What the handler alone costs per event:
// signature, parse, claim and enqueue with in-memory stand-ins.
func BenchmarkServeEvent(b *testing.B) {
	h := &Handler{
		Secrets:    &fakeSecrets{secrets: map[string][]string{partner.DemoPartnerID: {partner.DemoWebhookSecret}}},
		Queue:      discardQueue{},
		Deliveries: alwaysNew{},
		Now:        func() time.Time { return now },
		Log:        slog.New(slog.DiscardHandler),
	}
	spec := request(b, sampleBody(b, "notification-backup-failure"), now)
	body := &rewindBody{}
	r := httptest.NewRequest(spec.method, spec.path, nil)
	for k, v := range spec.header {
		r.Header.Set(k, v)
	}
	r.Body, r.ContentLength = body, int64(len(spec.body))
	w := &statusWriter{header: http.Header{}}
	routes := h.Routes()
	b.ReportAllocs()
	for b.Loop() {
		body.Reset(spec.body)
		clear(w.header)
		routes.ServeHTTP(w, r)
		if w.status != 202 {
			b.Fatalf("status %d", w.status)
		}
	}
}

// rewindBody is a request body that can be read again.
type rewindBody struct{ strings.Reader }

func (*rewindBody) Close() error { return nil }

// statusWriter is a ResponseWriter that keeps the status only.
type statusWriter struct {
	header http.Header
	status int
}

func (w *statusWriter) Header() http.Header         { return w.header }
func (w *statusWriter) WriteHeader(status int)      { w.status = status }
func (w *statusWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkHandleLambda is BenchmarkHandle the way the function runs: the
// committed API Gateway event of the same sample through the Lambda adapter
// (lambdahttp), with the same in-memory stand-ins for Secrets Manager,
// DynamoDB and SQS; only the runtime's decoding of the event is left out.
func BenchmarkHandleLambda(b *testing.B) {
	raw, err := os.ReadFile("../../events/apigw/notification-backup-failure.json")
	if err != nil {
		b.Fatal(err)
	}
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		b.Fatal(err)
	}
	sec, err := strconv.ParseInt(req.Headers[signature.HeaderTimestamp], 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	h := &Handler{
		Secrets:    &fakeSecrets{secrets: map[string][]string{partner.DemoPartnerID: {partner.DemoWebhookSecret}}},
		Queue:      discardQueue{},
		Deliveries: alwaysNew{},
		Now:        func() time.Time { return time.Unix(sec, 0) },
		Log:        slog.New(slog.DiscardHandler),
	}
	handler := lambdahttp.Handler(h.Routes())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := handler(ctx, req)
		if err != nil || resp.StatusCode != 202 {
			b.Fatalf("status %d: %s (%v)", resp.StatusCode, resp.Body, err)
		}
	}
}

// TestCommittedAPIGatewayEvents replays every events/apigw/*.json (what sam
// local invoke takes) through the Lambda adapter at the time it was signed:
// each is accepted and enqueues its raw sample.
func TestCommittedAPIGatewayEvents(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir("../../events/apigw")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 15 {
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
		resp, err := lambdahttp.Handler(hs.h.Routes())(context.Background(), req)
		if err != nil || resp.StatusCode != 202 || len(hs.queue.msgs) != 1 {
			t.Errorf("%s: %d %s (%v)", e.Name(), resp.StatusCode, resp.Body, err)
		}
	}
}

// A partner whose stored secrets are all unusable answers 401 like any bad
// signature (the sender learns nothing and has nothing to retry), and the
// request's one log line is an error naming the setting the operator must fix.
func TestUnusableStoredSecretIs401AndOneOperatorError(t *testing.T) {
	for _, stored := range [][]string{{"whsec_short"}, {"not-a-secret"}, {}} {
		hs := newHarness(t)
		hs.secrets.secrets[partner.DemoPartnerID] = stored
		req := validSpec(t)
		resp := send(t, hs.h, req)
		if resp.status != http.StatusUnauthorized || resp.body != unauthorizedBody {
			t.Fatalf("stored %q: answer %d %s, want 401 %s", stored, resp.status, resp.body, unauthorizedBody)
		}
		if resp.header.Get("Retry-After") != "" {
			t.Errorf("stored %q: Retry-After %q on a 401", stored, resp.header.Get("Retry-After"))
		}
		checkLog(t, hs, req, http.StatusUnauthorized, OutcomeSecretsUnusable)
		var l map[string]any
		if err := json.Unmarshal(hs.log.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		if l["level"] != "ERROR" || !strings.Contains(fmt.Sprint(l["error"]), "secrets.webhookSecrets") {
			t.Errorf("stored %q: log line %s, want one ERROR naming secrets.webhookSecrets", stored, hs.log)
		}
		if len(hs.queue.msgs) != 0 {
			t.Errorf("stored %q: %d messages enqueued", stored, len(hs.queue.msgs))
		}
	}
}

// The clock rule: an event dated more than 5 minutes ahead of the
// receiver's clock is refused with 400 naming the field; old events stay
// accepted.
func TestFutureDatedEventsAreRefused(t *testing.T) {
	cases := []struct {
		name, body string
		status     int
		field      string
	}{
		{"occurredAt in year 9999", `"occurredAt":"9999-12-31T23:59:59Z"`, 400, "occurredAt"},
		{"occurredAt 6 minutes ahead", `"occurredAt":"` + now.Add(6*time.Minute).Format(time.RFC3339) + `"`, 400, "occurredAt"},
		{"occurredAt 5 minutes ahead", `"occurredAt":"` + now.Add(5*time.Minute).Format(time.RFC3339) + `"`, 202, ""},
		{"occurredAt a year ago", `"occurredAt":"` + now.AddDate(-1, 0, 0).Format(time.RFC3339) + `"`, 202, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			req := validSpec(t)
			req.body = regexp.MustCompile(`"occurredAt"\s*:\s*"[^"]*"`).ReplaceAllString(req.body, c.body)
			resign(t, req, now, partner.DemoWebhookSecret)
			resp := send(t, hs.h, req)
			if resp.status != c.status {
				t.Fatalf("answer %d %s, want %d", resp.status, resp.body, c.status)
			}
			if c.field != "" && !strings.Contains(resp.body, `"field":"`+c.field+`"`) {
				t.Errorf("answer %s does not name the field %s", resp.body, c.field)
			}
			if want := map[int]int{400: 0, 202: 1}[c.status]; len(hs.queue.msgs) != want {
				t.Errorf("%d messages enqueued, want %d", len(hs.queue.msgs), want)
			}
		})
	}
	// endedAt of a backup result.
	hs := newHarness(t)
	req := validSpec(t)
	if !strings.Contains(req.body, `"endedAt"`) {
		t.Fatalf("the sample has no endedAt: %s", req.body)
	}
	req.body = regexp.MustCompile(`"endedAt"\s*:\s*"[^"]*"`).ReplaceAllString(req.body, `"endedAt":"9999-12-31T23:59:59Z"`)
	resign(t, req, now, partner.DemoWebhookSecret)
	if resp := send(t, hs.h, req); resp.status != 400 || !strings.Contains(resp.body, "endedAt") {
		t.Errorf("endedAt 9999: answer %d %s, want 400 naming endedAt", resp.status, resp.body)
	}
}

// validSpec is a signed backup-result failure the handler accepts.
func validSpec(t testing.TB) *spec {
	t.Helper()
	return request(t, sampleBody(t, "backup-completed-failure"), now)
}
