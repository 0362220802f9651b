package connectwise

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Condition errors, matched with errors.Is. Both are permanent (IsPermanent):
// the same input will be refused again.
var (
	// ErrUnsafeConditionValue: a value holds a double quote, a backslash, a
	// control character (newline included), a line separator or invalid
	// UTF-8, any of which could end the quoted string and add a clause
	// (ConnectWise documents no escaping, so such values are refused, not
	// escaped); or a wildcard '*' or empty text where none is allowed.
	ErrUnsafeConditionValue = errors.New("connectwise: unsafe value in a ConnectWise condition")
	// ErrInvalidCondition: a bad field name, an unsupported value type, or an
	// empty And, Or or In.
	ErrInvalidCondition = errors.New("connectwise: invalid ConnectWise condition")
)

// Condition is one clause of a ConnectWise conditions string, or an And/Or
// of clauses. Build it with Eq, NotEq, Lt, Le, Gt, Ge, Contains, Like,
// LikePrefix, In, And and Or, and turn it into text with Build. Any error
// in a value or field is kept and reported by Build. The zero Condition is
// invalid.
type Condition struct {
	field string
	op    string // "=", "!=", "<", "<=", ">", ">=", "contains", "like", "in", "and", "or"
	value string // the encoded value of a clause
	kids  []Condition
	err   error
}

var (
	fieldRE      = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*$`) })
	reservedWord = map[string]bool{"and": true, "or": true, "not": true, "like": true, "contains": true, "in": true, "null": true, "true": true, "false": true}
)

func clause(field, op string, v any) Condition {
	c := Condition{field: field, op: op}
	if err := checkField(field); err != nil {
		c.err = err
		return c
	}
	c.value, c.err = encodeValue(field, v)
	return c
}

func checkField(field string) error {
	if !fieldRE().MatchString(field) {
		return fmt.Errorf("%w: field name %s is not a ConnectWise field path such as \"company/id\"", ErrInvalidCondition, preview(field))
	}
	for _, seg := range strings.Split(field, "/") {
		if reservedWord[strings.ToLower(seg)] {
			return fmt.Errorf("%w: field name %q uses the reserved word %q", ErrInvalidCondition, field, seg)
		}
	}
	return nil
}

// Eq is field=v: a string in double quotes, an integer bare, true/false,
// a time.Time as [2006-01-02T15:04:05Z] (UTC), nil as null.
func Eq(field string, v any) Condition { return clause(field, "=", v) }

// NotEq is field!=v.
func NotEq(field string, v any) Condition { return clause(field, "!=", v) }

// Lt is field<v (numbers and dates).
func Lt(field string, v any) Condition { return clause(field, "<", v) }

// Le is field<=v.
func Le(field string, v any) Condition { return clause(field, "<=", v) }

// Gt is field>v.
func Gt(field string, v any) Condition { return clause(field, ">", v) }

// Ge is field>=v.
func Ge(field string, v any) Condition { return clause(field, ">=", v) }

// Contains is field contains "s". s must not be empty (that would match
// everything) and must not hold the wildcard '*'.
func Contains(field, s string) Condition {
	c := clause(field, "contains", s)
	if c.err == nil {
		c.err = checkLiteral(field, s)
	}
	return c
}

// Like is field like "pattern", where every '*' in pattern is a wildcard.
// Pass only a pattern the program wrote; for untrusted text use LikePrefix
// (or Contains), which refuse a '*' inside the value.
func Like(field, pattern string) Condition { return clause(field, "like", pattern) }

// LikePrefix is field like "prefix*": everything that starts with prefix.
// prefix must not be empty and must not hold '*' itself.
func LikePrefix(field, prefix string) Condition {
	if err := checkLiteral(field, prefix); err != nil {
		return Condition{field: field, op: "like", err: err}
	}
	return clause(field, "like", prefix+"*")
}

func checkLiteral(field, s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty text for %s would match every record", ErrUnsafeConditionValue, field)
	}
	if strings.Contains(s, "*") {
		return fmt.Errorf("%w: %s value %s holds the wildcard '*'", ErrUnsafeConditionValue, field, preview(s))
	}
	return nil
}

// In is field in (v1,v2,...), each value encoded as for Eq. At least one
// value is required.
func In(field string, values ...any) Condition {
	c := Condition{field: field, op: "in"}
	if c.err = checkField(field); c.err != nil {
		return c
	}
	if len(values) == 0 {
		c.err = fmt.Errorf("%w: In(%q) needs at least one value", ErrInvalidCondition, field)
		return c
	}
	enc := make([]string, len(values))
	for i, v := range values {
		if enc[i], c.err = encodeValue(field, v); c.err != nil {
			return c
		}
	}
	c.value = "(" + strings.Join(enc, ",") + ")"
	return c
}

// And joins conditions with "and"; a nested And or Or is put in
// parentheses. And of one condition is that condition.
func And(conds ...Condition) Condition { return group("and", conds) }

// Or joins conditions with "or"; a nested And or Or is put in parentheses.
func Or(conds ...Condition) Condition { return group("or", conds) }

func group(op string, conds []Condition) Condition {
	if len(conds) == 0 {
		return Condition{op: op, err: fmt.Errorf("%w: %s of no conditions", ErrInvalidCondition, op)}
	}
	if len(conds) == 1 {
		return conds[0]
	}
	return Condition{op: op, kids: append([]Condition(nil), conds...)}
}

// Build returns the conditions string, for example
// `company/id=42 and externalXRef="efs:1" and closedFlag=false`, or the
// first error held by c or its parts (ErrUnsafeConditionValue or
// ErrInvalidCondition). URL-encoding is left to the caller (ListOptions
// encodes its fields).
func Build(c Condition) (string, error) {
	var b strings.Builder
	if err := c.write(&b, ""); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Err returns the error Build would return, without building.
func (c Condition) Err() error {
	if c.err != nil {
		return c.err
	}
	if c.op == "" {
		return fmt.Errorf("%w: empty condition", ErrInvalidCondition)
	}
	for _, k := range c.kids {
		if err := k.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (c Condition) write(b *strings.Builder, parent string) error {
	if c.err != nil {
		return c.err
	}
	switch c.op {
	case "":
		return fmt.Errorf("%w: empty condition", ErrInvalidCondition)
	case "and", "or":
		paren := parent != ""
		if paren {
			b.WriteByte('(')
		}
		for i, k := range c.kids {
			if i > 0 {
				b.WriteString(" " + c.op + " ")
			}
			if err := k.write(b, c.op); err != nil {
				return err
			}
		}
		if paren {
			b.WriteByte(')')
		}
	case "contains", "like", "in":
		b.WriteString(c.field + " " + c.op + " " + c.value)
	default:
		b.WriteString(c.field + c.op + c.value)
	}
	return nil
}

const conditionTime = "2006-01-02T15:04:05Z"

// encodeValue writes a value in ConnectWise's conditions syntax.
func encodeValue(field string, v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "null", nil
	case string:
		return quote(field, x)
	case bool:
		return strconv.FormatBool(x), nil
	case time.Time:
		if x.IsZero() {
			return "", fmt.Errorf("%w: %s: zero time", ErrInvalidCondition, field)
		}
		return "[" + x.UTC().Format(conditionTime) + "]", nil
	case *time.Time:
		if x == nil {
			return "null", nil
		}
		return encodeValue(field, *x)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return quote(field, rv.String())
	case reflect.Bool:
		return strconv.FormatBool(rv.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return "", fmt.Errorf("%w: %s: %v is not a number ConnectWise can compare", ErrInvalidCondition, field, f)
		}
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("%w: %s: unsupported value type %T (use a string, integer, float, bool, time.Time or nil)", ErrInvalidCondition, field, v)
}

// quote puts s in double quotes, refusing anything that could end them.
func quote(field, s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: %s value is not valid UTF-8", ErrUnsafeConditionValue, field)
	}
	for _, r := range s {
		var what string
		switch {
		case r == '"':
			what = "a double quote"
		case r == '\\':
			what = "a backslash"
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			what = "a control character or line break"
		default:
			continue
		}
		return "", fmt.Errorf("%w: %s value %s holds %s", ErrUnsafeConditionValue, field, preview(s), what)
	}
	return `"` + s + `"`, nil
}

// preview quotes at most 40 characters of s for an error message.
func preview(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		r := []rune(s)
		return strconv.Quote(string(r[:40])) + "…"
	}
	return strconv.Quote(s)
}
