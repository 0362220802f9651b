package localaws

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Identity of the local stand-ins for AWS. goaws is configured with these, and
// the ARNs and queue URLs built here use them.
const (
	// Region is the region every local client and server uses.
	Region = "us-east-1"
	// AccountID is the account id goaws puts in queue ARNs and URLs.
	AccountID = "100010001000"
	// AccessKeyID and SecretAccessKey are the static credentials of AWSConfig.
	// Neither local server checks them; the SDK only needs something to sign with.
	AccessKeyID     = "local"
	SecretAccessKey = "local"
)

// AWSConfig returns the SDK configuration for talking to the local servers:
// region us-east-1, static credentials ("local", "local") and the SDK's
// default retryer.
//
// It is built by hand rather than with config.LoadDefaultConfig so that
// nothing from the developer's environment leaks in: no ~/.aws/config or
// ~/.aws/credentials, no AWS_PROFILE (which would make LoadDefaultConfig fail
// when the profile is not in the files), no AWS_ENDPOINT_URL* pointing at a
// real account. Endpoints are given per client, see DynamoClient and
// SQSClient.
//
// Response checksums are validated only when an operation requires it, which
// no DynamoDB or SQS operation does; that keeps the SDK from warning on every
// minidyn and goaws response that carries no checksum header.
func AWSConfig(ctx context.Context) (aws.Config, error) {
	if err := ctx.Err(); err != nil {
		return aws.Config{}, err
	}
	return aws.Config{
		Region:                     Region,
		Credentials:                aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")),
		Retryer:                    func() aws.Retryer { return retry.NewStandard() },
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}, nil
}

// DynamoClient returns a DynamoDB client for cfg that sends every request to
// endpoint (a URL such as DynamoServer.Endpoint()).
func DynamoClient(cfg aws.Config, endpoint string) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		// minidyn sends no X-Amz-Crc32 header; there is nothing to validate.
		o.DisableValidateResponseChecksum = true
	})
}

// SQSClient returns an SQS client for cfg that sends every request to
// endpoint (a URL such as SQSServer.Endpoint()). The SDK speaks the AWS JSON
// 1.0 protocol, so the queue URL travels in the request body and its host is
// never dialled: the URLs goaws returns (http://us-east-1.127.0.0.1:PORT/...)
// work although that host name does not resolve.
func SQSClient(cfg aws.Config, endpoint string) *sqs.Client {
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	})
}
