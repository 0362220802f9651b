// Package webhookfn assembles the webhook function: the ingest handler
// (package webhook) over the partners' webhook secrets, the events queue
// and the delivery claims in DynamoDB. functions/webhook serves its Routes
// through lambdahttp; the local stack mounts the same routes.
package webhookfn

import (
	"context"
	"net/http"
	"time"

	"github.com/efs-cw/backupbridge/internal/callback"
	"github.com/efs-cw/backupbridge/internal/claim"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/service"
	"github.com/efs-cw/backupbridge/internal/webhook"
)

// New assembles the webhook's handler.
func New(cfg service.Config, d service.Deps) *webhook.Handler {
	return &webhook.Handler{
		Secrets:    d.CachedSecrets(),
		Queue:      &queue.SQS{Client: d.SQS, URL: cfg.QueueURL},
		Deliveries: &Deliveries{Claims: &claim.Store{DB: d.DynamoDB, Table: cfg.TableName, Prefix: queue.ClaimPrefix}},
		Now:        d.Clock(),
		Log:        d.Log(),
	}
}

// Deliveries answers the webhook's question "was this delivery handled
// before?" from the worker's own record of the event's work (queue.ClaimPrefix
// and the message's ClaimKey, written by the worker when the event is done),
// and writes nothing: the webhook costs no table write. A repeat that
// arrives after the worker finished the event is acknowledged as a
// duplicate and not enqueued; a repeat that arrives while the first copy is
// still queued or being processed is enqueued again, and the worker's claim
// makes the two one piece of work. Nothing is lost: nothing is recorded
// before SQS has the message.
//
// (The first wave kept a claim of its own per webhook-id, held across the
// send and completed after it: two writes per event, to save a queue
// message in a race the worker absorbs anyway.)
type Deliveries struct {
	// Claims reads the worker's records (Prefix queue.ClaimPrefix).
	Claims *claim.Store
}

func claimKey(partnerID, webhookID string) string {
	m := queue.Message{Job: queue.JobEvent, PartnerID: partnerID, EventID: webhookID}
	return m.ClaimKey()
}

// Begin reads the worker's record of the event: DeliveryDone when its work
// is done, DeliveryNew otherwise.
func (d *Deliveries) Begin(ctx context.Context, partnerID, webhookID string, now time.Time) (webhook.DeliveryState, error) {
	st, err := d.Claims.Check(ctx, claimKey(partnerID, webhookID), now)
	if err != nil {
		return 0, err
	}
	if st == claim.Done {
		return webhook.DeliveryDone, nil
	}
	return webhook.DeliveryNew, nil
}

// Complete writes nothing: the worker records the event when it is done.
func (d *Deliveries) Complete(context.Context, string, string, time.Time) error { return nil }

// Abandon has nothing to release: nothing is written before the send.
func (d *Deliveries) Abandon(context.Context, string, string) error { return nil }

// Callbacks assembles the ConnectWise callback endpoint (package callback),
// served by the same function as the webhook: a callback is one more
// request that authenticates and enqueues.
func Callbacks(cfg service.Config, d service.Deps) *callback.Handler {
	return &callback.Handler{
		Registrations: &callback.Store{DB: d.DynamoDB, Table: cfg.TableName},
		Partners:      &partner.Store{DB: d.DynamoDB, Table: cfg.TableName},
		Queue:         &queue.SQS{Client: d.SQS, URL: cfg.QueueURL},
		HTTPClient:    d.ConnectWiseClient(),
		Now:           d.Clock(),
		Log:           d.Log(),
	}
}

// Routes are the function's routes: the webhook and the callback endpoint.
func Routes(cfg service.Config, d service.Deps) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(callback.Route, Callbacks(cfg, d).Routes())
	mux.Handle("/", New(cfg, d).Routes())
	return mux
}
