package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/table"
)

// Parked is one held queue message.
type Parked struct {
	PartnerID  string
	CustomerID string
	// Key is the item's sort key: customer, time of receipt, claim key.
	Key      string
	Message  queue.Message
	ParkedAt time.Time
}

// ParkResult is what Park did.
type ParkResult int

// Park results.
const (
	// ParkedNow: the message is held.
	ParkedNow ParkResult = iota
	// AlreadyParked: the same message (same claim key and receipt time) was
	// held before: a duplicate delivery.
	AlreadyParked
	// NotHolding: the partner is neither paused nor resuming (any more):
	// process the message.
	NotHolding
)

// receivedLayout sorts lexically in time order.
const receivedLayout = "2006-01-02T15:04:05.000000000Z"

// parkedKey orders a customer's held messages by time of receipt (then by
// claim key, for two received in the same nanosecond).
func parkedKey(customerID string, m *queue.Message, now time.Time) string {
	at := m.ReceivedAt
	if at.IsZero() {
		at = now
	}
	return customerID + "#" + at.UTC().Format(receivedLayout) + "#" + m.ClaimKey()
}

// Park holds m, a message of customerID, if the partner is paused or
// resuming: one transaction puts the held message (unless it is already
// held) and adds one to the partner's parked count, on the condition that
// the partner is holding.
func (s *Store) Park(ctx context.Context, m queue.Message, customerID string, now time.Time) (ParkResult, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return 0, fmt.Errorf("encode parked message %s: %w", m.EventID, err)
	}
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{
				TableName: aws.String(s.Table),
				Item: map[string]types.AttributeValue{
					table.PK:     table.S(parkedPrefix + m.PartnerID),
					table.SK:     table.S(parkedKey(customerID, &m, now)),
					"customerId": table.S(customerID),
					"message":    table.S(string(body)),
					"parkedAt":   table.S(now.UTC().Format(time.RFC3339Nano)),
				},
				ConditionExpression: aws.String("attribute_not_exists(pk)"),
			}},
			{Update: &types.Update{
				TableName:                aws.String(s.Table),
				Key:                      table.Key(healthPK, m.PartnerID),
				UpdateExpression:         aws.String("ADD #parked :one"),
				ConditionExpression:      aws.String("#st = :paused OR #st = :resuming"),
				ExpressionAttributeNames: map[string]string{"#parked": attrParked, "#st": "state"},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":one":      &types.AttributeValueMemberN{Value: "1"},
					":paused":   table.S(string(Paused)),
					":resuming": table.S(string(Resuming)),
				},
			}},
		},
	})
	if err == nil {
		return ParkedNow, nil
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) && len(tce.CancellationReasons) == 2 {
		switch {
		case aws.ToString(tce.CancellationReasons[1].Code) == "ConditionalCheckFailed":
			return NotHolding, nil
		case aws.ToString(tce.CancellationReasons[0].Code) == "ConditionalCheckFailed":
			return AlreadyParked, nil
		}
	}
	return 0, fmt.Errorf("park message %s of partner %s: %w", m.EventID, m.PartnerID, err)
}

// Held reads up to limit of a customer's held messages, oldest receipt first.
func (s *Store) Held(ctx context.Context, partnerID, customerID string, limit int) ([]Parked, error) {
	out, err := s.DB.Query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(s.Table),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":     table.S(parkedPrefix + partnerID),
			":prefix": table.S(customerID + "#"),
		},
		ConsistentRead: aws.Bool(true),
		Limit:          aws.Int32(int32(max(limit, 1))),
	})
	if err != nil {
		return nil, fmt.Errorf("read held messages of %s/%s: %w", partnerID, customerID, err)
	}
	held := make([]Parked, 0, len(out.Items))
	for _, item := range out.Items {
		p, err := decodeParked(partnerID, item)
		if err != nil {
			return nil, err
		}
		held = append(held, p)
	}
	return held, nil
}

func decodeParked(partnerID string, item map[string]types.AttributeValue) (Parked, error) {
	p := Parked{PartnerID: partnerID, CustomerID: table.String(item["customerId"]), Key: table.String(item[table.SK])}
	p.ParkedAt, _ = time.Parse(time.RFC3339Nano, table.String(item["parkedAt"]))
	if err := json.Unmarshal([]byte(table.String(item["message"])), &p.Message); err != nil {
		return Parked{}, fmt.Errorf("decode held message %s of partner %s: %w", p.Key, partnerID, err)
	}
	return p, nil
}

// Customers lists the customers with held messages, each once.
func (s *Store) Customers(ctx context.Context, partnerID string) ([]string, error) {
	var customers []string
	seen := map[string]bool{}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": table.S(parkedPrefix + partnerID)},
		ProjectionExpression:      aws.String("customerId"),
		ConsistentRead:            aws.Bool(true),
	}
	for {
		out, err := s.DB.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list held messages of %s: %w", partnerID, err)
		}
		for _, item := range out.Items {
			if c := table.String(item["customerId"]); !seen[c] {
				seen[c] = true
				customers = append(customers, c)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return customers, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// Unpark removes a held message after its replay, and takes one off the
// partner's parked count, in one transaction. A message already removed
// (by a concurrent replay) is not an error and is not counted twice.
func (s *Store) Unpark(ctx context.Context, p Parked) error {
	_, err := s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{
			{Delete: &types.Delete{
				TableName:           aws.String(s.Table),
				Key:                 table.Key(parkedPrefix+p.PartnerID, p.Key),
				ConditionExpression: aws.String("attribute_exists(pk)"),
			}},
			{Update: &types.Update{
				TableName:                 aws.String(s.Table),
				Key:                       table.Key(healthPK, p.PartnerID),
				UpdateExpression:          aws.String("ADD #parked :minus"),
				ExpressionAttributeNames:  map[string]string{"#parked": attrParked},
				ExpressionAttributeValues: map[string]types.AttributeValue{":minus": &types.AttributeValueMemberN{Value: "-1"}},
			}},
		},
	})
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) && len(tce.CancellationReasons) > 0 && aws.ToString(tce.CancellationReasons[0].Code) == "ConditionalCheckFailed" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unpark %s of partner %s: %w", p.Key, p.PartnerID, err)
	}
	return nil
}
