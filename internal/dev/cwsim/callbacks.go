package cwsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/efs-cw/backupbridge/internal/connectwise"
)

// Callbacks (/system/callbacks): ConnectWise's webhooks. A client registers
// a URL for a type of record at a level (Owner: every record; Board, Status,
// Ticket, Company: the tickets of one board, status, ticket or company), and
// the simulator POSTs the payload ConnectWise sends whenever a ticket is
// added, updated or deleted:
//
//   - by the API: POST and PATCH of /service/tickets (a PATCH that changes
//     nothing sends nothing), POST of a note (an update of its ticket),
//     DELETE;
//   - by a person: AddTicket, AddNote, SetTicketStatus, MoveTicket,
//     MergeTicket (the child) and DeleteTicket.
//
// Matching, the simulator's choice where ConnectWise does not say: a Board,
// Status or Company callback fires when the ticket's board, status or
// company is its objectId before OR after the change, so a ticket moved off
// a board (or out of a status) is reported to that board's callback too.
// Only Ticket callbacks fire: callbacks of the other types (Company,
// Agreement, ...) are validated, stored and listed, and never sent, as are
// Ticket callbacks of levels Project and Phase (the simulator has no
// projects).
//
// The payload is {"MessageId","FromUrl","CompanyId","MemberId","Action",
// "Type":"ticket","ID","CallbackObjectRecId","Metadata":{"key_url"},
// "Entity"}: CompanyId is the company of the member that registered the
// callback, MemberId who made the change (the _info.updatedBy the change
// writes: ApiMember for the API, SimUser for a person), Entity the ticket's
// JSON as GET returns it (its last state for "deleted"), and key_url
// {URL}{BasePath}/system/callbackkeys/{keyId} (only the path when the Sim
// was never started), which answers GET without authentication with
// {"signing_key":"..."}: a key random per simulator (CallbackSigningKey).
// Unless Options.UnsignedCallbacks, the request carries
// x-content-signature, base64(HMAC-SHA256(SHA-256(key), body)).
//
// Delivery is asynchronous: changes queue deliveries, never waiting for
// them. Each callback has its own queue, sent in order; an attempt that
// gets no answer in 10 s, a transport error or a non-2xx answer (redirects
// are not followed) is retried after Options.CallbackRetryDelay, 3 attempts
// in all, with the same body (the same MessageId). When the deliveries of a
// callback have failed for 3 days by the simulator's clock (Options.Now),
// the callback is made inactive, as ConnectWise does.
//
// Deliveries go to loopback only: a URL's host must be a loopback address
// (127.0.0.0/8, ::1) or localhost, resolved from the hosts file (never by
// DNS) to a loopback address. The simulator is a local tool and makes no
// request elsewhere: a delivery to any other host fails, after its retries,
// without a lookup or a connection. Over https it trusts the system roots
// and its own CA. CallbackDeliveries records every delivery, WaitCallbacks
// waits for the queues to drain, and Close drops what is queued and stops
// what is in flight.

func init() {
	register("GET /system/callbacks", (*Sim).listCallbacks)
	register("GET /system/callbacks/count", (*Sim).countCallbacks)
	register("POST /system/callbacks", (*Sim).postCallback)
	register("GET /system/callbacks/{id}", (*Sim).getCallback)
	register("PUT /system/callbacks/{id}", (*Sim).putCallback)
	register("PATCH /system/callbacks/{id}", (*Sim).patchCallback)
	register("DELETE /system/callbacks/{id}", (*Sim).deleteCallback)
}

// Callback is a callback registration (/system/callbacks). Type and Level
// are matched ignoring case and stored as ConnectWise spells them.
type Callback struct {
	ID           int    `json:"id"`
	Description  string `json:"description,omitempty"`
	URL          string `json:"url"`
	ObjectID     int    `json:"objectId"`
	Type         string `json:"type"`
	Level        string `json:"level"`
	InactiveFlag bool   `json:"inactiveFlag"`
	Info         Info   `json:"_info,omitzero"`

	companyID    string    // the login company of the member that registered it
	failingSince time.Time // first failed delivery since the last success
}

func (c Callback) recordID() int { return c.ID }

// Field limits and delivery settings.
const (
	maxCallbackURL         = 1000
	maxCallbackDescription = 100
	// callbackAttempts is how many times a delivery is tried in all.
	callbackAttempts = 3
	// callbackAttemptTimeout bounds one attempt.
	callbackAttemptTimeout = 10 * time.Second
	// defaultCallbackRetryDelay is the wait between attempts when
	// Options.CallbackRetryDelay is zero.
	defaultCallbackRetryDelay = time.Second
	// callbackGiveUpAfter is how long deliveries may fail before the
	// callback is made inactive.
	callbackGiveUpAfter = 72 * time.Hour
	// callbackSystemIdentifier is the updatedBy of a callback made inactive.
	callbackSystemIdentifier = "CallbackService"
)

// callbackLevels lists the levels of every callback type, as ConnectWise
// spells them.
var callbackLevels = map[string][]string{
	"Activity":       {"Owner", "Status", "Type", "Company", "Activity"},
	"Agreement":      {"Owner", "Type", "Company", "Agreement"},
	"Company":        {"Owner", "Status", "Type", "Territory", "Company", "IntegratorTag"},
	"Configuration":  {"Owner", "Type", "Status", "Configuration"},
	"Contact":        {"Owner", "Type", "Territory", "Company", "Contact"},
	"Expense":        {"Owner", "ChargeToType", "Type", "Class", "Company", "Expense"},
	"Invoice":        {"Owner", "Status", "Company", "Invoice"},
	"Member":         {"Owner", "Location", "SecurityRole", "Member"},
	"Opportunity":    {"Owner", "StatusId", "Company", "Opportunity"},
	"ProductCatalog": {"Owner"},
	"Project":        {"Owner", "Status", "Board", "Project"},
	"PurchaseOrder":  {"Owner", "Status", "Vendor", "Company", "PurchaseOrder"},
	"Schedule":       {"Owner", "Status", "Type", "Location", "Member", "Schedule"},
	"Ticket":         {"Owner", "Board", "Status", "Ticket", "Company", "Project", "Phase", "IntegratorTag"},
	"Time":           {"Owner", "Company", "Time"},
}

// callbackTypeNames are the types in order, for error messages.
var callbackTypeNames = func() []string {
	names := make([]string, 0, len(callbackLevels))
	for k := range callbackLevels {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}()

// falseOnlyField accepts false (or null) for a flag whose true the
// simulator does not implement.
func falseOnlyField[T any](what string) setter[T] {
	return func(_ *T, raw json.RawMessage) error {
		if raw == nil {
			return nil
		}
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return errors.New("must be true or false")
		}
		if b {
			return errors.New(what + " is not supported by the simulator")
		}
		return nil
	}
}

var callbackFields = &fieldTable[Callback]{
	resource: "callbackEntry",
	fields: map[string]setter[Callback]{
		"description":          strField(func(c *Callback) *string { return &c.Description }),
		"url":                  strField(func(c *Callback) *string { return &c.URL }),
		"objectId":             intField(func(c *Callback) *int { return &c.ObjectID }),
		"type":                 strField(func(c *Callback) *string { return &c.Type }),
		"level":                strField(func(c *Callback) *string { return &c.Level }),
		"inactiveFlag":         boolField(func(c *Callback) *bool { return &c.InactiveFlag }),
		"isSoapCallbackFlag":   falseOnlyField[Callback]("a SOAP callback"),
		"isSelfSuppressedFlag": falseOnlyField[Callback]("suppressing a member's own changes"),
	},
	readOnly: []string{"id", "_info"},
	ignored:  []string{"memberId", "payloadVersion", "connectWiseID"},
}

var callbackConds = newCondSpec(
	"id number", "description string", "url string", "objectId number", "type string", "level string",
	"inactiveFlag bool", "lastUpdated=_info/lastUpdated date", "_info/lastUpdated date",
)

// canonical returns the entry of names equal to s ignoring case.
func canonical(names []string, s string) (string, bool) {
	for _, n := range names {
		if strings.EqualFold(n, strings.TrimSpace(s)) {
			return n, true
		}
	}
	return "", false
}

// checkCallback validates a callback and spells its type and level as
// ConnectWise does (Sim.mu held). selfID is the callback's own id on
// update, 0 on create.
func (st *state) checkCallback(cb *Callback, selfID int) []fieldError {
	var c checker
	if c.required("url", cb.URL) {
		c.maxLen("url", cb.URL, maxCallbackURL)
		u, err := url.Parse(cb.URL)
		switch {
		case err != nil:
			c.add(codeInvalidField, "url", "url is not a valid URL.")
		case !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https"):
			c.add(codeInvalidField, "url", "url must be an absolute http:// or https:// URL.")
		case u.Host == "" || u.Hostname() == "":
			c.add(codeInvalidField, "url", "url must name a host.")
		}
	}
	c.maxLen("description", cb.Description, maxCallbackDescription)
	levels, typeOK := []string(nil), false
	if c.required("type", cb.Type) {
		var name string
		if name, typeOK = canonical(callbackTypeNames, cb.Type); typeOK {
			cb.Type, levels = name, callbackLevels[name]
		} else {
			c.add(codeInvalidField, "type", "type %q is not a callback type (%s).", cb.Type, strings.Join(callbackTypeNames, ", "))
		}
	}
	levelOK := false
	if c.required("level", cb.Level) && typeOK {
		var name string
		if name, levelOK = canonical(levels, cb.Level); levelOK {
			cb.Level = name
		} else {
			c.add(codeInvalidField, "level", "level %q is not a level of type %s (%s).", cb.Level, cb.Type, strings.Join(levels, ", "))
		}
	}
	if levelOK {
		st.checkCallbackObject(&c, cb)
	}
	if len(c.errs) == 0 {
		for _, o := range st.callbacks {
			if o.ID != selfID && o.URL == cb.URL && o.Type == cb.Type && o.Level == cb.Level && objectKey(o) == objectKey(*cb) {
				c.add(codeObjectExists, "url", "A callback with this url, type %s, level %s and objectId %d already exists (id %d).", cb.Type, cb.Level, cb.ObjectID, o.ID)
			}
		}
	}
	return c.errs
}

// objectKey is the objectId that tells callbacks apart: none for Owner.
func objectKey(cb Callback) int {
	if cb.Level == "Owner" {
		return 0
	}
	return cb.ObjectID
}

// checkCallbackObject checks objectId for the callback's level: ignored for
// Owner (0 or 1 by convention), else the positive id of a record, which
// must exist where the simulator keeps such records.
func (st *state) checkCallbackObject(c *checker, cb *Callback) {
	if cb.Level == "Owner" {
		if cb.ObjectID < 0 {
			c.add(codeOutOfRange, "objectId", "objectId cannot be negative (use 0 or 1 for level Owner).")
		}
		return
	}
	if cb.Type == "Ticket" && cb.Level == "IntegratorTag" {
		c.add(codeInvalidField, "level", "level IntegratorTag is not supported by the simulator.")
		return
	}
	if cb.ObjectID <= 0 {
		c.add(codeInvalidField, "objectId", "objectId is required for level %s: the id of the %s to watch.", cb.Level, strings.ToLower(cb.Level))
		return
	}
	var exists bool
	var noun string
	switch {
	case cb.Level == "Company":
		exists, noun = indexOf(st.companies, cb.ObjectID) >= 0, "Company"
	case cb.Type == "Ticket" && cb.Level == "Board":
		exists, noun = indexOf(st.boards, cb.ObjectID) >= 0, "Board"
	case cb.Type == "Ticket" && cb.Level == "Status":
		exists, noun = indexOf(st.statuses, cb.ObjectID) >= 0, "Status"
	case cb.Type == "Ticket" && cb.Level == "Ticket":
		exists, noun = indexOf(st.tickets, cb.ObjectID) >= 0, "Ticket"
	case cb.Type == "Agreement" && cb.Level == "Agreement":
		exists, noun = indexOf(st.agreements, cb.ObjectID) >= 0, "Agreement"
	case cb.Type == "Configuration" && cb.Level == "Configuration":
		exists, noun = indexOf(st.configurations, cb.ObjectID) >= 0, "Configuration"
	default:
		return // a record the simulator does not keep
	}
	if !exists {
		c.add(codeInvalidField, "objectId", "%s with id %d was not found (objectId of level %s).", noun, cb.ObjectID, cb.Level)
	}
}

func (s *Sim) listCallbacks(q *request) response {
	return listRecords(s, q, callbackFields.resource, callbackConds, false, every(func(st *state) []Callback { return st.callbacks }))
}

func (s *Sim) countCallbacks(q *request) response {
	return listRecords(s, q, callbackFields.resource, callbackConds, true, every(func(st *state) []Callback { return st.callbacks }))
}

func (s *Sim) getCallback(q *request) response {
	return getRecord(s, q, "Callback", func(st *state) []Callback { return st.callbacks })
}

func (s *Sim) postCallback(q *request) response {
	var cb Callback
	if _, bad := callbackFields.decodeBody(&cb, q.body, true); bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if errs := s.st.checkCallback(&cb, 0); errs != nil {
		return invalid(callbackFields.resource, errs)
	}
	cb.ID = s.st.nextID("callback")
	cb.Info = s.newInfo(apiMemberIdentifier)
	cb.companyID = basicCompany(q.r)
	s.st.callbacks = append(s.st.callbacks, cb)
	return jsonResp(http.StatusCreated, cb)
}

func (s *Sim) putCallback(q *request) response {
	var cb Callback
	if _, bad := callbackFields.decodeBody(&cb, q.body, false); bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := indexOf(s.st.callbacks, q.ids[0])
	if i < 0 {
		return recordNotFound("Callback", q.ids[0])
	}
	return s.replaceCallback(i, cb)
}

func (s *Sim) patchCallback(q *request) response {
	ops, bad := parsePatch(callbackFields.resource, q.body)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := indexOf(s.st.callbacks, q.ids[0])
	if i < 0 {
		return recordNotFound("Callback", q.ids[0])
	}
	cb := s.st.callbacks[i]
	if errs := callbackFields.applyPatch(&cb, ops); errs != nil {
		return invalid(callbackFields.resource, errs)
	}
	return s.replaceCallback(i, cb)
}

// replaceCallback validates cb and stores it over callback i (Sim.mu held).
// A change through the API starts the count of failed days afresh.
func (s *Sim) replaceCallback(i int, cb Callback) response {
	old := s.st.callbacks[i]
	if errs := s.st.checkCallback(&cb, old.ID); errs != nil {
		return invalid(callbackFields.resource, errs)
	}
	cb.ID, cb.Info, cb.companyID, cb.failingSince = old.ID, old.Info, old.companyID, time.Time{}
	s.touch(&cb.Info, apiMemberIdentifier)
	s.st.callbacks[i] = cb
	return jsonResp(http.StatusOK, cb)
}

func (s *Sim) deleteCallback(q *request) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := indexOf(s.st.callbacks, q.ids[0])
	if i < 0 {
		return recordNotFound("Callback", q.ids[0])
	}
	s.st.callbacks = slices.Delete(s.st.callbacks, i, i+1)
	return noContent()
}

// basicCompany is the company id of an (authenticated) request's Basic
// credentials.
func basicCompany(r *http.Request) string {
	_, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return ""
	}
	company, _, _ := strings.Cut(string(raw), "+")
	return company
}

// Callbacks returns a copy of every callback registration, in id order.
func (s *Sim) Callbacks() []Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.callbacks)
}

// CallbackSigningKey returns the simulator's signing key: what its key_url
// answers, and what signs every delivery.
func (s *Sim) CallbackSigningKey() string { return s.hooks.key }

// CallbackDelivery is one delivery of a callback payload, with its retries.
type CallbackDelivery struct {
	CallbackID int
	URL        string
	MessageID  string
	// Action is added, updated or deleted; TicketID the ticket.
	Action   string
	TicketID int
	// Payload is the body sent, Signature its x-content-signature ("" when
	// Options.UnsignedCallbacks).
	Payload   []byte
	Signature string
	// Attempts is how many requests were made (1 to 3).
	Attempts int
	// StatusCode is the status of the last answer, 0 when there was none.
	StatusCode int
	// Err is nil when the last attempt was answered 2xx, else why it failed.
	Err error
	// Time is when the last attempt ended, by the simulator's clock.
	Time time.Time
}

// CallbackDeliveries returns a copy of the finished deliveries, in the
// order they finished (in queue order for each callback).
func (s *Sim) CallbackDeliveries() []CallbackDelivery {
	h := &s.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]CallbackDelivery, len(h.done))
	for i, d := range h.done {
		d.Payload = slices.Clone(d.Payload)
		out[i] = d
	}
	return out
}

// WaitCallbacks returns nil once no delivery is queued or in flight, or the
// context's error if it ends first. A change made before the call has
// queued its deliveries already.
func (s *Sim) WaitCallbacks(ctx context.Context) error {
	h := &s.hooks
	for {
		h.mu.Lock()
		idle := h.idle
		h.mu.Unlock()
		if idle == nil {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// --- delivery ---

// callbackHub queues and sends deliveries. Its mutex is never held while
// Sim.mu is taken (Sim.mu may be held while taking it).
type callbackHub struct {
	key   string // the signing key
	keyID string // the last path segment of key_url

	mu      sync.Mutex
	queues  map[int][]callbackJob // by callback id
	running map[int]bool          // a worker drains the queue
	busy    int                   // jobs queued or in flight
	idle    chan struct{}         // closed when busy falls to 0; nil while 0
	closed  bool
	done    []CallbackDelivery
	wg      sync.WaitGroup
	ctx     context.Context // ends at Close
	cancel  context.CancelFunc

	clientOnce sync.Once
	client     *http.Client
}

// callbackJob is one payload to deliver to one callback.
type callbackJob struct {
	callbackID int
	url        string
	companyID  string
	memberID   string
	action     string
	ticketID   int
	entity     []byte
}

func (h *callbackHub) init() {
	h.key = randomToken(32)
	h.keyID = randomToken(16)
	h.queues = map[int][]callbackJob{}
	h.running = map[int]bool{}
	h.ctx, h.cancel = context.WithCancel(context.Background())
}

// randomToken is n random bytes in hex; it panics if the system has no
// randomness (crypto/rand never fails on supported systems).
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("cwsim: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	b, _ := hex.DecodeString(randomToken(16))
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Ticket callback actions.
const (
	actionAdded   = "added"
	actionUpdated = "updated"
	actionDeleted = "deleted"
)

// ticketCallbacks queues the deliveries of a change of a ticket from old
// (zero when added) to t, made by `by` (Sim.mu held). It never waits.
func (s *Sim) ticketCallbacks(action string, t, old Ticket, by string) {
	var jobs []callbackJob
	var entity []byte
	for _, cb := range s.st.callbacks {
		if cb.InactiveFlag || cb.Type != "Ticket" || !ticketMatches(cb, t, old) {
			continue
		}
		if entity == nil {
			var err error
			if entity, err = json.Marshal(t); err != nil {
				return
			}
		}
		jobs = append(jobs, callbackJob{
			callbackID: cb.ID, url: cb.URL, companyID: cb.companyID, memberID: by,
			action: action, ticketID: t.ID, entity: entity,
		})
	}
	if len(jobs) > 0 {
		s.hooks.enqueue(s, jobs)
	}
}

// ticketMatches tells whether callback cb watches ticket t, which was old
// before the change (see the matching rules at the top of this file).
func ticketMatches(cb Callback, t, old Ticket) bool {
	either := func(now, before int) bool {
		return cb.ObjectID == now || (old.ID != 0 && cb.ObjectID == before)
	}
	switch cb.Level {
	case "Owner":
		return true
	case "Ticket":
		return cb.ObjectID == t.ID
	case "Board":
		return either(t.Board.ID, old.Board.ID)
	case "Status":
		return either(t.Status.ID, old.Status.ID)
	case "Company":
		return either(t.Company.ID, old.Company.ID)
	}
	return false
}

func (h *callbackHub) enqueue(s *Sim, jobs []callbackJob) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	for _, j := range jobs {
		h.queues[j.callbackID] = append(h.queues[j.callbackID], j)
		if h.busy == 0 {
			h.idle = make(chan struct{})
		}
		h.busy++
		if !h.running[j.callbackID] {
			h.running[j.callbackID] = true
			h.wg.Add(1)
			go s.drainCallback(j.callbackID)
		}
	}
}

// finish marks n jobs done (h.mu held).
func (h *callbackHub) finish(n int) {
	h.busy -= n
	if h.busy == 0 && h.idle != nil {
		close(h.idle)
		h.idle = nil
	}
}

// drainCallback delivers the queue of one callback in order, then exits.
func (s *Sim) drainCallback(id int) {
	h := &s.hooks
	defer h.wg.Done()
	for {
		h.mu.Lock()
		q := h.queues[id]
		if len(q) == 0 || h.closed {
			delete(h.running, id)
			delete(h.queues, id)
			h.mu.Unlock()
			return
		}
		j := q[0]
		h.queues[id] = q[1:]
		h.mu.Unlock()

		d := s.deliver(j)

		h.mu.Lock()
		if d != nil {
			h.done = append(h.done, *d)
		}
		h.finish(1)
		h.mu.Unlock()
	}
}

// close drops the queued jobs, stops those in flight and waits for the
// workers to end.
func (h *callbackHub) close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		h.cancel()
		n := 0
		for id, q := range h.queues {
			n += len(q)
			h.queues[id] = nil
		}
		h.finish(n)
	}
	h.mu.Unlock()
	h.wg.Wait()
	if h.client != nil {
		h.client.CloseIdleConnections()
	}
}

// callbackPayload is the body ConnectWise POSTs to a callback URL.
type callbackPayload struct {
	MessageID           string `json:"MessageId"`
	FromURL             string `json:"FromUrl"`
	CompanyID           string `json:"CompanyId"`
	MemberID            string `json:"MemberId"`
	Action              string `json:"Action"`
	Type                string `json:"Type"`
	ID                  int    `json:"ID"`
	CallbackObjectRecID int    `json:"CallbackObjectRecId"`
	Metadata            struct {
		KeyURL string `json:"key_url"`
	} `json:"Metadata"`
	Entity string `json:"Entity"`
}

// callbackKeyPath is the path of the key URL below the API base.
const callbackKeyPath = "/system/callbackkeys/"

// deliver sends one job, with its retries, and returns its record (nil when
// the simulator closed before the first attempt).
func (s *Sim) deliver(j callbackJob) *CallbackDelivery {
	h := &s.hooks
	site := s.URL()
	p := callbackPayload{
		MessageID: newUUID(), CompanyID: j.companyID, MemberID: j.memberID, Action: j.action,
		Type: "ticket", ID: j.ticketID, CallbackObjectRecID: j.callbackID, Entity: string(j.entity),
	}
	if u, err := url.Parse(site); err == nil {
		p.FromURL = u.Host
	}
	p.Metadata.KeyURL = site + s.base + callbackKeyPath + h.keyID
	body, err := json.Marshal(p)
	if err != nil {
		return nil
	}
	d := &CallbackDelivery{
		CallbackID: j.callbackID, URL: j.url, MessageID: p.MessageID, Action: j.action,
		TicketID: j.ticketID, Payload: body,
	}
	if !s.opts.UnsignedCallbacks {
		d.Signature = connectwise.SignCallback(body, h.key)
	}
	delay := s.opts.CallbackRetryDelay
	if delay <= 0 {
		delay = defaultCallbackRetryDelay
	}
	for attempt := 1; attempt <= callbackAttempts; attempt++ {
		if attempt > 1 && !h.pause(delay) {
			break
		}
		if h.ctx.Err() != nil {
			break
		}
		d.Attempts = attempt
		d.StatusCode, d.Err = h.post(s, j.url, body, d.Signature)
		if d.Err == nil {
			break
		}
	}
	if d.Attempts == 0 {
		return nil
	}
	d.Time = s.now()
	if h.ctx.Err() == nil { // a delivery stopped by Close says nothing of the URL
		s.callbackOutcome(j.callbackID, d.Err == nil, d.Time)
	}
	return d
}

// pause waits d, or reports false when the simulator closes first.
func (h *callbackHub) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-h.ctx.Done():
		return false
	}
}

// post makes one attempt: the status answered, and an error unless 2xx.
func (h *callbackHub) post(s *Sim, target string, body []byte, signature string) (int, error) {
	u, err := url.Parse(target)
	if err != nil {
		return 0, fmt.Errorf("cwsim: callback url: %w", err)
	}
	if !loopbackHost(u.Hostname()) {
		return 0, fmt.Errorf("cwsim: callbacks are delivered to loopback addresses and localhost only, and %q is neither", u.Hostname())
	}
	ctx, cancel := context.WithTimeout(h.ctx, callbackAttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("cwsim: callback request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "cwsim-callbacks")
	if signature != "" {
		req.Header.Set(connectwise.CallbackSignatureHeader, signature)
	}
	resp, err := h.httpClient(s).Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("cwsim: the callback URL answered HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// httpClient is the client of deliveries: no proxy, no redirects, no DNS,
// loopback only, trusting the system roots and the simulator's CA.
func (h *callbackHub) httpClient(s *Sim) *http.Client {
	h.clientOnce.Do(func() {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if s.ca != nil {
			pool.AddCert(s.ca.cert)
		}
		dialer := &net.Dialer{Timeout: callbackAttemptTimeout, Control: loopbackOnly, Resolver: hostsOnly}
		h.client = &http.Client{
			Transport: &http.Transport{
				DialContext:         dialer.DialContext,
				TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
				TLSHandshakeTimeout: callbackAttemptTimeout,
				ForceAttemptHTTP2:   true,
				MaxIdleConnsPerHost: 2,
				IdleConnTimeout:     30 * time.Second,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	})
	return h.client
}

// loopbackHost accepts a loopback address literal, localhost and names
// below .localhost; any other name is refused without being resolved.
func loopbackHost(host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().IsLoopback()
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// hostsOnly resolves names from the hosts file only (localhost): it never
// sends a DNS query.
var hostsOnly = &net.Resolver{
	PreferGo: true,
	Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("cwsim: callback deliveries make no DNS query")
	},
}

// loopbackOnly refuses, before connecting, any address that is not
// loopback (localhost is checked on the addresses it resolves to).
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("cwsim: callbacks are delivered to loopback addresses only, and %s is not one", address)
	}
	return nil
}

// callbackOutcome counts the failed days of a callback and makes it
// inactive after callbackGiveUpAfter of failures.
func (s *Sim) callbackOutcome(id int, ok bool, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := indexOf(s.st.callbacks, id)
	if i < 0 {
		return
	}
	cb := &s.st.callbacks[i]
	switch {
	case ok:
		cb.failingSince = time.Time{}
	case cb.failingSince.IsZero():
		cb.failingSince = now
	case !cb.InactiveFlag && now.Sub(cb.failingSince) >= callbackGiveUpAfter:
		cb.InactiveFlag = true
		s.touch(&cb.Info, callbackSystemIdentifier)
	}
}

// serveCallbackKey answers GET {base}/system/callbackkeys/{keyId} without
// authentication; ok is false for any other path.
func (s *Sim) serveCallbackKey(r *http.Request, rel string) (response, bool) {
	id, ok := strings.CutPrefix(rel, callbackKeyPath)
	if !ok || id == "" || strings.Contains(id, "/") {
		return response{}, false
	}
	if r.Method != http.MethodGet {
		return methodNotAllowed(r.Method), true
	}
	if id != s.hooks.keyID {
		return notFound("The callback key was not found."), true
	}
	return jsonResp(http.StatusOK, map[string]string{"signing_key": s.hooks.key}), true
}
