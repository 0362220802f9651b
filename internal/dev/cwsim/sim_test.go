package cwsim

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testEnv is a started, demo-seeded simulator and a plain net/http client
// that trusts its CA.
type testEnv struct {
	t      *testing.T
	sim    *Sim
	demo   Demo
	client *http.Client
}

func newEnv(t *testing.T, opts Options) *testEnv {
	t.Helper()
	s := New(opts)
	d := SeedDemo(s)
	if err := s.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(s.Close)
	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool()}},
		Timeout:   10 * time.Second,
	}
	return &testEnv{t: t, sim: s, demo: d, client: client}
}

type result struct {
	proto  string
	status int
	header http.Header
	body   []byte
}

// decode decodes the body into v, which it zeroes first (JSON leaves out
// empty fields, so a reused variable would keep stale values).
func (r result) decode(t *testing.T, v any) {
	t.Helper()
	reflect.ValueOf(v).Elem().SetZero()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r result) errBody(t *testing.T) errorBody {
	t.Helper()
	var e errorBody
	r.decode(t, &e)
	return e
}

// wantStatus fails the test unless the answer has that status.
func (r result) wantStatus(t *testing.T, status int) result {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	return r
}

// wantFieldError checks a 400 InvalidObject naming field.
func (r result) wantFieldError(t *testing.T, field string) errorBody {
	t.Helper()
	r.wantStatus(t, http.StatusBadRequest)
	e := r.errBody(t)
	if e.Code != codeInvalidObject {
		t.Errorf("code %q, want InvalidObject", e.Code)
	}
	for _, fe := range e.Errors {
		if fe.Field == field {
			return e
		}
	}
	t.Fatalf("no error names field %q: %s", field, r.body)
	return e
}

type reqOpt func(*http.Request)

func withHeader(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }
func withoutHeader(k string) reqOpt { return func(r *http.Request) { r.Header.Del(k) } }

func basic(company, public, private string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(company+"+"+public+":"+private))
}

// do sends a request to path (relative to the API base, or absolute when it
// starts with "https://" or "/login/"). body is sent as is when it is a
// string, else as JSON.
func (e *testEnv) do(method, path string, body any, opts ...reqOpt) result {
	e.t.Helper()
	r, err := e.try(method, path, body, opts...)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (e *testEnv) try(method, path string, body any, opts ...reqOpt) (result, error) {
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, err := json.Marshal(body)
			if err != nil {
				return result{}, err
			}
			rd = bytes.NewReader(b)
		}
	}
	url := path
	switch {
	case strings.HasPrefix(path, "https://"):
	case strings.HasPrefix(path, "/login/"):
		url = e.sim.URL() + path
	default:
		url = e.sim.APIURL() + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return result{}, err
	}
	req.Header.Set("Authorization", basic(DemoCompanyID, DemoPublicKey, DemoPrivateKey))
	req.Header.Set("clientId", DemoClientID)
	req.Header.Set("Accept", "application/vnd.connectwise.com+json; version=2025.1")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, err
	}
	return result{proto: resp.Proto, status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func TestCompanyInfoNeedsNoAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	r := e.do("GET", "/login/companyinfo/DEMO_MSP", nil, withoutHeader("Authorization"), withoutHeader("clientId"))
	r.wantStatus(t, http.StatusOK)
	var info map[string]any
	r.decode(t, &info)
	if info["Codebase"] != "v4_6_release/" || info["CompanyID"] != DemoCompanyID || info["IsCloud"] != false || info["VersionCode"] != "v2025.1" {
		t.Errorf("company info %v", info)
	}
	if _, ok := info["CompanyName"]; !ok {
		t.Error("no CompanyName")
	}
	r = e.do("GET", "/login/companyinfo/nobody", nil)
	r.wantStatus(t, http.StatusNotFound)
	if c := r.errBody(t).Code; c != codeNotFound {
		t.Errorf("code %q", c)
	}
}

func TestCodebase(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Codebase: "v2025_1/"})
	e.do("GET", "/service/boards", nil).wantStatus(t, http.StatusOK)
	if got := e.sim.APIURL(); !strings.HasSuffix(got, "/v2025_1/apis/3.0") {
		t.Errorf("APIURL %s", got)
	}
	for _, p := range []string{"/v4_6_release/apis/3.0/service/boards", "/v2025_1/apis/3.1/service/boards", "/apis/3.0/service/boards"} {
		r := e.do("GET", e.sim.URL()+p, nil)
		r.wantStatus(t, http.StatusNotFound)
		if c := r.errBody(t).Code; c != codeNotFound {
			t.Errorf("%s: code %q", p, c)
		}
	}
	var info map[string]any
	e.do("GET", "/login/companyinfo/demo_msp", nil).wantStatus(t, http.StatusOK).decode(t, &info)
	if info["Codebase"] != "v2025_1/" {
		t.Errorf("Codebase %v", info["Codebase"])
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tests := []struct {
		name string
		opts []reqOpt
		want int
	}{
		{"valid", nil, http.StatusOK},
		{"company id ignores case", []reqOpt{withHeader("Authorization", basic("DEMO_MSP", DemoPublicKey, DemoPrivateKey))}, http.StatusOK},
		{"no authorization", []reqOpt{withoutHeader("Authorization")}, http.StatusUnauthorized},
		{"bad private key", []reqOpt{withHeader("Authorization", basic(DemoCompanyID, DemoPublicKey, "wrong-private"))}, http.StatusUnauthorized},
		{"bad public key", []reqOpt{withHeader("Authorization", basic(DemoCompanyID, "wrong-public", DemoPrivateKey))}, http.StatusUnauthorized},
		{"other company", []reqOpt{withHeader("Authorization", basic("acme", DemoPublicKey, DemoPrivateKey))}, http.StatusUnauthorized},
		{"key case matters", []reqOpt{withHeader("Authorization", basic(DemoCompanyID, DemoPublicKey, strings.ToUpper(DemoPrivateKey)))}, http.StatusUnauthorized},
		{"no plus", []reqOpt{withHeader("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(DemoPublicKey+":"+DemoPrivateKey)))}, http.StatusUnauthorized},
		{"bearer", []reqOpt{withHeader("Authorization", "Bearer abc")}, http.StatusUnauthorized},
		{"missing clientId", []reqOpt{withoutHeader("clientId")}, http.StatusUnauthorized},
		{"clientId not a GUID", []reqOpt{withHeader("clientId", "my-client")}, http.StatusUnauthorized},
		{"clientId header name ignores case", []reqOpt{withoutHeader("clientId"), withHeader("ClientID", DemoClientID)}, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", "/company/companies", nil, tc.opts...)
			r.wantStatus(t, tc.want)
			if tc.want != http.StatusUnauthorized {
				return
			}
			eb := r.errBody(t)
			if eb.Code != codeUnauthorized || eb.Message == "" {
				t.Errorf("body %s", r.body)
			}
			for _, secret := range []string{DemoPrivateKey, DemoPublicKey, "wrong-private", "wrong-public", "my-client"} {
				if bytes.Contains(r.body, []byte(secret)) {
					t.Errorf("body echoes %q: %s", secret, r.body)
				}
			}
		})
	}
	if n := e.sim.CallCount("GET", "/company/companies"); n != len(tests) {
		t.Errorf("CallCount = %d, want %d", n, len(tests))
	}
	for _, c := range e.sim.Calls() {
		if c.Header.Get("Authorization") != "" {
			t.Fatal("call log keeps the Authorization header")
		}
	}
}

func TestTLSIsVerified(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	plain := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	_, err := plain.Get(e.sim.APIURL() + "/service/boards")
	if err == nil {
		t.Fatal("a client without the simulator CA connected")
	}
	// The explicit pool and the PEM of the process-wide CA both work.
	pool := e.sim.CertPool()
	if !pool.Equal(New(Options{}).CertPool()) {
		t.Error("two default sims do not share the process-wide CA")
	}
	if !bytes.Equal(e.sim.CACertPEM(), CACertPEM()) {
		t.Error("Sim.CACertPEM differs from CACertPEM")
	}
	resp, err := e.sim.Client().Get(e.sim.URL() + "/login/companyinfo/demo_msp")
	if err != nil {
		t.Fatalf("Sim.Client: %v", err)
	}
	resp.Body.Close()
}

func TestCADirPersistsTheCA(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "ca")
	s1 := New(Options{CADir: dir})
	if err := s1.Start(); err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	certPEM, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, CAKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if !bytes.Equal(certPEM, s1.CACertPEM()) || bytes.Equal(certPEM, CACertPEM()) {
		t.Fatal("the sim does not use the CA of its directory")
	}
	s2 := New(Options{CADir: dir})
	if !bytes.Equal(s2.CACertPEM(), certPEM) {
		t.Fatal("a second sim made a new CA instead of loading it")
	}
	s1.AddMember("x", "p", "k")
	// A client trusting ca.pem through a pool reaches the server.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s2.CertPool()}}
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(s1.URL() + "/login/companyinfo/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}

	out := filepath.Join(t.TempDir(), "sub", "ca.pem")
	if err := WriteCAFile(out); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); !bytes.Equal(b, CACertPEM()) {
		t.Fatal("WriteCAFile wrote something else")
	}

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, CACertFile), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := New(Options{CADir: bad}).Start(); err == nil {
		t.Fatal("a CA directory with a certificate and no key was accepted")
	}
}

func TestRoutingErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	r := e.do("PUT", "/service/tickets/1", map[string]any{"summary": "x"})
	r.wantStatus(t, http.StatusMethodNotAllowed)
	if r.header.Get("Allow") == "" || r.errBody(t).Code != codeMethodNotAllowed {
		t.Errorf("405 answer %v %s", r.header, r.body)
	}
	e.do("GET", "/service/nothing", nil).wantStatus(t, http.StatusNotFound)
	e.do("GET", "/service/tickets/abc", nil).wantStatus(t, http.StatusNotFound)
	e.do("GET", "/service/tickets/0", nil).wantStatus(t, http.StatusNotFound)

	r = e.do("POST", "/service/tickets", `{"summary":"x"}`, withoutHeader("Content-Type"))
	r.wantStatus(t, http.StatusUnsupportedMediaType)
	r = e.do("POST", "/service/tickets", `{"summary":`)
	r.wantStatus(t, http.StatusBadRequest)
	r = e.do("POST", "/service/tickets", `[{"summary":"x"}]`)
	r.wantStatus(t, http.StatusBadRequest)
	r = e.do("GET", "/system/info", nil).wantStatus(t, http.StatusOK)
	if !bytes.Contains(r.body, []byte(`"version"`)) {
		t.Errorf("system info %s", r.body)
	}
}

func TestSimAsHandler(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	SeedDemo(s)
	req, _ := http.NewRequest("GET", s.BasePath()+"/service/boards", nil)
	req.Header.Set("Authorization", basic(DemoCompanyID, DemoPublicKey, DemoPrivateKey))
	req.Header.Set("clientId", DemoClientID)
	rec := &recorder{header: http.Header{}}
	s.ServeHTTP(rec, req)
	if rec.status != http.StatusOK || !bytes.Contains(rec.body.Bytes(), []byte(DemoBackupBoard)) {
		t.Fatalf("status %d body %s", rec.status, rec.body.String())
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(); err == nil {
		t.Fatal("a second Start succeeded")
	}
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(s int)           { r.status = s }

func TestHelpersReportErrors(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	d := SeedDemo(s)
	if err := s.MoveTicket(1, d.BackupBoard.ID, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("MoveTicket on a missing ticket: %v", err)
	}
	if _, err := s.AddAddition(d.Acme.AgreementID, Addition{Product: Ref{Identifier: "NOPE"}, BillCustomer: BillBillable}); !errors.Is(err, ErrInvalid) {
		t.Errorf("AddAddition with an unknown product: %v", err)
	}
	if _, err := s.AddProduct(Product{Identifier: ProductSelectGB}); !errors.Is(err, ErrInvalid) {
		t.Errorf("AddProduct duplicate: %v", err)
	}
}
