package cwsim

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// newTicket is a valid ticket body for the demo's backup board.
func (e *testEnv) newTicket(summary, xref string) map[string]any {
	return map[string]any{
		"summary":      summary,
		"company":      map[string]any{"id": e.demo.Acme.ID},
		"board":        map[string]any{"id": e.demo.BackupBoard.ID},
		"status":       map[string]any{"id": e.demo.StatusNew},
		"externalXRef": xref,
	}
}

func (e *testEnv) createTicket(summary, xref string) Ticket {
	e.t.Helper()
	var tk Ticket
	e.do("POST", "/service/tickets", e.newTicket(summary, xref)).wantStatus(e.t, http.StatusCreated).decode(e.t, &tk)
	return tk
}

func TestCreateTicket(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	body := e.newTicket("Backup failed: SERVER01", "efs:p1:1001:a1:backup")
	body["initialDescription"] = "The backup of SERVER01 failed at 02:00."
	body["priority"] = map[string]any{"name": DemoPriorityQuick}
	body["type"] = map[string]any{"name": DemoBoardType}
	body["processNotifications"] = false // accepted, ignored
	r := e.do("POST", "/service/tickets", body).wantStatus(t, http.StatusCreated)
	if strings.Contains(string(r.body), "initialDescription") || strings.Contains(string(r.body), "02:00") {
		t.Errorf("initialDescription returned: %s", r.body)
	}
	var raw map[string]any
	r.decode(t, &raw)
	for _, k := range []string{"id", "summary", "board", "status", "company", "priority", "type", "externalXRef", "closedFlag", "_info"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("field %s missing from %s", k, r.body)
		}
	}
	company := raw["company"].(map[string]any)
	if company["identifier"] != DemoAcmeIdentifier || company["name"] != "Acme Dental" {
		t.Errorf("company reference %v", company)
	}
	var tk Ticket
	r.decode(t, &tk)
	if tk.Status.ID != e.demo.StatusNew || tk.Status.Name != "New" || tk.ClosedFlag || tk.Priority.ID != e.demo.PriorityQuick || tk.Type.ID != e.demo.BackupTypeID {
		t.Errorf("ticket %+v", tk)
	}
	got, ok := e.sim.Ticket(tk.ID)
	if !ok || got.InitialDescription != "The backup of SERVER01 failed at 02:00." {
		t.Errorf("stored ticket %+v", got)
	}
	notes := e.sim.Notes(tk.ID)
	if len(notes) != 1 || !notes[0].DetailDescriptionFlag || notes[0].Text != got.InitialDescription {
		t.Errorf("initial description note %+v", notes)
	}

	// References by identifier and name; the board's default status.
	r = e.do("POST", "/service/tickets", map[string]any{
		"summary": "No backup in 3 days",
		"company": map[string]any{"identifier": DemoBirchIdentifier},
		"board":   map[string]any{"name": DemoBackupBoard},
	}).wantStatus(t, http.StatusCreated)
	r.decode(t, &tk)
	if tk.Company.ID != e.demo.Birch.ID || tk.Board.ID != e.demo.BackupBoard.ID || tk.Status.ID != e.demo.StatusNew || tk.Priority.ID != e.demo.PriorityNormal {
		t.Errorf("ticket by names %+v", tk)
	}
	// Status by name within the board, closed status → closedFlag.
	body = e.newTicket("closed on arrival", "")
	body["status"] = map[string]any{"name": "Resolved"}
	e.do("POST", "/service/tickets", body).wantStatus(t, http.StatusCreated).decode(t, &tk)
	if tk.Status.ID != e.demo.StatusResolved || !tk.ClosedFlag || tk.ClosedDate == "" {
		t.Errorf("closed ticket %+v", tk)
	}
}

func TestCreateTicketValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	deleted := e.sim.AddCompany(Company{Identifier: "Gone", Name: "Gone Inc"})
	if err := e.sim.SetCompanyDeleted(deleted.ID, true); err != nil {
		t.Fatal(err)
	}
	helpNew, _ := e.demo.HelpDeskBoard.StatusByName("New")
	tests := []struct {
		name   string
		change func(b map[string]any)
		field  string
	}{
		{"summary of 101 characters", func(b map[string]any) { b["summary"] = strings.Repeat("x", 101) }, "summary"},
		{"summary missing", func(b map[string]any) { delete(b, "summary") }, "summary"},
		{"summary blank", func(b map[string]any) { b["summary"] = "   " }, "summary"},
		{"summary not a string", func(b map[string]any) { b["summary"] = 12 }, "summary"},
		{"company missing", func(b map[string]any) { delete(b, "company") }, "company"},
		{"company unknown", func(b map[string]any) { b["company"] = map[string]any{"id": 99999} }, "company"},
		{"company by unknown identifier", func(b map[string]any) { b["company"] = map[string]any{"identifier": "Nope"} }, "company"},
		{"company by name is not supported", func(b map[string]any) { b["company"] = map[string]any{"name": "Acme Dental"} }, "company"},
		{"company deleted", func(b map[string]any) { b["company"] = map[string]any{"id": deleted.ID} }, "company"},
		{"company as a number", func(b map[string]any) { b["company"] = e.demo.Acme.ID }, "company"},
		{"board missing", func(b map[string]any) { delete(b, "board") }, "board"},
		{"board unknown", func(b map[string]any) { b["board"] = map[string]any{"name": "Nope"} }, "board"},
		{"company id used as board id", func(b map[string]any) { b["board"] = map[string]any{"id": e.demo.Acme.ID} }, "board"},
		{"status of another board", func(b map[string]any) { b["status"] = map[string]any{"id": helpNew.ID} }, "status"},
		{"status name not on board", func(b map[string]any) { b["status"] = map[string]any{"name": "Completed"} }, "status"},
		{"priority unknown", func(b map[string]any) { b["priority"] = map[string]any{"name": "Priority 9"} }, "priority"},
		{"type of another board", func(b map[string]any) { b["type"] = map[string]any{"id": e.demo.HelpDeskTypeID} }, "type"},
		{"externalXRef of 101 characters", func(b map[string]any) { b["externalXRef"] = strings.Repeat("x", 101) }, "externalXRef"},
		{"unknown field", func(b map[string]any) { b["extenalXRef"] = "typo" }, "extenalXRef"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := e.newTicket("Backup failed", "x")
			tc.change(body)
			eb := e.do("POST", "/service/tickets", body).wantFieldError(t, tc.field)
			if tc.field == "summary" && strings.Contains(tc.name, "101") && eb.Errors[0].Code != codeOutOfRange {
				t.Errorf("summary too long: code %q", eb.Errors[0].Code)
			}
		})
	}
	if n := len(e.sim.Tickets()); n != 0 {
		t.Fatalf("%d tickets created by invalid requests", n)
	}
	// Exactly 100 characters is fine.
	e.do("POST", "/service/tickets", e.newTicket(strings.Repeat("é", 100), strings.Repeat("x", 100))).wantStatus(t, http.StatusCreated)
}

var linkRE = regexp.MustCompile(`<([^>]+)>; rel="(\w+)"`)

func parseLinks(h string) map[string]string {
	out := map[string]string{}
	for _, m := range linkRE.FindAllStringSubmatch(h, -1) {
		out[m[2]] = m[1]
	}
	return out
}

func TestPagingKeepsConditions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	var want []int
	for i := range 5 {
		want = append(want, e.createTicket(fmt.Sprintf("acme %d", i), fmt.Sprintf("x%d", i)).ID)
	}
	other := e.newTicket("birch", "y")
	other["company"] = map[string]any{"id": e.demo.Birch.ID}
	e.do("POST", "/service/tickets", other).wantStatus(t, http.StatusCreated)

	cond := fmt.Sprintf(`company/id=%d and closedFlag=false and summary like "acme*"`, e.demo.Acme.ID)
	next := "/service/tickets?pageSize=2&conditions=" + url.QueryEscape(cond)
	var got []int
	pages := 0
	for next != "" {
		r := e.do("GET", next, nil).wantStatus(t, http.StatusOK)
		var page []Ticket
		r.decode(t, &page)
		for _, tk := range page {
			got = append(got, tk.ID)
		}
		pages++
		links := parseLinks(r.header.Get("Link"))
		switch pages {
		case 1:
			if links["next"] == "" || links["last"] == "" || links["prev"] != "" || links["first"] != "" {
				t.Errorf("page 1 links %v", links)
			}
		case 2:
			if links["next"] == "" || links["last"] == "" || links["prev"] == "" || links["first"] == "" {
				t.Errorf("page 2 links %v", links)
			}
		case 3:
			if links["next"] != "" || links["last"] != "" || links["prev"] == "" || links["first"] == "" {
				t.Errorf("page 3 links %v", links)
			}
		}
		for rel, l := range links {
			u, err := url.Parse(l)
			if err != nil {
				t.Fatal(err)
			}
			if u.Query().Get("conditions") != cond || u.Query().Get("pageSize") != "2" || u.Scheme != "https" {
				t.Errorf("%s link %s lost a parameter", rel, l)
			}
		}
		next = links["next"]
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if pages != 3 || !equalInts(got, want) {
		t.Fatalf("%d pages with %v, want 3 pages with %v", pages, got, want)
	}

	var count map[string]int
	e.do("GET", "/service/tickets/count?conditions="+url.QueryEscape(cond), nil).wantStatus(t, http.StatusOK).decode(t, &count)
	if count["count"] != 5 {
		t.Errorf("count %v", count)
	}
	r := e.do("GET", "/service/tickets?page=9", nil).wantStatus(t, http.StatusOK)
	if string(r.body) != "[]" {
		t.Errorf("page past the end: %s", r.body)
	}
	r = e.do("GET", "/service/tickets?pageSize=1000", nil).wantStatus(t, http.StatusOK)
	if r.header.Get("Link") != "" {
		t.Errorf("single page has links %s", r.header.Get("Link"))
	}
	e.do("GET", "/service/tickets?pageSize=1001", nil).wantFieldError(t, "pageSize")
	e.do("GET", "/service/tickets?pageSize=0", nil).wantFieldError(t, "pageSize")
	e.do("GET", "/service/tickets?page=0", nil).wantFieldError(t, "page")
	e.do("GET", "/service/tickets?page=x", nil).wantFieldError(t, "page")
	e.do("GET", "/service/tickets?condition="+url.QueryEscape("id=1"), nil).wantFieldError(t, "condition")
	e.do("GET", "/service/tickets?conditions="+url.QueryEscape(`owner/id=1`), nil).wantFieldError(t, "owner/id")
	e.do("GET", "/service/tickets?conditions="+url.QueryEscape(`summary="a"b"`), nil).wantFieldError(t, "conditions")
}

func TestOrderByAndFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	a := e.createTicket("b ticket", "1")
	b := e.createTicket("a ticket", "2")
	var page []map[string]any
	e.do("GET", "/service/tickets?orderBy="+url.QueryEscape("summary asc")+"&fields=id,summary,status/name", nil).wantStatus(t, http.StatusOK).decode(t, &page)
	if len(page) != 2 || int(page[0]["id"].(float64)) != b.ID || int(page[1]["id"].(float64)) != a.ID {
		t.Fatalf("ordered page %v", page)
	}
	if _, ok := page[0]["board"]; ok || page[0]["status"].(map[string]any)["name"] != "New" {
		t.Errorf("fields not applied: %v", page[0])
	}
	e.do("GET", "/service/tickets?orderBy=nope", nil).wantFieldError(t, "nope")
}

func TestSearchTickets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tk := e.createTicket("Backup failed", "efs:p1:1001:a1:backup")
	e.createTicket("Other", "efs:p1:1001:a2:backup")
	var page []Ticket
	body := map[string]any{"conditions": `externalXRef="efs:p1:1001:a1:backup" and closedFlag=false`}
	e.do("POST", "/service/tickets/search?pageSize=10", body).wantStatus(t, http.StatusOK).decode(t, &page)
	if len(page) != 1 || page[0].ID != tk.ID {
		t.Fatalf("search found %v", page)
	}
	e.do("POST", "/service/tickets/search", map[string]any{"condition": "id=1"}).wantFieldError(t, "condition")
	e.do("POST", "/service/tickets/search?conditions=id%3D1", body).wantFieldError(t, "conditions")
	e.do("POST", "/service/tickets/search", map[string]any{"conditions": "closedFlag=0"}).wantFieldError(t, "closedFlag")
}

func TestXRefFilterable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{XRefFilterable: new(false)})
	q := "/service/tickets?conditions=" + url.QueryEscape(`externalXRef="x"`)
	eb := e.do("GET", q, nil).wantFieldError(t, "externalXRef")
	if !strings.Contains(eb.Message, "externalXRef") {
		t.Errorf("message %q does not name the field", eb.Message)
	}
	e.do("POST", "/service/tickets/search", map[string]any{"conditions": `externalXRef="x"`}).wantFieldError(t, "externalXRef")
	e.do("GET", "/service/tickets?conditions="+url.QueryEscape(`summary contains "x"`), nil).wantStatus(t, http.StatusOK)
	e.sim.SetXRefFilterable(true)
	e.do("GET", q, nil).wantStatus(t, http.StatusOK)
}

func TestPatchTicketShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tk := e.createTicket("Backup failed", "x")
	path := fmt.Sprintf("/service/tickets/%d", tk.ID)
	tests := []struct {
		name  string
		body  string
		field string
	}{
		{"object body", `{"summary":"new"}`, ""},
		{"empty array", `[]`, ""},
		{"not JSON", `[{"op":`, ""},
		{"array of strings", `["replace"]`, ""},
		{"unsupported op", `[{"op":"move","path":"summary","value":"x"}]`, "summary"},
		{"test op", `[{"op":"test","path":"summary","value":"x"}]`, "summary"},
		{"missing op", `[{"path":"summary","value":"x"}]`, ""},
		{"missing path", `[{"op":"replace","value":"x"}]`, ""},
		{"missing value", `[{"op":"replace","path":"summary"}]`, "summary"},
		{"extra member", `[{"op":"replace","path":"summary","value":"x","from":"y"}]`, ""},
		{"unknown field", `[{"op":"replace","path":"owner","value":{"id":1}}]`, "owner"},
		{"path case matters", `[{"op":"replace","path":"Summary","value":"x"}]`, "Summary"},
		{"read-only closedFlag", `[{"op":"replace","path":"closedFlag","value":true}]`, "closedFlag"},
		{"read-only id", `[{"op":"replace","path":"/id","value":5}]`, "id"},
		{"read-only _info", `[{"op":"replace","path":"_info/lastUpdated","value":"x"}]`, "_info/lastUpdated"},
		{"initialDescription is POST only", `[{"op":"replace","path":"initialDescription","value":"x"}]`, "initialDescription"},
		{"summary too long", `[{"op":"replace","path":"summary","value":"` + strings.Repeat("y", 101) + `"}]`, "summary"},
		{"summary removed", `[{"op":"remove","path":"summary"}]`, "summary"},
		{"status removed", `[{"op":"remove","path":"status"}]`, "status"},
		{"reference as number", `[{"op":"replace","path":"status","value":5}]`, "status"},
		{"sub-path of a plain field", `[{"op":"replace","path":"summary/x","value":"y"}]`, "summary/x"},
		{"atomic: good op then bad op", `[{"op":"replace","path":"summary","value":"changed"},{"op":"replace","path":"nope","value":1}]`, "nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("PATCH", path, tc.body)
			r.wantStatus(t, http.StatusBadRequest)
			if tc.field != "" {
				r.wantFieldError(t, tc.field)
			}
		})
	}
	if got, _ := e.sim.Ticket(tk.ID); got != tk {
		t.Fatalf("refused patches changed the ticket:\n%+v\n%+v", got, tk)
	}
	e.do("PATCH", "/service/tickets/999999", `[{"op":"replace","path":"summary","value":"x"}]`).wantStatus(t, http.StatusNotFound)
}

func TestPatchTicketStatus(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	e := newEnv(t, Options{Now: clock.Now})
	tk := e.createTicket("Backup failed", "x")
	path := fmt.Sprintf("/service/tickets/%d", tk.ID)
	clock.advance(time.Hour)

	// The documented trap: a sub-path answers 200 and changes nothing.
	var got Ticket
	e.do("PATCH", path, fmt.Sprintf(`[{"op":"replace","path":"status/id","value":%d}]`, e.demo.StatusResolved)).
		wantStatus(t, http.StatusOK).decode(t, &got)
	if stored, _ := e.sim.Ticket(tk.ID); stored != tk || got != tk {
		t.Fatalf("status/id patch changed the ticket: %+v", stored)
	}
	e.do("PATCH", path, `[{"op":"replace","path":"/status/name","value":"Closed"}]`).wantStatus(t, http.StatusOK)
	if stored, _ := e.sim.Ticket(tk.ID); stored.Status.ID != e.demo.StatusNew {
		t.Fatal("status/name patch changed the status")
	}

	// A status of another board is refused.
	helpNew, _ := e.demo.HelpDeskBoard.StatusByName("New")
	e.do("PATCH", path, fmt.Sprintf(`[{"op":"replace","path":"status","value":{"id":%d}}]`, helpNew.ID)).wantFieldError(t, "status")
	e.do("PATCH", path, `[{"op":"replace","path":"status","value":{"name":"Completed"}}]`).wantFieldError(t, "status")
	e.do("PATCH", path, `[{"op":"replace","path":"status","value":{"id":424242}}]`).wantFieldError(t, "status")

	// Replacing the whole reference closes the ticket.
	e.do("PATCH", path, fmt.Sprintf(`[{"op":"replace","path":"status","value":{"id":%d}}]`, e.demo.StatusResolved)).
		wantStatus(t, http.StatusOK).decode(t, &got)
	if got.Status.ID != e.demo.StatusResolved || got.Status.Name != "Resolved" || !got.ClosedFlag || got.ClosedDate != "2026-03-01T10:00:00Z" {
		t.Fatalf("closed ticket %+v", got)
	}
	if got.Info.LastUpdated != "2026-03-01T10:00:00Z" || got.Info.DateEntered != "2026-03-01T09:00:00Z" {
		t.Errorf("_info %+v", got.Info)
	}
	// By name, with a leading slash, reopening clears closedFlag.
	e.do("PATCH", path, `[{"op":"replace","path":"/status","value":{"name":"In Progress"}}]`).wantStatus(t, http.StatusOK).decode(t, &got)
	if got.Status.ID != e.demo.StatusInProgress || got.ClosedFlag || got.ClosedDate != "" {
		t.Fatalf("reopened ticket %+v", got)
	}

	// Moving boards: without a status of the new board → 400; with one → 200.
	e.do("PATCH", path, fmt.Sprintf(`[{"op":"replace","path":"board","value":{"id":%d}}]`, e.demo.HelpDeskBoard.ID)).wantFieldError(t, "status")
	e.do("PATCH", path, fmt.Sprintf(`[{"op":"replace","path":"status","value":{"id":%d}},{"op":"replace","path":"board","value":{"name":%q}}]`, helpNew.ID, DemoHelpDeskBoard)).
		wantStatus(t, http.StatusOK).decode(t, &got)
	if got.Board.ID != e.demo.HelpDeskBoard.ID || got.Status.ID != helpNew.ID {
		t.Fatalf("moved ticket %+v", got)
	}

	// Other fields: add works like replace, remove clears an optional field.
	e.do("PATCH", path, `[{"op":"add","path":"summary","value":"renamed"},{"op":"remove","path":"externalXRef"}]`).wantStatus(t, http.StatusOK).decode(t, &got)
	if got.Summary != "renamed" || got.ExternalXRef != "" {
		t.Fatalf("patched ticket %+v", got)
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestNotes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tk := e.createTicket("Backup failed", "x")
	path := fmt.Sprintf("/service/tickets/%d/notes", tk.ID)
	tests := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no flag", map[string]any{"text": "x"}, "detailDescriptionFlag"},
		{"two flags", map[string]any{"text": "x", "internalAnalysisFlag": true, "resolutionFlag": true}, "detailDescriptionFlag"},
		{"three flags", map[string]any{"text": "x", "detailDescriptionFlag": true, "internalAnalysisFlag": true, "resolutionFlag": true}, "detailDescriptionFlag"},
		{"flags false", map[string]any{"text": "x", "resolutionFlag": false}, "detailDescriptionFlag"},
		{"no text", map[string]any{"resolutionFlag": true}, "text"},
		{"flag as string", map[string]any{"text": "x", "resolutionFlag": "true"}, "resolutionFlag"},
		{"unknown field", map[string]any{"text": "x", "resolutionFlag": true, "note": "y"}, "note"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.do("POST", path, tc.body).wantFieldError(t, tc.field)
		})
	}
	var n TicketNote
	e.do("POST", path, map[string]any{"text": "Fixed: backup succeeded.", "resolutionFlag": true}).wantStatus(t, http.StatusCreated).decode(t, &n)
	if n.TicketID != tk.ID || !n.ResolutionFlag || n.DetailDescriptionFlag || n.ID == 0 {
		t.Fatalf("note %+v", n)
	}
	e.do("POST", path, map[string]any{"text": "Looking", "internalAnalysisFlag": true}).wantStatus(t, http.StatusCreated)
	var notes []TicketNote
	e.do("GET", path+"?conditions=resolutionFlag%3Dtrue", nil).wantStatus(t, http.StatusOK).decode(t, &notes)
	if len(notes) != 1 || notes[0].ID != n.ID {
		t.Fatalf("notes %v", notes)
	}
	if len(e.sim.Notes(tk.ID)) != 2 {
		t.Fatalf("Notes() = %v", e.sim.Notes(tk.ID))
	}
	e.do("GET", fmt.Sprintf("%s/%d", path, n.ID), nil).wantStatus(t, http.StatusOK)
	e.do("POST", "/service/tickets/999999/notes", map[string]any{"text": "x", "resolutionFlag": true}).wantStatus(t, http.StatusNotFound)
}

func TestDeletedTicket(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tk := e.createTicket("Backup failed", "x")
	keep := e.createTicket("Other", "y")
	path := fmt.Sprintf("/service/tickets/%d", tk.ID)
	e.do("DELETE", path, nil).wantStatus(t, http.StatusNoContent)
	r := e.do("GET", path, nil).wantStatus(t, http.StatusNotFound)
	if c := r.errBody(t).Code; c != codeNotFound {
		t.Errorf("code %q", c)
	}
	e.do("PATCH", path, `[{"op":"replace","path":"summary","value":"x"}]`).wantStatus(t, http.StatusNotFound)
	e.do("GET", path+"/notes", nil).wantStatus(t, http.StatusNotFound)
	e.do("DELETE", path, nil).wantStatus(t, http.StatusNotFound)
	var page []Ticket
	e.do("GET", "/service/tickets", nil).wantStatus(t, http.StatusOK).decode(t, &page)
	if len(page) != 1 || page[0].ID != keep.ID {
		t.Fatalf("list after delete %v", page)
	}
	if _, ok := e.sim.Ticket(tk.ID); ok {
		t.Fatal("Ticket() finds a deleted ticket")
	}
	if err := e.sim.DeleteTicket(keep.ID); err != nil {
		t.Fatal(err)
	}
	e.do("GET", fmt.Sprintf("/service/tickets/%d", keep.ID), nil).wantStatus(t, http.StatusNotFound)
}

func TestPersonChangesTickets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tk := e.createTicket("Backup failed", "x")
	parent := e.createTicket("Parent", "p")

	if err := e.sim.SetTicketStatus(tk.ID, e.demo.StatusClosed); err != nil {
		t.Fatal(err)
	}
	got, _ := e.sim.Ticket(tk.ID)
	if !got.ClosedFlag || got.Info.UpdatedBy != personIdentifier {
		t.Fatalf("closed by a person %+v", got)
	}
	helpNew, _ := e.demo.HelpDeskBoard.StatusByName("New")
	if err := e.sim.SetTicketStatus(tk.ID, helpNew.ID); err == nil {
		t.Fatal("SetTicketStatus accepted a status of another board")
	}
	if err := e.sim.MoveTicket(tk.ID, e.demo.HelpDeskBoard.ID, 0); err != nil {
		t.Fatal(err)
	}
	var viaAPI Ticket
	e.do("GET", fmt.Sprintf("/service/tickets/%d", tk.ID), nil).wantStatus(t, http.StatusOK).decode(t, &viaAPI)
	if viaAPI.Board.ID != e.demo.HelpDeskBoard.ID || viaAPI.Status.ID != helpNew.ID || viaAPI.ClosedFlag {
		t.Fatalf("moved ticket %+v", viaAPI)
	}
	if err := e.sim.MergeTicket(tk.ID, parent.ID); err != nil {
		t.Fatal(err)
	}
	got, _ = e.sim.Ticket(tk.ID)
	completed, _ := e.demo.HelpDeskBoard.StatusByName("Completed")
	if !got.ClosedFlag || got.Status.ID != completed.ID || got.MergedParentTicket.ID != parent.ID || got.MergedParentTicket.Summary != "Parent" {
		t.Fatalf("merged ticket %+v", got)
	}
	var page []Ticket
	q := "/service/tickets?conditions=" + url.QueryEscape(fmt.Sprintf("mergedParentTicket/id=%d", parent.ID))
	e.do("GET", q, nil).wantStatus(t, http.StatusOK).decode(t, &page)
	if len(page) != 1 || page[0].ID != tk.ID {
		t.Fatalf("merged children %v", page)
	}
	if err := e.sim.MergeTicket(tk.ID, 1); err == nil {
		t.Fatal("merge into a missing parent accepted")
	}
	if _, err := e.sim.AddTicket(Ticket{Summary: "by hand", Company: Ref{Identifier: DemoCedarIdentifier}, Board: Ref{Name: DemoHelpDeskBoard}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.AddNote(tk.ID, TicketNote{Text: "x"}); err == nil {
		t.Fatal("AddNote accepted a note without a flag")
	}
}

func TestConcurrentRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			r, err := e.try("POST", "/service/tickets", e.newTicket(fmt.Sprintf("t%d", i), fmt.Sprintf("x%d", i)))
			if err != nil || r.status != http.StatusCreated {
				t.Errorf("create %d: %v %d", i, err, r.status)
			}
			_ = e.sim.Calls()
			_ = e.sim.Tickets()
		})
	}
	wg.Wait()
	if n := len(e.sim.Tickets()); n != 8 {
		t.Fatalf("%d tickets", n)
	}
	if n := e.sim.CallCount("post", "/service/tickets"); n != 8 {
		t.Fatalf("CallCount %d", n)
	}
	e.sim.ResetCalls()
	if len(e.sim.Calls()) != 0 {
		t.Fatal("ResetCalls kept calls")
	}
}

func TestForwardOnlyPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	var want []int
	for i := range 5 {
		want = append(want, e.createTicket(fmt.Sprintf("t%d", i), "").ID)
	}
	var got []int
	next := "/service/tickets?pageSize=2&conditions=" + url.QueryEscape("closedFlag=false")
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		r := e.do("GET", next, nil, withHeader("pagination-type", "forward-only")).wantStatus(t, http.StatusOK)
		var page []Ticket
		r.decode(t, &page)
		for _, tk := range page {
			got = append(got, tk.ID)
		}
		links := parseLinks(r.header.Get("Link"))
		if links["last"] != "" || links["prev"] != "" {
			t.Errorf("forward-only links %v", links)
		}
		next = links["next"]
		if next != "" && !strings.Contains(next, "pageId=") {
			t.Errorf("next link without pageId: %s", next)
		}
	}
	if !equalInts(got, want) {
		t.Fatalf("forward-only paging gave %v, want %v", got, want)
	}
	e.do("GET", "/service/tickets?pageId=3", nil).wantFieldError(t, "pageId")
	e.do("GET", "/service/tickets?page=2", nil, withHeader("pagination-type", "forward-only")).wantFieldError(t, "page")
	var one map[string]any
	e.do("GET", fmt.Sprintf("/service/tickets/%d?fields=id,board/name", want[0]), nil).wantStatus(t, http.StatusOK).decode(t, &one)
	if len(one) != 2 || one["board"].(map[string]any)["name"] != DemoBackupBoard {
		t.Errorf("fields on one ticket: %v", one)
	}
	e.do("GET", fmt.Sprintf("/service/tickets/%d?conditions=id%%3D1", want[0]), nil).wantFieldError(t, "conditions")
}
