package connectwise

import (
	"context"
	"fmt"
)

// BoardsService handles /service/boards, their statuses and types, and
// /service/priorities.
type BoardsService service

// Board is a service board.
type Board struct {
	ID           int    `json:"id,omitempty"`
	Name         string `json:"name,omitempty"`
	InactiveFlag bool   `json:"inactiveFlag,omitempty"`
}

// BoardStatus is a status of one board; its id is valid on that board only.
// EscalationStatus is NotResponded, Responded, ResolutionPlan, Resolved or
// NoEscalation.
type BoardStatus struct {
	ID               int        `json:"id,omitempty"`
	Name             string     `json:"name,omitempty"`
	ClosedStatus     bool       `json:"closedStatus,omitempty"`
	DefaultFlag      bool       `json:"defaultFlag,omitempty"`
	Inactive         bool       `json:"inactive,omitempty"`
	EscalationStatus string     `json:"escalationStatus,omitempty"`
	Board            *Reference `json:"board,omitempty"`
}

// BoardType is a ticket type of one board.
type BoardType struct {
	ID   int    `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// Priority is a ticket priority.
type Priority struct {
	ID   int    `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// List returns one page of service boards. GET /service/boards
func (s *BoardsService) List(ctx context.Context, opts *ListOptions) ([]Board, *Response, error) {
	return list[Board](ctx, s.client, "service/boards", opts)
}

// Statuses returns one page of a board's statuses.
// GET /service/boards/{id}/statuses
func (s *BoardsService) Statuses(ctx context.Context, boardID int, opts *ListOptions) ([]BoardStatus, *Response, error) {
	if err := checkID("board", boardID); err != nil {
		return nil, nil, err
	}
	return list[BoardStatus](ctx, s.client, fmt.Sprintf("service/boards/%d/statuses", boardID), opts)
}

// Types returns one page of a board's ticket types.
// GET /service/boards/{id}/types
func (s *BoardsService) Types(ctx context.Context, boardID int, opts *ListOptions) ([]BoardType, *Response, error) {
	if err := checkID("board", boardID); err != nil {
		return nil, nil, err
	}
	return list[BoardType](ctx, s.client, fmt.Sprintf("service/boards/%d/types", boardID), opts)
}

// Priorities returns one page of ticket priorities. GET /service/priorities
func (s *BoardsService) Priorities(ctx context.Context, opts *ListOptions) ([]Priority, *Response, error) {
	return list[Priority](ctx, s.client, "service/priorities", opts)
}
