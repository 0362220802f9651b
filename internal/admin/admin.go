// Package admin is the operator API (the admin Lambda, behind API Gateway
// with IAM authorization):
//
//	GET  /v1/admin/partners                       list partners
//	POST /v1/admin/partners                       create {partner, secrets}
//	GET  /v1/admin/partners/{id}                  read (secrets redacted)
//	PUT  /v1/admin/partners/{id}                  update {partner, secrets?}; partner.version must be the stored one
//	POST /v1/admin/partners/{id}/validate         check the settings against ConnectWise (the "doctor")
//	GET  /v1/admin/partners/{id}/doctor           the same, as a GET
//	GET  /v1/admin/partners/{id}/events           the event log, newest first (?customer=&failed=true&event=&limit=&cursor=)
//	POST /v1/admin/partners/{id}/reprocess        {"eventId": "..."} or {"since": "<RFC 3339>"}: process failed events again now
//	POST /v1/admin/partners/{id}/customers/{cid}/sync     sync the customer now, bypassing the 12-hour window
//	GET  /v1/admin/partners/{id}/customers/{cid}/preview  the changes a sync would make (dry run)
//
// Answers are JSON; errors are {"error": "...", "field": "..."}.
package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/resync"
	"github.com/efs-cw/backupbridge/internal/usage"
)

// Partners is the partner store.
type Partners interface {
	Get(ctx context.Context, id string) (*partner.Partner, error)
	Create(ctx context.Context, p *partner.Partner) error
	Update(ctx context.Context, p *partner.Partner) error
	All(ctx context.Context) iter.Seq2[*partner.Partner, error]
}

// Enqueuer sends a queue message.
type Enqueuer interface {
	Enqueue(ctx context.Context, m queue.Message) error
}

// API handles operator requests.
type API struct {
	Partners   Partners
	Secrets    partner.SecretStore
	Log        *eventlog.Log
	Queue      Enqueuer
	Usage      *usage.Store
	Customers  resync.Customers
	HTTPClient *http.Client // for validate's ConnectWise calls
	Now        func() time.Time
	Logger     *slog.Logger
}

type partnerBody struct {
	Partner *partner.Partner `json:"partner"`
	Secrets *partner.Secrets `json:"secrets,omitempty"`
}

// redacted is what GET shows of the secrets.
type redacted struct {
	PublicKey             string `json:"publicKey"`
	PrivateKeySet         bool   `json:"privateKeySet"`
	ClientID              string `json:"clientId"`
	WebhookSecretsCount   int    `json:"webhookSecrets"`
	StoredInSecretManager bool   `json:"stored"`
}

// Handle routes one API Gateway request.
func (a *API) Handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	method := req.RequestContext.HTTP.Method
	path := strings.TrimSuffix(req.RawPath, "/")
	if path == "" {
		path = req.RequestContext.HTTP.Path
	}
	parts := strings.Split(strings.TrimPrefix(path, "/v1/admin/"), "/")
	if !strings.HasPrefix(path, "/v1/admin/") || parts[0] != "partners" {
		return reply(http.StatusNotFound, errBody("no such operator route: "+method+" "+path, ""))
	}
	switch {
	case len(parts) == 1 && method == http.MethodGet:
		return a.list(ctx)
	case len(parts) == 1 && method == http.MethodPost:
		return a.create(ctx, req)
	case len(parts) == 2 && method == http.MethodGet:
		return a.get(ctx, parts[1])
	case len(parts) == 2 && method == http.MethodPut:
		return a.update(ctx, parts[1], req)
	case len(parts) == 3 && (parts[2] == "validate" && method == http.MethodPost || parts[2] == "doctor" && method == http.MethodGet):
		return a.validate(ctx, parts[1])
	case len(parts) == 5 && parts[2] == "customers" && parts[4] == "sync" && method == http.MethodPost:
		return a.syncNow(ctx, parts[1], parts[3], req)
	case len(parts) == 5 && parts[2] == "customers" && parts[4] == "preview" && method == http.MethodGet:
		return a.preview(ctx, parts[1], parts[3])
	case len(parts) == 3 && parts[2] == "events" && method == http.MethodGet:
		return a.events(ctx, parts[1], req.QueryStringParameters)
	case len(parts) == 3 && parts[2] == "reprocess" && method == http.MethodPost:
		return a.reprocess(ctx, parts[1], req)
	}
	return reply(http.StatusNotFound, errBody("no such operator route: "+method+" "+path, ""))
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *API) list(ctx context.Context) (events.APIGatewayV2HTTPResponse, error) {
	out := []*partner.Partner{}
	for p, err := range a.Partners.All(ctx) {
		if err != nil {
			return a.internal(err)
		}
		out = append(out, p)
	}
	return reply(http.StatusOK, map[string]any{"partners": out})
}

func decode(req events.APIGatewayV2HTTPRequest, v any) error {
	body := []byte(req.Body)
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body is not the expected JSON: %v", err)
	}
	return nil
}

func invalidAnswer(err error) (events.APIGatewayV2HTTPResponse, error) {
	var ie *partner.InvalidError
	if errors.As(err, &ie) {
		return reply(http.StatusBadRequest, errBody(ie.Problem, ie.Field))
	}
	return reply(http.StatusBadRequest, errBody(err.Error(), ""))
}

func (a *API) create(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	var b partnerBody
	if err := decode(req, &b); err != nil {
		return reply(http.StatusBadRequest, errBody(err.Error(), ""))
	}
	if b.Partner == nil || b.Secrets == nil {
		return reply(http.StatusBadRequest, errBody("both partner and secrets are required", "partner"))
	}
	if err := b.Partner.Validate(); err != nil {
		return invalidAnswer(err)
	}
	if err := b.Secrets.Validate(); err != nil {
		return invalidAnswer(err)
	}
	// Secrets first: a partner without secrets would fail every event.
	if err := a.Secrets.PutSecrets(ctx, b.Partner.ID, *b.Secrets); err != nil {
		return a.internal(err)
	}
	if err := a.Partners.Create(ctx, b.Partner); errors.Is(err, partner.ErrExists) {
		return reply(http.StatusConflict, errBody("partner "+b.Partner.ID+" exists; use PUT to update it", "partner.id"))
	} else if err != nil {
		return a.internal(err)
	}
	return reply(http.StatusCreated, map[string]any{"partner": b.Partner})
}

func (a *API) get(ctx context.Context, id string) (events.APIGatewayV2HTTPResponse, error) {
	p, err := a.Partners.Get(ctx, id)
	if errors.Is(err, partner.ErrNotFound) {
		return reply(http.StatusNotFound, errBody("no partner "+id, ""))
	}
	if err != nil {
		return a.internal(err)
	}
	out := map[string]any{"partner": p}
	if s, err := a.Secrets.GetSecrets(ctx, id); err == nil {
		out["secrets"] = redacted{PublicKey: mask(s.PublicKey), PrivateKeySet: s.PrivateKey != "", ClientID: s.ClientID, WebhookSecretsCount: len(s.WebhookSecrets), StoredInSecretManager: true}
	} else if !errors.Is(err, partner.ErrNotFound) {
		return a.internal(err)
	}
	return reply(http.StatusOK, out)
}

func mask(s string) string {
	if len(s) <= 4 {
		return "****"
	}
	return s[:4] + strings.Repeat("*", len(s)-4)
}

func (a *API) update(ctx context.Context, id string, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	var b partnerBody
	if err := decode(req, &b); err != nil {
		return reply(http.StatusBadRequest, errBody(err.Error(), ""))
	}
	if b.Partner == nil {
		return reply(http.StatusBadRequest, errBody("partner is required", "partner"))
	}
	if b.Partner.ID == "" {
		b.Partner.ID = id
	}
	if b.Partner.ID != id {
		return reply(http.StatusBadRequest, errBody("partner.id does not match the path", "partner.id"))
	}
	if err := b.Partner.Validate(); err != nil {
		return invalidAnswer(err)
	}
	if b.Secrets != nil {
		if err := b.Secrets.Validate(); err != nil {
			return invalidAnswer(err)
		}
		if err := a.Secrets.PutSecrets(ctx, id, *b.Secrets); err != nil {
			return a.internal(err)
		}
	}
	switch err := a.Partners.Update(ctx, b.Partner); {
	case errors.Is(err, partner.ErrConflict):
		return reply(http.StatusConflict, errBody(err.Error(), "partner.version"))
	case err != nil:
		return a.internal(err)
	}
	return reply(http.StatusOK, map[string]any{"partner": b.Partner})
}

// Problem is one thing validate found wrong, in words.
type Problem struct {
	Setting string `json:"setting"`
	Problem string `json:"problem"`
}

func (a *API) validate(ctx context.Context, id string) (events.APIGatewayV2HTTPResponse, error) {
	p, err := a.Partners.Get(ctx, id)
	if errors.Is(err, partner.ErrNotFound) {
		return reply(http.StatusNotFound, errBody("no partner "+id, ""))
	}
	if err != nil {
		return a.internal(err)
	}
	problems, err := a.doctor(ctx, p)
	if err != nil {
		return a.internal(err)
	}
	if problems == nil {
		problems = []Problem{}
	}
	return reply(http.StatusOK, map[string]any{"ok": len(problems) == 0, "problems": problems})
}

func (a *API) events(ctx context.Context, id string, q map[string]string) (events.APIGatewayV2HTTPResponse, error) {
	limit, _ := strconv.Atoi(q["limit"])
	page, err := a.Log.List(ctx, eventlog.Query{
		PartnerID: id, CustomerID: q["customer"], FailedOnly: q["failed"] == "true",
		EventID: q["event"], Limit: limit, Cursor: q["cursor"],
	})
	if err != nil {
		if strings.Contains(err.Error(), "cursor") {
			return reply(http.StatusBadRequest, errBody("cursor is not valid", "cursor"))
		}
		return a.internal(err)
	}
	if page.Entries == nil {
		page.Entries = []eventlog.Entry{}
	}
	return reply(http.StatusOK, page)
}

func (a *API) reprocess(ctx context.Context, id string, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	var b struct {
		EventID string    `json:"eventId"`
		Since   time.Time `json:"since"`
	}
	if err := decode(req, &b); err != nil || (b.EventID == "") == b.Since.IsZero() {
		return reply(http.StatusBadRequest, errBody("body must be {\"eventId\": \"...\"} or {\"since\": \"<RFC 3339 time>\"}", "eventId"))
	}
	if !b.Since.IsZero() {
		return a.reprocessSince(ctx, id, b.Since)
	}
	// The newest log entry of the event that kept the event body.
	var found *eventlog.Entry
	q := eventlog.Query{PartnerID: id, EventID: b.EventID, Limit: 500}
	for found == nil {
		page, err := a.Log.List(ctx, q)
		if err != nil {
			return a.internal(err)
		}
		for i := range page.Entries {
			if len(page.Entries[i].Event) > 0 {
				found = &page.Entries[i]
				break
			}
		}
		if page.Cursor == "" {
			break
		}
		q.Cursor = page.Cursor
	}
	if found == nil {
		return reply(http.StatusNotFound, errBody("no failed entry of event "+b.EventID+" keeps the event; only failed events can be reprocessed (a failed scheduled sync is redone with POST …/customers/{cid}/sync)", "eventId"))
	}
	// Two clicks on the same failure are one request: the id is derived
	// from the failure's entry.
	sum := sha256.Sum256([]byte(found.At.UTC().Format(time.RFC3339Nano) + "#" + string(found.What)))
	requestID := "op-" + hex.EncodeToString(sum[:8])
	m := queue.Message{Version: queue.MessageVersion, Job: queue.JobReprocess, PartnerID: id, EventID: b.EventID,
		RequestID: requestID, ReceivedAt: a.now(), Event: found.Event}
	if err := a.Queue.Enqueue(ctx, m); err != nil {
		return reply(http.StatusServiceUnavailable, errBody("could not enqueue the reprocess request; try again", ""))
	}
	return reply(http.StatusAccepted, map[string]any{"eventId": b.EventID, "requestId": requestID, "status": "queued"})
}

func (a *API) internal(err error) (events.APIGatewayV2HTTPResponse, error) {
	if a.Logger != nil {
		a.Logger.Error("operator API failure", "error", err)
	}
	return reply(http.StatusInternalServerError, errBody("internal error; see the admin function's log", ""))
}

func errBody(msg, field string) map[string]string {
	m := map[string]string{"error": msg}
	if field != "" {
		m["field"] = field
	}
	return m
}

func reply(status int, v any) (events.APIGatewayV2HTTPResponse, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusInternalServerError}, nil
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"content-type": "application/json"},
		Body:       string(b),
	}, nil
}
