// Package service assembles the handlers of every Lambda function from a
// Config and AWS clients. The functions' main packages and the local stack
// both call it, so what runs on a laptop is what runs in Lambda.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/efs-cw/backupbridge/internal/admin"
	"github.com/efs-cw/backupbridge/internal/claim"
	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/managedid"
	"github.com/efs-cw/backupbridge/internal/metrics"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/resync"
	"github.com/efs-cw/backupbridge/internal/syncslot"
	"github.com/efs-cw/backupbridge/internal/tickets"
	"github.com/efs-cw/backupbridge/internal/usage"
	"github.com/efs-cw/backupbridge/internal/webhook"
	"github.com/efs-cw/backupbridge/internal/worker"
)

// Config is what differs per deployment, read from the environment.
type Config struct {
	TableName         string // TABLE_NAME
	QueueURL          string // QUEUE_URL (webhook, resync, admin)
	SecretsPrefix     string // SECRETS_PREFIX
	MetricsNamespace  string // METRICS_NAMESPACE, default BackupBridge
	EventLogRetention time.Duration
	LogLevel          slog.Level
	// LocalSecretsFile, when set, replaces Secrets Manager with a local JSON
	// file (LOCAL_SECRETS_FILE). For the local stack and local invokes only.
	LocalSecretsFile string
}

// ConfigFromEnv reads the Config; needQueue says whether QUEUE_URL is required.
func ConfigFromEnv(getenv func(string) string, needQueue bool) (Config, error) {
	c := Config{
		TableName:        getenv("TABLE_NAME"),
		QueueURL:         getenv("QUEUE_URL"),
		SecretsPrefix:    getenv("SECRETS_PREFIX"),
		MetricsNamespace: getenv("METRICS_NAMESPACE"),
		LocalSecretsFile: getenv("LOCAL_SECRETS_FILE"),
	}
	var missing []string
	if c.TableName == "" {
		missing = append(missing, "TABLE_NAME")
	}
	if needQueue && c.QueueURL == "" {
		missing = append(missing, "QUEUE_URL")
	}
	if c.SecretsPrefix == "" && c.LocalSecretsFile == "" {
		missing = append(missing, "SECRETS_PREFIX")
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("missing environment variables: %s (template.yaml sets them; for a local run see the README)", strings.Join(missing, ", "))
	}
	if c.MetricsNamespace == "" {
		c.MetricsNamespace = "BackupBridge"
	}
	c.EventLogRetention = 90 * 24 * time.Hour
	if v := getenv("EVENT_LOG_RETENTION_DAYS"); v != "" {
		d, err := strconv.Atoi(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("EVENT_LOG_RETENTION_DAYS=%q: want a positive number of days", v)
		}
		c.EventLogRetention = time.Duration(d) * 24 * time.Hour
	}
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return c, fmt.Errorf("LOG_LEVEL=%q: want DEBUG, INFO, WARN or ERROR", v)
		}
	}
	return c, nil
}

// Deps are the adapters the handlers use.
type Deps struct {
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
	// Secrets is the partner secret store (Secrets Manager, or the local file).
	Secrets partner.SecretStore
	// HTTPClient talks to ConnectWise (nil: default with a 30 s timeout).
	HTTPClient *http.Client
	// Retry is the ConnectWise retry policy (zero: the client's defaults).
	Retry connectwise.RetryPolicy
	// RetryBase is the first wait before a failed message is retried from
	// the queue (default 10 s; see worker.RetryDelay).
	RetryBase time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
	// MetricsOut receives the EMF metric lines (stdout in Lambda).
	MetricsOut io.Writer
}

// Service holds every handler.
type Service struct {
	Config   Config
	Partners *partner.Store
	Secrets  partner.SecretStore
	Log      *eventlog.Log
	Faults   *tickets.FaultStore
	Queue    *queue.SQS
	Usage    *usage.Store
	Slots    *syncslot.Slots

	Webhook *webhook.Handler
	Worker  *worker.Worker
	Resync  *resync.Resync
	Admin   *admin.API
}

// New assembles the service.
func New(cfg Config, d Deps) *Service {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	logger := d.Logger
	if logger == nil {
		logger = slog.Default()
	}
	hc := d.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	s := &Service{Config: cfg}
	s.Partners = &partner.Store{DB: d.DynamoDB, Table: cfg.TableName}
	s.Secrets = &partner.CachedSecrets{Store: d.Secrets, TTL: 5 * time.Minute, Now: now}
	s.Log = &eventlog.Log{DB: d.DynamoDB, Table: cfg.TableName, Retention: cfg.EventLogRetention}
	s.Faults = &tickets.FaultStore{DB: d.DynamoDB, Table: cfg.TableName}
	s.Queue = &queue.SQS{Client: d.SQS, URL: cfg.QueueURL}
	s.Usage = &usage.Store{DB: d.DynamoDB, Table: cfg.TableName}
	s.Slots = &syncslot.Slots{DB: d.DynamoDB, Table: cfg.TableName}
	secrets := s.Secrets.(*partner.CachedSecrets)

	s.Webhook = &webhook.Handler{
		Secrets:    secrets,
		Queue:      s.Queue,
		Deliveries: &Deliveries{Claims: &claim.Store{DB: d.DynamoDB, Table: cfg.TableName, Prefix: "DELIVERY#", Retention: 7 * 24 * time.Hour}},
		Now:        now,
		Log:        logger,
	}
	s.Worker = &worker.Worker{
		Partners:   s.Partners,
		Secrets:    s.Secrets,
		Claims:     &claim.Store{DB: d.DynamoDB, Table: cfg.TableName, Prefix: "EVENT#", Retention: 14 * 24 * time.Hour},
		ManagedIDs: &managedid.DynamoStore{DB: d.DynamoDB, Table: cfg.TableName},
		RetryBase:  d.RetryBase,
		Log:        s.Log,
		Tickets:    &tickets.Service{Faults: s.Faults, Boards: &tickets.Boards{Now: now}, Now: now, Log: logger},
		Sync: &worker.Sync{
			Usage:    s.Usage,
			Slots:    s.Slots,
			Recorded: &claim.Store{DB: d.DynamoDB, Table: cfg.TableName, Prefix: "USAGE#", Retention: 14 * 24 * time.Hour},
		},
		Metrics:    &metrics.EMF{Namespace: cfg.MetricsNamespace, W: d.MetricsOut, Now: now},
		HTTPClient: hc,
		Retry:      d.Retry,
		Now:        now,
		Logger:     logger,
	}
	if cfg.QueueURL != "" {
		s.Worker.Requeue = s.Queue
	}
	s.Resync = &resync.Resync{Partners: s.Partners, Log: s.Log, Queue: s.Queue, Customers: s.Slots, Now: now, Logger: logger}
	s.Admin = &admin.API{Partners: s.Partners, Secrets: s.Secrets, Log: s.Log, Queue: s.Queue, Usage: s.Usage, Customers: s.Slots, HTTPClient: hc, Now: now, Logger: logger}
	return s
}

// ResyncHandler is the resync Lambda's handler for the EventBridge schedule.
func (s *Service) ResyncHandler(ctx context.Context, _ events.EventBridgeEvent) (resync.Report, error) {
	return s.Resync.Run(ctx)
}

// FromAWS builds the service for a Lambda function: configuration from the
// environment, the default AWS credential chain, Secrets Manager (or the
// local secrets file when LOCAL_SECRETS_FILE is set).
func FromAWS(ctx context.Context, needQueue bool) (*Service, error) {
	cfg, err := ConfigFromEnv(os.Getenv, needQueue)
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(logger)
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	d := Deps{
		DynamoDB:   dynamodb.NewFromConfig(awsCfg),
		SQS:        sqs.NewFromConfig(awsCfg),
		Logger:     logger,
		MetricsOut: os.Stdout,
	}
	if cfg.LocalSecretsFile != "" {
		logger.Warn("using the LOCAL secrets file instead of Secrets Manager", "file", cfg.LocalSecretsFile)
		d.Secrets = &partner.LocalSecretsFile{Path: cfg.LocalSecretsFile}
	} else {
		d.Secrets = &partner.SecretsManager{Client: secretsmanager.NewFromConfig(awsCfg), Prefix: cfg.SecretsPrefix}
	}
	return New(cfg, d), nil
}

// Deliveries adapts claim.Store to the webhook's Deliveries port: a claim
// per (partner, webhook-id) held between Begin and Complete/Abandon.
type Deliveries struct {
	Claims *claim.Store
	// Lease is how long a delivery's claim is held before a retry may take
	// it over (default 30 s; the webhook's timeout is 10 s).
	Lease time.Duration

	held sync.Map // partner#webhookID → claim.Claim
}

func deliveryKey(partnerID, webhookID string) string { return partnerID + "#" + webhookID }

// Begin claims the delivery.
func (d *Deliveries) Begin(ctx context.Context, partnerID, webhookID string, now time.Time) (webhook.DeliveryState, error) {
	lease := d.Lease
	if lease <= 0 {
		lease = 30 * time.Second
	}
	st, c, err := d.Claims.Begin(ctx, deliveryKey(partnerID, webhookID), now, lease)
	if err != nil {
		return 0, err
	}
	switch st {
	case claim.Done:
		return webhook.DeliveryDone, nil
	case claim.InFlight:
		return webhook.DeliveryInFlight, nil
	}
	d.held.Store(deliveryKey(partnerID, webhookID), c)
	return webhook.DeliveryNew, nil
}

// Complete marks the delivery enqueued.
func (d *Deliveries) Complete(ctx context.Context, partnerID, webhookID string, now time.Time) error {
	v, ok := d.held.LoadAndDelete(deliveryKey(partnerID, webhookID))
	if !ok {
		return errors.New("complete delivery: not held")
	}
	return d.Claims.Complete(ctx, v.(claim.Claim), now)
}

// Abandon releases the delivery so the sender's retry can enqueue it.
func (d *Deliveries) Abandon(ctx context.Context, partnerID, webhookID string) error {
	v, ok := d.held.LoadAndDelete(deliveryKey(partnerID, webhookID))
	if !ok {
		return nil
	}
	return d.Claims.Abandon(ctx, v.(claim.Claim))
}

// RunLambda is the whole main of a function: build the service from the
// environment, pick the handler, and hand it to the Lambda runtime. A
// configuration error is printed with the function's name and exits 1 (the
// Lambda init fails with that message) instead of panicking in a handler.
func RunLambda(name string, needQueue bool, handler func(*Service) any) {
	ctx := context.Background()
	svc, err := FromAWS(ctx, needQueue)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	lambda.StartWithOptions(handler(svc), lambda.WithContext(ctx))
}
