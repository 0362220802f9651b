// Command admin is the operator API Lambda: API Gateway with IAM authorization.
// Wiring only: the handler is internal/admin, assembled by internal/service.
package main

import "github.com/efs-cw/backupbridge/internal/service"

func main() {
	service.RunLambda("admin", true, func(s *service.Service) any { return s.Admin.Handle })
}
