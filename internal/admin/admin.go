// Package admin is the operator API, an http.Handler (API.Routes): the admin
// Lambda behind API Gateway with IAM authorization (route ANY
// /v1/admin/{proxy+}, through package lambdahttp), and the local stack
// behind its stand-in for IAM. Its routes:
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
// Answers are JSON; errors are {"error": "...", "field": "..."}. Any other
// method or path under /v1/admin/ is 404 {"error": "no such operator route:
// <method> <path>"}; a trailing slash is ignored.
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
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
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
	HTTPClient *http.Client // for validate's ConnectWise calls (connectwise.NewHTTPClient)
	// SitePolicy says which ConnectWise site hosts a partner may name (the
	// zero value: public addresses only; see service.Config.SitePolicy).
	SitePolicy connectwise.SitePolicy
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

// Routes returns the operator API as an http.Handler. A new operator
// endpoint is one more line here.
func (a *API) Routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, fn func(*http.Request) response) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { fn(r).write(w) })
	}
	id := func(r *http.Request) string { return r.PathValue("id") }
	handle("GET /v1/admin/partners", func(r *http.Request) response { return a.list(r.Context()) })
	handle("POST /v1/admin/partners", a.create)
	handle("GET /v1/admin/partners/{id}", func(r *http.Request) response { return a.get(r.Context(), id(r)) })
	handle("PUT /v1/admin/partners/{id}", func(r *http.Request) response { return a.update(id(r), r) })
	handle("POST /v1/admin/partners/{id}/validate", func(r *http.Request) response { return a.validate(r.Context(), id(r)) })
	handle("GET /v1/admin/partners/{id}/doctor", func(r *http.Request) response { return a.validate(r.Context(), id(r)) })
	handle("GET /v1/admin/partners/{id}/events", func(r *http.Request) response { return a.events(r.Context(), id(r), r.URL.Query()) })
	handle("POST /v1/admin/partners/{id}/reprocess", func(r *http.Request) response { return a.reprocess(id(r), r) })
	handle("POST /v1/admin/partners/{id}/customers/{cid}/sync", func(r *http.Request) response {
		return a.syncNow(id(r), r.PathValue("cid"), r)
	})
	handle("GET /v1/admin/partners/{id}/customers/{cid}/preview", func(r *http.Request) response {
		return a.preview(r.Context(), id(r), r.PathValue("cid"))
	})
	handle("/", func(r *http.Request) response {
		return reply(http.StatusNotFound, errBody("no such operator route: "+r.Method+" "+r.URL.EscapedPath(), ""))
	})
	return trimSlash(mux)
}

// trimSlash serves a path ending in "/" (but the root) as the path without
// it: GET /v1/admin/partners/ lists the partners.
func trimSlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r2 := r.Clone(r.Context())
			r2.URL.Path = strings.TrimSuffix(p, "/")
			r2.URL.RawPath = strings.TrimSuffix(r.URL.RawPath, "/")
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *API) list(ctx context.Context) response {
	out := []*partner.Partner{}
	for p, err := range a.Partners.All(ctx) {
		if err != nil {
			return a.internal(ctx, err)
		}
		out = append(out, p)
	}
	return reply(http.StatusOK, map[string]any{"partners": out})
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body is not the expected JSON: %v", err)
	}
	return nil
}

func invalidAnswer(err error) response {
	var ie *partner.InvalidError
	if errors.As(err, &ie) {
		return reply(http.StatusBadRequest, errBody(ie.Problem, ie.Field))
	}
	return reply(http.StatusBadRequest, errBody(err.Error(), ""))
}

func (a *API) create(r *http.Request) response {
	ctx := r.Context()
	var b partnerBody
	if err := decode(r, &b); err != nil {
		return reply(http.StatusBadRequest, errBody(err.Error(), ""))
	}
	if b.Partner == nil || b.Secrets == nil {
		return reply(http.StatusBadRequest, errBody("both partner and secrets are required", "partner"))
	}
	if err := b.Partner.Validate(a.SitePolicy); err != nil {
		return invalidAnswer(err)
	}
	if err := b.Secrets.Validate(); err != nil {
		return invalidAnswer(err)
	}
	// Secrets first: a partner without secrets would fail every event.
	if err := a.Secrets.PutSecrets(ctx, b.Partner.ID, *b.Secrets); err != nil {
		return a.internal(ctx, err)
	}
	if err := a.Partners.Create(ctx, b.Partner); errors.Is(err, partner.ErrExists) {
		return reply(http.StatusConflict, errBody("partner "+b.Partner.ID+" exists; use PUT to update it", "partner.id"))
	} else if err != nil {
		return a.internal(ctx, err)
	}
	return reply(http.StatusCreated, map[string]any{"partner": b.Partner})
}

func (a *API) get(ctx context.Context, id string) response {
	p, err := a.Partners.Get(ctx, id)
	if errors.Is(err, partner.ErrNotFound) {
		return reply(http.StatusNotFound, errBody("no partner "+id, ""))
	}
	if err != nil {
		return a.internal(ctx, err)
	}
	out := map[string]any{"partner": p}
	if s, err := a.Secrets.GetSecrets(ctx, id); err == nil {
		out["secrets"] = redacted{PublicKey: mask(s.PublicKey), PrivateKeySet: s.PrivateKey != "", ClientID: s.ClientID, WebhookSecretsCount: len(s.WebhookSecrets), StoredInSecretManager: true}
	} else if !errors.Is(err, partner.ErrNotFound) {
		return a.internal(ctx, err)
	}
	return reply(http.StatusOK, out)
}

func mask(s string) string {
	if len(s) <= 4 {
		return "****"
	}
	return s[:4] + strings.Repeat("*", len(s)-4)
}

func (a *API) update(id string, r *http.Request) response {
	ctx := r.Context()
	var b partnerBody
	if err := decode(r, &b); err != nil {
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
	if err := b.Partner.Validate(a.SitePolicy); err != nil {
		return invalidAnswer(err)
	}
	if b.Secrets != nil {
		if err := b.Secrets.Validate(); err != nil {
			return invalidAnswer(err)
		}
		if err := a.Secrets.PutSecrets(ctx, id, *b.Secrets); err != nil {
			return a.internal(ctx, err)
		}
	}
	switch err := a.Partners.Update(ctx, b.Partner); {
	case errors.Is(err, partner.ErrConflict):
		return reply(http.StatusConflict, errBody(err.Error(), "partner.version"))
	case err != nil:
		return a.internal(ctx, err)
	}
	return reply(http.StatusOK, map[string]any{"partner": b.Partner})
}

// Problem is one thing validate found wrong, in words.
type Problem struct {
	Setting string `json:"setting"`
	Problem string `json:"problem"`
}

func (a *API) validate(ctx context.Context, id string) response {
	p, err := a.Partners.Get(ctx, id)
	if errors.Is(err, partner.ErrNotFound) {
		return reply(http.StatusNotFound, errBody("no partner "+id, ""))
	}
	if err != nil {
		return a.internal(ctx, err)
	}
	problems, err := a.doctor(ctx, p)
	if err != nil {
		return a.internal(ctx, err)
	}
	if problems == nil {
		problems = []Problem{}
	}
	return reply(http.StatusOK, map[string]any{"ok": len(problems) == 0, "problems": problems})
}

func (a *API) events(ctx context.Context, id string, q url.Values) response {
	limit, _ := strconv.Atoi(q.Get("limit"))
	page, err := a.Log.List(ctx, eventlog.Query{
		PartnerID: id, CustomerID: q.Get("customer"), FailedOnly: q.Get("failed") == "true",
		EventID: q.Get("event"), Limit: limit, Cursor: q.Get("cursor"),
	})
	if err != nil {
		if strings.Contains(err.Error(), "cursor") {
			return reply(http.StatusBadRequest, errBody("cursor is not valid", "cursor"))
		}
		return a.internal(ctx, err)
	}
	if page.Entries == nil {
		page.Entries = []eventlog.Entry{}
	}
	return reply(http.StatusOK, page)
}

func (a *API) reprocess(id string, r *http.Request) response {
	ctx := r.Context()
	var b struct {
		EventID string    `json:"eventId"`
		Since   time.Time `json:"since"`
	}
	if err := decode(r, &b); err != nil || (b.EventID == "") == b.Since.IsZero() {
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
			return a.internal(ctx, err)
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

func (a *API) internal(ctx context.Context, err error) response {
	if a.Logger != nil {
		a.Logger.ErrorContext(ctx, "operator API failure", "error", err)
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

// response is an operator API answer: a status and a JSON body.
type response struct {
	status int
	body   any
}

func reply(status int, v any) response { return response{status: status, body: v} }

// write sends the answer.
func (resp response) write(w http.ResponseWriter) {
	b, err := json.Marshal(resp.body)
	if err != nil {
		b, resp.status = []byte(`{"error":"internal error: the answer could not be encoded"}`), http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.status)
	_, _ = w.Write(b)
}
