package usage

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
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

// Record applies an event to the stored state, with no record of which
// events were applied (RecordEvent is the worker's, once per event).
func (s *Store) Record(ctx context.Context, partnerID string, ev *contract.Event) error {
	return s.RecordEvent(ctx, partnerID, "", ev)
}

// AppliedKept is how many of its newest backup events an account item
// remembers by id, so that a backup delivered twice is counted once.
const AppliedKept = 16

// RecordEvent applies an event to the stored state: backup and status events
// to their account, usage snapshots to the customer. It registers the
// customer on its first event, so the customer is known to the resync.
// Events that carry no usage (notifications) only register the customer.
//
// Writes are few, because every event pays for them: the customer item is
// read first and put only when it is missing (a conditional put that fails
// still costs a write unit); an account that exists implies its customer;
// and nothing is written when the event changes nothing. A backup event's
// counts are the only figures that are not idempotent: the account item
// keeps the ids of its last AppliedKept backup events (eventID), so a
// redelivered or retried message is counted once without a claim of its
// own. (A repeat arriving after AppliedKept newer backups of the same
// account, days later, would count twice; SQS redelivers within minutes.)
func (s *Store) RecordEvent(ctx context.Context, partnerID, eventID string, ev *contract.Event) error {
	switch ev.Type {
	case contract.TypeBackupCompleted:
		return s.updateAccount(ctx, partnerID, ev.Customer, ev.Backup.Account.ID, eventID, func(a Account) Account {
			return ApplyBackup(a, ev.Backup, ev.OccurredAt)
		})
	case contract.TypeServiceStatus:
		if ev.Status.Account == nil {
			return s.ensureCustomer(ctx, partnerID, ev.Customer)
		}
		return s.updateAccount(ctx, partnerID, ev.Customer, ev.Status.Account.ID, "", func(a Account) Account {
			return ApplyStatus(a, ev.Status, ev.OccurredAt)
		})
	case contract.TypeUsageSnapshot:
		return s.updateCustomer(ctx, partnerID, ev.Customer, func(c Customer) Customer {
			return ApplySnapshot(c, ev.Usage, ev.OccurredAt)
		})
	case contract.TypeAccountRemoved:
		return s.updateAccount(ctx, partnerID, ev.Customer, ev.Removal.Account.ID, "", func(a Account) Account {
			return ApplyAccountRemoved(a, ev.Removal, ev.OccurredAt)
		})
	case contract.TypeCustomerRemoved:
		return s.updateCustomer(ctx, partnerID, ev.Customer, func(c Customer) Customer {
			return ApplyCustomerRemoved(c, ev.OccurredAt)
		})
	}
	return s.ensureCustomer(ctx, partnerID, ev.Customer)
}

// ensureCustomer creates the customer item if it does not exist: a read
// (eventually consistent: if it is stale, the conditional put below fails
// harmlessly), then a put conditioned on absence (the in-process emulator
// only indexes items whose index keys are written directly, not through
// if_not_exists).
func (s *Store) ensureCustomer(ctx context.Context, partnerID string, c contract.Customer) error {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:            aws.String(s.Table),
		Key:                  table.Key(CustomerPK(partnerID, c.ID), CustomerSK),
		ProjectionExpression: aws.String("pk"),
	})
	if err != nil {
		return fmt.Errorf("read customer %s/%s: %w", partnerID, c.ID, err)
	}
	if len(out.Item) > 0 {
		return nil
	}
	return s.putCustomer(ctx, partnerID, c)
}

func (s *Store) putCustomer(ctx context.Context, partnerID string, c contract.Customer) error {
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

func (s *Store) updateAccount(ctx context.Context, partnerID string, cust contract.Customer, accountID, eventID string, apply func(Account) Account) error {
	customerID := cust.ID
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
			version = int(table.Int64(out.Item["version"]))
		} else if err := s.ensureCustomer(ctx, partnerID, cust); err != nil {
			// A new account: its customer first, so the resync lists it.
			return err
		}
		if eventID != "" && slices.Contains(a.Applied, eventID) {
			return nil // counted already: a redelivery or a retry
		}
		a.PartnerID, a.CustomerID, a.AccountID = partnerID, customerID, accountID
		next := apply(a)
		if eventID != "" {
			next.Applied = append(slices.Clone(a.Applied[max(0, len(a.Applied)-(AppliedKept-1)):]), eventID)
		} else if version > 0 && reflect.DeepEqual(next, a) {
			return nil // the event changes nothing stored
		}
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
var customerFields = []string{"archivingMailboxes", "filteringMailboxes", "shadowProtectServers", "shadowProtectDesktops", "usageAsOf", "removedAt"}

func (s *Store) updateCustomer(ctx context.Context, partnerID string, cust contract.Customer, apply func(Customer) Customer) error {
	customerID := cust.ID
	key := table.Key(CustomerPK(partnerID, customerID), CustomerSK)
	for attempt := 0; attempt < 5; attempt++ {
		c, version, found, err := s.customer(ctx, partnerID, customerID)
		if err != nil {
			return err
		}
		if !found {
			if err := s.putCustomer(ctx, partnerID, cust); err != nil {
				return err
			}
			continue
		}
		next := apply(c)
		if reflect.DeepEqual(next, c) {
			return nil // the snapshot changes nothing stored
		}
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

func (s *Store) customer(ctx context.Context, partnerID, customerID string) (Customer, int, bool, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: table.Key(CustomerPK(partnerID, customerID), CustomerSK), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Customer{}, 0, false, fmt.Errorf("read customer %s: %w", customerID, err)
	}
	var c Customer
	if err := attributevalue.UnmarshalMapWithOptions(out.Item, &c, dec); err != nil {
		return Customer{}, 0, false, fmt.Errorf("decode customer %s: %w", customerID, err)
	}
	c.PartnerID, c.CustomerID = partnerID, customerID
	return c, int(table.Int64(out.Item["version"])), len(out.Item) > 0, nil
}

// Customer reads the customer's usage state (found false when it has none).
func (s *Store) Customer(ctx context.Context, partnerID, customerID string) (Customer, bool, error) {
	c, _, found, err := s.customer(ctx, partnerID, customerID)
	return c, found, err
}

// Account reads one account's state (found false when it has none).
func (s *Store) Account(ctx context.Context, partnerID, customerID, accountID string) (Account, bool, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: table.Key(CustomerPK(partnerID, customerID), "ACCT#"+accountID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Account{}, false, fmt.Errorf("read account %s: %w", accountID, err)
	}
	if len(out.Item) == 0 {
		return Account{}, false, nil
	}
	var a Account
	if err := attributevalue.UnmarshalMapWithOptions(out.Item, &a, dec); err != nil {
		return Account{}, false, fmt.Errorf("decode account %s: %w", accountID, err)
	}
	return a, true, nil
}

// Load returns a customer's state and all its accounts (sorted by id).
func (s *Store) Load(ctx context.Context, partnerID, customerID string) (Customer, []Account, error) {
	c, _, _, err := s.customer(ctx, partnerID, customerID)
	if err != nil {
		return Customer{}, nil, err
	}
	var accts []Account
	for item, err := range table.QueryPrefix(ctx, s.DB, s.Table, CustomerPK(partnerID, customerID), "ACCT#", true) {
		if err != nil {
			return Customer{}, nil, fmt.Errorf("read accounts of %s: %w", customerID, err)
		}
		var a Account
		if err := attributevalue.UnmarshalMapWithOptions(item, &a, dec); err != nil {
			return Customer{}, nil, fmt.Errorf("decode account: %w", err)
		}
		accts = append(accts, a)
	}
	return c, accts, nil
}
