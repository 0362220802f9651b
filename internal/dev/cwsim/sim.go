// Package cwsim is a strict simulator of the ConnectWise PSA (Manage) REST
// API 3.0, for integration tests (in process) and for running the service
// locally (infra/cwsim). It serves HTTPS with a certificate from a private
// CA, checks credentials and the clientId header, validates bodies as the
// real API does (and a little more), implements conditions, paging and JSON
// Patch the way ConnectWise does, and lets a test inject faults (429, 5xx,
// HTML bodies, delays, lost responses) and inspect the calls and the state.
//
// Paths are those of ConnectWise under the base /{codebase}apis/3.0 (see
// Options.Codebase); GET /login/companyinfo/{companyId} answers without
// auth. Every other call needs Basic companyId+publicKey:privateKey of a
// member (AddMember) and a clientId header shaped like a GUID; a missing or
// malformed clientId answers 401 code Unauthorized, like bad credentials.
//
// The simulator is deliberately stricter than ConnectWise where leniency
// would hide a client bug:
//
//   - unknown query parameters (a misspelt `condition=`) answer 400;
//   - unknown fields in a POST/PUT body answer 400 (ConnectWise ignores
//     them), except the ConnectWise fields it accepts and ignores;
//   - a conditions value must have the field's type (`closedFlag="false"`
//     and `company/id="42"` answer 400), and field names are case sensitive;
//   - a request with a body must say Content-Type: application/json (415);
//   - POST /service/tickets requires a board (ConnectWise would default one);
//   - each kind of record numbers its ids from its own base (companies from
//     250, boards from 10, statuses from 100, tickets from 10001, ...), so a
//     company id sent as a board id is refused rather than matched by luck.
//
// Like ConnectWise it compares strings in conditions ignoring case, treats a
// null field as matching nothing but `= null` (SQL), turns a ticket's
// initialDescription into its first note (detailDescriptionFlag) without ever
// returning the field, answers 200 and changes nothing for a PATCH of a
// reference sub-path such as status/id, and 404 for a deleted ticket.
//
// Callbacks registered at /system/callbacks are delivered, signed and
// asynchronously, when tickets change (see callbacks.go, CallbackDeliveries
// and WaitCallbacks).
package cwsim

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCodebase is the codebase of an on-premise ConnectWise.
const DefaultCodebase = "v4_6_release/"

// DefaultVersionCode is the version the simulator reports.
const DefaultVersionCode = "v2025.1"

// maxBody is the largest request body the simulator reads.
const maxBody = 2 << 20

// Options configures a Sim. The zero value is usable.
type Options struct {
	// Addr is the listen address of Start; default "127.0.0.1:0".
	Addr string
	// Codebase is the release folder of the API base path, such as
	// "v2025_1/"; default DefaultCodebase. Any other codebase answers 404.
	Codebase string
	// CADir, when set, holds the CA (ca.pem, ca-key.pem) the server
	// certificate is issued by; they are created there when missing. When
	// empty the process-wide CA of CACertPEM is used.
	CADir string
	// CompanyName, VersionCode and IsCloud are what /login/companyinfo
	// reports; defaults "ConnectWise Simulator", DefaultVersionCode, false.
	CompanyName string
	VersionCode string
	IsCloud     bool
	// XRefFilterable tells whether conditions may use externalXRef on
	// tickets (nil means true). When false such a condition answers 400, as
	// some ConnectWise versions might. Example: XRefFilterable: new(false).
	XRefFilterable *bool
	// Now is the clock for dates written into records; default time.Now.
	Now func() time.Time
	// Logger, when set, receives one line per request and server errors.
	Logger *slog.Logger
	// UnsignedCallbacks sends callback deliveries without the
	// x-content-signature header.
	UnsignedCallbacks bool
	// CallbackRetryDelay is the wait between two attempts of a callback
	// delivery; default 1 s.
	CallbackRetryDelay time.Duration
}

// Sim is a ConnectWise simulator. Create it with New, seed it (AddMember,
// AddCompany, SeedDemo, ...), then Start it or mount it as an http.Handler.
// All methods are safe for concurrent use.
type Sim struct {
	opts     Options
	codebase string
	base     string // "/v4_6_release/apis/3.0"
	ca       *authority
	caErr    error
	xref     atomic.Bool

	mu sync.Mutex // guards the records below
	st state

	faultMu sync.Mutex
	faults  []*pendingFault
	chaos   atomic.Pointer[chaosMode] // SetChaos (chaos.go); nil: off

	callMu sync.Mutex
	calls  []Call

	hooks callbackHub // callback deliveries (callbacks.go)

	srvMu   sync.Mutex
	srv     *http.Server
	url     string
	done    chan struct{}
	closeMu sync.Once
}

// New returns a simulator with no records and no members.
func New(opts Options) *Sim {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	cb := strings.Trim(opts.Codebase, "/")
	if cb == "" {
		cb = strings.TrimSuffix(DefaultCodebase, "/")
	}
	if opts.CompanyName == "" {
		opts.CompanyName = "ConnectWise Simulator"
	}
	if opts.VersionCode == "" {
		opts.VersionCode = DefaultVersionCode
	}
	s := &Sim{
		opts:     opts,
		codebase: cb + "/",
		base:     "/" + cb + "/apis/3.0",
		done:     make(chan struct{}),
	}
	s.xref.Store(opts.XRefFilterable == nil || *opts.XRefFilterable)
	if opts.CADir != "" {
		s.ca, s.caErr = loadOrCreateAuthority(opts.CADir)
	} else {
		s.ca, s.caErr = sharedCA()
	}
	s.st.init()
	s.hooks.init()
	return s
}

// Codebase returns the codebase with its trailing slash, e.g. "v4_6_release/".
func (s *Sim) Codebase() string { return s.codebase }

// BasePath returns the API base path, e.g. "/v4_6_release/apis/3.0".
func (s *Sim) BasePath() string { return s.base }

// SetXRefFilterable changes Options.XRefFilterable on a running simulator.
func (s *Sim) SetXRefFilterable(ok bool) { s.xref.Store(ok) }

// CACertPEM returns the PEM certificate of the CA this simulator's server
// certificate is issued by (nil if it could not be loaded).
func (s *Sim) CACertPEM() []byte {
	if s.ca == nil {
		return nil
	}
	return append([]byte(nil), s.ca.certPEM...)
}

// CertPool returns a pool holding only this simulator's CA, for a test
// client's tls.Config.RootCAs.
func (s *Sim) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	if s.ca != nil {
		pool.AddCert(s.ca.cert)
	}
	return pool
}

// Client returns an HTTP client that trusts this simulator's CA (and only
// it), with a 30-second timeout.
func (s *Sim) Client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: s.CertPool(), MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// Start listens on Options.Addr and serves HTTPS in the background.
func (s *Sim) Start() error {
	if s.caErr != nil {
		return fmt.Errorf("cwsim: certificate authority: %w", s.caErr)
	}
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv != nil {
		return errors.New("cwsim: already started")
	}
	select {
	case <-s.done:
		return errors.New("cwsim: closed")
	default:
	}
	cert, err := s.ca.issueServer()
	if err != nil {
		return fmt.Errorf("cwsim: %w", err)
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("cwsim: listen on %s: %w", s.opts.Addr, err)
	}
	errLog := log.New(io.Discard, "", 0)
	if s.opts.Logger != nil {
		errLog = slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelWarn)
	}
	srv := &http.Server{
		Handler:           s,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          errLog,
	}
	s.srv = srv
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	s.url = "https://" + net.JoinHostPort(host, strconv.Itoa(addr.Port))
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) && s.opts.Logger != nil {
			s.opts.Logger.Error("cwsim server stopped", "err", err)
		}
	}()
	return nil
}

// URL returns the server's root URL, such as https://127.0.0.1:43121 (empty
// before Start). The API lives under URL()+BasePath().
func (s *Sim) URL() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	return s.url
}

// APIURL returns URL()+BasePath(), e.g. https://127.0.0.1:43121/v4_6_release/apis/3.0.
func (s *Sim) APIURL() string { return s.URL() + s.base }

// Close stops the server, drops open connections and ends pending delays.
// It drops the queued callback deliveries, stops those in flight and
// returns once their goroutines have ended.
func (s *Sim) Close() {
	s.closeMu.Do(func() { close(s.done) })
	s.srvMu.Lock()
	srv := s.srv
	s.srvMu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
	s.hooks.close()
}

// member is an API member (or integrator login) allowed to call the API.
type member struct {
	companyID, publicKey, privateKey string
}

// AddMember allows calls authenticated as companyID+publicKey:privateKey and
// makes companyID known to /login/companyinfo. The company id is compared
// ignoring case; the keys exactly.
func (s *Sim) AddMember(companyID, publicKey, privateKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.members = append(s.st.members, member{companyID, publicKey, privateKey})
}

// RemoveMember revokes an API member's keys, as a ConnectWise
// administrator deleting the member or regenerating its keys would: calls
// with them are answered 401 from now on. It reports whether the member
// existed.
func (s *Sim) RemoveMember(companyID, publicKey string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.st.members)
	s.st.members = slices.DeleteFunc(s.st.members, func(m member) bool {
		return strings.EqualFold(m.companyID, companyID) && m.publicKey == publicKey
	})
	return len(s.st.members) < n
}

// ServeHTTP serves one request: fault injection first, then
// /login/companyinfo, then the authenticated API.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var body []byte
	var readErr error
	if r.Body != nil {
		body, readErr = io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	}
	rel := s.relPath(r.URL.Path)
	call := Call{
		Time:   start,
		Method: r.Method,
		Path:   rel,
		Query:  r.URL.RawQuery,
		Header: r.Header.Clone(),
		Body:   body,
	}
	call.Header.Del("Authorization")

	var resp response
	f := s.takeFault(r.Method, rel)
	if f == nil {
		f = s.chaosFault(r.Method, rel) // the random fault mode, when on
	}
	if f != nil {
		call.Fault = true
		if f.Delay > 0 {
			s.wait(r.Context(), f.Delay)
		}
	}
	switch {
	case f != nil && f.Status != 0:
		resp = faultResponse(f)
	case readErr != nil:
		resp = errorResp(http.StatusBadRequest, codeInvalidObject, "The request body could not be read.")
	case len(body) > maxBody:
		resp = errorResp(http.StatusRequestEntityTooLarge, codeInvalidObject, "The request body is too large.")
	default:
		resp = s.serve(r, rel, body)
	}
	call.Status = resp.status

	if f != nil && f.LoseResponse {
		call.Lost = true
		s.record(call)
		s.logCall(call, time.Since(start))
		loseResponse(w, r)
		return
	}
	s.record(call)
	s.logCall(call, time.Since(start))
	resp.write(w)
}

// loseResponse drops the connection (HTTP/1) or resets the stream (HTTP/2)
// without an answer. A writer that can do neither (a ResponseRecorder) gets
// nothing written.
func loseResponse(w http.ResponseWriter, r *http.Request) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	if r.ProtoMajor == 2 {
		// The documented way to abort an HTTP/2 response: the server
		// recovers it and resets the stream.
		panic(http.ErrAbortHandler)
	}
}

// wait sleeps for d, or less if the client goes away or the Sim closes.
func (s *Sim) wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.done:
	}
}

func (s *Sim) logCall(c Call, d time.Duration) {
	if s.opts.Logger == nil {
		return
	}
	s.opts.Logger.Info("cwsim request", "method", c.Method, "path", c.Path, "query", c.Query,
		"status", c.Status, "fault", c.Fault, "lost", c.Lost, "duration", d)
}

// relPath is the path relative to the API base when it is under it (always
// starting with "/"), else the path itself.
func (s *Sim) relPath(p string) string {
	if rest, ok := strings.CutPrefix(p, s.base); ok && (rest == "" || rest[0] == '/') {
		if rest == "" {
			return "/"
		}
		return rest
	}
	return p
}

// serve answers a request that no fault answered.
func (s *Sim) serve(r *http.Request, rel string, body []byte) response {
	p := r.URL.Path
	if id, ok := strings.CutPrefix(p, "/login/companyinfo/"); ok && id != "" && !strings.Contains(id, "/") {
		if r.Method != http.MethodGet {
			return methodNotAllowed(r.Method)
		}
		return s.companyInfo(id)
	}
	if rest, ok := strings.CutPrefix(p, s.base); !ok || (rest != "" && rest[0] != '/') {
		return notFound("The requested resource " + p + " was not found.")
	}
	if resp, ok := s.serveCallbackKey(r, rel); ok { // the callbacks' key_url: no auth
		return resp
	}
	if resp, ok := s.authenticate(r); !ok {
		return resp
	}
	if len(body) > 0 && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch) {
		if ct := r.Header.Get("Content-Type"); !strings.Contains(strings.ToLower(ct), "json") {
			return errorResp(http.StatusUnsupportedMediaType, codeUnsupportedMediaType,
				"The request body must be sent with Content-Type: application/json.")
		}
	}
	return s.route(&request{r: r, rel: rel, body: body})
}

// companyInfo answers GET /login/companyinfo/{companyId} for a company id
// registered with AddMember.
func (s *Sim) companyInfo(id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.st.members {
		if strings.EqualFold(m.companyID, id) {
			return jsonResp(http.StatusOK, map[string]any{
				"CompanyName": s.opts.CompanyName,
				"Codebase":    s.codebase,
				"VersionCode": s.opts.VersionCode,
				"CompanyID":   m.companyID,
				"IsCloud":     s.opts.IsCloud,
			})
		}
	}
	return notFound("Company " + id + " was not found.")
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// authenticate checks the Basic credentials, then the clientId header. Both
// failures answer 401 code Unauthorized: a missing or malformed clientId is
// reported as 401 (the choice of this simulator; ConnectWise has answered
// 401 to calls without one). Messages never repeat what was sent.
func (s *Sim) authenticate(r *http.Request) (response, bool) {
	deny := func(msg string) (response, bool) {
		resp := errorResp(http.StatusUnauthorized, codeUnauthorized, msg)
		return resp, false
	}
	auth := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return deny("Authentication failed: send Basic credentials companyId+publicKey:privateKey.")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return deny("Authentication failed: the Basic credentials are not valid base64.")
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	company, public, ok2 := strings.Cut(user, "+")
	if !ok || !ok2 {
		return deny("Authentication failed: the user name must be companyId+publicKey.")
	}
	s.mu.Lock()
	found := false
	for _, m := range s.st.members {
		cOK := strings.EqualFold(m.companyID, company)
		pubOK := subtle.ConstantTimeCompare([]byte(m.publicKey), []byte(public)) == 1
		privOK := subtle.ConstantTimeCompare([]byte(m.privateKey), []byte(pass)) == 1
		if cOK && pubOK && privOK {
			found = true
		}
	}
	s.mu.Unlock()
	if !found {
		return deny("Username or password is incorrect.")
	}
	clientID := r.Header.Get("clientId")
	if clientID == "" {
		return deny("A clientId header is required on every call (see developer.connectwise.com/ClientID).")
	}
	if !guidRE.MatchString(clientID) {
		return deny("The clientId header must be a GUID such as 0b2e6c1a-4f3d-4c8e-9a57-3d1f2e7b9c40.")
	}
	return response{}, true
}
