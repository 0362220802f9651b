// Command resync is the daily resync Lambda: EventBridge schedule → SQS.
// Wiring only: the handler is internal/resync, assembled by internal/service.
package main

import "github.com/efs-cw/backupbridge/internal/service"

func main() {
	service.RunLambda("resync", true, func(s *service.Service) any { return s.ResyncHandler })
}
