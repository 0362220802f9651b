package tickets

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/table"
)

// A ConnectWise callback says only that a ticket changed. TicketChanged
// re-reads the ticket from ConnectWise (the callback's body is not trusted)
// and finds its fault by the reference this service put in the ticket's
// externalXRef (FaultKey.XRef), through an item written when the fault's
// ticket is created (SaveRef: pk XREF#<partner>#<ref>). What a person did is
// then recorded at once, under the fault's lock:
//
//	closed while the fault is open   → closed by hand (as the next failure
//	                                   would find it: a note on the next failure,
//	                                   a new ticket after it clears and recurs)
//	reopened after a close by hand   → open again
//	merged into another ticket       → the fault follows the parent ticket
//	deleted (GET answers 404)        → forgotten: the next failure opens a new one
//	moved to another board, edited   → nothing to change (tracked by id)
//
// A ticket this service did not open, or that is no longer its fault's
// current ticket, changes nothing.

// Callback actions.
const (
	ActionRecorded  Action = "recorded"  // a person's close, reopen or merge
	ActionForgotten Action = "forgotten" // the ticket was deleted
)

func refPK(partnerID, ref string) string { return "XREF#" + partnerID + "#" + ref }

// SaveRef records which fault a reference belongs to (idempotent).
func (s *FaultStore) SaveRef(ctx context.Context, k FaultKey) error {
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: map[string]types.AttributeValue{
		table.PK:     table.S(refPK(k.PartnerID, k.Ref())),
		table.SK:     table.S("XREF"),
		"customerId": table.S(k.CustomerID),
		"accountId":  table.S(k.AccountID),
		"kind":       table.S(string(k.Kind)),
	}})
	if err != nil {
		return fmt.Errorf("record the reference of fault %s: %w", k, err)
	}
	return nil
}

// KeyOfRef finds the fault of a reference.
func (s *FaultStore) KeyOfRef(ctx context.Context, partnerID, ref string) (FaultKey, bool, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: table.Key(refPK(partnerID, ref), "XREF")})
	if err != nil {
		return FaultKey{}, false, fmt.Errorf("read reference %s: %w", ref, err)
	}
	if len(out.Item) == 0 {
		return FaultKey{}, false, nil
	}
	k := FaultKey{PartnerID: partnerID, CustomerID: table.String(out.Item["customerId"]),
		AccountID: table.String(out.Item["accountId"]), Kind: FaultKind(table.String(out.Item["kind"]))}
	if k.Ref() != ref {
		return FaultKey{}, false, nil
	}
	return k, true, nil
}

// ParseXRef returns the fault reference of an externalXRef this service
// wrote ("efs:<ref>:<seq>").
func ParseXRef(x string) (ref string, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(x), "efs:")
	if !found {
		return "", false
	}
	ref, seq, found := strings.Cut(rest, ":")
	if _, err := strconv.Atoi(seq); !found || err != nil || len(ref) != 20 {
		return "", false
	}
	return ref, true
}

// TicketChanged applies what ConnectWise now says of a ticket a callback
// named. hint is the ticket as the callback's body carried it (nil when it
// carried none), deleted whether the callback said it was deleted. The
// hint is never acted on: it can only spare the re-read, when it says the
// ticket is as its fault already has it (the callbacks about the service's
// own changes: a ticket it opened, noted or resolved), and its
// externalXRef finds the fault of a deleted ticket (GET answers 404), only
// a fault whose current ticket is that very id. The result's Action is
// ActionRecorded, ActionForgotten or ActionSkipped (with the reason).
func (s *Service) TicketChanged(ctx context.Context, t Target, ticketID int, hint *connectwise.Ticket, deleted bool) Result {
	res := Result{TicketID: ticketID, Action: ActionSkipped}
	fail := func(err error) Result {
		res.Action, res.Err = "", err
		return res
	}
	var at located
	if hint != nil {
		var err error
		if at, err = s.locate(ctx, t.Partner.ID, hint.ExternalXRef); err != nil {
			return fail(err)
		}
		if !deleted && at.found && at.f.TicketID == ticketID && ticketChange(at.f, hint, false) == nil {
			res.Fault = at.key
			res.Reason = fmt.Sprintf("ticket %d is as its fault has it (state %q); not read again", ticketID, at.f.State)
			return res
		}
	}
	tk, _, err := t.CW.Tickets.Get(ctx, ticketID)
	gone := errors.Is(err, connectwise.ErrNotFound)
	if err != nil && !gone {
		return fail(fmt.Errorf("read ticket %d: %w", ticketID, err))
	}
	if !gone {
		// ConnectWise's reference, not the body's (read again only when
		// they differ).
		if ref, _ := ParseXRef(tk.ExternalXRef); ref != at.ref || ref == "" {
			if at, err = s.locate(ctx, t.Partner.ID, tk.ExternalXRef); err != nil {
				return fail(err)
			}
		}
	}
	switch {
	case at.ref == "":
		res.Reason = fmt.Sprintf("ticket %d was not opened by this service; nothing to do", ticketID)
		return res
	case !at.known:
		res.Reason = fmt.Sprintf("no fault of this partner has ticket %d's reference %s; nothing to do", ticketID, at.ref)
		return res
	}
	res.Fault = at.key
	now := s.now()
	change := ticketChange(at.f, tk, gone)
	if !at.found || at.f.TicketID != ticketID || change == nil {
		res.Reason = fmt.Sprintf("ticket %d changed in ConnectWise; nothing to record (the fault's ticket is %d, state %q)", ticketID, at.f.TicketID, at.f.State)
		return res
	}
	if at.f.Locked(now) {
		return fail(outcome.Transient(outcome.CodeBusy, fmt.Errorf("fault %s: %w", at.key, ErrBusy)))
	}
	o := &op{s: s, t: t, key: at.key, now: now, lease: s.lease(ctx)}
	if o.owner, err = newOwner(); err != nil {
		return fail(err)
	}
	if o.f, err = s.Faults.Lock(ctx, at.key, o.owner, now, o.lease); err != nil {
		if errors.Is(err, ErrBusy) {
			err = outcome.Transient(outcome.CodeBusy, err)
		}
		return fail(err)
	}
	if o.f.TicketID == ticketID {
		if change = ticketChange(o.f, tk, gone); change != nil {
			res.Action, res.Reason = change(o)
		}
	}
	if err := s.Faults.Save(ctx, at.key, o.f, o.owner, now, o.lease, true); err != nil {
		return fail(err)
	}
	if res.Reason == "" {
		res.Reason = fmt.Sprintf("ticket %d changed meanwhile; nothing to record", ticketID)
	}
	res.TicketID = o.f.TicketID
	return res
}

// located is the fault an externalXRef names: ref is empty when the
// reference is not this service's, known false when no fault has it, found
// false when the fault has no state yet.
type located struct {
	ref          string
	key          FaultKey
	known, found bool
	f            Fault
}

// locate finds the fault of an externalXRef and reads its state.
func (s *Service) locate(ctx context.Context, partnerID, xref string) (located, error) {
	ref, ok := ParseXRef(xref)
	if !ok {
		return located{}, nil
	}
	at := located{ref: ref}
	var err error
	if at.key, at.known, err = s.Faults.KeyOfRef(ctx, partnerID, ref); err != nil || !at.known {
		return at, err
	}
	at.f, at.found, err = s.Faults.Get(ctx, at.key)
	return at, err
}

// ticketChange says what a ticket's state (as ConnectWise holds it) changes
// in its fault f: nil for nothing.
func ticketChange(f Fault, tk *connectwise.Ticket, deleted bool) func(o *op) (Action, string) {
	switch {
	case deleted:
		if f.State == StateNone {
			return nil
		}
		return func(o *op) (Action, string) {
			id := o.f.TicketID
			o.forget()
			return ActionForgotten, fmt.Sprintf("ticket %d was deleted in ConnectWise; forgotten: the next failure opens a new ticket", id)
		}
	case tk.MergedParentTicket != nil && tk.MergedParentTicket.ID != 0 && tk.MergedParentTicket.ID != f.TicketID:
		return func(o *op) (Action, string) {
			id, parent := o.f.TicketID, tk.MergedParentTicket.ID
			o.f.TicketID = parent
			return ActionRecorded, fmt.Sprintf("ticket %d was merged into ticket %d; the fault now follows ticket %d", id, parent, parent)
		}
	case tk.ClosedFlag && f.State == StateOpen:
		return func(o *op) (Action, string) {
			o.f.State, o.f.NotedClosedByHand = StateClosedByHand, false
			return ActionRecorded, fmt.Sprintf("ticket %d was closed by a person while the fault persists; recorded: the next failure adds one note, and a new ticket opens after the fault clears and recurs", o.f.TicketID)
		}
	case !tk.ClosedFlag && f.State == StateClosedByHand:
		return func(o *op) (Action, string) {
			o.f.State, o.f.NotedClosedByHand = StateOpen, false
			return ActionRecorded, fmt.Sprintf("ticket %d was reopened by a person; the fault's notes go to it again", o.f.TicketID)
		}
	}
	return nil
}
