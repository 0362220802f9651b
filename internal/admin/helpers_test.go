package admin

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/syncslot"
	"github.com/efs-cw/backupbridge/internal/table"
	"github.com/efs-cw/backupbridge/internal/usage"
)

// testSecrets is the local secrets file with faults: PutSecrets can fail,
// and a hook sees each write before it happens.
type testSecrets struct {
	file *partner.LocalSecretsFile

	mu      sync.Mutex
	failPut error
	onPut   func(id string, s partner.Secrets)
	puts    int
}

func (f *testSecrets) GetSecrets(ctx context.Context, id string) (partner.Secrets, error) {
	return f.file.GetSecrets(ctx, id)
}

func (f *testSecrets) PutSecrets(ctx context.Context, id string, s partner.Secrets) error {
	f.mu.Lock()
	fail, hook := f.failPut, f.onPut
	f.puts++
	f.mu.Unlock()
	if hook != nil {
		hook(id, s)
	}
	if fail != nil {
		return fail
	}
	return f.file.PutSecrets(ctx, id, s)
}

func (f *testSecrets) set(fail error, hook func(string, partner.Secrets)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failPut, f.onPut = fail, hook
}

func (f *testSecrets) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.puts
}

// stored reads the secrets as stored (not through the API).
func (f *testSecrets) stored(t *testing.T, id string) (partner.Secrets, bool) {
	t.Helper()
	s, err := f.file.GetSecrets(context.Background(), id)
	if errors.Is(err, partner.ErrNotFound) {
		return s, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return s, true
}

// noNetwork is an HTTP transport that connects nowhere and counts the
// requests it was asked to send.
type noNetwork struct{ calls atomic.Int32 }

func (n *noNetwork) RoundTrip(r *http.Request) (*http.Response, error) {
	n.calls.Add(1)
	if r.Body != nil {
		_ = r.Body.Close()
	}
	return nil, errors.New("test: no network in this test")
}

// env is the operator API over a real local DynamoDB table and a local
// secrets file; ConnectWise calls go nowhere unless the test points the API
// at a loopback server.
type env struct {
	t       *testing.T
	api     *API
	routes  http.Handler
	store   *partner.Store
	db      *dynamodb.Client
	table   string
	secrets *testSecrets
	net     *noNetwork
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, tbl := localtest.Table(t)
	e := &env{t: t, db: db, table: tbl, store: &partner.Store{DB: db, Table: tbl}, net: &noNetwork{},
		secrets: &testSecrets{file: &partner.LocalSecretsFile{Path: filepath.Join(t.TempDir(), "LOCAL-ONLY-secrets.json")}}}
	e.api = &API{Partners: e.store, Secrets: e.secrets, HTTPClient: &http.Client{Transport: e.net},
		Usage: &usage.Store{DB: db, Table: tbl}, Customers: &syncslot.Slots{DB: db, Table: tbl},
		Now: func() time.Time { return time.Date(2026, 3, 3, 2, 6, 31, 0, time.UTC) }}
	e.routes = e.api.Routes()
	return e
}

// do sends one request; body is a string (sent as is) or a value (sent as
// JSON). It returns the status, the JSON answer and its text.
func (e *env) do(method, target string, body any) (int, map[string]any, string) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, target, r)
	w := httptest.NewRecorder()
	e.routes.ServeHTTP(w, req)
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		e.t.Fatalf("%s %s: answer %q is not a JSON object", method, target, w.Body)
	}
	return w.Code, m, w.Body.String()
}

// partnerJSON is a valid partner body.
func partnerJSON(id string) map[string]any {
	return map[string]any{"id": id, "name": "Acme MSP", "siteUrl": "https://api-na.myconnectwise.net", "companyId": "acme",
		"board": "Service", "newStatus": "New"}
}

// whsec is a valid webhook signing secret (32 bytes).
func whsec(n int) string {
	return "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{byte(n)}, 32))
}

// secretsJSON is a valid secrets body; n tells one set of keys from another.
func secretsJSON(n int) map[string]any {
	return map[string]any{"publicKey": fmt.Sprintf("PUB%dKEY", n), "privateKey": fmt.Sprintf("PRIVATE-%d-KEY", n), "clientId": "client-guid", "webhookSecrets": []string{whsec(n)}}
}

// create creates partner p with the keys of n and fails the test otherwise.
func (e *env) create(p map[string]any, n int) {
	e.t.Helper()
	if code, m, _ := e.do("POST", "/v1/admin/partners", map[string]any{"partner": p, "secrets": secretsJSON(n)}); code != http.StatusCreated {
		e.t.Fatalf("create %v: %d %v", p["id"], code, m)
	}
}

// stored reads the partner from the table.
func (e *env) stored(id string) (*partner.Partner, error) {
	return e.store.Get(context.Background(), id)
}

// damage makes a stored partner unreadable: its rules become a string.
func (e *env) damage(id string) {
	e.t.Helper()
	if _, err := e.db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName:                 aws.String(e.table),
		Key:                       table.Key("PARTNERS", id),
		UpdateExpression:          aws.String("SET #r = :s"),
		ExpressionAttributeNames:  map[string]string{"#r": "rules"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": table.S("not a list")},
	}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.stored(id); !errors.Is(err, partner.ErrUnreadable) {
		e.t.Fatalf("damaged partner reads: %v", err)
	}
}

// rawRules is the stored rules attribute of a partner.
func (e *env) rawRules(id string) types.AttributeValue {
	e.t.Helper()
	out, err := e.db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(e.table), Key: table.Key("PARTNERS", id)})
	if err != nil {
		e.t.Fatal(err)
	}
	return out.Item["rules"]
}

// cwServer is a TLS server on 127.0.0.1 standing in for a ConnectWise site:
// it records the credentials it is sent and answers with answer.
type cwServer struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
}

func newCWServer(t *testing.T, answer http.HandlerFunc) *cwServer {
	t.Helper()
	s := &cwServer{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Authorization"); a != "" {
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "Basic "))
			s.mu.Lock()
			s.auths = append(s.auths, string(raw))
			s.mu.Unlock()
		}
		answer(w, r)
	}))
	if !strings.HasPrefix(s.URL, "https://127.0.0.1:") {
		t.Fatalf("test server at %s, want loopback", s.URL)
	}
	t.Cleanup(s.Close)
	return s
}

// sent is every "company+public:private" credential the server received.
func (s *cwServer) sent() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.auths, "\n")
}

// useLoopback lets the API talk to the loopback test servers (the local
// stack's development policy), trusting their certificate.
func (e *env) useLoopback(servers ...*cwServer) {
	e.t.Helper()
	pool := x509.NewCertPool()
	for _, s := range servers {
		pool.AddCert(s.Certificate())
	}
	policy := connectwise.SitePolicy{AllowLoopback: true}
	hc, err := connectwise.NewHTTPClient(connectwise.HTTPClientOptions{RootCAs: pool, Policy: policy, Timeout: 10 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	e.api.HTTPClient, e.api.SitePolicy = hc, policy
	e.routes = e.api.Routes()
}
