// Package adminfn assembles the admin function: the operator API (package
// admin) over the partner store and secrets, the event log, the usage and
// sync-slot stores, the events queue and ConnectWise, and the operator
// console (package console) over that API. functions/admin serves Handler
// through lambdahttp; the local stack mounts the API routes behind its
// stand-in for IAM and the console with its token sign-in (Console).
package adminfn

import (
	"context"
	"fmt"
	"github.com/efs-cw/backupbridge/internal/audit"
	"github.com/efs-cw/backupbridge/internal/callback"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/efs-cw/backupbridge/internal/admin"
	"github.com/efs-cw/backupbridge/internal/console"
	"github.com/efs-cw/backupbridge/internal/deadletter"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/health"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/service"
	"github.com/efs-cw/backupbridge/internal/syncslot"
	"github.com/efs-cw/backupbridge/internal/usage"
)

// New assembles the operator API.
func New(cfg service.Config, d service.Deps) *admin.API {
	a := &admin.API{
		Partners:   &partner.Store{DB: d.DynamoDB, Table: cfg.TableName},
		Secrets:    d.CachedSecrets(),
		Log:        &eventlog.Log{DB: d.DynamoDB, Table: cfg.TableName, Retention: cfg.EventLogRetention},
		Queue:      queue.RouterFor(d.SQS, cfg.QueueURL, cfg.SyncQueueURL), // "sync now" to the sync queue
		Usage:      &usage.Store{DB: d.DynamoDB, Table: cfg.TableName},
		Customers:  &syncslot.Slots{DB: d.DynamoDB, Table: cfg.TableName},
		Health:     &health.Store{DB: d.DynamoDB, Table: cfg.TableName},
		Audit:      &audit.Store{DB: d.DynamoDB, Table: cfg.TableName},
		Callbacks:  &callback.Store{DB: d.DynamoDB, Table: cfg.TableName},
		HTTPClient: d.ConnectWiseClient(),
		SitePolicy: cfg.SitePolicy,
		Now:        d.Clock(),
		Logger:     d.Log(),
	}
	a.DeadLetters = &deadletter.Recorder{Log: a.Log, Queue: queue.RouterFor(d.SQS, cfg.QueueURL, cfg.SyncQueueURL), Now: d.Clock(), Logger: d.Log()}
	return a
}

// Console builds the operator console over api (its Routes, called in
// process) with the sign-in auth and key, the HMAC key of its CSRF tokens
// and form nonces.
func Console(api *admin.API, auth console.Authenticator, key []byte, d service.Deps) *console.Console {
	return console.New(console.Options{API: api.Routes(), Auth: auth, SessionKey: key, Now: d.Clock(), Logger: d.Log()})
}

// Handler is the admin function's HTTP handler: the operator API under
// /v1/admin/ (API Gateway authorizes it with IAM) and, when the console's
// Cognito sign-in is configured (COGNITO_ISSUER set: console.CognitoFromSecret
// reads the app client's id and the session key from the console's secret,
// CONSOLE_SECRET_ID), the console under /console/. Without it /console/
// answers the API's 404 and the API is unchanged; a sign-in that is
// configured but broken (the secret unreadable, a setting malformed) is an
// error: the function's init fails with it.
func Handler(ctx context.Context, cfg service.Config, d service.Deps, getenv func(string) string) (http.Handler, error) {
	return handler(ctx, cfg, d, getenv, secretString(d))
}

func handler(ctx context.Context, cfg service.Config, d service.Deps, getenv func(string) string,
	fetch func(ctx context.Context, secretID string) (string, error),
) (http.Handler, error) {
	api := New(cfg, d)
	routes := api.Routes()
	auth, key, ok, err := console.CognitoFromSecret(ctx, getenv, fetch, nil)
	if err != nil {
		return nil, fmt.Errorf("operator console sign-in: %w", err)
	}
	if !ok {
		return routes, nil
	}
	c := Console(api, auth, key, d).Routes()
	mux := http.NewServeMux()
	mux.Handle("/console/", c)
	mux.Handle("/console", c)
	mux.Handle("/", routes) // /v1/admin/…, and the API's 404 for anything else
	return mux, nil
}

// secretString reads a Secrets Manager secret's string: with the partner
// secrets' client when the function has one, else a client from the
// default configuration (made only when the console is configured).
func secretString(d service.Deps) func(ctx context.Context, secretID string) (string, error) {
	return func(ctx context.Context, secretID string) (string, error) {
		var client *secretsmanager.Client
		if sm, ok := d.Secrets.(*partner.SecretsManager); ok && sm.Client != nil {
			client = sm.Client
		} else {
			awsCfg, err := config.LoadDefaultConfig(ctx)
			if err != nil {
				return "", fmt.Errorf("load AWS configuration: %w", err)
			}
			client = secretsmanager.NewFromConfig(awsCfg)
		}
		out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.SecretString), nil
	}
}
