// Command admin is the operator API Lambda: API Gateway with IAM authorization.
// Wiring only: the handler is internal/admin, assembled by
// internal/service/adminfn and served through internal/lambdahttp.
package main

import (
	"github.com/efs-cw/backupbridge/internal/lambdahttp"
	"github.com/efs-cw/backupbridge/internal/service"
	"github.com/efs-cw/backupbridge/internal/service/adminfn"
)

func main() {
	service.Run("admin", true, func(cfg service.Config, d service.Deps) any {
		return lambdahttp.Handler(adminfn.New(cfg, d).Routes())
	})
}
