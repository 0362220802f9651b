package cwsim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// This file holds the parser and evaluator of ConnectWise's `conditions`
// query language, as strict as the simulator needs it to be:
//
//	expr       = term { "or" term }
//	term       = factor { "and" factor }
//	factor     = "(" expr ")" | comparison
//	comparison = field op value
//	           | field ["not"] ("like" | "contains") string
//	           | field ["not"] "in" "(" value { "," value } ")"
//	op         = "=" | "!=" | "<" | "<=" | ">" | ">="
//	value      = string | number | "true" | "false" | "null" | date
//	string     = '"' chars without '"' or '\' '"'
//	date       = "[" RFC 3339 time or yyyy-mm-dd "]"
//	field      = name { "/" name }              (company/id, board/name, ...)
//
// Keywords (and, or, not, like, contains, in, true, false, null) are matched
// case-insensitively; field names are case sensitive. "and" binds tighter
// than "or". A string can carry no double quote and no backslash: ConnectWise
// documents no escape, so any value that would need one is refused.
//
// Evaluation follows SQL, which is what ConnectWise runs underneath: string
// comparisons ignore case, `*` is the only wildcard of like, and a field that
// is null matches nothing except `= null` (so `externalXRef != "x"` does not
// match a ticket without an externalXRef).

// condKind is the type of a condition field or literal.
type condKind int

const (
	kindString condKind = iota + 1
	kindNumber
	kindBool
	kindDate
	kindNull
)

func (k condKind) String() string {
	switch k {
	case kindString:
		return "string"
	case kindNumber:
		return "number"
	case kindBool:
		return "boolean"
	case kindDate:
		return "date"
	case kindNull:
		return "null"
	}
	return "unknown"
}

// condField describes one field a resource accepts in conditions: the JSON
// path it reads and the kind of value it holds.
type condField struct {
	path []string
	kind condKind
}

// condSpec maps a condition field name, as a client writes it, to the field.
type condSpec map[string]condField

// newCondSpec builds a spec from "name kind" or "name=json/path kind" lines.
func newCondSpec(lines ...string) condSpec {
	spec := condSpec{}
	for _, line := range lines {
		name, kind, ok := strings.Cut(line, " ")
		if !ok {
			panic("cwsim: bad condition spec line " + line)
		}
		path := name
		if n, p, ok := strings.Cut(name, "="); ok {
			name, path = n, p
		}
		var k condKind
		switch kind {
		case "string":
			k = kindString
		case "number":
			k = kindNumber
		case "bool":
			k = kindBool
		case "date":
			k = kindDate
		default:
			panic("cwsim: bad condition kind " + kind)
		}
		spec[name] = condField{path: strings.Split(path, "/"), kind: k}
	}
	return spec
}

// without returns a copy of the spec lacking the named fields.
func (s condSpec) without(names ...string) condSpec {
	out := make(condSpec, len(s))
	for k, v := range s {
		out[k] = v
	}
	for _, n := range names {
		delete(out, n)
	}
	return out
}

// conditionError is a refused conditions string. Field names the offending
// field when there is one.
type conditionError struct {
	Field string
	Msg   string
}

func (e *conditionError) Error() string { return e.Msg }

func condErrorf(field, format string, args ...any) *conditionError {
	return &conditionError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// condLiteral is one value written in a conditions string.
type condLiteral struct {
	kind condKind
	str  string
	num  float64
	bool bool
	time time.Time
}

// condExpr is a parsed conditions expression.
type condExpr interface {
	// check validates the fields and value kinds against spec and binds the
	// field paths; it must run before eval.
	check(spec condSpec) error
	// eval tells whether the object (a resource as decoded JSON) matches.
	eval(obj map[string]any) bool
}

type condAnd struct{ left, right condExpr }

type condOr struct{ left, right condExpr }

type condCompare struct {
	field  string
	op     string // = != < <= > >= like contains in
	not    bool   // not like, not contains, not in
	values []condLiteral
	pos    int
	bound  condField
}

func (c *condAnd) check(spec condSpec) error {
	if err := c.left.check(spec); err != nil {
		return err
	}
	return c.right.check(spec)
}

func (c *condOr) check(spec condSpec) error {
	if err := c.left.check(spec); err != nil {
		return err
	}
	return c.right.check(spec)
}

func (c *condAnd) eval(obj map[string]any) bool { return c.left.eval(obj) && c.right.eval(obj) }
func (c *condOr) eval(obj map[string]any) bool  { return c.left.eval(obj) || c.right.eval(obj) }

func (c *condCompare) check(spec condSpec) error {
	f, ok := spec[c.field]
	if !ok {
		return condErrorf(c.field, "%s is not a field that can be used in conditions on this resource", c.field)
	}
	c.bound = f
	for _, v := range c.values {
		if v.kind == kindNull {
			if c.op != "=" && c.op != "!=" {
				return condErrorf(c.field, "null can only be compared with = or != (field %s)", c.field)
			}
			continue
		}
		if v.kind != f.kind {
			return condErrorf(c.field, "%s is a %s field and cannot be compared with a %s value", c.field, f.kind, v.kind)
		}
	}
	switch c.op {
	case "like", "contains":
		if f.kind != kindString {
			return condErrorf(c.field, "%s is a %s field: %s needs a string field", c.field, f.kind, c.op)
		}
	case "<", "<=", ">", ">=":
		if f.kind == kindBool {
			return condErrorf(c.field, "%s is a boolean field: %s is not allowed", c.field, c.op)
		}
	}
	return nil
}

func (c *condCompare) eval(obj map[string]any) bool {
	v := lookupPath(obj, c.bound.path)
	if len(c.values) == 1 && c.values[0].kind == kindNull {
		if c.op == "=" {
			return v == nil
		}
		return v != nil
	}
	if v == nil {
		return false // SQL: a comparison with NULL is never true.
	}
	switch c.op {
	case "in":
		found := false
		for _, lit := range c.values {
			if n, ok := compareValue(v, lit); ok && n == 0 {
				found = true
				break
			}
		}
		return found != c.not
	case "like":
		s, ok := v.(string)
		if !ok {
			return false
		}
		return likeMatch(strings.ToLower(c.values[0].str), strings.ToLower(s)) != c.not
	case "contains":
		s, ok := v.(string)
		if !ok {
			return false
		}
		return strings.Contains(strings.ToLower(s), strings.ToLower(c.values[0].str)) != c.not
	}
	n, ok := compareValue(v, c.values[0])
	if !ok {
		return false
	}
	switch c.op {
	case "=":
		return n == 0
	case "!=":
		return n != 0
	case "<":
		return n < 0
	case "<=":
		return n <= 0
	case ">":
		return n > 0
	case ">=":
		return n >= 0
	}
	return false
}

// lookupPath walks a decoded JSON object along path; a missing step is nil.
func lookupPath(obj map[string]any, path []string) any {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// compareValue compares a decoded JSON value with a literal, ignoring case
// for strings. ok is false when they cannot be compared.
func compareValue(v any, lit condLiteral) (int, bool) {
	switch lit.kind {
	case kindString:
		s, ok := v.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(strings.ToLower(s), strings.ToLower(lit.str)), true
	case kindNumber:
		f, ok := v.(float64)
		if !ok {
			return 0, false
		}
		switch {
		case f < lit.num:
			return -1, true
		case f > lit.num:
			return 1, true
		}
		return 0, true
	case kindBool:
		b, ok := v.(bool)
		if !ok {
			return 0, false
		}
		if b == lit.bool {
			return 0, true
		}
		return 1, true
	case kindDate:
		s, ok := v.(string)
		if !ok {
			return 0, false
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return 0, false
		}
		return t.Compare(lit.time), true
	}
	return 0, false
}

// likeMatch matches s against pattern where `*` stands for any run of
// characters (possibly empty). Both are already lower-cased.
func likeMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, last)
}

// parseConditions parses a conditions string. It checks the grammar only;
// call check on the result to validate field names and value kinds.
func parseConditions(src string) (condExpr, error) {
	toks, err := lexConditions(src)
	if err != nil {
		return nil, err
	}
	p := &condParser{toks: toks}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, condErrorf("", "unexpected %q at position %d of conditions", t.text, t.pos+1)
	}
	return e, nil
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokNumber
	tokDate
	tokOp
	tokLParen
	tokRParen
	tokComma
)

type condToken struct {
	kind tokKind
	text string // identifier, operator, the unquoted string, the number or date text
	pos  int
}

func isIdentStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }
func isIdentPart(r rune) bool {
	return r == '_' || r == '/' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

func lexConditions(src string) ([]condToken, error) {
	var toks []condToken
	i := 0
	for i < len(src) {
		r, w := utf8.DecodeRuneInString(src[i:])
		switch {
		case unicode.IsSpace(r):
			i += w
		case r == '(':
			toks = append(toks, condToken{tokLParen, "(", i})
			i++
		case r == ')':
			toks = append(toks, condToken{tokRParen, ")", i})
			i++
		case r == ',':
			toks = append(toks, condToken{tokComma, ",", i})
			i++
		case r == '"':
			end := strings.IndexByte(src[i+1:], '"')
			if end < 0 {
				return nil, condErrorf("", "unterminated string starting at position %d of conditions", i+1)
			}
			s := src[i+1 : i+1+end]
			if strings.ContainsRune(s, '\\') {
				return nil, condErrorf("", "a backslash in a string (position %d) is not supported: ConnectWise conditions have no escapes", i+1)
			}
			toks = append(toks, condToken{tokString, s, i})
			i += end + 2
		case r == '\'':
			return nil, condErrorf("", "strings in conditions take double quotes, not single quotes (position %d)", i+1)
		case r == '[':
			end := strings.IndexByte(src[i:], ']')
			if end < 0 {
				return nil, condErrorf("", "unterminated date starting at position %d of conditions", i+1)
			}
			toks = append(toks, condToken{tokDate, strings.TrimSpace(src[i+1 : i+end]), i})
			i += end + 1
		case r == '=':
			toks = append(toks, condToken{tokOp, "=", i})
			i++
		case r == '!' || r == '<' || r == '>':
			op := string(r)
			if i+1 < len(src) && src[i+1] == '=' {
				op += "="
			}
			if op == "!" {
				return nil, condErrorf("", "unexpected ! at position %d of conditions (use != or not)", i+1)
			}
			if op == "<" && i+1 < len(src) && src[i+1] == '>' {
				return nil, condErrorf("", "<> is not an operator of ConnectWise conditions (use !=), position %d", i+1)
			}
			toks = append(toks, condToken{tokOp, op, i})
			i += len(op)
		case r == '-' || (r >= '0' && r <= '9'):
			j := i + 1
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.') {
				j++
			}
			text := src[i:j]
			if j < len(src) {
				if next, _ := utf8.DecodeRuneInString(src[j:]); isIdentPart(next) {
					return nil, condErrorf("", "malformed number at position %d of conditions", i+1)
				}
			}
			if _, err := strconv.ParseFloat(text, 64); err != nil || strings.HasSuffix(text, ".") {
				return nil, condErrorf("", "malformed number %q at position %d of conditions", text, i+1)
			}
			toks = append(toks, condToken{tokNumber, text, i})
			i = j
		case isIdentStart(r):
			j := i + w
			for j < len(src) {
				r2, w2 := utf8.DecodeRuneInString(src[j:])
				if !isIdentPart(r2) {
					break
				}
				j += w2
			}
			toks = append(toks, condToken{tokIdent, src[i:j], i})
			i = j
		default:
			return nil, condErrorf("", "unexpected character %q at position %d of conditions", r, i+1)
		}
	}
	toks = append(toks, condToken{tokEOF, "end of conditions", len(src)})
	return toks, nil
}

type condParser struct {
	toks []condToken
	i    int
}

func (p *condParser) peek() condToken { return p.toks[p.i] }

func (p *condParser) next() condToken {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *condParser) isKeyword(t condToken, kw string) bool {
	return t.kind == tokIdent && strings.EqualFold(t.text, kw)
}

func (p *condParser) parseOr() (condExpr, error) {
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.isKeyword(p.peek(), "or") {
		p.next()
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		left = &condOr{left, right}
	}
	return left, nil
}

func (p *condParser) parseAnd() (condExpr, error) {
	left, err := p.parseFactor()
	if err != nil {
		return nil, err
	}
	for p.isKeyword(p.peek(), "and") {
		p.next()
		right, err := p.parseFactor()
		if err != nil {
			return nil, err
		}
		left = &condAnd{left, right}
	}
	return left, nil
}

func (p *condParser) parseFactor() (condExpr, error) {
	if p.peek().kind == tokLParen {
		p.next()
		e, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if t := p.next(); t.kind != tokRParen {
			return nil, condErrorf("", "expected ) at position %d of conditions, found %q", t.pos+1, t.text)
		}
		return e, nil
	}
	return p.parseComparison()
}

var condKeywords = map[string]bool{
	"and": true, "or": true, "not": true, "like": true, "contains": true,
	"in": true, "true": true, "false": true, "null": true,
}

func (p *condParser) parseComparison() (condExpr, error) {
	ft := p.next()
	if ft.kind != tokIdent || condKeywords[strings.ToLower(ft.text)] {
		return nil, condErrorf("", "expected a field name at position %d of conditions, found %q", ft.pos+1, ft.text)
	}
	if strings.HasPrefix(ft.text, "/") || strings.HasSuffix(ft.text, "/") || strings.Contains(ft.text, "//") {
		return nil, condErrorf(ft.text, "malformed field name %q", ft.text)
	}
	c := &condCompare{field: ft.text, pos: ft.pos}
	ot := p.next()
	switch {
	case ot.kind == tokOp:
		c.op = ot.text
	case p.isKeyword(ot, "not"):
		nt := p.next()
		if !p.isKeyword(nt, "like") && !p.isKeyword(nt, "contains") && !p.isKeyword(nt, "in") {
			return nil, condErrorf(c.field, "expected like, contains or in after not at position %d of conditions", nt.pos+1)
		}
		c.not = true
		c.op = strings.ToLower(nt.text)
	case p.isKeyword(ot, "like"), p.isKeyword(ot, "contains"), p.isKeyword(ot, "in"):
		c.op = strings.ToLower(ot.text)
	default:
		return nil, condErrorf(c.field, "expected an operator after %s at position %d of conditions, found %q", c.field, ot.pos+1, ot.text)
	}
	if c.op == "in" {
		if t := p.next(); t.kind != tokLParen {
			return nil, condErrorf(c.field, "expected ( after in at position %d of conditions", t.pos+1)
		}
		for {
			v, err := p.parseLiteral()
			if err != nil {
				return nil, err
			}
			if v.kind == kindNull {
				return nil, condErrorf(c.field, "null is not allowed in an in list (field %s)", c.field)
			}
			c.values = append(c.values, v)
			t := p.next()
			if t.kind == tokRParen {
				break
			}
			if t.kind != tokComma {
				return nil, condErrorf(c.field, "expected , or ) in the in list at position %d of conditions", t.pos+1)
			}
		}
		return c, nil
	}
	v, err := p.parseLiteral()
	if err != nil {
		return nil, err
	}
	if (c.op == "like" || c.op == "contains") && v.kind != kindString {
		return nil, condErrorf(c.field, "%s needs a quoted string (field %s)", c.op, c.field)
	}
	c.values = []condLiteral{v}
	return c, nil
}

func (p *condParser) parseLiteral() (condLiteral, error) {
	t := p.next()
	switch t.kind {
	case tokString:
		return condLiteral{kind: kindString, str: t.text}, nil
	case tokNumber:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return condLiteral{}, condErrorf("", "malformed number %q at position %d of conditions", t.text, t.pos+1)
		}
		return condLiteral{kind: kindNumber, num: f}, nil
	case tokDate:
		tm, err := parseCondDate(t.text)
		if err != nil {
			return condLiteral{}, condErrorf("", "malformed date [%s] at position %d of conditions: use [2026-01-31T00:00:00Z]", t.text, t.pos+1)
		}
		return condLiteral{kind: kindDate, time: tm}, nil
	case tokIdent:
		switch strings.ToLower(t.text) {
		case "true":
			return condLiteral{kind: kindBool, bool: true}, nil
		case "false":
			return condLiteral{kind: kindBool, bool: false}, nil
		case "null":
			return condLiteral{kind: kindNull}, nil
		}
		return condLiteral{}, condErrorf("", "expected a value at position %d of conditions, found %q (strings take double quotes)", t.pos+1, t.text)
	}
	return condLiteral{}, condErrorf("", "expected a value at position %d of conditions, found %q", t.pos+1, t.text)
}

func parseCondDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, s)
}
