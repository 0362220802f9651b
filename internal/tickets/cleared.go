package tickets

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/table"
)

// quietRetention is how long the state of a fault that never had a ticket is
// kept after its last clearing event: longer than a queued message can live
// (SQS keeps one 14 days at most), so that a late raising event still finds it.
const quietRetention = 15 * 24 * time.Hour

// NoteCleared remembers the occurrence time of a clearing event for a fault
// that has no ticket to resolve (no state yet, none, or resolved), with one
// conditional write and no lock, so that a raising event that happened before
// it but is delivered after it opens nothing. f and exists are what Get read:
// a new item is created only if there still is none; an existing one is
// changed only if it is still that version and nobody holds its lock. It
// reports false when the fault changed meanwhile: the caller then applies the
// signal under the lock.
func (s *FaultStore) NoteCleared(ctx context.Context, k FaultKey, f Fault, exists bool, at, now time.Time) (bool, error) {
	var err error
	if !exists {
		var item map[string]types.AttributeValue
		item, err = attributevalue.MarshalMapWithOptions(Fault{Key: k.String(), LastClearedAt: at}, func(o *attributevalue.EncoderOptions) { o.TagKey = "json" })
		if err != nil {
			return false, fmt.Errorf("encode fault %s: %w", k, err)
		}
		item[table.PK] = table.S(faultPK(k))
		item[table.SK] = table.S("FAULT")
		// Never had a ticket: nothing is lost when it expires. The first
		// Save (a whole-item put) drops the expiry.
		item[table.ExpiresAt] = table.Seconds(now.Add(quietRetention))
		_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:           aws.String(s.Table),
			Item:                item,
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		})
	} else {
		atv, merr := attributevalue.Marshal(at)
		if merr != nil {
			return false, fmt.Errorf("encode fault %s: %w", k, merr)
		}
		update := "SET lastClearedAt = :at, version = :next"
		values := map[string]types.AttributeValue{
			":at":   atv,
			":next": &types.AttributeValueMemberN{Value: strconv.Itoa(f.Version + 1)},
			":prev": &types.AttributeValueMemberN{Value: strconv.Itoa(f.Version)},
		}
		if f.Seq == 0 {
			update += ", expiresAt = :exp"
			values[":exp"] = table.Seconds(now.Add(quietRetention))
		}
		_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(s.Table),
			Key:                       table.Key(faultPK(k), "FAULT"),
			UpdateExpression:          aws.String(update),
			ConditionExpression:       aws.String("attribute_exists(pk) AND attribute_not_exists(lockOwner) AND version = :prev"),
			ExpressionAttributeValues: values,
		})
	}
	if table.IsConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("note fault %s cleared: %w", k, err)
	}
	return true, nil
}

// NoteRaised moves a fault's LastRaisedAt forward to at with one conditional
// write and no lock: for a failure repeated on a ticket that is open and
// needs no note (nothing in ConnectWise changes). It reports false when the
// fault changed since f was read, or its lock is held: the caller then
// applies the signal under the lock.
func (s *FaultStore) NoteRaised(ctx context.Context, k FaultKey, f Fault, at, now time.Time) (bool, error) {
	atv, err := attributevalue.Marshal(at)
	if err != nil {
		return false, fmt.Errorf("encode fault %s: %w", k, err)
	}
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.Table),
		Key:              table.Key(faultPK(k), "FAULT"),
		UpdateExpression: aws.String("SET lastRaisedAt = :at, version = :next"),
		// Absent or expired lock: a crashed holder's lease has run out.
		ConditionExpression: aws.String("version = :prev AND (attribute_not_exists(lockOwner) OR lockUntil < :now)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at":   atv,
			":next": &types.AttributeValueMemberN{Value: strconv.Itoa(f.Version + 1)},
			":prev": &types.AttributeValueMemberN{Value: strconv.Itoa(f.Version)},
			":now":  table.Millis(now),
		},
	})
	if table.IsConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("note fault %s raised: %w", k, err)
	}
	return true, nil
}
