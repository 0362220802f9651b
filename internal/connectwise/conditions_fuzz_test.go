package connectwise

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// fuzzOps are the clause constructors the fuzz target drives, by index.
var fuzzOps = []struct {
	op    string // the operator as written in the conditions string
	build func(field, value string) Condition
	want  func(value string) string // the value the clause must compare with
	// literal: '*' and empty text are refused (LikePrefix, Contains)
	literal bool
}{
	{"=", func(f, v string) Condition { return Eq(f, v) }, same, false},
	{"!=", func(f, v string) Condition { return NotEq(f, v) }, same, false},
	{"contains", func(f, v string) Condition { return Contains(f, v) }, same, true},
	{"like", func(f, v string) Condition { return Like(f, v) }, same, false},
	{"like", func(f, v string) Condition { return LikePrefix(f, v) }, func(v string) string { return v + "*" }, true},
	{"<", func(f, v string) Condition { return Lt(f, v) }, same, false},
	{">=", func(f, v string) Condition { return Ge(f, v) }, same, false},
	{"in", func(f, v string) Condition { return In(f, v) }, same, false},
}

func same(v string) string { return v }

// fuzzTail is a clause the untrusted one must not be able to change.
const fuzzTail = " and closedFlag=false"

var tokenField = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*`)

// readClause is a small tokenizer for one clause of ConnectWise's
// conditions grammar: field, operator, and a double-quoted string value
// (no escapes exist, so the value ends at the next '"'), or a one-element
// "in" list. It returns the rest of the input after the clause.
func readClause(s string) (field, op, value, rest string, ok bool) {
	field = tokenField.FindString(s)
	if field == "" {
		return "", "", "", "", false
	}
	s = s[len(field):]
	for _, cand := range []string{"!=", "<=", ">=", "=", "<", ">", " contains ", " like ", " in "} {
		if strings.HasPrefix(s, cand) {
			op, s = strings.TrimSpace(cand), s[len(cand):]
			break
		}
	}
	if op == "" {
		return "", "", "", "", false
	}
	open, close := `"`, `"`
	if op == "in" {
		open, close = `("`, `")`
	}
	if !strings.HasPrefix(s, open) {
		return "", "", "", "", false
	}
	s = s[len(open):]
	end := strings.IndexByte(s, '"')
	if end < 0 || !strings.HasPrefix(s[end:], close) {
		return "", "", "", "", false
	}
	return field, op, s[:end], s[end+len(close):], true
}

// safeForBuild says, independently of the builder, whether a value may be
// quoted: valid UTF-8 with no '"', '\', control character or line separator.
func safeForBuild(v string) bool {
	if !utf8.ValidString(v) {
		return false
	}
	for _, r := range v {
		if r == '"' || r == '\\' || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

func validFieldForBuild(f string) bool {
	if f == "" || tokenField.FindString(f) != f {
		return false
	}
	for _, seg := range strings.Split(f, "/") {
		switch strings.ToLower(seg) {
		case "and", "or", "not", "like", "contains", "in", "null", "true", "false":
			return false
		}
	}
	return true
}

// FuzzConditionString: for any field and value, Build either refuses or
// yields text that reads back as exactly (field, operator, value) followed
// by the untouched fixed clause: untrusted input cannot add a clause.
func FuzzConditionString(f *testing.F) {
	for i := range fuzzOps {
		f.Add("summary", "Backup failed", uint8(i))
	}
	f.Fuzz(func(t *testing.T, field, value string, opIndex uint8) {
		o := fuzzOps[int(opIndex)%len(fuzzOps)]
		got, err := Build(And(o.build(field, value), Eq("closedFlag", false)))
		shouldBuild := validFieldForBuild(field) && safeForBuild(value) &&
			!(o.literal && (value == "" || strings.Contains(value, "*")))
		if err != nil {
			if !errors.Is(err, ErrUnsafeConditionValue) && !errors.Is(err, ErrInvalidCondition) {
				t.Fatalf("Build(%q, %q) failed with an unclassified error: %v", field, value, err)
			}
			if shouldBuild {
				t.Fatalf("Build(%q, %q, %q) refused a safe input: %v", field, o.op, value, err)
			}
			return
		}
		if !shouldBuild {
			t.Fatalf("Build(%q, %q, %q) accepted an unsafe input: %s", field, o.op, value, got)
		}
		gf, gop, gv, rest, ok := readClause(got)
		if !ok {
			t.Fatalf("cannot read back %s", got)
		}
		if gf != field || gop != o.op || gv != o.want(value) || rest != fuzzTail {
			t.Fatalf("Build(%q, %q, %q) = %s, read back as (%q, %q, %q) + %q", field, o.op, value, got, gf, gop, gv, rest)
		}
	})
}
