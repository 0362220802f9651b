// Command resync is the scheduled Lambda: the daily resync (EventBridge
// schedule → SQS) and the partners' health tick every minute (probes of
// paused partners, replays of resuming ones).
// Wiring only: the handlers are internal/resync and internal/health,
// assembled by internal/service/resyncfn.
package main

import (
	"os"

	"github.com/efs-cw/backupbridge/internal/service"
	"github.com/efs-cw/backupbridge/internal/service/resyncfn"
)

func main() {
	service.Run("resync", true, func(cfg service.Config, d service.Deps) any {
		return resyncfn.Handler(cfg, d, os.Stdout)
	})
}
