package partner

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/table"
)

// ErrExists is returned when creating a partner whose id is taken.
var ErrExists = errors.New("partner already exists")

// ErrConflict is returned when an update was based on an old version.
var ErrConflict = errors.New("partner was changed by someone else; read it again and retry")

// Partner settings live in one partition (pk PARTNERS, sk = partner id) so
// that the resync can list them with a paged Query.
const partnersPK = "PARTNERS"

// Store keeps partner settings in DynamoDB.
type Store struct {
	DB    *dynamodb.Client
	Table string
}

// noRulesAttr marks a partner whose rules are an explicit empty list (no
// rules). The empty list itself is not written: the local DynamoDB
// (minidyn) answers a stored empty list as "{}", which the AWS SDK decodes
// as another attribute's value, so the partner could no longer be read.
// Real DynamoDB keeps empty lists; the marker works with both, and an item
// written with an empty list by real DynamoDB still reads as no rules.
const noRulesAttr = "noRules"

func decoderOptions(o *attributevalue.DecoderOptions) { o.TagKey = "json" }

func marshal(p *Partner) (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMapWithOptions(p, func(o *attributevalue.EncoderOptions) { o.TagKey = "json" })
	if err != nil {
		return nil, fmt.Errorf("marshal partner %s: %w", p.ID, err)
	}
	if p.Rules != nil && len(p.Rules) == 0 {
		delete(item, "rules")
		item[noRulesAttr] = &types.AttributeValueMemberBOOL{Value: true}
	}
	item[table.PK] = table.S(partnersPK)
	item[table.SK] = table.S(p.ID)
	return item, nil
}

// unmarshal decodes a stored partner. An item that does not decode gives an
// *UnreadableError (matching ErrUnreadable) naming the partner and the
// attribute.
func unmarshal(item map[string]types.AttributeValue) (*Partner, error) {
	attrs := make(map[string]types.AttributeValue, len(item))
	for k, v := range item {
		if k != table.PK && k != table.SK && k != noRulesAttr {
			attrs[k] = v
		}
	}
	var p Partner
	if err := attributevalue.UnmarshalMapWithOptions(attrs, &p, decoderOptions); err != nil {
		return nil, unreadable(item, attrs, err)
	}
	if b, ok := item[noRulesAttr].(*types.AttributeValueMemberBOOL); ok && b.Value {
		p.Rules = []Rule{}
	}
	return &p, nil
}

// ErrUnreadable is matched (errors.Is) by the error of a stored partner that
// cannot be decoded (an *UnreadableError). It is permanent: reading again
// gives the same answer until an operator rewrites the partner with
// PUT /v1/admin/partners/{id}.
var ErrUnreadable = errors.New("stored partner settings cannot be read")

// UnreadableError is a stored partner that cannot be decoded.
type UnreadableError struct {
	PartnerID string
	// Field is the stored attribute (the setting's JSON name) that does not
	// decode; "" when no single attribute is at fault.
	Field string
	// Partial holds every setting that does decode (Field's is left zero),
	// so that an update can still compare the site and the version.
	Partial *Partner
	Err     error
}

func (e *UnreadableError) Error() string {
	setting := "its settings"
	if e.Field != "" {
		setting = "its setting " + e.Field
	}
	return fmt.Sprintf("partner %s: the stored partner cannot be read (%s: %v); fix it with PUT /v1/admin/partners/%s carrying the complete partner (version %d)",
		e.PartnerID, setting, e.Err, e.PartnerID, e.Partial.Version)
}

// Is matches ErrUnreadable.
func (e *UnreadableError) Is(target error) bool { return target == ErrUnreadable }

// Unwrap returns the decoding error.
func (e *UnreadableError) Unwrap() error { return e.Err }

// unreadable finds the attribute at fault by decoding one attribute at a
// time, and keeps what does decode.
func unreadable(item, attrs map[string]types.AttributeValue, err error) error {
	ue := &UnreadableError{Partial: &Partner{}, Err: err}
	if sk, ok := item[table.SK].(*types.AttributeValueMemberS); ok {
		ue.PartnerID = sk.Value
	}
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		var one Partner
		if derr := attributevalue.UnmarshalMapWithOptions(map[string]types.AttributeValue{k: attrs[k]}, &one, decoderOptions); derr != nil {
			if ue.Field == "" {
				ue.Field, ue.Err = k, derr
			}
			continue
		}
		_ = attributevalue.UnmarshalMapWithOptions(map[string]types.AttributeValue{k: attrs[k]}, ue.Partial, decoderOptions)
	}
	if ue.PartnerID == "" {
		ue.PartnerID = ue.Partial.ID
	}
	return ue
}

// Get reads a partner; an unknown id gives an error matching ErrNotFound, a
// stored partner that cannot be decoded an *UnreadableError matching
// ErrUnreadable.
func (s *Store) Get(ctx context.Context, id string) (*Partner, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table),
		Key:       table.Key(partnersPK, id),
	})
	if err != nil {
		return nil, fmt.Errorf("read partner %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("partner %s: %w", id, ErrNotFound)
	}
	return unmarshal(out.Item)
}

// Create stores a new partner at version 1.
func (s *Store) Create(ctx context.Context, p *Partner) error {
	p.Version = 1
	item, err := marshal(p)
	if err != nil {
		return err
	}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.Table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if table.IsConditionFailed(err) {
		return fmt.Errorf("create partner %s: %w", p.ID, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create partner %s: %w", p.ID, err)
	}
	return nil
}

// Update replaces a partner's settings if p.Version is the stored version,
// and increments it.
func (s *Store) Update(ctx context.Context, p *Partner) error {
	prev := p.Version
	p.Version = prev + 1
	item, err := marshal(p)
	if err != nil {
		p.Version = prev
		return err
	}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.Table),
		Item:      item,
		// The stored item exists and is the version the caller read.
		ConditionExpression:       aws.String("attribute_exists(pk) AND version = :prev"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":prev": &types.AttributeValueMemberN{Value: strconv.Itoa(prev)}},
	})
	if table.IsConditionFailed(err) {
		p.Version = prev
		return fmt.Errorf("update partner %s: %w", p.ID, ErrConflict)
	}
	if err != nil {
		p.Version = prev
		return fmt.Errorf("update partner %s: %w", p.ID, err)
	}
	return nil
}

// Replace is Update that can be undone, for a write that must be taken back
// when a later step fails (the operator API stores the partner first and
// its secrets second). On success undo puts the record Replace replaced
// back exactly as it was stored, readable or not (an *UnreadableError
// partner is restored unreadable, not as its Partial), at its own version,
// on condition that the stored record is still the one Replace wrote: if
// someone changed it since, undo leaves their change and returns an error
// matching ErrConflict. On failure p is unchanged and there is nothing to
// undo; a p.Version that is not the stored one gives ErrConflict, and a
// partner that does not exist ErrNotFound.
func (s *Store) Replace(ctx context.Context, p *Partner) (undo func(context.Context) error, err error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            table.Key(partnersPK, p.ID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("update partner %s: read the stored record: %w", p.ID, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("update partner %s: %w", p.ID, ErrNotFound)
	}
	if n, ok := out.Item["version"].(*types.AttributeValueMemberN); !ok || n.Value != strconv.Itoa(p.Version) {
		return nil, fmt.Errorf("update partner %s: %w", p.ID, ErrConflict)
	}
	prev := out.Item
	// The write is conditional on the version just read, so prev is the
	// record it replaces.
	if err := s.Update(ctx, p); err != nil {
		return nil, err
	}
	id, written := p.ID, p.Version
	return func(ctx context.Context) error {
		return s.putBack(ctx, id, prev, written)
	}, nil
}

// putBack writes item if the stored version of partner id is current.
func (s *Store) putBack(ctx context.Context, id string, item map[string]types.AttributeValue, current int) error {
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.Table),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_exists(pk) AND version = :cur"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":cur": &types.AttributeValueMemberN{Value: strconv.Itoa(current)}},
	})
	if table.IsConditionFailed(err) {
		return fmt.Errorf("restore partner %s: %w", id, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("restore partner %s: %w", id, err)
	}
	return nil
}

// Delete removes partner id if its stored version is version: it undoes a
// Create (version 1) that nobody has changed since. A partner that is gone
// or at another version gives an error matching ErrConflict and is left as
// it is.
func (s *Store) Delete(ctx context.Context, id string, version int) error {
	_, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       table.Key(partnersPK, id),
		ConditionExpression:       aws.String("attribute_exists(pk) AND version = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.Itoa(version)}},
	})
	if table.IsConditionFailed(err) {
		return fmt.Errorf("delete partner %s: %w", id, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("delete partner %s: %w", id, err)
	}
	return nil
}

// All walks every partner, one page at a time (constant memory). A partner
// that cannot be decoded is yielded as (nil, *UnreadableError); the walk
// goes on if the caller continues, so one bad partner need not stop the
// others.
func (s *Store) All(ctx context.Context) iter.Seq2[*Partner, error] {
	return func(yield func(*Partner, error) bool) {
		var start map[string]types.AttributeValue
		for {
			out, err := s.DB.Query(ctx, &dynamodb.QueryInput{
				TableName:                 aws.String(s.Table),
				KeyConditionExpression:    aws.String("pk = :pk"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":pk": table.S(partnersPK)},
				ExclusiveStartKey:         start,
				Limit:                     aws.Int32(100),
			})
			if err != nil {
				yield(nil, fmt.Errorf("list partners: %w", err))
				return
			}
			for _, item := range out.Items {
				p, err := unmarshal(item)
				if !yield(p, err) {
					return
				}
			}
			if len(out.LastEvaluatedKey) == 0 {
				return
			}
			start = out.LastEvaluatedKey
		}
	}
}
