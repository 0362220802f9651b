package usage

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/table"
)

// Items: every customer has one partition, CUST#<partner>#<customer>, with
// the customer item (sk CUSTOMER: usage counters and the sync slot, see
// package syncslot) and one item per account (sk ACCT#<account id>). The
// customer item is also in the byCustomer index under CUSTOMERS#<partner>,
// so the resync can list a partner's customers page by page.

// CustomerPK is the partition of a customer.
func CustomerPK(partnerID, customerID string) string {
	return "CUST#" + partnerID + "#" + customerID
}

// CustomerSK is the sort key of the customer item.
const CustomerSK = "CUSTOMER"

// CustomersIndexPK is the byCustomer index partition listing a partner's customers.
func CustomersIndexPK(partnerID string) string { return "CUSTOMERS#" + partnerID }

// Store reads and writes usage state.
type Store struct {
	DB    *dynamodb.Client
	Table string
}

var (
	enc = func(o *attributevalue.EncoderOptions) { o.TagKey = "json" }
	dec = func(o *attributevalue.DecoderOptions) { o.TagKey = "json" }
)

// ErrConflict is returned when the item kept changing under concurrent writers.
var ErrConflict = errors.New("usage state changed concurrently; retry")

// Record applies an event to the stored state: backup and status events to
// their account, usage snapshots to the customer. It creates the customer
// item on the first event, so the customer is known to the resync. Events
// that carry no usage (notifications) only register the customer.
func (s *Store) Record(ctx context.Context, partnerID string, ev *contract.Event) error {
	if err := s.ensureCustomer(ctx, partnerID, ev.Customer); err != nil {
		return err
	}
	switch ev.Type {
	case contract.TypeBackupCompleted:
		return s.updateAccount(ctx, partnerID, ev.Customer.ID, ev.Backup.Account.ID, func(a Account) Account {
			return ApplyBackup(a, ev.Backup, ev.OccurredAt)
		})
	case contract.TypeServiceStatus:
		if ev.Status.Account == nil {
			return nil
		}
		return s.updateAccount(ctx, partnerID, ev.Customer.ID, ev.Status.Account.ID, func(a Account) Account {
			return ApplyStatus(a, ev.Status, ev.OccurredAt)
		})
	case contract.TypeUsageSnapshot:
		return s.updateCustomer(ctx, partnerID, ev.Customer.ID, func(c Customer) Customer {
			return ApplySnapshot(c, ev.Usage, ev.OccurredAt)
		})
	}
	return nil
}

// ensureCustomer creates the customer item if it does not exist (a put
// conditioned on absence: the in-process emulator only indexes items whose
// index keys are written directly, not through if_not_exists).
func (s *Store) ensureCustomer(ctx context.Context, partnerID string, c contract.Customer) error {
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.Table),
		Item: map[string]types.AttributeValue{
			table.PK:     table.S(CustomerPK(partnerID, c.ID)),
			table.SK:     table.S(CustomerSK),
			"partnerId":  table.S(partnerID),
			"customerId": table.S(c.ID),
			table.GSI1PK: table.S(CustomersIndexPK(partnerID)),
			table.GSI1SK: table.S(IndexSortKey(false, c.ID)),
			"version":    &types.AttributeValueMemberN{Value: "0"},
		},
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if err != nil && !table.IsConditionFailed(err) {
		return fmt.Errorf("register customer %s/%s: %w", partnerID, c.ID, err)
	}
	return nil
}

// IndexSortKey orders a partner's customers in the byCustomer index:
// pending ones ("0#…") before the others ("1#…").
func IndexSortKey(pending bool, customerID string) string {
	if pending {
		return "0#" + customerID
	}
	return "1#" + customerID
}

// versionCondition guards read-modify-write: the item is as we read it.
const versionCondition = "attribute_not_exists(pk) OR version = :v"

func (s *Store) updateAccount(ctx context.Context, partnerID, customerID, accountID string, apply func(Account) Account) error {
	key := table.Key(CustomerPK(partnerID, customerID), "ACCT#"+accountID)
	for attempt := 0; attempt < 5; attempt++ {
		out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return fmt.Errorf("read account %s: %w", accountID, err)
		}
		var a Account
		version := 0
		if len(out.Item) > 0 {
			if err := attributevalue.UnmarshalMapWithOptions(out.Item, &a, dec); err != nil {
				return fmt.Errorf("decode account %s: %w", accountID, err)
			}
			version = intAttr(out.Item["version"])
		}
		a.PartnerID, a.CustomerID, a.AccountID = partnerID, customerID, accountID
		next := apply(a)
		item, err := attributevalue.MarshalMapWithOptions(next, enc)
		if err != nil {
			return fmt.Errorf("encode account %s: %w", accountID, err)
		}
		item[table.PK], item[table.SK] = key[table.PK], key[table.SK]
		item["version"] = &types.AttributeValueMemberN{Value: strconv.Itoa(version + 1)}
		_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(s.Table), Item: item,
			ConditionExpression:       aws.String(versionCondition),
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.Itoa(version)}},
		})
		if table.IsConditionFailed(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write account %s: %w", accountID, err)
		}
		return nil
	}
	return fmt.Errorf("account %s: %w", accountID, ErrConflict)
}

// customerFields are the usage attributes of the customer item (the sync
// slot's attributes on the same item are left alone).
var customerFields = []string{"archivingMailboxes", "filteringMailboxes", "shadowProtectServers", "shadowProtectDesktops", "usageAsOf"}

func (s *Store) updateCustomer(ctx context.Context, partnerID, customerID string, apply func(Customer) Customer) error {
	key := table.Key(CustomerPK(partnerID, customerID), CustomerSK)
	for attempt := 0; attempt < 5; attempt++ {
		c, version, err := s.customer(ctx, partnerID, customerID)
		if err != nil {
			return err
		}
		next := apply(c)
		item, err := attributevalue.MarshalMapWithOptions(next, enc)
		if err != nil {
			return fmt.Errorf("encode customer %s: %w", customerID, err)
		}
		set, remove := "SET version = :next", ""
		vals := map[string]types.AttributeValue{
			":v":    &types.AttributeValueMemberN{Value: strconv.Itoa(version)},
			":next": &types.AttributeValueMemberN{Value: strconv.Itoa(version + 1)},
		}
		for _, f := range customerFields {
			if v, ok := item[f]; ok {
				set += fmt.Sprintf(", %s = :%s", f, f)
				vals[":"+f] = v
			} else {
				remove += ", " + f
			}
		}
		expr := set
		if remove != "" {
			expr += " REMOVE " + remove[2:]
		}
		_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(s.Table), Key: key,
			UpdateExpression:          aws.String(expr),
			ConditionExpression:       aws.String("version = :v"),
			ExpressionAttributeValues: vals,
		})
		if table.IsConditionFailed(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write customer %s: %w", customerID, err)
		}
		return nil
	}
	return fmt.Errorf("customer %s: %w", customerID, ErrConflict)
}

func (s *Store) customer(ctx context.Context, partnerID, customerID string) (Customer, int, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: table.Key(CustomerPK(partnerID, customerID), CustomerSK), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Customer{}, 0, fmt.Errorf("read customer %s: %w", customerID, err)
	}
	var c Customer
	if err := attributevalue.UnmarshalMapWithOptions(out.Item, &c, dec); err != nil {
		return Customer{}, 0, fmt.Errorf("decode customer %s: %w", customerID, err)
	}
	c.PartnerID, c.CustomerID = partnerID, customerID
	return c, intAttr(out.Item["version"]), nil
}

// Load returns a customer's state and all its accounts (sorted by id).
func (s *Store) Load(ctx context.Context, partnerID, customerID string) (Customer, []Account, error) {
	c, _, err := s.customer(ctx, partnerID, customerID)
	if err != nil {
		return Customer{}, nil, err
	}
	var accts []Account
	var start map[string]types.AttributeValue
	for {
		out, err := s.DB.Query(ctx, &dynamodb.QueryInput{
			TableName:              aws.String(s.Table),
			KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :acct)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": table.S(CustomerPK(partnerID, customerID)), ":acct": table.S("ACCT#"),
			},
			ConsistentRead:    aws.Bool(true),
			ExclusiveStartKey: start,
		})
		if err != nil {
			return Customer{}, nil, fmt.Errorf("read accounts of %s: %w", customerID, err)
		}
		for _, item := range out.Items {
			var a Account
			if err := attributevalue.UnmarshalMapWithOptions(item, &a, dec); err != nil {
				return Customer{}, nil, fmt.Errorf("decode account: %w", err)
			}
			accts = append(accts, a)
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		start = out.LastEvaluatedKey
	}
	return c, accts, nil
}

func intAttr(v types.AttributeValue) int {
	if n, ok := v.(*types.AttributeValueMemberN); ok {
		i, _ := strconv.Atoi(n.Value)
		return i
	}
	return 0
}
