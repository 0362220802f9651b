// Package eventlog records every push attempt and what came of it: the
// partner's event log, which replaces the eFolder portal's Event Log and its
// "Notification Processed Error List". An operator reads it newest first, for a
// partner, for one customer, or failed entries only, and each failed entry
// says in words what to fix.
package eventlog

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/table"
)

// What names what a push attempt was about.
type What string

// What was pushed.
const (
	WhatTicket        What = "ticket"
	WhatStatistics    What = "statistics"
	WhatBilling       What = "billing"
	WhatDescription   What = "description"
	WhatConfiguration What = "configuration"
	WhatEvent         What = "event" // the event as a whole (rules matched nothing, invalid, …)
	WhatSync          What = "sync"  // the data sync as a whole (throttled, nothing to change, failed)
)

// Outcome of a push attempt.
type Outcome string

// Outcomes.
const (
	OutcomeDone      Outcome = "done"
	OutcomeThrottled Outcome = "throttled"
	OutcomeSkipped   Outcome = "skipped"
	OutcomeFailed    Outcome = "failed"
	// OutcomeRetrying: a transient failure; the message went back to the
	// queue and will be tried again (then the DLQ after maxReceiveCount).
	// It is never an event's last word: a later entry says done, skipped,
	// failed, parked or dead_lettered.
	OutcomeRetrying Outcome = "retrying"
	// OutcomeParked: the partner is paused (package health); the event is
	// held, off the queue, and replayed in order when the partner resumes.
	OutcomeParked Outcome = "parked"
	// OutcomeDeadLettered: the message exhausted its receives and reached
	// the dead-letter queue; the entry carries its last reason and the
	// message, and is on the failed list until it is redriven.
	OutcomeDeadLettered Outcome = "dead_lettered"
)

// Final reports whether an entry is the last word on its step: everything
// but retrying.
func (o Outcome) Final() bool { return o != OutcomeRetrying }

// OnFailedList reports whether entries with this outcome are on the failed
// list (?failed=true, the index "failed"): failures a person must act on.
func (o Outcome) OnFailedList() bool { return o == OutcomeFailed || o == OutcomeDeadLettered }

// Entry is one push attempt.
type Entry struct {
	PartnerID  string `json:"partnerId"`
	CustomerID string `json:"customerId,omitempty"`
	EventID    string `json:"eventId"`
	EventType  string `json:"eventType,omitempty"`
	What       What   `json:"what"`
	// Subject says which part of the event the entry is about, when an event
	// has several (for tickets: the fault, "backup_failure/ACME-SRV01").
	Subject string    `json:"subject,omitempty"`
	Outcome Outcome   `json:"outcome"`
	At      time.Time `json:"at"`
	// Code is a stable error code (see the README's table); Message says what
	// happened; Remedy says in words what the operator should do.
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	Remedy  string `json:"remedy,omitempty"`
	// ConnectWiseMessage is ConnectWise's own error text, when it answered one.
	ConnectWiseMessage string `json:"connectWiseMessage,omitempty"`
	TicketID           int    `json:"ticketId,omitempty"`
	// Calls is the number of ConnectWise calls the attempt made.
	Calls      int   `json:"calls"`
	DurationMS int64 `json:"durationMs"`
	// Event is the event as received, kept on failures so that it can be
	// reprocessed after the cause is fixed.
	Event json.RawMessage `json:"event,omitempty"`
	// Queued is the queue message as it reached the dead-letter queue (only
	// on dead_lettered entries): what a redrive sends again.
	Queued json.RawMessage `json:"queued,omitempty"`
}

// Log writes and reads the event log in the service's table.
type Log struct {
	DB        *dynamodb.Client
	Table     string
	Retention time.Duration // default 90 days
}

func (l *Log) retention() time.Duration { return table.Retention(l.Retention, 90*24*time.Hour) }

func sortKey(e *Entry) string {
	return e.At.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + e.EventID + "#" + e.CustomerID + "#" + string(e.What) + "#" + e.Subject
}

// Record stores one entry. Recording the same attempt twice (same time,
// event, customer, what and subject) overwrites it.
func (l *Log) Record(ctx context.Context, e Entry) error {
	item, err := attributevalue.MarshalMapWithOptions(e, func(o *attributevalue.EncoderOptions) { o.TagKey = "json" })
	if err != nil {
		return fmt.Errorf("encode event log entry: %w", err)
	}
	sk := sortKey(&e)
	item[table.PK] = table.S("LOG#" + e.PartnerID)
	item[table.SK] = table.S(sk)
	item[table.ExpiresAt] = table.Seconds(e.At.Add(l.retention()))
	if e.CustomerID != "" {
		item[table.GSI1PK] = table.S("LOG#" + e.PartnerID + "#" + e.CustomerID)
		item[table.GSI1SK] = table.S(sk)
	}
	if e.Outcome.OnFailedList() {
		item[table.GSI2PK] = table.S("LOG#" + e.PartnerID)
		item[table.GSI2SK] = table.S(sk)
	}
	if _, err := l.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(l.Table), Item: item}); err != nil {
		return fmt.Errorf("record event log entry for %s/%s: %w", e.PartnerID, e.EventID, err)
	}
	return nil
}

// Query selects entries of one partner.
type Query struct {
	PartnerID  string
	CustomerID string // only this customer's entries
	FailedOnly bool   // only failed entries (the "Notification Processed Error List")
	EventID    string // only this event's entries (filtered after reading)
	Limit      int    // default 50, at most 500
	Cursor     string // from a previous Page
}

// Page is one page of entries, newest first.
type Page struct {
	Entries []Entry `json:"entries"`
	Cursor  string  `json:"cursor,omitempty"`
}

// List reads entries newest first.
func (l *Log) List(ctx context.Context, q Query) (Page, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	in := &dynamodb.QueryInput{
		TableName:        aws.String(l.Table),
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(int32(limit)),
	}
	switch {
	case q.FailedOnly:
		in.IndexName = aws.String(table.IndexFailed)
		in.KeyConditionExpression = aws.String("gsi2pk = :pk")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":pk": table.S("LOG#" + q.PartnerID)}
		if q.CustomerID != "" {
			in.FilterExpression = aws.String("customerId = :c")
			in.ExpressionAttributeValues[":c"] = table.S(q.CustomerID)
		}
	case q.CustomerID != "":
		in.IndexName = aws.String(table.IndexByCustomer)
		in.KeyConditionExpression = aws.String("gsi1pk = :pk")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":pk": table.S("LOG#" + q.PartnerID + "#" + q.CustomerID)}
	default:
		in.KeyConditionExpression = aws.String("pk = :pk")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":pk": table.S("LOG#" + q.PartnerID)}
	}
	if q.EventID != "" {
		f := "eventId = :e"
		if in.FilterExpression != nil {
			f = *in.FilterExpression + " AND " + f
		}
		in.FilterExpression = aws.String(f)
		in.ExpressionAttributeValues[":e"] = table.S(q.EventID)
	}
	if q.Cursor != "" {
		start, err := decodeCursor(q.Cursor)
		if err != nil {
			return Page{}, err
		}
		in.ExclusiveStartKey = start
	}
	out, err := l.DB.Query(ctx, in)
	if err != nil {
		return Page{}, fmt.Errorf("read event log of %s: %w", q.PartnerID, err)
	}
	var p Page
	for _, item := range out.Items {
		var e Entry
		if err := attributevalue.UnmarshalMapWithOptions(item, &e, func(o *attributevalue.DecoderOptions) { o.TagKey = "json" }); err != nil {
			return Page{}, fmt.Errorf("decode event log entry: %w", err)
		}
		p.Entries = append(p.Entries, e)
	}
	if len(out.LastEvaluatedKey) > 0 {
		p.Cursor, err = encodeCursor(out.LastEvaluatedKey)
		if err != nil {
			return Page{}, err
		}
	}
	return p, nil
}

// The cursor is the LastEvaluatedKey's string attributes, JSON then base64.
func encodeCursor(key map[string]types.AttributeValue) (string, error) {
	m := map[string]string{}
	for k, v := range key {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			m[k] = s.Value
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func decodeCursor(c string) (map[string]types.AttributeValue, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, fmt.Errorf("cursor is not valid: %w", err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("cursor is not valid: %w", err)
	}
	key := map[string]types.AttributeValue{}
	for k, v := range m {
		key[k] = table.S(v)
	}
	return key, nil
}

// Outstanding walks a partner's failed entries, newest first, that no later
// success has resolved — the operator's to-do list and the resync's input.
func (l *Log) Outstanding(ctx context.Context, partnerID string) func(yield func(Entry, error) bool) {
	return func(yield func(Entry, error) bool) {
		q := Query{PartnerID: partnerID, FailedOnly: true, Limit: 500}
		for {
			p, err := l.List(ctx, q)
			if err != nil {
				yield(Entry{}, err)
				return
			}
			for _, e := range p.Entries {
				if !yield(e, nil) {
					return
				}
			}
			if p.Cursor == "" {
				return
			}
			q.Cursor = p.Cursor
		}
	}
}

// Resolve takes an event's failed entries off the failed list after it was
// reprocessed, except those the reprocess itself recorded (keep): what still
// fails stays listed. The entries stay in the log.
func (l *Log) Resolve(ctx context.Context, partnerID, eventID string, at time.Time, keep []Entry) error {
	return l.ResolveWhere(ctx, partnerID, at, keep, func(e Entry) bool { return e.EventID == eventID })
}

// ResolveWhere takes the partner's failed entries that match off the failed
// list, except those in keep.
func (l *Log) ResolveWhere(ctx context.Context, partnerID string, at time.Time, keep []Entry, match func(Entry) bool) error {
	kept := map[string]bool{}
	for i := range keep {
		kept[sortKey(&keep[i])] = true
	}
	for e, err := range l.Outstanding(ctx, partnerID) {
		if err != nil {
			return err
		}
		sk := sortKey(&e)
		if !match(e) || kept[sk] {
			continue
		}
		_, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(l.Table),
			Key:       table.Key("LOG#"+partnerID, sk),
			// Move it out of the failed list's partition (not REMOVE: the
			// in-process emulator ignores REMOVE).
			UpdateExpression:          aws.String("SET gsi2pk = :resolved, resolvedAt = :at"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":at": table.S(at.UTC().Format(time.RFC3339)), ":resolved": table.S("RESOLVED#" + partnerID)},
		})
		if err != nil {
			return fmt.Errorf("resolve event log entry %s: %w", sk, err)
		}
	}
	return nil
}

// IsSync reports whether an entry is about the data sync (as opposed to a
// ticket or the event as a whole).
func (w What) IsSync() bool {
	switch w {
	case WhatSync, WhatStatistics, WhatBilling, WhatDescription, WhatConfiguration:
		return true
	}
	return false
}
