package tickets

import (
	"regexp"
	"strings"
	"testing"
)

var xrefShape = regexp.MustCompile(`^efs:[0-9a-f]{20}:[1-9][0-9]*$`)

func TestFaultKeyXRefIsShortAndStable(t *testing.T) {
	k := FaultKey{PartnerID: "demo", CustomerID: "1001", AccountID: "ACME-SRV01", Kind: "backup_failure"}
	// Pinned: tickets already in ConnectWise carry this reference. If it
	// changed, a lost create could no longer be found and would be duplicated.
	if got := k.XRef(1); got != "efs:0cd6b21621203d1cda52:1" {
		t.Fatalf("XRef(1) = %q; the reference of an existing fault must never change", got)
	}
	// An equal key built apart (as each worker builds its own from the
	// event) has the same references.
	same := FaultKey{PartnerID: "demo", CustomerID: "1001", AccountID: "ACME-SRV01", Kind: "backup_failure"}
	if k.XRef(1) != same.XRef(1) || k.XRef(7) != same.XRef(7) || k.Ref() != same.Ref() {
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
