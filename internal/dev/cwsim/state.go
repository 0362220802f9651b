package cwsim

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Who the simulator writes into enteredBy/updatedBy.
const (
	apiMemberIdentifier = "ApiMember"
	personIdentifier    = "SimUser"
)

// state holds every record; Sim.mu guards it. Records are stored by value
// in id order, so copies handed out never alias the state.
type state struct {
	members        []member
	seq            map[string]int
	companies      []Company
	summaries      []ManagementSummary
	solutions      []ManagementITSolution
	boards         []Board // without Statuses
	statuses       []Status
	boardTypes     []BoardType
	priorities     []Priority
	tickets        []Ticket
	notes          []TicketNote
	agreements     []Agreement
	additions      []Addition
	products       []Product
	configurations []Configuration
	configTypes    []ConfigurationType
	callbacks      []Callback
}

// Each kind of record numbers its ids from its own base, so that a client
// that mixes up ids (a company id sent as a board id) gets a 400 rather than
// a lucky match.
var idBases = map[string]int{
	"company": 250, "summary": 901, "solution": 61, "board": 10, "status": 100,
	"boardType": 200, "priority": 3, "ticket": 10001, "note": 50001,
	"agreement": 700, "addition": 3001, "product": 8001, "configuration": 1201,
	"configType": 41, "callback": 5001,
}

func (st *state) init() {
	st.seq = map[string]int{}
	for k, v := range idBases {
		st.seq[k] = v
	}
}

func (st *state) nextID(kind string) int {
	id := st.seq[kind]
	st.seq[kind]++
	return id
}

// now is the simulator's clock, in UTC, whole seconds.
func (s *Sim) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now().UTC().Truncate(time.Second)
	}
	return time.Now().UTC().Truncate(time.Second)
}

func (s *Sim) newInfo(by string) Info {
	ts := formatTime(s.now())
	return Info{LastUpdated: ts, DateEntered: ts, EnteredBy: by, UpdatedBy: by}
}

func (s *Sim) touch(i *Info, by string) {
	i.LastUpdated = formatTime(s.now())
	i.UpdatedBy = by
}

// record ids, for the generic lookups below.
func (c Company) recordID() int              { return c.ID }
func (m ManagementITSolution) recordID() int { return m.ID }
func (b Board) recordID() int                { return b.ID }
func (st Status) recordID() int              { return st.ID }
func (b BoardType) recordID() int            { return b.ID }
func (p Priority) recordID() int             { return p.ID }
func (t Ticket) recordID() int               { return t.ID }
func (n TicketNote) recordID() int           { return n.ID }
func (a Agreement) recordID() int            { return a.ID }
func (a Addition) recordID() int             { return a.ID }
func (p Product) recordID() int              { return p.ID }
func (c Configuration) recordID() int        { return c.ID }
func (c ConfigurationType) recordID() int    { return c.ID }

type identified interface{ recordID() int }

// indexOf returns the index of the record with that id, or -1.
func indexOf[T identified](items []T, id int) int {
	return slices.IndexFunc(items, func(it T) bool { return it.recordID() == id })
}

// where returns a copy of the items keep accepts, in order; nil when none.
func where[T any](items []T, keep func(T) bool) []T {
	var out []T
	for _, it := range items {
		if keep(it) {
			out = append(out, it)
		}
	}
	return out
}

// updateRecord changes the record with that id as a person would: change
// edits it in place and returns its _info, which is then touched.
func updateRecord[T identified](s *Sim, kind string, id int, items func(*state) []T, change func(*T) *Info) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs := items(&s.st)
	i := indexOf(recs, id)
	if i < 0 {
		return errNotFound(kind, id)
	}
	s.touch(change(&recs[i]), personIdentifier)
	return nil
}

// --- reference resolution (Sim.mu held) ---

// findRef returns the index in items of the record r refers to: by id when
// r.ID is set, else by key (r.Name or r.Identifier, whichever the kind is
// referenced by) through match; -1 when none matches. When r names neither,
// it adds the error unnamed and returns false.
func findRef[T identified](c *checker, field string, items []T, r *Ref, key string, match func(T) bool, unnamed string) (int, bool) {
	switch {
	case r.ID > 0:
		return indexOf(items, r.ID), true
	case key != "":
		return slices.IndexFunc(items, match), true
	}
	c.add(codeInvalidField, field, "%s", unnamed)
	return -1, false
}

// notFoundRef adds the error of a reference that matches no record (i < 0),
// "<noun> <ref> was not found.", and reports whether it did.
func notFoundRef(c *checker, field string, i int, noun string, r Ref) bool {
	if i >= 0 {
		return false
	}
	c.add(codeInvalidField, field, "%s %s was not found.", noun, refText(r))
	return true
}

func (st *state) resolveCompany(c *checker, field string, r *Ref) bool {
	i, ok := findRef(c, field, st.companies, r, r.Identifier,
		func(co Company) bool { return equalFold(co.Identifier, r.Identifier) },
		"A company is referenced by id or identifier.")
	if !ok {
		return false
	}
	if i < 0 {
		if r.ID > 0 {
			c.add(codeInvalidField, field, "Company with id %d was not found.", r.ID)
		} else {
			c.add(codeInvalidField, field, "Company with identifier %q was not found.", r.Identifier)
		}
		return false
	}
	co := st.companies[i]
	if co.DeletedFlag {
		c.add(codeInvalidField, field, "Company %s (id %d) is deleted.", co.Identifier, co.ID)
		return false
	}
	*r = companyRef(co)
	return true
}

func companyRef(co Company) Ref { return Ref{ID: co.ID, Identifier: co.Identifier, Name: co.Name} }

func (st *state) resolveBoard(c *checker, field string, r *Ref) bool {
	i, ok := findRef(c, field, st.boards, r, r.Name,
		func(b Board) bool { return equalFold(b.Name, r.Name) },
		"A board is referenced by id or name.")
	if !ok {
		return false
	}
	if i < 0 {
		if r.ID > 0 {
			c.add(codeInvalidField, field, "Board with id %d was not found.", r.ID)
		} else {
			c.add(codeInvalidField, field, "Board %q was not found.", r.Name)
		}
		return false
	}
	b := st.boards[i]
	if b.InactiveFlag {
		c.add(codeInvalidField, field, "Board %q is inactive.", b.Name)
		return false
	}
	*r = Ref{ID: b.ID, Name: b.Name}
	return true
}

// resolveStatus resolves a status of board boardID (by id, or by name
// within the board).
func (st *state) resolveStatus(c *checker, field string, r *Ref, board Ref) bool {
	i, ok := findRef(c, field, st.statuses, r, r.Name,
		func(s Status) bool { return s.Board.ID == board.ID && equalFold(s.Name, r.Name) },
		"A status is referenced by id or name.")
	switch {
	case !ok:
		return false
	case i < 0 && r.ID > 0:
		c.add(codeInvalidField, field, "Status with id %d was not found.", r.ID)
		return false
	case i < 0:
		c.add(codeInvalidField, field, "Status %q was not found on board %q (id %d).", r.Name, board.Name, board.ID)
		return false
	case r.ID > 0 && st.statuses[i].Board.ID != board.ID:
		c.add(codeInvalidField, field, "Status %d (%s) is not a status of board %q (id %d).", r.ID, st.statuses[i].Name, board.Name, board.ID)
		return false
	}
	if st.statuses[i].Inactive {
		c.add(codeInvalidField, field, "Status %q of board %q is inactive.", st.statuses[i].Name, board.Name)
		return false
	}
	*r = Ref{ID: st.statuses[i].ID, Name: st.statuses[i].Name}
	return true
}

func (st *state) defaultStatus(boardID int) (Status, bool) {
	for _, s := range st.statuses {
		if s.Board.ID == boardID && s.DefaultFlag && !s.Inactive {
			return s, true
		}
	}
	return Status{}, false
}

func (st *state) statusByID(id int) (Status, bool) {
	if i := indexOf(st.statuses, id); i >= 0 {
		return st.statuses[i], true
	}
	return Status{}, false
}

func (st *state) resolvePriority(c *checker, field string, r *Ref) bool {
	i, ok := findRef(c, field, st.priorities, r, r.Name,
		func(p Priority) bool { return equalFold(p.Name, r.Name) },
		"A priority is referenced by id or name.")
	if !ok || notFoundRef(c, field, i, "Priority", *r) {
		return false
	}
	*r = Ref{ID: st.priorities[i].ID, Name: st.priorities[i].Name}
	return true
}

func (st *state) resolveBoardType(c *checker, field string, r *Ref, board Ref) bool {
	i, ok := findRef(c, field, st.boardTypes, r, r.Name,
		func(t BoardType) bool { return t.Board.ID == board.ID && equalFold(t.Name, r.Name) },
		"A type is referenced by id or name.")
	if !ok {
		return false
	}
	if r.ID > 0 && i >= 0 && st.boardTypes[i].Board.ID != board.ID {
		c.add(codeInvalidField, field, "Type %d (%s) is not a type of board %q (id %d).", r.ID, st.boardTypes[i].Name, board.Name, board.ID)
		return false
	}
	if i < 0 {
		c.add(codeInvalidField, field, "Type %s was not found on board %q (id %d).", refText(*r), board.Name, board.ID)
		return false
	}
	if st.boardTypes[i].InactiveFlag {
		c.add(codeInvalidField, field, "Type %q is inactive.", st.boardTypes[i].Name)
		return false
	}
	*r = Ref{ID: st.boardTypes[i].ID, Name: st.boardTypes[i].Name}
	return true
}

func (st *state) resolveSolution(c *checker, field string, r *Ref) bool {
	i, ok := findRef(c, field, st.solutions, r, r.Name,
		func(m ManagementITSolution) bool { return equalFold(m.Name, r.Name) },
		"A management solution is referenced by id or name.")
	if !ok || notFoundRef(c, field, i, "Management IT solution", *r) {
		return false
	}
	*r = Ref{ID: st.solutions[i].ID, Name: st.solutions[i].Name}
	return true
}

func (st *state) resolveProduct(c *checker, field string, r *Ref) bool {
	i, ok := findRef(c, field, st.products, r, r.Identifier,
		func(p Product) bool { return equalFold(p.Identifier, r.Identifier) },
		"A product is referenced by id or identifier.")
	if !ok || notFoundRef(c, field, i, "Product", *r) {
		return false
	}
	p := st.products[i]
	if p.InactiveFlag {
		c.add(codeInvalidField, field, "Product %s is inactive.", p.Identifier)
		return false
	}
	*r = Ref{ID: p.ID, Identifier: p.Identifier, Description: p.Description}
	return true
}

func (st *state) resolveConfigType(c *checker, field string, r *Ref) bool {
	i, ok := findRef(c, field, st.configTypes, r, r.Name,
		func(t ConfigurationType) bool { return equalFold(t.Name, r.Name) },
		"A configuration type is referenced by id or name.")
	if !ok || notFoundRef(c, field, i, "Configuration type", *r) {
		return false
	}
	if st.configTypes[i].InactiveFlag {
		c.add(codeInvalidField, field, "Configuration type %q is inactive.", st.configTypes[i].Name)
		return false
	}
	*r = Ref{ID: st.configTypes[i].ID, Name: st.configTypes[i].Name}
	return true
}

// resolveAgreement resolves an agreement of company companyID.
func (st *state) resolveAgreement(c *checker, field string, r *Ref, companyID int) bool {
	i, ok := findRef(c, field, st.agreements, r, r.Name,
		func(a Agreement) bool { return a.Company.ID == companyID && equalFold(a.Name, r.Name) },
		"An agreement is referenced by id.")
	if !ok || notFoundRef(c, field, i, "Agreement", *r) {
		return false
	}
	if st.agreements[i].Company.ID != companyID {
		c.add(codeInvalidField, field, "Agreement %d belongs to another company.", st.agreements[i].ID)
		return false
	}
	*r = Ref{ID: st.agreements[i].ID, Name: st.agreements[i].Name}
	return true
}

func refText(r Ref) string {
	switch {
	case r.ID > 0:
		return fmt.Sprintf("with id %d", r.ID)
	case r.Identifier != "":
		return fmt.Sprintf("%q", r.Identifier)
	}
	return fmt.Sprintf("%q", r.Name)
}

// checkNonNegative refuses negative counters.
func (c *checker) nonNegative(field string, v float64) {
	if v < 0 {
		c.add(codeOutOfRange, field, "%s cannot be negative.", field)
	}
}

// trimmedEqual compares names as ConnectWise does for uniqueness.
func trimmedEqual(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

func itoa(n int) string { return strconv.Itoa(n) }

// ErrNotFound is wrapped by the errors of the seeding and mutation helpers
// when a record id is unknown.
var ErrNotFound = errors.New("cwsim: record not found")

// ErrInvalid is wrapped by the errors of the seeding helpers when the
// record would be refused by the API; the message lists the fields.
var ErrInvalid = errors.New("cwsim: invalid record")

func errNotFound(kind string, id int) error {
	return fmt.Errorf("cwsim: %s %d: %w", kind, id, ErrNotFound)
}

func validationError(resource string, errs []fieldError) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Message
	}
	return fmt.Errorf("%w: %s: %s", ErrInvalid, resource, strings.Join(msgs, "; "))
}
