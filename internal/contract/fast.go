package contract

import (
	"math"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// parseFast is the fast path of Parse: one pass over body straight into an
// Event, with no tree, no token values and no field paths. It returns the
// event (not yet validated) when body keeps every rule that readValue and
// decodeEvent check, and nil otherwise; it never says why. Parse then reads
// the body again with the tree reader, which refuses it and names the
// field. FuzzParse holds the two readers to the same answer (accepted or
// not, and the same event) on every input.
//
// The strings of the event are substrings of one copy of body (one
// allocation however many fields), except those written with escapes.
func parseFast(body []byte) *Event {
	if !utf8.Valid(body) {
		return nil
	}
	d := fastDecoder{s: string(body)}
	e := d.event()
	if e == nil {
		return nil
	}
	d.ws()
	if d.i != len(d.s) {
		return nil // data after the top-level value
	}
	return e
}

// fastDecoder reads JSON text s from offset i. Every method returns false
// (or nil) at the first thing it does not accept; the decoder is then
// abandoned.
type fastDecoder struct {
	s   string
	i   int
	buf []byte // scratch for unescaping strings
}

// ws skips JSON whitespace.
func (d *fastDecoder) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// tok skips whitespace and consumes c.
func (d *fastDecoder) tok(c byte) bool {
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}

// peek returns the next byte after whitespace (0 at the end).
func (d *fastDecoder) peek() byte {
	d.ws()
	if d.i < len(d.s) {
		return d.s[d.i]
	}
	return 0
}

// object reads an object, calling member for each key with the decoder
// before the key's value; member reads the value. A member of a contract
// object returns false for an unknown or repeated key, as for a value of
// the wrong JSON type.
func (d *fastDecoder) object(member func(key string) bool) bool {
	if !d.tok('{') {
		return false
	}
	if d.tok('}') {
		return true
	}
	for {
		d.ws()
		key, ok := d.str()
		if !ok || !d.tok(':') {
			return false
		}
		if !member(key) {
			return false
		}
		if d.tok(',') {
			continue
		}
		return d.tok('}')
	}
}

// first records key bit in seen and reports whether it was not there yet
// (a key may appear once in an object).
func first(seen *uint32, bit uint32) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// str reads a string value. Without escapes it is a substring of s.
func (d *fastDecoder) str() (string, bool) {
	if d.peek() != '"' {
		return "", false
	}
	start := d.i + 1
	for j := start; j < len(d.s); j++ {
		switch c := d.s[j]; {
		case c == '"':
			d.i = j + 1
			return d.s[start:j], true
		case c == '\\':
			return d.unescape(start, j)
		case c < 0x20:
			return "", false
		}
	}
	return "", false
}

// unescape reads the rest of a string that starts at start and has its
// first escape at j. It decodes as encoding/json does: a \u escape of a
// UTF-16 surrogate that does not pair with the \u escape after it is
// U+FFFD (and the one after it is read on its own).
func (d *fastDecoder) unescape(start, j int) (string, bool) {
	s := d.s
	b := append(d.buf[:0], s[start:j]...)
	for j < len(s) {
		c := s[j]
		switch {
		case c == '"':
			d.i, d.buf = j+1, b
			return string(b), true
		case c < 0x20:
			return "", false
		case c != '\\':
			b = append(b, c)
			j++
			continue
		}
		if j+1 >= len(s) {
			return "", false
		}
		switch s[j+1] {
		case '"', '\\', '/':
			b = append(b, s[j+1])
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(s, j+2)
			if !ok {
				return "", false
			}
			j += 6
			if utf16.IsSurrogate(r) {
				r2, ok := hex4(s, j+2)
				if ok && s[j] == '\\' && s[j+1] == 'u' {
					if r = utf16.DecodeRune(r, r2); r != utf8.RuneError {
						j += 6
					}
				} else {
					r = utf8.RuneError
				}
			}
			b = utf8.AppendRune(b, r)
			continue
		default:
			return "", false
		}
		j += 2
	}
	return "", false
}

// hex4 reads the four hex digits at s[i:].
func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a number and returns its literal.
func (d *fastDecoder) number() (string, bool) {
	s := d.s
	start := d.i
	i := start
	digits := func() bool {
		n := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i > n
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i >= len(s):
		return "", false
	case s[i] == '0':
		i++
	case s[i] >= '1' && s[i] <= '9':
		digits()
	default:
		return "", false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return "", false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return "", false
		}
	}
	d.i = i
	return s[start:i], true
}

// gb reads a GB figure: a number within float64 (Validate checks its range).
func (d *fastDecoder) gb() (float64, bool) {
	if c := d.peek(); c != '-' && (c < '0' || c > '9') {
		return 0, false
	}
	lit, ok := d.number()
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// count reads a usage counter: a whole number from 0 to below MaxCount.
func (d *fastDecoder) count(n *int) bool {
	if c := d.peek(); c != '-' && (c < '0' || c > '9') {
		return false
	}
	lit, ok := d.number()
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) || !wholeNumber(lit) || f < 0 || f >= MaxCount {
		return false // f < 0 is false for -0, which counts as 0
	}
	*n = int(f)
	return true
}

// time reads a date-time (DateTimePattern, a real calendar date).
func (d *fastDecoder) time() (time.Time, bool) {
	s, ok := d.str()
	if !ok || !matchDateTime(s) {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// enumStr reads a string that, when present, must not be empty (see enumStr).
func (d *fastDecoder) enumStr() (string, bool) {
	s, ok := d.str()
	return s, ok && s != ""
}

// The allocations of the data objects, each with what its pointers point to.
type (
	backupData struct {
		b       BackupCompleted
		started time.Time
	}
	statusData struct {
		s ServiceStatus
		a Account
	}
	notificationData struct {
		n Notification
		a Account
	}
	usageData struct {
		u UsageSnapshot
		n [4]int
	}
	removalData struct {
		r Removal
		a Account
	}
)

// event reads the top-level object.
func (d *fastDecoder) event() *Event {
	e := new(Event)
	var seen uint32
	var online, local bool // backup.onlineGB and backup.localGB are present
	ok := d.object(func(key string) bool {
		var ok bool
		switch key {
		case "specVersion":
			ok = first(&seen, 1<<0)
			e.SpecVersion, ok = d.strAnd(ok)
		case "type":
			ok = first(&seen, 1<<1)
			var s string
			s, ok = d.strAnd(ok)
			e.Type = Type(s)
		case "occurredAt":
			ok = first(&seen, 1<<2)
			if ok {
				e.OccurredAt, ok = d.time()
			}
		case "customer":
			ok = first(&seen, 1<<3) && d.customer(&e.Customer)
		case "backup":
			ok = first(&seen, 1<<4)
			if ok {
				e.Backup, online, local, ok = d.backup()
			}
		case "status":
			ok = first(&seen, 1<<5)
			if ok {
				e.Status, ok = d.status()
			}
		case "notification":
			ok = first(&seen, 1<<6)
			if ok {
				e.Notification, ok = d.notification()
			}
		case "usage":
			ok = first(&seen, 1<<7)
			if ok {
				e.Usage, ok = d.usage()
			}
		case "removal":
			ok = first(&seen, 1<<8)
			if ok {
				e.Removal, ok = d.removal()
			}
		}
		return ok
	})
	if !ok {
		return nil
	}
	// decodeEvent requires both GB figures of a backup.completed event.
	if e.Backup != nil && e.Type == TypeBackupCompleted && (!online || !local) {
		return nil
	}
	return e
}

// strAnd reads a string when ok (the key was new).
func (d *fastDecoder) strAnd(ok bool) (string, bool) {
	if !ok {
		return "", false
	}
	return d.str()
}

func (d *fastDecoder) customer(c *Customer) bool {
	var seen uint32
	return d.object(func(key string) bool {
		switch key {
		case "id":
			if first(&seen, 1<<0) {
				var ok bool
				c.ID, ok = d.str()
				return ok
			}
		case "name":
			if first(&seen, 1<<1) {
				var ok bool
				c.Name, ok = d.str()
				return ok
			}
		}
		return false
	})
}

func (d *fastDecoder) account(a *Account) bool {
	var seen uint32
	return d.object(func(key string) bool {
		var s string
		ok := false
		switch key {
		case "id":
			if first(&seen, 1<<0) {
				a.ID, ok = d.str()
			}
		case "name":
			if first(&seen, 1<<1) {
				a.Name, ok = d.str()
			}
		case "kind":
			if first(&seen, 1<<2) {
				s, ok = d.enumStr()
				a.Kind = AccountKind(s)
			}
		case "plan":
			if first(&seen, 1<<3) {
				s, ok = d.enumStr()
				a.Plan = Plan(s)
			}
		}
		return ok
	})
}

func (d *fastDecoder) backup() (b *BackupCompleted, online, local, ok bool) {
	x := new(backupData)
	b = &x.b
	var seen uint32
	ok = d.object(func(key string) bool {
		var s string
		ok := false
		switch key {
		case "account":
			ok = first(&seen, 1<<0) && d.account(&b.Account)
		case "result":
			if first(&seen, 1<<1) {
				s, ok = d.str()
				b.Result = BackupResult(s)
			}
		case "startedAt":
			if first(&seen, 1<<2) {
				x.started, ok = d.time()
				b.StartedAt = &x.started
			}
		case "endedAt":
			if first(&seen, 1<<3) {
				b.EndedAt, ok = d.time()
			}
		case "onlineGB":
			if first(&seen, 1<<4) {
				b.OnlineGB, ok = d.gb()
				online = true
			}
		case "localGB":
			if first(&seen, 1<<5) {
				b.LocalGB, ok = d.gb()
				local = true
			}
		case "message":
			if first(&seen, 1<<6) {
				b.Message, ok = d.str()
			}
		}
		return ok
	})
	return b, online, local, ok
}

func (d *fastDecoder) status() (*ServiceStatus, bool) {
	x := new(statusData)
	st := &x.s
	var seen uint32
	ok := d.object(func(key string) bool {
		var s string
		ok := false
		switch key {
		case "service":
			if first(&seen, 1<<0) {
				s, ok = d.str()
				st.Service = Service(s)
			}
		case "health":
			if first(&seen, 1<<1) {
				s, ok = d.str()
				st.Health = Health(s)
			}
		case "account":
			if first(&seen, 1<<2) {
				st.Account = &x.a
				ok = d.account(&x.a)
			}
		case "message":
			if first(&seen, 1<<3) {
				st.Message, ok = d.str()
			}
		}
		return ok
	})
	return st, ok
}

func (d *fastDecoder) notification() (*Notification, bool) {
	x := new(notificationData)
	n := &x.n
	var seen uint32
	ok := d.object(func(key string) bool {
		var s string
		ok := false
		switch key {
		case "kind":
			if first(&seen, 1<<0) {
				s, ok = d.str()
				n.Kind = NotificationKind(s)
			}
		case "severity":
			if first(&seen, 1<<1) {
				s, ok = d.str()
				n.Severity = Severity(s)
			}
		case "state":
			if first(&seen, 1<<2) {
				s, ok = d.enumStr()
				n.State = NotificationState(s)
			}
		case "account":
			if first(&seen, 1<<3) {
				n.Account = &x.a
				ok = d.account(&x.a)
			}
		case "message":
			if first(&seen, 1<<4) {
				n.Message, ok = d.str()
			}
		case "details":
			if first(&seen, 1<<5) {
				n.Details, ok = d.details()
			}
		}
		return ok
	})
	return n, ok
}

// details reads notification.details: at most MaxDetails strings, none
// repeated; nil when empty.
func (d *fastDecoder) details() (map[string]string, bool) {
	var m map[string]string
	ok := d.object(func(key string) bool {
		if m == nil {
			m = make(map[string]string, 4)
		} else if _, dup := m[key]; dup || len(m) == MaxDetails {
			return false
		}
		v, ok := d.str()
		m[key] = v
		return ok
	})
	return m, ok
}

func (d *fastDecoder) usage() (*UsageSnapshot, bool) {
	x := new(usageData)
	u := &x.u
	var seen uint32
	ok := d.object(func(key string) bool {
		var i int
		var p **int
		switch key {
		case "archivingMailboxes":
			i, p = 0, &u.ArchivingMailboxes
		case "filteringMailboxes":
			i, p = 1, &u.FilteringMailboxes
		case "shadowProtectServers":
			i, p = 2, &u.ShadowProtectServers
		case "shadowProtectDesktops":
			i, p = 3, &u.ShadowProtectDesktops
		default:
			return false
		}
		if !first(&seen, 1<<i) {
			return false
		}
		*p = &x.n[i]
		return d.count(&x.n[i])
	})
	return u, ok
}

func (d *fastDecoder) removal() (*Removal, bool) {
	x := new(removalData)
	r := &x.r
	var seen uint32
	ok := d.object(func(key string) bool {
		ok := false
		switch key {
		case "account":
			if first(&seen, 1<<0) {
				r.Account = &x.a
				ok = d.account(&x.a)
			}
		case "reason":
			if first(&seen, 1<<1) {
				r.Reason, ok = d.str()
			}
		}
		return ok
	})
	return r, ok
}

// matchDateTime reports whether s matches DateTimePattern (TestMatchers
// and FuzzMatchers hold it to the regular expression).
func matchDateTime(s string) bool {
	// 2006-01-02T15:04:05 then a fraction and a zone.
	if len(s) < 20 {
		return false
	}
	digit := func(c byte) bool { return c >= '0' && c <= '9' }
	between := func(c, lo, hi byte) bool { return c >= lo && c <= hi }
	hour := func(h0, h1 byte) bool {
		return (between(h0, '0', '1') && digit(h1)) || (h0 == '2' && between(h1, '0', '3'))
	}
	switch {
	case !between(s[0], '2', '9') || !digit(s[1]) || !digit(s[2]) || !digit(s[3]) || s[4] != '-':
		return false
	case !(s[5] == '0' && between(s[6], '1', '9')) && !(s[5] == '1' && between(s[6], '0', '2')):
		return false
	case s[7] != '-':
		return false
	case !(s[8] == '0' && between(s[9], '1', '9')) && !(between(s[8], '1', '2') && digit(s[9])) && !(s[8] == '3' && between(s[9], '0', '1')):
		return false
	case s[10] != 'T' || !hour(s[11], s[12]) || s[13] != ':':
		return false
	case !between(s[14], '0', '5') || !digit(s[15]) || s[16] != ':' || !between(s[17], '0', '5') || !digit(s[18]):
		return false
	}
	i := 19
	if s[i] == '.' {
		j := i + 1
		for j < len(s) && digit(s[j]) {
			j++
		}
		if n := j - i - 1; n < 1 || n > 9 {
			return false
		}
		i = j
	}
	switch {
	case i >= len(s):
		return false
	case s[i] == 'Z':
		return i+1 == len(s)
	case s[i] == '+' || s[i] == '-':
		z := s[i+1:]
		return len(z) == 5 && hour(z[0], z[1]) && z[2] == ':' && between(z[3], '0', '5') && digit(z[4])
	}
	return false
}

// matchCustomerID reports whether s matches CustomerIDPattern.
func matchCustomerID(s string) bool { return matchID(s, 40, false) }

// matchAccountID reports whether s matches AccountIDPattern.
func matchAccountID(s string) bool { return matchID(s, 64, true) }

// matchID: 1 to max ASCII letters, digits, '_' and '-' (and '.' and ':' when
// account), starting with a letter or digit.
func matchID(s string, max int, account bool) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i == 0:
			return false
		case c == '_' || c == '-':
		case account && (c == '.' || c == ':'):
		default:
			return false
		}
	}
	return true
}
