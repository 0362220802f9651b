package cwsim

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
)

// cbReceiver is a callback endpoint on 127.0.0.1 that records every request
// (before answering it) and answers what status says for its path.
type cbReceiver struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	got    []received
	status func(path string, n int) int // n counts the requests to path, from 1
}

type received struct {
	path    string
	header  http.Header
	body    []byte
	payload connectwise.CallbackPayload
}

// newReceiver starts a receiver; status (nil: always 200) is set before
// the server starts, so that no request races with it.
func newReceiver(t *testing.T, status func(path string, n int) int) *cbReceiver {
	t.Helper()
	rc := &cbReceiver{t: t, status: status}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *cbReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		rc.t.Errorf("receiver: %v", err)
	}
	got := received{path: r.URL.Path, header: r.Header.Clone(), body: body}
	if err := json.Unmarshal(body, &got.payload); err != nil {
		rc.t.Errorf("receiver: payload %s: %v", body, err)
	}
	rc.mu.Lock()
	rc.got = append(rc.got, got)
	n := 0
	for _, g := range rc.got {
		if g.path == r.URL.Path {
			n++
		}
	}
	status := http.StatusOK
	if rc.status != nil {
		status = rc.status(r.URL.Path, n)
	}
	rc.mu.Unlock()
	if status >= 300 && status < 400 {
		w.Header().Set("Location", "/redirected")
	}
	w.WriteHeader(status)
}

func (rc *cbReceiver) url(path string) string { return rc.srv.URL + path }

// on returns what path received, in order.
func (rc *cbReceiver) on(path string) []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []received
	for _, g := range rc.got {
		if g.path == path {
			out = append(out, g)
		}
	}
	return out
}

func (rc *cbReceiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// events summarises what path received as "action ticketId memberId".
func (rc *cbReceiver) events(path string) []string {
	var out []string
	for _, g := range rc.on(path) {
		out = append(out, fmt.Sprintf("%s %d %s", g.payload.Action, g.payload.ID, g.payload.MemberID))
	}
	return out
}

// register creates a callback through the API.
func (e *testEnv) register(body map[string]any) Callback {
	e.t.Helper()
	var cb Callback
	e.do("POST", "/system/callbacks", body).wantStatus(e.t, http.StatusCreated).decode(e.t, &cb)
	return cb
}

// waitCallbacks waits, at most 10 s, until no delivery is queued or in flight.
func waitCallbacks(t *testing.T, s *Sim) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitCallbacks(ctx); err != nil {
		t.Fatalf("WaitCallbacks: %v", err)
	}
}

// fastRetries is an Options whose delivery retries wait 1 ms.
var fastRetries = Options{CallbackRetryDelay: time.Millisecond}

func TestCallbackRegistrationValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastRetries)
	tk := e.createTicket("Backup failed", "x")
	valid := func() map[string]any {
		return map[string]any{
			"description": "backup board", "url": "http://127.0.0.1:9/cw/callback",
			"objectId": e.demo.BackupBoard.ID, "type": "Ticket", "level": "Board",
		}
	}
	tests := []struct {
		name   string
		change func(b map[string]any)
		field  string
	}{
		{"url missing", func(b map[string]any) { delete(b, "url") }, "url"},
		{"url blank", func(b map[string]any) { b["url"] = "  " }, "url"},
		{"url relative", func(b map[string]any) { b["url"] = "/cw/callback" }, "url"},
		{"url without scheme", func(b map[string]any) { b["url"] = "127.0.0.1:9/cw" }, "url"},
		{"url ftp", func(b map[string]any) { b["url"] = "ftp://127.0.0.1/cw" }, "url"},
		{"url without host", func(b map[string]any) { b["url"] = "https:///cw" }, "url"},
		{"url with a control character", func(b map[string]any) { b["url"] = "http://127.0.0.1/a\x00b" }, "url"},
		{"url of 1001 characters", func(b map[string]any) { b["url"] = "http://127.0.0.1/" + strings.Repeat("a", 1001-17) }, "url"},
		{"url not a string", func(b map[string]any) { b["url"] = 42 }, "url"},
		{"description of 101 characters", func(b map[string]any) { b["description"] = strings.Repeat("d", 101) }, "description"},
		{"type missing", func(b map[string]any) { delete(b, "type") }, "type"},
		{"type unknown", func(b map[string]any) { b["type"] = "Tickets" }, "type"},
		{"level missing", func(b map[string]any) { delete(b, "level") }, "level"},
		{"level of another type", func(b map[string]any) { b["type"] = "Company" }, "level"},
		{"level unknown", func(b map[string]any) { b["level"] = "Boards" }, "level"},
		{"level IntegratorTag", func(b map[string]any) { b["level"] = "IntegratorTag" }, "level"},
		{"objectId missing for Board", func(b map[string]any) { delete(b, "objectId") }, "objectId"},
		{"objectId 0 for Ticket", func(b map[string]any) { b["level"], b["objectId"] = "Ticket", 0 }, "objectId"},
		{"objectId missing for Project", func(b map[string]any) { b["level"] = "Project"; delete(b, "objectId") }, "objectId"},
		{"objectId negative for Owner", func(b map[string]any) { b["level"], b["objectId"] = "Owner", -1 }, "objectId"},
		{"company id as board id", func(b map[string]any) { b["objectId"] = e.demo.Acme.ID }, "objectId"},
		{"unknown ticket", func(b map[string]any) { b["level"], b["objectId"] = "Ticket", tk.ID+1 }, "objectId"},
		{"unknown status", func(b map[string]any) { b["level"], b["objectId"] = "Status", e.demo.BackupBoard.ID }, "objectId"},
		{"unknown company", func(b map[string]any) { b["level"], b["objectId"] = "Company", e.demo.BackupBoard.ID }, "objectId"},
		{"objectId a string", func(b map[string]any) { b["objectId"] = fmt.Sprint(e.demo.BackupBoard.ID) }, "objectId"},
		{"objectId a fraction", func(b map[string]any) { b["objectId"] = 10.5 }, "objectId"},
		{"inactiveFlag a string", func(b map[string]any) { b["inactiveFlag"] = "no" }, "inactiveFlag"},
		{"isSelfSuppressedFlag true", func(b map[string]any) { b["isSelfSuppressedFlag"] = true }, "isSelfSuppressedFlag"},
		{"isSoapCallbackFlag true", func(b map[string]any) { b["isSoapCallbackFlag"] = true }, "isSoapCallbackFlag"},
		{"unknown field", func(b map[string]any) { b["urll"] = "http://127.0.0.1/x" }, "urll"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := valid()
			tc.change(body)
			eb := e.do("POST", "/system/callbacks", body).wantFieldError(t, tc.field)
			if strings.Contains(tc.name, "characters") && eb.Errors[0].Code != codeOutOfRange {
				t.Errorf("code %q, want OutOfRange", eb.Errors[0].Code)
			}
		})
	}
	if n := len(e.sim.Callbacks()); n != 0 {
		t.Fatalf("%d callbacks registered by invalid requests", n)
	}

	// Accepted: the limits exactly, names in any case, Owner without an
	// objectId, the ConnectWise fields the simulator ignores, read-only
	// fields sent back, levels on records the simulator does not keep.
	body := valid()
	body["url"] = "http://127.0.0.1/" + strings.Repeat("a", 1000-17)
	body["description"] = strings.Repeat("é", 100)
	body["type"], body["level"] = "ticket", "board"
	body["memberId"], body["payloadVersion"], body["isSelfSuppressedFlag"] = 176, "3.0.0", false
	body["id"], body["_info"] = 77, map[string]any{"lastUpdated": "2020-01-01T00:00:00Z"}
	cb := e.register(body)
	if cb.ID == 77 || cb.ID == 0 || cb.Type != "Ticket" || cb.Level != "Board" || cb.ObjectID != e.demo.BackupBoard.ID ||
		cb.Info.EnteredBy != apiMemberIdentifier || cb.Info.LastUpdated == "2020-01-01T00:00:00Z" {
		t.Fatalf("registered %+v", cb)
	}
	owner := e.register(map[string]any{"url": "http://127.0.0.1:9/owner", "type": "Ticket", "level": "Owner"})
	if owner.ObjectID != 0 || owner.InactiveFlag {
		t.Fatalf("owner %+v", owner)
	}
	for _, b := range []map[string]any{
		{"url": "http://127.0.0.1:9/t", "type": "Ticket", "level": "Ticket", "objectId": tk.ID},
		{"url": "http://127.0.0.1:9/t", "type": "Ticket", "level": "Status", "objectId": e.demo.StatusClosed},
		{"url": "http://127.0.0.1:9/t", "type": "Ticket", "level": "Company", "objectId": e.demo.Acme.ID},
		{"url": "http://127.0.0.1:9/t", "type": "Ticket", "level": "Project", "objectId": 5},
		{"url": "http://127.0.0.1:9/t", "type": "Company", "level": "Territory", "objectId": 3},
		{"url": "http://127.0.0.1:9/t", "type": "Agreement", "level": "Agreement", "objectId": e.sim.Agreements()[0].ID},
	} {
		e.register(b)
	}
}

// TestCallbackDuplicates checks the uniqueness rule on POST and PUT.
func TestCallbackDuplicates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastRetries)
	board := map[string]any{"url": "http://127.0.0.1:9/cb", "type": "Ticket", "level": "Board", "objectId": e.demo.BackupBoard.ID}
	first := e.register(board)
	eb := e.do("POST", "/system/callbacks", board).wantFieldError(t, "url")
	if eb.Errors[0].Code != codeObjectExists || !strings.Contains(eb.Errors[0].Message, fmt.Sprintf("already exists (id %d)", first.ID)) {
		t.Errorf("duplicate error %+v", eb.Errors)
	}
	// The same URL on the other board, or another URL, is another callback.
	other := e.register(map[string]any{"url": "http://127.0.0.1:9/cb", "type": "Ticket", "level": "Board", "objectId": e.demo.HelpDeskBoard.ID})
	e.register(map[string]any{"url": "http://127.0.0.1:9/cb2", "type": "Ticket", "level": "Board", "objectId": e.demo.BackupBoard.ID})
	// Owner with objectId 0 and 1 is the same subscription.
	e.register(map[string]any{"url": "http://127.0.0.1:9/owner", "type": "Ticket", "level": "Owner", "objectId": 0})
	e.do("POST", "/system/callbacks", map[string]any{"url": "http://127.0.0.1:9/owner", "type": "ticket", "level": "OWNER", "objectId": 1}).
		wantFieldError(t, "url")
	// PUT may not make a callback the copy of another; PUT onto itself is fine.
	e.do("PUT", fmt.Sprintf("/system/callbacks/%d", other.ID), board).wantFieldError(t, "url")
	e.do("PUT", fmt.Sprintf("/system/callbacks/%d", first.ID), board).wantStatus(t, http.StatusOK)
	if n := len(e.sim.Callbacks()); n != 4 {
		t.Fatalf("%d callbacks, want 4", n)
	}
}

func TestCallbackListGetUpdateDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastRetries)
	var ids []int
	for i, lvl := range []struct {
		level    string
		objectID int
	}{{"Owner", 1}, {"Board", e.demo.BackupBoard.ID}, {"Board", e.demo.HelpDeskBoard.ID}, {"Status", e.demo.StatusClosed}} {
		cb := e.register(map[string]any{"url": fmt.Sprintf("http://127.0.0.1:9/cb/%d", i), "type": "Ticket", "level": lvl.level, "objectId": lvl.objectID})
		ids = append(ids, cb.ID)
	}
	company := e.register(map[string]any{"url": "http://127.0.0.1:9/companies", "type": "Company", "level": "Owner", "inactiveFlag": true})

	list := func(query string) []Callback {
		t.Helper()
		var page []Callback
		e.do("GET", "/system/callbacks"+query, nil).wantStatus(t, http.StatusOK).decode(t, &page)
		return page
	}
	idsOf := func(cbs []Callback) []int {
		var out []int
		for _, c := range cbs {
			out = append(out, c.ID)
		}
		return out
	}
	cond := func(c string) string { return "?conditions=" + url.QueryEscape(c) }
	if got := idsOf(list("")); !equalInts(got, append(slices.Clone(ids), company.ID)) {
		t.Fatalf("list %v", got)
	}
	if got := idsOf(list(cond(`url="http://127.0.0.1:9/cb/2"`))); !equalInts(got, ids[2:3]) {
		t.Errorf("url condition %v", got)
	}
	if got := idsOf(list(cond(fmt.Sprintf("objectId=%d", e.demo.BackupBoard.ID)))); !equalInts(got, ids[1:2]) {
		t.Errorf("objectId condition %v", got)
	}
	if got := idsOf(list(cond(`type="ticket" and level="Board"`))); !equalInts(got, ids[1:3]) {
		t.Errorf("type and level conditions %v", got)
	}
	if got := idsOf(list(cond(`inactiveFlag=true`))); !equalInts(got, []int{company.ID}) {
		t.Errorf("inactiveFlag condition %v", got)
	}
	e.do("GET", "/system/callbacks"+cond(`objectId="7"`), nil).wantFieldError(t, "objectId")
	e.do("GET", "/system/callbacks"+cond(`board/id=7`), nil).wantFieldError(t, "board/id")
	// Paging, with the conditions kept in the links.
	r := e.do("GET", "/system/callbacks?pageSize=2&orderBy=id%20desc&conditions="+url.QueryEscape(`type="Ticket"`), nil).wantStatus(t, http.StatusOK)
	var page []Callback
	r.decode(t, &page)
	links := parseLinks(r.header.Get("Link"))
	if got := idsOf(page); !equalInts(got, []int{ids[3], ids[2]}) || !strings.Contains(links["next"], "page=2") || !strings.Contains(links["next"], "conditions=") {
		t.Errorf("first page %v, links %v", got, links)
	}
	var count map[string]int
	e.do("GET", "/system/callbacks/count"+cond(`type="Ticket"`), nil).wantStatus(t, http.StatusOK).decode(t, &count)
	if count["count"] != 4 {
		t.Errorf("count %v", count)
	}

	// GET one.
	var got Callback
	e.do("GET", fmt.Sprintf("/system/callbacks/%d", ids[1]), nil).wantStatus(t, http.StatusOK).decode(t, &got)
	if got.ID != ids[1] || got.Level != "Board" || got.URL != "http://127.0.0.1:9/cb/1" {
		t.Fatalf("get %+v", got)
	}
	e.do("GET", fmt.Sprintf("/system/callbacks/%d", company.ID+100), nil).wantStatus(t, http.StatusNotFound)

	// PUT replaces: what the body leaves out is reset.
	put := map[string]any{"url": "http://127.0.0.1:9/cb/1", "type": "Ticket", "level": "Owner"}
	e.do("PUT", fmt.Sprintf("/system/callbacks/%d", ids[1]), put).wantStatus(t, http.StatusOK).decode(t, &got)
	if got.ID != ids[1] || got.Level != "Owner" || got.ObjectID != 0 || got.Description != "" || got.Info.UpdatedBy != apiMemberIdentifier {
		t.Fatalf("put %+v", got)
	}
	e.do("PUT", fmt.Sprintf("/system/callbacks/%d", ids[1]), map[string]any{"type": "Ticket", "level": "Owner"}).wantFieldError(t, "url")
	e.do("PUT", fmt.Sprintf("/system/callbacks/%d", company.ID+100), put).wantStatus(t, http.StatusNotFound)

	// PATCH.
	e.do("PATCH", fmt.Sprintf("/system/callbacks/%d", ids[2]), []map[string]any{{"op": "replace", "path": "inactiveFlag", "value": true}}).
		wantStatus(t, http.StatusOK).decode(t, &got)
	if !got.InactiveFlag || got.Level != "Board" {
		t.Fatalf("patched %+v", got)
	}
	e.do("PATCH", fmt.Sprintf("/system/callbacks/%d", ids[2]), []map[string]any{{"op": "replace", "path": "id", "value": 1}}).wantFieldError(t, "id")
	e.do("PATCH", fmt.Sprintf("/system/callbacks/%d", ids[2]), []map[string]any{{"op": "replace", "path": "url", "value": "mailto:x@y"}}).wantFieldError(t, "url")
	e.do("PATCH", fmt.Sprintf("/system/callbacks/%d", ids[2]), []map[string]any{{"op": "remove", "path": "objectId"}}).wantFieldError(t, "objectId")

	// DELETE.
	e.do("DELETE", fmt.Sprintf("/system/callbacks/%d", ids[0]), nil).wantStatus(t, http.StatusNoContent)
	e.do("GET", fmt.Sprintf("/system/callbacks/%d", ids[0]), nil).wantStatus(t, http.StatusNotFound)
	e.do("DELETE", fmt.Sprintf("/system/callbacks/%d", ids[0]), nil).wantStatus(t, http.StatusNotFound)
	if got := idsOf(e.sim.Callbacks()); !equalInts(got, []int{ids[1], ids[2], ids[3], company.ID}) {
		t.Fatalf("Callbacks() %v", got)
	}

	// Authentication as everywhere.
	e.do("GET", "/system/callbacks", nil, withoutHeader("Authorization")).wantStatus(t, http.StatusUnauthorized)
	e.do("POST", "/system/callbacks", put, withHeader("Authorization", basic(DemoCompanyID, DemoPublicKey, "wrong"))).wantStatus(t, http.StatusUnauthorized)
	e.do("DELETE", fmt.Sprintf("/system/callbacks/%d", ids[1]), nil, withoutHeader("clientId")).wantStatus(t, http.StatusUnauthorized)
	if n := len(e.sim.Callbacks()); n != 4 {
		t.Fatalf("unauthenticated calls changed the callbacks: %d", n)
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestCallbackDeliveries runs a ticket through the API and a person's hands
// and checks what every callback receives.
func TestCallbackDeliveries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastRetries)
	rc := newReceiver(t, nil)
	reg := func(path, typ, level string, objectID int, inactive bool) Callback {
		return e.register(map[string]any{"url": rc.url(path), "type": typ, "level": level, "objectId": objectID, "inactiveFlag": inactive})
	}
	owner := reg("/owner", "Ticket", "Owner", 1, false)
	reg("/backup", "Ticket", "Board", e.demo.BackupBoard.ID, false)
	reg("/help", "Ticket", "Board", e.demo.HelpDeskBoard.ID, false)
	reg("/closed", "Ticket", "Status", e.demo.StatusClosed, false)
	reg("/acme", "Ticket", "Company", e.demo.Acme.ID, false)
	reg("/cedar", "Ticket", "Company", e.demo.Cedar.ID, false)
	reg("/inactive", "Ticket", "Owner", 0, true)
	reg("/companies", "Company", "Owner", 0, false)
	reg("/project", "Ticket", "Project", 5, false)

	const api, person = apiMemberIdentifier, personIdentifier
	// 1. Created by the API.
	tk := e.createTicket("Backup failed", "x")
	reg("/ticket", "Ticket", "Ticket", tk.ID, false)
	ticketPath := fmt.Sprintf("/service/tickets/%d", tk.ID)
	// 2. Closed by the API.
	e.do("PATCH", ticketPath, []map[string]any{{"op": "replace", "path": "status", "value": map[string]any{"id": e.demo.StatusClosed}}}).wantStatus(t, http.StatusOK)
	// 3. A PATCH that changes nothing sends nothing.
	e.do("PATCH", ticketPath, []map[string]any{{"op": "replace", "path": "status/id", "value": e.demo.StatusNew}}).wantStatus(t, http.StatusOK)
	// 4. Reopened by a person: the Status callback of the closed status
	// hears it leave.
	if err := e.sim.SetTicketStatus(tk.ID, e.demo.StatusNew); err != nil {
		t.Fatal(err)
	}
	// 5. Moved by a person: both boards hear it.
	if err := e.sim.MoveTicket(tk.ID, e.demo.HelpDeskBoard.ID, 0); err != nil {
		t.Fatal(err)
	}
	// 6. A note by the API is an update of the ticket.
	e.do("POST", ticketPath+"/notes", map[string]any{"text": "looking", "internalAnalysisFlag": true}).wantStatus(t, http.StatusCreated)
	// 7. A parent (with a first note), and the ticket merged into it by a
	// person.
	var parent Ticket
	parentBody := e.newTicket("Parent", "p")
	parentBody["initialDescription"] = "the parent's first note"
	e.do("POST", "/service/tickets", parentBody).wantStatus(t, http.StatusCreated).decode(t, &parent)
	if err := e.sim.MergeTicket(tk.ID, parent.ID); err != nil {
		t.Fatal(err)
	}
	// 8. A note by a person.
	if _, err := e.sim.AddNote(tk.ID, TicketNote{Text: "merged", ResolutionFlag: true}); err != nil {
		t.Fatal(err)
	}
	// 9. Deleted by the API, the parent by a person.
	waitCallbacks(t, e.sim)
	beforeDelete, _ := e.sim.Ticket(tk.ID)
	e.do("DELETE", ticketPath, nil).wantStatus(t, http.StatusNoContent)
	if err := e.sim.DeleteTicket(parent.ID); err != nil {
		t.Fatal(err)
	}
	// 10. Created by a person, for another company on the help desk.
	byHand, err := e.sim.AddTicket(Ticket{Summary: "by hand", Company: Ref{ID: e.demo.Cedar.ID}, Board: Ref{ID: e.demo.HelpDeskBoard.ID}})
	if err != nil {
		t.Fatal(err)
	}
	waitCallbacks(t, e.sim)

	ev := func(action string, id int, by string) string { return fmt.Sprintf("%s %d %s", action, id, by) }
	want := map[string][]string{
		"/owner": {
			ev("added", tk.ID, api), ev("updated", tk.ID, api), ev("updated", tk.ID, person), ev("updated", tk.ID, person),
			ev("updated", tk.ID, api), ev("added", parent.ID, api), ev("updated", tk.ID, person), ev("updated", tk.ID, person),
			ev("deleted", tk.ID, api), ev("deleted", parent.ID, person), ev("added", byHand.ID, person),
		},
		"/backup": {
			ev("added", tk.ID, api), ev("updated", tk.ID, api), ev("updated", tk.ID, person), ev("updated", tk.ID, person),
			ev("added", parent.ID, api), ev("deleted", parent.ID, person),
		},
		"/help": {
			ev("updated", tk.ID, person), ev("updated", tk.ID, api), ev("updated", tk.ID, person), ev("updated", tk.ID, person),
			ev("deleted", tk.ID, api), ev("added", byHand.ID, person),
		},
		"/closed": {ev("updated", tk.ID, api), ev("updated", tk.ID, person)},
		"/ticket": {
			ev("updated", tk.ID, api), ev("updated", tk.ID, person), ev("updated", tk.ID, person), ev("updated", tk.ID, api),
			ev("updated", tk.ID, person), ev("updated", tk.ID, person), ev("deleted", tk.ID, api),
		},
		"/acme": {
			ev("added", tk.ID, api), ev("updated", tk.ID, api), ev("updated", tk.ID, person), ev("updated", tk.ID, person),
			ev("updated", tk.ID, api), ev("added", parent.ID, api), ev("updated", tk.ID, person), ev("updated", tk.ID, person),
			ev("deleted", tk.ID, api), ev("deleted", parent.ID, person),
		},
		"/cedar":     {ev("added", byHand.ID, person)},
		"/inactive":  nil,
		"/companies": nil,
		"/project":   nil,
	}
	for path, w := range want {
		if got := rc.events(path); !slices.Equal(got, w) {
			t.Errorf("%s received\n  %s\nwant\n  %s", path, strings.Join(got, "\n  "), strings.Join(w, "\n  "))
		}
	}

	// The payload.
	simURL, _ := url.Parse(e.sim.URL())
	seen := map[string]bool{}
	for _, g := range rc.all() {
		p := g.payload
		if !uuidRE.MatchString(p.MessageID) || seen[p.MessageID] {
			t.Errorf("MessageId %q not a fresh UUID", p.MessageID)
		}
		seen[p.MessageID] = true
		if p.Type != "ticket" || p.CompanyID != DemoCompanyID || p.FromURL != simURL.Host ||
			!strings.HasPrefix(p.Metadata.KeyURL, e.sim.APIURL()+"/system/callbackkeys/") {
			t.Errorf("payload %+v", p)
		}
		if ct := g.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type %q", ct)
		}
		var tkt Ticket
		if err := p.DecodeEntity(&tkt); err != nil || tkt.ID != p.ID {
			t.Errorf("entity of %d: %+v %v", p.ID, tkt, err)
		}
	}
	first := rc.on("/owner")[0].payload
	if first.CallbackObjectRecID != owner.ID {
		t.Errorf("CallbackObjectRecId %d, want %d", first.CallbackObjectRecID, owner.ID)
	}
	// The entity is the ticket as the API returns it: closed after step 2,
	// moved after step 5, its last state when deleted.
	var closed, moved, deleted Ticket
	if err := rc.on("/closed")[0].payload.DecodeEntity(&closed); err != nil {
		t.Fatal(err)
	}
	if !closed.ClosedFlag || closed.Status.ID != e.demo.StatusClosed || closed.ClosedBy != api || closed.Info.UpdatedBy != api {
		t.Errorf("closed entity %+v", closed)
	}
	if added := rc.on("/owner")[5]; added.payload.ID != parent.ID || strings.Contains(string(added.body), "first note") {
		t.Errorf("the entity of the parent shows its initialDescription: %s", added.body)
	}
	if err := rc.on("/help")[0].payload.DecodeEntity(&moved); err != nil {
		t.Fatal(err)
	}
	if moved.Board.ID != e.demo.HelpDeskBoard.ID || moved.Info.UpdatedBy != person {
		t.Errorf("moved entity %+v", moved)
	}
	del := rc.on("/ticket")[6]
	if err := del.payload.DecodeEntity(&deleted); err != nil {
		t.Fatal(err)
	}
	if deleted.ID != tk.ID || deleted.MergedParentTicket.ID != parent.ID || !deleted.ClosedFlag || deleted.Info != beforeDelete.Info {
		t.Errorf("deleted entity %+v, want the last state %+v", deleted, beforeDelete)
	}

	// Every delivery is recorded, once, delivered at the first attempt.
	ds := e.sim.CallbackDeliveries()
	if len(ds) != len(rc.all()) {
		t.Fatalf("%d deliveries recorded, %d received", len(ds), len(rc.all()))
	}
	for _, d := range ds {
		if d.Err != nil || d.Attempts != 1 || d.StatusCode != http.StatusOK || d.Time.IsZero() || d.Signature == "" || !seen[d.MessageID] {
			t.Errorf("delivery %+v", d)
		}
	}
}

func TestCallbackSignature(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastRetries)
	rc := newReceiver(t, nil)
	e.register(map[string]any{"url": rc.url("/cb"), "type": "Ticket", "level": "Owner"})
	e.createTicket("Backup failed", "x")
	waitCallbacks(t, e.sim)
	got := rc.on("/cb")
	if len(got) != 1 {
		t.Fatalf("received %d", len(got))
	}
	sig := got[0].header.Get(connectwise.CallbackSignatureHeader)
	keyURL := got[0].payload.Metadata.KeyURL

	// The key URL answers without credentials.
	plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.sim.CertPool()}}, Timeout: 10 * time.Second}
	resp, err := plain.Get(keyURL)
	if err != nil {
		t.Fatal(err)
	}
	var key struct {
		SigningKey string `json:"signing_key"`
	}
	err = json.NewDecoder(resp.Body).Decode(&key)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || key.SigningKey == "" {
		t.Fatalf("key URL: %d %+v %v", resp.StatusCode, key, err)
	}
	if key.SigningKey != e.sim.CallbackSigningKey() {
		t.Fatal("the key URL serves another key than CallbackSigningKey")
	}
	if other := New(Options{}); other.CallbackSigningKey() == key.SigningKey || other.CallbackSigningKey() == "" {
		t.Fatal("the signing key is not random per simulator")
	}
	if !connectwise.VerifyCallback(got[0].body, sig, key.SigningKey) {
		t.Fatalf("signature %q does not verify", sig)
	}
	forged := strings.Replace(string(got[0].body), `"added"`, `"deleted"`, 1)
	if forged == string(got[0].body) || connectwise.VerifyCallback([]byte(forged), sig, key.SigningKey) {
		t.Fatal("a changed body verifies")
	}
	if d := e.sim.CallbackDeliveries(); len(d) != 1 || d[0].Signature != sig {
		t.Fatalf("recorded signature %+v", d)
	}

	// Any other key id is unknown; only GET is allowed.
	u, _ := url.Parse(keyURL)
	e.do("GET", strings.TrimPrefix(u.Path, e.sim.BasePath())+"x", nil, withoutHeader("Authorization")).wantStatus(t, http.StatusNotFound)
	e.do("GET", e.sim.URL()+u.Path+"x", nil, withoutHeader("Authorization")).wantStatus(t, http.StatusNotFound)
	e.do("POST", keyURL, map[string]any{}, withoutHeader("Authorization")).wantStatus(t, http.StatusMethodNotAllowed)
	// Another API path still needs credentials.
	e.do("GET", "/system/callbacks", nil, withoutHeader("Authorization")).wantStatus(t, http.StatusUnauthorized)
}

func TestUnsignedCallbacks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{UnsignedCallbacks: true, CallbackRetryDelay: time.Millisecond})
	rc := newReceiver(t, nil)
	e.register(map[string]any{"url": rc.url("/cb"), "type": "Ticket", "level": "Owner"})
	e.createTicket("Backup failed", "x")
	waitCallbacks(t, e.sim)
	got := rc.on("/cb")
	if len(got) != 1 {
		t.Fatalf("received %d", len(got))
	}
	if _, ok := got[0].header[http.CanonicalHeaderKey(connectwise.CallbackSignatureHeader)]; ok {
		t.Fatalf("unsigned delivery carries %s", connectwise.CallbackSignatureHeader)
	}
	if d := e.sim.CallbackDeliveries(); len(d) != 1 || d[0].Signature != "" || d[0].Err != nil {
		t.Fatalf("deliveries %+v", d)
	}
}

func TestCallbackRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastRetries)
	rc := newReceiver(t, func(path string, n int) int {
		switch {
		case path == "/fail":
			return http.StatusInternalServerError
		case path == "/flaky" && n <= 2:
			return http.StatusServiceUnavailable
		case path == "/redirect":
			return http.StatusFound
		}
		return http.StatusNoContent
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "http://" + ln.Addr().String() + "/gone"
	ln.Close()
	const remote = "http://192.0.2.1:9/cw" // TEST-NET-1: refused before any connection
	// localhost comes from the hosts file (deliveries make no DNS query).
	viaLocalhost := strings.Replace(rc.url("/localhost"), "127.0.0.1", "localhost", 1)
	urls := []string{rc.url("/fail"), rc.url("/flaky"), rc.url("/redirect"), rc.url("/ok"), viaLocalhost, gone, remote, "http://cw-hooks.example.com/cb"}
	for _, u := range urls {
		e.register(map[string]any{"url": u, "type": "Ticket", "level": "Owner"})
	}
	e.createTicket("Backup failed", "x")
	waitCallbacks(t, e.sim)

	byURL := map[string]CallbackDelivery{}
	for _, d := range e.sim.CallbackDeliveries() {
		if _, dup := byURL[d.URL]; dup {
			t.Errorf("two deliveries to %s", d.URL)
		}
		byURL[d.URL] = d
	}
	check := func(u string, attempts, status int, errHas string) {
		t.Helper()
		d, ok := byURL[u]
		switch {
		case !ok:
			t.Errorf("%s: no delivery", u)
		case d.Attempts != attempts || d.StatusCode != status:
			t.Errorf("%s: %d attempts, status %d; want %d, %d (err %v)", u, d.Attempts, d.StatusCode, attempts, status, d.Err)
		case errHas == "" && d.Err != nil:
			t.Errorf("%s: err %v", u, d.Err)
		case errHas != "" && (d.Err == nil || !strings.Contains(d.Err.Error(), errHas)):
			t.Errorf("%s: err %v, want one containing %q", u, d.Err, errHas)
		}
	}
	check(rc.url("/fail"), 3, 500, "HTTP 500")
	check(rc.url("/flaky"), 3, 204, "")
	check(rc.url("/redirect"), 3, 302, "HTTP 302")
	check(rc.url("/ok"), 1, 204, "")
	check(viaLocalhost, 1, 204, "")
	check(gone, 3, 0, "refused")
	check(remote, 3, 0, "loopback")
	check("http://cw-hooks.example.com/cb", 3, 0, "loopback")

	// Every attempt sent the same body.
	for _, path := range []string{"/fail", "/flaky", "/redirect"} {
		got := rc.on(path)
		if len(got) != 3 {
			t.Fatalf("%s received %d attempts", path, len(got))
		}
		for _, g := range got[1:] {
			if string(g.body) != string(got[0].body) {
				t.Errorf("%s: a retry changed the body", path)
			}
		}
	}
	if n := len(rc.on("/redirected")); n != 0 {
		t.Errorf("a redirect was followed %d times", n)
	}
}

// TestCallbackOverHTTPS delivers to an https endpoint whose certificate the
// simulator's CA issued, and refuses one it cannot verify.
func TestCallbackOverHTTPS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastRetries)
	var hits atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	trusted := httptest.NewUnstartedServer(h)
	cert, err := e.sim.ca.issueServer()
	if err != nil {
		t.Fatal(err)
	}
	trusted.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	trusted.StartTLS()
	t.Cleanup(trusted.Close)
	untrusted := httptest.NewUnstartedServer(h) // httptest's own certificate
	untrusted.Config.ErrorLog = log.New(io.Discard, "", 0)
	untrusted.StartTLS()
	t.Cleanup(untrusted.Close)

	e.register(map[string]any{"url": trusted.URL + "/cb", "type": "Ticket", "level": "Owner"})
	e.register(map[string]any{"url": untrusted.URL + "/cb", "type": "Ticket", "level": "Owner"})
	e.createTicket("Backup failed", "x")
	waitCallbacks(t, e.sim)
	for _, d := range e.sim.CallbackDeliveries() {
		switch d.URL {
		case trusted.URL + "/cb":
			if d.Err != nil || d.Attempts != 1 {
				t.Errorf("trusted: %+v", d)
			}
		case untrusted.URL + "/cb":
			if d.Err == nil || !strings.Contains(d.Err.Error(), "certificate") {
				t.Errorf("untrusted: err %v", d.Err)
			}
		}
	}
	if hits.Load() != 1 {
		t.Fatalf("%d requests handled, want 1 (the trusted one)", hits.Load())
	}
}

// TestCallbackInactiveAfterThreeDays: a callback whose deliveries fail for
// three days by the simulator's clock is made inactive and hears nothing
// more; reactivating it starts the count afresh.
func TestCallbackInactiveAfterThreeDays(t *testing.T) {
	t.Parallel()
	var clock atomic.Int64
	clock.Store(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC).Unix())
	advance := func(d time.Duration) { clock.Add(int64(d / time.Second)) }
	e := newEnv(t, Options{CallbackRetryDelay: time.Millisecond, Now: func() time.Time { return time.Unix(clock.Load(), 0) }})
	rc := newReceiver(t, func(string, int) int { return http.StatusBadGateway })
	cb := e.register(map[string]any{"url": rc.url("/cb"), "type": "Ticket", "level": "Owner"})
	tk := e.createTicket("Backup failed", "x")
	change := func(summary string) {
		t.Helper()
		e.do("PATCH", fmt.Sprintf("/service/tickets/%d", tk.ID), []map[string]any{{"op": "replace", "path": "summary", "value": summary}}).wantStatus(t, http.StatusOK)
		waitCallbacks(t, e.sim)
	}
	active := func() bool {
		t.Helper()
		var got Callback
		e.do("GET", fmt.Sprintf("/system/callbacks/%d", cb.ID), nil).wantStatus(t, http.StatusOK).decode(t, &got)
		return !got.InactiveFlag
	}
	waitCallbacks(t, e.sim)
	advance(71 * time.Hour)
	change("71 hours later")
	if !active() {
		t.Fatal("inactive after 71 hours of failures")
	}
	advance(time.Hour)
	change("72 hours later")
	if active() {
		t.Fatal("still active after 72 hours of failures")
	}
	if got := e.sim.Callbacks()[0]; got.Info.UpdatedBy != callbackSystemIdentifier {
		t.Errorf("updatedBy %q", got.Info.UpdatedBy)
	}
	n := len(rc.on("/cb"))
	change("while inactive")
	if got := len(rc.on("/cb")); got != n || n != 9 {
		t.Fatalf("received %d then %d requests, want 9 then 9", n, got)
	}
	// Reactivated, it is given three days again.
	e.do("PATCH", fmt.Sprintf("/system/callbacks/%d", cb.ID), []map[string]any{{"op": "replace", "path": "inactiveFlag", "value": false}}).wantStatus(t, http.StatusOK)
	change("reactivated")
	advance(24 * time.Hour)
	change("a day later")
	if !active() {
		t.Fatal("reactivated callback made inactive after a day")
	}
	// One success clears the count.
	rc.mu.Lock()
	rc.status = func(string, int) int { return http.StatusOK }
	rc.mu.Unlock()
	change("delivered")
	rc.mu.Lock()
	rc.status = func(string, int) int { return http.StatusBadGateway }
	rc.mu.Unlock()
	advance(72 * time.Hour)
	change("failing again")
	if !active() {
		t.Fatal("a success did not clear the count of failed days")
	}
}

// TestCallbacksAreAsynchronousAndCloseStopsThem: a delivery in flight never
// holds up the API, WaitCallbacks honours its context, and Close stops the
// delivery in flight, drops the queue and returns.
func TestCallbacksAreAsynchronousAndCloseStopsThem(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastRetries)
	arrived := make(chan struct{}, 10)
	release := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(stuck.Close)
	t.Cleanup(func() { close(release) }) // runs first: no handler holds up stuck.Close
	e.register(map[string]any{"url": stuck.URL + "/cb", "type": "Ticket", "level": "Owner"})

	tk := e.createTicket("Backup failed", "x")
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	select {
	case <-arrived:
	case <-deadline.C:
		t.Fatal("the delivery never arrived")
	}
	// The delivery is stuck; the API still answers, and queues more.
	e.do("PATCH", fmt.Sprintf("/service/tickets/%d", tk.ID), []map[string]any{{"op": "replace", "path": "summary", "value": "2"}}).wantStatus(t, http.StatusOK)
	if err := e.sim.SetTicketStatus(tk.ID, e.demo.StatusClosed); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := e.sim.WaitCallbacks(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitCallbacks with a delivery stuck: %v", err)
	}

	closed := make(chan struct{})
	go func() { e.sim.Close(); close(closed) }()
	select {
	case <-closed:
	case <-deadline.C:
		t.Fatal("Close did not return with a delivery in flight")
	}
	waitCallbacks(t, e.sim)
	ds := e.sim.CallbackDeliveries()
	if len(ds) != 1 || ds[0].Err == nil || ds[0].Attempts != 1 || ds[0].Action != "added" {
		t.Fatalf("deliveries after Close %+v", ds)
	}
	// Nothing more is queued after Close.
	if err := e.sim.SetTicketStatus(tk.ID, e.demo.StatusNew); err != nil {
		t.Fatal(err)
	}
	waitCallbacks(t, e.sim)
	if len(e.sim.CallbackDeliveries()) != 1 || len(arrived) != 0 {
		t.Fatal("a delivery was made after Close")
	}
}

// TestCallbacksWithTheClient registers, lists, updates and deletes callbacks
// with the connectwise client, and verifies a delivery with its verifier.
func TestCallbacksWithTheClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastRetries)
	rc := newReceiver(t, nil)
	hc, err := connectwise.NewHTTPClient(connectwise.HTTPClientOptions{RootCAs: e.sim.CertPool(), Policy: connectwise.SitePolicy{AllowLoopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cw, err := connectwise.NewClient(ctx, connectwise.Options{
		SiteURL:     e.sim.URL(),
		Codebase:    e.sim.Codebase(),
		Credentials: connectwise.Credentials{CompanyID: DemoCompanyID, PublicKey: DemoPublicKey, PrivateKey: DemoPrivateKey, ClientID: DemoClientID},
		HTTPClient:  hc,
	})
	if err != nil {
		t.Fatal(err)
	}
	created, _, err := cw.Callbacks.Create(ctx, &connectwise.Callback{
		Description: "backup board", URL: rc.url("/cb"), ObjectID: e.demo.BackupBoard.ID,
		Type: connectwise.CallbackTypeTicket, Level: connectwise.CallbackLevelBoard,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cw.Callbacks.Create(ctx, &connectwise.Callback{URL: rc.url("/cb"), ObjectID: e.demo.BackupBoard.ID, Type: "Ticket", Level: "Board"}); err == nil {
		t.Fatal("a duplicate was created")
	} else if var400 := new(connectwise.Error); !errors.As(err, &var400) || var400.StatusCode != http.StatusBadRequest || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate: %v", err)
	}
	cond, err := connectwise.Build(connectwise.And(connectwise.Eq("url", rc.url("/cb")), connectwise.Eq("type", "Ticket")))
	if err != nil {
		t.Fatal(err)
	}
	var found []int
	for cb, err := range cw.Callbacks.All(ctx, connectwise.ListOptions{Conditions: cond}) {
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, cb.ID)
	}
	if !equalInts(found, []int{created.ID}) {
		t.Fatalf("All found %v", found)
	}

	e.createTicket("Backup failed", "x")
	waitCallbacks(t, e.sim)
	got := rc.on("/cb")
	if len(got) != 1 {
		t.Fatalf("received %d", len(got))
	}
	var p connectwise.CallbackPayload
	if err := json.Unmarshal(got[0].body, &p); err != nil {
		t.Fatal(err)
	}
	if p.CallbackObjectRecID != created.ID || p.Action != connectwise.CallbackActionAdded {
		t.Fatalf("payload %+v", p)
	}
	if !connectwise.VerifyCallback(got[0].body, got[0].header.Get(connectwise.CallbackSignatureHeader), e.sim.CallbackSigningKey()) {
		t.Fatal("the client does not verify the simulator's signature")
	}

	created.InactiveFlag = true
	updated, _, err := cw.Callbacks.Update(ctx, created)
	if err != nil || !updated.InactiveFlag || updated.Level != "Board" {
		t.Fatalf("Update: %+v %v", updated, err)
	}
	if _, err := cw.Callbacks.Delete(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cw.Callbacks.Get(ctx, created.ID); !errors.Is(err, connectwise.ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
}
