package managedid

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/table"
)

// DynamoStore keeps Directory indexes in the service's table: one item per
// partner (pk MANAGEDIDS#<key>, sk INDEX) holding the index as JSON and the
// time it was read from ConnectWise.
type DynamoStore struct {
	DB    *dynamodb.Client
	Table string
}

// LoadIndex reads the stored index.
func (s *DynamoStore) LoadIndex(ctx context.Context, key string) (map[string]Company, time.Time, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: table.Key("MANAGEDIDS#"+key, "INDEX")})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read managed ID index of %s: %w", key, err)
	}
	raw, ok1 := out.Item["index"].(*types.AttributeValueMemberS)
	at, ok2 := out.Item["loadedAt"].(*types.AttributeValueMemberN)
	if !ok1 || !ok2 {
		return nil, time.Time{}, nil
	}
	ms, err := strconv.ParseInt(at.Value, 10, 64)
	if err != nil {
		return nil, time.Time{}, nil
	}
	var idx map[string]Company
	if err := json.Unmarshal([]byte(raw.Value), &idx); err != nil {
		return nil, time.Time{}, nil
	}
	return idx, time.UnixMilli(ms), nil
}

// SaveIndex stores the index; it expires (TTL) a day after it was read.
func (s *DynamoStore) SaveIndex(ctx context.Context, key string, idx map[string]Company, loadedAt time.Time) error {
	b, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("encode managed ID index: %w", err)
	}
	item := table.Key("MANAGEDIDS#"+key, "INDEX")
	item["index"] = table.S(string(b))
	item["loadedAt"] = table.Millis(loadedAt)
	item[table.ExpiresAt] = table.Seconds(loadedAt.Add(24 * time.Hour))
	if _, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item}); err != nil {
		return fmt.Errorf("store managed ID index of %s: %w", key, err)
	}
	return nil
}

// Mappings: one item per managed ID (pk MANAGEDIDS#<key>, sk ID#<managed
// ID>) with the company, kept with no expiry (a Directory checks a mapping
// it reads before using it).

func mappingKey(key, managedID string) map[string]types.AttributeValue {
	return table.Key("MANAGEDIDS#"+key, "ID#"+managedID)
}

// LoadMapping reads the stored company of a managed ID.
func (s *DynamoStore) LoadMapping(ctx context.Context, key, managedID string) (Company, bool, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: mappingKey(key, managedID)})
	if err != nil {
		return Company{}, false, fmt.Errorf("read mapping of %s: %w", managedID, err)
	}
	id := int(table.Int64(out.Item["companyId"]))
	if id == 0 {
		return Company{}, false, nil
	}
	return Company{ID: id, Identifier: table.String(out.Item["identifier"]), Name: table.String(out.Item["name"])}, true, nil
}

// SaveMapping stores the company of a managed ID.
func (s *DynamoStore) SaveMapping(ctx context.Context, key, managedID string, c Company) error {
	item := mappingKey(key, managedID)
	item["companyId"] = &types.AttributeValueMemberN{Value: strconv.Itoa(c.ID)}
	item["identifier"] = table.S(c.Identifier)
	item["name"] = table.S(c.Name)
	if _, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item}); err != nil {
		return fmt.Errorf("store mapping of %s: %w", managedID, err)
	}
	return nil
}

// ForgetMapping drops the stored company of a managed ID.
func (s *DynamoStore) ForgetMapping(ctx context.Context, key, managedID string) error {
	if _, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.Table), Key: mappingKey(key, managedID)}); err != nil {
		return fmt.Errorf("forget mapping of %s: %w", managedID, err)
	}
	return nil
}
