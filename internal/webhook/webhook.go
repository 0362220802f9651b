// Package webhook is the ingest handler, an http.Handler (Handler.Routes):
// it takes POST /v1/partners/{partnerId}/events, checks its size, Standard
// Webhooks signature and body (contract v1), claims the delivery so that a
// sender's retry is acknowledged without a second message, and puts one
// queue.Message on the events queue for the worker. In Lambda it sits behind
// API Gateway through package lambdahttp, which also decodes base64 bodies.
//
// The answers, in the order the checks run:
//
//	404 / 405  not the route, or not POST
//	413        body larger than contract.MaxBodyBytes (checked before anything else is read)
//	400        body marked base64 is not base64 (or the body could not be read)
//	401        missing, malformed, stale or wrong signature, unknown partner, or a
//	           partner whose stored secrets are all unusable (logged as an error
//	           for the operator): one body for all, {"error":"invalid or missing signature"}
//	503        the partner's secrets could not be read
//	415        content-type is not application/json
//	400        webhook-id unusable, or the body breaks the contract, including an
//	           occurredAt/startedAt/endedAt more than 5 minutes ahead of this
//	           receiver's clock (contract.MaxClockSkew): {"error","field"}
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
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

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

	keys keyCache
}

// Path is the ServeMux pattern of the ingest path, without a method.
const Path = "/v1/partners/{" + PathParameter + "}/events"

// Route is the ServeMux pattern of the ingest endpoint; it is also its API
// Gateway route key.
const Route = http.MethodPost + " " + Path

// PathParameter names the partner in the route (r.PathValue).
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
	msgUnreadable       = "the body could not be read"
	msgUnauthorized     = "invalid or missing signature"
	msgUnavailable      = "temporarily unavailable; retry later"
	msgContentType      = "content-type must be application/json"
	msgBadID            = "webhook-id must be 1 to 256 printable ASCII characters without spaces"
	msgInFlight         = "an earlier delivery of this webhook-id is still being processed; retry after 5 seconds"
	statusAccepted      = "accepted"
	statusDuplicate     = "duplicate"
	contentTypeJSON     = "application/json"
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
	OutcomeUnreadableBody     = "unreadable_body"
	OutcomeUnauthorized       = "unauthorized"
	OutcomeUnknownPartner     = "unknown_partner"
	OutcomeSecretsUnavailable = "secrets_unavailable"
	OutcomeSecretsUnusable    = "secrets_unusable"
	OutcomeUnsupportedType    = "unsupported_media_type"
	OutcomeInvalidID          = "invalid_webhook_id"
	OutcomeInvalidEvent       = "invalid_event"
	OutcomeInFlight           = "in_flight"
	OutcomeClaimFailed        = "claim_failed"
	OutcomeEnqueueFailed      = "enqueue_failed"
)

// The signature headers in canonical form (Header.Get then finds them
// without canonicalizing a copy of the name on every request).
var (
	headerID        = textproto.CanonicalMIMEHeaderKey(signature.HeaderID)
	headerTimestamp = textproto.CanonicalMIMEHeaderKey(signature.HeaderTimestamp)
	headerSignature = textproto.CanonicalMIMEHeaderKey(signature.HeaderSignature)
)

// partnerIDRE bounds what the handler passes on as a partner id; anything
// else is not a route of this service.
var partnerIDRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`) })

// record is what the log line of a request says.
type record struct {
	partnerID, eventID, outcome, reason string
	eventType                           contract.Type
	customerID                          string
	bytes                               int
	err                                 error
	// operatorError: the line is an error whatever the status (our
	// configuration is at fault, e.g. unusable stored secrets).
	operatorError bool
}

// Routes returns the webhook as an http.Handler: Route; any other method on
// Path is 405 with Allow: POST; any other path is 404. Every answer is JSON
// and every request gets one log line.
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(Route, h.serveEvent)
	mux.HandleFunc(Path, func(w http.ResponseWriter, r *http.Request) {
		h.serve(w, r, func(_ time.Time, rec *record) answer {
			rec.partnerID, rec.outcome = r.PathValue(PathParameter), OutcomeMethodNotAllowed
			a := errorAnswer(http.StatusMethodNotAllowed, msgMethod, "")
			a.allow = http.MethodPost
			return a
		})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.serve(w, r, func(_ time.Time, rec *record) answer {
			rec.outcome = OutcomeNotFound
			return errorAnswer(http.StatusNotFound, msgNotFound, "")
		})
	})
	return mux
}

// serve writes the answer of one request and its log line. It never fails:
// every failure is an HTTP answer (in Lambda a function error would reach
// the sender as a bare 500).
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, handle func(now time.Time, rec *record) answer) {
	start := h.now()
	var rec record
	a := handle(start, &rec)
	a.write(w)
	h.log(r.Context(), &rec, a.status, start)
}

// serveEvent answers Route.
func (h *Handler) serveEvent(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, func(now time.Time, rec *record) answer { return h.handle(r, now, rec) })
}

func (h *Handler) handle(r *http.Request, now time.Time, rec *record) answer {
	ctx := r.Context()
	// 1. Route: the method and path are the mux's; the partner id is ours.
	partnerID := r.PathValue(PathParameter)
	if !partnerIDRE().MatchString(partnerID) {
		rec.outcome = OutcomeNotFound
		return errorAnswer(http.StatusNotFound, msgNotFound, "")
	}
	rec.partnerID = partnerID

	// 2. Size, before anything else is read. Behind API Gateway the length
	// is known (for a base64 body, its decoded size: see lambdahttp); an
	// unknown length (-1, a chunked request) is bounded while reading.
	if r.ContentLength > contract.MaxBodyBytes {
		rec.outcome = OutcomeTooLarge
		return errorAnswer(http.StatusRequestEntityTooLarge, msgTooLarge, "")
	}

	// 3. Body bytes.
	body, err := readBody(r.Body, r.ContentLength)
	if err != nil {
		var tooLarge *http.MaxBytesError
		var corrupt base64.CorruptInputError
		switch {
		case errors.As(err, &tooLarge):
			rec.outcome = OutcomeTooLarge
			return errorAnswer(http.StatusRequestEntityTooLarge, msgTooLarge, "")
		case errors.As(err, &corrupt):
			rec.outcome = OutcomeBadBase64
			return errorAnswer(http.StatusBadRequest, msgBadBase64, "")
		}
		rec.outcome, rec.err = OutcomeUnreadableBody, fmt.Errorf("read body: %w", err)
		return errorAnswer(http.StatusBadRequest, msgUnreadable, "")
	}
	rec.bytes = len(body)
	if len(body) > contract.MaxBodyBytes {
		rec.outcome = OutcomeTooLarge
		return errorAnswer(http.StatusRequestEntityTooLarge, msgTooLarge, "")
	}

	// 4. Signature.
	id := r.Header.Get(headerID)
	ts := r.Header.Get(headerTimestamp)
	sig := r.Header.Get(headerSignature)
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
	keys, problem := h.keys.usable(secrets)
	if len(keys) == 0 {
		// Our configuration is at fault, but the sender cannot fix it and
		// must learn nothing from the answer: 401 like any bad signature,
		// and the request's one log line is an error naming the setting to
		// fix (the doctor reports it too).
		rec.outcome, rec.err, rec.operatorError = OutcomeSecretsUnusable, problem, true
		return unauthorized()
	}
	if problem != nil {
		rec.reason = "some webhook secrets are unusable: " + problem.Error()
	}
	if err := signature.Verify(keys, id, ts, sig, body, now); err != nil {
		rec.outcome, rec.reason = OutcomeUnauthorized, verifyReason(err)
		return unauthorized()
	}

	// 5. Content type, then the event itself.
	if !isJSON(r.Header.Get("Content-Type")) {
		rec.outcome = OutcomeUnsupportedType
		return errorAnswer(http.StatusUnsupportedMediaType, msgContentType, "")
	}
	if !validWebhookID(id) {
		rec.outcome = OutcomeInvalidID
		return errorAnswer(http.StatusBadRequest, msgBadID, signature.HeaderID)
	}
	// The clock rule: an event dated more than contract.MaxClockSkew ahead
	// of this receiver's clock is refused (400 naming the field).
	event, err := contract.ParseAt(body, now)
	if err != nil {
		rec.outcome = OutcomeInvalidEvent
		var ve *contract.ValidationError
		if errors.As(err, &ve) {
			rec.reason = ve.Error()
			// Always with "field" ("" when the body as a whole is at fault).
			return answer{status: http.StatusBadRequest, body: invalidBody{Error: ve.Error(), Field: ve.Field}}
		}
		return errorAnswer(http.StatusBadRequest, "body is not a valid event", "")
	}
	rec.eventType, rec.customerID = event.Type, event.Customer.ID
	// The queue carries the body as the sender wrote it, on one line: not
	// re-marshalled (the worker parses it again, which fills the defaults).
	compact := contract.Compact(body)

	// 6. Claim the delivery.
	state, err := h.Deliveries.Begin(ctx, partnerID, id, now)
	switch {
	case err != nil:
		rec.outcome, rec.err = OutcomeClaimFailed, fmt.Errorf("begin delivery: %w", err)
		return unavailable()
	case state == DeliveryDone:
		rec.outcome = OutcomeDuplicate
		return acceptedAnswer(id, statusDuplicate)
	case state == DeliveryInFlight:
		rec.outcome = OutcomeInFlight
		a := errorAnswer(http.StatusConflict, msgInFlight, "")
		a.retryAfter = RetryAfterInFlight
		return a
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
	return acceptedAnswer(id, statusAccepted)
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
	case rec.operatorError:
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

// readBody reads at most contract.MaxBodyBytes+1 bytes of body (the caller
// refuses more), into one buffer of the announced size when known.
func readBody(body io.Reader, size int64) ([]byte, error) {
	n := int64(512)
	if size > 0 && size <= contract.MaxBodyBytes {
		n = size + 1 // room to read the end without growing
	}
	b := make([]byte, 0, n)
	r := io.LimitReader(body, contract.MaxBodyBytes+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		k, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+k]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// isJSON reports whether a content-type is application/json (parameters
// allowed; a charset must be UTF-8).
func isJSON(ct string) bool {
	if strings.EqualFold(ct, contentTypeJSON) {
		return true // the usual header, without parsing
	}
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

// answer is the HTTP answer of a request: a status and a JSON body, with
// Retry-After (seconds) or Allow when set.
type answer struct {
	status     int
	body       any
	retryAfter int
	allow      string
}

// write sends the answer.
func (a answer) write(w http.ResponseWriter) {
	b, err := a.encode()
	if err != nil { // cannot happen for the body types
		b, a.status = []byte(`{"error":"internal error"}`), http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	if a.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(a.retryAfter))
	}
	if a.allow != "" {
		h.Set("Allow", a.allow)
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(b)
}

// encode returns the JSON of the answer's body: json.Marshal's, written
// directly for the usual answer (accepted or duplicate, an id that needs no
// escaping).
func (a answer) encode() ([]byte, error) {
	if ab, ok := a.body.(acceptedBody); ok && plainJSON(ab.EventID) && plainJSON(ab.Status) {
		b := make([]byte, 0, len(ab.EventID)+len(ab.Status)+len(`{"eventId":"","status":""}`))
		b = append(b, `{"eventId":"`...)
		b = append(b, ab.EventID...)
		b = append(b, `","status":"`...)
		b = append(b, ab.Status...)
		return append(b, `"}`...), nil
	}
	return json.Marshal(a.body)
}

// plainJSON reports whether json.Marshal writes s as is between quotes:
// printable ASCII without '"', backslash and the characters it escapes for HTML.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

func errorAnswer(status int, msg, field string) answer {
	return answer{status: status, body: errorBody{Error: msg, Field: field}}
}

func acceptedAnswer(id, status string) answer {
	return answer{status: http.StatusAccepted, body: acceptedBody{EventID: id, Status: status}}
}

func unauthorized() answer {
	return errorAnswer(http.StatusUnauthorized, msgUnauthorized, "")
}

func unavailable() answer {
	a := errorAnswer(http.StatusServiceUnavailable, msgUnavailable, "")
	a.retryAfter = RetryAfterUnavailable
	return a
}
