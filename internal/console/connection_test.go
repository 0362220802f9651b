package console

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// conConnAt is when the fixtures' pause began.
var conConnAt = time.Date(2026, 3, 3, 9, 30, 0, 0, time.UTC)

// withConnection makes the demo partner's health report conn.
func (e *conEnv) withConnection(conn map[string]any) {
	e.api.mu.Lock()
	defer e.api.mu.Unlock()
	e.api.answers["GET /v1/admin/partners/demo/health"] = conAnswer{200, map[string]any{
		"lastEventAt": conConnAt, "lastPushAt": conConnAt, "failures24h": 0, "outstanding": 0, "connection": conn}}
}

func conPaused(byOperator bool) map[string]any {
	c := map[string]any{"partnerId": "demo", "state": "paused", "code": "CW_AUTH_FAILED",
		"reason": "ConnectWise refused the keys " + conHostile[0], "since": conConnAt, "byOperator": byOperator,
		"pauseId": "pause-7f3a", "parked": 3, "pausedAt": conConnAt.Add(time.Minute), "heldTooLong": false}
	if byOperator {
		c["code"], c["reason"] = "OPERATOR_PAUSE", "ConnectWise upgrade tonight "+conHostile[1]
	} else {
		c["nextProbeAt"], c["probes"], c["lastProbeAt"], c["lastProbeError"] = conConnAt.Add(2*time.Hour), 2, conConnAt.Add(time.Hour), "401 Unauthorized"
	}
	return c
}

// withDeadLetters makes the demo partner's event log hold a parked and a
// dead-lettered entry (and a failed one, reprocessable).
func (e *conEnv) withDeadLetters() {
	e.api.mu.Lock()
	defer e.api.mu.Unlock()
	e.api.answers["GET /v1/admin/partners/demo/events"] = conAnswer{200, map[string]any{"entries": []map[string]any{
		{"partnerId": "demo", "customerId": "1001", "eventId": "evt-p", "eventType": "backup.completed", "what": "event", "outcome": "parked", "at": conConnAt,
			"code": "PARTNER_PAUSED", "message": "held: the partner is paused (CW_AUTH_FAILED)"},
		{"partnerId": "demo", "customerId": "1002", "eventId": "evt-d", "eventType": "notification", "what": "event", "outcome": "dead_lettered", "at": conConnAt,
			"code": "DEAD_LETTERED", "message": "last reason: ConnectWise timed out " + conHostile[0], "remedy": "fix the cause, then redrive " + conHostile[1]},
		{"partnerId": "demo", "customerId": "1001", "eventId": "evt-1", "eventType": "notification", "what": "ticket", "outcome": "failed", "at": conConnAt,
			"code": "CW_BOARD_MISSING", "message": "board missing", "event": map[string]any{"type": "notification"}},
	}}}
}

// conForm is the POST form with this action in page ("" when none).
func conForm(page, action string) string {
	m := regexp.MustCompile(`(?s)<form method="post" action="` + regexp.QuoteMeta(action) + `"[^>]*>(.*?)</form>`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return m[0]
}

// conWriteForm checks the form with action is in page with both hidden
// fields of a write form; it returns the form.
func conWriteForm(t *testing.T, where, page, action string) string {
	t.Helper()
	f := conForm(page, action)
	if f == "" {
		t.Errorf("%s: no form posting to %s", where, action)
		return ""
	}
	if !conCSRFRe.MatchString(f) || !conNonceRe.MatchString(f) {
		t.Errorf("%s: the form posting to %s lacks the csrf or nonce field:\n%s", where, action, f)
	}
	return f
}

func TestConnectionPausedShownOnPartnerAndList(t *testing.T) {
	for _, byOperator := range []bool{true, false} {
		e := newConEnv(t)
		conn := conPaused(byOperator)
		conn["heldTooLong"] = true
		e.withConnection(conn)
		ck := e.signIn(conOpToken)
		w := e.do("GET", "/console/partners/demo", nil, ck)
		body := w.Body.String()
		if w.Code != 200 {
			t.Fatalf("partner page: %d\n%s", w.Code, body)
		}
		want := []string{`<span class="state state-paused">paused</span>`, `class="conn conn-state-paused"`,
			"Since</dt><dd><time datetime=\"2026-03-03T09:30:00Z\">2026-03-03 09:30 UTC</time>",
			`Events held</dt><dd><a href="/console/partners/demo/events?outcome=parked">3</a>`, "2026-03-03 09:31 UTC",
			"pause-7f3a", "held longer than the service keeps a message", `role="alert"`}
		if byOperator {
			want = append(want, "OPERATOR_PAUSE", "ConnectWise upgrade tonight &#34;&gt;&lt;img", "Paused by</dt><dd><strong>an operator</strong>",
				"none: an operator's pause is not probed")
		} else {
			want = append(want, "CW_AUTH_FAILED", "ConnectWise refused the keys &lt;script&gt;", "Next probe</dt><dd><time datetime=\"2026-03-03T11:30:00Z\">",
				"401 Unauthorized", "if ConnectWise still fails, the partner pauses again")
		}
		for _, s := range want {
			if !strings.Contains(body, s) {
				t.Errorf("paused (by operator %v) partner page lacks %s", byOperator, s)
			}
		}
		if byOperator && strings.Contains(body, "Next probe</dt><dd><time") {
			t.Error("an operator's pause shows a probe time")
		}
		// Paused: Resume, and no Pause.
		if f := conWriteForm(t, "paused partner", body, "/console/partners/demo/resume"); !strings.Contains(f, ">Resume</button>") {
			t.Errorf("the resume form has no Resume button:\n%s", f)
		}
		if conForm(body, "/console/partners/demo/pause") != "" {
			t.Error("a paused partner offers Pause")
		}
		for _, bad := range []string{"<script>alert", "<img src=x"} {
			if strings.Contains(body, bad) {
				t.Errorf("unescaped %q", bad)
			}
		}
		conLabels(t, "paused partner", body)

		// The list: the badge, the events held, the warning.
		list := e.do("GET", "/console/", nil, ck).Body.String()
		for _, s := range []string{`<th scope="col">Connection</th>`, `<td data-label="Connection"><span class="state state-paused">paused</span>`, "3 events held", "held too long"} {
			if !strings.Contains(list, s) {
				t.Errorf("partners list lacks %s", s)
			}
		}
		if strings.Contains(list, "by an operator") != byOperator {
			t.Errorf("partners list: 'by an operator' shown %v, paused by an operator %v", !byOperator, byOperator)
		}
	}
}

func TestConnectionOtherStates(t *testing.T) {
	e := newConEnv(t)
	ck := e.signIn(conOpToken)
	for _, c := range []struct {
		conn       map[string]any
		want       []string
		pause, res bool
	}{
		{map[string]any{"partnerId": "demo", "state": "healthy"},
			[]string{`<span class="state state-healthy">healthy</span>`, "Events are processed as they arrive"}, true, false},
		{map[string]any{"partnerId": "demo", "state": "degraded", "code": "CW_UNAVAILABLE", "reason": "ConnectWise answered 503", "failures": 2, "lastFailureAt": conConnAt},
			[]string{`<span class="state state-degraded">degraded</span>`, "ConnectWise failed 2 times in a row", "ConnectWise answered 503", "CW_UNAVAILABLE"}, true, false},
		{map[string]any{"partnerId": "demo", "state": "resuming", "code": "OPERATOR_PAUSE", "reason": "upgrade", "byOperator": true, "parked": 12},
			[]string{`<span class="state state-resuming">resuming</span>`, "The held events are replaying", `events?outcome=parked">12</a>`}, true, false},
	} {
		e.withConnection(c.conn)
		body := e.do("GET", "/console/partners/demo", nil, ck).Body.String()
		for _, s := range c.want {
			if !strings.Contains(body, s) {
				t.Errorf("%s: partner page lacks %s", c.conn["state"], s)
			}
		}
		if got := conForm(body, "/console/partners/demo/pause") != ""; got != c.pause {
			t.Errorf("%s: Pause offered %v, want %v", c.conn["state"], got, c.pause)
		}
		if got := conForm(body, "/console/partners/demo/resume") != ""; got != c.res {
			t.Errorf("%s: Resume offered %v, want %v", c.conn["state"], got, c.res)
		}
		if c.pause {
			f := conWriteForm(t, c.conn["state"].(string), body, "/console/partners/demo/pause")
			if !strings.Contains(f, `<label for="pause-reason">`) || !regexp.MustCompile(`<input id="pause-reason" name="reason" type="text" required`).MatchString(f) ||
				!strings.Contains(f, ">Pause</button>") {
				t.Errorf("%s: the pause form lacks its required reason field or button:\n%s", c.conn["state"], f)
			}
		}
		conLabels(t, "partner "+c.conn["state"].(string), body)
	}
	// An API that reports no connection: no badge, no control (the state
	// is unknown).
	e2 := newConEnv(t)
	ck2 := e2.signIn(conOpToken)
	body := e2.do("GET", "/console/partners/demo", nil, ck2).Body.String()
	if strings.Contains(body, `class="state `) || strings.Contains(body, "/pause") || strings.Contains(body, "/resume") {
		t.Error("without a reported connection, the partner page shows a state or a pause/resume control")
	}
	if list := e2.do("GET", "/console/", nil, ck2).Body.String(); !strings.Contains(list, "not reported") {
		t.Error("the partners list does not say the connection is not reported")
	}
}

func TestEventLogParkedAndDeadLettered(t *testing.T) {
	e := newConEnv(t)
	e.withDeadLetters()
	e.withConnection(conPaused(false))
	ck := e.signIn(conOpToken)
	w := e.do("GET", "/console/partners/demo/events?outcome=dead_lettered", nil, ck)
	body := w.Body.String()
	if w.Code != 200 {
		t.Fatalf("events: %d\n%s", w.Code, body)
	}
	if r, _ := e.api.last("GET", "/v1/admin/partners/demo/events"); r.URL.Query().Get("outcome") != "dead_lettered" {
		t.Errorf("outcome filter not passed: %s", r.URL.RawQuery)
	}
	for _, s := range []string{`<option value="parked">parked</option>`, `<option value="dead_lettered" selected>dead_lettered</option>`,
		`<li class="entry outcome-parked">`, `<li class="entry outcome-dead_lettered">`, "DEAD_LETTERED", "PARTNER_PAUSED",
		"last reason: ConnectWise timed out &lt;script&gt;", "fix the cause, then redrive &#34;&gt;&lt;img",
		"replays in arrival order when the partner resumes",
		// The partner is paused: the page says so.
		`<span class="state state-paused">paused</span>: its new events are held`} {
		if !strings.Contains(body, s) {
			t.Errorf("events page lacks %s", s)
		}
	}
	// Redrive one (the dead-lettered entry only), redrive all, reprocess
	// (the failed entry only).
	entries := regexp.MustCompile(`(?s)<li class="entry outcome-([a-z_]+)">(.*?)</li>`).FindAllStringSubmatch(body, -1)
	if len(entries) != 3 {
		t.Fatalf("%d entries shown, want 3", len(entries))
	}
	for _, m := range entries {
		redrive := conForm(m[2], "/console/partners/demo/redrive")
		reprocess := conForm(m[2], "/console/partners/demo/reprocess")
		switch m[1] {
		case "dead_lettered":
			if redrive == "" || !strings.Contains(redrive, `name="eventId" value="evt-d"`) || !strings.Contains(redrive, ">Redrive</button>") {
				t.Errorf("the dead-lettered entry has no Redrive form for evt-d:\n%s", m[2])
			}
			conWriteForm(t, "dead-lettered entry", m[2], "/console/partners/demo/redrive")
			if reprocess != "" {
				t.Error("the dead-lettered entry offers Reprocess")
			}
		case "parked":
			if redrive != "" || reprocess != "" {
				t.Error("a parked entry offers a write")
			}
		case "failed":
			if redrive != "" || reprocess == "" {
				t.Errorf("the failed entry: redrive %q, reprocess %q", redrive, reprocess)
			}
		}
	}
	all := regexp.MustCompile(`(?s)<form method="post" action="/console/partners/demo/redrive" class="card redrive-all">.*?</form>`).FindString(body)
	if all == "" || !strings.Contains(all, `name="all" value="true"`) || !strings.Contains(all, ">Redrive all dead letters</button>") ||
		!conCSRFRe.MatchString(all) || !conNonceRe.MatchString(all) {
		t.Errorf("no Redrive all dead letters form:\n%s", all)
	}
	conLabels(t, "events", body)
}

// conWrites are the health writes: path and a valid form (csrf and nonce
// added by the test).
var conWrites = []struct {
	path, api string
	form      url.Values
}{
	{"/console/partners/demo/pause", "/v1/admin/partners/demo/pause", url.Values{"reason": {"ConnectWise upgrade"}}},
	{"/console/partners/demo/resume", "/v1/admin/partners/demo/resume", url.Values{}},
	{"/console/partners/demo/redrive", "/v1/admin/partners/demo/dead-letters/redrive", url.Values{"eventId": {"evt-d"}}},
	{"/console/partners/demo/redrive", "/v1/admin/partners/demo/dead-letters/redrive", url.Values{"all": {"true"}}},
}

func (e *conEnv) withHealthWrites() {
	e.api.mu.Lock()
	defer e.api.mu.Unlock()
	paused := conPaused(true)
	paused["parked"] = 0
	e.api.answers["POST /v1/admin/partners/demo/pause"] = conAnswer{200, map[string]any{"connection": paused}}
	e.api.answers["POST /v1/admin/partners/demo/resume"] = conAnswer{202, map[string]any{"connection": map[string]any{"partnerId": "demo", "state": "resuming", "parked": 3}, "replays": 3}}
	e.api.answers["POST /v1/admin/partners/demo/dead-letters/redrive"] = conAnswer{202, map[string]any{"redriven": 2}}
}

func (e *conEnv) healthWriteCalls() int {
	return e.api.count("POST", "/v1/admin/partners/demo/pause") + e.api.count("POST", "/v1/admin/partners/demo/resume") +
		e.api.count("POST", "/v1/admin/partners/demo/dead-letters/redrive")
}

func withTokens(f url.Values, csrf, nonce string) url.Values {
	g := url.Values{}
	for k, v := range f {
		g[k] = v
	}
	if csrf != "" {
		g.Set("csrf", csrf)
	}
	if nonce != "" {
		g.Set("nonce", nonce)
	}
	return g
}

func TestHealthWritesNeedCSRFAndAnOperator(t *testing.T) {
	e := newConEnv(t)
	e.withHealthWrites()
	e.withDeadLetters()
	ck := e.signIn(conOpToken)
	csrf, nonce := conTokens(t, e.do("GET", "/console/partners/demo/events", nil, ck).Body.String())
	other := e.signIn(conOpToken)
	otherCSRF, _ := conTokens(t, e.do("GET", "/console/", nil, other).Body.String())
	vck := e.signIn(conViewerToken)
	viewerCSRF, _ := conTokens(t, e.do("GET", "/console/partners/demo", nil, vck).Body.String())
	for _, wr := range conWrites {
		for name, c := range map[string]struct {
			form   url.Values
			cookie *http.Cookie
			hdr    []string
		}{
			"no session":        {withTokens(wr.form, csrf, nonce), nil, nil},
			"no token":          {withTokens(wr.form, "", nonce), ck, nil},
			"wrong token":       {withTokens(wr.form, "x"+csrf, nonce), ck, nil},
			"another session's": {withTokens(wr.form, otherCSRF, nonce), ck, nil},
			"another site":      {withTokens(wr.form, csrf, nonce), ck, []string{"Origin", "https://evil.example"}},
			"a viewer":          {withTokens(wr.form, viewerCSRF, ""), vck, nil},
		} {
			w := e.do("POST", wr.path, c.form, c.cookie, c.hdr...)
			if w.Code != http.StatusForbidden {
				t.Errorf("POST %s %v, %s: %d, want 403", wr.path, wr.form, name, w.Code)
			}
			if name == "a viewer" && !strings.Contains(w.Body.String(), "can only read") {
				t.Errorf("POST %s by a viewer: not refused by role:\n%s", wr.path, w.Body)
			}
		}
		// The token in the query instead of the form.
		if w := e.do("POST", wr.path+"?csrf="+url.QueryEscape(csrf), wr.form, ck); w.Code != http.StatusForbidden {
			t.Errorf("POST %s with the token in the query: %d", wr.path, w.Code)
		}
		// GET never writes.
		e.do("GET", wr.path+"?"+withTokens(wr.form, csrf, "").Encode(), nil, ck)
	}
	if n := e.healthWriteCalls(); n != 0 {
		t.Fatalf("refused health writes reached the API %d times", n)
	}
}

func TestPauseResumeRedrive(t *testing.T) {
	e := newConEnv(t)
	e.withHealthWrites()
	ck := e.signIn(conOpToken)
	fresh := func() (string, string) {
		return conTokens(t, e.do("GET", "/console/partners/demo/events", nil, ck).Body.String())
	}
	csrf, nonce := fresh()

	// Pause: the reason is required, and sent as the API's body.
	for _, reason := range []string{"", "   ", strings.Repeat("x", maxPauseReason+1)} {
		w := e.do("POST", "/console/partners/demo/pause", url.Values{"reason": {reason}, "csrf": {csrf}}, ck)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "Say why you pause") {
			t.Errorf("pause with reason %q: %d", reason, w.Code)
		}
	}
	if n := e.healthWriteCalls(); n != 0 {
		t.Fatalf("a pause without a reason reached the API")
	}
	for range 2 { // a double submit: one call
		w := e.do("POST", "/console/partners/demo/pause", url.Values{"reason": {"  ConnectWise upgrade tonight "}, "csrf": {csrf}, "nonce": {nonce}}, ck)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Partner demo is paused") || !strings.Contains(w.Body.String(), "Pause pause-7f3a") ||
			!strings.Contains(w.Body.String(), `href="/console/partners/demo"`) {
			t.Fatalf("pause: %d\n%s", w.Code, w.Body)
		}
	}
	if n := e.api.count("POST", "/v1/admin/partners/demo/pause"); n != 1 {
		t.Errorf("two submits of one pause form: %d API calls, want 1", n)
	}
	if _, body := e.api.last("POST", "/v1/admin/partners/demo/pause"); strings.TrimSpace(body) != `{"reason":"ConnectWise upgrade tonight"}` {
		t.Errorf("pause body %s", body)
	}

	// Resume: no body; the replays are told.
	_, nonce = fresh()
	w := e.do("POST", "/console/partners/demo/resume", url.Values{"csrf": {csrf}, "nonce": {nonce}}, ck)
	if w.Code != http.StatusAccepted || !strings.Contains(w.Body.String(), "3 held events are being replayed") {
		t.Fatalf("resume: %d\n%s", w.Code, w.Body)
	}
	if _, body := e.api.last("POST", "/v1/admin/partners/demo/resume"); body != "" {
		t.Errorf("resume body %q, want none", body)
	}
	// Not paused: the API's 409, in its words.
	e.api.answers["POST /v1/admin/partners/demo/resume"] = conAnswer{409, map[string]string{"error": "partner demo is not paused (healthy)"}}
	_, nonce = fresh()
	w = e.do("POST", "/console/partners/demo/resume", url.Values{"csrf": {csrf}, "nonce": {nonce}}, ck)
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "partner demo is not paused (healthy)") {
		t.Fatalf("resume when not paused: %d\n%s", w.Code, w.Body)
	}

	// Redrive one, all; neither or both is refused before the API.
	for _, c := range []struct {
		form url.Values
		body string
	}{
		{url.Values{"eventId": {"evt-d"}}, `{"eventId":"evt-d"}`},
		{url.Values{"all": {"true"}}, `{"all":true}`},
	} {
		_, nonce = fresh()
		w := e.do("POST", "/console/partners/demo/redrive", withTokens(c.form, csrf, nonce), ck)
		if w.Code != http.StatusAccepted || !strings.Contains(w.Body.String(), "2 dead-lettered events were sent back to the queue") {
			t.Fatalf("redrive %v: %d\n%s", c.form, w.Code, w.Body)
		}
		if _, body := e.api.last("POST", "/v1/admin/partners/demo/dead-letters/redrive"); strings.TrimSpace(body) != c.body {
			t.Errorf("redrive %v: body %s, want %s", c.form, body, c.body)
		}
	}
	before := e.api.count("POST", "/v1/admin/partners/demo/dead-letters/redrive")
	for _, f := range []url.Values{{}, {"eventId": {"evt-d"}, "all": {"true"}}} {
		if w := e.do("POST", "/console/partners/demo/redrive", withTokens(f, csrf, ""), ck); w.Code != http.StatusBadRequest {
			t.Errorf("redrive %v: %d, want 400", f, w.Code)
		}
	}
	if n := e.api.count("POST", "/v1/admin/partners/demo/dead-letters/redrive"); n != before {
		t.Error("a redrive form naming neither or both reached the API")
	}
	e.api.answers["POST /v1/admin/partners/demo/dead-letters/redrive"] = conAnswer{404, map[string]string{"error": "nothing dead-lettered matches", "field": "eventId"}}
	_, nonce = fresh()
	w = e.do("POST", "/console/partners/demo/redrive", url.Values{"eventId": {"evt-x"}, "csrf": {csrf}, "nonce": {nonce}}, ck)
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "nothing dead-lettered matches") {
		t.Fatalf("redrive of nothing: %d\n%s", w.Code, w.Body)
	}
}

// TestViewerSeesNoHealthControls: with a paused partner and dead letters, a
// viewer sees the state but no pause, resume or redrive control.
func TestViewerSeesNoHealthControls(t *testing.T) {
	for _, state := range []string{"paused", "healthy"} {
		e := newConEnv(t)
		e.withDeadLetters()
		if state == "paused" {
			e.withConnection(conPaused(false))
		} else {
			e.withConnection(map[string]any{"partnerId": "demo", "state": "healthy"})
		}
		ck := e.signIn(conViewerToken)
		for _, p := range []string{"/console/", "/console/partners/demo", "/console/partners/demo/events", "/console/partners/demo/events?outcome=dead_lettered"} {
			body := e.do("GET", p, nil, ck).Body.String()
			if (state == "paused" || !strings.Contains(p, "/events")) && !strings.Contains(body, `<span class="state state-`+state+`">`) {
				t.Errorf("viewer, %s: %s does not show the state", state, p)
			}
			for _, bad := range []string{"/pause\"", "/resume\"", "/redrive\"", "Pause</button>", "Resume</button>", "Redrive</button>",
				"Redrive all", "pause-reason", "Pause this partner", `name="nonce"`} {
				if strings.Contains(body, bad) {
					t.Errorf("viewer, %s: %s shows a write control (%s)", state, p, bad)
				}
			}
		}
	}
}
