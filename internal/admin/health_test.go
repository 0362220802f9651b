package admin

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/eventlog"
)

func (e *env) withLog() *eventlog.Log {
	e.t.Helper()
	l := &eventlog.Log{DB: e.db, Table: e.table}
	e.api.Log = l
	e.routes = e.api.Routes()
	return l
}

func logEntries(t *testing.T, l *eventlog.Log, es ...eventlog.Entry) {
	t.Helper()
	for _, en := range es {
		if en.PartnerID == "" {
			en.PartnerID = "acme"
		}
		if err := l.Record(context.Background(), en); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	e.create(partnerJSON("acme"), 1)
	l := e.withLog()
	now := e.api.now()

	// No entries: zeros, no times.
	code, m, raw := e.do("GET", "/v1/admin/partners/acme/health", nil)
	if code != http.StatusOK || m["lastEventAt"] != nil || m["lastPushAt"] != nil || m["failures24h"] != 0.0 || m["outstanding"] != 0.0 {
		t.Fatalf("empty health: %d %s", code, raw)
	}

	logEntries(t, l,
		eventlog.Entry{EventID: "old-fail", What: eventlog.WhatTicket, Outcome: eventlog.OutcomeFailed, At: now.Add(-30 * time.Hour), Code: "X"},
		eventlog.Entry{EventID: "push", What: eventlog.WhatTicket, Outcome: eventlog.OutcomeDone, At: now.Add(-3 * time.Hour)},
		eventlog.Entry{EventID: "f1", What: eventlog.WhatTicket, Outcome: eventlog.OutcomeFailed, At: now.Add(-2 * time.Hour), Code: "X"},
		eventlog.Entry{EventID: "f2", What: eventlog.WhatBilling, Outcome: eventlog.OutcomeFailed, At: now.Add(-time.Hour), Code: "X"},
		eventlog.Entry{EventID: "retry", What: eventlog.WhatTicket, Outcome: eventlog.OutcomeRetrying, At: now.Add(-time.Minute)},
	)
	code, m, raw = e.do("GET", "/v1/admin/partners/acme/health", nil)
	if code != http.StatusOK {
		t.Fatalf("health: %d %s", code, raw)
	}
	want := map[string]any{
		"lastEventAt": now.Add(-time.Minute).Format(time.RFC3339), "lastPushAt": now.Add(-3 * time.Hour).Format(time.RFC3339),
		"failures24h": 2.0, "outstanding": 3.0, "partnerId": "acme", "since": now.Add(-24 * time.Hour).Format(time.RFC3339),
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v (%s)", k, m[k], v, raw)
		}
	}
	if code, _, _ := e.do("GET", "/v1/admin/partners/nobody/health", nil); code != http.StatusNotFound {
		t.Errorf("unknown partner: %d", code)
	}
}

func TestEventsTypeAndOutcomeFilters(t *testing.T) {
	e := newEnv(t)
	e.create(partnerJSON("acme"), 1)
	l := e.withLog()
	now := e.api.now()
	logEntries(t, l,
		eventlog.Entry{EventID: "n1", CustomerID: "1001", EventType: "notification", What: eventlog.WhatTicket, Outcome: eventlog.OutcomeFailed, At: now.Add(-5 * time.Minute)},
		eventlog.Entry{EventID: "b1", CustomerID: "1001", EventType: "backup.completed", What: eventlog.WhatBilling, Outcome: eventlog.OutcomeDone, At: now.Add(-4 * time.Minute)},
		eventlog.Entry{EventID: "b2", CustomerID: "1002", EventType: "backup.completed", What: eventlog.WhatTicket, Outcome: eventlog.OutcomeFailed, At: now.Add(-3 * time.Minute)},
		eventlog.Entry{EventID: "u1", CustomerID: "1001", EventType: "usage.snapshot", What: eventlog.WhatSync, Outcome: eventlog.OutcomeThrottled, At: now.Add(-2 * time.Minute)},
	)
	ids := func(q url.Values) []string {
		t.Helper()
		code, m, raw := e.do("GET", "/v1/admin/partners/acme/events?"+q.Encode(), nil)
		if code != http.StatusOK {
			t.Fatalf("events %s: %d %s", q.Encode(), code, raw)
		}
		var out []string
		for _, en := range m["entries"].([]any) {
			out = append(out, en.(map[string]any)["eventId"].(string))
		}
		return out
	}
	for _, c := range []struct {
		q    url.Values
		want string
	}{
		{url.Values{}, "u1 b2 b1 n1"},
		{url.Values{"type": {"backup.completed"}}, "b2 b1"},
		{url.Values{"outcome": {"failed"}}, "b2 n1"},
		{url.Values{"type": {"backup.completed"}, "outcome": {"failed"}}, "b2"},
		{url.Values{"type": {"backup.completed"}, "customer": {"1001"}}, "b1"},
		{url.Values{"outcome": {"throttled"}, "failed": {"true"}}, ""},
		{url.Values{"type": {"notification"}, "failed": {"true"}}, "n1"},
		// Filtered pages skip pages without a match (limit 1: one entry a page).
		{url.Values{"type": {"notification"}, "limit": {"1"}}, "n1"},
	} {
		got := ""
		for i, id := range ids(c.q) {
			if i > 0 {
				got += " "
			}
			got += id
		}
		if got != c.want {
			t.Errorf("events?%s = %q, want %q", c.q.Encode(), got, c.want)
		}
	}
	if code, m, _ := e.do("GET", "/v1/admin/partners/acme/events?outcome=exploded", nil); code != http.StatusBadRequest || m["field"] != "outcome" {
		t.Errorf("unknown outcome: %d %v", code, m)
	}
}
