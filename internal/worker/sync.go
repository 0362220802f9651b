package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/efs-cw/backupbridge/internal/audit"
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
	// Audit records every change to an agreement addition (nil: none).
	Audit *audit.Store
}

// synchronizes reports whether the partner's rules synchronize on this event
// and there is anything to synchronize.
func synchronizes(p *partner.Partner, ev *contract.Event) bool {
	in := p.Integration
	if !in.UpdateBackupStatistics && !in.UpdateInvoiceDescriptions && len(in.Billing) == 0 {
		return false
	}
	if ev.Type == contract.TypeAccountRemoved || ev.Type == contract.TypeCustomerRemoved {
		return true // billing must stop, whatever the rules say
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

// recordUsage applies the event to the stored usage once per event (the
// account item remembers the backup events it counted; see
// usage.RecordEvent).
func (w *Worker) recordUsage(ctx context.Context, m *queue.Message, ev *contract.Event) error {
	if w.Sync == nil {
		return nil
	}
	if err := w.Sync.Usage.RecordEvent(ctx, m.PartnerID, m.PartnerID+"#"+m.EventID, ev); err != nil {
		return fmt.Errorf("record usage: %w", err)
	}
	return nil
}

// SyncRequestPrefix starts the RequestID of a sync job an event asked for
// (requestSync): such a job that finds the slot taken or the window closed
// writes no log line, as the sync that took it pushes the same figures.
const SyncRequestPrefix = "event:"

// requestSync is an event's part in the data sync, off the ticket path: the
// event's own message only reads the customer's slot. When the window is open
// (or the event is an operator's reprocess) it queues a sync job for the
// customer (JobSync, carrying the event so that a failed sync can be
// reprocessed); otherwise it marks the customer pending, to be pushed when
// the window opens (by the next event or the resync). It returns the words
// for the event's log line. In the replay of a held event (a queued job
// would be held behind it while the partner resumes) and without a queue
// (unit tests) the sync runs inline, writes its own entries, and the note
// is empty.
func (w *Worker) requestSync(ctx context.Context, log *slog.Logger, t tickets.Target, customer contract.Customer, m *queue.Message, base eventlog.Entry, calls *atomic.Int64, started time.Time) (note string, retry bool) {
	force := m.Job == queue.JobReprocess
	if r, ok := ctx.Value(runKey{}).(*run); w.Queue == nil || (ok && r.replay) {
		return "", w.syncCustomer(ctx, log, t, customer, force, false, base, m.Event, calls, started)
	}
	slots := *w.Sync.Slots
	slots.Window = t.Partner.SyncWindow()
	base.CustomerID = customer.ID
	open, st, err := slots.Request(ctx, t.Partner.ID, customer.ID, w.now(), force)
	if err != nil {
		return "", w.recordFailure(ctx, log, base, eventlog.WhatSync, m.Event, err, calls, started)
	}
	if !open {
		return fmt.Sprintf("the data sync is pending: the last sync was at %s, the window opens at %s and the change is pushed then (next event or resync)",
			st.LastSyncAt.Format(time.RFC3339), st.OpenAt(slots.Window).Format(time.RFC3339)), false
	}
	job := queue.Message{Version: queue.MessageVersion, Job: queue.JobSync, PartnerID: t.Partner.ID, CustomerID: customer.ID,
		EventID: m.EventID, RequestID: SyncRequestPrefix + m.EventID + m.RequestID, Force: force, ReceivedAt: w.now(), Event: m.Event}
	if err := w.Queue.Enqueue(ctx, job); err != nil {
		return "", w.recordFailure(ctx, log, base, eventlog.WhatSync, m.Event, err, calls, started)
	}
	return "the data sync is queued as its own job", false
}

// syncCustomer runs the data sync of one customer if its window is open (or
// force), and records what it did. It reports whether the message must be
// retried.
//
// body is the event that triggered the sync (nil for a sync job of the
// resync or an operator): it is kept on failed entries only, so that the
// event can be reprocessed. quiet: the job was asked for by an event
// (requestSync), and writes no line when another sync has the slot.
//
// A sync whose figures have the fingerprint of the last push (and the same
// partner settings and managed ID) makes no ConnectWise call at all; the
// fingerprint spares the compare for FullCompareEvery, after which a sync
// compares with ConnectWise again (correcting what a person changed there).
// An operator's forced sync always compares.
func (w *Worker) syncCustomer(ctx context.Context, log *slog.Logger, t tickets.Target, customer contract.Customer, force, quiet bool, base eventlog.Entry, body json.RawMessage, calls *atomic.Int64, started time.Time) (retry bool) {
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
	if res != syncslot.Claimed && quiet {
		// Asked for by an event, and another sync has the slot (or took the
		// window) since: that sync pushes these figures; the customer is
		// marked pending in case it began before this event was recorded.
		// Silent, unless an earlier attempt of this job left "retrying".
		if r, ok := ctx.Value(runKey{}).(*run); ok && r.prior.Attempts > 0 {
			w.record(ctx, log, entry(eventlog.WhatSync, eventlog.OutcomeSkipped, fmt.Sprintf(
				"nothing left to do on attempt %d: another sync of this customer has run or is running and pushes these figures", r.prior.Attempts+1)))
		}
		return false
	}
	switch res {
	case syncslot.Throttled:
		st := slot.State
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
		if !quiet {
			// (A job an event asked for says nothing: the event's own line
			// is its last word.)
			w.record(ctx, log, entry(eventlog.WhatSync, eventlog.OutcomeSkipped, "no backup or usage figures reported for this customer yet; nothing pushed"))
		}
		return false
	}

	fp := fingerprint(p, customer.ManagedID(), figs)
	if figs.CustomerRemoved && fp == slot.State.Pushed {
		// customer.removed: its zeros were pushed once; nothing more is
		// pushed for it (not even by "sync now"), until an event newer than
		// the removal re-adds it.
		slot.Pushed, slot.PushedAt = fp, slot.State.PushedAt
		if err := slots.Complete(context.WithoutCancel(ctx), slot, w.now()); err != nil {
			log.WarnContext(ctx, "complete sync slot", "error", err)
		}
		w.record(ctx, log, entry(eventlog.WhatSync, eventlog.OutcomeSkipped, fmt.Sprintf(
			"customer removed: its quantities were set to 0 at %s; nothing more is pushed for it", slot.State.PushedAt.Format(time.RFC3339))))
		return false
	}
	if !force && fp == slot.State.Pushed && w.now().Sub(slot.State.PushedAt) < FullCompareEvery {
		slot.Pushed, slot.PushedAt = fp, slot.State.PushedAt
		if err := slots.Complete(context.WithoutCancel(ctx), slot, w.now()); err != nil {
			log.WarnContext(ctx, "complete sync slot", "error", err)
		}
		w.record(ctx, log, entry(eventlog.WhatSync, eventlog.OutcomeSkipped, fmt.Sprintf(
			"synced: nothing changed since the figures pushed at %s (same fingerprint); no ConnectWise call", slot.State.PushedAt.Format(time.RFC3339))))
		return false
	}

	company, err := t.Companies.Lookup(ctx, t.CW, customer.ManagedID())
	if errors.Is(err, managedid.ErrNotLinked) {
		err = outcome.Permanent(outcome.CodeManagementID,
			fmt.Sprintf("In ConnectWise, add the Managed ID %s to the company of customer %s (Management tab: \"Workstations and Servers\" then \"Backup Stats\"), then reprocess.", customer.ManagedID(), customer.ID),
			fmt.Errorf("ConnectWise management ID error: no company has the managed ID %s", customer.ManagedID()))
	}
	clean := false
	if err == nil {
		clean, err = w.pushData(ctx, log, t, customer, company, figs, base, body, calls, started)
	}
	if err != nil {
		if rerr := slots.Release(context.WithoutCancel(ctx), slot, w.now()); rerr != nil {
			log.WarnContext(ctx, "release sync slot", "error", rerr)
		}
		return w.recordFailure(ctx, log, base, eventlog.WhatSync, body, err, calls, started)
	}
	if clean {
		// This sync compared every part with ConnectWise (an unchanged
		// fingerprint within FullCompareEvery returned above).
		slot.Pushed, slot.PushedAt = fp, w.now()
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

// pushData pushes what changed of the customer's figures. clean reports
// that every part was pushed (no part failed): ConnectWise now holds figs.
func (w *Worker) pushData(ctx context.Context, log *slog.Logger, t tickets.Target, customer contract.Customer, company managedid.Company, figs datasync.Figures, base eventlog.Entry, body json.RawMessage, calls *atomic.Int64, started time.Time) (clean bool, err error) {
	req := datasync.Request{Partner: t.Partner, CW: t.CW, CompanyID: company.ID, ManagedID: customer.ManagedID(), Figures: figs}
	if figs.CustomerRemoved {
		req.Note = "customer removed from the backup service (customer.removed): every billed quantity set to 0, once"
	}
	var baselines map[string]audit.Baseline
	if w.Sync != nil && w.Sync.Audit != nil && len(t.Partner.Integration.Billing) > 0 {
		if baselines, err = w.Sync.Audit.Baselines(ctx, t.Partner.ID, customer.ID); err != nil {
			return false, err
		}
		req.Written = make(map[string]string, len(baselines))
		for k, b := range baselines {
			req.Written[k] = b.Value
		}
	}
	res, err := datasync.Sync(ctx, req)
	if err != nil {
		return false, err
	}
	w.audit(ctx, log, t.Partner.ID, customer.ID, base.EventID, baselines, res)
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
	return len(res.Errors) == 0, nil
}

// FullCompareEvery is how long a sync's fingerprint spares the compare with
// ConnectWise (see syncCustomer).
const FullCompareEvery = 7 * 24 * time.Hour

// fingerprint identifies what a sync would push: the figures (without the
// account items' bookkeeping), the partner's settings version and the
// managed ID.
func fingerprint(p *partner.Partner, managedID string, figs datasync.Figures) string {
	accts := make([]usage.Account, len(figs.Accounts))
	for i, a := range figs.Accounts {
		a.Applied = nil
		accts[i] = a
	}
	figs.Accounts = accts
	b, err := json.Marshal(struct {
		Version   int
		ManagedID string
		Figures   datasync.Figures
	}{p.Version, managedID, figs})
	if err != nil {
		return "" // never equal to a stored one: the sync compares
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
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

// ClearedTimes tells package tickets when backups last cleared an account's
// backup faults, from the account's usage item (which every backup event
// updates anyway): a backup's clearing signals then write no fault item.
type ClearedTimes struct {
	Usage *usage.Store
}

// ClearedAt is the newest good backup of the fault's account (for
// no_error_free_backup, the newest successful one) for the backup faults,
// or the account's removal if that is later (for every kind); for a
// customer-wide fault, the customer's removal; zero when unknown.
func (c ClearedTimes) ClearedAt(ctx context.Context, k tickets.FaultKey) (time.Time, error) {
	if k.AccountID == "*" {
		// A customer-wide fault: the customer's removal (customer.removed).
		cust, found, err := c.Usage.Customer(ctx, k.PartnerID, k.CustomerID)
		if err != nil || !found {
			return time.Time{}, err
		}
		return cust.RemovedAt, nil
	}
	a, found, err := c.Usage.Account(ctx, k.PartnerID, k.CustomerID, k.AccountID)
	if err != nil || !found {
		return time.Time{}, err
	}
	var removed time.Time
	if a.Removed() {
		removed = a.RemovedAt // account.removed: nothing older raises again
	}
	switch contract.NotificationKind(k.Kind) {
	case contract.NotifyNoErrorFreeBackup:
		return later(a.LastCleanAt, removed), nil
	case contract.NotifyBackupFailure, contract.NotifyNoBackup:
		return later(a.LastGoodAt, removed), nil
	}
	return removed, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// audit records the sync's changes to agreement additions in the billing
// audit trail (package audit), the drifts it found (in the trail and in the
// partner's drift list) and the fields' new baselines. ConnectWise already
// holds the changes, so a record that cannot be written is an ERROR line
// (alarm-worthy), not a retry.
func (w *Worker) audit(ctx context.Context, log *slog.Logger, partnerID, customerID, eventID string, written map[string]audit.Baseline, res datasync.Result) {
	if w.Sync == nil || w.Sync.Audit == nil {
		return
	}
	now := w.now()
	entry := func(a datasync.AdditionRef, kind, field, from, to, note string) audit.Entry {
		return audit.Entry{PartnerID: partnerID, CustomerID: customerID, At: now, Kind: kind,
			AgreementID: a.AgreementID, AdditionID: a.AdditionID, Product: a.Product,
			Service: string(a.Service), Field: field, From: from, To: to, EventID: eventID, Note: note}
	}
	var es []audit.Entry
	var drifts []audit.Drift
	changed := map[string]bool{}
	update := map[string]audit.Baseline{}
	for _, d := range res.Drifts {
		key := datasync.FieldKey(d.Addition.AgreementID, d.Addition.AdditionID, d.Field)
		if d.Kept {
			if written[key].KeptFound == d.Found {
				continue // reported when first found
			}
			update[key] = audit.Baseline{Value: d.Written, KeptFound: d.Found}
		}
		action, note := audit.DriftOverwritten, fmt.Sprintf("a person set %s to %q in ConnectWise (the service last wrote %q); the measured %q replaced it", d.Field, d.Found, d.Written, d.Measured)
		if d.Kept {
			action, note = audit.DriftKept, fmt.Sprintf("a person set %s to %q in ConnectWise (the service last wrote %q); kept, as the partner respects manual edits (measured: %q)", d.Field, d.Found, d.Written, d.Measured)
		}
		es = append(es, entry(d.Addition, audit.KindDrift, d.Field, d.Written, d.Found, note))
		drifts = append(drifts, audit.Drift{PartnerID: partnerID, CustomerID: customerID, DetectedAt: now,
			AgreementID: d.Addition.AgreementID, AdditionID: d.Addition.AdditionID, Product: d.Addition.Product, Service: string(d.Addition.Service),
			Field: d.Field, Written: d.Written, Found: d.Found, Measured: d.Measured, Action: action, EventID: eventID})
	}
	for _, c := range res.Changes {
		if c.Addition == nil {
			continue
		}
		changed[datasync.FieldKey(c.Addition.AgreementID, c.Addition.AdditionID, c.Field)] = true
		es = append(es, entry(*c.Addition, audit.KindChange, c.Field, datasync.ValueText(c.From), datasync.ValueText(c.To), c.Note))
	}
	for _, h := range res.Held {
		k := h.Key()
		if last, ok := written[k]; ok && last == (audit.Baseline{Value: h.Value}) {
			continue
		}
		update[k] = audit.Baseline{Value: h.Value}
		if _, known := written[k]; !known && !changed[k] {
			// First reading of a field that already held the measured
			// value: the trail starts from it (the statement's opening).
			es = append(es, entry(h.Addition, audit.KindBaseline, h.Field, h.Value, h.Value, "the addition already held the measured value when the service first read it"))
		}
	}
	ctx = context.WithoutCancel(ctx)
	if err := w.Sync.Audit.Record(ctx, es...); err != nil {
		log.ErrorContext(ctx, "billing audit trail write failed; the changes were made in ConnectWise", "error", err, "entries", len(es))
	}
	if err := w.Sync.Audit.RecordDrift(ctx, drifts...); err != nil {
		log.ErrorContext(ctx, "drift report write failed", "error", err, "drifts", len(drifts))
	}
	if len(update) > 0 {
		all := maps.Clone(written)
		if all == nil {
			all = map[string]audit.Baseline{}
		}
		maps.Copy(all, update)
		if err := w.Sync.Audit.SetBaselines(ctx, partnerID, customerID, now, all); err != nil {
			log.ErrorContext(ctx, "billing baseline write failed; the next sync may report a drift that is not one", "error", err)
		}
	}
}
