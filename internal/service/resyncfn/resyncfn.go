// Package resyncfn assembles the resync function: the scheduled resync
// (package resync) over the partners, the event log, the customers' sync
// slots and the events queue. functions/resync runs it on the EventBridge
// schedule; the local stack on a ticker.
package resyncfn

import (
	"github.com/efs-cw/backupbridge/internal/eventlog"
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
		Queue:     &queue.SQS{Client: d.SQS, URL: cfg.QueueURL},
		Customers: &syncslot.Slots{DB: d.DynamoDB, Table: cfg.TableName},
		Now:       d.Clock(),
		Logger:    d.Log(),
	}
}
