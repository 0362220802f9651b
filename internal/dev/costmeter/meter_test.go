package costmeter_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/dev/costmeter"
	"github.com/efs-cw/backupbridge/internal/dev/localaws"
	"github.com/efs-cw/backupbridge/internal/dev/stackdef"
)

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// TestMeterDynamoDB runs writes and reads against minidyn with the
// template's table and checks the units the meter computes.
func TestMeterDynamoDB(t *testing.T) {
	ctx := context.Background()
	def, err := stackdef.Load()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := localaws.StartDynamoDB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cfg, err := localaws.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := localaws.DefaultNames(def, "meter-test")
	raw := localaws.DynamoClient(cfg, srv.Endpoint())
	if err := localaws.CreateTables(ctx, raw, def, names); err != nil {
		t.Fatal(err)
	}
	m := costmeter.New()
	m.Configure(costmeter.TablesOf(def, names), raw)
	mcfg := cfg.Copy()
	mcfg.APIOptions = append(mcfg.APIOptions, m.APIOptions()...)
	db := localaws.DynamoClient(mcfg, srv.Endpoint())
	table := aws.String(names["Table"])
	key := map[string]types.AttributeValue{"pk": s("LOG#p"), "sk": s("2026#e1")}
	big := strings.Repeat("x", 1500) // the item is then 2 KB: 2 write units

	check := func(step string, wcu, rcu float64) {
		t.Helper()
		snap := m.Snapshot()
		if snap.WCU() != wcu || snap.RCU() != rcu {
			t.Errorf("%s: %v WCU %v RCU, want %v %v (writes %+v reads %+v)", step, snap.WCU(), snap.RCU(), wcu, rcu, snap.Writes, snap.Reads)
		}
		m.Reset()
	}

	// A new 2 KB item in the byCustomer index: 2 + 2.
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]types.AttributeValue{
		"pk": key["pk"], "sk": key["sk"], "gsi1pk": s("CUST#1"), "gsi1sk": s("1"), "body": s(big)}}); err != nil {
		t.Fatal(err)
	}
	check("put", 4, 0)

	// A conditional put that fails: the existing item's units, no index.
	_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]types.AttributeValue{"pk": key["pk"], "sk": key["sk"]},
		ConditionExpression: aws.String("attribute_not_exists(pk)")})
	if err == nil {
		t.Fatal("the conditional put succeeded")
	}
	check("failed put", 2, 0)

	// An update that shrinks the item and enters the sparse failed index:
	// the larger size (2), byCustomer's entry updated (the larger size too:
	// 2), failed's entry put (1).
	if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: key,
		UpdateExpression:          aws.String("SET body = :b, gsi2pk = :f, gsi2sk = :f"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":b": s("small"), ":f": s("F")}}); err != nil {
		t.Fatal(err)
	}
	check("update", 5, 0)

	// Reads: a strongly consistent GetItem (1), an eventually consistent
	// one of a missing item (0.5), a filtered query that reads the item and
	// returns nothing (1).
	if _, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key, ConsistentRead: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: map[string]types.AttributeValue{"pk": s("none"), "sk": s("none")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Query(ctx, &dynamodb.QueryInput{TableName: table, KeyConditionExpression: aws.String("pk = :pk"),
		FilterExpression:          aws.String("body = :nothing"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": key["pk"], ":nothing": s("nothing")}, ConsistentRead: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	check("reads", 0, 2.5)

	// A delete: the item (1) and both index entries (1 + 1).
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: key}); err != nil {
		t.Fatal(err)
	}
	snap := m.Snapshot()
	check("delete", 3, 0)
	if got := snap.Calls[costmeter.Op{Service: costmeter.DynamoDB, Operation: "DeleteItem"}]; got != 1 {
		t.Errorf("DeleteItem calls = %d, want 1", got)
	}
}
