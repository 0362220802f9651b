// Package webhook is the ingest Lambda handler: it takes an API Gateway (HTTP
// API, payload 2.0) request POST /v1/partners/{partnerId}/events, checks its
// size, Standard Webhooks signature and body (contract v1), claims the
// delivery so that a sender's retry is acknowledged without a second
// message, and puts one queue.Message on the events queue for the worker.
//
// The answers, in the order the checks run:
//
//	404 / 405  not the route, or not POST
//	413        body larger than contract.MaxBodyBytes (checked before anything else is read)
//	400        body marked base64 is not base64
//	401        missing, malformed, stale or wrong signature, or unknown partner: one
//	           body for all, {"error":"invalid or missing signature"}
//	503        the partner's secrets could not be read
//	415        content-type is not application/json
//	400        webhook-id unusable, or the body breaks the contract: {"error","field"}
//	202        {"eventId","status":"duplicate"} this webhook-id was already enqueued
//	409        an earlier delivery of this webhook-id is in progress (Retry-After: 5)
//	503        the delivery could not be claimed or the message not enqueued (Retry-After)
//	202        {"eventId","status":"accepted"}
//
// Every answer is JSON. No answer carries internal error text; one structured
// log line per request says what happened, without secrets or signatures.
package webhook

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/signature"
)

// SecretSource gives the webhook signing secrets ("whsec_…") of a partner.
// An unknown partner is an error matching partner.ErrNotFound.
type SecretSource interface {
	WebhookSecrets(ctx context.Context, partnerID string) ([]string, error)
}

// Enqueuer puts a message on the events queue.
type Enqueuer interface {
	Enqueue(ctx context.Context, m queue.Message) error
}

// DeliveryState is what Deliveries.Begin found for a webhook-id.
type DeliveryState int

// Delivery states.
const (
	// DeliveryNew: this request holds the claim and must enqueue, then
	// Complete (or Abandon on failure).
	DeliveryNew DeliveryState = iota + 1
	// DeliveryInFlight: another request holds an unexpired claim.
	DeliveryInFlight
	// DeliveryDone: the event was already enqueued.
	DeliveryDone
)

func (s DeliveryState) String() string {
	switch s {
	case DeliveryNew:
		return "new"
	case DeliveryInFlight:
		return "in-flight"
	case DeliveryDone:
		return "done"
	}
	return "DeliveryState(" + strconv.Itoa(int(s)) + ")"
}

// Deliveries records which webhook-ids of a partner were enqueued.
type Deliveries interface {
	// Begin claims webhook-id for the partner. It returns DeliveryNew when this is the first delivery
	// (or an earlier attempt's claim expired without completing), DeliveryDone when it was already enqueued,
	// DeliveryInFlight when another request holds an unexpired claim.
	Begin(ctx context.Context, partnerID, webhookID string, now time.Time) (DeliveryState, error)
	// Complete marks the claimed webhook-id as enqueued.
	Complete(ctx context.Context, partnerID, webhookID string, now time.Time) error
	// Abandon releases the claim so that the sender's retry can enqueue.
	Abandon(ctx context.Context, partnerID, webhookID string) error
}

// Handler handles the ingest requests. All fields but Now and Log are required.
type Handler struct {
	Secrets    SecretSource
	Queue      Enqueuer
	Deliveries Deliveries
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Log receives one line per request (slog.Default() when nil).
	Log *slog.Logger
}

// Route is the API Gateway route key of the handler.
const Route = "POST /v1/partners/{partnerId}/events"

// PathParameter names the partner in the route.
const PathParameter = "partnerId"

// Retry-After values, in seconds.
const (
	// RetryAfterInFlight answers a delivery whose earlier attempt is still
	// being enqueued.
	RetryAfterInFlight = 5
	// RetryAfterUnavailable answers a failure of the secrets, the delivery
	// records or the queue.
	RetryAfterUnavailable = 10
)

// abandonTimeout bounds the best-effort release of a claim after a failed
// enqueue, which runs even when the request's context is done.
const abandonTimeout = 3 * time.Second

// Answer texts. The 401 text is one for every signature failure and for an
// unknown partner (no oracle).
const (
	msgNotFound         = "not found: POST /v1/partners/{partnerId}/events"
	msgMethod           = "method not allowed: use POST"
	msgTooLarge         = "body is larger than 65536 bytes"
	msgBadBase64        = "body is marked base64 but is not valid base64"
	msgUnauthorized     = "invalid or missing signature"
	msgUnavailable      = "temporarily unavailable; retry later"
	msgContentType      = "content-type must be application/json"
	msgBadID            = "webhook-id must be 1 to 256 printable ASCII characters without spaces"
	msgInFlight         = "an earlier delivery of this webhook-id is still being processed; retry after 5 seconds"
	statusAccepted      = "accepted"
	statusDuplicate     = "duplicate"
	contentTypeJSON     = "application/json"
	partnerPathPrefix   = "/v1/partners/"
	partnerPathSuffix   = "/events"
	maxLoggedIDBytes    = signature.MaxIDLength
	maxLoggedPartnerLen = 64
)

// Outcomes, as logged.
const (
	OutcomeAccepted           = "accepted"
	OutcomeDuplicate          = "duplicate"
	OutcomeNotFound           = "not_found"
	OutcomeMethodNotAllowed   = "method_not_allowed"
	OutcomeTooLarge           = "too_large"
	OutcomeBadBase64          = "bad_base64"
	OutcomeUnauthorized       = "unauthorized"
	OutcomeUnknownPartner     = "unknown_partner"
	OutcomeSecretsUnavailable = "secrets_unavailable"
	OutcomeUnsupportedType    = "unsupported_media_type"
	OutcomeInvalidID          = "invalid_webhook_id"
	OutcomeInvalidEvent       = "invalid_event"
	OutcomeInFlight           = "in_flight"
	OutcomeClaimFailed        = "claim_failed"
	OutcomeEnqueueFailed      = "enqueue_failed"
)

// partnerIDRE bounds what the handler passes on as a partner id; anything
// else is not a route of this service.
var partnerIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// record is what the log line of a request says.
type record struct {
	partnerID, eventID, outcome, reason string
	eventType                           contract.Type
	customerID                          string
	bytes                               int
	err                                 error
}

// Handle answers one request. It never returns an error: every failure is
// an HTTP answer (a Lambda error would reach the sender as a bare 500).
func (h *Handler) Handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	start := h.now()
	var rec record
	resp := h.handle(ctx, req, start, &rec)
	h.log(ctx, &rec, resp.StatusCode, start)
	return resp, nil
}

func (h *Handler) handle(ctx context.Context, req events.APIGatewayV2HTTPRequest, now time.Time, rec *record) events.APIGatewayV2HTTPResponse {
	// 1. Route.
	partnerID, ok := routePartner(req)
	if !ok {
		rec.outcome = OutcomeNotFound
		return errorResponse(http.StatusNotFound, msgNotFound, "")
	}
	rec.partnerID = partnerID
	if method(req) != http.MethodPost {
		rec.outcome = OutcomeMethodNotAllowed
		r := errorResponse(http.StatusMethodNotAllowed, msgMethod, "")
		r.Headers["Allow"] = http.MethodPost
		return r
	}

	// 2. Size, before anything else is read.
	if bodySize(req) > contract.MaxBodyBytes {
		rec.outcome = OutcomeTooLarge
		return errorResponse(http.StatusRequestEntityTooLarge, msgTooLarge, "")
	}

	// 3. Body bytes.
	var body []byte
	if req.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			rec.outcome = OutcomeBadBase64
			return errorResponse(http.StatusBadRequest, msgBadBase64, "")
		}
		body = b
	} else {
		body = []byte(req.Body)
	}
	rec.bytes = len(body)
	if len(body) > contract.MaxBodyBytes { // the estimate is exact for padded base64; be sure anyway
		rec.outcome = OutcomeTooLarge
		return errorResponse(http.StatusRequestEntityTooLarge, msgTooLarge, "")
	}

	// 4. Signature.
	id := header(req.Headers, signature.HeaderID)
	ts := header(req.Headers, signature.HeaderTimestamp)
	sig := header(req.Headers, signature.HeaderSignature)
	rec.eventID = truncate(id, maxLoggedIDBytes)
	if id == "" || ts == "" || sig == "" {
		rec.outcome, rec.reason = OutcomeUnauthorized, "missing header"
		return unauthorized()
	}
	secrets, err := h.Secrets.WebhookSecrets(ctx, partnerID)
	switch {
	case errors.Is(err, partner.ErrNotFound):
		rec.outcome = OutcomeUnknownPartner
		return unauthorized()
	case err != nil:
		rec.outcome, rec.err = OutcomeSecretsUnavailable, fmt.Errorf("read webhook secrets: %w", err)
		return unavailable()
	}
	keys := make([][]byte, 0, len(secrets))
	for _, s := range secrets {
		if k, err := signature.ParseSecret(s); err == nil {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		// Our configuration is at fault, not the sender: 503 so that the
		// sender retries once an operator has fixed the secret.
		rec.outcome = OutcomeSecretsUnavailable
		rec.err = fmt.Errorf("partner has no usable webhook secret (%d configured, none whsec_ base64 of 16 to 128 bytes)", len(secrets))
		return unavailable()
	}
	if err := signature.Verify(keys, id, ts, sig, body, now); err != nil {
		rec.outcome, rec.reason = OutcomeUnauthorized, verifyReason(err)
		return unauthorized()
	}

	// 5. Content type, then the event itself.
	if !isJSON(header(req.Headers, "content-type")) {
		rec.outcome = OutcomeUnsupportedType
		return errorResponse(http.StatusUnsupportedMediaType, msgContentType, "")
	}
	if !validWebhookID(id) {
		rec.outcome = OutcomeInvalidID
		return errorResponse(http.StatusBadRequest, msgBadID, signature.HeaderID)
	}
	event, err := contract.Parse(body)
	if err != nil {
		rec.outcome = OutcomeInvalidEvent
		var ve *contract.ValidationError
		if errors.As(err, &ve) {
			rec.reason = ve.Error()
			// Always with "field" ("" when the body as a whole is at fault).
			return jsonResponse(http.StatusBadRequest, invalidBody{Error: ve.Error(), Field: ve.Field})
		}
		return errorResponse(http.StatusBadRequest, "body is not a valid event", "")
	}
	rec.eventType, rec.customerID = event.Type, event.Customer.ID
	compact, err := contract.Marshal(event)
	if err != nil { // cannot happen for a validated event; answer as a bad body
		rec.outcome, rec.err = OutcomeInvalidEvent, fmt.Errorf("marshal validated event: %w", err)
		return errorResponse(http.StatusBadRequest, "body is not a valid event", "")
	}

	// 6. Claim the delivery.
	state, err := h.Deliveries.Begin(ctx, partnerID, id, now)
	switch {
	case err != nil:
		rec.outcome, rec.err = OutcomeClaimFailed, fmt.Errorf("begin delivery: %w", err)
		return unavailable()
	case state == DeliveryDone:
		rec.outcome = OutcomeDuplicate
		return acceptedResponse(id, statusDuplicate)
	case state == DeliveryInFlight:
		rec.outcome = OutcomeInFlight
		r := errorResponse(http.StatusConflict, msgInFlight, "")
		r.Headers["Retry-After"] = strconv.Itoa(RetryAfterInFlight)
		return r
	case state != DeliveryNew:
		rec.outcome, rec.err = OutcomeClaimFailed, fmt.Errorf("begin delivery: unexpected state %v", state)
		return unavailable()
	}

	// 7. Enqueue, then record the delivery as done.
	msg := queue.Message{
		Version:    queue.MessageVersion,
		Job:        queue.JobEvent,
		PartnerID:  partnerID,
		EventID:    id,
		ReceivedAt: now.UTC(),
		Event:      json.RawMessage(compact),
	}
	if err := h.Queue.Enqueue(ctx, msg); err != nil {
		rec.outcome, rec.err = OutcomeEnqueueFailed, fmt.Errorf("enqueue: %w", err)
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abandonTimeout)
		defer cancel()
		if aerr := h.Deliveries.Abandon(actx, partnerID, id); aerr != nil {
			// The claim expires by itself; until then a retry gets 409.
			rec.err = errors.Join(rec.err, fmt.Errorf("abandon delivery: %w", aerr))
		}
		return unavailable()
	}
	rec.outcome = OutcomeAccepted
	if err := h.Deliveries.Complete(ctx, partnerID, id, now); err != nil {
		// Still accepted: at worst a retry after the claim expires enqueues
		// again, and the worker's idempotency absorbs the repeat.
		rec.err = fmt.Errorf("complete delivery: %w", err)
	}
	return acceptedResponse(id, statusAccepted)
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// log writes the one line of a request.
func (h *Handler) log(ctx context.Context, rec *record, status int, start time.Time) {
	l := h.Log
	if l == nil {
		l = slog.Default()
	}
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("partner", truncate(rec.partnerID, maxLoggedPartnerLen)),
		slog.String("eventId", rec.eventID),
		slog.String("outcome", rec.outcome),
		slog.Int("status", status),
		slog.Int("bytes", rec.bytes),
		slog.Duration("duration", h.now().Sub(start)),
	}
	if rec.eventType != "" {
		attrs = append(attrs, slog.String("type", string(rec.eventType)), slog.String("customer", rec.customerID))
	}
	if rec.reason != "" {
		attrs = append(attrs, slog.String("reason", rec.reason))
	}
	if rec.err != nil {
		attrs = append(attrs, slog.String("error", rec.err.Error()))
	}
	l.LogAttrs(ctx, level, "webhook request", attrs...)
}

// routePartner returns the partner id of the request: the partnerId path
// parameter, or else the id parsed out of the raw path
// (/v1/partners/{id}/events, after any stage prefix).
func routePartner(req events.APIGatewayV2HTTPRequest) (string, bool) {
	id := req.PathParameters[PathParameter]
	if id == "" {
		p := req.RawPath
		if p == "" {
			p = req.RequestContext.HTTP.Path
		}
		i := strings.LastIndex(p, partnerPathPrefix)
		if i < 0 {
			return "", false
		}
		rest, ok := strings.CutSuffix(p[i+len(partnerPathPrefix):], partnerPathSuffix)
		if !ok || strings.Contains(rest, "/") {
			return "", false
		}
		id = rest
	}
	return id, partnerIDRE.MatchString(id)
}

// method returns the request's HTTP method (from the route key when the
// request context lacks it).
func method(req events.APIGatewayV2HTTPRequest) string {
	if m := req.RequestContext.HTTP.Method; m != "" {
		return strings.ToUpper(m)
	}
	m, _, _ := strings.Cut(req.RouteKey, " ")
	return strings.ToUpper(m)
}

// bodySize returns the size of the body in bytes without decoding it: for a
// base64 body, the decoded size its length and padding give.
func bodySize(req events.APIGatewayV2HTTPRequest) int {
	if !req.IsBase64Encoded {
		return len(req.Body)
	}
	n := base64.StdEncoding.DecodedLen(len(req.Body))
	for i := 1; i <= 2 && i <= len(req.Body); i++ {
		if req.Body[len(req.Body)-i] == '=' {
			n--
		}
	}
	return n
}

// header returns a request header, whatever the case of its name (API
// Gateway v2 lower-cases them; hand-written events may not).
func header(h map[string]string, name string) string {
	if v, ok := h[name]; ok {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// isJSON reports whether a content-type is application/json (parameters
// allowed; a charset must be UTF-8).
func isJSON(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != contentTypeJSON {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "utf8")
}

// validWebhookID reports whether a webhook-id can serve as an event id: 1 to
// 256 printable ASCII characters, no space.
func validWebhookID(id string) bool {
	if id == "" || len(id) > signature.MaxIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// verifyReason names a signature failure for the log.
func verifyReason(err error) string {
	switch {
	case errors.Is(err, signature.ErrStale):
		return "stale timestamp"
	case errors.Is(err, signature.ErrMissing):
		return "malformed header"
	case errors.Is(err, signature.ErrMismatch):
		return "signature mismatch"
	}
	return "signature check failed"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// invalidBody answers a body that breaks the contract.
type invalidBody struct {
	Error string `json:"error"`
	Field string `json:"field"`
}

type acceptedBody struct {
	EventID string `json:"eventId"`
	Status  string `json:"status"`
}

func jsonResponse(status int, v any) events.APIGatewayV2HTTPResponse {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for the two body types
		b = []byte(`{"error":"internal error"}`)
		status = http.StatusInternalServerError
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": contentTypeJSON},
		Body:       string(b),
	}
}

func errorResponse(status int, msg, field string) events.APIGatewayV2HTTPResponse {
	return jsonResponse(status, errorBody{Error: msg, Field: field})
}

func acceptedResponse(id, status string) events.APIGatewayV2HTTPResponse {
	return jsonResponse(http.StatusAccepted, acceptedBody{EventID: id, Status: status})
}

func unauthorized() events.APIGatewayV2HTTPResponse {
	return errorResponse(http.StatusUnauthorized, msgUnauthorized, "")
}

func unavailable() events.APIGatewayV2HTTPResponse {
	r := errorResponse(http.StatusServiceUnavailable, msgUnavailable, "")
	r.Headers["Retry-After"] = strconv.Itoa(RetryAfterUnavailable)
	return r
}
