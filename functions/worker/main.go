// Command worker is the queue consumer Lambda: SQS (ReportBatchItemFailures) → ConnectWise.
// Wiring only: the handler is internal/worker, assembled by internal/service/workerfn.
package main

import (
	"os"

	"github.com/efs-cw/backupbridge/internal/service"
	"github.com/efs-cw/backupbridge/internal/service/workerfn"
)

func main() {
	service.Run("worker", false, func(cfg service.Config, d service.Deps) any {
		return workerfn.New(cfg, d, workerfn.Options{MetricsOut: os.Stdout}).Handle
	})
}
