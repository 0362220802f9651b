// Package localaws runs the AWS parts of backupbridge on one machine, for
// tests and for make run: SQS (goaws, a child process), DynamoDB (minidyn,
// in process), and what AWS itself would do around the functions: the SQS
// event source mapping (EventSource), API Gateway's HTTP API (ListenGateway:
// a loopback-only http.Server with API Gateway's body limit and integration
// timeout, serving the functions' own http.Handlers) and an EventBridge
// schedule (Every).
//
// The handlers it drives are the very ones Lambda runs; only the plumbing
// around them is local. Tests get the servers through package localtest.
//
// # What differs from AWS
//
// goaws v0.5.4 (SQS):
//   - ApproximateReceiveCount stays "1" on every redelivery; the redrive to
//     the DLQ still happens after maxReceiveCount receives. Code must not
//     rely on the count locally.
//   - SentTimestamp is stamped at receive time, not send time.
//   - A message reappears up to a second after its visibility timeout (goaws
//     checks once a second); the redrive also happens on that tick.
//   - Queue URLs are http://us-east-1.127.0.0.1:PORT/100010001000/NAME. The
//     SDK sends the URL in the request body and goaws only reads its last
//     path segment, so they work with a client whose endpoint is the goaws
//     server, but the host does not resolve.
//   - No authentication. Stock goaws listens on 0.0.0.0 whatever its config
//     says; the local stack runs goaws's own main rebuilt to listen on
//     127.0.0.1 only (package goawsloopback) and refuses to start when the
//     port is open on any other address.
//
// minidyn v0.8.2 (DynamoDB):
//   - No UpdateTimeToLive (nothing ever expires), no backups (PITR), no
//     streams; DescribeTable reports no TableStatus (tables are usable at
//     once).
//   - A failed condition does not return the old item
//     (ReturnValuesOnConditionCheckFailure); read it again when needed.
//   - Its table-level calls are not thread-safe; StartDynamoDB serializes
//     all requests.
//   - It sends no CRC32 header; DynamoClient turns the check off, which
//     also silences the SDK's per-response warning.
//
// API Gateway: IAM authorization is stood in for by a bearer token checked
// in middleware (localstack.OperatorAuth); the payload 2.0 mapping is not
// exercised here but in package lambdahttp and the emulator tests, which
// run the real binaries under the Lambda runtime interface emulator.
package localaws
