package contract

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Limits of contract version 1. The JSON Schema (schema/event-v1.schema.json)
// states the same numbers; a test keeps the two in step.
const (
	// MaxNameRunes bounds customer and account names (in characters).
	MaxNameRunes = 200
	// MaxMessageRunes bounds every message (backup, status, notification).
	MaxMessageRunes = 2000
	// MaxDetails bounds the number of notification details.
	MaxDetails = 20
	// MaxDetailKeyRunes and MaxDetailValueRunes bound one notification detail.
	MaxDetailKeyRunes   = 64
	MaxDetailValueRunes = 500
	// MaxGB is the exclusive upper bound of a GB figure.
	MaxGB = 1e7
	// MaxCount is the exclusive upper bound of a usage counter.
	MaxCount = 10_000_000
	// MinYear is the earliest year a time of an event may be written with.
	MinYear = 2000
)

// Patterns of contract version 1, written so that Go's regexp and ECMA-262
// (the JSON Schema's regular expressions) read them alike.
const (
	// CustomerIDPattern: the provider's customer id. 40 characters at most, so
	// that the managed ID "EFS-<id>" fits ConnectWise's 50-character serial
	// number of an agreement addition.
	CustomerIDPattern = `^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$`
	// AccountIDPattern: the provider's account id.
	AccountIDPattern = `^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`
	// DateTimePattern: an RFC 3339 date-time with a time zone (upper-case T and
	// Z, at most nanoseconds, a year from 2000 to 9999). Calendar validity
	// (no 30 February) is checked beside it.
	DateTimePattern = `^[2-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
)

// dateTimeRE is DateTimePattern for the tree reader (parseTree); the fast
// path and Validate use hand-written matchers of the patterns (fast.go),
// which tests hold to the regular expressions.
var dateTimeRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(DateTimePattern) })

// Types lists every event type of contract version 1 (1.0's four, then the
// two of 1.1; MinSpecVersion says which version each needs).
var Types = []Type{TypeBackupCompleted, TypeServiceStatus, TypeNotification, TypeUsageSnapshot, TypeAccountRemoved, TypeCustomerRemoved}

// AccountKinds lists every account kind.
var AccountKinds = []AccountKind{KindServer, KindDesktop}

// Plans lists every backup plan.
var Plans = []Plan{PlanSelect, PlanBasic, PlanShadowProtectBDR}

// BackupResults lists every backup result, best first.
var BackupResults = []BackupResult{ResultSuccess, ResultWarning, ResultFailure}

// Services lists every service.
var Services = []Service{ServiceOnlineBackup, ServiceLocalBackup, ServiceBDR, ServiceEmailArchiving, ServiceEmailFiltering}

// Healths lists every health value, best first.
var Healths = []Health{HealthHealthy, HealthDegraded, HealthFailed}

// NotificationStates lists every notification state.
var NotificationStates = []NotificationState{StateRaised, StateCleared}

// DataField returns the JSON name of the data object an event of type t
// carries ("backup", "status", "notification", "usage", or "removal" for
// both removal types), or "" for an unknown type. The object is required
// for every type but customer.removed (DataRequired).
func DataField(t Type) string {
	switch t {
	case TypeBackupCompleted:
		return "backup"
	case TypeServiceStatus:
		return "status"
	case TypeNotification:
		return "notification"
	case TypeUsageSnapshot:
		return "usage"
	case TypeAccountRemoved, TypeCustomerRemoved:
		return "removal"
	}
	return ""
}

// DataRequired reports whether an event of type t must carry its data
// object (DataField): true for every known type but customer.removed, whose
// removal object is optional.
func DataRequired(t Type) bool {
	return DataField(t) != "" && t != TypeCustomerRemoved
}

// versionProblem is the problem of a specVersion outside SpecVersions:
// `must be "1.0" or "1.1"`.
var versionProblem = func() string {
	s := "must be "
	for i, v := range SpecVersions {
		switch {
		case i == 0:
		case i == len(SpecVersions)-1:
			s += " or "
		default:
			s += ", "
		}
		s += strconv.Quote(v)
	}
	return s
}()

// versionAtLeast reports whether contract version v is min or newer (both
// in SpecVersions).
func versionAtLeast(v, min string) bool {
	return slices.Index(SpecVersions, v) >= slices.Index(SpecVersions, min)
}

// Validate checks e against contract version 1 and returns a
// *ValidationError naming the first offending field (in document order), or
// nil.
//
// Validate also fills the defaults of the contract: an empty notification
// state becomes StateRaised. Parse calls it; code that builds an Event itself
// (the resync, tests) calls it before sending the event on.
//
// The rules, field by field:
//   - specVersion is one of SpecVersions ("1.0" or "1.1"); type is one of
//     Types, and the specVersion is at least the type's MinSpecVersion
//     (account.removed and customer.removed need "1.1");
//   - occurredAt (and backup.endedAt, backup.startedAt when given) is a time
//     written with a year from 2000 to 9999 (and, checked by CheckClock
//     against the time of receipt, not more than MaxClockSkew ahead of it);
//   - customer.id matches CustomerIDPattern; names are at most 200 characters;
//   - exactly the data object that matches type is present (DataField),
//     except that customer.removed may leave its removal out (DataRequired);
//   - account ids match AccountIDPattern; backup.account needs kind and plan;
//   - removal.account is required for account.removed and not allowed for
//     customer.removed;
//   - enumerations hold one of their listed values;
//   - GB figures are finite, at least 0 and below MaxGB;
//   - notification.message is required, messages (and removal.reason) are at
//     most 2000 characters;
//   - notification.details has at most 20 entries, keys of 1 to 64 and values
//     of at most 500 characters;
//   - usage has at least one counter, each from 0 to below MaxCount;
//   - every string is valid UTF-8 without control characters, except newline
//     and tab in messages and removal.reason.
func (e *Event) Validate() error {
	if e == nil {
		return &ValidationError{Problem: "event is missing"}
	}
	// Field paths are joined only for the problem reported: a valid event
	// costs no string building.
	var c checker
	knownVersion := slices.Contains(SpecVersions, e.SpecVersion)
	switch {
	case e.SpecVersion == "":
		c.fail("", "specVersion", "required")
	case !knownVersion:
		c.fail("", "specVersion", versionProblem)
	}
	enum(&c, "", "type", e.Type, Types, true)
	if min := MinSpecVersion(e.Type); knownVersion && min != "" && !versionAtLeast(e.SpecVersion, min) {
		c.fail("", "type", string(e.Type)+` needs specVersion "`+min+`" (not "`+e.SpecVersion+`")`)
	}
	c.time("", "occurredAt", e.OccurredAt, true)
	c.customer(&e.Customer)

	want := DataField(e.Type)
	present := [...]struct {
		name string
		set  bool
	}{
		{"backup", e.Backup != nil},
		{"status", e.Status != nil},
		{"notification", e.Notification != nil},
		{"usage", e.Usage != nil},
		{"removal", e.Removal != nil},
	}
	for _, p := range present {
		if want == "" {
			break // the type is already reported
		}
		switch {
		case p.name == want && !p.set && DataRequired(e.Type):
			c.fail("", p.name, "required for type "+string(e.Type))
		case p.name != want && p.set:
			c.fail("", p.name, "not allowed for type "+string(e.Type)+" (its data goes in "+want+")")
		}
	}
	if c.err != nil {
		return c.err
	}
	switch e.Type {
	case TypeBackupCompleted:
		c.backup(e.Backup)
	case TypeServiceStatus:
		c.status(e.Status)
	case TypeNotification:
		c.notification(e.Notification)
	case TypeUsageSnapshot:
		c.usage(e.Usage)
	case TypeAccountRemoved, TypeCustomerRemoved:
		if e.Removal != nil {
			c.removal(e.Type, e.Removal)
		}
	}
	if c.err != nil {
		return c.err
	}
	return nil
}

// checker keeps the first problem found.
type checker struct{ err *ValidationError }

// fail records the problem of field key of the object at path parent (the
// object itself when key is empty), unless one is recorded already.
func (c *checker) fail(parent, key, problem string) {
	if c.err != nil {
		return
	}
	field := parent
	if key != "" {
		field = joinPath(parent, key)
	}
	c.err = &ValidationError{Field: field, Problem: problem}
}

func (c *checker) customer(cu *Customer) {
	const path = "customer"
	c.id(path, "id", cu.ID, matchCustomerID,
		"must be 1 to 40 letters, digits, '_' or '-', starting with a letter or digit")
	c.text(path, "name", cu.Name, false, MaxNameRunes, false)
}

// account checks the account at path (a constant such as "backup.account").
func (c *checker) account(path string, a *Account, needKindAndPlan bool) {
	c.id(path, "id", a.ID, matchAccountID,
		"must be 1 to 64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit")
	c.text(path, "name", a.Name, false, MaxNameRunes, false)
	enum(c, path, "kind", a.Kind, AccountKinds, needKindAndPlan)
	enum(c, path, "plan", a.Plan, Plans, needKindAndPlan)
}

func (c *checker) backup(b *BackupCompleted) {
	const path = "backup"
	c.account(path+".account", &b.Account, true)
	enum(c, path, "result", b.Result, BackupResults, true)
	if b.StartedAt != nil {
		c.time(path, "startedAt", *b.StartedAt, true)
	}
	c.time(path, "endedAt", b.EndedAt, true)
	c.gb(path, "onlineGB", b.OnlineGB)
	c.gb(path, "localGB", b.LocalGB)
	c.text(path, "message", b.Message, false, MaxMessageRunes, true)
}

func (c *checker) status(s *ServiceStatus) {
	const path = "status"
	enum(c, path, "service", s.Service, Services, true)
	enum(c, path, "health", s.Health, Healths, true)
	if s.Account != nil {
		c.account(path+".account", s.Account, false)
	}
	c.text(path, "message", s.Message, false, MaxMessageRunes, true)
}

func (c *checker) notification(n *Notification) {
	const path = "notification"
	enum(c, path, "kind", n.Kind, NotificationKinds, true)
	enum(c, path, "severity", n.Severity, Severities, true)
	if n.State == "" {
		n.State = StateRaised
	}
	enum(c, path, "state", n.State, NotificationStates, true)
	if n.Account != nil {
		c.account(path+".account", n.Account, false)
	}
	c.text(path, "message", n.Message, true, MaxMessageRunes, true)
	c.details(path+".details", n.Details)
}

func (c *checker) details(path string, d map[string]string) {
	if len(d) > MaxDetails {
		c.fail(path, "", "must have at most "+strconv.Itoa(MaxDetails)+" entries")
		return
	}
	// The problem reported is that of the first key in sorted order (the
	// same every time); sort only when there is one.
	bad := false
	for k, v := range d {
		var one checker
		one.detail(path, k, v)
		if one.err != nil {
			bad = true
			break
		}
	}
	if !bad {
		return
	}
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		c.detail(path, k, d[k])
	}
}

// detail checks one entry of notification.details (at path).
func (c *checker) detail(path, k, v string) {
	switch {
	case k == "":
		c.fail(path, "", "keys must not be empty")
	case !utf8.ValidString(k):
		c.fail(path, "", "keys must be valid UTF-8")
	case hasControl(k, false):
		c.fail(path, "", "keys must not contain control characters")
	case utf8.RuneCountInString(k) > MaxDetailKeyRunes:
		c.fail(path, "", "keys must be at most "+strconv.Itoa(MaxDetailKeyRunes)+" characters")
	default:
		c.text(path, k, v, false, MaxDetailValueRunes, false)
	}
}

func (c *checker) usage(u *UsageSnapshot) {
	const path = "usage"
	counters := [...]struct {
		name string
		v    *int
	}{
		{"archivingMailboxes", u.ArchivingMailboxes},
		{"filteringMailboxes", u.FilteringMailboxes},
		{"shadowProtectServers", u.ShadowProtectServers},
		{"shadowProtectDesktops", u.ShadowProtectDesktops},
	}
	seen := false
	for _, k := range counters {
		if k.v == nil {
			continue
		}
		seen = true
		switch {
		case *k.v < 0:
			c.fail(path, k.name, "must not be negative")
		case *k.v >= MaxCount:
			c.fail(path, k.name, "must be below "+strconv.Itoa(MaxCount))
		}
	}
	if !seen {
		c.fail(path, "", "needs at least one counter (archivingMailboxes, filteringMailboxes, shadowProtectServers or shadowProtectDesktops)")
	}
}

// removal checks the removal data of an event of type t (account.removed or
// customer.removed).
func (c *checker) removal(t Type, r *Removal) {
	const path = "removal"
	switch {
	case t == TypeAccountRemoved && r.Account == nil:
		c.fail(path, "account", "required for type "+string(t))
	case t == TypeCustomerRemoved && r.Account != nil:
		c.fail(path, "account", "not allowed for type "+string(t)+" (the whole customer is removed; use account.removed for one account)")
	case r.Account != nil:
		c.account(path+".account", r.Account, false)
	}
	c.text(path, "reason", r.Reason, false, MaxMessageRunes, true)
}

// id checks a required identifier against its pattern (match).
func (c *checker) id(parent, key, v string, match func(string) bool, problem string) {
	switch {
	case v == "":
		c.fail(parent, key, "required")
	case !match(v):
		c.fail(parent, key, problem)
	}
}

// enum checks that v is one of allowed (or empty when not required).
func enum[T ~string](c *checker, parent, key string, v T, allowed []T, required bool) {
	switch {
	case v == "" && required:
		c.fail(parent, key, "required")
	case v != "" && !slices.Contains(allowed, v):
		c.fail(parent, key, oneOfProblem(allowed))
	}
}

// text checks a string: valid UTF-8, no control characters (newline and tab
// are allowed when multiline), at most max characters.
func (c *checker) text(parent, key, v string, required bool, max int, multiline bool) {
	switch {
	case v == "":
		if required {
			c.fail(parent, key, "required")
		}
	case !utf8.ValidString(v):
		c.fail(parent, key, "must be valid UTF-8")
	case hasControl(v, multiline):
		if multiline {
			c.fail(parent, key, "must not contain control characters other than newline and tab")
		} else {
			c.fail(parent, key, "must not contain control characters")
		}
	case utf8.RuneCountInString(v) > max:
		c.fail(parent, key, "must be at most "+strconv.Itoa(max)+" characters")
	}
}

// hasControl reports whether s holds a control character (U+0000–U+001F,
// U+007F–U+009F), newline and tab excepted when multiline.
func hasControl(s string, multiline bool) bool {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			if multiline && (r == '\n' || r == '\t') {
				continue
			}
			return true
		}
	}
	return false
}

// time checks a time: set, and written with a year from MinYear to 9999 (the
// year in its own time zone, as the JSON text shows it).
func (c *checker) time(parent, key string, t time.Time, required bool) {
	switch {
	case t.IsZero():
		if required {
			c.fail(parent, key, "required")
		}
	case t.Year() < MinYear || t.Year() > 9999:
		c.fail(parent, key, fmt.Sprintf("must be a time from year %d to 9999", MinYear))
	default:
		if _, off := t.Zone(); off%60 != 0 || off <= -24*3600 || off >= 24*3600 {
			c.fail(parent, key, "must have a time zone offset of whole minutes under 24 hours")
		}
	}
}

// gb checks a GB figure.
func (c *checker) gb(parent, key string, v float64) {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		c.fail(parent, key, "must be a finite number")
	case v < 0:
		c.fail(parent, key, "must not be negative")
	case v >= MaxGB:
		c.fail(parent, key, "must be below 10000000")
	}
}
