package connectwise

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Text sent to ConnectWise and text read from its answers into errors goes
// through CleanText or CleanLine, and is cut with Truncate.

// CleanText returns s fit to send to ConnectWise as multi-line text (a
// ticket description or note):
//
//   - invalid UTF-8 is dropped;
//   - line breaks (\r\n, \r, U+0085, U+2028 LINE SEPARATOR, U+2029
//     PARAGRAPH SEPARATOR) become \n; \n and \t are kept;
//   - every other control character (NUL and the rest of C0, DEL, C1) is
//     dropped;
//   - every format character (Unicode category Cf: bidirectional overrides
//     and isolates such as U+202E RIGHT-TO-LEFT OVERRIDE, zero-width spaces,
//     the byte order mark, soft hyphens, tag characters, ...) is dropped,
//     except U+200C and U+200D (zero-width non-joiner and joiner), which
//     scripts and emoji sequences need and which reorder nothing;
//   - noncharacters (U+FFFE, U+FFFF, U+FDD0–U+FDEF, ...) are dropped.
func CleanText(s string) string {
	return cleanText(s, false)
}

// CleanLine is CleanText for single-line text (a ticket summary): line
// breaks and tabs become spaces, runs of white space become one space, and
// leading and trailing white space is trimmed.
func CleanLine(s string) string {
	return cleanText(s, true)
}

func cleanText(s string, line bool) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false // line: a space is pending
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r == utf8.RuneError && size <= 1 {
			continue // invalid UTF-8
		}
		if r == '\r' {
			if i < len(s) && s[i] == '\n' {
				i++
			}
			r = '\n'
		}
		switch {
		case r == '\n' || r == '\u0085' || r == '\u2028' || r == '\u2029':
			r = '\n'
		case r == '\t':
		case dropped(r):
			continue
		}
		if line {
			if unicode.IsSpace(r) {
				space = b.Len() > 0
				continue
			}
			if space {
				b.WriteByte(' ')
				space = false
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

// dropped reports whether CleanText drops r (r is not \n or \t).
func dropped(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r == '\u200c' || r == '\u200d':
		return false
	case unicode.Is(unicode.Cf, r):
		return true
	case r >= 0xFDD0 && r <= 0xFDEF, r&0xFFFE == 0xFFFE:
		return true
	}
	return false
}

// TextLen is the length of s as ConnectWise counts it: in UTF-16 code units,
// as .NET strings and SQL Server nvarchar columns do. It is at least the
// number of characters (runes) of s: a character outside the Basic
// Multilingual Plane, such as most emoji, counts 2.
func TextLen(s string) int {
	n := 0
	for _, r := range s {
		n += max(utf16.RuneLen(r), 1)
	}
	return n
}

// Truncate returns s if TextLen(s) <= n, and otherwise the longest prefix of
// s that, followed by "…", has a TextLen of at most n. It never splits a
// character, and does not end the prefix on a zero-width joiner or white
// space. n < 1 gives "".
func Truncate(s string, n int) string {
	if TextLen(s) <= n {
		return s
	}
	if n < 1 {
		return ""
	}
	room := n - 1 // "…" is one code unit
	cut, used := 0, 0
	for i, r := range s {
		l := max(utf16.RuneLen(r), 1)
		if used+l > room {
			cut = i
			break
		}
		used += l
	}
	kept := strings.TrimRightFunc(s[:cut], func(r rune) bool { return r == '\u200d' || unicode.IsSpace(r) })
	return kept + "…"
}
