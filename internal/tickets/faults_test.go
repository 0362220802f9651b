package tickets

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/managedid"
)

var xrefShape = regexp.MustCompile(`^efs:[0-9a-f]{20}:[1-9][0-9]*$`)

func TestFaultKeyXRefIsShortAndStable(t *testing.T) {
	k := FaultKey{PartnerID: "demo", CustomerID: "1001", AccountID: "ACME-SRV01", Kind: "backup_failure"}
	// Pinned: tickets already in ConnectWise carry this reference. If it
	// changed, a lost create could no longer be found and would be duplicated.
	if got := k.XRef(1); got != "efs:0cd6b21621203d1cda52:1" {
		t.Fatalf("XRef(1) = %q; the reference of an existing fault must never change", got)
	}
	if k.XRef(1) != k.XRef(1) || k.Ref() != (FaultKey{"demo", "1001", "ACME-SRV01", "backup_failure"}).Ref() {
		t.Fatal("XRef is not a function of the key")
	}
	if k.XRef(1) == k.XRef(2) {
		t.Fatal("two tickets of a fault share a reference")
	}

	// The longest ids the contract and the partner model allow.
	long := FaultKey{
		PartnerID:  strings.Repeat("p", 40),
		CustomerID: strings.Repeat("C", 40),
		AccountID:  strings.Repeat("a.", 32),
		Kind:       FaultKind("service_" + strings.Repeat("s", 60)),
	}
	seen := map[string]FaultKey{}
	for _, key := range []FaultKey{
		k, long,
		{PartnerID: "demo", CustomerID: "1001", AccountID: "*", Kind: "disk_usage"},
		{PartnerID: "demo", CustomerID: "1001", AccountID: "ACME-SRV01", Kind: "no_backup"},
		{PartnerID: "demo", CustomerID: "1002", AccountID: "ACME-SRV01", Kind: "backup_failure"},
		{PartnerID: "other", CustomerID: "1001", AccountID: "ACME-SRV01", Kind: "backup_failure"},
		{PartnerID: "demo", CustomerID: "1001", AccountID: "ACME-SRV0", Kind: "backup_failure"},
	} {
		for _, seq := range []int{1, 9, 1 << 30} {
			x := key.XRef(seq)
			if len(x) > 100 || !xrefShape.MatchString(x) {
				t.Errorf("XRef(%d) of %s = %q (%d bytes): want efs:<20 hex>:<seq>, at most 100", seq, key, x, len(x))
			}
		}
		if prev, dup := seen[key.Ref()]; dup {
			t.Errorf("faults %s and %s share the reference %s", prev, key, key.Ref())
		}
		seen[key.Ref()] = key
	}
}

func TestTruncateCutsOnACharacterBoundary(t *testing.T) {
	cases := []string{
		"",
		"short",
		strings.Repeat("x", 100),
		strings.Repeat("x", 101),
		strings.Repeat("é", 60),         // 2-byte runes
		strings.Repeat("数据备份", 20),      // 3-byte runes
		strings.Repeat("🗄️💾", 20),       // 4-byte runes and a variation selector
		"x" + strings.Repeat("😀", 30),   // odd offset
		strings.Repeat("ab", 48) + "€€", // the cut falls inside the last rune
	}
	for _, s := range cases {
		got := truncate(s, MaxSummary)
		if len(got) > MaxSummary || !utf8.ValidString(got) {
			t.Errorf("truncate(%q) = %q (%d bytes, valid %v)", s, got, len(got), utf8.ValidString(got))
			continue
		}
		if len(s) <= MaxSummary {
			if got != s {
				t.Errorf("truncate(%q) changed a short string to %q", s, got)
			}
			continue
		}
		kept, ok := strings.CutSuffix(got, "…")
		if !ok || !strings.HasPrefix(s, kept) || len(got) < MaxSummary-3 {
			t.Errorf("truncate(%q) = %q: want a prefix of it, cut at most one rune short of the limit, then …", s, got)
		}
	}
}

func TestSummaryFitsAndSaysWhatWhereWho(t *testing.T) {
	longName := strings.Repeat("Ünïcödé Sérvér ", 6)
	cases := []struct {
		name     string
		customer string
		company  string
		sig      Signal
		want     string // exact, or a prefix when cut
		cut      bool
	}{
		{"short", "Acme Dental", "", Signal{Fault: "backup_failure", Headline: "Backup failed", Account: &contract.Account{ID: "SRV01", Name: "File server"}},
			"Backup failed: File server – Acme Dental", false},
		{"account without a name uses its id", "Acme Dental", "", Signal{Fault: "no_backup", Headline: "No backup", Account: &contract.Account{ID: "SRV01"}},
			"No backup: SRV01 – Acme Dental", false},
		{"customer-wide", "Birch Legal", "", Signal{Fault: "disk_usage", Headline: "Disk usage over threshold"},
			"Disk usage over threshold – Birch Legal", false},
		{"no customer name: the company's", "", "Cedar Clinic", Signal{Fault: "archiving_failure", Headline: "Archiving failed"},
			"Archiving failed – Cedar Clinic", false},
		{"no headline: the fault kind in words", "Acme", "", Signal{Fault: "service_email_archiving"},
			"service email archiving – Acme", false},
		{"long unicode names are cut", strings.Repeat("Zahnärztliche Praxis Müller ", 5), "", Signal{Fault: "backup_failure", Headline: "Backup failed", Account: &contract.Account{ID: "SRV01", Name: longName}},
			"Backup failed: Ünïcödé Sérvér", true},
		{"long emoji names are cut", strings.Repeat("🦷", 40), "", Signal{Fault: "backup_failure", Headline: "Backup failed", Account: &contract.Account{ID: "SRV01", Name: strings.Repeat("💾", 10)}},
			"Backup failed: 💾💾", true},
	}
	for _, c := range cases {
		o := &op{ev: &contract.Event{Customer: contract.Customer{ID: "1001", Name: c.customer}}, sig: c.sig}
		got := o.summary(managedid.Company{Name: c.company})
		if len(got) > MaxSummary || !utf8.ValidString(got) {
			t.Errorf("%s: summary %q is %d bytes (valid UTF-8 %v)", c.name, got, len(got), utf8.ValidString(got))
		}
		switch {
		case c.cut && (!strings.HasPrefix(got, c.want) || !strings.HasSuffix(got, "…")):
			t.Errorf("%s: summary = %q, want it to start with %q and end with …", c.name, got, c.want)
		case !c.cut && got != c.want:
			t.Errorf("%s: summary = %q, want %q", c.name, got, c.want)
		}
	}
}
