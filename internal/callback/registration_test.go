package callback

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// The stored hash matches only its own token, whatever the length or case
// of the one presented.
func TestTokenMatches(t *testing.T) {
	sum := sha256.Sum256([]byte("abc123"))
	r := Registration{TokenHash: hex.EncodeToString(sum[:])}
	for tok, want := range map[string]bool{"abc123": true, "ABC123": false, "abc12": false, "": false, "abc1234": false} {
		if got := r.TokenMatches(tok); got != want {
			t.Errorf("TokenMatches(%q) = %v, want %v", tok, got, want)
		}
	}
	if (Registration{TokenHash: "not hex"}).TokenMatches("abc123") {
		t.Error("an unreadable stored hash matched")
	}
	if got := URLPrefix("https://api.example.com/", "p1"); got != "https://api.example.com/v1/partners/p1/callbacks/" {
		t.Errorf("URLPrefix = %q", got)
	}
}

// The signing key is fetched from the partner's site host only (or its
// ConnectWise cloud API host).
func TestSiteHost(t *testing.T) {
	for _, c := range []struct {
		host, site string
		want       bool
	}{
		{"na.myconnectwise.net", "na.myconnectwise.net", true},
		{"API-NA.myconnectwise.net", "na.myconnectwise.net", true},
		{"api-na.myconnectwise.net.evil.com", "na.myconnectwise.net", false},
		{"evil.com", "na.myconnectwise.net", false},
		{"api-cw.example.com", "cw.example.com", false},
		{"cw.example.com", "cw.example.com", true},
	} {
		if got := siteHost(c.host, c.site); got != c.want {
			t.Errorf("siteHost(%q, %q) = %v, want %v", c.host, c.site, got, c.want)
		}
	}
}
