package tickets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/table"
)

// FaultKey identifies one fault: one open ticket per key, ever.
type FaultKey struct {
	PartnerID  string
	CustomerID string
	AccountID  string // "*" for customer-wide faults
	Kind       FaultKind
}

func (k FaultKey) String() string {
	return k.PartnerID + "#" + k.CustomerID + "#" + k.AccountID + "#" + string(k.Kind)
}

// Ref is the fault's stable reference: a hash of the key, short enough for
// ConnectWise's 100-character externalXRef with a ticket sequence number.
func (k FaultKey) Ref() string {
	sum := sha256.Sum256([]byte(k.String()))
	return hex.EncodeToString(sum[:10])
}

// XRef is the externalXRef of the fault's seq-th ticket.
func (k FaultKey) XRef(seq int) string {
	return "efs:" + k.Ref() + ":" + strconv.Itoa(seq)
}

// Ticket states of a fault.
const (
	StateNone         = ""               // no ticket
	StateOpen         = "open"           // TicketID is open (as far as we know)
	StateResolved     = "resolved"       // we resolved TicketID after the fault cleared
	StateClosedByHand = "closed_by_hand" // a person closed TicketID while the fault persisted
)

// Fault is the stored state of one fault key.
type Fault struct {
	Key      string `json:"faultKey"`
	State    string `json:"state"`
	TicketID int    `json:"ticketId,omitempty"`
	Seq      int    `json:"seq"`            // tickets opened for this fault so far
	XRef     string `json:"xref,omitempty"` // externalXRef of the current ticket
	// Creating is set (with XRef) just before a ticket is created and cleared
	// when its id is stored: if it is still set, a create may have succeeded
	// without us seeing the answer, so look the ticket up before creating.
	Creating bool `json:"creating,omitempty"`
	// LastRaisedAt / LastClearedAt are the occurrence times of the newest
	// raising / clearing events applied, so that an old event delivered late
	// cannot reopen or resolve against newer facts.
	LastRaisedAt  time.Time `json:"lastRaisedAt,omitzero"`
	LastClearedAt time.Time `json:"lastClearedAt,omitzero"`
	OpenedAt      time.Time `json:"openedAt,omitzero"`
	LastNoteAt    time.Time `json:"lastNoteAt,omitzero"`
	ResolvedAt    time.Time `json:"resolvedAt,omitzero"`
	// NotedClosedByHand: the one note saying the fault persists after a person
	// closed the ticket has been added.
	NotedClosedByHand bool `json:"notedClosedByHand,omitempty"`
	// NoteAddedFor names the status change ("resolve", "reopen") whose note
	// is already on the ticket while the change itself failed, so that the
	// retry makes the change without adding the note again.
	NoteAddedFor string `json:"noteAddedFor,omitempty"`
	Version      int    `json:"version"`
	// LockOwner and LockUntil (epoch milliseconds) are the fault's lock as
	// read; Save writes them only while the lock is kept.
	LockOwner string `json:"lockOwner,omitempty"`
	LockUntil int64  `json:"lockUntil,omitempty"`
}

// Locked reports whether the fault's lock, as read, is held at now.
func (f Fault) Locked(now time.Time) bool {
	return f.LockOwner != "" && f.LockUntil >= now.UnixMilli()
}

// ErrBusy is returned by Lock when another worker holds the fault.
var ErrBusy = errors.New("fault is being handled by another worker")

// ErrLockLost is returned when the lock expired and another worker took it.
var ErrLockLost = errors.New("fault lock expired and was taken by another worker")

// FaultStore keeps fault state in DynamoDB, with a lease lock per fault.
type FaultStore struct {
	DB    *dynamodb.Client
	Table string
}

func faultPK(k FaultKey) string { return "FAULT#" + k.String() }

// lockCondition takes the fault's lock:
//
//	attribute_not_exists(lockOwner)   nobody holds it (or the item is new)
//	OR lockUntil < :now               the holder's lease ran out (crash, timeout)
const lockCondition = "attribute_not_exists(lockOwner) OR lockUntil < :now"

// Lock takes the fault's lock until now+lease and returns its state (zero for
// a new fault). The loser of a race gets ErrBusy and must not call ConnectWise.
func (s *FaultStore) Lock(ctx context.Context, k FaultKey, owner string, now time.Time, lease time.Duration) (Fault, error) {
	out, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.Table),
		Key:                 table.Key(faultPK(k), "FAULT"),
		UpdateExpression:    aws.String("SET lockOwner = :owner, lockUntil = :until"),
		ConditionExpression: aws.String(lockCondition),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":owner": table.S(owner),
			":until": table.Millis(now.Add(lease)),
			":now":   table.Millis(now),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if table.IsConditionFailed(err) {
		return Fault{}, fmt.Errorf("lock fault %s: %w", k, ErrBusy)
	}
	if err != nil {
		return Fault{}, fmt.Errorf("lock fault %s: %w", k, err)
	}
	return lockedFault(k, out.Attributes)
}

// LockOpening takes the fault's lock and, in the same write, records that
// its next ticket is being created (Creating, the next Seq and its XRef), on
// the condition that the fault is still as read (prev; found false: no item)
// and nobody holds its lock: one write where Lock and a checkpoint were two.
// A fault that changed since the read gives ErrBusy (the message is retried
// and reads it again).
func (s *FaultStore) LockOpening(ctx context.Context, k FaultKey, prev Fault, found bool, owner string, now time.Time, lease time.Duration) (Fault, error) {
	cond := "attribute_not_exists(pk)"
	values := map[string]types.AttributeValue{
		":owner": table.S(owner),
		":until": table.Millis(now.Add(lease)),
		":t":     &types.AttributeValueMemberBOOL{Value: true},
		":seq":   &types.AttributeValueMemberN{Value: strconv.Itoa(prev.Seq + 1)},
		":xref":  table.S(k.XRef(prev.Seq + 1)),
		":key":   table.S(k.String()),
	}
	if found {
		cond = "version = :v AND (attribute_not_exists(lockOwner) OR lockUntil < :now)"
		values[":v"] = &types.AttributeValueMemberN{Value: strconv.Itoa(prev.Version)}
		values[":now"] = table.Millis(now)
	}
	out, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       table.Key(faultPK(k), "FAULT"),
		UpdateExpression:          aws.String("SET lockOwner = :owner, lockUntil = :until, creating = :t, seq = :seq, xref = :xref, faultKey = :key"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if table.IsConditionFailed(err) {
		return Fault{}, fmt.Errorf("lock fault %s: %w", k, ErrBusy)
	}
	if err != nil {
		return Fault{}, fmt.Errorf("lock fault %s: %w", k, err)
	}
	return lockedFault(k, out.Attributes)
}

// lockedFault decodes the fault a lock write returned (ALL_NEW).
func lockedFault(k FaultKey, attrs map[string]types.AttributeValue) (Fault, error) {
	var f Fault
	if err := attributevalue.UnmarshalMapWithOptions(attrs, &f, func(o *attributevalue.DecoderOptions) { o.TagKey = "json" }); err != nil {
		return Fault{}, fmt.Errorf("decode fault %s: %w", k, err)
	}
	f.Key = k.String()
	return f, nil
}

// Save stores the fault's state while the caller holds the lock; with
// release it also gives the lock up.
func (s *FaultStore) Save(ctx context.Context, k FaultKey, f Fault, owner string, now time.Time, lease time.Duration, release bool) error {
	f.Key = k.String()
	f.Version++
	f.LockOwner, f.LockUntil = "", 0
	item, err := attributevalue.MarshalMapWithOptions(f, func(o *attributevalue.EncoderOptions) { o.TagKey = "json" })
	if err != nil {
		return fmt.Errorf("encode fault %s: %w", k, err)
	}
	item[table.PK] = table.S(faultPK(k))
	item[table.SK] = table.S("FAULT")
	if !release {
		item["lockOwner"] = table.S(owner)
		item["lockUntil"] = table.Millis(now.Add(lease))
	}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.Table),
		Item:      item,
		// Only the lock's holder writes.
		ConditionExpression:       aws.String("lockOwner = :owner"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":owner": table.S(owner)},
	})
	if table.IsConditionFailed(err) {
		return fmt.Errorf("save fault %s: %w", k, ErrLockLost)
	}
	if err != nil {
		return fmt.Errorf("save fault %s: %w", k, err)
	}
	return nil
}

// Get reads a fault's state without locking (for tests and the operator API).
func (s *FaultStore) Get(ctx context.Context, k FaultKey) (Fault, bool, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            table.Key(faultPK(k), "FAULT"),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Fault{}, false, fmt.Errorf("read fault %s: %w", k, err)
	}
	if len(out.Item) == 0 {
		return Fault{}, false, nil
	}
	var f Fault
	if err := attributevalue.UnmarshalMapWithOptions(out.Item, &f, func(o *attributevalue.DecoderOptions) { o.TagKey = "json" }); err != nil {
		return Fault{}, false, fmt.Errorf("decode fault %s: %w", k, err)
	}
	return f, true, nil
}
