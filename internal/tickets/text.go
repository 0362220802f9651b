package tickets

import (
	"strings"

	"github.com/efs-cw/backupbridge/internal/connectwise"
)

// MaxSummary is ConnectWise's limit on a ticket summary: 100 characters as
// ConnectWise counts them, in UTF-16 code units (connectwise.TextLen), as
// .NET and SQL Server nvarchar do. A summary of at most MaxSummary code
// units also has at most MaxSummary runes. It may have more than MaxSummary
// bytes: ConnectWise stores Unicode, so limiting bytes would only cut names
// in other scripts short (33 CJK characters) for nothing.
const MaxSummary = 100

// textField is a kind of text field tickets sends to ConnectWise.
type textField int

const (
	// summaryField is one line: a ticket summary.
	summaryField textField = iota
	// bodyField is multi-line: a ticket's initial description, a note, a
	// resolution note.
	bodyField
)

// forCW is the one gate of the text tickets sends to ConnectWise: every
// summary, initial description and note (resolution notes included) goes
// through it just before it is sent. It removes what must not reach a
// technician's screen (connectwise.CleanText: NUL and every other control
// character, bidirectional overrides such as U+202E, zero-width and other
// format characters, invalid UTF-8; U+2028 and U+2029 become \n). A body
// keeps \n and \t; a summary is one line (connectwise.CleanLine: line breaks
// and tabs become a space, white space runs collapse) of at most MaxSummary
// characters, cut with "…".
func forCW(s string, f textField) string {
	if f == summaryField {
		return connectwise.Truncate(connectwise.CleanLine(s), MaxSummary)
	}
	return connectwise.CleanText(s)
}

// summarySep separates what failed from whom it failed for.
const summarySep = " – "

// fitSummary joins what ("Backup failed: File server") and who ("Acme
// Dental") as "what – who" in at most MaxSummary characters. Both parts are
// cleaned first. When they do not fit, both are kept and shortened fairly:
// of the room left by the separator, who gets at least half and what the
// rest (what gets the odd unit); a part shorter than its share gives what
// it does not use to the other. A shortened part ends with "…" and keeps its
// beginning, so the headline always comes first and the customer is never
// dropped. An empty part is left out with the separator.
func fitSummary(what, who string) string {
	what, who = connectwise.CleanLine(what), connectwise.CleanLine(who)
	switch {
	case who == "":
		return forCW(what, summaryField)
	case what == "":
		return forCW(who, summaryField)
	}
	room := MaxSummary - connectwise.TextLen(summarySep)
	lw, lc := connectwise.TextLen(what), connectwise.TextLen(who)
	whoShare := room / 2
	whatShare := room - whoShare
	switch {
	case lw+lc <= room:
	case lw <= whatShare:
		who = connectwise.Truncate(who, room-lw)
	case lc <= whoShare:
		what = connectwise.Truncate(what, room-lc)
	default:
		what, who = connectwise.Truncate(what, whatShare), connectwise.Truncate(who, whoShare)
	}
	return forCW(what+summarySep+who, summaryField)
}

// searchKey is the longest beginning of the cleaned headline that summary
// holds: the text a ticket search by summary looks for. "" when none.
func searchKey(summary, headline string) string {
	key := connectwise.CleanLine(headline)
	for key != "" && !strings.Contains(summary, key) {
		r := []rune(key)
		key = strings.TrimSpace(string(r[:len(r)-1]))
	}
	return key
}
