// Command admin is the operator API Lambda (API Gateway with IAM
// authorization) and the operator console (its own sign-in).
// Wiring only: the handlers are internal/admin and internal/console,
// assembled by internal/service/adminfn and served through
// internal/lambdahttp.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/efs-cw/backupbridge/internal/lambdahttp"
	"github.com/efs-cw/backupbridge/internal/service"
	"github.com/efs-cw/backupbridge/internal/service/adminfn"
)

func main() {
	service.Run("admin", true, func(cfg service.Config, d service.Deps) any {
		h, err := adminfn.Handler(context.Background(), cfg, d, os.Getenv)
		if err != nil {
			fmt.Fprintf(os.Stderr, "admin: %v\n", err)
			os.Exit(1)
		}
		return lambdahttp.Handler(h)
	})
}
