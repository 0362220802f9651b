// Package claim gives exactly-once effects on at-least-once infrastructure
// with DynamoDB conditional writes, in the manner of the AWS Lambda Powertools
// idempotency record: one item per key holding a status (IN_PROGRESS or
// COMPLETED), an in-progress expiry and a record expiry. Every time-dependent
// decision compares the stored times in the condition expression itself; the
// table's TTL only tidies up later (real DynamoDB deletes expired items lazily,
// days after they expire).
//
// The webhook claims `webhook-id`s with it (a repeated delivery is acknowledged
// without a second message) and the worker claims event ids (a message SQS
// delivers twice, or to two workers at once, is processed once).
package claim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/table"
)

// State is what Begin found.
type State int

// States of a claim.
const (
	// New: the caller holds the claim now and must Complete or Abandon it.
	New State = iota
	// Done: the work under this key was completed earlier.
	Done
	// InFlight: another caller holds an unexpired claim.
	InFlight
)

func (s State) String() string {
	switch s {
	case New:
		return "new"
	case Done:
		return "done"
	case InFlight:
		return "in-flight"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// ErrLost is returned by Complete when the claim is no longer the caller's
// (its in-progress expiry passed and someone else took it over).
var ErrLost = errors.New("claim lost: its in-progress expiry passed and another caller took it")

// Item attribute names and status values.
const (
	attrStatus     = "claimStatus"
	attrOwner      = "claimOwner"
	attrInProgress = "inProgressUntil" // epoch milliseconds
	attrAttempts   = "attempts"        // attempts begun, this one included
	attrLastCode   = "lastCode"        // the last abandoned attempt's failure code
	attrLastReason = "lastReason"      // and its reason in words

	statusInProgress = "IN_PROGRESS"
	statusCompleted  = "COMPLETED"
	// statusAbandoned: the last attempt gave the claim back (AbandonWith);
	// the next Begin takes it at once.
	statusAbandoned = "ABANDONED"
)

// beginCondition decides whether Begin may take the claim:
//
//	attribute_not_exists(pk)                 never claimed before
//	OR expiresAt < :nowSec                   a finished record past its retention, not yet deleted by TTL
//	OR claimStatus = ABANDONED               given back by its holder (a failed attempt)
//	OR (claimStatus = IN_PROGRESS            a lapsed claim: its holder crashed or timed out
//	    AND inProgressUntil < :nowMs)
const beginCondition = "attribute_not_exists(pk)" +
	" OR expiresAt < :nowSec" +
	" OR claimStatus = :abandoned" +
	" OR (claimStatus = :inProgress AND inProgressUntil < :nowMs)"

// completeCondition lets only the current holder complete or abandon:
//
//	claimStatus = IN_PROGRESS AND claimOwner = :owner
const completeCondition = "claimStatus = :inProgress AND claimOwner = :owner"

// Store keeps claims in a DynamoDB table with the pk/sk/expiresAt layout of
// template.yaml.
type Store struct {
	DB    *dynamodb.Client
	Table string
	// Prefix starts every key's partition key (DELIVERY#, EVENT#, …).
	Prefix string
	// Retention is how long a completed claim is remembered (how long a
	// repeat is recognised). Default 7 days.
	Retention time.Duration
}

// Claim is a claim held by the caller.
type Claim struct {
	Key   string
	owner string
	// Prior is what earlier attempts at the key left (zero: this is the
	// first attempt).
	Prior Attempt
}

func (s *Store) pk(key string) string { return s.Prefix + key }

func (s *Store) retention() time.Duration {
	if s.Retention <= 0 {
		return 7 * 24 * time.Hour
	}
	return s.Retention
}

// Begin tries to claim key until now+lease. With New the caller holds the
// claim, and Claim.Prior says what the attempts before it left (zero for the
// first); with Done or InFlight it does not, and the returned Claim is zero.
//
// The claim is one UpdateItem with ReturnValues ALL_OLD, so that taking over
// an abandoned record keeps its last failure (lastCode, lastReason) and
// reports it without a second read.
func (s *Store) Begin(ctx context.Context, key string, now time.Time, lease time.Duration) (State, Claim, error) {
	owner, err := newOwner()
	if err != nil {
		return 0, Claim{}, err
	}
	for attempt := 0; attempt < 3; attempt++ {
		out, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(s.Table),
			Key:       s.keyOf(key),
			UpdateExpression: aws.String("SET claimStatus = :inProgress, claimOwner = :owner, inProgressUntil = :until, expiresAt = :exp," +
				" attempts = if_not_exists(attempts, :zero) + :one"),
			ConditionExpression: aws.String(beginCondition),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":nowSec":     table.Seconds(now),
				":nowMs":      table.Millis(now),
				":inProgress": table.S(statusInProgress),
				":abandoned":  table.S(statusAbandoned),
				":owner":      table.S(owner),
				":until":      table.Millis(now.Add(lease)),
				":exp":        table.Seconds(now.Add(s.retention())),
				":zero":       &types.AttributeValueMemberN{Value: "0"},
				":one":        &types.AttributeValueMemberN{Value: "1"},
			},
			ReturnValues: types.ReturnValueAllOld,
		})
		if err == nil {
			return New, Claim{Key: key, owner: owner, Prior: priorOf(out.Attributes, now)}, nil
		}
		if !table.IsConditionFailed(err) {
			return 0, Claim{}, fmt.Errorf("claim %s%s: %w", s.Prefix, key, err)
		}
		// Read the record again: ReturnValuesOnConditionCheckFailure is not
		// supported by every DynamoDB implementation.
		st, found, err := s.read(ctx, key)
		if err != nil {
			return 0, Claim{}, err
		}
		if found {
			return st, Claim{}, nil
		}
		// It vanished between the two calls: try again.
	}
	return 0, Claim{}, fmt.Errorf("claim %s%s: record kept changing under us", s.Prefix, key)
}

// Attempt is what the earlier attempts at a key left on its record.
type Attempt struct {
	// Attempts counts the earlier attempts (0: none).
	Attempts int
	// Code and Reason are the last failure an attempt recorded when it
	// abandoned the claim (AbandonWith); an attempt that never came back
	// (a timeout, a crash) leaves the reason below.
	Code   string
	Reason string
}

// ReasonUnfinished is the Reason of an attempt that neither completed nor
// abandoned its claim.
const ReasonUnfinished = "an earlier attempt did not finish (the worker timed out or stopped)"

// priorOf reads the earlier attempts from the record Begin replaced (none
// when there was no record, or a completed one past its retention).
func priorOf(old map[string]types.AttributeValue, now time.Time) Attempt {
	st := table.String(old[attrStatus])
	if st == "" || st == statusCompleted {
		return Attempt{}
	}
	a := Attempt{Code: table.String(old[attrLastCode]), Reason: table.String(old[attrLastReason])}
	if n, ok := old[attrAttempts].(*types.AttributeValueMemberN); ok {
		a.Attempts, _ = strconv.Atoi(n.Value)
	}
	a.Attempts = max(a.Attempts, 1)
	if st == statusInProgress {
		// Taken over after its in-progress expiry.
		a.Code, a.Reason = "", ReasonUnfinished
	}
	return a
}

// Last reads what the attempts at key left: found is false when the key
// was never claimed (or its record expired).
func (s *Store) Last(ctx context.Context, key string) (a Attempt, state State, found bool, err error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            s.keyOf(key),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Attempt{}, 0, false, fmt.Errorf("read claim %s%s: %w", s.Prefix, key, err)
	}
	if len(out.Item) == 0 {
		return Attempt{}, 0, false, nil
	}
	a = Attempt{Code: table.String(out.Item[attrLastCode]), Reason: table.String(out.Item[attrLastReason])}
	if n, ok := out.Item[attrAttempts].(*types.AttributeValueMemberN); ok {
		a.Attempts, _ = strconv.Atoi(n.Value)
	}
	state = InFlight
	switch table.String(out.Item[attrStatus]) {
	case statusCompleted:
		state = Done
	case statusAbandoned:
		state = New
	}
	return a, state, true, nil
}

// Check reads key's record without taking it: Done when it was completed
// (and its retention has not passed), InFlight when a claim on it is held
// and unexpired, New otherwise. With MarkDone it is the one-write form of a
// claim for work whose repeat is harmless but wasteful (the webhook's
// delivery records): read, do the work, then record it done. Two callers
// that Check at once both do the work; the caller must tolerate that.
func (s *Store) Check(ctx context.Context, key string, now time.Time) (State, error) {
	st, _, err := s.Peek(ctx, key, now)
	return st, err
}

// Peek is the worker's one-write claim: it reads what earlier attempts at
// key left (Claim.Prior) without taking the key. The caller does the work,
// then records Done (MarkDone) or a failed attempt (Fail): one write per
// attempt, where Begin and Complete were two. Nothing stops two callers from
// working on one key at once, so the work itself must be safe to run twice
// concurrently (the worker's is: each fault's lock, the usage items' event
// ids and the sync slot guard every effect). A claim still held by Begin
// reads InFlight.
func (s *Store) Peek(ctx context.Context, key string, now time.Time) (State, Claim, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            s.keyOf(key),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, Claim{}, fmt.Errorf("read claim %s%s: %w", s.Prefix, key, err)
	}
	item := out.Item
	if len(item) == 0 || table.Int64(item[table.ExpiresAt]) < now.Unix() {
		return New, Claim{Key: key}, nil
	}
	switch table.String(item[attrStatus]) {
	case statusCompleted:
		return Done, Claim{}, nil
	case statusInProgress:
		if table.Int64(item[attrInProgress]) >= now.UnixMilli() {
			return InFlight, Claim{}, nil
		}
	}
	return New, Claim{Key: key, Prior: priorOf(item, now)}, nil
}

// Fail records a failed attempt at a peeked claim (one put): the next
// Peek's Prior, and Last, report it with the attempts counted so far. It
// never demotes a completed record: when another copy of the work completed
// meanwhile, Fail writes nothing and reports completed.
func (s *Store) Fail(ctx context.Context, c Claim, code, reason string, now time.Time) (completed bool, err error) {
	item := s.keyOf(c.Key)
	item[attrStatus] = table.S(statusAbandoned)
	item[attrAttempts] = &types.AttributeValueMemberN{Value: strconv.Itoa(c.Prior.Attempts + 1)}
	item[attrLastCode] = table.S(code)
	item[attrLastReason] = table.S(reason)
	item[table.ExpiresAt] = table.Seconds(now.Add(s.retention()))
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.Table),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(claimStatus) OR claimStatus <> :completed"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":completed": table.S(statusCompleted)},
	})
	if table.IsConditionFailed(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("record failed attempt %s%s: %w", s.Prefix, c.Key, err)
	}
	return false, nil
}

// MarkDone records key as completed at now, with one unconditional write:
// repeats of the key are Done until the retention passes. It returns what
// the record said of failed attempts before (zero when there was none, or it
// was not a failure): a copy of the work that failed after this one's Peek
// shows there. (An UpdateItem, not a PutItem: minidyn returns no old item
// for a put; the attempts stay on the completed record, where Last reads
// them for a dead letter.)
func (s *Store) MarkDone(ctx context.Context, key string, now time.Time) (Attempt, error) {
	out, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.Table),
		Key:              s.keyOf(key),
		UpdateExpression: aws.String("SET claimStatus = :completed, expiresAt = :exp"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":completed": table.S(statusCompleted),
			":exp":       table.Seconds(now.Add(s.retention())),
		},
		ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return Attempt{}, fmt.Errorf("record %s%s done: %w", s.Prefix, key, err)
	}
	if table.String(out.Attributes[attrStatus]) != statusAbandoned {
		return Attempt{}, nil
	}
	return priorOf(out.Attributes, now), nil
}

func (s *Store) read(ctx context.Context, key string) (State, bool, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            s.keyOf(key),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, false, fmt.Errorf("read claim %s%s: %w", s.Prefix, key, err)
	}
	if len(out.Item) == 0 {
		return 0, false, nil
	}
	if v, ok := out.Item[attrStatus].(*types.AttributeValueMemberS); ok && v.Value == statusCompleted {
		return Done, true, nil
	}
	return InFlight, true, nil
}

// Complete marks the caller's claim completed; repeats of the key are Done
// until the retention passes.
func (s *Store) Complete(ctx context.Context, c Claim, now time.Time) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.Table),
		Key:                 s.keyOf(c.Key),
		UpdateExpression:    aws.String("SET claimStatus = :completed, expiresAt = :exp REMOVE inProgressUntil"),
		ConditionExpression: aws.String(completeCondition),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":completed":  table.S(statusCompleted),
			":inProgress": table.S(statusInProgress),
			":owner":      table.S(c.owner),
			":exp":        table.Seconds(now.Add(s.retention())),
		},
	})
	if table.IsConditionFailed(err) {
		return fmt.Errorf("complete claim %s%s: %w", s.Prefix, c.Key, ErrLost)
	}
	if err != nil {
		return fmt.Errorf("complete claim %s%s: %w", s.Prefix, c.Key, err)
	}
	return nil
}

// Abandon releases the caller's claim so that a retry can take it at once.
// Releasing a claim that is no longer the caller's is not an error.
func (s *Store) Abandon(ctx context.Context, c Claim) error {
	return s.AbandonWith(ctx, c, "", "")
}

// AbandonWith is Abandon that records why the attempt failed (code and
// reason): the next attempt's Claim.Prior and Last report it, so that a
// message that reaches the dead-letter queue can say its last reason. The
// record stays (status ABANDONED) until its retention passes.
func (s *Store) AbandonWith(ctx context.Context, c Claim, code, reason string) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.Table),
		Key:                 s.keyOf(c.Key),
		UpdateExpression:    aws.String("SET claimStatus = :abandoned, claimOwner = :none, lastCode = :code, lastReason = :reason"),
		ConditionExpression: aws.String(completeCondition),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":inProgress": table.S(statusInProgress),
			":owner":      table.S(c.owner),
			":abandoned":  table.S(statusAbandoned),
			":none":       table.S("-"),
			":code":       table.S(code),
			":reason":     table.S(reason),
		},
	})
	if err != nil && !table.IsConditionFailed(err) {
		return fmt.Errorf("abandon claim %s%s: %w", s.Prefix, c.Key, err)
	}
	return nil
}

func (s *Store) keyOf(key string) map[string]types.AttributeValue {
	return table.Key(s.pk(key), "CLAIM")
}

func newOwner() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("claim owner token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
