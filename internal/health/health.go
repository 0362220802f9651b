// Package health keeps each partner's connection health and holds the
// partner's events while its ConnectWise cannot take them.
//
// A partner is in one of four states, stored in the table (one item per
// partner under pk HEALTH, so the health tick reads them all with one query):
//
//	healthy   events are processed
//	degraded  a transient ConnectWise failure (5xx, timeout, lost answer, a
//	          429 after the client's retries) with no success since; events
//	          are processed
//	paused    no ConnectWise call is made for the partner; its events are
//	          parked (held in the table, off the queue) in arrival order
//	resuming  a probe succeeded or an operator resumed: the parked events
//	          replay, each customer's in arrival order; new events are still
//	          parked behind them, so nothing overtakes; once none is left the
//	          partner is healthy again
//
// What pauses a partner (the worker reports each failure):
//
//   - at once, ConnectWise refusing the credentials or a permission
//     (401/403: keys revoked, the API member's security role changed);
//   - at once, a 429 whose Retry-After outlasts the worker's invocation;
//   - PauseAfterFailures (5) transient failures in a row, with no success
//     between them and none more than FailureWindow (5 minutes) after the
//     one before; a single transient failure only degrades;
//   - an operator (POST /v1/admin/partners/{id}/pause).
//
// Each pause is one conditional write that exactly one worker wins: that
// worker raises the one alarm of the pause (Alerter), whatever the number of
// events that fail at the same time.
//
// Probing: while paused (not by an operator), the health tick sends a probe
// job when NextProbeAt passes: one cheap ConnectWise read. A failed probe
// backs off from ProbeBase doubling to ProbeMax, and never earlier than a
// Retry-After ConnectWise gave. New keys saved through the operator API
// probe at once. The first probe that succeeds resumes the partner; an
// operator's pause is only lifted by an operator.
//
// Parked events are items under pk PARKED#<partner>, sk
// <customer>#<received at>#<claim key>, written in one transaction with the
// partner's parked count, on the condition that the partner is paused or
// resuming (so an event is never parked behind a partner that has just
// settled, and a duplicate delivery parks once). They have no TTL: nothing is
// dropped. Held longer than ParkedRetention (14 days, the dead-letter
// queue's retention), they are reported by the tick (an ERROR line and the
// ParkedTooLong metric, daily) and shown on the partner; they stay held.
package health

import (
	"context"
	"crypto/rand"
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

// State of a partner's connection.
type State string

// States.
const (
	Healthy  State = "healthy"
	Degraded State = "degraded"
	Paused   State = "paused"
	Resuming State = "resuming"
)

// Policy. Written down in the README ("Partner health").
const (
	// PauseAfterFailures transient failures in a row pause the partner.
	PauseAfterFailures = 5
	// FailureWindow: a failure more than this after the previous one starts
	// the count again.
	FailureWindow = 5 * time.Minute
	// ProbeBase is the wait before the first probe of a pause without a
	// Retry-After; it doubles after each failed probe, up to ProbeMax.
	ProbeBase = 30 * time.Second
	ProbeMax  = 30 * time.Minute
	// ParkedRetention is how long an event may stay parked before it is
	// reported (it is never dropped).
	ParkedRetention = 14 * 24 * time.Hour
)

// Status is a partner's health as stored.
type Status struct {
	PartnerID string `json:"partnerId" dynamodbav:"-"`
	State     State  `json:"state" dynamodbav:"state"`
	// Code and Reason say why the partner is paused or degraded
	// (CW_AUTH_FAILED, CW_RATE_LIMITED, CW_UNAVAILABLE, OPERATOR_PAUSE).
	Code   string `json:"code,omitempty" dynamodbav:"code"`
	Reason string `json:"reason,omitempty" dynamodbav:"reason"`
	// Since is when the current state began.
	Since time.Time `json:"since,omitzero" dynamodbav:"since"`
	// ByOperator: an operator paused the partner; only an operator resumes it.
	ByOperator bool `json:"byOperator,omitempty" dynamodbav:"byOperator"`
	// Failures counts transient failures in a row (degraded).
	Failures      int       `json:"failures,omitempty" dynamodbav:"failures"`
	LastFailureAt time.Time `json:"lastFailureAt,omitzero" dynamodbav:"lastFailureAt"`
	// NextProbeAt is when the next probe is due (paused, not by an operator).
	NextProbeAt    time.Time `json:"nextProbeAt,omitzero" dynamodbav:"nextProbeAt"`
	Probes         int       `json:"probes,omitempty" dynamodbav:"probes"`
	LastProbeAt    time.Time `json:"lastProbeAt,omitzero" dynamodbav:"lastProbeAt"`
	LastProbeError string    `json:"lastProbeError,omitempty" dynamodbav:"lastProbeError"`
	// PauseID names the current pause (in its alarm and its log lines).
	PauseID string `json:"pauseId,omitempty" dynamodbav:"pauseId"`
	// ReportedOldAt is when held-too-long events were last reported.
	ReportedOldAt time.Time `json:"-" dynamodbav:"reportedOldAt"`

	// PausedAt is when the partner's events began to be held: the pause
	// (kept through resuming, and through a pause again while resuming).
	// No held event is older.
	PausedAt time.Time `json:"pausedAt,omitzero" dynamodbav:"pausedAt"`

	// Parked is the number of events held. Written by Park and Unpark only.
	Parked int `json:"parked" dynamodbav:"-"`

	rev int64
}

// Holding reports whether the partner's events are parked (paused or resuming).
func (s Status) Holding() bool { return s.State == Paused || s.State == Resuming }

// ProbeDue reports whether a probe should be sent now.
func (s Status) ProbeDue(now time.Time) bool {
	return s.State == Paused && !s.ByOperator && !s.NextProbeAt.After(now)
}

// HeldTooLong reports whether events may have been held longer than
// ParkedRetention: some are held, and the pause began before that.
func (s Status) HeldTooLong(now time.Time) bool {
	return s.Holding() && s.Parked > 0 && !s.PausedAt.IsZero() && now.Sub(s.PausedAt) > ParkedRetention
}

// Store keeps partner health and parked events in the service's table.
type Store struct {
	DB    *dynamodb.Client
	Table string
}

const (
	healthPK     = "HEALTH"
	parkedPrefix = "PARKED#"

	attrParked = "parked"
	attrRev    = "rev"
)

// Get reads a partner's health; a partner never recorded is healthy.
func (s *Store) Get(ctx context.Context, partnerID string) (Status, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            table.Key(healthPK, partnerID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Status{}, fmt.Errorf("read health of partner %s: %w", partnerID, err)
	}
	if len(out.Item) == 0 {
		return Status{PartnerID: partnerID, State: Healthy}, nil
	}
	return decode(partnerID, out.Item)
}

func decode(partnerID string, item map[string]types.AttributeValue) (Status, error) {
	var st Status
	if err := attributevalue.UnmarshalMap(item, &st); err != nil {
		return Status{}, fmt.Errorf("decode health of partner %s: %w", partnerID, err)
	}
	st.PartnerID = partnerID
	if st.State == "" {
		st.State = Healthy
	}
	st.Parked = num(item[attrParked])
	st.rev = int64(num(item[attrRev]))
	return st, nil
}

func num(v types.AttributeValue) int {
	if n, ok := v.(*types.AttributeValueMemberN); ok {
		i, _ := strconv.Atoi(n.Value)
		return i
	}
	return 0
}

// List reads every partner's recorded health.
func (s *Store) List(ctx context.Context) ([]Status, error) {
	var all []Status
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": table.S(healthPK)},
		ConsistentRead:            aws.Bool(true),
	}
	for {
		out, err := s.DB.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list partner health: %w", err)
		}
		for _, item := range out.Items {
			sk, _ := item[table.SK].(*types.AttributeValueMemberS)
			if sk == nil {
				continue
			}
			st, err := decode(sk.Value, item)
			if err != nil {
				return nil, err
			}
			all = append(all, st)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return all, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// errNoChange stops update without writing.
var errNoChange = errors.New("no change")

// update reads the partner's health, lets change edit it, and writes the
// state fields back on the condition that nobody else wrote them meanwhile
// (rev), trying again on a conflict. The parked count and time are not
// touched (Park and Unpark add to them concurrently). change returns
// errNoChange to write nothing.
func (s *Store) update(ctx context.Context, partnerID string, change func(*Status) error) (before, after Status, err error) {
	for range 8 {
		before, err = s.Get(ctx, partnerID)
		if err != nil {
			return before, before, err
		}
		after = before
		if err := change(&after); err != nil {
			return before, before, err
		}
		item, err := attributevalue.MarshalMap(after)
		if err != nil {
			return before, before, fmt.Errorf("encode health of partner %s: %w", partnerID, err)
		}
		names := map[string]string{"#rev": attrRev}
		values := map[string]types.AttributeValue{
			":rev":  &types.AttributeValueMemberN{Value: strconv.FormatInt(before.rev, 10)},
			":next": &types.AttributeValueMemberN{Value: strconv.FormatInt(before.rev+1, 10)},
		}
		expr := "SET #rev = :next"
		i := 0
		for k, v := range item {
			i++
			n, val := "#a"+strconv.Itoa(i), ":a"+strconv.Itoa(i)
			names[n], values[val] = k, v
			expr += ", " + n + " = " + val
		}
		cond := "attribute_not_exists(#rev) OR #rev = :rev"
		if before.rev > 0 {
			cond = "#rev = :rev"
		}
		_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(s.Table),
			Key:                       table.Key(healthPK, partnerID),
			UpdateExpression:          aws.String(expr),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		})
		if err == nil {
			after.rev = before.rev + 1
			return before, after, nil
		}
		if !table.IsConditionFailed(err) {
			return before, before, fmt.Errorf("write health of partner %s: %w", partnerID, err)
		}
	}
	return before, before, fmt.Errorf("write health of partner %s: it kept changing under us", partnerID)
}

// Cause is why a partner is paused.
type Cause struct {
	Code   string
	Reason string
	// RetryAfter is ConnectWise's requested wait: no probe before it.
	RetryAfter time.Duration
	// ByOperator: an operator's pause (no automatic probe or resume).
	ByOperator bool
}

// Pause pauses the partner. paused reports whether this call paused it
// (the partner was not paused before): the caller raises the pause's one
// alarm. Pausing a paused partner only records an operator's hold or a
// later Retry-After.
func (s *Store) Pause(ctx context.Context, partnerID string, c Cause, now time.Time) (st Status, paused bool, err error) {
	before, after, err := s.update(ctx, partnerID, func(st *Status) error {
		if st.State == Paused {
			changed := false
			if c.ByOperator && !st.ByOperator {
				st.ByOperator, st.Code, st.Reason, changed = true, c.Code, c.Reason, true
			}
			if next := now.Add(c.RetryAfter); c.RetryAfter > 0 && next.After(st.NextProbeAt) {
				st.NextProbeAt, changed = next, true
			}
			if !changed {
				return errNoChange
			}
			return nil
		}
		pause(st, c, now)
		return nil
	})
	if errors.Is(err, errNoChange) {
		return before, false, nil
	}
	if err != nil {
		return Status{}, false, err
	}
	return after, before.State != Paused, nil
}

func pause(st *Status, c Cause, now time.Time) {
	if st.State != Resuming || st.PausedAt.IsZero() {
		st.PausedAt = now
	}
	st.State, st.Code, st.Reason, st.Since, st.ByOperator = Paused, c.Code, c.Reason, now, c.ByOperator
	st.Failures, st.Probes, st.LastProbeError = 0, 0, ""
	st.LastProbeAt = time.Time{}
	st.NextProbeAt = now.Add(max(c.RetryAfter, ProbeBase))
	if c.ByOperator {
		st.NextProbeAt = time.Time{}
	}
	st.PauseID = newID()
}

// Failure records a transient ConnectWise failure (code, reason). After
// PauseAfterFailures in a row it pauses the partner (a resuming one too);
// paused reports whether this call did. A paused partner is left as it is.
func (s *Store) Failure(ctx context.Context, partnerID, code, reason string, now time.Time) (st Status, paused bool, err error) {
	before, after, err := s.update(ctx, partnerID, func(st *Status) error {
		if st.State == Paused {
			return errNoChange
		}
		if st.LastFailureAt.IsZero() || now.Sub(st.LastFailureAt) > FailureWindow {
			st.Failures = 0
		}
		st.Failures++
		st.LastFailureAt = now
		if st.Failures >= PauseAfterFailures {
			pause(st, Cause{Code: code, Reason: fmt.Sprintf("%d ConnectWise failures in a row, the last: %s", st.Failures, reason)}, now)
			return nil
		}
		if st.State == Resuming {
			// Still replaying: counted, the state stays.
			return nil
		}
		if st.State != Degraded {
			st.State, st.Since = Degraded, now
		}
		st.Code, st.Reason = code, reason
		return nil
	})
	if errors.Is(err, errNoChange) {
		return before, false, nil
	}
	if err != nil {
		return Status{}, false, err
	}
	return after, after.State == Paused && before.State != Paused, nil
}

// Success records that ConnectWise answered: a degraded partner is healthy
// again. It writes only when there is something to clear.
func (s *Store) Success(ctx context.Context, partnerID string, now time.Time) error {
	_, _, err := s.update(ctx, partnerID, func(st *Status) error {
		if st.State != Degraded && st.Failures == 0 {
			return errNoChange
		}
		if st.State == Paused {
			return errNoChange
		}
		if st.State == Resuming {
			// A replayed event went through: the failures before it were
			// not in a row. The state stays (Settle ends the replay).
			st.Failures, st.LastFailureAt = 0, time.Time{}
			return nil
		}
		st.State, st.Since, st.Failures, st.Code, st.Reason = Healthy, now, 0, "", ""
		st.LastFailureAt = time.Time{}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	return err
}

// ErrOperatorHold is Resume's answer to a probe for a partner an operator
// paused.
var ErrOperatorHold = errors.New("an operator paused this partner; only an operator resumes it")

// Resume starts replaying a paused partner (state resuming). byOperator:
// an operator's resume, which also lifts an operator's pause. resumed
// reports whether this call resumed it.
func (s *Store) Resume(ctx context.Context, partnerID string, byOperator bool, now time.Time) (st Status, resumed bool, err error) {
	before, after, err := s.update(ctx, partnerID, func(st *Status) error {
		if st.State != Paused {
			return errNoChange
		}
		if st.ByOperator && !byOperator {
			return ErrOperatorHold
		}
		st.State, st.Since, st.ByOperator = Resuming, now, false
		st.NextProbeAt = time.Time{}
		st.Reason = "replaying the events held while paused (" + st.Code + "), each customer's in arrival order"
		return nil
	})
	if errors.Is(err, errNoChange) {
		return before, false, nil
	}
	if err != nil {
		return before, false, err
	}
	return after, true, nil
}

// ProbeScheduled moves NextProbeAt past the probe just sent, so that the
// next tick does not send another while it runs.
func (s *Store) ProbeScheduled(ctx context.Context, partnerID string, now time.Time) error {
	_, _, err := s.update(ctx, partnerID, func(st *Status) error {
		if !st.ProbeDue(now) {
			return errNoChange
		}
		st.NextProbeAt = now.Add(ProbeBase)
		return nil
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	return err
}

// ProbeFailed records a failed probe and when to probe next: ProbeBase
// doubled for each failed probe of this pause, at most ProbeMax, and not
// before retryAfter.
func (s *Store) ProbeFailed(ctx context.Context, partnerID, reason string, retryAfter time.Duration, now time.Time) (Status, error) {
	_, after, err := s.update(ctx, partnerID, func(st *Status) error {
		if st.State != Paused {
			return errNoChange
		}
		st.Probes++
		st.LastProbeAt, st.LastProbeError = now, reason
		st.NextProbeAt = now.Add(max(ProbeDelay(st.Probes), retryAfter))
		return nil
	})
	if errors.Is(err, errNoChange) {
		return after, nil
	}
	return after, err
}

// ProbeDelay is the wait after the n-th failed probe: ProbeBase·2^n, at most
// ProbeMax.
func ProbeDelay(n int) time.Duration {
	d := ProbeBase
	for i := 0; i < n && d < ProbeMax; i++ {
		d *= 2
	}
	return min(d, ProbeMax)
}

// ReportedOld records that held-too-long events were reported now.
func (s *Store) ReportedOld(ctx context.Context, partnerID string, now time.Time) error {
	_, _, err := s.update(ctx, partnerID, func(st *Status) error {
		st.ReportedOldAt = now
		return nil
	})
	return err
}

// Settle makes a resuming partner healthy once nothing is parked. settled
// reports whether it did; false with a nil error means events are still
// parked (or the partner is not resuming).
func (s *Store) Settle(ctx context.Context, partnerID string, now time.Time) (settled bool, err error) {
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Table),
		Key:       table.Key(healthPK, partnerID),
		UpdateExpression: aws.String("SET #st = :healthy, #since = :now, #code = :empty, #reason = :empty, #failures = :zero" +
			" ADD #rev :one"),
		ConditionExpression: aws.String("#st = :resuming AND (attribute_not_exists(#parked) OR #parked <= :zero)"),
		ExpressionAttributeNames: map[string]string{
			"#st": "state", "#since": "since", "#code": "code", "#reason": "reason", "#failures": "failures",
			"#rev": attrRev, "#parked": attrParked,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":healthy":  table.S(string(Healthy)),
			":resuming": table.S(string(Resuming)),
			":now":      table.S(now.UTC().Format(time.RFC3339Nano)),
			":empty":    table.S(""),
			":zero":     &types.AttributeValueMemberN{Value: "0"},
			":one":      &types.AttributeValueMemberN{Value: "1"},
		},
	})
	if table.IsConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("settle partner %s: %w", partnerID, err)
	}
	return true, nil
}

// Forget deletes a partner's health record (the partner was deleted and
// nothing of it is parked).
func (s *Store) Forget(ctx context.Context, partnerID string) error {
	_, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       table.Key(healthPK, partnerID),
		ConditionExpression:       aws.String("attribute_not_exists(#parked) OR #parked <= :zero"),
		ExpressionAttributeNames:  map[string]string{"#parked": attrParked},
		ExpressionAttributeValues: map[string]types.AttributeValue{":zero": &types.AttributeValueMemberN{Value: "0"}},
	})
	if err != nil && !table.IsConditionFailed(err) {
		return fmt.Errorf("forget health of partner %s: %w", partnerID, err)
	}
	return nil
}

func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "pause-" + hex.EncodeToString(b[:])
}
