package connectwise

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
)

// TicketsService handles /service/tickets and their notes.
type TicketsService service

// Ticket is a service ticket. initialDescription is accepted on create only
// and not returned. Send Board and Status on every create.
type Ticket struct {
	ID                 int        `json:"id,omitempty"`
	Summary            string     `json:"summary,omitempty"`
	Board              *Reference `json:"board,omitempty"`
	Status             *Reference `json:"status,omitempty"`
	Company            *Reference `json:"company,omitempty"`
	Priority           *Reference `json:"priority,omitempty"`
	Type               *Reference `json:"type,omitempty"`
	ExternalXRef       string     `json:"externalXRef,omitempty"`
	InitialDescription string     `json:"initialDescription,omitempty"`
	ClosedFlag         bool       `json:"closedFlag,omitempty"`
	// MergedParentTicket is set (read only) on a ticket a person merged
	// into another: this one is closed, the parent carries on.
	MergedParentTicket *Reference     `json:"mergedParentTicket,omitempty"`
	Info               map[string]any `json:"_info,omitempty"`
}

// TicketNote is a note on a ticket. Set one of the three flags to say where
// it shows.
type TicketNote struct {
	ID                    int    `json:"id,omitempty"`
	TicketID              int    `json:"ticketId,omitempty"`
	Text                  string `json:"text,omitempty"`
	DetailDescriptionFlag bool   `json:"detailDescriptionFlag,omitempty"`
	InternalAnalysisFlag  bool   `json:"internalAnalysisFlag,omitempty"`
	ResolutionFlag        bool   `json:"resolutionFlag,omitempty"`
}

const ticketsPath = "service/tickets"

// Create creates a ticket. POST /service/tickets
//
// It is retried only on 429. After a 5xx or a timeout the ticket may exist
// all the same: look it up (by ExternalXRef) before creating it again.
func (s *TicketsService) Create(ctx context.Context, t *Ticket) (*Ticket, *Response, error) {
	if t == nil {
		return nil, nil, errors.New("connectwise: Tickets.Create: nil ticket")
	}
	return send[Ticket](ctx, s.client, http.MethodPost, ticketsPath, t)
}

// Get returns a ticket; a deleted one answers ErrNotFound.
// GET /service/tickets/{id}
func (s *TicketsService) Get(ctx context.Context, id int) (*Ticket, *Response, error) {
	if err := checkID("ticket", id); err != nil {
		return nil, nil, err
	}
	return get[Ticket](ctx, s.client, fmt.Sprintf("%s/%d", ticketsPath, id))
}

// List returns one page of tickets. GET /service/tickets
func (s *TicketsService) List(ctx context.Context, opts *ListOptions) ([]Ticket, *Response, error) {
	return list[Ticket](ctx, s.client, ticketsPath, opts)
}

// All returns every ticket matching opts, page by page, keeping every query
// parameter on every page (pageSize DefaultAllPageSize when unset). After an
// error it stops. GET /service/tickets
func (s *TicketsService) All(ctx context.Context, opts ListOptions) iter.Seq2[Ticket, error] {
	return all[Ticket](ctx, s.client, ticketsPath, opts)
}

// Search returns one page of the tickets matching conditions, sent in the
// body for condition sets too long for a URL. The other fields of opts
// (page, pageSize, orderBy, fields, childConditions, customFieldConditions)
// go in the query; opts.Conditions is used when conditions is empty, and
// setting both is an error. Being a read, it is retried like a GET.
// POST /service/tickets/search
func (s *TicketsService) Search(ctx context.Context, conditions string, opts *ListOptions) ([]Ticket, *Response, error) {
	var q ListOptions
	if opts != nil {
		q = *opts
	}
	switch {
	case conditions != "" && q.Conditions != "":
		return nil, nil, errors.New("connectwise: Tickets.Search: conditions given both as an argument and in ListOptions")
	case conditions == "":
		conditions = q.Conditions
	}
	q.Conditions = ""
	body := struct {
		Conditions string `json:"conditions"`
	}{conditions}
	req, err := s.client.NewRequest(withIdempotent(ctx), http.MethodPost, withOptions(ticketsPath+"/search", &q), body)
	if err != nil {
		return nil, nil, err
	}
	var v []Ticket
	resp, err := s.client.Do(req, &v)
	if err != nil {
		return nil, resp, err
	}
	return v, resp, nil
}

// Patch applies JSON Patch operations to a ticket. To close it, replace
// "status" with a closed status of its board.
// PATCH /service/tickets/{id}
func (s *TicketsService) Patch(ctx context.Context, id int, ops []PatchOp) (*Ticket, *Response, error) {
	if err := checkID("ticket", id); err != nil {
		return nil, nil, err
	}
	if len(ops) == 0 {
		return nil, nil, errors.New("connectwise: Tickets.Patch: no operations")
	}
	return send[Ticket](ctx, s.client, http.MethodPatch, fmt.Sprintf("%s/%d", ticketsPath, id), ops)
}

// AddNote adds a note to a ticket. Retried only on 429, like every POST.
// POST /service/tickets/{id}/notes
func (s *TicketsService) AddNote(ctx context.Context, ticketID int, n *TicketNote) (*TicketNote, *Response, error) {
	if err := checkID("ticket", ticketID); err != nil {
		return nil, nil, err
	}
	if n == nil {
		return nil, nil, errors.New("connectwise: Tickets.AddNote: nil note")
	}
	return send[TicketNote](ctx, s.client, http.MethodPost, fmt.Sprintf("%s/%d/notes", ticketsPath, ticketID), n)
}

// ListNotes returns one page of a ticket's notes.
// GET /service/tickets/{id}/notes
func (s *TicketsService) ListNotes(ctx context.Context, ticketID int, opts *ListOptions) ([]TicketNote, *Response, error) {
	if err := checkID("ticket", ticketID); err != nil {
		return nil, nil, err
	}
	return list[TicketNote](ctx, s.client, fmt.Sprintf("%s/%d/notes", ticketsPath, ticketID), opts)
}
