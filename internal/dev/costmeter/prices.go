package costmeter

import (
	"fmt"
	"io"
)

// Prices are list prices, each in dollars per million units unless said
// otherwise.
type Prices struct {
	Region string
	// DynamoDB on-demand: per million write request units, read request
	// units.
	DynamoWrite, DynamoRead float64
	// SQS standard queue: per million requests (each 64 KB chunk of a
	// payload is one request).
	SQSRequest float64
	// Lambda (arm64): per million requests, and dollars per GB-second.
	LambdaRequest, LambdaGBSecond float64
	// Secrets Manager: per million API calls ($0.05 per 10,000).
	SecretsCall float64
	// SNS standard topic: per million publishes (64 KB chunks).
	SNSPublish float64
	// API Gateway HTTP API: per million requests (512 KB increments; the
	// first 300 million a month).
	APIGatewayRequest float64
}

// USEast1 are the us-east-1 list prices the benchmark uses (on-demand, no
// free tier, no volume tiers), as published by AWS at the time of writing:
// DynamoDB's on-demand prices are those after the November 2024 price cut.
var USEast1 = Prices{
	Region:            "us-east-1",
	DynamoWrite:       0.625,
	DynamoRead:        0.125,
	SQSRequest:        0.40,
	LambdaRequest:     0.20,
	LambdaGBSecond:    0.0000133334,
	SecretsCall:       5.00,
	SNSPublish:        0.50,
	APIGatewayRequest: 1.00,
}

// Write prints the prices.
func (p Prices) Write(w io.Writer) {
	fmt.Fprintf(w, "List prices used (%s, on-demand, no free tier):\n", p.Region)
	fmt.Fprintf(w, "  DynamoDB on-demand   $%.3f per million write request units, $%.3f per million read request units\n", p.DynamoWrite, p.DynamoRead)
	fmt.Fprintf(w, "  SQS standard         $%.2f per million requests (per 64 KB chunk)\n", p.SQSRequest)
	fmt.Fprintf(w, "  Lambda arm64         $%.2f per million requests + $%.10f per GB-second\n", p.LambdaRequest, p.LambdaGBSecond)
	fmt.Fprintf(w, "  Secrets Manager      $%.2f per 10,000 API calls\n", p.SecretsCall/100)
	fmt.Fprintf(w, "  SNS                  $%.2f per million publishes\n", p.SNSPublish)
	fmt.Fprintf(w, "  API Gateway HTTP API $%.2f per million requests\n", p.APIGatewayRequest)
}

// Row is what one event type cost: the meter's snapshot over Events events.
type Row struct {
	Name   string
	Events int
	Snap   Snapshot
	// MemoryMB of each Lambda function (for its GB-seconds).
	MemoryMB map[string]int
	// ConnectWiseCalls made during the row (shown, not priced).
	ConnectWiseCalls int
}

func (r Row) per(v float64) float64 { return v / float64(r.Events) }

// ServiceRequests is the billed requests per event of a service (SQS
// without its empty receives).
func (r Row) ServiceRequests(service string) float64 {
	var n float64
	for op, b := range r.Snap.Billed {
		if op.Service == service {
			n += b
		}
	}
	if service == SQS {
		n -= float64(r.Snap.EmptyReceives)
	}
	return r.per(n)
}

// Invocations is the Lambda invocations per event.
func (r Row) Invocations() float64 {
	n := 0
	for _, v := range r.Snap.Invocations {
		n += v
	}
	return r.per(float64(n))
}

// GBSeconds is the Lambda GB-seconds per event.
func (r Row) GBSeconds() float64 {
	var gbs float64
	for fn, ms := range r.Snap.BilledMillis {
		gbs += float64(ms) / 1000 * float64(r.MemoryMB[fn]) / 1024
	}
	return r.per(gbs)
}

// WCU and RCU are the DynamoDB units per event.
func (r Row) WCU() float64 { return r.per(r.Snap.WCU()) }

// RCU is the read units per event.
func (r Row) RCU() float64 { return r.per(r.Snap.RCU()) }

// Dollars is a cost per million events, by service.
type Dollars struct {
	DynamoDB, SQS, Lambda, APIGateway, Secrets, SNS float64
}

// Total is the sum.
func (d Dollars) Total() float64 {
	return d.DynamoDB + d.SQS + d.Lambda + d.APIGateway + d.Secrets + d.SNS
}

// PerMillion is what a million events of r cost at p.
func (p Prices) PerMillion(r Row) Dollars {
	return Dollars{
		DynamoDB:   r.WCU()*p.DynamoWrite + r.RCU()*p.DynamoRead,
		SQS:        r.ServiceRequests(SQS) * p.SQSRequest,
		Lambda:     r.Invocations()*p.LambdaRequest + r.GBSeconds()*1e6*p.LambdaGBSecond,
		APIGateway: r.ServiceRequests(APIGateway) * p.APIGatewayRequest,
		Secrets:    r.ServiceRequests(SecretsManager) * p.SecretsCall,
		SNS:        r.ServiceRequests(SNS) * p.SNSPublish,
	}
}
