// Package tickets opens, notes and resolves ConnectWise service tickets for
// the faults backup events report: one fault, one ticket.
//
// A fault is identified by its FaultKey (partner, customer, account or "*" for
// customer-wide faults, fault kind). Each fault has a stored state in DynamoDB
// (FaultStore) and a lease lock taken with a conditional write: while one
// worker handles a fault, any other worker gets ErrBusy and does not call
// ConnectWise; its message goes back to the queue and is handled after.
//
// The lifecycle of a fault:
//
//	raised, no ticket          → open a ticket (summary, description, company by
//	                             managed ID, board, new status, priority, type,
//	                             externalXRef = the fault's reference)
//	raised, ticket open        → add a note, at most one per NoteEvery
//	raised, ticket closed by a → note it once; no new ticket until the fault
//	person while failing         clears and recurs
//	raised, ticket deleted     → forget it and open a new ticket
//	raised after resolve       → reopen the last ticket when within the partner's
//	                             reopen window, else open a new one
//	cleared, ticket open       → resolution note, then the status becomes a
//	                             closed status of the ticket's current board
//	cleared, no ticket         → nothing
//
// A ticket is tracked by id, never by board, so a ticket a person moved to
// another board is still the fault's ticket. Before a ticket is created the
// state records "creating" with the externalXRef; if the create's answer is
// lost (timeout, crash), the next attempt finds the ticket by its
// externalXRef (or, where that filter is refused, by a narrow search and an
// exact check) instead of creating a second one.
package tickets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/managedid"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// Action is what was done for one signal.
type Action string

// Actions.
const (
	ActionOpened   Action = "opened"
	ActionReopened Action = "reopened"
	ActionNoted    Action = "noted"
	ActionResolved Action = "resolved"
	ActionSkipped  Action = "skipped"
)

// Result is the outcome of one signal of an event.
type Result struct {
	Fault    FaultKey
	Signal   Signal
	Action   Action
	TicketID int
	Reason   string // why, for skipped and for the event log
	// Noop: nothing is known of this fault (a clearing signal for a fault
	// that never raised); not worth an event log line of its own.
	Noop bool
	Err  error // classified with outcome.Of
}

// Target is the partner and its ConnectWise site.
type Target struct {
	Partner   *partner.Partner
	CW        *connectwise.Client
	Companies *managedid.Directory
}

// Service applies events' signals to tickets.
type Service struct {
	Faults *FaultStore
	Boards *Boards
	Now    func() time.Time
	// Lease is the longest a worker holds a fault's lock (default 2 minutes;
	// never past the context's deadline plus a margin).
	Lease time.Duration
	Log   *slog.Logger
	// Cleared, when set, tells when backups last cleared an account's
	// backup faults, so that a backup's clearing signals write nothing.
	Cleared ClearedTimes
}

// Defaults of the partner's ticket settings.
const (
	DefaultNoteEvery    = time.Hour
	DefaultReopenWithin = 24 * time.Hour
)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) lease(ctx context.Context) time.Duration {
	l := s.Lease
	if l <= 0 {
		l = 2 * time.Minute
	}
	if dl, ok := ctx.Deadline(); ok {
		if rem := time.Until(dl) + 10*time.Second; rem < l {
			l = rem
		}
	}
	return max(l, time.Second)
}

// Apply handles every signal of an event. Each result carries its own error;
// signals are independent, and each is safe to apply again.
func (s *Service) Apply(ctx context.Context, t Target, ev *contract.Event) []Result {
	var out []Result
	for _, sig := range SignalsOf(ev) {
		out = append(out, s.apply(ctx, t, ev, sig))
	}
	return out
}

// ApplyRemovedAccounts resolves the open tickets of the accounts of a
// removed customer (a customer.removed event: its customer-wide faults are
// SignalsOf's), as account.removed events at the same time would.
func (s *Service) ApplyRemovedAccounts(ctx context.Context, t Target, ev *contract.Event, accounts []contract.Account) []Result {
	var out []Result
	for _, a := range accounts {
		for _, sig := range removalSignals(ev, &a, "the customer was removed") {
			out = append(out, s.apply(ctx, t, ev, sig))
		}
	}
	return out
}

func keyOf(p *partner.Partner, ev *contract.Event, sig Signal) FaultKey {
	acct := "*"
	if sig.Account != nil {
		acct = sig.Account.ID
	}
	return FaultKey{PartnerID: p.ID, CustomerID: ev.Customer.ID, AccountID: acct, Kind: sig.Fault}
}

// op is one signal being applied while holding its fault's lock.
type op struct {
	s     *Service
	t     Target
	ev    *contract.Event
	sig   Signal
	key   FaultKey
	owner string
	now   time.Time
	lease time.Duration
	f     Fault
	// fresh: this op's lock set Creating (LockOpening): no earlier attempt
	// can have created the ticket, so there is nothing to look up first.
	fresh bool
	// clearedAt is when backups last cleared the fault (ClearedTimes; zero
	// when unknown).
	clearedAt time.Time
}

func (s *Service) apply(ctx context.Context, t Target, ev *contract.Event, sig Signal) Result {
	key := keyOf(t.Partner, ev, sig)
	res := Result{Fault: key, Signal: sig}
	if sig.Raise && !OpensTicket(t.Partner.Rules, sig) {
		res.Action, res.Reason = ActionSkipped, fmt.Sprintf("no notification rule opens a ticket for %s at severity %s", sig.Fault, sig.Severity)
		return res
	}
	now := s.now()
	// Every signal starts with one consistent read of its fault: most need
	// no lock (and no write) at all, and the lock is taken on the condition
	// that the fault is still as read.
	f, found, err := s.Faults.Get(ctx, key)
	if err != nil {
		res.Err = err
		return res
	}
	if f.Locked(now) {
		res.Err = outcome.Transient(outcome.CodeBusy, fmt.Errorf("fault %s: %w", key, ErrBusy))
		return res
	}
	o := &op{s: s, t: t, ev: ev, sig: sig, key: key, now: now, lease: s.lease(ctx)}
	if sig.Raise && s.Cleared != nil {
		if o.clearedAt, err = s.Cleared.ClearedAt(ctx, key); err != nil {
			res.Err = err
			return res
		}
	}
	if !sig.Raise {
		quiet := !found || (!f.Creating && (f.State == StateNone || f.State == StateResolved))
		if quiet && sig.Removal {
			// A removal clears every kind of fault the account could have:
			// those without a ticket to resolve are not worth a write.
			return Result{Fault: key, Signal: sig, Action: ActionSkipped, TicketID: f.TicketID, Reason: "no open ticket for this fault", Noop: true}
		}
		if quiet {
			if r, ok := s.quietClear(ctx, key, f, found, ev, sig, now); ok {
				return r
			}
			// The fault changed meanwhile: apply the signal under its lock.
		}
	} else if found && f.State == StateOpen && !f.Creating && f.NoteAddedFor == "" && f.TicketID != 0 && now.Sub(f.LastNoteAt) < o.noteEvery() {
		if r, ok := o.stillOpen(ctx, f); ok {
			return r
		}
	}
	if o.owner, err = newOwner(); err != nil {
		res.Err = err
		return res
	}
	if sig.Raise && o.opensNew(f, found) {
		// The lock and the "creating" checkpoint in one write.
		o.f, err = s.Faults.LockOpening(ctx, key, f, found, o.owner, o.now, o.lease)
		o.fresh = err == nil
	} else {
		o.f, err = s.Faults.Lock(ctx, key, o.owner, o.now, o.lease)
	}
	if errors.Is(err, ErrBusy) {
		res.Err = outcome.Transient(outcome.CodeBusy, err)
		return res
	}
	if err != nil {
		res.Err = err
		return res
	}
	if sig.Raise {
		res.Action, res.TicketID, res.Reason, err = o.raise(ctx)
	} else {
		res.Action, res.TicketID, res.Reason, err = o.clear(ctx)
	}
	// Save the state whatever happened: what was done in ConnectWise must be
	// remembered even when a later step failed.
	if serr := s.Faults.Save(ctx, key, o.f, o.owner, o.now, o.lease, true); serr != nil {
		err = errors.Join(err, serr)
	}
	res.Err = err
	return res
}

// ClearedTimes tells when a fault was last cleared by something other than
// its own clearing signal: for an account's fault, a good backup for the
// backup faults (the account's usage item keeps it; see
// usage.Account.LastGoodAt) and the account's removal for every kind; for
// a customer-wide fault, the customer's removal. A failure older than that
// opens nothing.
type ClearedTimes interface {
	ClearedAt(ctx context.Context, k FaultKey) (time.Time, error)
}

// quietClear handles a clearing signal for a fault with no ticket to
// resolve (no state yet, none, or resolved); ok is false when the fault
// changed meanwhile and the signal must be applied under its lock.
//
// A backup's clearing signals write nothing when there is a ClearedTimes:
// the account's usage item already holds the time (so a success with no
// fault costs no write for the faults that never raised). Other clearing
// signals move the fault's last clearing time forward (so that an older
// failure delivered late opens nothing), with one conditional write and no
// lock.
func (s *Service) quietClear(ctx context.Context, key FaultKey, f Fault, found bool, ev *contract.Event, sig Signal, now time.Time) (Result, bool) {
	res := Result{Fault: key, Signal: sig, Action: ActionSkipped, TicketID: f.TicketID, Reason: "no open ticket for this fault", Noop: true}
	if s.Cleared != nil && ev.Type == contract.TypeBackupCompleted && sig.Account != nil {
		return res, true
	}
	if found && !ev.OccurredAt.After(f.LastClearedAt) {
		return res, true
	}
	done, err := s.Faults.NoteCleared(ctx, key, f, found, ev.OccurredAt, now)
	if err != nil {
		return Result{Fault: key, Signal: sig, Err: err}, true
	}
	return res, done
}

// stillOpen handles the commonest signal: a failure repeated while its
// ticket is open and its next note is not due. It reads the ticket; if a
// person has not closed (or deleted) it, nothing changes in ConnectWise, so
// the fault's last failure time moves forward with one conditional write and
// no lock. ok is false when the signal must be applied under the lock (the
// ticket was closed or deleted, or the fault changed meanwhile).
func (o *op) stillOpen(ctx context.Context, f Fault) (Result, bool) {
	res := Result{Fault: o.key, Signal: o.sig, Action: ActionSkipped, TicketID: f.TicketID}
	at := o.ev.OccurredAt
	if opposite := f.LastClearedAt; !opposite.IsZero() && at.Before(opposite) {
		res.Reason = fmt.Sprintf("event from %s is older than the fault's clearing at %s", at.Format(time.RFC3339), opposite.Format(time.RFC3339))
		return res, true
	}
	tk, _, err := o.t.CW.Tickets.Get(ctx, f.TicketID)
	if errors.Is(err, connectwise.ErrNotFound) {
		return Result{}, false
	}
	if err != nil {
		res.Action, res.Err = "", fmt.Errorf("read ticket %d: %w", f.TicketID, err)
		return res, true
	}
	if tk.ClosedFlag {
		return Result{}, false
	}
	if at.After(f.LastRaisedAt) {
		done, err := o.s.Faults.NoteRaised(ctx, o.key, f, at, o.now)
		if err != nil {
			res.Action, res.Err = "", err
			return res, true
		}
		if !done {
			return Result{}, false
		}
	}
	res.Reason = fmt.Sprintf("ticket %d is open; a note was added less than %s ago", f.TicketID, o.noteEvery())
	return res, true
}

// opensNew reports whether raising the fault as read opens a new ticket
// (not a note, a reopen, or the search for a ticket an earlier attempt may
// have created), so that the lock can carry the "creating" checkpoint.
func (o *op) opensNew(f Fault, found bool) bool {
	if f.Creating {
		return false
	}
	at := o.ev.OccurredAt
	if at.Before(f.LastClearedAt) || (!o.clearedAt.IsZero() && at.Before(o.clearedAt)) {
		return false // out of order: raise skips it
	}
	switch {
	case !found, f.State == StateNone:
		return true
	case f.State == StateResolved:
		w := o.reopenWithin()
		return !(w > 0 && f.TicketID != 0 && o.now.Sub(f.ResolvedAt) <= w)
	}
	return false
}

func (o *op) noteEvery() time.Duration {
	if m := o.t.Partner.NoteEveryMinutes; m > 0 {
		return time.Duration(m) * time.Minute
	}
	return DefaultNoteEvery
}

func (o *op) reopenWithin() time.Duration {
	p := o.t.Partner
	if p.Recurrence == "new" {
		return 0
	}
	if p.ReopenWithinHours > 0 {
		return time.Duration(p.ReopenWithinHours) * time.Hour
	}
	return DefaultReopenWithin
}

// checkpoint saves the state and keeps the lock.
func (o *op) checkpoint(ctx context.Context) error {
	if err := o.s.Faults.Save(ctx, o.key, o.f, o.owner, o.now, o.lease, false); err != nil {
		return err
	}
	o.f.Version++
	return nil
}

// outOfOrder guards against late delivery: an event older than the newest
// opposite signal (a failure older than the last clearing, or the reverse)
// changes nothing, and the reason is returned. Otherwise the event's time
// advances mine and the reason is empty.
func (o *op) outOfOrder(mine *time.Time, opposite time.Time, oppositeName string) string {
	at := o.ev.OccurredAt
	if !opposite.IsZero() && at.Before(opposite) {
		return fmt.Sprintf("event from %s is older than the fault's %s at %s", at.Format(time.RFC3339), oppositeName, opposite.Format(time.RFC3339))
	}
	if at.After(*mine) {
		*mine = at
	}
	return ""
}

func (o *op) raise(ctx context.Context) (Action, int, string, error) {
	cleared := o.f.LastClearedAt
	if o.clearedAt.After(cleared) {
		cleared = o.clearedAt
	}
	if why := o.outOfOrder(&o.f.LastRaisedAt, cleared, "clearing"); why != "" {
		return ActionSkipped, o.f.TicketID, why, nil
	}
	if o.f.NoteAddedFor == changeResolve {
		// Failing again: the resolution that did not happen is moot.
		o.f.NoteAddedFor = ""
	}
	if o.f.Creating && !o.fresh {
		id, err := o.findCreated(ctx)
		if err != nil {
			return "", 0, "", err
		}
		if id != 0 {
			o.adopt(id)
			return ActionOpened, id, "found the ticket an earlier attempt created (its answer was lost)", nil
		}
		return o.open(ctx, "")
	}
	if o.fresh {
		return o.open(ctx, "")
	}
	switch o.f.State {
	case StateOpen:
		tk, _, err := o.t.CW.Tickets.Get(ctx, o.f.TicketID)
		if errors.Is(err, connectwise.ErrNotFound) {
			gone := o.f.TicketID
			o.forget()
			return o.open(ctx, fmt.Sprintf("ticket %d was deleted in ConnectWise; ", gone))
		}
		if err != nil {
			return "", 0, "", fmt.Errorf("read ticket %d: %w", o.f.TicketID, err)
		}
		if tk.ClosedFlag {
			o.f.State = StateClosedByHand
			return o.noteClosedByHand(ctx)
		}
		if o.now.Sub(o.f.LastNoteAt) < o.noteEvery() {
			return ActionSkipped, o.f.TicketID, fmt.Sprintf("ticket %d is open; a note was added less than %s ago", o.f.TicketID, o.noteEvery()), nil
		}
		if err := o.note(ctx, "The fault is still occurring.\n\n"+o.sig.Details, noteDetail); err != nil {
			return "", 0, "", err
		}
		o.f.LastNoteAt = o.now
		return ActionNoted, o.f.TicketID, "", nil
	case StateClosedByHand:
		return o.noteClosedByHand(ctx)
	case StateResolved:
		if w := o.reopenWithin(); w > 0 && o.f.TicketID != 0 && o.now.Sub(o.f.ResolvedAt) <= w {
			return o.reopen(ctx)
		}
		o.forget()
		return o.open(ctx, "")
	}
	return o.open(ctx, "")
}

func (o *op) noteClosedByHand(ctx context.Context) (Action, int, string, error) {
	id := o.f.TicketID
	if o.f.NotedClosedByHand {
		return ActionSkipped, id, fmt.Sprintf("ticket %d was closed by a person while the fault persists; a new ticket opens after the fault clears and recurs", id), nil
	}
	err := o.note(ctx, "This fault is still occurring although the ticket was closed. No new ticket will be opened until the fault clears and then recurs.\n\n"+o.sig.Details, noteInternal)
	if errors.Is(err, connectwise.ErrNotFound) {
		o.forget()
		return o.open(ctx, fmt.Sprintf("ticket %d was deleted in ConnectWise; ", id))
	}
	if err != nil {
		return "", 0, "", err
	}
	o.f.NotedClosedByHand = true
	o.f.LastNoteAt = o.now
	return ActionNoted, id, "the ticket was closed by a person while the fault persists (noted once)", nil
}

func (o *op) reopen(ctx context.Context) (Action, int, string, error) {
	id := o.f.TicketID
	tk, _, err := o.t.CW.Tickets.Get(ctx, id)
	if errors.Is(err, connectwise.ErrNotFound) {
		o.forget()
		return o.open(ctx, fmt.Sprintf("ticket %d was deleted in ConnectWise; ", id))
	}
	if err != nil {
		return "", 0, "", fmt.Errorf("read ticket %d: %w", id, err)
	}
	board, err := o.s.Boards.Configured(ctx, o.t.CW, o.t.Partner)
	if err != nil {
		return "", 0, "", err
	}
	if tk.Board == nil || tk.Board.ID != board.ID {
		// Moved to another board since: its statuses are not ours to pick.
		o.forget()
		return o.open(ctx, fmt.Sprintf("ticket %d is on another board now; ", id))
	}
	if o.f.NoteAddedFor != changeReopen {
		if err := o.note(ctx, "The fault has recurred; the ticket is reopened.\n\n"+o.sig.Details, noteDetail); err != nil {
			return "", 0, "", err
		}
		o.f.NoteAddedFor = changeReopen
	}
	if tk.ClosedFlag {
		if _, _, err := o.t.CW.Tickets.Patch(ctx, id, []connectwise.PatchOp{connectwise.Replace("status", connectwise.Reference{ID: board.NewStatus.ID})}); err != nil {
			if connectwise.IsPermanent(err) {
				o.s.Boards.Forget(o.t.Partner)
			}
			return "", 0, "", fmt.Errorf("reopen ticket %d: %w", id, err)
		}
	}
	o.f.State, o.f.LastNoteAt, o.f.NotedClosedByHand, o.f.NoteAddedFor = StateOpen, o.now, false, ""
	return ActionReopened, id, fmt.Sprintf("recurred within %s of being resolved", o.reopenWithin()), nil
}

func (o *op) forget() {
	o.f.State, o.f.TicketID, o.f.XRef, o.f.Creating, o.f.NotedClosedByHand = StateNone, 0, "", false, false
	o.f.NoteAddedFor = ""
}

func (o *op) adopt(id int) {
	o.f.TicketID, o.f.State, o.f.Creating = id, StateOpen, false
	o.f.OpenedAt, o.f.LastNoteAt, o.f.NotedClosedByHand, o.f.NoteAddedFor = o.now, o.now, false, ""
}

// Status changes whose note goes first (Fault.NoteAddedFor).
const (
	changeResolve = "resolve"
	changeReopen  = "reopen"
)

// open creates the fault's ticket. prefix explains why, for the log.
func (o *op) open(ctx context.Context, prefix string) (Action, int, string, error) {
	company, err := o.company(ctx)
	if err == nil {
		var board Board
		if board, err = o.s.Boards.Configured(ctx, o.t.CW, o.t.Partner); err == nil {
			return o.create(ctx, prefix, company, board)
		}
	}
	if o.fresh {
		// Nothing was sent: no create to look for on the next attempt.
		o.f.Creating = false
	}
	return "", 0, "", err
}

func (o *op) create(ctx context.Context, prefix string, company managedid.Company, board Board) (Action, int, string, error) {
	if !o.f.Creating {
		o.f.Seq++
		o.f.XRef = o.key.XRef(o.f.Seq)
		o.f.Creating = true
		// Remember the reference before the create, so that a lost answer
		// is found again rather than created twice.
		if err := o.checkpoint(ctx); err != nil {
			return "", 0, "", err
		}
	}
	// A ConnectWise callback about the ticket finds the fault by the
	// reference in its externalXRef (callback.go): recorded before the
	// ticket exists.
	if err := o.s.Faults.SaveRef(ctx, o.key); err != nil {
		return "", 0, "", err
	}
	tk := &connectwise.Ticket{
		Summary:            forCW(o.summary(company), summaryField),
		Company:            &connectwise.Reference{ID: company.ID},
		Board:              &connectwise.Reference{ID: board.ID},
		Status:             &connectwise.Reference{ID: board.NewStatus.ID},
		Priority:           board.Priority,
		Type:               board.Type,
		ExternalXRef:       o.f.XRef,
		InitialDescription: forCW(o.description(company), bodyField),
	}
	created, _, err := o.t.CW.Tickets.Create(ctx, tk)
	if err != nil {
		if connectwise.IsPermanent(err) {
			// ConnectWise refused it: nothing was created. The board or a
			// status may have changed since it was cached.
			o.f.Creating = false
			o.s.Boards.Forget(o.t.Partner)
		}
		// Otherwise the ticket may exist: Creating stays set and the retry
		// looks it up by its externalXRef first.
		return "", 0, "", fmt.Errorf("create ticket for %s: %w", o.key, err)
	}
	o.adopt(created.ID)
	return ActionOpened, created.ID, strings.TrimSuffix(prefix, "; "), nil
}

func (o *op) company(ctx context.Context) (managedid.Company, error) {
	c := o.ev.Customer
	company, err := o.t.Companies.Lookup(ctx, o.t.CW, c.ManagedID())
	if errors.Is(err, managedid.ErrNotLinked) {
		name := c.ID
		if c.Name != "" {
			name = fmt.Sprintf("%s (%s)", c.ID, c.Name)
		}
		return managedid.Company{}, outcome.Permanent(outcome.CodeManagementID,
			fmt.Sprintf("In ConnectWise, open the company of customer %s, Management tab, and add the Managed ID %s under the eFolder management solution twice: device type \"Workstations and Servers\" first, then \"Backup Stats\". Then reprocess this event.", name, c.ManagedID()),
			fmt.Errorf("ConnectWise management ID error: no company has the managed ID %s", c.ManagedID()))
	}
	return company, err
}

// findCreated looks for the ticket an earlier attempt may have created, by
// its externalXRef. Where ConnectWise refuses that filter, it searches the
// company's tickets on the board whose summary has the fault's headline and
// checks the externalXRef exactly.
func (o *op) findCreated(ctx context.Context) (int, error) {
	cond, err := connectwise.Build(connectwise.Eq("externalXRef", o.f.XRef))
	if err != nil {
		return 0, err
	}
	found, _, err := o.t.CW.Tickets.List(ctx, &connectwise.ListOptions{Conditions: cond, PageSize: 10})
	if err == nil {
		for _, tk := range found {
			if tk.ExternalXRef == o.f.XRef {
				return tk.ID, nil
			}
		}
		return 0, nil
	}
	if !connectwise.IsPermanent(err) || errors.Is(err, connectwise.ErrUnauthorized) {
		return 0, fmt.Errorf("look up ticket %s: %w", o.f.XRef, err)
	}
	company, err := o.company(ctx)
	if err != nil {
		return 0, err
	}
	board, err := o.s.Boards.Configured(ctx, o.t.CW, o.t.Partner)
	if err != nil {
		return 0, err
	}
	conds := []connectwise.Condition{connectwise.Eq("company/id", company.ID), connectwise.Eq("board/id", board.ID)}
	if key := searchKey(o.summary(company), o.sig.Headline); key != "" {
		conds = append(conds, connectwise.Contains("summary", key))
	}
	cond, err = connectwise.Build(connectwise.And(conds...))
	if err != nil {
		return 0, err
	}
	for tk, err := range o.t.CW.Tickets.All(ctx, connectwise.ListOptions{Conditions: cond}) {
		if err != nil {
			return 0, fmt.Errorf("search ticket %s: %w", o.f.XRef, err)
		}
		if tk.ExternalXRef == o.f.XRef {
			return tk.ID, nil
		}
	}
	return 0, nil
}

func (o *op) clear(ctx context.Context) (Action, int, string, error) {
	if why := o.outOfOrder(&o.f.LastClearedAt, o.f.LastRaisedAt, "last failure"); why != "" {
		return ActionSkipped, o.f.TicketID, why, nil
	}
	if o.f.NoteAddedFor == changeReopen {
		o.f.NoteAddedFor = ""
	}
	if o.f.Creating {
		id, err := o.findCreated(ctx)
		if err != nil {
			return "", 0, "", err
		}
		if id == 0 {
			o.forget()
			return ActionSkipped, 0, "no ticket was created for this fault", nil
		}
		o.adopt(id)
	}
	switch o.f.State {
	case StateOpen:
	case StateClosedByHand:
		// The fault cleared: a recurrence opens a new ticket.
		id := o.f.TicketID
		o.forget()
		return ActionSkipped, id, fmt.Sprintf("the fault cleared; ticket %d had been closed by a person", id), nil
	default:
		return ActionSkipped, o.f.TicketID, "no open ticket for this fault", nil
	}
	id := o.f.TicketID
	tk, _, err := o.t.CW.Tickets.Get(ctx, id)
	if errors.Is(err, connectwise.ErrNotFound) {
		o.forget()
		return ActionSkipped, id, fmt.Sprintf("ticket %d was deleted in ConnectWise", id), nil
	}
	if err != nil {
		return "", 0, "", fmt.Errorf("read ticket %d: %w", id, err)
	}
	if tk.ClosedFlag {
		o.f.State, o.f.ResolvedAt, o.f.NoteAddedFor = StateResolved, o.now, ""
		return ActionSkipped, id, fmt.Sprintf("ticket %d was already closed", id), nil
	}
	boardID := 0
	if tk.Board != nil {
		boardID = tk.Board.ID
	}
	closed, err := o.closedStatus(ctx, boardID)
	if err != nil {
		return "", 0, "", err
	}
	if o.f.NoteAddedFor != changeResolve {
		why := "Resolved automatically: the fault has cleared."
		switch {
		case o.sig.Removal && o.sig.Account == nil:
			why = "Resolved automatically: the customer was removed from the backup service, so this fault no longer applies."
		case o.sig.Removal:
			why = "Resolved automatically: the account was removed from the backup service, so this fault no longer applies."
		}
		if err := o.note(ctx, why+"\n\n"+o.sig.Details, noteResolution); err != nil {
			return "", 0, "", err
		}
		// Saved even if the close below fails: its retry adds no second note.
		o.f.NoteAddedFor = changeResolve
	}
	if _, _, err := o.t.CW.Tickets.Patch(ctx, id, []connectwise.PatchOp{connectwise.Replace("status", connectwise.Reference{ID: closed.ID})}); err != nil {
		if connectwise.IsPermanent(err) {
			o.s.Boards.Forget(o.t.Partner)
		}
		return "", 0, "", fmt.Errorf("close ticket %d: %w", id, err)
	}
	o.f.State, o.f.ResolvedAt, o.f.NoteAddedFor = StateResolved, o.now, ""
	return ActionResolved, id, "", nil
}

func (o *op) closedStatus(ctx context.Context, boardID int) (connectwise.Reference, error) {
	board, err := o.s.Boards.Configured(ctx, o.t.CW, o.t.Partner)
	if err != nil {
		return connectwise.Reference{}, err
	}
	if boardID == board.ID || boardID == 0 {
		return board.ClosedStatus, nil
	}
	return o.s.Boards.ClosedStatusOf(ctx, o.t.CW, o.t.Partner, boardID)
}

type noteKind int

const (
	noteDetail noteKind = iota
	noteInternal
	noteResolution
)

func (o *op) note(ctx context.Context, text string, kind noteKind) error {
	n := &connectwise.TicketNote{Text: forCW(text, bodyField)}
	switch kind {
	case noteInternal:
		n.InternalAnalysisFlag = true
	case noteResolution:
		n.ResolutionFlag = true
	default:
		n.DetailDescriptionFlag = true
	}
	if _, _, err := o.t.CW.Tickets.AddNote(ctx, o.f.TicketID, n); err != nil {
		return fmt.Errorf("add note to ticket %d: %w", o.f.TicketID, err)
	}
	return nil
}

// summary is what a technician reads in the ticket list: what failed and
// where ("Backup failed: File server", the headline or else the fault kind in
// words, then the account's name or else its id), then for whom ("Acme
// Dental": the customer's name from the event, or else the ConnectWise
// company's name). Names that are empty once cleaned fall back the same way.
// At most MaxSummary characters (see MaxSummary for how they are counted);
// when it is too long both parts are kept and shortened fairly (fitSummary).
func (o *op) summary(c managedid.Company) string {
	who := connectwise.CleanLine(o.ev.Customer.Name)
	if who == "" {
		who = connectwise.CleanLine(c.Name)
	}
	what := connectwise.CleanLine(o.sig.Headline)
	if what == "" {
		what = strings.ReplaceAll(string(o.sig.Fault), "_", " ")
	}
	if a := o.sig.Account; a != nil {
		name := connectwise.CleanLine(a.Name)
		if name == "" {
			name = connectwise.CleanLine(a.ID)
		}
		if name != "" {
			what += ": " + name
		}
	}
	return fitSummary(what, who)
}

var whatToCheck = map[FaultKind]string{
	FaultKind(contract.NotifyBackupFailure):      "Check the backup agent's log on the machine, its connectivity to the backup service, and free space on the source volumes; then run the backup again.",
	FaultKind(contract.NotifyNoBackup):           "Check that the machine is powered on and online, that the backup agent service is running, and that the schedule is enabled.",
	FaultKind(contract.NotifyNoErrorFreeBackup):  "Review the warnings of the recent backups (locked or unreadable files, VSS errors) and fix or exclude what keeps failing.",
	FaultKind(contract.NotifyDiskUsage):          "Free space or extend the volume named in the details, or review retention settings.",
	FaultKind(contract.NotifyArchivingFailure):   "Check the mail server connector and the archiving service credentials.",
	FaultKind(contract.NotifyBDRHardwareFailure): "Check the BDR appliance's hardware status (disks, RAID, power) named in the details and arrange replacement parts.",
}

func (o *op) description(c managedid.Company) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", o.sig.Details)
	fmt.Fprintf(&b, "Customer: %s (customer id %s, managed ID %s, ConnectWise company %s)\n", o.ev.Customer.Name, o.ev.Customer.ID, o.ev.Customer.ManagedID(), c.Identifier)
	if a := o.sig.Account; a != nil {
		fmt.Fprintf(&b, "Account: %s", a.ID)
		if a.Name != "" {
			fmt.Fprintf(&b, " (%s)", a.Name)
		}
		if a.Kind != "" {
			fmt.Fprintf(&b, ", %s", a.Kind)
		}
		if a.Plan != "" {
			fmt.Fprintf(&b, ", plan %s", a.Plan)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Severity: %s\nOccurred: %s\n", o.sig.Severity, o.ev.OccurredAt.UTC().Format(time.RFC3339))
	if w := whatToCheck[o.sig.Fault]; w != "" {
		fmt.Fprintf(&b, "\nWhat to check: %s\n", w)
	}
	b.WriteString("\nThis ticket is managed by the backup integration: it is resolved automatically when the fault clears. Reference: " + o.f.XRef)
	return b.String()
}

func newOwner() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("lock owner token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
