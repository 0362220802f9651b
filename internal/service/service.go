// Package service is what every Lambda function shares: the Config read
// from the environment, the AWS clients and settings the handlers are built
// from (Deps), the JSON logger that carries the Lambda request id, and Run,
// the whole of a function's main.
//
// Each function's handler is assembled by a small package of its own
// (service/webhookfn, service/workerfn, service/resyncfn, service/adminfn)
// from a Config and Deps, so that a function's binary links only the code
// that function runs. functions/<name>/main.go calls Run with its
// constructor; the local stack calls the same constructors with clients
// pointed at its local servers, so what runs on a laptop is what runs in
// Lambda.
package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// Config is what differs per deployment, read from the environment.
type Config struct {
	TableName         string // TABLE_NAME
	QueueURL          string // QUEUE_URL (webhook, worker, resync, admin)
	SecretsPrefix     string // SECRETS_PREFIX
	MetricsNamespace  string // METRICS_NAMESPACE, default BackupBridge
	EventLogRetention time.Duration
	LogLevel          slog.Level
	// LocalSecretsFile, when set, replaces Secrets Manager with a local JSON
	// file (LOCAL_SECRETS_FILE). For the local stack and local invokes only.
	LocalSecretsFile string
	// SitePolicy says which ConnectWise site hosts are allowed. The zero
	// value, which every deployment has, allows public addresses only.
	// DEV_ALLOW_LOOPBACK_SITES=1 (the development switch, set by the local
	// stack and its tests; template.yaml never sets it) also allows
	// loopback, for the ConnectWise simulator.
	SitePolicy connectwise.SitePolicy
	// AlarmTopicARN is the SNS topic a partner's pause is published to
	// (ALARM_TOPIC_ARN; empty: the pause's ERROR log line only).
	AlarmTopicARN string
	// DeadLetterQueueARN is EventsDLQ's ARN (DEAD_LETTER_QUEUE_ARN, worker
	// only): records from it are recorded in the event log (package
	// deadletter). Empty: the worker has no dead-letter event source.
	DeadLetterQueueARN string
	// SyncQueueURL is SyncQueue's URL (SYNC_QUEUE_URL: worker, resync,
	// admin): sync jobs go there (queue.Router). Empty: to QueueURL, as in
	// some tests.
	SyncQueueURL string
	// SyncQueueARN is SyncQueue's ARN (SYNC_QUEUE_ARN, worker only): its
	// records are retried through SyncQueueURL.
	SyncQueueARN string
}

// DevAllowLoopbackSites is the environment variable of the development
// switch that lets a partner's ConnectWise site be a loopback address.
const DevAllowLoopbackSites = "DEV_ALLOW_LOOPBACK_SITES"

// ConfigFromEnv reads the Config; needQueue says whether QUEUE_URL is required.
func ConfigFromEnv(getenv func(string) string, needQueue bool) (Config, error) {
	c := Config{
		TableName:        getenv("TABLE_NAME"),
		QueueURL:         getenv("QUEUE_URL"),
		SecretsPrefix:    getenv("SECRETS_PREFIX"),
		MetricsNamespace: getenv("METRICS_NAMESPACE"),
		LocalSecretsFile: getenv("LOCAL_SECRETS_FILE"),
		AlarmTopicARN:    getenv("ALARM_TOPIC_ARN"),
	}
	c.DeadLetterQueueARN = getenv("DEAD_LETTER_QUEUE_ARN")
	c.SyncQueueURL, c.SyncQueueARN = getenv("SYNC_QUEUE_URL"), getenv("SYNC_QUEUE_ARN")
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
	switch v := getenv(DevAllowLoopbackSites); v {
	case "", "0", "false":
	case "1", "true":
		c.SitePolicy.AllowLoopback = true
	default:
		return c, fmt.Errorf("%s=%q: want 1 (development only) or nothing", DevAllowLoopbackSites, v)
	}
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return c, fmt.Errorf("LOG_LEVEL=%q: want DEBUG, INFO, WARN or ERROR", v)
		}
	}
	return c, nil
}

// Deps are the clients and settings the handlers are built from. The zero
// value of a setting is its default (see its method).
type Deps struct {
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
	// Secrets is the partner secret store (Secrets Manager, or the local
	// file), uncached: each function caches it (CachedSecrets).
	Secrets partner.SecretStore
	// HTTPClient talks to ConnectWise; build it with connectwise.NewHTTPClient
	// (nil: that constructor's strict default with a 30 s timeout).
	HTTPClient *http.Client
	Now        func() time.Time
	Logger     *slog.Logger
	// AWS is the AWS configuration the clients above were built from (the
	// zero value locally), for a function that needs one more client.
	AWS aws.Config
}

// Clock is Now, or time.Now.
func (d Deps) Clock() func() time.Time {
	if d.Now != nil {
		return d.Now
	}
	return time.Now
}

// Log is Logger, or slog.Default().
func (d Deps) Log() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

// ConnectWiseClient is HTTPClient, or connectwise.NewHTTPClient's strict
// default (public sites only) with a 30 s timeout.
func (d Deps) ConnectWiseClient() *http.Client {
	if d.HTTPClient != nil {
		return d.HTTPClient
	}
	hc, err := connectwise.NewHTTPClient(connectwise.HTTPClientOptions{Timeout: 30 * time.Second})
	if err != nil {
		panic("connectwise.NewHTTPClient refused its own defaults: " + err.Error()) // cannot happen: no transport given
	}
	return hc
}

// SecretsTTL is how long a function keeps a partner's secrets: a rotation
// takes effect within it.
const SecretsTTL = 5 * time.Minute

// CachedSecrets is Secrets behind a cache of SecretsTTL, one per function
// (a warm Lambda does not call Secrets Manager on every request).
func (d Deps) CachedSecrets() *partner.CachedSecrets {
	return &partner.CachedSecrets{Store: d.Secrets, TTL: SecretsTTL, Now: d.Clock()}
}

// FromEnv is what a Lambda function starts from: the Config from the
// environment (needQueue: QUEUE_URL is required), the logger (NewLogger on
// stdout, also made slog's default), the AWS clients from the default
// credential chain, and Secrets Manager, or the local secrets file when
// LOCAL_SECRETS_FILE is set.
func FromEnv(ctx context.Context, needQueue bool) (Config, Deps, error) {
	cfg, err := ConfigFromEnv(os.Getenv, needQueue)
	if err != nil {
		return cfg, Deps{}, err
	}
	logger := NewLogger(os.Stdout, cfg.LogLevel)
	slog.SetDefault(logger)
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return cfg, Deps{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	hc, err := connectwise.NewHTTPClient(connectwise.HTTPClientOptions{Timeout: 30 * time.Second, Policy: cfg.SitePolicy})
	if err != nil {
		return cfg, Deps{}, fmt.Errorf("ConnectWise HTTP client: %w", err)
	}
	if cfg.SitePolicy.AllowLoopback {
		logger.Warn(DevAllowLoopbackSites + " is set: loopback ConnectWise sites are allowed (development only)")
	}
	d := Deps{
		DynamoDB:   dynamodb.NewFromConfig(awsCfg),
		SQS:        sqs.NewFromConfig(awsCfg),
		HTTPClient: hc,
		Logger:     logger,
		AWS:        awsCfg,
	}
	if cfg.LocalSecretsFile != "" {
		logger.Warn("using the LOCAL secrets file instead of Secrets Manager", "file", cfg.LocalSecretsFile)
		d.Secrets = &partner.LocalSecretsFile{Path: cfg.LocalSecretsFile}
	} else {
		d.Secrets = &partner.SecretsManager{Client: secretsmanager.NewFromConfig(awsCfg), Prefix: cfg.SecretsPrefix}
	}
	return cfg, d, nil
}

// Run is the whole main of a function: FromEnv, then build the handler
// (a function the Lambda runtime accepts, see lambda.Start) and hand it to
// the runtime. A configuration error is printed as "<name>: <error>" and
// exits 1 (the Lambda init fails with that message) instead of panicking in
// a handler.
func Run(name string, needQueue bool, build func(Config, Deps) any) {
	ctx := context.Background()
	cfg, d, err := FromEnv(ctx, needQueue)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	lambda.StartWithOptions(build(cfg, d), lambda.WithContext(ctx))
}

// NewLogger is the functions' logger: JSON lines on w from level up, each
// logged with an invocation's context (slog's …Context methods) carrying
// that invocation's Lambda request id as "requestId".
//
// It does what lambdacontext.NewLogHandler of aws-lambda-go v1.55.1 does
// for the request id, but that handler does not fit as it is: it cannot wrap
// another handler (its wrapper is unexported; it builds its own on
// os.Stdout), it writes text unless AWS_LAMBDA_LOG_FORMAT is JSON (as under
// the RIE and sam local), it takes its level only from AWS_LAMBDA_LOG_LEVEL
// (the template's LOG_LEVEL would stop working) and it renames the msg and
// time keys. Here the request id comes from lambdacontext.FromContext, the
// same source.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(requestIDHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

// requestIDHandler adds the Lambda request id of the record's context.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		r.AddAttrs(slog.String("requestId", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
