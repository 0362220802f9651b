package cwsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
)

// Service tickets and their notes.

func init() {
	register("GET /service/tickets", (*Sim).listTickets)
	register("POST /service/tickets", (*Sim).postTicket)
	register("GET /service/tickets/count", (*Sim).countTickets)
	register("POST /service/tickets/search", (*Sim).searchTickets)
	register("GET /service/tickets/{id}", (*Sim).getTicket)
	register("PATCH /service/tickets/{id}", (*Sim).patchTicket)
	register("DELETE /service/tickets/{id}", (*Sim).deleteTicket)
	register("GET /service/tickets/{id}/notes", (*Sim).listNotes)
	register("POST /service/tickets/{id}/notes", (*Sim).postNote)
	register("GET /service/tickets/{id}/notes/{noteId}", (*Sim).getNote)
}

// Field limits of tickets.
const (
	maxTicketSummary      = 100
	maxTicketExternalXRef = 100
)

var ticketFields = &fieldTable[Ticket]{
	resource: "ticket",
	fields: map[string]setter[Ticket]{
		"summary":      strField(func(t *Ticket) *string { return &t.Summary }),
		"externalXRef": strField(func(t *Ticket) *string { return &t.ExternalXRef }),
		"board":        refField(func(t *Ticket) *Ref { return &t.Board }),
		"status":       refField(func(t *Ticket) *Ref { return &t.Status }),
		"company":      refField(func(t *Ticket) *Ref { return &t.Company }),
		"priority":     refField(func(t *Ticket) *Ref { return &t.Priority }),
		"type":         refField(func(t *Ticket) *Ref { return &t.Type }),
	},
	refs:     map[string]bool{"board": true, "status": true, "company": true, "priority": true, "type": true},
	readOnly: []string{"id", "closedFlag", "_info", "closedDate", "closedBy", "mergedParentTicket"},
	ignored: []string{
		"recordType", "processNotifications", "skipCallback", "integratorTags", "source", "contact",
		"contactName", "contactPhoneNumber", "contactEmailAddress", "subType", "item", "team", "owner",
		"severity", "impact", "site", "siteName", "serviceLocation", "agreement", "location", "department",
		"budgetHours", "requiredDate", "automaticEmailContactFlag", "automaticEmailResourceFlag",
		"automaticEmailCcFlag", "automaticEmailCc", "customerUpdatedFlag", "customFields",
	},
	postOnly: map[string]setter[Ticket]{
		"initialDescription": strField(func(t *Ticket) *string { return &t.InitialDescription }),
	},
}

var ticketConds = newCondSpec(
	"id number", "summary string", "externalXRef string", "closedFlag bool", "recordType string",
	"board/id number", "board/name string", "status/id number", "status/name string",
	"company/id number", "company/identifier string", "company/name string",
	"priority/id number", "priority/name string", "type/id number", "type/name string",
	"closedDate date", "mergedParentTicket/id number",
	"lastUpdated=_info/lastUpdated date", "dateEntered=_info/dateEntered date",
	"_info/lastUpdated date", "_info/dateEntered date",
)

// ticketSpec is the conditions spec of tickets, without externalXRef when
// Options.XRefFilterable is false.
func (s *Sim) ticketSpec() condSpec {
	if s.xref.Load() {
		return ticketConds
	}
	return ticketConds.without("externalXRef")
}

// checkTicket validates a ticket and resolves its references (Sim.mu held).
// On create an empty status takes the board's default status; on update a
// status is required, and it must belong to the (possibly new) board.
// closedFlag follows the status.
func (st *state) checkTicket(t *Ticket, creating bool) []fieldError {
	var c checker
	if c.required("summary", t.Summary) {
		c.maxLen("summary", t.Summary, maxTicketSummary)
	}
	c.maxLen("externalXRef", t.ExternalXRef, maxTicketExternalXRef)
	if c.requiredRef("company", t.Company) {
		st.resolveCompany(&c, "company", &t.Company)
	}
	boardOK := c.requiredRef("board", t.Board) && st.resolveBoard(&c, "board", &t.Board)
	if boardOK {
		switch {
		case t.Status == (Ref{}) && creating:
			def, ok := st.defaultStatus(t.Board.ID)
			if !ok {
				c.add(codeInvalidField, "status", "Board %q has no default status: send a status.", t.Board.Name)
			} else {
				t.Status = Ref{ID: def.ID, Name: def.Name}
			}
		case t.Status == (Ref{}):
			c.add(codeInvalidField, "status", "The status field is required.")
		default:
			st.resolveStatus(&c, "status", &t.Status, t.Board)
		}
		if t.Type != (Ref{}) {
			st.resolveBoardType(&c, "type", &t.Type, t.Board)
		}
	}
	if t.Priority == (Ref{}) {
		for _, p := range st.priorities {
			if p.DefaultFlag {
				t.Priority = Ref{ID: p.ID, Name: p.Name}
			}
		}
	} else {
		st.resolvePriority(&c, "priority", &t.Priority)
	}
	if len(c.errs) == 0 {
		status, _ := st.statusByID(t.Status.ID)
		t.ClosedFlag = status.ClosedStatus
	}
	return c.errs
}

// settle sets the closing fields after a change from old (zero for a new
// ticket) to t, and _info.
func (s *Sim) settle(t *Ticket, old Ticket, by string) {
	switch {
	case t.ClosedFlag && !old.ClosedFlag:
		t.ClosedDate = formatTime(s.now())
		t.ClosedBy = by
	case !t.ClosedFlag:
		t.ClosedDate, t.ClosedBy = "", ""
	}
	if old.ID == 0 {
		t.Info = s.newInfo(by)
	} else {
		t.Info = old.Info
		s.touch(&t.Info, by)
	}
}

func (s *Sim) listTickets(q *request) response {
	lq, bad := parseListQuery(q.r, "ticket", s.ticketSpec(), nil)
	if bad != nil {
		return *bad
	}
	return listResponse(q.r, lq, s.ticketMaps())
}

func (s *Sim) countTickets(q *request) response {
	lq, bad := parseListQuery(q.r, "ticket", s.ticketSpec(), nil)
	if bad != nil {
		return *bad
	}
	return countResponse(lq, s.ticketMaps())
}

func (s *Sim) ticketMaps() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return listOf(s.st.tickets)
}

// searchTickets answers POST /service/tickets/search with a body
// {"conditions":"..."} (orderBy may be in the body too); paging comes from
// the query string, and so do the Link headers (the body must be sent again
// for the next page).
func (s *Sim) searchTickets(q *request) response {
	body, bad := decodeObject("ticket", q.body)
	if bad != nil {
		return *bad
	}
	var cond string
	for k, raw := range body {
		switch k {
		case "conditions":
			if err := json.Unmarshal(raw, &cond); err != nil {
				return badRequest("ticket", "conditions", "conditions must be a string.")
			}
		case "childConditions", "customFieldConditions", "orderBy":
			var v string
			if err := json.Unmarshal(raw, &v); err != nil || v != "" {
				return badRequest("ticket", k, k+" is not supported in the search body by the simulator.")
			}
		default:
			return badRequest("ticket", k, "Unknown member "+k+" of the search body (conditions, childConditions, customFieldConditions, orderBy).")
		}
	}
	lq, bad := parseListQuery(q.r, "ticket", s.ticketSpec(), &cond)
	if bad != nil {
		return *bad
	}
	return listResponse(q.r, lq, s.ticketMaps())
}

func ticketNotFound(id int) response {
	return recordNotFound("Ticket", id)
}

func (s *Sim) getTicket(q *request) response {
	return getRecord(s, q, "Ticket", func(st *state) []Ticket { return st.tickets })
}

// postTicket answers POST /service/tickets. The board is required (the
// service always sends it; ConnectWise would pick a default board).
func (s *Sim) postTicket(q *request) response {
	var t Ticket
	if _, bad := ticketFields.decodeBody(&t, q.body, true); bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, errs := s.createTicket(t, apiMemberIdentifier)
	if errs != nil {
		return invalid("ticket", errs)
	}
	return jsonResp(http.StatusCreated, t)
}

// createTicket validates and stores a new ticket; a non-empty
// InitialDescription becomes its first note (Sim.mu held).
func (s *Sim) createTicket(t Ticket, by string) (Ticket, []fieldError) {
	t.ID, t.ClosedFlag, t.ClosedDate, t.ClosedBy, t.MergedParentTicket = 0, false, "", "", Ref{}
	if errs := s.st.checkTicket(&t, true); errs != nil {
		return Ticket{}, errs
	}
	t.RecordType = "ServiceTicket"
	s.settle(&t, Ticket{}, by)
	t.ID = s.st.nextID("ticket")
	s.st.tickets = append(s.st.tickets, t)
	if t.InitialDescription != "" {
		s.storeNote(TicketNote{TicketID: t.ID, Text: t.InitialDescription, DetailDescriptionFlag: true}, by)
	}
	s.ticketCallbacks(actionAdded, t, Ticket{}, by)
	return t, nil
}

func (s *Sim) patchTicket(q *request) response {
	ops, bad := parsePatch("ticket", q.body)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := indexOf(s.st.tickets, q.ids[0])
	if i < 0 {
		return ticketNotFound(q.ids[0])
	}
	old := s.st.tickets[i]
	t := old
	if errs := ticketFields.applyPatch(&t, ops); errs != nil {
		return invalid("ticket", errs)
	}
	if errs := s.st.checkTicket(&t, false); errs != nil {
		return invalid("ticket", errs)
	}
	if t == old {
		return jsonResp(http.StatusOK, t) // nothing changed (the status/id trap, or same values)
	}
	s.settle(&t, old, apiMemberIdentifier)
	s.st.tickets[i] = t
	s.ticketCallbacks(actionUpdated, t, old, apiMemberIdentifier)
	return jsonResp(http.StatusOK, t)
}

func (s *Sim) deleteTicket(q *request) response {
	if err := s.removeTicket(q.ids[0], apiMemberIdentifier); err != nil {
		return ticketNotFound(q.ids[0])
	}
	return noContent()
}

// --- notes ---

var noteFields = &fieldTable[TicketNote]{
	resource: "ticketNote",
	fields: map[string]setter[TicketNote]{
		"text":                  strField(func(n *TicketNote) *string { return &n.Text }),
		"detailDescriptionFlag": boolField(func(n *TicketNote) *bool { return &n.DetailDescriptionFlag }),
		"internalAnalysisFlag":  boolField(func(n *TicketNote) *bool { return &n.InternalAnalysisFlag }),
		"resolutionFlag":        boolField(func(n *TicketNote) *bool { return &n.ResolutionFlag }),
		"customerUpdatedFlag":   boolField(func(n *TicketNote) *bool { return &n.CustomerUpdatedFlag }),
		"internalFlag":          boolField(func(n *TicketNote) *bool { return &n.InternalFlag }),
		"externalFlag":          boolField(func(n *TicketNote) *bool { return &n.ExternalFlag }),
	},
	readOnly: []string{"id", "ticketId", "_info", "dateCreated", "createdBy"},
	ignored:  []string{"processNotifications", "member", "contact", "issueFlag", "timeStart", "timeEnd", "bundledFlag", "mergedFlag"},
}

var noteConds = newCondSpec("id number", "text string", "detailDescriptionFlag bool", "internalAnalysisFlag bool",
	"resolutionFlag bool", "dateCreated date")

// checkNote requires text and exactly one of detailDescriptionFlag,
// internalAnalysisFlag and resolutionFlag.
func checkNote(n *TicketNote) []fieldError {
	var c checker
	c.required("text", n.Text)
	flags := 0
	for _, f := range []bool{n.DetailDescriptionFlag, n.InternalAnalysisFlag, n.ResolutionFlag} {
		if f {
			flags++
		}
	}
	if flags != 1 {
		c.add(codeInvalidField, "detailDescriptionFlag",
			"Exactly one of detailDescriptionFlag, internalAnalysisFlag and resolutionFlag must be true (%d are).", flags)
	}
	return c.errs
}

func (s *Sim) storeNote(n TicketNote, by string) TicketNote {
	n.ID = s.st.nextID("note")
	n.DateCreated = formatTime(s.now())
	n.CreatedBy = by
	n.Info = s.newInfo(by)
	s.st.notes = append(s.st.notes, n)
	return n
}

func (s *Sim) listNotes(q *request) response {
	return listRecords(s, q, "ticketNote", noteConds, false, func(st *state) ([]TicketNote, *response) {
		if indexOf(st.tickets, q.ids[0]) < 0 {
			r := ticketNotFound(q.ids[0])
			return nil, &r
		}
		return st.ticketNotes(q.ids[0]), nil
	})
}

func (s *Sim) getNote(q *request) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	if indexOf(s.st.tickets, q.ids[0]) < 0 {
		return ticketNotFound(q.ids[0])
	}
	i := indexOf(s.st.notes, q.ids[1])
	if i < 0 || s.st.notes[i].TicketID != q.ids[0] {
		return notFound("Note with id " + itoa(q.ids[1]) + " was not found on ticket " + itoa(q.ids[0]) + ".")
	}
	return getOne(q.r, s.st.notes[i])
}

func (s *Sim) postNote(q *request) response {
	var n TicketNote
	if _, bad := noteFields.decodeBody(&n, q.body, true); bad != nil {
		return *bad
	}
	if errs := checkNote(&n); errs != nil {
		return invalid(noteFields.resource, errs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := indexOf(s.st.tickets, q.ids[0])
	if i < 0 {
		return ticketNotFound(q.ids[0])
	}
	n.TicketID = q.ids[0]
	n = s.storeNote(n, apiMemberIdentifier)
	s.ticketCallbacks(actionUpdated, s.st.tickets[i], s.st.tickets[i], apiMemberIdentifier)
	return jsonResp(http.StatusCreated, n)
}

func (st *state) ticketNotes(ticketID int) []TicketNote {
	return where(st.notes, func(n TicketNote) bool { return n.TicketID == ticketID })
}

// --- inspection and "a person did it" helpers ---

// Tickets returns a copy of every ticket (deleted ones are gone), in id order.
func (s *Sim) Tickets() []Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.tickets)
}

// Ticket returns a copy of a ticket; false if it does not exist or was deleted.
func (s *Sim) Ticket(id int) (Ticket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := indexOf(s.st.tickets, id)
	if i < 0 {
		return Ticket{}, false
	}
	return s.st.tickets[i], true
}

// Notes returns a copy of a ticket's notes in id order. A ticket created
// with an initialDescription has it as its first note.
func (s *Sim) Notes(ticketID int) []TicketNote {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.ticketNotes(ticketID)
}

// AddTicket creates a ticket as a person would, validated as POST
// /service/tickets validates it (references by id or name).
func (s *Sim) AddTicket(t Ticket) (Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, errs := s.createTicket(t, personIdentifier)
	if errs != nil {
		return Ticket{}, validationError("ticket", errs)
	}
	return t, nil
}

// AddNote adds a note to a ticket as a person would (same rules as the API:
// text and exactly one of the three flags).
func (s *Sim) AddNote(ticketID int, n TicketNote) (TicketNote, error) {
	if errs := checkNote(&n); errs != nil {
		return TicketNote{}, validationError("ticket note", errs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := indexOf(s.st.tickets, ticketID)
	if i < 0 {
		return TicketNote{}, errNotFound("ticket", ticketID)
	}
	n.TicketID = ticketID
	n = s.storeNote(n, personIdentifier)
	s.ticketCallbacks(actionUpdated, s.st.tickets[i], s.st.tickets[i], personIdentifier)
	return n, nil
}

// changeTicket applies f to a copy of ticket id (Sim.mu held while f
// runs), validates and stores it, as a person's change.
func (s *Sim) changeTicket(id int, f func(t *Ticket)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := indexOf(s.st.tickets, id)
	if i < 0 {
		return errNotFound("ticket", id)
	}
	old := s.st.tickets[i]
	t := old
	f(&t)
	if errs := s.st.checkTicket(&t, false); errs != nil {
		return validationError("ticket", errs)
	}
	s.settle(&t, old, personIdentifier)
	s.st.tickets[i] = t
	s.ticketCallbacks(actionUpdated, t, old, personIdentifier)
	return nil
}

// MoveTicket moves a ticket to another board, with statusID (a status of
// that board), or the board's default status when statusID is 0.
func (s *Sim) MoveTicket(id, boardID, statusID int) error {
	return s.changeTicket(id, func(t *Ticket) {
		t.Board = Ref{ID: boardID}
		t.Type = Ref{}
		t.Status = Ref{ID: statusID}
		if statusID == 0 {
			if def, ok := s.st.defaultStatus(boardID); ok {
				t.Status = Ref{ID: def.ID}
			}
		}
	})
}

// SetTicketStatus sets a ticket's status (a status of its board), as a
// person closing or reopening it would.
func (s *Sim) SetTicketStatus(id, statusID int) error {
	return s.changeTicket(id, func(t *Ticket) { t.Status = Ref{ID: statusID} })
}

// DeleteTicket deletes a ticket and its notes as a person would; GET then
// answers 404.
func (s *Sim) DeleteTicket(id int) error { return s.removeTicket(id, personIdentifier) }

// removeTicket deletes a ticket and its notes, by the API or a person.
func (s *Sim) removeTicket(id int, by string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := indexOf(s.st.tickets, id)
	if i < 0 {
		return errNotFound("ticket", id)
	}
	s.ticketCallbacks(actionDeleted, s.st.tickets[i], s.st.tickets[i], by)
	s.st.tickets = slices.Delete(s.st.tickets, i, i+1)
	s.st.notes = slices.DeleteFunc(s.st.notes, func(n TicketNote) bool { return n.TicketID == id })
	return nil
}

// MergeTicket merges child into parent as ConnectWise does: the child is
// closed with the first active closed status of its board (by sort order)
// and gets mergedParentTicket {id, summary}. Notes stay on the child.
func (s *Sim) MergeTicket(childID, parentID int) error {
	s.mu.Lock()
	pi := indexOf(s.st.tickets, parentID)
	ci := indexOf(s.st.tickets, childID)
	if pi < 0 || ci < 0 || childID == parentID {
		s.mu.Unlock()
		if pi < 0 {
			return errNotFound("ticket", parentID)
		}
		return errNotFound("ticket", childID)
	}
	parent := s.st.tickets[pi]
	var closed []Status
	for _, st := range s.st.boardStatuses(s.st.tickets[ci].Board.ID) {
		if st.ClosedStatus && !st.Inactive {
			closed = append(closed, st)
		}
	}
	s.mu.Unlock()
	if len(closed) == 0 {
		return validationError("ticket", []fieldError{{Message: "the child's board has no closed status"}})
	}
	sort.SliceStable(closed, func(a, b int) bool { return closed[a].SortOrder < closed[b].SortOrder })
	return s.changeTicket(childID, func(t *Ticket) {
		t.Status = Ref{ID: closed[0].ID}
		t.MergedParentTicket = Ref{ID: parent.ID, Summary: parent.Summary}
	})
}
