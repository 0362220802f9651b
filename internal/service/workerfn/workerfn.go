// Package workerfn assembles the worker function: the SQS batch handler
// (package worker) with the ticket lifecycle, the data sync and their
// DynamoDB stores. functions/worker hands Worker.Handle to the Lambda
// runtime; the local stack's event source invokes the same.
package workerfn

import (
	"context"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/efs-cw/backupbridge/internal/audit"
	"github.com/efs-cw/backupbridge/internal/claim"
	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/deadletter"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/health"
	"github.com/efs-cw/backupbridge/internal/managedid"
	"github.com/efs-cw/backupbridge/internal/metrics"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/service"
	"github.com/efs-cw/backupbridge/internal/syncslot"
	"github.com/efs-cw/backupbridge/internal/tickets"
	"github.com/efs-cw/backupbridge/internal/usage"
	"github.com/efs-cw/backupbridge/internal/worker"
)

// ClaimRetention is how long the record of a message's work (EVENT#) is
// kept: how long a repeat of it is recognised, by the worker and by the
// webhook.
const ClaimRetention = 14 * 24 * time.Hour

// QueueMaxReceives is EventsQueue's maxReceiveCount in template.yaml (the
// stackdef tests check): the receives after which a message is dead-lettered.
const QueueMaxReceives = 10

// Options are the worker's own settings. The zero value is the deployed
// configuration but for MetricsOut.
type Options struct {
	// Retry is the ConnectWise retry policy (zero: the client's defaults).
	Retry connectwise.RetryPolicy
	// RetryBase is the first wait before a failed message is retried from
	// the queue (default 10 s; see worker.RetryDelay).
	RetryBase time.Duration
	// MetricsOut receives the EMF metric lines (stdout in Lambda; nil
	// writes none).
	MetricsOut io.Writer
}

// New assembles the worker. With cfg.QueueURL set, failed messages get
// their retry delay on the queue (Requeue).
func New(cfg service.Config, d service.Deps, opts Options) *worker.Worker {
	now, logger := d.Clock(), d.Log()
	us := &usage.Store{DB: d.DynamoDB, Table: cfg.TableName}
	w := &worker.Worker{
		Partners:   &partner.Store{DB: d.DynamoDB, Table: cfg.TableName},
		Secrets:    d.CachedSecrets(),
		Claims:     &claim.Store{DB: d.DynamoDB, Table: cfg.TableName, Prefix: queue.ClaimPrefix, Retention: ClaimRetention},
		ManagedIDs: &managedid.DynamoStore{DB: d.DynamoDB, Table: cfg.TableName},
		RetryBase:  opts.RetryBase,
		Log:        &eventlog.Log{DB: d.DynamoDB, Table: cfg.TableName, Retention: cfg.EventLogRetention},
		Health:     &health.Store{DB: d.DynamoDB, Table: cfg.TableName},
		Tickets: &tickets.Service{
			Faults:  &tickets.FaultStore{DB: d.DynamoDB, Table: cfg.TableName},
			Boards:  &tickets.Boards{Now: now},
			Now:     now,
			Log:     logger,
			Cleared: worker.ClearedTimes{Usage: us},
		},
		Sync: &worker.Sync{
			Audit: &audit.Store{DB: d.DynamoDB, Table: cfg.TableName},
			Usage: us,
			Slots: &syncslot.Slots{DB: d.DynamoDB, Table: cfg.TableName},
		},
		Metrics:    &metrics.EMF{Namespace: cfg.MetricsNamespace, W: opts.MetricsOut, Now: now},
		HTTPClient: d.ConnectWiseClient(),
		Retry:      opts.Retry,
		Now:        now,
		Logger:     logger,
	}
	if cfg.QueueURL != "" {
		r := queue.RouterFor(d.SQS, cfg.QueueURL, cfg.SyncQueueURL)
		w.Requeue, w.Queue = r.Events, r
		if r.Sync != nil && cfg.SyncQueueARN != "" {
			w.SyncQueueARN, w.SyncRequeue = cfg.SyncQueueARN, r.Sync
		}
	}
	// The dead-letter queue's records (its event source mapping
	// WorkerFunctionDeadLetters) are recorded in the event log.
	w.DeadLetterARN = cfg.DeadLetterQueueARN
	w.DeadLetters = &deadletter.Recorder{Claims: w.Claims, Log: w.Log, Metrics: w.Metrics, Now: now, Logger: logger, MaxReceives: QueueMaxReceives,
		Recorded: &claim.Store{DB: d.DynamoDB, Table: cfg.TableName, Prefix: deadletter.RecordedPrefix, Retention: deadletter.RecordedRetention}}
	w.Alerts = &health.Alerter{Logger: logger}
	if cfg.AlarmTopicARN != "" {
		w.Alerts.Topic = &SNSTopic{Client: sns.NewFromConfig(d.AWS), ARN: cfg.AlarmTopicARN}
	}
	return w
}

// SNSTopic publishes a pause's alarm to an SNS topic (template.yaml's
// AlarmTopic, or the AlarmTopicArn parameter).
type SNSTopic struct {
	Client *sns.Client
	ARN    string
}

// Publish sends one message.
func (t *SNSTopic) Publish(ctx context.Context, subject, message string) error {
	_, err := t.Client.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(t.ARN), Subject: aws.String(subject), Message: aws.String(message)})
	return err
}
