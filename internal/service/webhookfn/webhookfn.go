// Package webhookfn assembles the webhook function: the ingest handler
// (package webhook) over the partners' webhook secrets, the events queue
// and the delivery claims in DynamoDB. functions/webhook serves its Routes
// through lambdahttp; the local stack mounts the same routes.
package webhookfn

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/efs-cw/backupbridge/internal/claim"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/service"
	"github.com/efs-cw/backupbridge/internal/webhook"
)

// DeliveryRetention is how long an accepted webhook-id is remembered: a
// repeat within it is acknowledged as a duplicate.
const DeliveryRetention = 7 * 24 * time.Hour

// New assembles the webhook's handler.
func New(cfg service.Config, d service.Deps) *webhook.Handler {
	return &webhook.Handler{
		Secrets:    d.CachedSecrets(),
		Queue:      &queue.SQS{Client: d.SQS, URL: cfg.QueueURL},
		Deliveries: &Deliveries{Claims: &claim.Store{DB: d.DynamoDB, Table: cfg.TableName, Prefix: "DELIVERY#", Retention: DeliveryRetention}},
		Now:        d.Clock(),
		Log:        d.Log(),
	}
}

// Deliveries adapts claim.Store to the webhook's Deliveries port: a claim
// per (partner, webhook-id) held between Begin and Complete/Abandon.
type Deliveries struct {
	Claims *claim.Store
	// Lease is how long a delivery's claim is held before a retry may take
	// it over (default 30 s; the webhook's timeout is 10 s).
	Lease time.Duration

	held sync.Map // partner#webhookID → claim.Claim
}

func deliveryKey(partnerID, webhookID string) string { return partnerID + "#" + webhookID }

// Begin claims the delivery.
func (d *Deliveries) Begin(ctx context.Context, partnerID, webhookID string, now time.Time) (webhook.DeliveryState, error) {
	lease := d.Lease
	if lease <= 0 {
		lease = 30 * time.Second
	}
	st, c, err := d.Claims.Begin(ctx, deliveryKey(partnerID, webhookID), now, lease)
	if err != nil {
		return 0, err
	}
	switch st {
	case claim.Done:
		return webhook.DeliveryDone, nil
	case claim.InFlight:
		return webhook.DeliveryInFlight, nil
	}
	d.held.Store(deliveryKey(partnerID, webhookID), c)
	return webhook.DeliveryNew, nil
}

// Complete marks the delivery enqueued.
func (d *Deliveries) Complete(ctx context.Context, partnerID, webhookID string, now time.Time) error {
	v, ok := d.held.LoadAndDelete(deliveryKey(partnerID, webhookID))
	if !ok {
		return errors.New("complete delivery: not held")
	}
	return d.Claims.Complete(ctx, v.(claim.Claim), now)
}

// Abandon releases the delivery so the sender's retry can enqueue it.
func (d *Deliveries) Abandon(ctx context.Context, partnerID, webhookID string) error {
	v, ok := d.held.LoadAndDelete(deliveryKey(partnerID, webhookID))
	if !ok {
		return nil
	}
	return d.Claims.Abandon(ctx, v.(claim.Claim))
}
