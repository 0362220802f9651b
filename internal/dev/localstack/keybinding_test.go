package localstack_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/eventlog"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// The window between the operator API's two writes: the partner is moved to
// another site (partner written first, its new keys just after), while the
// worker still holds the old keys in its secrets cache. The old keys are
// bound to the old site, so the worker does not send them to the new one:
// the event is retried, and goes through once the worker reads the new keys.
func TestMovedSiteWaitsForItsKeys(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	s := h.st.Demo.Secrets
	keys := map[string]any{"publicKey": s.PublicKey, "privateKey": s.PrivateKey, "clientId": s.ClientID, "webhookSecrets": s.WebhookSecrets}

	// Store the demo keys through the API: they are bound to the demo site.
	code, b := h.operator(http.MethodGet, "/v1/admin/partners/demo", nil)
	if code != http.StatusOK {
		t.Fatalf("get: %d %v", code, b)
	}
	p := b["partner"].(map[string]any)
	oldSite := p["siteUrl"].(string)
	if code, b = h.operator(http.MethodPut, "/v1/admin/partners/demo", map[string]any{"partner": p, "secrets": keys}); code != http.StatusOK {
		t.Fatalf("put keys: %d %v", code, b)
	}
	if got, err := h.st.Service.Secrets.GetSecrets(ctx, partner.DemoPartnerID); err != nil || got.SiteURL != oldSite {
		t.Fatalf("stored keys: bound to %q (%v), want %q", got.SiteURL, err, oldSite)
	}
	// The worker reads (and caches) the bound keys.
	h.deliver(h.failure("ACME-SRV01"))
	if n := len(h.sim.Tickets()); n != 1 {
		t.Fatalf("tickets = %d, want 1", n)
	}

	// Move the site: the same simulator, named by host name instead of
	// address, is another site as far as the keys are concerned.
	p = b["partner"].(map[string]any)
	newSite := strings.Replace(oldSite, "127.0.0.1", "localhost", 1)
	p["siteUrl"] = newSite
	if code, b := h.operator(http.MethodPut, "/v1/admin/partners/demo", map[string]any{"partner": p}); code != http.StatusBadRequest || b["field"] != "secrets.publicKey" {
		t.Fatalf("move without keys: %d %v, want 400", code, b)
	}
	if code, b := h.operator(http.MethodPut, "/v1/admin/partners/demo", map[string]any{"partner": p, "secrets": keys}); code != http.StatusOK {
		t.Fatalf("move with keys: %d %v", code, b)
	}

	// The worker's cache still has the keys bound to the old site.
	id := h.send(h.failure("ACME-WS07"))
	if res := h.pollOnce(); res.Received != 1 || len(res.Retried) != 1 {
		t.Fatalf("attempt with the old keys cached: %+v, want the message retried", res)
	}
	var refused bool
	for _, e := range h.events(eventlog.Query{EventID: id}) {
		refused = refused || (e.Outcome == eventlog.OutcomeRetrying && strings.Contains(e.Message, "another site or company") && e.Calls == 0)
	}
	if !refused {
		t.Errorf("no retrying entry saying the keys are bound elsewhere: %+v", h.events(eventlog.Query{EventID: id}))
	}
	if n := len(h.sim.Tickets()); n != 1 {
		t.Fatalf("tickets = %d after the refused attempt, want 1", n)
	}

	// Once the cache expires the new keys are read, and the event goes through.
	h.clock.Add(6 * time.Minute)
	h.settle()
	if n := len(h.sim.Tickets()); n != 2 {
		t.Fatalf("tickets = %d after the keys caught up, want 2", n)
	}
}
