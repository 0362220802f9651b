// Package table holds the layout of the service's one DynamoDB table (see
// template.yaml and docs/design.md): the key attributes, the TTL attribute,
// the secondary indexes, and small helpers every store uses.
//
//	item              pk                                        sk
//	partner settings  PARTNER#<partner>                         CONFIG
//	record of work    EVENT#<claim key>                          CLAIM
//	fault             FAULT#<partner>#<customer>#<account>#<kind> FAULT
//	event log entry   LOG#<partner>                             <time>#<eventId>#<what>
//	audit entry       AUDIT#<partner>#<customer>                <month>#<time>#<agreement>#<addition>#<field>
package table

import (
	"context"
	"errors"
	"iter"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute and index names.
const (
	PK        = "pk"
	SK        = "sk"
	ExpiresAt = "expiresAt" // epoch seconds; the table's TTL attribute

	IndexByCustomer = "byCustomer" // gsi1pk, gsi1sk
	IndexFailed     = "failed"     // gsi2pk, gsi2sk (sparse)
	GSI1PK          = "gsi1pk"
	GSI1SK          = "gsi1sk"
	GSI2PK          = "gsi2pk"
	GSI2SK          = "gsi2sk"
)

// Key returns the primary key of an item.
func Key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{PK: S(pk), SK: S(sk)}
}

// S is a string attribute value.
func S(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// Seconds is t as a number of epoch seconds (the TTL format).
func Seconds(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.Unix(), 10)}
}

// Millis is t as a number of epoch milliseconds.
func Millis(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.UnixMilli(), 10)}
}

// IsConditionFailed reports whether err is DynamoDB's answer to a failed
// condition expression.
func IsConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// String is the value of a string attribute ("" for any other or none).
func String(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// Int64 reads a number attribute (0 when absent, not a number or not an
// integer).
func Int64(v types.AttributeValue) int64 {
	n, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		return 0
	}
	i, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0
	}
	return i
}

// QueryPrefix walks the items of partition pk whose sort key starts with
// prefix (every item of the partition when prefix is empty), page after
// page, in sort-key order (consistent: a strongly consistent read). It
// stops at the first error, which it yields.
func QueryPrefix(ctx context.Context, db *dynamodb.Client, tableName, pk, prefix string, consistent bool) iter.Seq2[map[string]types.AttributeValue, error] {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(tableName),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": S(pk)},
		ConsistentRead:            aws.Bool(consistent),
	}
	if prefix != "" {
		in.KeyConditionExpression = aws.String("pk = :pk AND begins_with(sk, :prefix)")
		in.ExpressionAttributeValues[":prefix"] = S(prefix)
	}
	return query(ctx, db, in)
}

// QueryRange walks the items of partition pk whose sort key is between
// from and to (both included), like QueryPrefix.
func QueryRange(ctx context.Context, db *dynamodb.Client, tableName, pk, from, to string) iter.Seq2[map[string]types.AttributeValue, error] {
	return query(ctx, db, &dynamodb.QueryInput{
		TableName:                 aws.String(tableName),
		KeyConditionExpression:    aws.String("pk = :pk AND sk BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": S(pk), ":from": S(from), ":to": S(to)},
	})
}

func query(ctx context.Context, db *dynamodb.Client, in *dynamodb.QueryInput) iter.Seq2[map[string]types.AttributeValue, error] {
	return func(yield func(map[string]types.AttributeValue, error) bool) {
		in := *in
		for {
			out, err := db.Query(ctx, &in)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, item := range out.Items {
				if !yield(item, nil) {
					return
				}
			}
			if len(out.LastEvaluatedKey) == 0 {
				return
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
	}
}

// Retention is d, or def when d is not positive.
func Retention(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
