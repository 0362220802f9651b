// Package resyncfn assembles the resync function: the scheduled resync
// (package resync) over the partners, the event log, the customers' sync
// slots and the events queue, and the partners' health tick (package
// health: probes of paused partners, replays of resuming ones). functions/resync
// runs both from their EventBridge schedules (Handler); the local stack on
// tickers.
package resyncfn

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/health"
	"github.com/efs-cw/backupbridge/internal/metrics"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/resync"
	"github.com/efs-cw/backupbridge/internal/service"
	"github.com/efs-cw/backupbridge/internal/syncslot"
)

// New assembles the resync.
func New(cfg service.Config, d service.Deps) *resync.Resync {
	return &resync.Resync{
		Partners:  &partner.Store{DB: d.DynamoDB, Table: cfg.TableName},
		Log:       &eventlog.Log{DB: d.DynamoDB, Table: cfg.TableName, Retention: cfg.EventLogRetention},
		Queue:     queue.RouterFor(d.SQS, cfg.QueueURL, cfg.SyncQueueURL), // sync jobs to the sync queue
		Customers: &syncslot.Slots{DB: d.DynamoDB, Table: cfg.TableName},
		Now:       d.Clock(),
		Logger:    d.Log(),
	}
}

// Monitor assembles the health tick; its metric lines go to metricsOut
// (stdout in Lambda; nil writes none).
func Monitor(cfg service.Config, d service.Deps, metricsOut io.Writer) *health.Monitor {
	return &health.Monitor{
		Health:   &health.Store{DB: d.DynamoDB, Table: cfg.TableName},
		Partners: &partner.Store{DB: d.DynamoDB, Table: cfg.TableName},
		Queue:    &queue.SQS{Client: d.SQS, URL: cfg.QueueURL},
		Metrics:  &metrics.EMF{Namespace: cfg.MetricsNamespace, W: metricsOut, Now: d.Clock()},
		Now:      d.Clock(),
		Logger:   d.Log(),
	}
}

// TaskHealth is the input of the health schedule ({"task": "health"}, the
// rule's constant Input in template.yaml). Any other input, such as the
// daily schedule's EventBridge event, runs the resync.
const TaskHealth = "health"

// Handler is the function's Lambda handler: the health tick or the resync,
// by the input.
func Handler(cfg service.Config, d service.Deps, metricsOut io.Writer) func(context.Context, json.RawMessage) (any, error) {
	r, m := New(cfg, d), Monitor(cfg, d, metricsOut)
	return func(ctx context.Context, in json.RawMessage) (any, error) {
		var task struct {
			Task string `json:"task"`
		}
		_ = json.Unmarshal(in, &task)
		switch task.Task {
		case TaskHealth:
			return m.Tick(ctx)
		case "":
			return r.Run(ctx)
		}
		return nil, fmt.Errorf("unknown task %q: want %q or an EventBridge schedule event", task.Task, TaskHealth)
	}
}
