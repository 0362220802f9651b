// Command hello is the hello-world Lambda function that make bench-lambda
// measures beside the service's functions, built the same way and started
// under the same emulator in the same run: the floor of a Go function's init
// (the runtime, aws-lambda-go's runtime client), against which each
// function's own init work shows.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) (string, error) { return "hello", nil })
}
