// Command resync is the daily resync Lambda: EventBridge schedule → SQS.
// Wiring only: the handler is internal/resync, assembled by internal/service/resyncfn.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"

	"github.com/efs-cw/backupbridge/internal/resync"
	"github.com/efs-cw/backupbridge/internal/service"
	"github.com/efs-cw/backupbridge/internal/service/resyncfn"
)

func main() {
	service.Run("resync", true, func(cfg service.Config, d service.Deps) any {
		r := resyncfn.New(cfg, d)
		return func(ctx context.Context, _ events.EventBridgeEvent) (resync.Report, error) { return r.Run(ctx) }
	})
}
