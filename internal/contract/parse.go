package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxDepth bounds the nesting of a body. The contract itself nests three
// objects deep (event → notification → details).
const maxDepth = 8

// Parse decodes one event body strictly and validates it (see Validate).
//
// Strict means: the body is one JSON object and nothing after it, valid
// UTF-8, no key appears twice in an object, no key is unknown to the
// contract, no value is null, every value has the JSON type the contract
// gives it, and times are RFC 3339 date-times (DateTimePattern). Every
// failure is a *ValidationError naming the field (a JSON path such as
// "backup.account.plan") and the problem; a body that is not JSON at all
// gives an empty field and a problem starting "body is not valid JSON".
//
// Parse does not limit the size of body; the webhook does (MaxBodyBytes).
// Parse has no clock: times in the future pass; ParseAt (and CheckClock)
// refuse those more than MaxClockSkew ahead of the time of receipt.
//
// Parse reads body in one pass straight into the event (parseFast); only a
// body it refuses is read again as a tree of values (parseTree), which finds
// the first problem and its field path.
func Parse(body []byte) (*Event, error) {
	e := parseFast(body)
	if e == nil {
		return parseTree(body)
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// parseTree is Parse by way of a tree of values (readValue, then
// decodeEvent): the reader that names the problem of a refused body, and
// the reference the fast path is held to (FuzzParse).
func parseTree(body []byte) (*Event, error) {
	e, verr := decodeTree(body)
	if verr != nil {
		return nil, verr
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// decodeTree reads body as a tree and decodes the event, without Validate:
// what parseFast does in one pass.
func decodeTree(body []byte) (*Event, *ValidationError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &ValidationError{Problem: "body is empty"}
	}
	if !utf8.Valid(body) {
		return nil, &ValidationError{Problem: "body is not valid UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tree, verr := readValue(dec, "", 0)
	if verr != nil {
		return nil, verr
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &ValidationError{Problem: "body is not valid JSON: data after the top-level value"}
	}
	return decodeEvent(tree)
}

// readValue reads one JSON value into a tree of map[string]any, []any,
// string, json.Number, bool and nil, refusing duplicate keys and deep nesting.
func readValue(dec *json.Decoder, path string, depth int) (any, *ValidationError) {
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(dec, err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if depth >= maxDepth {
		return nil, &ValidationError{Field: path, Problem: "nested too deeply"}
	}
	switch d {
	case '{':
		m := make(map[string]any)
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, syntaxError(dec, err)
			}
			key, _ := kt.(string) // the decoder only yields strings as keys
			field := joinPath(path, key)
			if _, dup := m[key]; dup {
				return nil, &ValidationError{Field: field, Problem: "appears more than once"}
			}
			v, verr := readValue(dec, field, depth+1)
			if verr != nil {
				return nil, verr
			}
			m[key] = v
		}
		if _, err := dec.Token(); err != nil { // '}'
			return nil, syntaxError(dec, err)
		}
		return m, nil
	case '[':
		var a []any
		for dec.More() {
			v, verr := readValue(dec, path, depth+1)
			if verr != nil {
				return nil, verr
			}
			a = append(a, v)
		}
		if _, err := dec.Token(); err != nil { // ']'
			return nil, syntaxError(dec, err)
		}
		return a, nil
	}
	return nil, syntaxError(dec, errors.New("unexpected "+d.String()))
}

// syntaxError turns a decoder error into a ValidationError that names the
// byte offset but none of the input.
func syntaxError(dec *json.Decoder, err error) *ValidationError {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return &ValidationError{Problem: "body is not valid JSON: " + se.Error() + " (at byte " + strconv.FormatInt(se.Offset, 10) + ")"}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &ValidationError{Problem: "body is not valid JSON: unexpected end of input"}
	}
	return &ValidationError{Problem: "body is not valid JSON (at byte " + strconv.FormatInt(dec.InputOffset(), 10) + ")"}
}

// The keys of each object of the contract.
var (
	eventKeys        = []string{"specVersion", "type", "occurredAt", "customer", "backup", "status", "notification", "usage", "removal"}
	customerKeys     = []string{"id", "name"}
	accountKeys      = []string{"id", "name", "kind", "plan"}
	backupKeys       = []string{"account", "result", "startedAt", "endedAt", "onlineGB", "localGB", "message"}
	statusKeys       = []string{"service", "health", "account", "message"}
	notificationKeys = []string{"kind", "severity", "state", "account", "message", "details"}
	usageKeys        = []string{"archivingMailboxes", "filteringMailboxes", "shadowProtectServers", "shadowProtectDesktops"}
	removalKeys      = []string{"account", "reason"}
)

// decoder turns a tree from readValue into an Event, checking JSON types,
// keys and the forms of times and numbers. The rules on values are
// Validate's. It keeps the first problem found.
type decoder struct{ err *ValidationError }

func (d *decoder) fail(field, problem string) {
	if d.err == nil {
		d.err = &ValidationError{Field: field, Problem: problem}
	}
}

// object is one JSON object of the tree and its path.
type object struct {
	d    *decoder
	path string
	m    map[string]any
}

// asObject checks that v is an object holding only the given keys.
func (d *decoder) asObject(v any, path string, keys []string) *object {
	m, ok := v.(map[string]any)
	if !ok {
		if path == "" {
			d.fail("", "body must be a JSON object")
		} else {
			d.fail(path, "must be an object")
		}
		return nil
	}
	var unknown []string
	for k := range m {
		if !slices.Contains(keys, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		d.fail(joinPath(path, unknown[0]), "unknown field")
		return nil
	}
	return &object{d: d, path: path, m: m}
}

// get returns the value of key and whether it is present; a null value is a
// problem (no field of the contract is nullable).
func (o *object) get(key string) (any, bool) {
	v, ok := o.m[key]
	if !ok {
		return nil, false
	}
	if v == nil {
		o.d.fail(joinPath(o.path, key), "must not be null (leave the field out instead)")
		return nil, false
	}
	return v, true
}

// child returns the object at key, or nil when absent.
func (o *object) child(key string, keys []string) *object {
	v, ok := o.get(key)
	if !ok {
		return nil
	}
	return o.d.asObject(v, joinPath(o.path, key), keys)
}

// str returns the string at key ("" when absent).
func (o *object) str(key string) string {
	v, ok := o.get(key)
	if !ok {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		o.d.fail(joinPath(o.path, key), "must be a string")
	}
	return s
}

// enumStr returns the string at key, which when present must be one of
// allowed: an empty string is not the same as leaving the field out.
func enumStr[T ~string](o *object, key string, allowed []T) T {
	_, present := o.m[key]
	s := T(o.str(key))
	if present && s == "" {
		o.d.fail(joinPath(o.path, key), oneOfProblem(allowed))
	}
	return s
}

// time returns the date-time at key (zero when absent).
func (o *object) time(key string) time.Time {
	t, _ := o.timeOK(key)
	return t
}

// timePtr returns the date-time at key, or nil when absent.
func (o *object) timePtr(key string) *time.Time {
	t, ok := o.timeOK(key)
	if !ok {
		return nil
	}
	return &t
}

func (o *object) timeOK(key string) (time.Time, bool) {
	v, ok := o.get(key)
	if !ok {
		return time.Time{}, false
	}
	field := joinPath(o.path, key)
	s, ok := v.(string)
	if !ok {
		o.d.fail(field, "must be a string holding an RFC 3339 date-time")
		return time.Time{}, false
	}
	if !dateTimeRE().MatchString(s) {
		o.d.fail(field, "must be an RFC 3339 date-time with a time zone and a year from 2000, such as 2026-03-02T14:05:00Z or 2026-03-02T09:05:00-05:00")
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		o.d.fail(field, "must be a real calendar date-time")
		return time.Time{}, false
	}
	return t, true
}

// number returns the number at key and whether it is present.
func (o *object) number(key string) (float64, bool) {
	v, ok := o.get(key)
	if !ok {
		return 0, false
	}
	field := joinPath(o.path, key)
	n, ok := v.(json.Number)
	if !ok {
		o.d.fail(field, "must be a number")
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) {
		if strings.HasPrefix(string(n), "-") {
			o.d.fail(field, "must not be negative")
		} else {
			o.d.fail(field, "must be below 10000000")
		}
		return 0, false
	}
	return f, true
}

// count returns the whole number at key, or nil when absent. A whole number
// may be written with a fraction or exponent (2.0, 1e3), as JSON Schema's
// "integer" allows.
func (o *object) count(key string) *int {
	f, ok := o.number(key)
	if !ok {
		return nil
	}
	field := joinPath(o.path, key)
	n := string(o.m[key].(json.Number))
	switch {
	case !wholeNumber(n):
		o.d.fail(field, "must be a whole number")
	case f < 0 && f != 0:
		o.d.fail(field, "must not be negative")
	case f >= MaxCount:
		o.d.fail(field, "must be below "+strconv.Itoa(MaxCount))
	default:
		i := int(f)
		return &i
	}
	return nil
}

// wholeNumber reports whether the JSON number literal n is a whole number,
// exactly (no rounding): its significant digits end at or before the decimal
// point once the exponent is applied.
func wholeNumber(n string) bool {
	n = strings.TrimPrefix(n, "-")
	mant, exp := n, 0
	if i := strings.IndexAny(n, "eE"); i >= 0 {
		mant = n[:i]
		e, err := strconv.Atoi(strings.TrimPrefix(n[i+1:], "+"))
		if err != nil {
			// An exponent beyond an int: either huge (caught by the range
			// check) or tiny (a nonzero value far below 1, or zero).
			return strings.Trim(strings.ReplaceAll(mant, ".", ""), "0") == "" || !strings.HasPrefix(n[i+1:], "-")
		}
		exp = e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimRight(intPart+frac, "0")
	if strings.Trim(digits, "0") == "" {
		return true // zero
	}
	// Value = 0.digits × 10^(len(intPart)+exp); whole when the digits fit left of the point.
	return len(digits) <= len(intPart)+exp
}

// strMap returns the object of strings at key, or nil when absent or empty.
func (o *object) strMap(key string) map[string]string {
	v, ok := o.get(key)
	if !ok {
		return nil
	}
	field := joinPath(o.path, key)
	m, ok := v.(map[string]any)
	if !ok {
		o.d.fail(field, "must be an object")
		return nil
	}
	if len(m) == 0 {
		return nil
	}
	if len(m) > MaxDetails {
		o.d.fail(field, "must have at most "+strconv.Itoa(MaxDetails)+" entries")
		return nil
	}
	out := make(map[string]string, len(m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s, ok := m[k].(string)
		if !ok {
			o.d.fail(joinPath(field, k), "must be a string")
			return nil
		}
		out[k] = s
	}
	return out
}

func (d *decoder) account(parent *object, key string) *Account {
	o := parent.child(key, accountKeys)
	if o == nil {
		return nil
	}
	return &Account{
		ID:   o.str("id"),
		Name: o.str("name"),
		Kind: enumStr(o, "kind", AccountKinds),
		Plan: enumStr(o, "plan", Plans),
	}
}

// decodeEvent builds the Event of a tree read by readValue.
func decodeEvent(tree any) (*Event, *ValidationError) {
	d := &decoder{}
	root := d.asObject(tree, "", eventKeys)
	if root == nil {
		return nil, d.err
	}
	e := &Event{
		SpecVersion: root.str("specVersion"),
		Type:        Type(root.str("type")),
		OccurredAt:  root.time("occurredAt"),
	}
	if c := root.child("customer", customerKeys); c != nil {
		e.Customer = Customer{ID: c.str("id"), Name: c.str("name")}
	}
	if o := root.child("backup", backupKeys); o != nil {
		b := &BackupCompleted{
			Result:    BackupResult(o.str("result")),
			StartedAt: o.timePtr("startedAt"),
			EndedAt:   o.time("endedAt"),
			Message:   o.str("message"),
		}
		if a := d.account(o, "account"); a != nil {
			b.Account = *a // absent: Validate reports backup.account.id
		}
		// A GB figure of 0 and a missing one look alike once decoded, so
		// their presence is checked here (when backup is the right object
		// at all: otherwise Validate reports backup as not allowed).
		var online, local bool
		b.OnlineGB, online = o.number("onlineGB")
		b.LocalGB, local = o.number("localGB")
		if e.Type == TypeBackupCompleted {
			if !online {
				d.fail(joinPath(o.path, "onlineGB"), "required")
			}
			if !local {
				d.fail(joinPath(o.path, "localGB"), "required")
			}
		}
		e.Backup = b
	}
	if o := root.child("status", statusKeys); o != nil {
		e.Status = &ServiceStatus{
			Service: Service(o.str("service")),
			Health:  Health(o.str("health")),
			Account: d.account(o, "account"),
			Message: o.str("message"),
		}
	}
	if o := root.child("notification", notificationKeys); o != nil {
		e.Notification = &Notification{
			Kind:     NotificationKind(o.str("kind")),
			Severity: Severity(o.str("severity")),
			State:    enumStr(o, "state", NotificationStates),
			Account:  d.account(o, "account"),
			Message:  o.str("message"),
			Details:  o.strMap("details"),
		}
	}
	if o := root.child("usage", usageKeys); o != nil {
		e.Usage = &UsageSnapshot{
			ArchivingMailboxes:    o.count("archivingMailboxes"),
			FilteringMailboxes:    o.count("filteringMailboxes"),
			ShadowProtectServers:  o.count("shadowProtectServers"),
			ShadowProtectDesktops: o.count("shadowProtectDesktops"),
		}
	}
	if o := root.child("removal", removalKeys); o != nil {
		e.Removal = &Removal{
			Account: d.account(o, "account"),
			Reason:  o.str("reason"),
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return e, nil
}
