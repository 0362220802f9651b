package contract

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// ValidationError says which part of an event breaks the contract and how.
// Its text is written for the sender (the webhook returns it in a 400 answer):
// it names the field and the problem and never repeats the offending value.
type ValidationError struct {
	// Field is the JSON path of the offending value, such as
	// "backup.account.plan" or `notification.details["last backup"]`; empty
	// when the body as a whole is at fault (not JSON, not an object, …).
	Field string
	// Problem says what is wrong, such as "required" or "must be one of
	// server, desktop".
	Problem string
}

// Error returns "<field>: <problem>", or the problem alone when Field is empty.
func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Problem
	}
	return e.Field + ": " + e.Problem
}

// maxPathKeyRunes bounds how much of a sender's key a field path repeats.
const maxPathKeyRunes = 32

// joinPath appends key to the JSON path parent. Plain keys are joined with a
// dot; any other key (spaces, dots, long or odd characters) is written as a
// quoted, shortened ["…"] element so that a field path never echoes long or
// unprintable input.
func joinPath(parent, key string) string {
	if plainKey(key) {
		if parent == "" {
			return key
		}
		return parent + "." + key
	}
	if utf8.RuneCountInString(key) > maxPathKeyRunes {
		n := 0
		for i := range key {
			if n == maxPathKeyRunes {
				key = key[:i] + "…"
				break
			}
			n++
		}
	}
	return parent + "[" + strconv.QuoteToASCII(key) + "]"
}

// plainKey reports whether key can be written after a dot in a path: 1 to 64
// ASCII letters, digits, '_' or '-', not starting with a digit or '-'.
func plainKey(key string) bool {
	if key == "" || len(key) > 64 {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case (c >= '0' && c <= '9') || c == '-':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// oneOfProblem is the problem text for a value outside an enumeration.
func oneOfProblem[T ~string](allowed []T) string {
	var b strings.Builder
	b.WriteString("must be one of ")
	for i, a := range allowed {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(a))
	}
	return b.String()
}
