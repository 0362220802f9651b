package admin

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
)

// fakePartners is a Partners holding the demo partner.
type fakePartners struct{}

func (fakePartners) Get(_ context.Context, id string) (*partner.Partner, error) {
	if id != "demo" {
		return nil, partner.ErrNotFound
	}
	return &partner.Partner{ID: "demo", Name: "Demo MSP"}, nil
}
func (fakePartners) Create(context.Context, *partner.Partner) error {
	return errors.New("not in this test")
}
func (fakePartners) Replace(context.Context, *partner.Partner) (func(context.Context) error, error) {
	return nil, errors.New("not in this test")
}
func (fakePartners) Delete(context.Context, string, int) error {
	return errors.New("not in this test")
}
func (fakePartners) All(context.Context) iter.Seq2[*partner.Partner, error] {
	return func(yield func(*partner.Partner, error) bool) {
		yield(&partner.Partner{ID: "demo", Name: "Demo MSP"}, nil)
	}
}

type fakeSecrets struct{}

func (fakeSecrets) GetSecrets(_ context.Context, id string) (partner.Secrets, error) {
	if id != "demo" {
		return partner.Secrets{}, partner.ErrNotFound
	}
	return partner.Secrets{PublicKey: "pubKEY123", PrivateKey: "private-key-text", ClientID: "client", WebhookSecrets: []string{"whsec_one", "whsec_two"}}, nil
}
func (fakeSecrets) PutSecrets(context.Context, string, partner.Secrets) error {
	return errors.New("not in this test")
}

type fakeQueue struct {
	mu   sync.Mutex
	msgs []queue.Message
}

func (q *fakeQueue) Enqueue(_ context.Context, m queue.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, m)
	return nil
}

// TestRoutes checks the routing and the answers that need no DynamoDB or
// ConnectWise; the local stack's tests walk every route end to end.
func TestRoutes(t *testing.T) {
	t.Parallel()
	q := &fakeQueue{}
	a := &API{Partners: fakePartners{}, Secrets: fakeSecrets{}, Queue: q,
		Now: func() time.Time { return time.Date(2026, 3, 3, 2, 6, 31, 0, time.UTC) }}
	routes := a.Routes()
	do := func(method, target, body string, header ...string) (int, map[string]any) {
		t.Helper()
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		routes.ServeHTTP(w, r)
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", method, target, ct)
		}
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %s: answer %q is not a JSON object", method, target, w.Body)
		}
		return w.Code, m
	}

	if code, m := do("GET", "/v1/admin/partners", ""); code != 200 || len(m["partners"].([]any)) != 1 {
		t.Errorf("list: %d %v", code, m)
	}
	if code, m := do("GET", "/v1/admin/partners/", ""); code != 200 || len(m["partners"].([]any)) != 1 {
		t.Errorf("list with a trailing slash: %d %v", code, m)
	}
	code, m := do("GET", "/v1/admin/partners/demo", "")
	s, _ := m["secrets"].(map[string]any)
	if code != 200 || m["partner"].(map[string]any)["id"] != "demo" || s == nil || s["publicKey"] != "pubK*****" || s["privateKeySet"] != true || s["webhookSecrets"] != float64(2) {
		t.Errorf("get: %d %v", code, m)
	}
	if b, _ := json.Marshal(m); strings.Contains(string(b), "private-key-text") || strings.Contains(string(b), "whsec_one") {
		t.Errorf("get shows a secret: %s", b)
	}
	if code, m := do("GET", "/v1/admin/partners/nobody", ""); code != 404 || m["error"] != "no partner nobody" {
		t.Errorf("get unknown partner: %d %v", code, m)
	}
	if code, m := do("POST", "/v1/admin/partners", `{"partner":{"id":"x"}}`); code != 400 || m["field"] != "secrets" {
		t.Errorf("create without secrets: %d %v", code, m)
	}
	if code, m := do("POST", "/v1/admin/partners", `{"partner":{"id":"x"},"extra":1}`); code != 400 || m["field"] != "extra" || !strings.Contains(m["error"].(string), "unknown field") {
		t.Errorf("create with an unknown field: %d %v", code, m)
	}
	if code, m := do("PUT", "/v1/admin/partners/demo", `{"partner":{"id":"other"}}`); code != 400 || m["field"] != "partner.id" {
		t.Errorf("update of another id: %d %v", code, m)
	}
	if code, m := do("POST", "/v1/admin/partners/demo/reprocess", `{}`); code != 400 || m["field"] != "eventId" {
		t.Errorf("reprocess without eventId or since: %d %v", code, m)
	}

	// Sync now: the same idempotency key is the same request.
	c1, m1 := do("POST", "/v1/admin/partners/demo/customers/1001/sync", "", "Idempotency-Key", "k1")
	c2, m2 := do("POST", "/v1/admin/partners/demo/customers/1001/sync/", "", "Idempotency-Key", "k1")
	c3, m3 := do("POST", "/v1/admin/partners/demo/customers/1001/sync", "", "Idempotency-Key", "k2")
	if c1 != 202 || c2 != 202 || c3 != 202 || m1["requestId"] != m2["requestId"] || m1["requestId"] == m3["requestId"] || m1["customerId"] != "1001" {
		t.Errorf("sync: %d %v / %d %v / %d %v", c1, m1, c2, m2, c3, m3)
	}
	if len(q.msgs) != 3 || q.msgs[0].Job != queue.JobSync || q.msgs[0].CustomerID != "1001" || !q.msgs[0].Force {
		t.Errorf("queued %+v", q.msgs)
	}
	if code, m := do("POST", "/v1/admin/partners/nobody/customers/1001/sync", ""); code != 404 {
		t.Errorf("sync of an unknown partner: %d %v", code, m)
	}

	for _, c := range []struct{ method, target string }{
		{"DELETE", "/v1/admin/partners/demo"},
		{"GET", "/v1/admin/partners/demo/validate"},
		{"POST", "/v1/admin/partners/demo/doctor"},
		{"GET", "/v1/admin/tenants"},
		{"DELETE", "/v1/admin/partners/demo/customers/1001"},
		{"GET", "/v1/admin/nothing"},
	} {
		code, m := do(c.method, c.target, "")
		if code != 404 || m["error"] != "no such operator route: "+c.method+" "+c.target {
			t.Errorf("%s %s: %d %v, want 404 naming the route", c.method, c.target, code, m)
		}
	}
}
