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
