// Package syncslot enforces the guide's rule for the data sync: a customer's
// ConnectWise data is pushed within a minute of an event, but not more often
// than every 12 hours (the Window). The slot lives on the customer item (see
// package usage) and is claimed with a DynamoDB conditional write, so
// concurrent events for one customer give one sync.
//
// An event that finds the window closed marks the customer pending (and moves
// it to the front of the resync's list); the change is pushed when the window
// opens, by the next event or by the daily resync. Nothing is lost: the sync
// always pushes the customer's whole current state.
package syncslot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/table"
	"github.com/efs-cw/backupbridge/internal/usage"
)

// DefaultWindow is the least time between two syncs of a customer.
const DefaultWindow = 12 * time.Hour

var zero = &types.AttributeValueMemberN{Value: "0"}

// Outcome of a claim.
type Outcome int

// Outcomes.
const (
	// Claimed: the caller holds the slot and must Complete or Release it.
	Claimed Outcome = iota
	// Throttled: the last sync is younger than the window; the customer is
	// now marked pending.
	Throttled
	// Busy: another worker is syncing the customer right now; the customer
	// is marked pending so a change that sync may have missed is not lost.
	Busy
)

// Slot is a claimed slot.
type Slot struct {
	PartnerID, CustomerID string
	owner                 string
	started               time.Time
	// State is the slot as Claim read it (for Throttled and Busy: when the
	// window opens).
	State State
	// Pushed and PushedAt, when Pushed is set, are stored by Complete: the
	// fingerprint of the figures ConnectWise now holds, and when they were
	// last compared with ConnectWise.
	Pushed   string
	PushedAt time.Time
}

// Slots claims and releases sync slots.
type Slots struct {
	DB     *dynamodb.Client
	Table  string
	Window time.Duration // default DefaultWindow
	// Lease bounds how long a crashed sync blocks the customer (default 5 min).
	Lease time.Duration
}

// claimCondition takes the slot:
//
//	attribute_exists(pk)                        the customer is registered
//	AND (attribute_not_exists(lastSyncAt)        never synced
//	     OR lastSyncAt <= :windowStart)          or the window is open (skipped when forced)
//	AND (attribute_not_exists(leaseUntil)        nobody is syncing
//	     OR leaseUntil < :now)                   or their lease ran out
const (
	claimCondition = "attribute_exists(pk) AND (attribute_not_exists(lastSyncAt) OR lastSyncAt <= :windowStart) AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)"
	forceCondition = "attribute_exists(pk) AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)"
)

func (s *Slots) window() time.Duration {
	if s.Window <= 0 {
		return DefaultWindow
	}
	return s.Window
}

// Claim tries to take the customer's slot at now. force skips the window
// (an operator's reprocess) but never runs two syncs of one customer at once.
//
// It reads the slot first (one read unit) and writes only when the read says
// the slot can be taken, or the customer is not yet marked pending: a
// conditional write whose condition fails still costs a write unit, and most
// events find the window closed and the customer already pending. The
// returned Slot carries the state read (its LastSyncAt says when the window
// opens) whatever the outcome.
func (s *Slots) Claim(ctx context.Context, partnerID, customerID string, now time.Time, force bool) (Outcome, Slot, error) {
	st, err := s.State(ctx, partnerID, customerID)
	if err != nil {
		return 0, Slot{}, err
	}
	if !st.Registered {
		return 0, Slot{}, fmt.Errorf("claim sync slot of %s/%s: %w", partnerID, customerID, ErrUnknownCustomer)
	}
	if st.LeaseUntil.After(now) || (!force && !st.IsOpen(now, s.window())) {
		return s.throttle(ctx, partnerID, customerID, now, st)
	}
	owner, err := token()
	if err != nil {
		return 0, Slot{}, err
	}
	lease := s.Lease
	if lease <= 0 {
		lease = 5 * time.Minute
	}
	cond := claimCondition
	vals := map[string]types.AttributeValue{
		":owner": table.S(owner),
		":until": table.Millis(now.Add(lease)),
		":now":   table.Millis(now),
	}
	if force {
		cond = forceCondition
	} else {
		vals[":windowStart"] = table.Millis(now.Add(-s.window()))
	}
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       table.Key(usage.CustomerPK(partnerID, customerID), usage.CustomerSK),
		UpdateExpression:          aws.String("SET leaseOwner = :owner, leaseUntil = :until"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeValues: vals,
		// A lost race answers with the item as it is now: no second read.
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return Claimed, Slot{PartnerID: partnerID, CustomerID: customerID, owner: owner, started: now, State: st}, nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return 0, Slot{}, fmt.Errorf("claim sync slot of %s/%s: %w", partnerID, customerID, err)
	}
	if len(ccf.Item) > 0 {
		st = StateOf(ccf.Item)
	} else if st, err = s.State(ctx, partnerID, customerID); err != nil {
		// An emulator that does not return the item: read it.
		return 0, Slot{}, err
	}
	if !st.Registered {
		return 0, Slot{}, fmt.Errorf("claim sync slot of %s/%s: %w", partnerID, customerID, ErrUnknownCustomer)
	}
	return s.throttle(ctx, partnerID, customerID, now, st)
}

// throttle marks the customer pending unless it already is, and says why
// the slot was not taken: Busy while another sync holds it, else Throttled.
func (s *Slots) throttle(ctx context.Context, partnerID, customerID string, now time.Time, st State) (Outcome, Slot, error) {
	if !st.Pending {
		if err := s.markPending(ctx, partnerID, customerID, now); err != nil {
			return 0, Slot{}, err
		}
		st.Pending, st.PendingSince = true, now
	}
	sl := Slot{PartnerID: partnerID, CustomerID: customerID, State: st}
	if st.LeaseUntil.After(now) {
		return Busy, sl, nil
	}
	return Throttled, sl, nil
}

// Request is an event's part in the rule: it reads the slot and reports
// whether a sync may run now (force: whatever the window). When it may not,
// the customer is marked pending (unless it already is), so that the change
// is pushed when the window opens. Request takes nothing: the sync itself
// runs as its own job and Claims the slot. One read, and a write only for
// the first event that finds the window closed.
func (s *Slots) Request(ctx context.Context, partnerID, customerID string, now time.Time, force bool) (bool, State, error) {
	st, err := s.State(ctx, partnerID, customerID)
	if err != nil {
		return false, State{}, err
	}
	if !st.Registered {
		return false, st, fmt.Errorf("request sync of %s/%s: %w", partnerID, customerID, ErrUnknownCustomer)
	}
	if force || st.IsOpen(now, s.window()) {
		return true, st, nil
	}
	if !st.Pending {
		if err := s.markPending(ctx, partnerID, customerID, now); err != nil {
			return false, st, err
		}
		st.Pending, st.PendingSince = true, now
	}
	return false, st, nil
}

// ErrUnknownCustomer is returned for a customer that never sent an event.
var ErrUnknownCustomer = errors.New("customer has sent no event yet")

// Attribute updates never use REMOVE: the in-process DynamoDB emulator
// ignores it, so "absent" is written as a value (lease 0, pending false) and
// every condition accepts both.

// markPending marks the customer pending since now, unless it already is
// (then the older pendingSince stays).
func (s *Slots) markPending(ctx context.Context, partnerID, customerID string, now time.Time) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.Table),
		Key:                 table.Key(usage.CustomerPK(partnerID, customerID), usage.CustomerSK),
		UpdateExpression:    aws.String("SET pending = :t, pendingSince = :now, gsi1sk = :gsk"),
		ConditionExpression: aws.String("attribute_not_exists(pending) OR pending = :f"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":t":   &types.AttributeValueMemberBOOL{Value: true},
			":f":   &types.AttributeValueMemberBOOL{Value: false},
			":now": table.Millis(now),
			":gsk": table.S(usage.IndexSortKey(true, customerID)),
		},
	})
	if table.IsConditionFailed(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mark %s/%s pending: %w", partnerID, customerID, err)
	}
	return nil
}

// Complete records a finished sync: the window closes from the sync's start,
// and the pending mark is cleared unless an event marked it after the sync
// started (its change may not be in this sync; it goes in the next).
func (s *Slots) Complete(ctx context.Context, sl Slot, now time.Time) error {
	key := table.Key(usage.CustomerPK(sl.PartnerID, sl.CustomerID), usage.CustomerSK)
	update := "SET lastSyncAt = :start, leaseOwner = :none, leaseUntil = :zero"
	vals := map[string]types.AttributeValue{":start": table.Millis(sl.started), ":owner": table.S(sl.owner), ":none": table.S(""), ":zero": zero}
	if sl.Pushed != "" {
		update += ", pushed = :fp, pushedAt = :pushedAt"
		vals[":fp"], vals[":pushedAt"] = table.S(sl.Pushed), table.Millis(sl.PushedAt)
	}
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       key,
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("leaseOwner = :owner"),
		ExpressionAttributeValues: vals,
	})
	if err != nil && !table.IsConditionFailed(err) {
		return fmt.Errorf("complete sync of %s/%s: %w", sl.PartnerID, sl.CustomerID, err)
	}
	// Clear pending only if nothing marked it after we started.
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       key,
		UpdateExpression:          aws.String("SET gsi1sk = :gsk, pending = :f"),
		ConditionExpression:       aws.String("attribute_not_exists(pendingSince) OR pendingSince < :start"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":gsk": table.S(usage.IndexSortKey(false, sl.CustomerID)), ":start": table.Millis(sl.started), ":f": &types.AttributeValueMemberBOOL{Value: false}},
	})
	if err != nil && !table.IsConditionFailed(err) {
		return fmt.Errorf("clear pending of %s/%s: %w", sl.PartnerID, sl.CustomerID, err)
	}
	return nil
}

// Release gives the slot up after a failed sync without closing the window,
// and marks the customer pending so the change is retried.
func (s *Slots) Release(ctx context.Context, sl Slot, now time.Time) error {
	if err := s.Abandon(ctx, sl); err != nil {
		return err
	}
	return s.markPending(ctx, sl.PartnerID, sl.CustomerID, now)
}

// Abandon gives the slot up without closing the window (nothing was synced,
// nothing is pending).
func (s *Slots) Abandon(ctx context.Context, sl Slot) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       table.Key(usage.CustomerPK(sl.PartnerID, sl.CustomerID), usage.CustomerSK),
		UpdateExpression:          aws.String("SET leaseOwner = :none, leaseUntil = :zero"),
		ConditionExpression:       aws.String("leaseOwner = :owner"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":owner": table.S(sl.owner), ":none": table.S(""), ":zero": zero},
	})
	if err != nil && !table.IsConditionFailed(err) {
		return fmt.Errorf("release sync slot of %s/%s: %w", sl.PartnerID, sl.CustomerID, err)
	}
	return nil
}

// State is a customer's slot as stored.
type State struct {
	Registered   bool
	LastSyncAt   time.Time
	Pending      bool
	PendingSince time.Time
	LeaseUntil   time.Time
	// Pushed is the fingerprint of the figures the last sync left in
	// ConnectWise, compared with ConnectWise at PushedAt ("" when unknown).
	Pushed   string
	PushedAt time.Time
}

// OpenAt is when the customer's window opens (zero: open now).
func (st State) OpenAt(window time.Duration) time.Time {
	if st.LastSyncAt.IsZero() {
		return time.Time{}
	}
	return st.LastSyncAt.Add(window)
}

// State reads a customer's slot.
func (s *Slots) State(ctx context.Context, partnerID, customerID string) (State, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            table.Key(usage.CustomerPK(partnerID, customerID), usage.CustomerSK),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return State{}, fmt.Errorf("read sync slot of %s/%s: %w", partnerID, customerID, err)
	}
	return StateOf(out.Item), nil
}

// StateOf decodes the slot attributes of a customer item.
func StateOf(item map[string]types.AttributeValue) State {
	st := State{Registered: len(item) > 0}
	st.LastSyncAt = millis(item["lastSyncAt"])
	st.PendingSince = millis(item["pendingSince"])
	st.LeaseUntil = millis(item["leaseUntil"])
	st.Pushed = table.String(item["pushed"])
	st.PushedAt = millis(item["pushedAt"])
	if b, ok := item["pending"].(*types.AttributeValueMemberBOOL); ok {
		st.Pending = b.Value
	}
	return st
}

func millis(v types.AttributeValue) time.Time {
	n, ok := v.(*types.AttributeValueMemberN)
	if !ok || n.Value == "0" {
		return time.Time{}
	}
	var ms int64
	if _, err := fmt.Sscan(n.Value, &ms); err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func token() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("slot owner token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Listed is one customer of a partner with its slot.
type Listed struct {
	CustomerID string
	State      State
}

// customersPage is how many customers Customers reads at a time.
const customersPage = 500

// Customers walks a partner's customers, pending ones first, one page of the
// byCustomer index at a time (constant memory). Each page is decoded before
// its customers are yielded, into one buffer reused for every page, so while
// the caller works on a customer the walk holds a page of Listed values
// (about 60 KiB), not the page of DynamoDB items it came from (several
// times that), whatever the number of pages.
func (s *Slots) Customers(ctx context.Context, partnerID string) iter.Seq2[Listed, error] {
	return func(yield func(Listed, error) bool) {
		page := make([]Listed, 0, customersPage)
		var start map[string]types.AttributeValue
		for {
			var err error
			page, start, err = s.customersPage(ctx, partnerID, start, page[:0])
			if err != nil {
				yield(Listed{}, err)
				return
			}
			for _, c := range page {
				if !yield(c, nil) {
					return
				}
			}
			if len(start) == 0 {
				return
			}
		}
	}
}

// customersPage reads the page of a partner's customers after start into
// page, and returns the key to read the next page from (none after the last).
func (s *Slots) customersPage(ctx context.Context, partnerID string, start map[string]types.AttributeValue, page []Listed) ([]Listed, map[string]types.AttributeValue, error) {
	out, err := s.DB.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		IndexName:                 aws.String(table.IndexByCustomer),
		KeyConditionExpression:    aws.String("gsi1pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": table.S(usage.CustomersIndexPK(partnerID))},
		ExclusiveStartKey:         start,
		Limit:                     aws.Int32(customersPage),
	})
	if err != nil {
		return page, nil, fmt.Errorf("list customers of %s: %w", partnerID, err)
	}
	for _, item := range out.Items {
		id, _ := item["customerId"].(*types.AttributeValueMemberS)
		if id == nil {
			continue
		}
		page = append(page, Listed{CustomerID: id.Value, State: StateOf(item)})
	}
	return page, out.LastEvaluatedKey, nil
}

// IsOpen reports whether a sync may start at now under window.
func (st State) IsOpen(now time.Time, window time.Duration) bool {
	return (st.LastSyncAt.IsZero() || !st.LastSyncAt.After(now.Add(-window))) && !st.LeaseUntil.After(now)
}
