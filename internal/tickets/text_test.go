package tickets

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/efs-cw/backupbridge/internal/connectwise"
	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/managedid"
)

// hostile reports the first character of s that must not reach
// ConnectWise: a control character other than \n and \t (in a summary, any),
// a format character other than the joiners, a line or paragraph separator.
func hostile(s string, line bool) (rune, bool) {
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t':
			if line {
				return r, true
			}
		case unicode.IsControl(r), r == '\u2028', r == '\u2029',
			unicode.Is(unicode.Cf, r) && r != '\u200c' && r != '\u200d':
			return r, true
		}
	}
	return 0, false
}

// checkSummary checks the limits every summary keeps: at most MaxSummary
// UTF-16 code units (ConnectWise's count), so at most MaxSummary runes;
// valid UTF-8; one clean line. Bytes are deliberately not limited.
func checkSummary(t *testing.T, name, s string) {
	t.Helper()
	if n := connectwise.TextLen(s); n > MaxSummary {
		t.Errorf("%s: summary %q has %d UTF-16 code units, more than %d", name, s, n, MaxSummary)
	}
	if n := utf8.RuneCountInString(s); n > MaxSummary {
		t.Errorf("%s: summary %q has %d characters", name, s, n)
	}
	if !utf8.ValidString(s) {
		t.Errorf("%s: summary %q is not valid UTF-8", name, s)
	}
	if r, bad := hostile(s, true); bad {
		t.Errorf("%s: summary %q holds %U", name, s, r)
	}
}

func TestSummarySaysWhatWhereWhoAndFits(t *testing.T) {
	long := func(s string, n int) string { return strings.Repeat(s, n) }
	cases := []struct {
		name     string
		customer string
		company  string
		sig      Signal
		want     string // exact, unless prefix/suffix are set
		prefix   string // the summary starts with it, then …
		who      string // the part after " – " starts with it (cut: ends with …)
		whoCut   bool
	}{
		{name: "short", customer: "Acme Dental", sig: Signal{Fault: "backup_failure", Headline: "Backup failed", Account: &contract.Account{ID: "SRV01", Name: "File server"}},
			want: "Backup failed: File server – Acme Dental"},
		{name: "account without a name uses its id", customer: "Acme Dental", sig: Signal{Fault: "no_backup", Headline: "No backup", Account: &contract.Account{ID: "SRV01"}},
			want: "No backup: SRV01 – Acme Dental"},
		{name: "customer-wide", customer: "Birch Legal", sig: Signal{Fault: "disk_usage", Headline: "Disk usage over threshold"},
			want: "Disk usage over threshold – Birch Legal"},
		{name: "no customer name: the company's", company: "Cedar Clinic", sig: Signal{Fault: "archiving_failure", Headline: "Archiving failed"},
			want: "Archiving failed – Cedar Clinic"},
		{name: "no headline: the fault kind in words", customer: "Acme", sig: Signal{Fault: "service_email_archiving"},
			want: "service email archiving – Acme"},
		{name: "no name at all", sig: Signal{Fault: "backup_failure", Headline: "Backup failed"},
			want: "Backup failed"},

		// hostile characters
		{name: "RTL override in the customer", customer: "Acme\u202eexe.txt Dental", sig: Signal{Headline: "Backup failed", Account: &contract.Account{ID: "SRV01"}},
			want: "Backup failed: SRV01 – Acmeexe.txt Dental"},
		{name: "line separator, NUL, newline, tab", customer: "Acme\u2028Dental\x00\r\n\tLtd", sig: Signal{Headline: "Backup\tfailed", Account: &contract.Account{ID: "SRV01", Name: "File\nserver\u2029"}},
			want: "Backup failed: File server – Acme Dental Ltd"},
		{name: "zero-width, BOM, isolates", customer: "\ufeffAcme\u200b\u2066 Dental\u2069", sig: Signal{Headline: "Backup failed", Account: &contract.Account{ID: "SRV01"}},
			want: "Backup failed: SRV01 – Acme Dental"},
		{name: "names of only hostile characters fall back", customer: "\u202e\u200b\x00", company: "Cedar Clinic", sig: Signal{Headline: "Backup failed", Account: &contract.Account{ID: "SRV01", Name: "\u2028\u202e"}},
			want: "Backup failed: SRV01 – Cedar Clinic"},

		// long names: both parts are kept, each shortened fairly
		{name: "300-character customer", customer: long("Zahnärztliche Praxis Müller ", 11), sig: Signal{Headline: "Backup failed", Account: &contract.Account{ID: "SRV01", Name: "File server"}},
			prefix: "Backup failed: File server – ", who: "Zahnärztliche Praxis Müller Zahnärztliche", whoCut: true},
		{name: "300-character account", customer: "Acme Dental", sig: Signal{Headline: "Backup failed", Account: &contract.Account{ID: "SRV01", Name: long("x", 300)}},
			prefix: "Backup failed: xxxxxxxxxx", who: "Acme Dental"},
		{name: "both 300 characters", customer: long("C", 300), sig: Signal{Headline: "Backup failed", Account: &contract.Account{ID: "SRV01", Name: long("A", 300)}},
			prefix: "Backup failed: AAAA", who: long("C", 47), whoCut: true},
		{name: "emoji (2 code units each)", customer: long("🦷", 40), sig: Signal{Headline: "Backup failed", Account: &contract.Account{ID: "SRV01", Name: long("💾", 40)}},
			prefix: "Backup failed: 💾💾", who: "🦷🦷🦷", whoCut: true},
		{name: "CJK names: more than 100 bytes, at most 100 characters", customer: long("数据备份", 10), sig: Signal{Headline: "Backup failed", Account: &contract.Account{ID: "SRV01", Name: "文件服务器"}},
			want: "Backup failed: 文件服务器 – " + long("数据备份", 10)},
	}
	for _, c := range cases {
		o := &op{ev: &contract.Event{Customer: contract.Customer{ID: "1001", Name: c.customer}}, sig: c.sig}
		got := o.summary(managedid.Company{Name: c.company})
		checkSummary(t, c.name, got)
		if c.prefix == "" {
			if got != c.want {
				t.Errorf("%s: summary = %q, want %q", c.name, got, c.want)
			}
			continue
		}
		what, who, ok := strings.Cut(got, summarySep)
		if !ok || !strings.HasPrefix(got, c.prefix) || !strings.HasPrefix(who, c.who) || strings.HasSuffix(who, "…") != c.whoCut {
			t.Errorf("%s: summary = %q: want it to start with %q and its customer part with %q (cut %v)", c.name, got, c.prefix, c.who, c.whoCut)
		}
		// fair shares: a part that was cut kept at least its share
		room := MaxSummary - connectwise.TextLen(summarySep)
		if strings.HasSuffix(what, "…") && connectwise.TextLen(what) < room-room/2-1 {
			t.Errorf("%s: the what part %q kept less than its share", c.name, what)
		}
		if strings.HasSuffix(who, "…") && connectwise.TextLen(who) < room/2-1 {
			t.Errorf("%s: the customer part %q kept less than its share", c.name, who)
		}
	}
	// the explicit decision: bytes are not limited
	o := &op{ev: &contract.Event{Customer: contract.Customer{Name: strings.Repeat("数据备份", 10)}}, sig: Signal{Headline: "Backup failed"}}
	if s := o.summary(managedid.Company{}); len(s) <= MaxSummary || connectwise.TextLen(s) > MaxSummary {
		t.Errorf("CJK summary %q: %d bytes, %d code units: want more than 100 bytes kept within 100 characters", s, len(s), connectwise.TextLen(s))
	}
}

// TestFitSummaryAtEveryLength: for every pair of part lengths, the summary
// fits, keeps both parts and gives each its fair share.
func TestFitSummaryAtEveryLength(t *testing.T) {
	room := MaxSummary - connectwise.TextLen(summarySep)
	for _, unit := range []string{"a", "é", "😀"} {
		for lw := 1; lw <= 130; lw += 3 {
			for lc := 1; lc <= 130; lc += 3 {
				what, who := strings.Repeat(unit, lw), strings.Repeat(unit, lc)
				s := fitSummary(what, who)
				checkSummary(t, "fitSummary", s)
				w, c, ok := strings.Cut(s, summarySep)
				if !ok || w == "" || c == "" {
					t.Fatalf("fitSummary(%d×%q, %d×%q) = %q: a part is missing", lw, unit, lc, unit, s)
				}
				lW, lC := connectwise.TextLen(what), connectwise.TextLen(who)
				wantW := min(lW, max(room-room/2, room-lC))
				wantC := min(lC, max(room/2, room-lW))
				// a cut part may lose one more unit: a 2-unit character
				// does not fit the room left before the ellipsis
				if gw := connectwise.TextLen(w); gw < wantW-1 || gw > wantW {
					t.Fatalf("fitSummary(%d×%q, %d×%q) = %q: what has %d units, want %d", lw, unit, lc, unit, s, gw, wantW)
				}
				if gc := connectwise.TextLen(c); gc < wantC-1 || gc > wantC {
					t.Fatalf("fitSummary(%d×%q, %d×%q) = %q: who has %d units, want %d", lw, unit, lc, unit, s, gc, wantC)
				}
			}
		}
	}
}

func TestForCW(t *testing.T) {
	in := "Backup failed\u202e\r\nBackup engine: VSS\u2028error\x00 \tcode 5\u200b\n\ufeffdone"
	if got, want := forCW(in, bodyField), "Backup failed\nBackup engine: VSS\nerror \tcode 5\ndone"; got != want {
		t.Errorf("body: %q, want %q", got, want)
	}
	if got, want := forCW(in, summaryField), "Backup failed Backup engine: VSS error code 5 done"; got != want {
		t.Errorf("summary: %q, want %q", got, want)
	}
	if got := forCW(strings.Repeat("😀", 80), summaryField); connectwise.TextLen(got) > MaxSummary {
		t.Errorf("summary of %d code units", connectwise.TextLen(got))
	}
}

func TestSearchKeyIsInTheSummary(t *testing.T) {
	for _, c := range []struct{ summary, headline, want string }{
		{"Backup failed: SRV01 – Acme", "Backup failed", "Backup failed"},
		{"Backup failed: SRV01 – Acme", "Backup\u202e failed", "Backup failed"},
		{"Service email archiving fa… – Acme", "Service email archiving failed", "Service email archiving fa"},
		{"x – Acme", "", ""},
	} {
		if got := searchKey(c.summary, c.headline); got != c.want {
			t.Errorf("searchKey(%q, %q) = %q, want %q", c.summary, c.headline, got, c.want)
		}
	}
}
