// Package localstack runs the whole service on one machine, the embedded
// default of `make run` and the base of the integration tests:
//
//   - minidyn (DynamoDB, in process) and goaws (SQS, a child process) with the
//     table and queues created from template.yaml (package localaws);
//   - the webhook and admin handlers behind a local HTTP endpoint that turns
//     requests into the API Gateway v2 events Lambda receives;
//   - the SQS event-source loop invoking the worker handler with SQS batches
//     (ReportBatchItemFailures honoured, failures redelivered, then the DLQ);
//   - the resync schedule as a ticker;
//   - the built-in ConnectWise simulator (HTTPS, its private CA trusted via
//     SSL_CERT_FILE), unless a real ConnectWise site is configured;
//   - a seeded demo partner.
//
// Every handler is the one internal/service assembles for Lambda, with the
// real AWS SDK clients pointed at the local endpoints.
package localstack

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/dev/cwsim"
	"github.com/efs-cw/backupbridge/internal/dev/localaws"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/service"
	"github.com/efs-cw/backupbridge/internal/dev/stackdef"
)

// Options configure Start. The zero value runs the demo on the simulator.
type Options struct {
	// Dir holds local state: the simulator's CA, the local secrets file,
	// goaws's log (default ./.local).
	Dir string
	// Addr is the local API Gateway's listen address (default 127.0.0.1:3000;
	// tests use 127.0.0.1:0).
	Addr string
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
	// OperatorToken is accepted on the operator routes in place of SigV4
	// (default: a random token, printed by make run).
	OperatorToken string
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
}

// Stack is the running local service.
type Stack struct {
	AWS         *localaws.Stack
	Service     *service.Service
	Sim         *cwsim.Sim // nil with NoSimulator
	Demo        *Demo      // nil with NoDemo
	EventSource *localaws.EventSource
	// URL is the local API Gateway's base URL (http://127.0.0.1:port).
	URL           string
	OperatorToken string
	QueueURL      string
	DLQURL        string
	// CAFile is the simulator's CA certificate (its directory is on SSL_CERT_DIR).
	CAFile string

	srv *http.Server
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
	st := &Stack{OperatorToken: opts.OperatorToken}
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
	})
	if err != nil {
		return nil, err
	}
	st.QueueURL, st.DLQURL = st.AWS.QueueURLs["EventsQueue"], st.AWS.QueueURLs["EventsDLQ"]

	hc := &http.Client{Timeout: opts.ConnectWiseTimeout}
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
	}
	st.Service = service.New(cfg, service.Deps{
		DynamoDB:   st.AWS.DynamoDB,
		SQS:        st.AWS.SQS,
		Secrets:    &partner.LocalSecretsFile{Path: cfg.LocalSecretsFile},
		HTTPClient: hc,
		Retry:      opts.Retry,
		RetryBase:  time.Duration(opts.VisibilityTimeout) * time.Second,
		Now:        opts.Now,
		Logger:     logger,
		MetricsOut: opts.MetricsOut,
	})

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

	gw := localaws.NewGateway([]localaws.Route{
		{Method: "POST", Pattern: "/v1/partners/{partnerId}/events", Handler: st.Service.Webhook.Handle},
		{Method: "ANY", Pattern: "/v1/admin/{proxy+}", Handler: st.Service.Admin.Handle, IAMAuth: true},
	}, localaws.GatewayOptions{OperatorToken: opts.OperatorToken, Log: logger, Now: opts.Now})
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opts.Addr, err)
	}
	st.URL = "http://" + ln.Addr().String()
	st.srv = &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := st.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("local API gateway stopped", "error", err)
		}
	}()
	return st, nil
}

// WebhookURL is the local webhook address of a partner.
func (st *Stack) WebhookURL(partnerID string) string {
	return st.URL + "/v1/partners/" + partnerID + "/events"
}

// RunWorkers runs the event-source loop until ctx ends.
func (st *Stack) RunWorkers(ctx context.Context) error { return st.EventSource.Run(ctx) }

// RunSchedule runs the resync every interval until ctx ends, as the
// EventBridge schedule would.
func (st *Stack) RunSchedule(ctx context.Context, every time.Duration) {
	localaws.Every(ctx, every, func(ctx context.Context) error {
		_, err := st.Service.ResyncHandler(ctx, events.EventBridgeEvent{DetailType: "Scheduled Event", Source: "aws.events"})
		return err
	}, st.Service.Webhook.Log)
}

// Close stops everything. Safe to call twice.
func (st *Stack) Close() {
	if st.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = st.srv.Shutdown(ctx)
		cancel()
		st.srv = nil
	}
	if st.Sim != nil {
		st.Sim.Close()
	}
	if st.AWS != nil {
		_ = st.AWS.Close()
		st.AWS = nil
	}
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
