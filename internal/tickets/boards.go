package tickets

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/outcome"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// Board is a partner's ticket board with the statuses the service uses,
// resolved by name once and cached.
type Board struct {
	ID           int
	Name         string
	NewStatus    connectwise.Reference
	ClosedStatus connectwise.Reference
	Priority     *connectwise.Reference
	Type         *connectwise.Reference
}

// Boards resolves and caches boards and their statuses, an hour by default:
// they change rarely, and each resolution is 3 ConnectWise calls. A ticket
// create or status change ConnectWise refuses drops the partner's entry
// (Forget), so a board or status a person renamed is resolved again by the
// retry instead of failing for the rest of the hour.
type Boards struct {
	TTL time.Duration // default 1 hour
	Now func() time.Time

	mu      sync.Mutex
	entries map[string]boardEntry  // partner id + version → configured board
	closed  map[string]closedEntry // partner id + board id → a closed status of that board
}

type boardEntry struct {
	b   Board
	exp time.Time
}

type closedEntry struct {
	ref connectwise.Reference
	exp time.Time
}

func (bs *Boards) now() time.Time {
	if bs.Now != nil {
		return bs.Now()
	}
	return time.Now()
}

func (bs *Boards) ttl() time.Duration {
	if bs.TTL <= 0 {
		return time.Hour
	}
	return bs.TTL
}

// Configured returns the partner's configured board with its new and closed
// statuses, priority and type.
func (bs *Boards) Configured(ctx context.Context, cw *connectwise.Client, p *partner.Partner) (Board, error) {
	key := fmt.Sprintf("%s@%d", p.ID, p.Version)
	bs.mu.Lock()
	e, ok := bs.entries[key]
	bs.mu.Unlock()
	if ok && bs.now().Before(e.exp) {
		return e.b, nil
	}
	b, err := resolveBoard(ctx, cw, p)
	if err != nil {
		return Board{}, err
	}
	bs.mu.Lock()
	if bs.entries == nil {
		bs.entries = map[string]boardEntry{}
	}
	bs.entries[key] = boardEntry{b: b, exp: bs.now().Add(bs.ttl())}
	bs.mu.Unlock()
	return b, nil
}

// Forget drops the partner's cached board and closed statuses.
func (bs *Boards) Forget(p *partner.Partner) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	delete(bs.entries, fmt.Sprintf("%s@%d", p.ID, p.Version))
	for k := range bs.closed {
		if strings.HasPrefix(k, p.ID+"@") {
			delete(bs.closed, k)
		}
	}
}

func resolveBoard(ctx context.Context, cw *connectwise.Client, p *partner.Partner) (Board, error) {
	cond, err := connectwise.Build(connectwise.Eq("name", p.Board))
	if err != nil {
		return Board{}, outcome.Permanent(outcome.CodeBoardNotFound, "the partner's board name contains characters ConnectWise conditions cannot carry; rename the board or fix the setting", err)
	}
	boards, _, err := cw.Boards.List(ctx, &connectwise.ListOptions{Conditions: cond})
	if err != nil {
		return Board{}, fmt.Errorf("find board %q: %w", p.Board, err)
	}
	if len(boards) == 0 {
		return Board{}, outcome.Permanent(outcome.CodeBoardNotFound,
			fmt.Sprintf("create the service board %q in ConnectWise (Setup Tables > Service Board) or set the partner's board to an existing one, then reprocess", p.Board),
			fmt.Errorf("ConnectWise has no service board named %q", p.Board))
	}
	b := Board{ID: boards[0].ID, Name: boards[0].Name}
	statuses, _, err := cw.Boards.Statuses(ctx, b.ID, &connectwise.ListOptions{PageSize: 1000})
	if err != nil {
		return Board{}, fmt.Errorf("statuses of board %q: %w", p.Board, err)
	}
	var newFound, closedFound bool
	for _, s := range statuses {
		if s.Inactive {
			continue
		}
		if !newFound && strings.EqualFold(s.Name, p.NewStatus) {
			b.NewStatus, newFound = connectwise.Reference{ID: s.ID, Name: s.Name}, true
		}
		if !closedFound && s.ClosedStatus && (p.ClosedStatus == "" || strings.EqualFold(s.Name, p.ClosedStatus)) {
			b.ClosedStatus, closedFound = connectwise.Reference{ID: s.ID, Name: s.Name}, true
		}
	}
	if !newFound {
		return Board{}, outcome.Permanent(outcome.CodeStatusNotFound,
			fmt.Sprintf("add an active status %q to the board %q (Setup Tables > Service Board > Statuses) or set the partner's new-ticket status to an existing one, then reprocess", p.NewStatus, p.Board),
			fmt.Errorf("board %q has no active status %q for new tickets", p.Board, p.NewStatus))
	}
	if !closedFound {
		what := "a closed status"
		if p.ClosedStatus != "" {
			what = fmt.Sprintf("a closed status named %q", p.ClosedStatus)
		}
		return Board{}, outcome.Permanent(outcome.CodeNoClosedStatus,
			fmt.Sprintf("give the board %q %s (a status with \"Closed\" ticked) so resolved faults can close their tickets, then reprocess", p.Board, what),
			fmt.Errorf("board %q has no %s", p.Board, what))
	}
	if p.Priority != "" {
		ps, _, err := cw.Boards.Priorities(ctx, &connectwise.ListOptions{PageSize: 1000})
		if err != nil {
			return Board{}, fmt.Errorf("priorities: %w", err)
		}
		for _, x := range ps {
			if strings.EqualFold(x.Name, p.Priority) {
				b.Priority = &connectwise.Reference{ID: x.ID, Name: x.Name}
			}
		}
		if b.Priority == nil {
			return Board{}, outcome.Permanent(outcome.CodeRejected, fmt.Sprintf("ConnectWise has no ticket priority %q; fix the partner's priority setting", p.Priority), fmt.Errorf("no priority %q", p.Priority))
		}
	}
	if p.TicketType != "" {
		ts, _, err := cw.Boards.Types(ctx, b.ID, &connectwise.ListOptions{PageSize: 1000})
		if err != nil {
			return Board{}, fmt.Errorf("types of board %q: %w", p.Board, err)
		}
		for _, x := range ts {
			if strings.EqualFold(x.Name, p.TicketType) {
				b.Type = &connectwise.Reference{ID: x.ID, Name: x.Name}
			}
		}
		if b.Type == nil {
			return Board{}, outcome.Permanent(outcome.CodeRejected, fmt.Sprintf("board %q has no ticket type %q; fix the partner's ticket type setting", p.Board, p.TicketType), fmt.Errorf("no type %q", p.TicketType))
		}
	}
	return b, nil
}

// ClosedStatusOf returns a closed status of any board (a ticket a person moved
// to another board must be closed with a status of that board).
func (bs *Boards) ClosedStatusOf(ctx context.Context, cw *connectwise.Client, p *partner.Partner, boardID int) (connectwise.Reference, error) {
	key := fmt.Sprintf("%s@%d", p.ID, boardID)
	bs.mu.Lock()
	e, ok := bs.closed[key]
	bs.mu.Unlock()
	if ok && bs.now().Before(e.exp) {
		return e.ref, nil
	}
	statuses, _, err := cw.Boards.Statuses(ctx, boardID, &connectwise.ListOptions{PageSize: 1000})
	if err != nil {
		return connectwise.Reference{}, fmt.Errorf("statuses of board %d: %w", boardID, err)
	}
	var ref connectwise.Reference
	for _, s := range statuses {
		if s.ClosedStatus && !s.Inactive && (ref.ID == 0 || (p.ClosedStatus != "" && strings.EqualFold(s.Name, p.ClosedStatus))) {
			ref = connectwise.Reference{ID: s.ID, Name: s.Name}
		}
	}
	if ref.ID == 0 {
		return connectwise.Reference{}, outcome.Permanent(outcome.CodeNoClosedStatus,
			fmt.Sprintf("the ticket was moved to board %d, which has no closed status; add one or close the ticket by hand", boardID),
			fmt.Errorf("board %d has no closed status", boardID))
	}
	bs.mu.Lock()
	if bs.closed == nil {
		bs.closed = map[string]closedEntry{}
	}
	bs.closed[key] = closedEntry{ref: ref, exp: bs.now().Add(bs.ttl())}
	bs.mu.Unlock()
	return ref, nil
}
