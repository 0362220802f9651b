// Command signevents writes the invocation events of events/ from the raw
// sample bodies (events/<name>.json):
//
//   - events/apigw/<name>.json: the API Gateway (HTTP API, payload 2.0) request
//     that `sam local invoke WebhookFunction -e` takes, for partner "demo",
//     signed with the demo partner's webhook secret at the current time;
//   - events/sqs/<name>.json for a few samples: the events.SQSEvent the worker
//     receives once the webhook has enqueued that event.
//
// A signature is good for signature.Tolerance (5 minutes), so re-sign right
// before invoking:
//
//	go run ./infra/signevents                # re-sign at the current time
//	go run ./infra/signevents -check         # verify, write nothing
//	sam local invoke WebhookFunction -e events/apigw/backup-completed-failure.json
//
// -check verifies that every raw sample parses, has an apigw twin whose body
// is the sample byte for byte, whose signature verifies at its own timestamp
// and which the webhook handler accepts; that no twin lacks its sample; that
// the SQS events carry the samples; and that events/schedule/resync.json is
// a scheduled EventBridge event. It exits 1 listing every problem.
package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/lambdahttp"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/signature"
	"github.com/efs-cw/backupbridge/internal/webhook"
)

// The local stack's account, region and queue (the same values as
// events/env.json and the local AWS servers).
const (
	accountID = "100010001000"
	region    = "us-east-1"
	queueName = "backupbridge-local-EventsQueue"
	apiID     = "bbridge001"
)

// sqsSamples are the samples written as SQS events as well.
var sqsSamples = []string{"backup-completed-failure", "backup-completed-success", "notification-backup-failure"}

// notSamples are JSON files of events/ that are not event bodies (env.json
// is the SAM --env-vars file).
var notSamples = []string{"env.json"}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "signevents:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("signevents", flag.ContinueOnError)
	dir := fs.String("dir", "events", "the events directory (raw samples; apigw/, sqs/ and schedule/ beneath)")
	check := fs.Bool("check", false, "verify the events instead of writing them")
	at := fs.String("at", "", "signing time, RFC 3339 (default now)")
	secret := fs.String("secret", partner.DemoWebhookSecret, "webhook signing secret (whsec_…)")
	partnerID := fs.String("partner", partner.DemoPartnerID, "partner id")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key, err := signature.ParseSecret(*secret)
	if err != nil {
		return err
	}
	samples, err := readSamples(*dir)
	if err != nil {
		return err
	}
	if *check {
		problems := checkAll(*dir, samples, *secret, key, *partnerID, out)
		if len(problems) > 0 {
			for _, p := range problems {
				fmt.Fprintln(out, "FAIL", p)
			}
			return fmt.Errorf("%d problems", len(problems))
		}
		fmt.Fprintf(out, "ok: %d samples, each with its apigw twin\n", len(samples))
		return nil
	}
	when := time.Now().UTC().Truncate(time.Second)
	if *at != "" {
		if when, err = time.Parse(time.RFC3339, *at); err != nil {
			return fmt.Errorf("-at: %w", err)
		}
	}
	return writeAll(*dir, samples, key, *partnerID, when, out)
}

// sample is one raw sample body.
type sample struct {
	name  string
	body  []byte
	event *contract.Event
}

// readSamples reads and parses the raw samples of dir, sorted by name.
func readSamples(dir string) ([]sample, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []sample
	var errs []error
	for _, p := range paths {
		if slices.Contains(notSamples, filepath.Base(p)) {
			continue
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		e, err := contract.Parse(body)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		out = append(out, sample{name: strings.TrimSuffix(filepath.Base(p), ".json"), body: body, event: e})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no samples in %s (run from the module root, or pass -dir)", dir)
	}
	return out, nil
}

// webhookID is the webhook-id of a sample signed at t: new at every signing,
// so that invoking a re-signed event is not answered as a duplicate.
func webhookID(name string, t time.Time) string {
	return "msg_" + strconv.FormatInt(t.Unix(), 36) + "_" + name
}

// apigwEvent is the part of events.APIGatewayV2HTTPRequest API Gateway fills
// for this route (the library's own type would also write empty mTLS and
// authorizer blocks).
type apigwEvent struct {
	Version         string            `json:"version"`
	RouteKey        string            `json:"routeKey"`
	RawPath         string            `json:"rawPath"`
	RawQueryString  string            `json:"rawQueryString"`
	Headers         map[string]string `json:"headers"`
	PathParameters  map[string]string `json:"pathParameters"`
	RequestContext  apigwContext      `json:"requestContext"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
}

type apigwContext struct {
	AccountID    string    `json:"accountId"`
	APIID        string    `json:"apiId"`
	DomainName   string    `json:"domainName"`
	DomainPrefix string    `json:"domainPrefix"`
	HTTP         apigwHTTP `json:"http"`
	RequestID    string    `json:"requestId"`
	RouteKey     string    `json:"routeKey"`
	Stage        string    `json:"stage"`
	Time         string    `json:"time"`
	TimeEpoch    int64     `json:"timeEpoch"`
}

type apigwHTTP struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	Protocol  string `json:"protocol"`
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

const userAgent = "backup-provider-webhooks/1.0"

func apigwFor(s sample, key []byte, partnerID string, t time.Time) apigwEvent {
	id := webhookID(s.name, t)
	path := "/v1/partners/" + partnerID + "/events"
	domain := apiID + ".execute-api." + region + ".amazonaws.com"
	return apigwEvent{
		Version:        "2.0",
		RouteKey:       webhook.Route,
		RawPath:        path,
		RawQueryString: "",
		Headers: map[string]string{
			"content-length":          strconv.Itoa(len(s.body)),
			"content-type":            "application/json",
			"host":                    domain,
			"user-agent":              userAgent,
			signature.HeaderID:        id,
			signature.HeaderTimestamp: strconv.FormatInt(t.Unix(), 10),
			signature.HeaderSignature: signature.Sign(key, id, t, s.body),
			"x-amzn-trace-id":         "Root=1-" + strconv.FormatInt(t.Unix(), 16) + "-" + digest(id)[:24],
			"x-forwarded-for":         "203.0.113.10",
			"x-forwarded-port":        "443",
			"x-forwarded-proto":       "https",
		},
		PathParameters: map[string]string{webhook.PathParameter: partnerID},
		RequestContext: apigwContext{
			AccountID:    accountID,
			APIID:        apiID,
			DomainName:   domain,
			DomainPrefix: apiID,
			HTTP:         apigwHTTP{Method: "POST", Path: path, Protocol: "HTTP/1.1", SourceIP: "203.0.113.10", UserAgent: userAgent},
			RequestID:    digest("request " + id)[:16] + "=",
			RouteKey:     webhook.Route,
			Stage:        "$default",
			Time:         t.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    t.UnixMilli(),
		},
		Body:            string(s.body),
		IsBase64Encoded: false,
	}
}

// sqsFor is the SQS event carrying the message the webhook enqueues for s
// (its body on one line).
func sqsFor(s sample, partnerID string, t time.Time) (events.SQSEvent, error) {
	compact := contract.Compact(s.body)
	msg := queue.Message{
		Version:    queue.MessageVersion,
		Job:        queue.JobEvent,
		PartnerID:  partnerID,
		EventID:    webhookID(s.name, t),
		ReceivedAt: t.UTC(),
		Event:      compact,
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return events.SQSEvent{}, err
	}
	sum := md5.Sum(body)
	id := digest("sqs " + msg.EventID)
	sent := strconv.FormatInt(t.UnixMilli(), 10)
	return events.SQSEvent{Records: []events.SQSMessage{{
		MessageId:     id[0:8] + "-" + id[8:12] + "-4" + id[13:16] + "-a" + id[17:20] + "-" + id[20:32],
		ReceiptHandle: "AQEB" + digest("receipt "+msg.EventID),
		Body:          string(body),
		Md5OfBody:     hex.EncodeToString(sum[:]),
		Attributes: map[string]string{
			"ApproximateReceiveCount":          "1",
			"SentTimestamp":                    sent,
			"SenderId":                         "AROAEXAMPLEWEBHOOK0001:backupbridge-webhook",
			"ApproximateFirstReceiveTimestamp": strconv.FormatInt(t.Add(200*time.Millisecond).UnixMilli(), 10),
		},
		MessageAttributes: map[string]events.SQSMessageAttribute{},
		EventSourceARN:    "arn:aws:sqs:" + region + ":" + accountID + ":" + queueName,
		EventSource:       "aws:sqs",
		AWSRegion:         region,
	}}}, nil
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func writeAll(dir string, samples []sample, key []byte, partnerID string, t time.Time, out io.Writer) error {
	for _, sub := range []string{"apigw", "sqs"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	for _, s := range samples {
		p := filepath.Join(dir, "apigw", s.name+".json")
		if err := writeJSON(p, apigwFor(s, key, partnerID, t)); err != nil {
			return err
		}
		fmt.Fprintln(out, "wrote", p)
		if slices.Contains(sqsSamples, s.name) {
			ev, err := sqsFor(s, partnerID, t)
			if err != nil {
				return err
			}
			p := filepath.Join(dir, "sqs", s.name+".json")
			if err := writeJSON(p, ev); err != nil {
				return err
			}
			fmt.Fprintln(out, "wrote", p)
		}
	}
	fmt.Fprintf(out, "signed at %s; the signatures are good until %s\n", t.Format(time.RFC3339), t.Add(signature.Tolerance).Format(time.RFC3339))
	return nil
}

func writeJSON(path string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// checkAll returns every problem of the events of dir.
func checkAll(dir string, samples []sample, secret string, key []byte, partnerID string, out io.Writer) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	byName := map[string]sample{}
	for _, s := range samples {
		byName[s.name] = s
	}

	// Every sample has an apigw twin, and every twin a sample.
	twins, _ := filepath.Glob(filepath.Join(dir, "apigw", "*.json"))
	for _, s := range samples {
		if !slices.Contains(twins, filepath.Join(dir, "apigw", s.name+".json")) {
			fail("%s.json has no apigw twin: run go run ./infra/signevents", s.name)
		}
	}
	var oldest time.Time
	for _, p := range twins {
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		s, ok := byName[name]
		if !ok {
			fail("%s: no raw sample %s.json", p, name)
			continue
		}
		signedAt, err := checkTwin(p, s, secret, key, partnerID)
		if err != nil {
			fail("%s: %v", p, err)
			continue
		}
		if oldest.IsZero() || signedAt.Before(oldest) {
			oldest = signedAt
		}
	}

	// SQS events.
	sqsFiles, _ := filepath.Glob(filepath.Join(dir, "sqs", "*.json"))
	for _, name := range sqsSamples {
		if !slices.Contains(sqsFiles, filepath.Join(dir, "sqs", name+".json")) {
			fail("sqs/%s.json is missing: run go run ./infra/signevents", name)
		}
	}
	for _, p := range sqsFiles {
		if err := checkSQS(p, byName, partnerID); err != nil {
			fail("%s: %v", p, err)
		}
	}

	// The schedule.
	if err := checkSchedule(filepath.Join(dir, "schedule", "resync.json")); err != nil {
		fail("schedule/resync.json: %v", err)
	}

	if !oldest.IsZero() {
		if age := time.Since(oldest); age > signature.Tolerance {
			fmt.Fprintf(out, "note: signed %s ago, longer than the %s tolerance: re-sign (go run ./infra/signevents) before sam local invoke\n", age.Truncate(time.Second), signature.Tolerance)
		}
	}
	return problems
}

// checkTwin checks one apigw event against its sample and returns its signing time.
func checkTwin(path string, s sample, secret string, key []byte, partnerID string) (time.Time, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, err
	}
	var req events.APIGatewayV2HTTPRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return time.Time{}, fmt.Errorf("not an API Gateway v2 request: %w", err)
	}
	switch {
	case req.Body != string(s.body) || req.IsBase64Encoded:
		return time.Time{}, errors.New("body differs from the raw sample: re-sign")
	case req.RouteKey != webhook.Route || req.PathParameters[webhook.PathParameter] != partnerID:
		return time.Time{}, fmt.Errorf("route %q partner %q, want %q and %q", req.RouteKey, req.PathParameters[webhook.PathParameter], webhook.Route, partnerID)
	}
	sec, err := strconv.ParseInt(req.Headers[signature.HeaderTimestamp], 10, 64)
	if err != nil {
		return time.Time{}, errors.New("no usable webhook-timestamp")
	}
	signedAt := time.Unix(sec, 0)
	id := req.Headers[signature.HeaderID]
	if err := signature.Verify([][]byte{key}, id, req.Headers[signature.HeaderTimestamp], req.Headers[signature.HeaderSignature], []byte(req.Body), signedAt); err != nil {
		return time.Time{}, fmt.Errorf("signature: %w", err)
	}
	// The handler itself, at the signing time, with in-memory stand-ins.
	q := &captureQueue{}
	h := &webhook.Handler{
		Secrets:    staticSecrets{partnerID: partnerID, secrets: []string{secret}},
		Queue:      q,
		Deliveries: alwaysNew{},
		Now:        func() time.Time { return signedAt },
		Log:        slog.New(slog.DiscardHandler),
	}
	resp, err := lambdahttp.Handler(h.Routes())(context.Background(), req)
	if err != nil || resp.StatusCode != 202 {
		return time.Time{}, fmt.Errorf("the webhook answers %d %s", resp.StatusCode, resp.Body)
	}
	if len(q.msgs) != 1 || q.msgs[0].EventID != id {
		return time.Time{}, errors.New("the webhook did not enqueue the event")
	}
	return signedAt, nil
}

// checkSQS checks that an SQS event carries queue messages of samples.
func checkSQS(path string, byName map[string]sample, partnerID string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		return fmt.Errorf("not an SQS event: %w", err)
	}
	name := strings.TrimSuffix(filepath.Base(path), ".json")
	s, ok := byName[name]
	if !ok {
		return fmt.Errorf("no raw sample %s.json", name)
	}
	if len(ev.Records) == 0 {
		return errors.New("no records")
	}
	for i, r := range ev.Records {
		sum := md5.Sum([]byte(r.Body))
		if r.Md5OfBody != hex.EncodeToString(sum[:]) || r.EventSource != "aws:sqs" {
			return fmt.Errorf("record %d: md5OfBody or eventSource wrong", i)
		}
		var m queue.Message
		dec := json.NewDecoder(strings.NewReader(r.Body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			return fmt.Errorf("record %d: body is not a queue message: %w", i, err)
		}
		if m.Version != queue.MessageVersion || m.Job != queue.JobEvent || m.PartnerID != partnerID || m.EventID == "" {
			return fmt.Errorf("record %d: message header %+v", i, m)
		}
		e, err := contract.Parse(m.Event)
		if err != nil {
			return fmt.Errorf("record %d: event: %w", i, err)
		}
		a, _ := contract.Marshal(e)
		want, _ := contract.Marshal(s.event)
		if !reflect.DeepEqual(a, want) {
			return fmt.Errorf("record %d: event differs from %s.json: re-run go run ./infra/signevents", i, name)
		}
	}
	return nil
}

// checkSchedule checks the scheduled EventBridge event of the resync.
func checkSchedule(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var ev events.EventBridgeEvent
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return fmt.Errorf("not an EventBridge event: %w", err)
	}
	if ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" || ev.Time.IsZero() || len(ev.Resources) != 1 {
		return fmt.Errorf("not a scheduled event: %q from %q", ev.DetailType, ev.Source)
	}
	return nil
}

type staticSecrets struct {
	partnerID string
	secrets   []string
}

func (s staticSecrets) WebhookSecrets(_ context.Context, partnerID string) ([]string, error) {
	if partnerID != s.partnerID {
		return nil, partner.ErrNotFound
	}
	return s.secrets, nil
}

type captureQueue struct{ msgs []queue.Message }

func (q *captureQueue) Enqueue(_ context.Context, m queue.Message) error {
	q.msgs = append(q.msgs, m)
	return nil
}

type alwaysNew struct{}

func (alwaysNew) Begin(context.Context, string, string, time.Time) (webhook.DeliveryState, error) {
	return webhook.DeliveryNew, nil
}
func (alwaysNew) Complete(context.Context, string, string, time.Time) error { return nil }
func (alwaysNew) Abandon(context.Context, string, string) error             { return nil }
