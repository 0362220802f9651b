package localaws_test

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/dev/localaws"
	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
	"github.com/efs-cw/backupbridge/internal/dev/stackdef"
)

// oneTable is shaped like the design's table: pk/sk, a TTL attribute and a
// sparse GSI.
var oneTable = &stackdef.Stack{Tables: []stackdef.Table{{
	LogicalID: "Table",
	KeySchema: []stackdef.KeyElement{{Name: "pk", KeyType: "HASH"}, {Name: "sk", KeyType: "RANGE"}},
	Attributes: []stackdef.AttributeDefinition{
		{Name: "pk", Type: "S"}, {Name: "sk", Type: "S"},
		{Name: "gsi2pk", Type: "S"}, {Name: "gsi2sk", Type: "S"},
	},
	GSIs: []stackdef.GSI{{
		Name:           "failed",
		KeySchema:      []stackdef.KeyElement{{Name: "gsi2pk", KeyType: "HASH"}, {Name: "gsi2sk", KeyType: "RANGE"}},
		ProjectionType: "ALL",
	}},
	TTLAttribute: "expiresAt",
	PITR:         true,
	BillingMode:  "PAY_PER_REQUEST",
}}}

func dynamo(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	srv := localtest.DynamoDB(t)
	cfg, err := localaws.AWSConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	c := localaws.DynamoClient(cfg, srv.Endpoint())
	names := localaws.DefaultNames(oneTable, localaws.DefaultPrefix)
	if err := localaws.CreateTables(t.Context(), c, oneTable, names); err != nil {
		t.Fatalf("CreateTables: %v", err)
	}
	return c, names["Table"]
}

func s(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }

func TestCreateTablesAndQueryGSI(t *testing.T) {
	t.Parallel()
	c, table := dynamo(t)
	if table != "backupbridge-local" {
		t.Errorf("table name = %q, want backupbridge-local", table)
	}
	// Creating again is a no-op, not an error.
	if err := localaws.CreateTables(t.Context(), c, oneTable, map[string]string{"Table": table}); err != nil {
		t.Fatalf("CreateTables again: %v", err)
	}
	items := []map[string]ddbtypes.AttributeValue{
		{"pk": s("LOG#p1"), "sk": s("2024-01-01T00:00:00Z#e1#push"), "gsi2pk": s("FAILED#p1"), "gsi2sk": s("2024-01-01T00:00:00Z")},
		{"pk": s("LOG#p1"), "sk": s("2024-01-02T00:00:00Z#e2#push"), "gsi2pk": s("FAILED#p1"), "gsi2sk": s("2024-01-02T00:00:00Z")},
		{"pk": s("LOG#p1"), "sk": s("2024-01-03T00:00:00Z#e3#push")}, // not in the sparse index
		{"pk": s("LOG#p2"), "sk": s("2024-01-01T00:00:00Z#e4#push"), "gsi2pk": s("FAILED#p2"), "gsi2sk": s("2024-01-01T00:00:00Z")},
	}
	for _, it := range items {
		if _, err := c.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.Query(t.Context(), &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		IndexName:                 aws.String("failed"),
		KeyConditionExpression:    aws.String("gsi2pk = :p AND gsi2sk >= :from"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": s("FAILED#p1"), ":from": s("2024-01-01")},
		ScanIndexForward:          aws.Bool(false),
	})
	if err != nil {
		t.Fatalf("Query on the GSI: %v", err)
	}
	var got []string
	for _, it := range out.Items {
		got = append(got, it["sk"].(*ddbtypes.AttributeValueMemberS).Value)
	}
	want := []string{"2024-01-02T00:00:00Z#e2#push", "2024-01-01T00:00:00Z#e1#push"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("GSI query = %v, want %v (newest first, sparse item left out)", got, want)
	}
}

func TestConditionalPutFails(t *testing.T) {
	t.Parallel()
	c, table := dynamo(t)
	put := &dynamodb.PutItemInput{
		TableName:           aws.String(table),
		Item:                map[string]ddbtypes.AttributeValue{"pk": s("DELIVERY#p1#w1"), "sk": s("DELIVERY")},
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}
	if _, err := c.PutItem(t.Context(), put); err != nil {
		t.Fatalf("first conditional put: %v", err)
	}
	_, err := c.PutItem(t.Context(), put)
	var ccf *ddbtypes.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("second conditional put: err = %v, want ConditionalCheckFailedException", err)
	}
}

// TestConcurrentTableAndItemCalls creates tables while items are written
// and tables described; under -race it fails unless the server serializes
// minidyn's unguarded table map. The conditional puts must have one winner.
func TestConcurrentTableAndItemCalls(t *testing.T) {
	t.Parallel()
	c, table := dynamo(t)
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := range 20 {
		wg.Go(func() {
			_, err := c.PutItem(t.Context(), &dynamodb.PutItemInput{
				TableName:           aws.String(table),
				Item:                map[string]ddbtypes.AttributeValue{"pk": s("CLAIM"), "sk": s("X")},
				ConditionExpression: aws.String("attribute_not_exists(pk)"),
			})
			var ccf *ddbtypes.ConditionalCheckFailedException
			if err != nil && !errors.As(err, &ccf) {
				errs <- fmt.Errorf("put %d: %w", i, err)
			}
			if err == nil {
				errs <- nil // a winner
			}
		})
		wg.Go(func() {
			if _, err := c.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(table)}); err != nil {
				errs <- fmt.Errorf("describe: %w", err)
			}
		})
		wg.Go(func() {
			other := &stackdef.Stack{Tables: []stackdef.Table{{
				LogicalID:  "Other",
				KeySchema:  []stackdef.KeyElement{{Name: "pk", KeyType: "HASH"}},
				Attributes: []stackdef.AttributeDefinition{{Name: "pk", Type: "S"}},
			}}}
			if err := localaws.CreateTables(t.Context(), c, other, map[string]string{"Other": fmt.Sprintf("other-%d", i)}); err != nil {
				errs <- fmt.Errorf("create table %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	winners := 0
	for err := range errs {
		if err != nil {
			t.Error(err)
			continue
		}
		winners++
	}
	if winners != 1 {
		t.Errorf("%d conditional puts won, want exactly 1", winners)
	}
}

func TestCreateTablesRejectsShortName(t *testing.T) {
	t.Parallel()
	err := localaws.CreateTables(t.Context(), nil, oneTable, map[string]string{"Table": "ab"})
	if err == nil {
		t.Fatal("a 2-character table name was accepted")
	}
}

// TestDynamoDBListensOnLoopbackOnly: minidyn, like goaws, has no
// authentication and is reachable from other processes of this machine
// (sam local invoke relies on it), so it must not be reachable from others.
func TestDynamoDBListensOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	d := localtest.DynamoDB(t)
	u, err := url.Parse(d.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("endpoint %s has no port: %v", d.Endpoint(), err)
	}
	addrs, err := localaws.ListeningAddrs(port)
	if errors.Is(err, localaws.ErrSocketsUnlisted) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 1 || addrs[0] != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("minidyn's port %d is open on %v; want 127.0.0.1 only", port, addrs)
	}
}
