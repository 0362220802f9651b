package connectwise

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testCodebase   = "v4_6_release/"
	testBasePath   = "/v4_6_release/apis/3.0" // the real base path; routes below it
	testCompanyID  = "acme"
	testPublicKey  = "PubKeyAbc123"
	testPrivateKey = "PrivKeySecret987"
	testClientID   = "7c1f3f7e-2b0a-4d1e-9a55-0c5d2e8f1a11"
	testAccept     = "application/vnd.connectwise.com+json; version=2025.1"
)

var testCreds = Credentials{CompanyID: testCompanyID, PublicKey: testPublicKey, PrivateKey: testPrivateKey, ClientID: testClientID}

func wantAuthorization() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(testCompanyID+"+"+testPublicKey+":"+testPrivateKey))
}

// fakeCW is an https ConnectWise stand-in: API routes are registered on
// api, which is mounted under the real base path /v4_6_release/apis/3.0/,
// so a request to any other path answers 404. Every API request is checked
// for the Authorization, clientId and Accept headers.
type fakeCW struct {
	t    *testing.T
	srv  *httptest.Server
	api  *http.ServeMux
	root *http.ServeMux

	mu      sync.Mutex
	calls   []string // "METHOD /path" of every request, the base path included
	queries []string // the raw query of every request
	bodies  []string
	sleeps  []time.Duration
}

func newFakeCW(t *testing.T) *fakeCW {
	t.Helper()
	f := &fakeCW{t: t, api: http.NewServeMux(), root: http.NewServeMux()}
	f.root.Handle(testBasePath+"/", f.checkHeaders(http.StripPrefix(testBasePath, f.api)))
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		f.queries = append(f.queries, r.URL.RawQuery)
		f.mu.Unlock()
		f.root.ServeHTTP(w, r)
	}))
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake noise from the untrusted-client test
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCW) checkHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != wantAuthorization() {
			f.t.Errorf("%s %s: Authorization = %q, want Basic base64(companyId+publicKey:privateKey)", r.Method, r.URL.Path, got)
		}
		if got := r.Header.Get("clientId"); got != testClientID {
			f.t.Errorf("%s %s: clientId = %q, want %q", r.Method, r.URL.Path, got, testClientID)
		}
		if got := r.Header.Get("Accept"); got != testAccept {
			f.t.Errorf("%s %s: Accept = %q, want %q", r.Method, r.URL.Path, got, testAccept)
		}
		if r.ContentLength > 0 || r.Method == http.MethodPost || r.Method == http.MethodPatch {
			if got := r.Header.Get("Content-Type"); got != "application/json" {
				f.t.Errorf("%s %s: Content-Type = %q, want application/json", r.Method, r.URL.Path, got)
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (f *fakeCW) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.sleeps = append(f.sleeps, d)
	f.mu.Unlock()
	return ctx.Err()
}

func (f *fakeCW) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeCW) sleepList() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// options are client options for f: codebase given, waits recorded
// instead of slept, jitter fixed at 0.5.
func (f *fakeCW) options() Options {
	return Options{
		SiteURL:     f.srv.URL,
		Codebase:    testCodebase,
		Credentials: testCreds,
		HTTPClient:  f.httpClient(),
		Retry:       RetryPolicy{Sleep: f.sleep, Rand: func() float64 { return 0.5 }},
	}
}

// httpClient is the client a deployment builds, trusting the fake's
// certificate and, as only local development does, allowing loopback.
func (f *fakeCW) httpClient() *http.Client {
	f.t.Helper()
	return testHTTPClient(f.t, f.srv, SitePolicy{AllowLoopback: true})
}

// testHTTPClient is NewHTTPClient trusting the certificate of srv (every
// httptest TLS server has the same one).
func testHTTPClient(t *testing.T, srv *httptest.Server, policy SitePolicy) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	hc, err := NewHTTPClient(HTTPClientOptions{RootCAs: pool, Policy: policy})
	if err != nil {
		t.Fatalf("NewHTTPClient: %v", err)
	}
	return hc
}

func (f *fakeCW) client(mods ...func(*Options)) *Client {
	f.t.Helper()
	opts := f.options()
	for _, m := range mods {
		m(&opts)
	}
	c, err := NewClient(context.Background(), opts)
	if err != nil {
		f.t.Fatalf("NewClient: %v", err)
	}
	return c
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// reply writes a status and body with a content type guessed from the body.
func reply(w http.ResponseWriter, status int, body []byte) {
	ct := "application/json; charset=utf-8"
	if s := strings.TrimSpace(string(body)); strings.HasPrefix(s, "<") {
		ct = "text/html"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
