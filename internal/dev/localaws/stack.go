package localaws

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/efs-cw/backupbridge/internal/dev/stackdef"
)

// DefaultPrefix is the physical-name prefix of the local stack's resources.
const DefaultPrefix = "backupbridge-local"

// StackOptions configure StartStack. The zero value is ready to use.
type StackOptions struct {
	// Prefix of the physical names (default DefaultPrefix), see DefaultNames.
	Prefix string
	// Names overrides physical names by logical id.
	Names map[string]string
	// VisibilityOverride replaces queues' visibility timeouts (seconds) by
	// logical id, see CreateQueues.
	VisibilityOverride map[string]int
	// SQS configures goaws.
	SQS SQSOptions
	// APIOptions are added to Config.APIOptions, so to the DynamoDB and SQS
	// clients (a request meter: package costmeter).
	APIOptions []func(*middleware.Stack) error
}

// Stack is a running local copy of the template's data plane: goaws with the
// queues, minidyn with the tables, and clients for both.
type Stack struct {
	Config       aws.Config
	SQSServer    *SQSServer
	DynamoServer *DynamoServer
	SQS          *sqs.Client
	DynamoDB     *dynamodb.Client
	// Names maps logical ids to physical names (tables and queues).
	Names map[string]string
	// QueueURLs and QueueARNs map queue logical ids to URLs and ARNs.
	QueueURLs map[string]string
	QueueARNs map[string]string
}

// StartStack starts goaws and minidyn and creates def's tables and queues.
func StartStack(ctx context.Context, def *stackdef.Stack, opts StackOptions) (_ *Stack, err error) {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	s := &Stack{Names: DefaultNames(def, opts.Prefix)}
	maps.Copy(s.Names, opts.Names)
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close())
		}
	}()

	if s.Config, err = AWSConfig(ctx); err != nil {
		return nil, fmt.Errorf("start stack: %w", err)
	}
	s.Config.APIOptions = append(s.Config.APIOptions, opts.APIOptions...)
	if s.DynamoServer, err = StartDynamoDB(); err != nil {
		return nil, fmt.Errorf("start stack: %w", err)
	}
	s.DynamoDB = DynamoClient(s.Config, s.DynamoServer.Endpoint())
	if err = CreateTables(ctx, s.DynamoDB, def, s.Names); err != nil {
		return nil, fmt.Errorf("start stack: %w", err)
	}

	if s.SQSServer, err = StartSQS(ctx, opts.SQS); err != nil {
		return nil, fmt.Errorf("start stack: %w", err)
	}
	s.SQS = SQSClient(s.Config, s.SQSServer.Endpoint())
	if s.QueueURLs, err = CreateQueues(ctx, s.SQS, def, s.Names, opts.VisibilityOverride); err != nil {
		return nil, fmt.Errorf("start stack: %w", err)
	}
	s.QueueARNs = make(map[string]string, len(s.QueueURLs))
	for id, url := range s.QueueURLs {
		if s.QueueARNs[id], err = QueueARN(ctx, s.SQS, url); err != nil {
			return nil, fmt.Errorf("start stack: %w", err)
		}
	}
	return s, nil
}

// Env is the environment the functions would get from the template, pointed
// at this stack: TABLE_NAME (the table Table), QUEUE_URL (the queue
// EventsQueue), SYNC_QUEUE_URL (SyncQueue), the region and credentials, and the SDK's standard
// AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SQS.
func (s *Stack) Env() map[string]string {
	env := map[string]string{
		"AWS_REGION":            Region,
		"AWS_ACCESS_KEY_ID":     AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": SecretAccessKey,
	}
	if name, ok := s.Names["Table"]; ok {
		env["TABLE_NAME"] = name
	}
	if url, ok := s.QueueURLs["EventsQueue"]; ok {
		env["QUEUE_URL"] = url
	}
	if url, ok := s.QueueURLs["SyncQueue"]; ok {
		env["SYNC_QUEUE_URL"] = url
	}
	if s.DynamoServer != nil {
		env["AWS_ENDPOINT_URL_DYNAMODB"] = s.DynamoServer.Endpoint()
	}
	if s.SQSServer != nil {
		env["AWS_ENDPOINT_URL_SQS"] = s.SQSServer.Endpoint()
	}
	return env
}

// Close stops both servers. It is safe to call twice.
func (s *Stack) Close() error {
	var err error
	if s.SQSServer != nil {
		err = s.SQSServer.Close()
	}
	if s.DynamoServer != nil {
		s.DynamoServer.Close()
	}
	return err
}
