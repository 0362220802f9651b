// Command webhook is the ingest Lambda: API Gateway (HTTP API) → SQS, for
// the backup provider's events and for ConnectWise's callbacks.
// Wiring only: the handler is internal/webhook, assembled by
// internal/service/webhookfn and served through internal/lambdahttp.
package main

import (
	"github.com/efs-cw/backupbridge/internal/lambdahttp"
	"github.com/efs-cw/backupbridge/internal/service"
	"github.com/efs-cw/backupbridge/internal/service/webhookfn"
)

func main() {
	service.Run("webhook", true, func(cfg service.Config, d service.Deps) any {
		return lambdahttp.Handler(webhookfn.Routes(cfg, d))
	})
}
