// Package table holds the layout of the service's one DynamoDB table (see
// template.yaml and docs/design.md): the key attributes, the TTL attribute,
// the secondary indexes, and small helpers every store uses.
//
//	item              pk                                        sk
//	partner settings  PARTNER#<partner>                         CONFIG
//	claim             <prefix><key>  (DELIVERY#…, EVENT#…)      CLAIM
//	fault             FAULT#<partner>#<customer>#<account>#<kind> FAULT
//	event log entry   LOG#<partner>                             <time>#<eventId>#<what>
package table

import (
	"errors"
	"strconv"
	"time"

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
