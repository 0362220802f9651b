// Command webhook is the ingest Lambda: API Gateway (HTTP API) → SQS.
// Wiring only: the handler is internal/webhook, assembled by internal/service.
package main

import "github.com/efs-cw/backupbridge/internal/service"

func main() {
	service.RunLambda("webhook", true, func(s *service.Service) any { return s.Webhook.Handle })
}
