// Package adminfn assembles the admin function: the operator API (package
// admin) over the partner store and secrets, the event log, the usage and
// sync-slot stores, the events queue and ConnectWise. functions/admin
// serves its Routes through lambdahttp; the local stack mounts the same
// routes behind its stand-in for IAM.
package adminfn

import (
	"github.com/efs-cw/backupbridge/internal/admin"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/service"
	"github.com/efs-cw/backupbridge/internal/syncslot"
	"github.com/efs-cw/backupbridge/internal/usage"
)

// New assembles the operator API.
func New(cfg service.Config, d service.Deps) *admin.API {
	return &admin.API{
		Partners:   &partner.Store{DB: d.DynamoDB, Table: cfg.TableName},
		Secrets:    d.CachedSecrets(),
		Log:        &eventlog.Log{DB: d.DynamoDB, Table: cfg.TableName, Retention: cfg.EventLogRetention},
		Queue:      &queue.SQS{Client: d.SQS, URL: cfg.QueueURL},
		Usage:      &usage.Store{DB: d.DynamoDB, Table: cfg.TableName},
		Customers:  &syncslot.Slots{DB: d.DynamoDB, Table: cfg.TableName},
		HTTPClient: d.ConnectWiseClient(),
		SitePolicy: cfg.SitePolicy,
		Now:        d.Clock(),
		Logger:     d.Log(),
	}
}
