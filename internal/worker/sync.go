package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/efs-cw/backupbridge/internal/claim"
	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/datasync"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/managedid"
	"github.com/efs-cw/backupbridge/internal/metrics"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/syncslot"
	"github.com/efs-cw/backupbridge/internal/tickets"
	"github.com/efs-cw/backupbridge/internal/usage"
)

// Sync is the worker's data-sync side (statistics, billing, invoice
// descriptions): it records every event's usage once, and syncs a customer
// when the partner's rules say "synchronize" and the customer's 12-hour
// window is open.
type Sync struct {
	Usage *usage.Store
	Slots *syncslot.Slots
	// Recorded claims "this event's usage is recorded", so a redelivered or
	// retried message does not count a backup twice.
	Recorded *claim.Store
}

// synchronizes reports whether the partner's rules synchronize on this event
// and there is anything to synchronize.
func synchronizes(p *partner.Partner, ev *contract.Event) bool {
	in := p.Integration
	if !in.UpdateBackupStatistics && !in.UpdateInvoiceDescriptions && len(in.Billing) == 0 {
		return false
	}
	for _, r := range p.Rules {
		if r.Action != partner.ActionSynchronize {
			continue
		}
		if ev.Type != contract.TypeNotification {
			if len(r.EventTypes) == 0 {
				return true
			}
			continue
		}
		n := ev.Notification
		if (len(r.Severities) == 0 || slices.Contains(r.Severities, n.Severity)) &&
			(len(r.EventTypes) == 0 || slices.Contains(r.EventTypes, n.Kind)) {
			return true
		}
	}
	return false
}

// recordUsage applies the event to the stored usage once per event.
func (w *Worker) recordUsage(ctx context.Context, m *queue.Message, ev *contract.Event) error {
	if w.Sync == nil {
		return nil
	}
	st, cl, err := w.Sync.Recorded.Begin(ctx, m.PartnerID+"#"+m.EventID, w.now(), time.Minute)
	if err != nil {
		return err
	}
	if st != claim.New {
		return nil
	}
	if err := w.Sync.Usage.Record(ctx, m.PartnerID, ev); err != nil {
		_ = w.Sync.Recorded.Abandon(context.WithoutCancel(ctx), cl)
		return fmt.Errorf("record usage: %w", err)
	}
	return w.Sync.Recorded.Complete(context.WithoutCancel(ctx), cl, w.now())
}

// syncCustomer runs the data sync of one customer if its window is open (or
// force), and records what it did. It reports whether the message must be
// retried.
//
// body is the event that triggered the sync (nil for a sync job): it is kept
// on failed entries only, so that the event can be reprocessed.
func (w *Worker) syncCustomer(ctx context.Context, log *slog.Logger, t tickets.Target, customer contract.Customer, force bool, base eventlog.Entry, body json.RawMessage, calls *atomic.Int64, started time.Time) (retry bool) {
	p := t.Partner
	slots := *w.Sync.Slots
	// The partner's window (its default when unset) both for the claim and
	// for the "throttled" message's "the window opens at".
	slots.Window = p.SyncWindow()
	base.CustomerID = customer.ID
	entry := func(what eventlog.What, oc eventlog.Outcome, msg string) eventlog.Entry {
		e := base
		e.What, e.Outcome, e.Message = what, oc, msg
		e.Calls, e.DurationMS = int(calls.Load()), w.now().Sub(started).Milliseconds()
		return e
	}
	res, slot, err := slots.Claim(ctx, p.ID, customer.ID, w.now(), force)
	if err != nil {
		return w.recordFailure(ctx, log, base, eventlog.WhatSync, nil, err, calls, started)
	}
	switch res {
	case syncslot.Throttled:
		st, _ := slots.State(ctx, p.ID, customer.ID)
		w.record(ctx, log, entry(eventlog.WhatSync, eventlog.OutcomeThrottled,
			fmt.Sprintf("throttled, pending: last sync at %s; the window opens at %s and the change is pushed then (next event or resync)",
				st.LastSyncAt.Format(time.RFC3339), st.OpenAt(slots.Window).Format(time.RFC3339))))
		return false
	case syncslot.Busy:
		w.record(ctx, log, entry(eventlog.WhatSync, eventlog.OutcomeThrottled, "pending: another sync of this customer is running; the change is pushed by the next sync"))
		return false
	}

	cust, accts, err := w.Sync.Usage.Load(ctx, p.ID, customer.ID)
	if err != nil {
		if rerr := slots.Release(context.WithoutCancel(ctx), slot, w.now()); rerr != nil {
			log.WarnContext(ctx, "release sync slot", "error", rerr)
		}
		return w.recordFailure(ctx, log, base, eventlog.WhatSync, body, err, calls, started)
	}
	figs := datasync.Aggregate(accts, cust, datasync.Rounding(p.GBRounding))
	if len(figs.Accounts) == 0 && !slices.Contains(slices.Collect(maps.Values(figs.Measured)), true) {
		// Known only by notifications: nothing measured, nothing to push
		// (pushing would write zeros over real figures), and the window
		// stays open for the first real figures.
		if err := slots.Abandon(context.WithoutCancel(ctx), slot); err != nil {
			log.WarnContext(ctx, "release sync slot", "error", err)
		}
		w.record(ctx, log, entry(eventlog.WhatSync, eventlog.OutcomeSkipped, "no backup or usage figures reported for this customer yet; nothing pushed"))
		return false
	}

	company, err := t.Companies.Lookup(ctx, t.CW, customer.ManagedID())
	if errors.Is(err, managedid.ErrNotLinked) {
		err = outcome.Permanent(outcome.CodeManagementID,
			fmt.Sprintf("In ConnectWise, add the Managed ID %s to the company of customer %s (Management tab: \"Workstations and Servers\" then \"Backup Stats\"), then reprocess.", customer.ManagedID(), customer.ID),
			fmt.Errorf("ConnectWise management ID error: no company has the managed ID %s", customer.ManagedID()))
	}
	if err == nil {
		err = w.pushData(ctx, log, t, customer, company, figs, base, body, calls, started)
	}
	if err != nil {
		if rerr := slots.Release(context.WithoutCancel(ctx), slot, w.now()); rerr != nil {
			log.WarnContext(ctx, "release sync slot", "error", rerr)
		}
		return w.recordFailure(ctx, log, base, eventlog.WhatSync, body, err, calls, started)
	}
	if err := slots.Complete(context.WithoutCancel(ctx), slot, w.now()); err != nil {
		log.WarnContext(ctx, "complete sync slot", "error", err)
	}
	if r, ok := ctx.Value(runKey{}).(*run); ok && r.prior.Attempts > 0 {
		// A retry: an earlier attempt may have left "sync retrying"; the
		// sync as a whole is done (what it pushed is in the entries above).
		w.record(ctx, log, entry(eventlog.WhatSync, eventlog.OutcomeDone, fmt.Sprintf("synced on attempt %d", r.prior.Attempts+1)))
	}
	// This sync supersedes the customer's earlier sync failures: what still
	// fails was recorded again by this run and stays listed.
	var keep []eventlog.Entry
	if r, ok := ctx.Value(runKey{}).(*run); ok {
		r.mu.Lock()
		keep = slices.Clone(r.failures)
		r.mu.Unlock()
	}
	if err := w.Log.ResolveWhere(context.WithoutCancel(ctx), p.ID, w.now(), keep, func(e eventlog.Entry) bool {
		return e.CustomerID == customer.ID && e.What.IsSync()
	}); err != nil {
		log.WarnContext(ctx, "resolve earlier sync failures", "error", err)
	}
	return false
}

// pushData pushes what changed of the customer's figures.
func (w *Worker) pushData(ctx context.Context, log *slog.Logger, t tickets.Target, customer contract.Customer, company managedid.Company, figs datasync.Figures, base eventlog.Entry, body json.RawMessage, calls *atomic.Int64, started time.Time) error {
	res, err := datasync.Sync(ctx, datasync.Request{Partner: t.Partner, CW: t.CW, CompanyID: company.ID, ManagedID: customer.ManagedID(), Figures: figs})
	if err != nil {
		return err
	}
	byWhat := map[string][]string{}
	var order []string
	for _, c := range res.Changes {
		if _, ok := byWhat[c.What]; !ok {
			order = append(order, c.What)
		}
		byWhat[c.What] = append(byWhat[c.What], describeChange(c))
	}
	for _, what := range order {
		e := base
		e.What, e.Outcome, e.Subject = eventlog.What(what), eventlog.OutcomeDone, ""
		e.Message = strings.Join(byWhat[what], "; ")
		e.Calls, e.DurationMS = int(calls.Load()), w.now().Sub(started).Milliseconds()
		w.record(ctx, log, e)
		w.Metrics.Count(map[string]float64{metrics.PushSucceeded: 1}, map[string]string{"partnerId": t.Partner.ID})
	}
	for i, se := range res.Errors {
		e := base
		e.What, e.Outcome, e.Subject = eventlog.What(se.What), eventlog.OutcomeFailed, fmt.Sprintf("%s/%d", se.Code, i)
		e.Code, e.Message, e.Remedy, e.ConnectWiseMessage, e.Event = se.Code, se.Message, se.Remedy, se.ConnectWiseMessage, body
		e.Calls, e.DurationMS = int(calls.Load()), w.now().Sub(started).Milliseconds()
		w.record(ctx, log, e)
		w.Metrics.Count(map[string]float64{metrics.PushFailed: 1}, map[string]string{"partnerId": t.Partner.ID, "code": se.Code})
	}
	if len(res.Changes) == 0 && len(res.Errors) == 0 {
		e := base
		e.What, e.Outcome, e.Message = eventlog.WhatSync, eventlog.OutcomeSkipped, "synced: ConnectWise already holds these figures, nothing written"
		e.Calls, e.DurationMS = int(calls.Load()), w.now().Sub(started).Milliseconds()
		w.record(ctx, log, e)
	}
	return nil
}

func describeChange(c datasync.Change) string {
	verb := "set"
	if c.Created {
		verb = "created"
	}
	if c.Field == "" {
		return fmt.Sprintf("%s %s", verb, c.Target)
	}
	return fmt.Sprintf("%s %s %s: %v → %v", verb, c.Target, c.Field, c.From, c.To)
}
