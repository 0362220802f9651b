package cwsim

import (
	"slices"
)

// Service boards, their statuses and types, and priorities. They are set up
// by a person (AddBoard, AddPriority, ...) and only read through the API.

func init() {
	register("GET /service/boards", (*Sim).listBoards)
	register("GET /service/boards/{id}", (*Sim).getBoard)
	register("GET /service/boards/{id}/statuses", (*Sim).listStatuses)
	register("GET /service/boards/{id}/statuses/{statusId}", (*Sim).getStatus)
	register("GET /service/boards/{id}/types", (*Sim).listBoardTypes)
	register("GET /service/boards/{id}/types/{typeId}", (*Sim).getBoardType)
	register("GET /service/priorities", (*Sim).listPriorities)
	register("GET /service/priorities/{id}", (*Sim).getPriority)
}

var (
	boardConds  = newCondSpec("id number", "name string", "inactiveFlag bool")
	statusConds = newCondSpec("id number", "name string", "closedStatus bool", "defaultFlag bool",
		"inactive bool", "escalationStatus string", "sortOrder number", "board/id number", "board/name string")
	boardTypeConds = newCondSpec("id number", "name string", "defaultFlag bool", "inactiveFlag bool", "board/id number")
	priorityConds  = newCondSpec("id number", "name string", "defaultFlag bool", "sortOrder number")
)

func (s *Sim) listBoards(q *request) response {
	return listRecords(s, q, "board", boardConds, false, every(func(st *state) []Board { return st.boards }))
}

func (s *Sim) getBoard(q *request) response {
	return getRecord(s, q, "Board", func(st *state) []Board { return st.boards })
}

func (s *Sim) listStatuses(q *request) response {
	return listRecords(s, q, "boardStatus", statusConds, false, func(st *state) ([]Status, *response) {
		if nf := st.boardFor(q.ids[0]); nf != nil {
			return nil, nf
		}
		return st.boardStatuses(q.ids[0]), nil
	})
}

func (s *Sim) getStatus(q *request) response {
	return getOnBoard(s, q, "Status", func(st *state) []Status { return st.statuses }, func(x Status) int { return x.Board.ID })
}

// getOnBoard answers a GET of record q.ids[1] of board q.ids[0] among those
// items returns, or a 404 "<noun> with id N was not found on board B.".
func getOnBoard[T identified](s *Sim, q *request, noun string, items func(*state) []T, board func(T) int) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs := items(&s.st)
	i := indexOf(recs, q.ids[1])
	if i < 0 || board(recs[i]) != q.ids[0] {
		return notFound(noun + " with id " + itoa(q.ids[1]) + " was not found on board " + itoa(q.ids[0]) + ".")
	}
	return getOne(q.r, recs[i])
}

func (s *Sim) listBoardTypes(q *request) response {
	return listRecords(s, q, "boardType", boardTypeConds, false, func(st *state) ([]BoardType, *response) {
		if nf := st.boardFor(q.ids[0]); nf != nil {
			return nil, nf
		}
		return where(st.boardTypes, func(t BoardType) bool { return t.Board.ID == q.ids[0] }), nil
	})
}

func (s *Sim) getBoardType(q *request) response {
	return getOnBoard(s, q, "Type", func(st *state) []BoardType { return st.boardTypes }, func(x BoardType) int { return x.Board.ID })
}

func (s *Sim) listPriorities(q *request) response {
	return listRecords(s, q, "priority", priorityConds, false, every(func(st *state) []Priority { return st.priorities }))
}

func (s *Sim) getPriority(q *request) response {
	return getRecord(s, q, "Priority", func(st *state) []Priority { return st.priorities })
}

// boardFor is the 404 of a sub-resource path whose board does not exist, or
// nil.
func (st *state) boardFor(id int) *response {
	if indexOf(st.boards, id) < 0 {
		r := recordNotFound("Board", id)
		return &r
	}
	return nil
}

func (st *state) boardStatuses(boardID int) []Status {
	return where(st.statuses, func(s Status) bool { return s.Board.ID == boardID })
}

func (st *state) boardWithStatuses(i int) Board {
	b := st.boards[i]
	b.Statuses = st.boardStatuses(b.ID)
	return b
}

// AddBoard adds a service board with its statuses (ids assigned, in the
// order given). Exactly one status is the default: the first with
// DefaultFlag, else the first one. SortOrder defaults to the position; an
// empty EscalationStatus becomes NotResponded for the default status,
// Resolved for a closed one, NoEscalation otherwise. The returned Board
// lists the statuses.
func (s *Sim) AddBoard(name string, statuses ...Status) Board {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := Board{ID: s.st.nextID("board"), Name: name, Info: s.newInfo(personIdentifier)}
	s.st.boards = append(s.st.boards, b)
	def := slices.IndexFunc(statuses, func(st Status) bool { return st.DefaultFlag })
	if def < 0 {
		def = 0
	}
	for i, st := range statuses {
		st.DefaultFlag = i == def
		if st.SortOrder == 0 {
			st.SortOrder = i
		}
		s.addStatus(b, st)
	}
	return s.st.boardWithStatuses(len(s.st.boards) - 1)
}

// AddStatus adds a status to an existing board (DefaultFlag is cleared: the
// board keeps its default).
func (s *Sim) AddStatus(boardID int, st Status) (Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := indexOf(s.st.boards, boardID)
	if i < 0 {
		return Status{}, errNotFound("board", boardID)
	}
	st.DefaultFlag = false
	return s.addStatus(s.st.boards[i], st), nil
}

func (s *Sim) addStatus(b Board, st Status) Status {
	st.ID = s.st.nextID("status")
	st.Board = Ref{ID: b.ID, Name: b.Name}
	if st.EscalationStatus == "" {
		switch {
		case st.DefaultFlag:
			st.EscalationStatus = EscalationNotResponded
		case st.ClosedStatus:
			st.EscalationStatus = EscalationResolved
		default:
			st.EscalationStatus = EscalationNoEscalation
		}
	}
	st.Info = s.newInfo(personIdentifier)
	s.st.statuses = append(s.st.statuses, st)
	return st
}

// Boards returns a copy of every board with its statuses.
func (s *Sim) Boards() []Board {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Board, len(s.st.boards))
	for i := range s.st.boards {
		out[i] = s.st.boardWithStatuses(i)
	}
	return out
}

// AddBoardType adds a ticket type to a board.
func (s *Sim) AddBoardType(boardID int, name string) (BoardType, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := indexOf(s.st.boards, boardID)
	if i < 0 {
		return BoardType{}, errNotFound("board", boardID)
	}
	t := BoardType{
		ID:    s.st.nextID("boardType"),
		Name:  name,
		Board: Ref{ID: boardID, Name: s.st.boards[i].Name},
		Info:  s.newInfo(personIdentifier),
	}
	s.st.boardTypes = append(s.st.boardTypes, t)
	return t, nil
}

// AddPriority adds a priority. The first priority added is the default,
// given to tickets created without one.
func (s *Sim) AddPriority(name string) Priority {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := Priority{
		ID:          s.st.nextID("priority"),
		Name:        name,
		SortOrder:   len(s.st.priorities) + 1,
		DefaultFlag: len(s.st.priorities) == 0,
		Info:        s.newInfo(personIdentifier),
	}
	s.st.priorities = append(s.st.priorities, p)
	return p
}
