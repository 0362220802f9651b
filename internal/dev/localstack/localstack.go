// Package localstack runs the whole service on one machine, the embedded
// default of `make run` and the base of the integration tests:
//
//   - minidyn (DynamoDB, in process) and goaws (SQS, a child process) with the
//     table and queues created from template.yaml (package localaws);
//   - the webhook and admin http.Handlers (the very ones lambdahttp serves
//     in Lambda) on a plain http.Server on loopback, with API Gateway's body
//     limit and integration timeout, and server timeouts (localaws.Gateway);
//     the operator routes behind a bearer-token stand-in for IAM;
//   - the operator console under /console/ (package console, as the admin
//     function serves it), with the token sign-in: the operator token or a
//     viewer token;
//   - the SQS event-source loop invoking the worker handler with SQS batches
//     (ReportBatchItemFailures honoured, failures redelivered, then the DLQ),
//     and a second one on the DLQ, whose records the worker records in the
//     event log as dead letters;
//   - the resync schedule and the one-minute health tick as tickers;
//   - the built-in ConnectWise simulator (HTTPS, its private CA trusted via
//     SSL_CERT_FILE), unless a real ConnectWise site is configured;
//   - a seeded demo partner.
//
// Every handler is the one the function's package under internal/service
// assembles for Lambda, with the real AWS SDK clients pointed at the local
// endpoints.
package localstack

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/efs-cw/backupbridge/internal/callback"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/aws/smithy-go/middleware"

	"github.com/efs-cw/backupbridge/internal/admin"
	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/console"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/dev/localaws"
	"github.com/efs-cw/backupbridge/internal/dev/stackdef"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/health"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/resync"
	"github.com/efs-cw/backupbridge/internal/service"
	"github.com/efs-cw/backupbridge/internal/service/adminfn"
	"github.com/efs-cw/backupbridge/internal/service/resyncfn"
	"github.com/efs-cw/backupbridge/internal/service/webhookfn"
	"github.com/efs-cw/backupbridge/internal/service/workerfn"
	"github.com/efs-cw/backupbridge/internal/tickets"
	"github.com/efs-cw/backupbridge/internal/usage"
	"github.com/efs-cw/backupbridge/internal/webhook"
	"github.com/efs-cw/backupbridge/internal/worker"
)

// Options configure Start. The zero value runs the demo on the simulator.
type Options struct {
	// Dir holds local state: the simulator's CA, the local secrets file,
	// goaws's log (default ./.local).
	Dir string
	// Addr is the local API Gateway's listen address, a loopback IP and port
	// (default 127.0.0.1:3000; tests use 127.0.0.1:0).
	Addr string
	// Gateway configures the local API Gateway's server: body limit,
	// integration timeout, server timeouts (zero: localaws's defaults).
	Gateway localaws.GatewayOptions
	// SimAddr is the simulator's listen address (default 127.0.0.1:0).
	SimAddr string
	// NoSimulator: do not start the simulator (a real ConnectWise site is
	// configured in the partner instead).
	NoSimulator bool
	// NoDemo: do not seed the demo partner.
	NoDemo bool
	// VisibilityTimeout of the events queue, seconds (default 30 locally; the
	// template's 360 s would make a retry wait six minutes).
	VisibilityTimeout int
	// WorkerConcurrency is the number of concurrent worker invocations
	// (default 2).
	WorkerConcurrency int
	// InvokeTimeout is the worker's timeout (default 60 s, as the template).
	InvokeTimeout time.Duration
	// OperatorToken is accepted on the operator routes in place of IAM, as
	// "authorization: Bearer <token>" (default: a random token, printed by
	// make run). See OperatorAuth. The console's sign-in takes it too (the
	// operator role).
	OperatorToken string
	// ViewerToken signs in to the console with the viewer role (read only;
	// default: a random token, printed by make run). It opens nothing on
	// the operator API.
	ViewerToken string
	// Retry is the ConnectWise retry policy (tests inject a sleep that does
	// not sleep).
	Retry connectwise.RetryPolicy
	// ConnectWiseTimeout is the HTTP client timeout towards ConnectWise
	// (default 30 s).
	ConnectWiseTimeout time.Duration
	Now                func() time.Time
	Logger             *slog.Logger
	// MetricsOut receives the EMF metric lines (default: discarded).
	MetricsOut io.Writer
	// APIOptions are added to the local stack's AWS clients, DynamoDB and
	// SQS (a request meter: package costmeter).
	APIOptions []func(*middleware.Stack) error
	// WrapSecrets, when set, wraps the secret store the functions read (the
	// local file standing in for Secrets Manager), e.g. to count its reads.
	WrapSecrets func(partner.SecretStore) partner.SecretStore
}

// Service is every function's handler, each assembled by its function's
// package as in Lambda (so each has its own secrets cache, as each function
// has), and the stores the tests and the demo seeding use.
type Service struct {
	Webhook *webhook.Handler
	// Callbacks is the ConnectWise callback endpoint (the webhook function's
	// second route).
	Callbacks *callback.Handler
	Worker    *worker.Worker
	Resync    *resync.Resync
	// Monitor is the partners' health tick (the resync function's health
	// schedule).
	Monitor *health.Monitor
	Admin   *admin.API
	// Console is the operator console over Admin (its sign-in: TokenSignIn).
	Console *console.Console

	Partners *partner.Store
	// Secrets is the local secrets file, uncached.
	Secrets partner.SecretStore
	Log     *eventlog.Log
	Faults  *tickets.FaultStore
	Queue   *queue.Router
	Usage   *usage.Store
	Health  *health.Store
}

// Stack is the running local service.
type Stack struct {
	AWS         *localaws.Stack
	Service     *Service
	Sim         *cwsim.Sim // nil with NoSimulator
	Demo        *Demo      // nil with NoDemo
	EventSource *localaws.EventSource
	// SyncSource is the worker's event source on the sync queue (the
	// template's WorkerFunctionSyncs): the sync jobs.
	SyncSource *localaws.EventSource
	// DeadLetterSource is the worker's second event source, on the DLQ
	// (template.yaml's WorkerFunctionDeadLetters): it records dead letters
	// in the event log (package deadletter).
	DeadLetterSource *localaws.EventSource
	// URL is the local API Gateway's base URL (http://127.0.0.1:port).
	URL           string
	OperatorToken string
	// ViewerToken signs in to the console read-only.
	ViewerToken string
	QueueURL    string
	SyncURL     string
	DLQURL      string
	// CAFile is the simulator's CA certificate (its directory is on SSL_CERT_DIR).
	CAFile string

	gw  *localaws.Gateway
	log *slog.Logger
}

// Start brings everything up. Close stops it.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.Dir == "" {
		opts.Dir = ".local"
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:3000"
	}
	if err := localaws.CheckLoopback(opts.Addr); err != nil {
		return nil, err
	}
	if opts.VisibilityTimeout <= 0 {
		opts.VisibilityTimeout = 30
	}
	if opts.WorkerConcurrency <= 0 {
		opts.WorkerConcurrency = 2
	}
	if opts.InvokeTimeout <= 0 {
		opts.InvokeTimeout = 60 * time.Second
	}
	if opts.ConnectWiseTimeout <= 0 {
		opts.ConnectWiseTimeout = 30 * time.Second
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if opts.MetricsOut == nil {
		opts.MetricsOut = io.Discard
	}
	if opts.OperatorToken == "" {
		opts.OperatorToken = randomToken()
	}
	if opts.ViewerToken == "" {
		opts.ViewerToken = randomToken()
	}
	if opts.ViewerToken == opts.OperatorToken {
		return nil, errors.New("the viewer token must differ from the operator token")
	}
	st := &Stack{OperatorToken: opts.OperatorToken, ViewerToken: opts.ViewerToken, log: logger}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()

	def, err := stackdef.Load()
	if err != nil {
		return nil, fmt.Errorf("read template.yaml: %w", err)
	}
	vis := map[string]int{}
	for _, q := range def.Queues {
		vis[q.LogicalID] = opts.VisibilityTimeout
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, "goaws"), 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	st.AWS, err = localaws.StartStack(ctx, def, localaws.StackOptions{
		VisibilityOverride: vis,
		SQS:                localaws.SQSOptions{Dir: filepath.Join(opts.Dir, "goaws")},
		APIOptions:         opts.APIOptions,
	})
	if err != nil {
		return nil, err
	}
	st.QueueURL, st.SyncURL, st.DLQURL = st.AWS.QueueURLs["EventsQueue"], st.AWS.QueueURLs["SyncQueue"], st.AWS.QueueURLs["EventsDLQ"]

	// The development switch: the simulator listens on loopback.
	policy := connectwise.SitePolicy{AllowLoopback: true}
	hc, err := connectwise.NewHTTPClient(connectwise.HTTPClientOptions{Timeout: opts.ConnectWiseTimeout, Policy: policy})
	if err != nil {
		return nil, err
	}
	if !opts.NoSimulator {
		caDir, err := filepath.Abs(filepath.Join(opts.Dir, "ca"))
		if err != nil {
			return nil, err
		}
		st.CAFile = filepath.Join(caDir, "cwsim-ca.pem")
		if err := TrustSimulator(caDir); err != nil {
			return nil, err
		}
		st.Sim = cwsim.New(cwsim.Options{Addr: opts.SimAddr})
		if err := st.Sim.Start(); err != nil {
			return nil, fmt.Errorf("start ConnectWise simulator: %w", err)
		}
	}

	cfg := service.Config{
		TableName:         st.AWS.Names["Table"],
		QueueURL:          st.QueueURL,
		MetricsNamespace:  "BackupBridge",
		EventLogRetention: 90 * 24 * time.Hour,
		LocalSecretsFile:  filepath.Join(opts.Dir, "LOCAL-ONLY-secrets.json"),
		SitePolicy:        policy,
	}
	cfg.DeadLetterQueueARN = st.AWS.QueueARNs["EventsDLQ"]
	cfg.SyncQueueURL, cfg.SyncQueueARN = st.SyncURL, st.AWS.QueueARNs["SyncQueue"]
	secrets := &partner.LocalSecretsFile{Path: cfg.LocalSecretsFile}
	deps := service.Deps{
		DynamoDB:   st.AWS.DynamoDB,
		SQS:        st.AWS.SQS,
		Secrets:    secrets,
		HTTPClient: hc,
		Now:        opts.Now,
		Logger:     logger,
	}
	if opts.WrapSecrets != nil {
		deps.Secrets = opts.WrapSecrets(secrets)
	}
	st.Service = &Service{
		Webhook:   webhookfn.New(cfg, deps),
		Callbacks: webhookfn.Callbacks(cfg, deps),
		Worker: workerfn.New(cfg, deps, workerfn.Options{
			Retry:      opts.Retry,
			RetryBase:  time.Duration(opts.VisibilityTimeout) * time.Second,
			MetricsOut: opts.MetricsOut,
		}),
		Resync:   resyncfn.New(cfg, deps),
		Monitor:  resyncfn.Monitor(cfg, deps, opts.MetricsOut),
		Admin:    adminfn.New(cfg, deps),
		Partners: &partner.Store{DB: deps.DynamoDB, Table: cfg.TableName},
		Secrets:  secrets,
		Log:      &eventlog.Log{DB: deps.DynamoDB, Table: cfg.TableName, Retention: cfg.EventLogRetention},
		Faults:   &tickets.FaultStore{DB: deps.DynamoDB, Table: cfg.TableName},
		Queue:    queue.RouterFor(deps.SQS, cfg.QueueURL, cfg.SyncQueueURL),
		Usage:    &usage.Store{DB: deps.DynamoDB, Table: cfg.TableName},
		Health:   &health.Store{DB: deps.DynamoDB, Table: cfg.TableName},
	}
	// The console's session and CSRF key lives as long as this process:
	// a restart signs everyone out.
	sessionKey := make([]byte, 32)
	if _, err := rand.Read(sessionKey); err != nil {
		return nil, err
	}
	st.Service.Console = adminfn.Console(st.Service.Admin, &console.TokenSignIn{
		OperatorToken: opts.OperatorToken, ViewerToken: opts.ViewerToken, Key: sessionKey, Now: opts.Now,
	}, sessionKey, deps)

	if st.Sim != nil && !opts.NoDemo {
		if st.Demo, err = SeedDemo(ctx, st.Sim, st.Service); err != nil {
			return nil, err
		}
	}

	st.EventSource = &localaws.EventSource{
		SQS:           st.AWS.SQS,
		QueueURL:      st.QueueURL,
		QueueARN:      st.AWS.QueueARNs["EventsQueue"],
		Handler:       st.Service.Worker.Handle,
		BatchSize:     10,
		Concurrency:   opts.WorkerConcurrency,
		InvokeTimeout: opts.InvokeTimeout,
		Log:           logger,
	}
	// The sync queue's: fewer pollers, as the template's
	// WorkerFunctionSyncs has a lower concurrency than the events queue's.
	st.SyncSource = &localaws.EventSource{
		SQS:           st.AWS.SQS,
		QueueURL:      st.SyncURL,
		QueueARN:      cfg.SyncQueueARN,
		Handler:       st.Service.Worker.Handle,
		BatchSize:     10,
		Concurrency:   max(1, opts.WorkerConcurrency/4),
		InvokeTimeout: opts.InvokeTimeout,
		Log:           logger,
	}
	// The same handler; the worker tells the DLQ's records by their ARN.
	st.DeadLetterSource = &localaws.EventSource{
		SQS:           st.AWS.SQS,
		QueueURL:      st.DLQURL,
		QueueARN:      cfg.DeadLetterQueueARN,
		Handler:       st.Service.Worker.Handle,
		BatchSize:     10,
		Concurrency:   1,
		InvokeTimeout: opts.InvokeTimeout,
		Log:           logger,
	}

	gwOpts := opts.Gateway
	if gwOpts.Log == nil {
		gwOpts.Log = logger
	}
	if st.gw, err = localaws.ListenGateway(opts.Addr, routes(st.Service, opts.OperatorToken), gwOpts); err != nil {
		return nil, err
	}
	st.URL = st.gw.URL
	if st.Demo != nil {
		// The demo partner listens to the simulator's ticket changes, as
		// partner setup does (package callback).
		if err := st.Demo.RegisterCallback(ctx, st.Sim, st.Service, st.URL); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// routes is the local API Gateway's routing, template.yaml's HttpApi
// routes: POST /v1/partners/{partnerId}/events to the webhook, ANY
// /v1/admin/{proxy+} to the operator API behind OperatorAuth (the stand-in
// for AWS_IAM), GET /console and ANY /console/{proxy+} to the operator
// console (no IAM: it has its own sign-in), and API Gateway's 404 for
// anything else. Each function's routes are the http.Handler its Lambda
// serves through lambdahttp; a new HTTP route of the template is one more
// line here.
func routes(svc *Service, operatorToken string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(webhook.Route, svc.Webhook.Routes())
	mux.Handle(callback.Route, svc.Callbacks.Routes())
	mux.Handle("/v1/admin/", OperatorAuth(operatorToken, svc.Admin.Routes()))
	con := svc.Console.Routes()
	mux.Handle("GET /console", con)
	mux.Handle("/console/", con)
	mux.Handle("/", localaws.NotFound)
	return mux
}

// ConsoleURL is the local operator console's address.
func (st *Stack) ConsoleURL() string { return st.URL + "/console/" }

// WebhookURL is the local webhook address of a partner.
func (st *Stack) WebhookURL(partnerID string) string {
	return st.URL + "/v1/partners/" + partnerID + "/events"
}

// RunWorkers runs the event-source loops, the events queue's, the sync
// queue's and the dead-letter queue's, until ctx ends.
func (st *Stack) RunWorkers(ctx context.Context) error {
	var wg sync.WaitGroup
	var queueErr, syncErr, dlqErr error
	wg.Go(func() { queueErr = st.EventSource.Run(ctx) })
	wg.Go(func() { syncErr = st.SyncSource.Run(ctx) })
	wg.Go(func() { dlqErr = st.DeadLetterSource.Run(ctx) })
	wg.Wait()
	return errors.Join(queueErr, syncErr, dlqErr)
}

// RunSchedule runs the resync every interval until ctx ends, as the
// EventBridge schedule would.
func (st *Stack) RunSchedule(ctx context.Context, every time.Duration) {
	localaws.Every(ctx, every, func(ctx context.Context) error {
		_, err := st.Service.Resync.Run(ctx)
		return err
	}, st.log)
}

// RunHealth runs the partners' health tick every interval until ctx ends,
// as the template's one-minute health schedule would.
func (st *Stack) RunHealth(ctx context.Context, every time.Duration) {
	localaws.Every(ctx, every, func(ctx context.Context) error {
		_, err := st.Service.Monitor.Tick(ctx)
		return err
	}, st.log)
}

// Close stops everything. Safe to call twice.
func (st *Stack) Close() {
	if st.gw != nil {
		_ = st.gw.Close()
		st.gw = nil
	}
	if st.Sim != nil {
		st.Sim.Close()
	}
	if st.AWS != nil {
		_ = st.AWS.Close()
		st.AWS = nil
	}
}

// RunTrustingSimulator is a test binary's TestMain body: it trusts the
// simulator's CA in a temporary directory (TrustSimulator) before any TLS
// handshake of the process, runs the tests (run is m.Run), removes the
// directory and returns the exit code for os.Exit.
func RunTrustingSimulator(run func() int) int {
	dir, err := os.MkdirTemp("", "cwsim-ca")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := TrustSimulator(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return run()
}

// TrustSimulator makes this process trust the simulator's private CA the
// standard way, keeping every other trusted root: it writes the CA into
// caDir and adds caDir to SSL_CERT_DIR (next to whatever SSL_CERT_FILE or the
// system's bundle holds). TLS verification stays on. Go reads these variables
// once, at the first TLS handshake, so this must run before any; it checks
// that the system pool now verifies the simulator's certificates and says so
// clearly when it does not.
func TrustSimulator(caDir string) error {
	if err := os.MkdirAll(caDir, 0o700); err != nil {
		return fmt.Errorf("CA directory: %w", err)
	}
	caFile := filepath.Join(caDir, "cwsim-ca.pem")
	if err := cwsim.WriteCAFile(caFile); err != nil {
		return fmt.Errorf("write the simulator's CA: %w", err)
	}
	dirs := os.Getenv("SSL_CERT_DIR")
	if dirs == "" {
		// Go's defaults on Linux, kept when we add ours.
		dirs = "/etc/ssl/certs:/etc/pki/tls/certs"
	}
	if !slices.Contains(filepath.SplitList(dirs), caDir) {
		if err := os.Setenv("SSL_CERT_DIR", caDir+string(os.PathListSeparator)+dirs); err != nil {
			return fmt.Errorf("set SSL_CERT_DIR: %w", err)
		}
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		return fmt.Errorf("system certificate pool: %w", err)
	}
	ca, err := parsePEMCert(cwsim.CACertPEM())
	if err != nil {
		return err
	}
	if _, err := ca.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		return fmt.Errorf("this process does not trust the simulator's CA (the certificate pool was loaded before %s was added to SSL_CERT_DIR): start it with SSL_CERT_DIR=%s or SSL_CERT_FILE=%s", caDir, caDir, caFile)
	}
	return nil
}

func parsePEMCert(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("simulator CA is not PEM")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("simulator CA: %w", err)
	}
	return c, nil
}

func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
