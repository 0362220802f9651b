// Command worker is the queue consumer Lambda: SQS (ReportBatchItemFailures) → ConnectWise.
// Wiring only: the handler is internal/worker, assembled by internal/service.
package main

import "github.com/efs-cw/backupbridge/internal/service"

func main() {
	service.RunLambda("worker", false, func(s *service.Service) any { return s.Worker.Handle })
}
