package partner

import (
	"context"
	"errors"
	"fmt"
	"iter"
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

func marshal(p *Partner) (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMapWithOptions(p, func(o *attributevalue.EncoderOptions) { o.TagKey = "json" })
	if err != nil {
		return nil, fmt.Errorf("marshal partner %s: %w", p.ID, err)
	}
	item[table.PK] = table.S(partnersPK)
	item[table.SK] = table.S(p.ID)
	return item, nil
}

func unmarshal(item map[string]types.AttributeValue) (*Partner, error) {
	var p Partner
	if err := attributevalue.UnmarshalMapWithOptions(item, &p, func(o *attributevalue.DecoderOptions) { o.TagKey = "json" }); err != nil {
		return nil, fmt.Errorf("unmarshal partner: %w", err)
	}
	return &p, nil
}

// Get reads a partner; an unknown id gives an error matching ErrNotFound.
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

// All walks every partner, one page at a time (constant memory).
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
