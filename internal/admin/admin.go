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
//	GET  /v1/admin/partners/{id}/events           the event log, newest first (?customer=&failed=true&event=&type=&outcome=&limit=&cursor=)
//	GET  /v1/admin/partners/{id}/health           the connection (healthy, degraded, paused, resuming; held events) and, from the log, last event, last push, failures in 24 h, outstanding failures
//	POST /v1/admin/partners/{id}/pause            {"reason": "..."}: hold the partner's events, no ConnectWise call, until an operator resumes (pause.go)
//	POST /v1/admin/partners/{id}/resume           replay the held events in order and resume
//	GET  /v1/admin/partners/{id}/customers        the customers and their sync windows (customer.go)
//	GET  /v1/admin/partners/{id}/customers/{cid}  one customer: usage state, accounts, figures, sync window
//	POST /v1/admin/partners/{id}/reprocess        {"eventId": "..."} or {"since": "<RFC 3339>"}: process failed events again now
//	POST /v1/admin/partners/{id}/dead-letters/redrive  {"eventId": "..."} or {"all": true}: send dead-lettered events back to the queue (deadletters.go)
//	POST /v1/admin/partners/{id}/customers/{cid}/sync     sync the customer now, bypassing the 12-hour window
//	GET  /v1/admin/partners/{id}/customers/{cid}/preview  the changes a sync would make (dry run)
//
// Answers are JSON; errors are {"error": "...", "field": "..."}. Any other
// method or path under /v1/admin/ is 404 {"error": "no such operator route:
// <method> <path>"}; a trailing slash is ignored.
//
// Create and update read their body with partner.DecodeRequest and check it
// with partner.CheckRequest (SitePolicy: deployed, internal hosts such as
// 169.254.169.254 or 10.0.0.1 are refused as a site); every refusal is 400
// {"error", "field"} with field the JSON path ("partner.syncWindowHours").
//
// Writing a partner and its secrets, in this order:
//
//  1. every check, before anything is written: the body, the stored
//     version (409), and for an update partner.CheckUpdate (a change of the
//     site or the company must carry the ConnectWise keys for it, 400);
//  2. the partner record, with a conditional write (create: the id is free,
//     else 409; update: the version is still the one read, else 409);
//  3. the secrets, bound to the partner's site and company
//     (partner.Secrets.Bind), only after step 2 succeeded. If this write
//     fails, step 2 is taken back (conditionally on the version just
//     written: a created partner is deleted, an updated one restored exactly
//     as it was stored) and the answer, 503, says nothing changed.
//
// Between steps 2 and 3 a function may read the new partner with the old
// (cached) keys: partner.Partner.ClientOptions refuses keys bound to another
// site or company, so they are never sent there (the work is retried).
//
// A stored partner that no longer decodes (partner.ErrUnreadable) is shown
// by GET and the list as the settings that do decode plus what to fix,
// reported by the doctor without calling ConnectWise, and repaired by PUT
// of the complete partner at its stored version.
//
// Nothing an answer says about ConnectWise repeats its response bodies: the
// connectwise package's errors carry at most ConnectWise's own JSON message,
// cleaned and cut, and this package adds nothing else from the response.
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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/efs-cw/backupbridge/internal/audit"
	"github.com/efs-cw/backupbridge/internal/callback"
	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/health"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
	"github.com/efs-cw/backupbridge/internal/syncslot"
	"github.com/efs-cw/backupbridge/internal/usage"
)

// Partners is the partner store (partner.Store).
type Partners interface {
	// Get reads a partner: partner.ErrNotFound, or a
	// *partner.UnreadableError for a stored partner that does not decode.
	Get(ctx context.Context, id string) (*partner.Partner, error)
	// All walks the partners, yielding (nil, *partner.UnreadableError) for
	// one that does not decode.
	All(ctx context.Context) iter.Seq2[*partner.Partner, error]
	// Create stores a new partner at version 1 if the id is free
	// (partner.ErrExists otherwise).
	Create(ctx context.Context, p *partner.Partner) error
	// Replace stores p if p.Version is the stored version
	// (partner.ErrConflict otherwise) and returns how to put the replaced
	// record back (see partner.Store.Replace).
	Replace(ctx context.Context, p *partner.Partner) (undo func(context.Context) error, err error)
	// Delete removes the partner if it is at version (undoes a Create).
	Delete(ctx context.Context, id string, version int) error
}

// Enqueuer sends a queue message.
type Enqueuer interface {
	Enqueue(ctx context.Context, m queue.Message) error
}

// CustomerSlots are the customers' sync slots (package syncslot): the
// customer list, pending ones first, and one customer's state.
type CustomerSlots interface {
	Customers(ctx context.Context, partnerID string) iter.Seq2[syncslot.Listed, error]
	State(ctx context.Context, partnerID, customerID string) (syncslot.State, error)
}

// API handles operator requests.
type API struct {
	Partners  Partners
	Secrets   partner.SecretStore
	Log       *eventlog.Log
	Queue     Enqueuer
	Usage     *usage.Store
	Customers CustomerSlots
	// Health is the partners' health and held events (package health).
	Health     *health.Store
	HTTPClient *http.Client // for validate's ConnectWise calls (connectwise.NewHTTPClient)
	// SitePolicy says which ConnectWise site hosts a partner may name (the
	// zero value: public addresses only; see service.Config.SitePolicy).
	SitePolicy connectwise.SitePolicy
	Now        func() time.Time
	Logger     *slog.Logger
	// DeadLetters redrives dead-lettered events (deadletters.go).
	DeadLetters DeadLetters
	// Audit is the billing audit trail (audit.go; nil: 501).
	Audit *audit.Store
	// Callbacks are the partners' ConnectWise callback registrations
	// (callbacks.go; nil: none). CallbackBaseURL is the public address of
	// the callback endpoint (empty: the address of the operator request).
	Callbacks       *callback.Store
	CallbackBaseURL string
}

// redacted is what GET shows of the secrets.
type redacted struct {
	PublicKey             string `json:"publicKey"`
	PrivateKeySet         bool   `json:"privateKeySet"`
	ClientID              string `json:"clientId"`
	WebhookSecretsCount   int    `json:"webhookSecrets"`
	StoredInSecretManager bool   `json:"stored"`
	// SiteURL and CompanyID are what the keys are bound to (empty: stored
	// before the binding existed).
	SiteURL   string `json:"siteUrl,omitempty"`
	CompanyID string `json:"companyId,omitempty"`
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
	handle("GET /v1/admin/partners/{id}/health", func(r *http.Request) response { return a.health(r.Context(), id(r)) })
	handle("GET /v1/admin/partners/{id}/customers", func(r *http.Request) response { return a.customers(r.Context(), id(r)) })
	handle("GET /v1/admin/partners/{id}/customers/{cid}", func(r *http.Request) response {
		return a.customer(r.Context(), id(r), r.PathValue("cid"))
	})
	handle("GET /v1/admin/partners/{id}/customers/{cid}/preview", func(r *http.Request) response {
		return a.preview(r.Context(), id(r), r.PathValue("cid"))
	})
	handle("GET /v1/admin/partners/{id}/customers/{cid}/audit", func(r *http.Request) response {
		return a.auditTrail(r.Context(), id(r), r.PathValue("cid"), r.URL.Query())
	})
	handle("POST /v1/admin/partners/{id}/callbacks", func(r *http.Request) response { return a.registerCallback(r, id(r)) })
	handle("GET /v1/admin/partners/{id}/callbacks", func(r *http.Request) response { return a.callbackStatus(r, id(r)) })
	handle("DELETE /v1/admin/partners/{id}/callbacks", func(r *http.Request) response { return a.unregisterCallback(r, id(r)) })
	handle("GET /v1/admin/partners/{id}/drifts", func(r *http.Request) response { return a.drifts(r.Context(), id(r), r.URL.Query()) })
	handle("GET /v1/admin/partners/{id}/statement", func(r *http.Request) response {
		return a.statement(r.Context(), id(r), r.URL.Query())
	})
	handle("POST /v1/admin/partners/{id}/webhook-secrets", func(r *http.Request) response { return a.webhookSecrets(id(r), r) })
	handle("POST /v1/admin/partners/{id}/dead-letters/redrive", func(r *http.Request) response { return a.redriveDeadLetters(id(r), r) })
	handle("POST /v1/admin/partners/{id}/pause", func(r *http.Request) response { return a.pause(id(r), r) })
	handle("POST /v1/admin/partners/{id}/resume", func(r *http.Request) response { return a.resume(r.Context(), id(r)) })
	handle("POST /v1/admin/connectwise/check", a.siteCheck)
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

// listed is one partner of the list: its settings and, for a stored
// partner that does not decode, the settings that do plus what to fix.
type listed struct {
	*partner.Partner
	Problem string `json:"problem,omitempty"`
}

func (a *API) list(ctx context.Context) response {
	out := []listed{}
	for p, err := range a.Partners.All(ctx) {
		var ue *partner.UnreadableError
		switch {
		case errors.As(err, &ue):
			out = append(out, listed{Partner: partial(ue), Problem: ue.Error()})
		case err != nil:
			return a.internal(ctx, err)
		default:
			out = append(out, listed{Partner: p})
		}
	}
	return reply(http.StatusOK, map[string]any{"partners": out})
}

// partial is the part of an unreadable partner that does decode.
func partial(ue *partner.UnreadableError) *partner.Partner {
	p := &partner.Partner{}
	if ue.Partial != nil {
		c := *ue.Partial
		p = &c
	}
	if p.ID == "" {
		p.ID = ue.PartnerID
	}
	return p
}

// unreadableField is the JSON path of the setting an unreadable partner
// fails on ("partner" when no single one).
func unreadableField(ue *partner.UnreadableError) string {
	if ue.Field == "" {
		return "partner"
	}
	return "partner." + ue.Field
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body is not the expected JSON: %v", err)
	}
	return nil
}

// invalidAnswer answers a refused partner body: 400 {"error", "field"}.
func invalidAnswer(err error) response {
	var ie *partner.InvalidError
	if errors.As(err, &ie) {
		return reply(http.StatusBadRequest, errBody(ie.Problem, ie.Field))
	}
	return reply(http.StatusBadRequest, errBody("the body could not be read; send {\"partner\": {...}, \"secrets\": {...}}", ""))
}

func (a *API) create(r *http.Request) response {
	ctx := r.Context()
	p, s, err := partner.DecodeRequest(r.Body)
	if err != nil {
		return invalidAnswer(err)
	}
	if p == nil {
		return reply(http.StatusBadRequest, errBody("required: the partner's settings", "partner"))
	}
	if s == nil {
		return reply(http.StatusBadRequest, errBody("required: a new partner needs its secrets (publicKey, privateKey, clientId and webhookSecrets)", "secrets"))
	}
	if err := partner.CheckRequest(p, s, a.SitePolicy); err != nil {
		return invalidAnswer(err)
	}
	// The partner first, conditionally: a taken id is refused before
	// anything is written.
	if err := a.Partners.Create(ctx, p); errors.Is(err, partner.ErrExists) {
		return reply(http.StatusConflict, errBody("partner "+p.ID+" exists; use PUT to update it", "partner.id"))
	} else if err != nil {
		return a.internal(ctx, err)
	}
	// Then its secrets, bound to its site and company. Once the partner is
	// written the request is finished even if the caller goes away.
	ctx = context.WithoutCancel(ctx)
	s.Bind(p)
	if err := a.Secrets.PutSecrets(ctx, p.ID, *s); err != nil {
		if uerr := a.Partners.Delete(ctx, p.ID, p.Version); uerr != nil {
			a.logError(ctx, "create: secrets not stored and the partner not taken back", errors.Join(err, uerr))
			return reply(http.StatusInternalServerError, errBody("partner "+p.ID+" was created, but its secrets could not be stored and the partner could not be taken back: "+
				"it exists without its keys (its events fail until they are set); PUT it with its secrets (GET it first for its version)", ""))
		}
		a.logError(ctx, "create: secrets not stored; partner taken back", err)
		return reply(http.StatusServiceUnavailable, errBody("the partner's secrets could not be stored, so the partner was not created: nothing changed; try again", ""))
	}
	out := map[string]any{"partner": p}
	if st := a.autoRegister(r, p.ID); st != "" {
		out["callbacks"] = st
	}
	return reply(http.StatusCreated, out)
}

func (a *API) get(ctx context.Context, id string) response {
	p, err := a.Partners.Get(ctx, id)
	out := map[string]any{}
	var ue *partner.UnreadableError
	switch {
	case errors.Is(err, partner.ErrNotFound):
		return reply(http.StatusNotFound, errBody("no partner "+id, ""))
	case errors.As(err, &ue):
		// What does decode, and what to fix: the operator repairs it with
		// PUT, which needs the version shown here.
		p = partial(ue)
		out["error"], out["field"] = ue.Error(), unreadableField(ue)
	case err != nil:
		return a.internal(ctx, err)
	}
	out["partner"] = p
	if s, err := a.Secrets.GetSecrets(ctx, id); err == nil {
		out["secrets"] = redacted{PublicKey: mask(s.PublicKey), PrivateKeySet: s.PrivateKey != "", ClientID: s.ClientID, WebhookSecretsCount: len(s.WebhookSecrets), StoredInSecretManager: true,
			SiteURL: s.SiteURL, CompanyID: s.CompanyID}
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
	p, s, err := partner.DecodeRequest(r.Body)
	if err != nil {
		return invalidAnswer(err)
	}
	if p == nil {
		return reply(http.StatusBadRequest, errBody("required: the partner's complete settings, with the version last read", "partner"))
	}
	if p.ID == "" {
		p.ID = id
	}
	if p.ID != id {
		return reply(http.StatusBadRequest, errBody("partner.id does not match the path", "partner.id"))
	}
	if err := partner.CheckRequest(p, s, a.SitePolicy); err != nil {
		return invalidAnswer(err)
	}
	// Every check before any write: the stored partner (or what decodes of
	// it, when it cannot be read: an update is how it is repaired), its
	// version, and that changing the site or the company brings the keys.
	old, err := a.Partners.Get(ctx, id)
	var ue *partner.UnreadableError
	switch {
	case errors.Is(err, partner.ErrNotFound):
		return reply(http.StatusNotFound, errBody("no partner "+id+"; create it with POST /v1/admin/partners", ""))
	case errors.As(err, &ue):
		old = partial(ue)
	case err != nil:
		return a.internal(ctx, err)
	}
	if p.Version != old.Version {
		return reply(http.StatusConflict, errBody(fmt.Sprintf("the stored partner is at version %d, not %d: it was changed since you read it; read it again (GET), apply your change, and PUT it with that version", old.Version, p.Version), "partner.version"))
	}
	if err := partner.CheckUpdate(old, p, s); err != nil {
		return invalidAnswer(err)
	}
	undo, err := a.Partners.Replace(ctx, p)
	switch {
	case errors.Is(err, partner.ErrConflict):
		return reply(http.StatusConflict, errBody(err.Error(), "partner.version"))
	case errors.Is(err, partner.ErrNotFound):
		return reply(http.StatusNotFound, errBody("no partner "+id+"; create it with POST /v1/admin/partners", ""))
	case err != nil:
		return a.internal(ctx, err)
	}
	if s != nil {
		ctx = context.WithoutCancel(ctx)
		s.Bind(p)
		if err := a.Secrets.PutSecrets(ctx, id, *s); err != nil {
			if uerr := undo(ctx); uerr != nil {
				a.logError(ctx, "update: secrets not stored and the partner not restored", errors.Join(err, uerr))
				return reply(http.StatusInternalServerError, errBody(fmt.Sprintf("partner %s was updated to version %d, but its secrets could not be stored and the previous version could not be restored (it was changed again meanwhile, or the table refused): "+
					"the stored keys stay bound to the site and company they were given for and are not sent elsewhere; read the partner again (GET) and PUT it with its secrets", id, p.Version), ""))
			}
			a.logError(ctx, "update: secrets not stored; partner restored", err)
			return reply(http.StatusServiceUnavailable, errBody("the partner's secrets could not be stored, so the update was taken back: nothing changed; try again", ""))
		}
		if a.probeNewKeys(ctx, id) {
			return reply(http.StatusOK, map[string]any{"partner": p, "probe": "queued: the partner is paused and new keys were saved, so it is probed now; it resumes if ConnectWise accepts them"})
		}
	}
	out := map[string]any{"partner": p}
	if old != nil && strings.TrimSpace(p.Board) != "" && !strings.EqualFold(strings.TrimSpace(old.Board), strings.TrimSpace(p.Board)) {
		// The callback watches the board: register it on the new one (the
		// setup wizard sets the board after creating the partner).
		out["callbacks"] = a.autoRegister(r, id)
	}
	return reply(http.StatusOK, out)
}

// Problem is one thing validate found wrong, in words.
type Problem struct {
	Setting string `json:"setting"`
	Problem string `json:"problem"`
}

func (a *API) validate(ctx context.Context, id string) response {
	p, err := a.Partners.Get(ctx, id)
	var ue *partner.UnreadableError
	var problems []Problem
	switch {
	case errors.Is(err, partner.ErrNotFound):
		return reply(http.StatusNotFound, errBody("no partner "+id, ""))
	case errors.As(err, &ue):
		// Nothing is sent to ConnectWise for settings that cannot be read;
		// the secrets can still be checked.
		setting := ue.Field
		if setting == "" {
			setting = "partner"
		}
		problems = append(problems, Problem{setting, ue.Error()})
		s, found, err := a.secrets(ctx, id)
		if err != nil {
			return a.internal(ctx, err)
		}
		if found {
			problems = append(problems, webhookProblems(s.WebhookSecrets)...)
		}
	case err != nil:
		return a.internal(ctx, err)
	default:
		if problems, err = a.doctor(ctx, p); err != nil {
			return a.internal(ctx, err)
		}
	}
	if problems == nil {
		problems = []Problem{}
	}
	return reply(http.StatusOK, map[string]any{"ok": len(problems) == 0, "problems": problems})
}

// secrets reads the partner's secrets; found is false when none are stored.
func (a *API) secrets(ctx context.Context, id string) (s partner.Secrets, found bool, err error) {
	s, err = a.Secrets.GetSecrets(ctx, id)
	if errors.Is(err, partner.ErrNotFound) {
		return partner.Secrets{}, false, nil
	}
	return s, err == nil, err
}

// webhookProblems reports stored webhook signing secrets the webhook cannot
// use, or that are weaker than what the operator API now accepts.
func webhookProblems(stored []string) []Problem {
	keys, unusable := partner.UsableWebhookSecrets(stored)
	if len(keys) == 0 {
		p := Problem{"secrets.webhookSecrets", "no webhook signing secret is stored"}
		var ie *partner.InvalidError
		if errors.As(unusable, &ie) {
			p = Problem{ie.Field, ie.Problem}
		}
		p.Problem = "every webhook delivery for this partner is being answered 401 (no stored signing secret can verify a signature, so no event gets in): " + p.Problem
		return []Problem{p}
	}
	var problems []Problem
	var ie *partner.InvalidError
	if errors.As(unusable, &ie) {
		problems = append(problems, Problem{ie.Field, "deliveries signed with this secret are answered 401 (the other stored secrets still work): " + ie.Problem})
	}
	var weak *partner.InvalidError
	if err := partner.CheckWebhookSecrets(stored); errors.As(err, &weak) && (ie == nil || weak.Field != ie.Field) {
		problems = append(problems, Problem{weak.Field, "the stored secret still verifies signatures but does not meet the rule for new secrets (" + weak.Problem + "); replace it with PUT /v1/admin/partners/{id}"})
	}
	return problems
}

// eventsFilterPages bounds how many pages the events route reads looking
// for an entry that passes its type and outcome filters.
const eventsFilterPages = 10

func (a *API) events(ctx context.Context, id string, q url.Values) response {
	limit, _ := strconv.Atoi(q.Get("limit"))
	typ, oc := q.Get("type"), eventlog.Outcome(q.Get("outcome"))
	switch oc {
	case "", eventlog.OutcomeDone, eventlog.OutcomeThrottled, eventlog.OutcomeSkipped, eventlog.OutcomeFailed, eventlog.OutcomeRetrying,
		eventlog.OutcomeParked, eventlog.OutcomeDeadLettered:
	default:
		return reply(http.StatusBadRequest, errBody("outcome must be done, throttled, skipped, failed, retrying, parked or dead_lettered", "outcome"))
	}
	lq := eventlog.Query{
		PartnerID: id, CustomerID: q.Get("customer"), FailedOnly: q.Get("failed") == "true",
		EventID: q.Get("event"), Limit: limit, Cursor: q.Get("cursor"),
	}
	// type (the event type) and outcome filter each page after reading it,
	// as a DynamoDB filter would: a page may hold fewer entries than limit,
	// and the cursor goes on. Pages without a match are skipped, a few.
	var page eventlog.Page
	for n := 0; ; n++ {
		var err error
		if page, err = a.Log.List(ctx, lq); err != nil {
			if strings.Contains(err.Error(), "cursor") {
				return reply(http.StatusBadRequest, errBody("cursor is not valid", "cursor"))
			}
			return a.internal(ctx, err)
		}
		if typ == "" && oc == "" {
			break
		}
		page.Entries = slices.DeleteFunc(page.Entries, func(e eventlog.Entry) bool {
			return (typ != "" && e.EventType != typ) || (oc != "" && e.Outcome != oc)
		})
		if len(page.Entries) > 0 || page.Cursor == "" || n+1 == eventsFilterPages {
			break
		}
		lq.Cursor = page.Cursor
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
	a.logError(ctx, "operator API failure", err)
	return reply(http.StatusInternalServerError, errBody("internal error; see the admin function's log", ""))
}

func (a *API) logError(ctx context.Context, msg string, err error) {
	if a.Logger != nil {
		a.Logger.ErrorContext(ctx, msg, "error", err)
	}
}

// lookup reads the partner for the routes that act on it; an answer when it
// cannot: 404, 409 for a stored partner that does not decode (the message
// says how to repair it), 500.
func (a *API) lookup(ctx context.Context, id string) (*partner.Partner, *response) {
	p, err := a.Partners.Get(ctx, id)
	var ue *partner.UnreadableError
	var resp response
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, partner.ErrNotFound):
		resp = reply(http.StatusNotFound, errBody("no partner "+id, ""))
	case errors.As(err, &ue):
		resp = reply(http.StatusConflict, errBody(ue.Error(), unreadableField(ue)))
	default:
		resp = a.internal(ctx, err)
	}
	return nil, &resp
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
	// raw, when set, is sent as it is with contentType (a CSV export).
	raw         []byte
	contentType string
	filename    string
}

func reply(status int, v any) response { return response{status: status, body: v} }

// write sends the answer.
func (resp response) write(w http.ResponseWriter) {
	if resp.raw != nil {
		w.Header().Set("Content-Type", resp.contentType)
		if resp.filename != "" {
			w.Header().Set("Content-Disposition", `attachment; filename="`+resp.filename+`"`)
		}
		w.WriteHeader(resp.status)
		_, _ = w.Write(resp.raw)
		return
	}
	b, err := json.Marshal(resp.body)
	if err != nil {
		b, resp.status = []byte(`{"error":"internal error: the answer could not be encoded"}`), http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.status)
	_, _ = w.Write(b)
}
