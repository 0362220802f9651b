package connectwise

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

func TestCleanTextAndLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, text, line string
	}{
		{"plain", "plain", "plain"},
		{"a\r\nb\rc\nd", "a\nb\nc\nd", "a b c d"},
		{"tab\there", "tab\there", "tab here"},
		{"  two  spaces \n\n ", "  two  spaces \n\n ", "two spaces"},
		{"ACME\u202eexe.txt", "ACMEexe.txt", "ACMEexe.txt"},          // RIGHT-TO-LEFT OVERRIDE
		{"a\u2066b\u2069c\u200ed\u200ff\u061cg", "abcdfg", "abcdfg"}, // isolates, marks
		{"line\u2028sep\u2029para\u0085nel", "line\nsep\npara\nnel", "line sep para nel"},
		{"nul\x00bel\x07esc\x1b[0mdel\x7fc1\u009b", "nulbelesc[0mdelc1", "nulbelesc[0mdelc1"},
		{"\ufeffbom zero\u200bwidth soft\u00adhyphen", "bom zerowidth softhyphen", "bom zerowidth softhyphen"},
		{"tag\U000E0041\U000E007F", "tag", "tag"},
		{"bad\xff\xfeutf8", "badutf8", "badutf8"},
		{"non\ufffechar\ufdd0s\U0001FFFF", "nonchars", "nonchars"},
		{"family 👨\u200d👩\u200d👧 نمی\u200cخواهم", "family 👨\u200d👩\u200d👧 نمی\u200cخواهم", "family 👨\u200d👩\u200d👧 نمی\u200cخواهم"},
		{"Zahnärztliche Praxis Müller 数据备份 🗄️", "Zahnärztliche Praxis Müller 数据备份 🗄️", "Zahnärztliche Praxis Müller 数据备份 🗄️"},
	}
	for _, tt := range tests {
		if got := CleanText(tt.in); got != tt.text {
			t.Errorf("CleanText(%q) = %q, want %q", tt.in, got, tt.text)
		}
		if got := CleanLine(tt.in); got != tt.line {
			t.Errorf("CleanLine(%q) = %q, want %q", tt.in, got, tt.line)
		}
	}
	// no input leaves a control or format character behind
	var all strings.Builder
	for r := rune(0); r < 0x30000; r++ {
		if r < 0xD800 || r > 0xDFFF {
			all.WriteRune(r)
		}
	}
	for _, s := range []string{CleanText(all.String()), CleanLine(all.String())} {
		for _, r := range s {
			if r != '\n' && r != '\t' && unicode.IsControl(r) || unicode.Is(unicode.Cf, r) && r != '\u200c' && r != '\u200d' || r == '\u2028' || r == '\u2029' {
				t.Fatalf("%U survived cleaning", r)
			}
		}
	}
	if strings.ContainsAny(CleanLine(all.String()), "\n\t") {
		t.Fatal("CleanLine kept a line break or tab")
	}
}

func TestTruncateCountsUTF16(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"", 5, ""},
		{"hello", 5, "hello"},
		{"hello!", 5, "hell…"},
		{"hello", 0, ""},
		{"hello", 1, "…"},
		{"😀😀😀", 6, "😀😀😀"},         // 6 code units
		{"😀😀😀", 5, "😀😀…"},         // the ellipsis does not split a pair
		{"😀😀😀", 4, "😀…"},          // 2+1: a half emoji never remains
		{"数据备份数据", 4, "数据备…"},     // 3-byte characters count 1
		{"ab \u200dcd", 4, "ab…"}, // no trailing space or joiner before …
	}
	for _, tt := range tests {
		got := Truncate(tt.in, tt.n)
		if got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
		if TextLen(got) > max(tt.n, 0) || !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q: %d code units", tt.in, tt.n, got, TextLen(got))
		}
	}
	for _, s := range []string{"abc", "é", "数", "😀", "🗄️", "a😀b"} {
		if got, want := TextLen(s), len(utf16.Encode([]rune(s))); got != want {
			t.Errorf("TextLen(%q) = %d, want %d", s, got, want)
		}
	}
}
