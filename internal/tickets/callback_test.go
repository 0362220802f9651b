package tickets

import "testing"

// ParseXRef takes back the fault reference of an externalXRef this service
// wrote, and nothing else.
func TestParseXRef(t *testing.T) {
	k := FaultKey{PartnerID: "p", CustomerID: "1001", AccountID: "SRV", Kind: "backup_failure"}
	if ref, ok := ParseXRef(k.XRef(3)); !ok || ref != k.Ref() {
		t.Fatalf("ParseXRef(%q) = %q %v, want %q", k.XRef(3), ref, ok, k.Ref())
	}
	for _, x := range []string{"", "efs:", "efs:" + k.Ref(), "efs:" + k.Ref() + ":x", "efs:short:1", "ext:" + k.Ref() + ":1", "TICKET-42"} {
		if ref, ok := ParseXRef(x); ok {
			t.Errorf("ParseXRef(%q) = %q, want not ours", x, ref)
		}
	}
}
