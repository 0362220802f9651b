package localstack_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/dev/localaws"
	"github.com/efs-cw/backupbridge/internal/dev/localstack"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/signature"
)

// TestMain trusts the simulator's CA before any TLS handshake of the process
// (Go reads SSL_CERT_FILE and SSL_CERT_DIR once).
func TestMain(m *testing.M) { os.Exit(localstack.RunTrustingSimulator(m.Run)) }

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// noSleep is a retry policy whose waits do not wait (they are recorded).
type noSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (n *noSleep) policy() connectwise.RetryPolicy {
	return connectwise.RetryPolicy{MaxAttempts: 4, Sleep: func(ctx context.Context, d time.Duration) error {
		n.mu.Lock()
		n.waits = append(n.waits, d)
		n.mu.Unlock()
		return ctx.Err()
	}}
}

type harness struct {
	t     *testing.T
	st    *localstack.Stack
	sim   *cwsim.Sim
	clock *clock
	sleep *noSleep
}

// start brings up the whole local stack for one test.
func start(t *testing.T) *harness {
	t.Helper()
	ck := &clock{t: time.Now().UTC().Truncate(time.Second)}
	ns := &noSleep{}
	var logBuf bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&logMu, &logBuf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := localstack.Start(ctx, localstack.Options{
		Dir:               t.TempDir(),
		Addr:              "127.0.0.1:0",
		VisibilityTimeout: 1,
		WorkerConcurrency: 1,
		InvokeTimeout:     20 * time.Second,
		Retry:             ns.policy(),
		Now:               ck.Now,
		Logger:            logger,
		OperatorToken:     "test-operator",
	})
	if err != nil {
		t.Fatalf("start local stack: %v", err)
	}
	t.Cleanup(func() {
		st.Close()
		if t.Failed() {
			logMu.Lock()
			t.Logf("service log:\n%s", tail(logBuf.String(), 6000))
			logMu.Unlock()
		}
	})
	return &harness{t: t, st: st, sim: st.Sim, clock: ck, sleep: ns}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "msg_" + hex.EncodeToString(b[:])
}

// post signs body with the demo secret at the stack clock's time and posts it.
func (h *harness) post(id string, body []byte) (int, map[string]any) {
	h.t.Helper()
	return h.postSigned(partner.DemoPartnerID, id, h.clock.Now(), partner.DemoWebhookSecret, body)
}

func (h *harness) postSigned(partnerID, id string, ts time.Time, secret string, body []byte) (int, map[string]any) {
	h.t.Helper()
	key, err := signature.ParseSecret(secret)
	if err != nil {
		h.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, h.st.WebhookURL(partnerID), bytes.NewReader(body))
	req.Header.Set("content-type", "application/json")
	req.Header.Set(signature.HeaderID, id)
	req.Header.Set(signature.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(signature.HeaderSignature, signature.Sign(key, id, ts, body))
	return h.do(req)
}

func (h *harness) do(req *http.Request) (int, map[string]any) {
	h.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if m == nil {
		m = map[string]any{"_raw": string(b)}
	}
	return resp.StatusCode, m
}

// operator calls the operator API.
func (h *harness) operator(method, path string, body any) (int, map[string]any) {
	h.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.st.URL+path, r)
	req.Header.Set("authorization", "Bearer "+h.st.OperatorToken)
	req.Header.Set("content-type", "application/json")
	return h.do(req)
}

// drain runs the event source until the queue has nothing visible or in
// flight, or fails the test after a deadline.
func (h *harness) drain() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	idle := 0
	for idle < 2 {
		if ctx.Err() != nil {
			h.t.Fatalf("queues did not drain: %d messages left", h.depth())
		}
		received := 0
		for _, es := range []*localaws.EventSource{h.st.EventSource, h.st.SyncSource} {
			res, err := es.PollOnce(ctx)
			if err != nil {
				h.t.Fatalf("poll: %v", err)
			}
			received += res.Received
		}
		if received == 0 && h.depth() == 0 {
			idle++
		} else {
			idle = 0
		}
	}
}

// depth is what the events and sync queues hold, visible or in flight.
func (h *harness) depth() int {
	h.t.Helper()
	return h.queueDepth(h.st.QueueURL) + h.queueDepth(h.st.SyncURL)
}

// queueDepth is the number of visible plus in-flight messages.
func (h *harness) queueDepth(url string) int {
	h.t.Helper()
	out, err := h.st.AWS.SQS.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	if err != nil {
		h.t.Fatalf("queue attributes: %v", err)
	}
	n := 0
	for _, k := range []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible} {
		v, _ := strconv.Atoi(out.Attributes[string(k)])
		n += v
	}
	return n
}

// events reads the demo partner's event log.
func (h *harness) events(q eventlog.Query) []eventlog.Entry {
	h.t.Helper()
	q.PartnerID = partner.DemoPartnerID
	p, err := h.st.Service.Log.List(context.Background(), q)
	if err != nil {
		h.t.Fatalf("event log: %v", err)
	}
	return p.Entries
}

// event builds an event body.
func event(typ string, customerID string, at time.Time, data string) []byte {
	name := map[string]string{"1001": "Acme Dental", "1002": "Birch Legal", "1003": "Cedar Clinic"}[customerID]
	key := map[string]string{"backup.completed": "backup", "notification": "notification", "service.status": "status", "usage.snapshot": "usage",
		"account.removed": "removal", "customer.removed": "removal"}[typ]
	version := "1.0"
	if key == "removal" {
		version = "1.1"
	}
	return fmt.Appendf(nil, `{"specVersion":%q,"type":%q,"occurredAt":%q,"customer":{"id":%q,"name":%q},%q:%s}`,
		version, typ, at.UTC().Format(time.RFC3339), customerID, name, key, data)
}

func backup(result string, account string, at time.Time) string {
	return fmt.Sprintf(`{"account":{"id":%q,"name":%q,"kind":"server","plan":"select"},"result":%q,"endedAt":%q,"onlineGB":120.5,"localGB":300,"message":"engine says %s"}`,
		account, account+" file server", result, at.UTC().Format(time.RFC3339), result)
}
