package callback

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/queue"
)

// MaxBodyBytes is the largest callback body read (a ticket's JSON is a few
// KiB).
const MaxBodyBytes = 64 * 1024

// KeyTTL is how long a fetched signing key is kept.
const KeyTTL = time.Hour

// Handler answers POST /v1/partners/{partnerId}/callbacks/{token}:
//
//	413  body over MaxBodyBytes
//	401  unknown partner, no registration, wrong token, a signature that
//	     does not verify (or whose key_url is not on the partner's site), or
//	     no signature from a site that has signed before (Registration.Signed):
//	     one body for all, {"error":"invalid callback"}, and a WARN log line
//	400  not a JSON callback payload
//	200  {"status":"ignored"}    not a ticket callback (ConnectWise disables a
//	                             callback its receiver keeps refusing)
//	503  the registration or the key could not be read, or the message not
//	     enqueued (ConnectWise retries twice)
//	200  {"status":"accepted"}   queued for the worker
//
// It writes nothing (but, once, that the partner's site signs) and calls
// ConnectWise at most for the signing key. A
// replayed delivery is queued again and changes nothing: the worker acts on
// the ticket as ConnectWise holds it now, never on the body.
type Handler struct {
	Registrations *Store
	Partners      interface {
		Get(ctx context.Context, id string) (*partner.Partner, error)
	}
	Queue interface {
		Enqueue(ctx context.Context, m queue.Message) error
	}
	// HTTPClient fetches signing keys (connectwise.NewHTTPClient with the
	// service's site policy).
	HTTPClient *http.Client
	Now        func() time.Time
	Log        *slog.Logger

	keyMu sync.Mutex
	keys  map[string]cachedKey
}

type cachedKey struct {
	key string
	at  time.Time
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Routes returns the handler for Route.
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(Route, h.serve)
	return mux
}

type answer struct {
	status int
	body   map[string]string
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	start := h.now()
	partnerID := r.PathValue("partnerId")
	a, why, ticket := h.handle(r, partnerID, start)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_ = json.NewEncoder(w).Encode(a.body)
	log := h.Log
	if log == nil {
		log = slog.Default()
	}
	level := slog.LevelInfo
	if a.status == http.StatusUnauthorized || a.status >= 500 {
		level = slog.LevelWarn
	}
	log.Log(r.Context(), level, "connectwise callback", "partner", partnerID, "status", a.status, "outcome", a.body["status"]+a.body["error"],
		"reason", why, "ticketId", ticket, "duration", h.now().Sub(start).Milliseconds())
}

var refused = answer{http.StatusUnauthorized, map[string]string{"error": "invalid callback"}}

func unavailable() answer {
	return answer{http.StatusServiceUnavailable, map[string]string{"error": "temporarily unavailable; retry"}}
}

// handle returns the answer, why (for the log) and the ticket id.
func (h *Handler) handle(r *http.Request, partnerID string, now time.Time) (answer, string, int) {
	ctx := r.Context()
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return answer{http.StatusBadRequest, map[string]string{"error": "could not read the body"}}, err.Error(), 0
	}
	if len(body) > MaxBodyBytes {
		return answer{http.StatusRequestEntityTooLarge, map[string]string{"error": "body too large"}}, "", 0
	}
	reg, found, err := h.Registrations.Get(ctx, partnerID)
	if err != nil {
		return unavailable(), err.Error(), 0
	}
	if !found || !reg.TokenMatches(r.PathValue("token")) {
		return refused, "unknown partner, no registration or wrong token", 0
	}
	var p connectwise.CallbackPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return answer{http.StatusBadRequest, map[string]string{"error": "not a ConnectWise callback payload: " + err.Error()}}, "", 0
	}
	sig := r.Header.Get(connectwise.CallbackSignatureHeader)
	switch {
	case sig != "":
		key, err := h.signingKey(ctx, partnerID, p.Metadata.KeyURL, now)
		if errors.Is(err, errKeyURL) {
			return refused, err.Error(), p.ID
		}
		if err != nil {
			return unavailable(), err.Error(), p.ID
		}
		if !connectwise.VerifyCallback(body, sig, key) {
			return refused, "the content signature does not verify", p.ID
		}
		if !reg.Signed {
			// The site signs: from now on an unsigned callback is forged.
			if err := h.Registrations.markSigned(ctx, partnerID); err != nil {
				return unavailable(), err.Error(), p.ID
			}
		}
	case reg.Signed:
		return refused, "unsigned, from a site that signs its callbacks", p.ID
	}
	if !strings.EqualFold(p.Type, "ticket") || p.ID <= 0 {
		return answer{http.StatusOK, map[string]string{"status": "ignored"}}, fmt.Sprintf("not a ticket callback (type %q, id %d)", p.Type, p.ID), p.ID
	}
	id := p.MessageID
	if id == "" {
		sum := sha256.Sum256(body)
		id = hex.EncodeToString(sum[:16])
	}
	m := queue.Message{Version: queue.MessageVersion, Job: queue.JobTicketChanged, PartnerID: partnerID, EventID: "cb_" + id,
		ReceivedAt: now.UTC(), TicketID: p.ID, Event: body}
	if err := h.Queue.Enqueue(ctx, m); err != nil {
		return unavailable(), err.Error(), p.ID
	}
	return answer{http.StatusOK, map[string]string{"status": "accepted"}}, p.Action, p.ID
}

var errKeyURL = errors.New("the signing key URL is not on the partner's ConnectWise site")

// signingKey fetches (and caches, per partner and key URL) the key of
// key_url, only from the partner's configured site host, over https (http
// only for a loopback site, as the local simulator is). A cached key was
// checked against the partner's site when it was fetched: a hit reads
// nothing.
func (h *Handler) signingKey(ctx context.Context, partnerID, keyURL string, now time.Time) (string, error) {
	cacheKey := partnerID + "\x00" + keyURL
	h.keyMu.Lock()
	if k, ok := h.keys[cacheKey]; ok && now.Sub(k.at) < KeyTTL {
		h.keyMu.Unlock()
		return k.key, nil
	}
	h.keyMu.Unlock()
	p, err := h.Partners.Get(ctx, partnerID)
	if err != nil {
		return "", fmt.Errorf("read partner %s: %w", partnerID, err)
	}
	site, err := url.Parse(p.SiteURL)
	if err != nil {
		return "", fmt.Errorf("%w (the partner's site URL is unreadable)", errKeyURL)
	}
	u, err := url.Parse(keyURL)
	if err != nil || u.Host == "" || !siteHost(u.Hostname(), site.Hostname()) || u.Port() != site.Port() || u.User != nil ||
		(u.Scheme != "https" && !(u.Scheme == "http" && site.Scheme == "http")) {
		return "", errKeyURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	resp, err := h.HTTPClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetch the signing key: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetch the signing key: HTTP %d", resp.StatusCode)
	}
	var doc struct {
		SigningKey string `json:"signing_key"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64*1024)).Decode(&doc); err != nil || doc.SigningKey == "" {
		return "", fmt.Errorf("the signing key answer is not {\"signing_key\": …}")
	}
	h.keyMu.Lock()
	if h.keys == nil {
		h.keys = map[string]cachedKey{}
	}
	h.keys[cacheKey] = cachedKey{doc.SigningKey, now}
	h.keyMu.Unlock()
	return doc.SigningKey, nil
}

// siteHost tells whether host is the partner's site host, or its API host
// on ConnectWise's cloud (na.myconnectwise.net is served by
// api-na.myconnectwise.net).
func siteHost(host, site string) bool {
	host, site = strings.ToLower(host), strings.ToLower(site)
	return host == site || (strings.HasSuffix(site, ".myconnectwise.net") && host == "api-"+site)
}
