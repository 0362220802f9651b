package localaws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/efs-cw/backupbridge/internal/dev/stackdef"
)

// DefaultNames gives every table and queue of st a physical name: the
// template's literal TableName or QueueName when it has one, otherwise one
// derived from prefix as CloudFormation would generate one: the logical id
// "Table" becomes prefix itself (backupbridge-local), any other id
// prefix-LogicalID (backupbridge-local-EventsQueue), with ".fifo" appended
// for a FIFO queue.
func DefaultNames(st *stackdef.Stack, prefix string) map[string]string {
	names := make(map[string]string, len(st.Tables)+len(st.Queues))
	name := func(id string) string {
		if id == "Table" {
			return prefix
		}
		return prefix + "-" + id
	}
	for _, t := range st.Tables {
		names[t.LogicalID] = t.TableName
		if t.TableName == "" {
			names[t.LogicalID] = name(t.LogicalID)
		}
	}
	for _, q := range st.Queues {
		switch {
		case q.QueueName != "":
			names[q.LogicalID] = q.QueueName
		case q.FIFO:
			names[q.LogicalID] = name(q.LogicalID) + ".fifo"
		default:
			names[q.LogicalID] = name(q.LogicalID)
		}
	}
	return names
}

// CreateTables creates every table of st, named by names (logical id →
// physical name, at least 3 characters as DynamoDB requires), waits until
// each is ACTIVE, and turns on its TTL attribute.
//
// A table that already exists is left as it is. Tables are created with
// on-demand billing unless the template says PROVISIONED (then 5/5 units, a
// number no emulator enforces). Point-in-time recovery is not set up: no
// emulator has backups. Where the server lacks UpdateTimeToLive (minidyn,
// dynalite) that is logged and skipped: expired items are then never
// deleted, which real DynamoDB also does only lazily, so code must compare
// expiresAt itself anyway.
func CreateTables(ctx context.Context, ddb *dynamodb.Client, st *stackdef.Stack, names map[string]string) error {
	for _, t := range st.Tables {
		name := names[t.LogicalID]
		if len(name) < 3 {
			return fmt.Errorf("create table %s: physical name %q: need at least 3 characters", t.LogicalID, name)
		}
		in := createTableInput(t, name)
		if _, err := ddb.CreateTable(ctx, in); err != nil {
			var inUse *ddbtypes.ResourceInUseException
			if !errors.As(err, &inUse) {
				return fmt.Errorf("create table %s (%s): %w", t.LogicalID, name, err)
			}
		}
		if err := waitTableActive(ctx, ddb, name); err != nil {
			return fmt.Errorf("create table %s (%s): %w", t.LogicalID, name, err)
		}
		if t.TTLAttribute == "" {
			continue
		}
		_, err := ddb.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName: aws.String(name),
			TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{
				AttributeName: aws.String(t.TTLAttribute),
				Enabled:       aws.Bool(true),
			},
		})
		switch {
		case err == nil:
		case isUnsupportedOperation(err):
			slog.Default().InfoContext(ctx, "local DynamoDB has no UpdateTimeToLive; items are never expired",
				"table", name, "ttlAttribute", t.TTLAttribute)
		default:
			return fmt.Errorf("create table %s (%s): enable TTL on %s: %w", t.LogicalID, name, t.TTLAttribute, err)
		}
	}
	return nil
}

func createTableInput(t stackdef.Table, name string) *dynamodb.CreateTableInput {
	provisioned := strings.EqualFold(t.BillingMode, string(ddbtypes.BillingModeProvisioned))
	throughput := &ddbtypes.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(5), WriteCapacityUnits: aws.Int64(5)}
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		KeySchema:   keySchema(t.KeySchema),
		BillingMode: ddbtypes.BillingModePayPerRequest,
	}
	if provisioned {
		in.BillingMode = ddbtypes.BillingModeProvisioned
		in.ProvisionedThroughput = throughput
	}
	for _, a := range t.Attributes {
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{
			AttributeName: aws.String(a.Name),
			AttributeType: ddbtypes.ScalarAttributeType(a.Type),
		})
	}
	for _, g := range t.GSIs {
		proj := ddbtypes.ProjectionType(g.ProjectionType)
		if proj == "" {
			proj = ddbtypes.ProjectionTypeAll
		}
		gsi := ddbtypes.GlobalSecondaryIndex{
			IndexName:  aws.String(g.Name),
			KeySchema:  keySchema(g.KeySchema),
			Projection: &ddbtypes.Projection{ProjectionType: proj},
		}
		if proj == ddbtypes.ProjectionTypeInclude {
			gsi.Projection.NonKeyAttributes = g.NonKeyAttributes
		}
		if provisioned {
			gsi.ProvisionedThroughput = throughput
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, gsi)
	}
	return in
}

func keySchema(ks []stackdef.KeyElement) []ddbtypes.KeySchemaElement {
	out := make([]ddbtypes.KeySchemaElement, 0, len(ks))
	for _, k := range ks {
		out = append(out, ddbtypes.KeySchemaElement{
			AttributeName: aws.String(k.Name),
			KeyType:       ddbtypes.KeyType(k.KeyType),
		})
	}
	return out
}

// waitTableActive polls DescribeTable until the table and its GSIs are
// ACTIVE. minidyn reports no status at all; an empty status counts as
// active (its tables are usable as soon as CreateTable returns).
func waitTableActive(ctx context.Context, ddb *dynamodb.Client, name string) error {
	for {
		out, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("describe table: %w", err)
		}
		if tableActive(out.Table) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for table %s to be ACTIVE: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func tableActive(t *ddbtypes.TableDescription) bool {
	if t == nil {
		return false
	}
	if s := t.TableStatus; s != "" && s != ddbtypes.TableStatusActive {
		return false
	}
	for _, g := range t.GlobalSecondaryIndexes {
		if s := g.IndexStatus; s != "" && s != ddbtypes.IndexStatusActive {
			return false
		}
	}
	return true
}

// isUnsupportedOperation reports whether err says the server does not know
// the operation: dynalite answers UnknownOperationException; minidyn answers
// HTTP 400 with a plain-text body the SDK cannot decode.
func isUnsupportedOperation(err error) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "UnknownOperationException" {
		return true
	}
	var respErr *awshttp.ResponseError
	var decodeErr *smithy.DeserializationError
	return errors.As(err, &respErr) && respErr.HTTPStatusCode() == 400 && errors.As(err, &decodeErr)
}

// CreateQueues creates every queue of st, named by names (logical id →
// physical name), and returns their URLs by logical id.
//
// Dead-letter queues are created before the queues that redrive to them;
// a queue with a DeadLetterTarget (the logical id of another queue) gets the
// RedrivePolicy {"deadLetterTargetArn": <the DLQ's QueueArn from
// GetQueueAttributes>, "maxReceiveCount": N}; a literal DeadLetterTargetArn
// is used as it is. With goaws the URLs look like
// http://us-east-1.127.0.0.1:PORT/100010001000/NAME: fine for an SQS client
// whose endpoint is that goaws (see the package documentation), not for an
// HTTP request of your own. visibilityOverride (logical id → seconds) replaces
// the template's VisibilityTimeout, so tests can see a failed message come
// back in a second instead of six minutes.
func CreateQueues(ctx context.Context, sqsc *sqs.Client, st *stackdef.Stack, names map[string]string, visibilityOverride map[string]int) (map[string]string, error) {
	byID := make(map[string]stackdef.Queue, len(st.Queues))
	for _, q := range st.Queues {
		byID[q.LogicalID] = q
	}
	for _, q := range st.Queues {
		if !q.HasDeadLetterQueue() {
			continue
		}
		if _, ok := byID[q.DeadLetterTarget]; q.DeadLetterTarget != "" && !ok {
			return nil, fmt.Errorf("create queue %s: dead-letter target %s is not a queue of the stack", q.LogicalID, q.DeadLetterTarget)
		}
		if q.MaxReceiveCount <= 0 {
			return nil, fmt.Errorf("create queue %s: a redrive policy needs maxReceiveCount ≥ 1", q.LogicalID)
		}
	}

	urls := make(map[string]string, len(st.Queues))
	arns := make(map[string]string, len(st.Queues))
	// Create in rounds: a queue is ready once its DLQ exists. A round that
	// creates nothing means a redrive cycle.
	for len(urls) < len(st.Queues) {
		progressed := false
		for _, q := range st.Queues {
			if _, done := urls[q.LogicalID]; done {
				continue
			}
			if q.DeadLetterTarget != "" {
				if _, ready := urls[q.DeadLetterTarget]; !ready {
					continue
				}
			}
			url, arn, err := createQueue(ctx, sqsc, q, names, visibilityOverride, arns)
			if err != nil {
				return nil, err
			}
			urls[q.LogicalID], arns[q.LogicalID] = url, arn
			progressed = true
		}
		if !progressed {
			return nil, errors.New("create queues: the dead-letter targets form a cycle")
		}
	}
	return urls, nil
}

func createQueue(ctx context.Context, sqsc *sqs.Client, q stackdef.Queue, names map[string]string, visibilityOverride map[string]int, arns map[string]string) (url, arn string, err error) {
	name := names[q.LogicalID]
	if name == "" {
		return "", "", fmt.Errorf("create queue %s: no physical name given", q.LogicalID)
	}
	attrs := map[string]string{}
	vis := q.VisibilityTimeout
	if v, ok := visibilityOverride[q.LogicalID]; ok {
		vis = v
	}
	if vis > 0 {
		attrs[string(sqstypes.QueueAttributeNameVisibilityTimeout)] = fmt.Sprint(vis)
	}
	for attr, v := range map[sqstypes.QueueAttributeName]int{
		sqstypes.QueueAttributeNameMessageRetentionPeriod:        q.MessageRetentionPeriod,
		sqstypes.QueueAttributeNameDelaySeconds:                  q.DelaySeconds,
		sqstypes.QueueAttributeNameReceiveMessageWaitTimeSeconds: q.ReceiveMessageWaitTimeSeconds,
	} {
		if v > 0 {
			attrs[string(attr)] = fmt.Sprint(v)
		}
	}
	if q.FIFO {
		attrs[string(sqstypes.QueueAttributeNameFifoQueue)] = "true"
	}
	if q.HasDeadLetterQueue() {
		target := q.DeadLetterTargetArn
		if q.DeadLetterTarget != "" {
			target = arns[q.DeadLetterTarget]
		}
		policy, err := json.Marshal(struct {
			DeadLetterTargetArn string `json:"deadLetterTargetArn"`
			MaxReceiveCount     int    `json:"maxReceiveCount"`
		}{target, q.MaxReceiveCount})
		if err != nil {
			return "", "", fmt.Errorf("create queue %s: redrive policy: %w", q.LogicalID, err)
		}
		attrs[string(sqstypes.QueueAttributeNameRedrivePolicy)] = string(policy)
	}
	out, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s (%s): %w", q.LogicalID, name, err)
	}
	url = aws.ToString(out.QueueUrl)
	arn, err = QueueARN(ctx, sqsc, url)
	if err != nil {
		return "", "", fmt.Errorf("create queue %s (%s): %w", q.LogicalID, name, err)
	}
	return url, arn, nil
}

// QueueARN asks SQS for the ARN of the queue at queueURL.
func QueueARN(ctx context.Context, sqsc *sqs.Client, queueURL string) (string, error) {
	out, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", fmt.Errorf("queue ARN of %s: %w", queueURL, err)
	}
	arn := out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	if arn == "" {
		return "", fmt.Errorf("queue ARN of %s: GetQueueAttributes returned no QueueArn", queueURL)
	}
	return arn, nil
}
