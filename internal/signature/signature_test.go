package signature

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	now  = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	body = []byte(`{"specVersion":"1.0","type":"usage.snapshot"}`)
)

func mustSecret(t testing.TB, s string) []byte {
	t.Helper()
	k, err := ParseSecret(s)
	if err != nil {
		t.Fatalf("ParseSecret: %v", err)
	}
	return k
}

func ts(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// TestStandardWebhooksVector checks the published example of the Standard
// Webhooks reference libraries, so that any sender library interoperates.
func TestStandardWebhooksVector(t *testing.T) {
	t.Parallel()
	key := mustSecret(t, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	at := time.Unix(1614265330, 0)
	payload := []byte(`{"test": 2432232314}`)
	const want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	if got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", at, payload); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	if err := Verify([][]byte{key}, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", want, payload, at.Add(time.Minute)); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	oldKey := mustSecret(t, NewSecret())
	newKey := mustSecret(t, NewSecret())
	other := mustSecret(t, NewSecret())
	id := "msg_2hV1"
	sigOld := Sign(oldKey, id, now, body)
	sigNew := Sign(newKey, id, now, body)
	sigOther := Sign(other, id, now, body)

	for _, c := range []struct {
		name    string
		secrets [][]byte
		id, ts  string
		header  string
		body    []byte
		want    error
	}{
		{"valid", [][]byte{oldKey}, id, ts(now), sigOld, body, nil},
		{"rotation: receiver holds two secrets, sender signs with the new", [][]byte{oldKey, newKey}, id, ts(now), sigNew, body, nil},
		{"rotation: sender signs with two secrets, receiver holds the old", [][]byte{oldKey}, id, ts(now), sigNew + " " + sigOld, body, nil},
		{"rotation: two secrets, two signatures, one pair matches", [][]byte{other, newKey}, id, ts(now), sigOld + " " + sigNew, body, nil},
		{"unknown version entries are skipped", [][]byte{oldKey}, id, ts(now), "v1a,AAAA v2," + sigOld[3:] + " " + sigOld, body, nil},
		{"extra spaces", [][]byte{oldKey}, id, ts(now), "  " + sigOld + "  ", body, nil},
		{"timestamp 4 minutes old", [][]byte{oldKey}, id, ts(now), sigOld, body, nil},
		{"tampered body", [][]byte{oldKey}, id, ts(now), sigOld, append([]byte(nil), append(body, ' ')...), ErrMismatch},
		{"other id", [][]byte{oldKey}, "msg_other", ts(now), sigOld, body, ErrMismatch},
		{"other timestamp in tolerance", [][]byte{oldKey}, id, ts(now.Add(-time.Second)), sigOld, body, ErrMismatch},
		{"wrong secret", [][]byte{oldKey, newKey}, id, ts(now), sigOther, body, ErrMismatch},
		{"no secrets", nil, id, ts(now), sigOld, body, ErrMismatch},
		{"signature without version", [][]byte{oldKey}, id, ts(now), sigOld[3:], body, ErrMismatch},
		{"only unknown versions", [][]byte{oldKey}, id, ts(now), "v2," + sigOld[3:], body, ErrMismatch},
		{"signature not base64", [][]byte{oldKey}, id, ts(now), "v1,!!!!", body, ErrMismatch},
		{"signature truncated", [][]byte{oldKey}, id, ts(now), sigOld[:len(sigOld)-4], body, ErrMismatch},
		{"signature too long", [][]byte{oldKey}, id, ts(now), sigOld + strings.Repeat("A", 100), body, ErrMismatch},
		{"match beyond the 10th entry is not looked at", [][]byte{oldKey}, id, ts(now), strings.Repeat(sigOther+" ", MaxSignatures) + sigOld, body, ErrMismatch},
		{"missing id", [][]byte{oldKey}, "", ts(now), sigOld, body, ErrMissing},
		{"missing timestamp", [][]byte{oldKey}, id, "", sigOld, body, ErrMissing},
		{"missing signature", [][]byte{oldKey}, id, ts(now), "", body, ErrMissing},
		{"blank signature", [][]byte{oldKey}, id, ts(now), "   ", body, ErrMissing},
		{"id too long", [][]byte{oldKey}, strings.Repeat("i", MaxIDLength+1), ts(now), sigOld, body, ErrMissing},
		{"timestamp in milliseconds beyond range", [][]byte{oldKey}, id, "99999999999999999999", sigOld, body, ErrMissing},
		{"timestamp with a fraction", [][]byte{oldKey}, id, ts(now) + ".5", sigOld, body, ErrMissing},
		{"timestamp negative", [][]byte{oldKey}, id, "-" + ts(now), sigOld, body, ErrMissing},
		{"timestamp RFC 3339", [][]byte{oldKey}, id, now.Format(time.RFC3339), sigOld, body, ErrMissing},
		{"stale: 6 minutes old", [][]byte{oldKey}, id, ts(now.Add(-6 * time.Minute)), Sign(oldKey, id, now.Add(-6*time.Minute), body), body, ErrStale},
		{"stale: 6 minutes ahead", [][]byte{oldKey}, id, ts(now.Add(6 * time.Minute)), Sign(oldKey, id, now.Add(6*time.Minute), body), body, ErrStale},
		{"stale: 1970", [][]byte{oldKey}, id, "0", Sign(oldKey, id, time.Unix(0, 0), body), body, ErrStale},
		{"stale: far future", [][]byte{oldKey}, id, "9223372036854775807", sigOld, body, ErrStale},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			at := now
			if c.name == "timestamp 4 minutes old" {
				at = now.Add(4 * time.Minute)
			}
			err := Verify(c.secrets, c.id, c.ts, c.header, c.body, at)
			if c.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
			for _, secret := range []string{sigOld[3:], sigNew[3:], sigOther[3:]} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q repeats a signature", err)
				}
			}
		})
	}
}

func TestToleranceEdges(t *testing.T) {
	t.Parallel()
	key := mustSecret(t, NewSecret())
	for _, d := range []time.Duration{-Tolerance, Tolerance} {
		at := now.Add(d)
		if err := Verify([][]byte{key}, "m", ts(at), Sign(key, "m", at, body), body, now); err != nil {
			t.Errorf("timestamp %v from now: %v", d, err)
		}
	}
	for _, d := range []time.Duration{-Tolerance - time.Second, Tolerance + time.Second} {
		at := now.Add(d)
		if err := Verify([][]byte{key}, "m", ts(at), Sign(key, "m", at, body), body, now); !errors.Is(err, ErrStale) {
			t.Errorf("timestamp %v from now: %v, want ErrStale", d, err)
		}
	}
}

func TestParseSecret(t *testing.T) {
	t.Parallel()
	const demo = "whsec_ZGVtby13ZWJob29rLXNlY3JldC1mb3ItbG9jYWwtdXNlLW9ubHk="
	k, err := ParseSecret(demo)
	if err != nil || string(k) != "demo-webhook-secret-for-local-use-only" {
		t.Errorf("ParseSecret(demo) = %q, %v", k, err)
	}
	if k, err := ParseSecret(strings.TrimSuffix(demo, "=")); err != nil || string(k) != "demo-webhook-secret-for-local-use-only" {
		t.Errorf("ParseSecret without padding = %q, %v", k, err)
	}
	for _, bad := range []string{
		"",
		"ZGVtby13ZWJob29rLXNlY3JldC1mb3ItbG9jYWwtdXNlLW9ubHk=", // no prefix
		"whsec_",
		"whsec_not base64!",
		"whsec_c2hvcnQ=", // "short"
		"whsec_" + strings.Repeat("QUFB", 50),
	} {
		_, err := ParseSecret(bad)
		if err == nil {
			t.Errorf("ParseSecret(%q) accepted", bad)
			continue
		}
		if len(bad) > 8 && strings.Contains(err.Error(), bad[6:]) {
			t.Errorf("error %q repeats the secret", err)
		}
	}
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	a, b := NewSecret(), NewSecret()
	if a == b {
		t.Error("two secrets are equal")
	}
	k, err := ParseSecret(a)
	if err != nil || len(k) != NewSecretBytes {
		t.Errorf("ParseSecret(NewSecret()) = %d bytes, %v", len(k), err)
	}
}

func TestSignFormat(t *testing.T) {
	t.Parallel()
	sig := Sign([]byte("0123456789abcdef"), "m", now, body)
	if !strings.HasPrefix(sig, "v1,") || len(sig) != 3+44 {
		t.Errorf("Sign = %q, want v1, and 44 base64 characters", sig)
	}
}

func BenchmarkVerify(b *testing.B) {
	key := mustSecret(b, NewSecret())
	big := []byte(strings.Repeat("x", 8<<10))
	sig := Sign(key, "msg_1", now, big)
	header := "v1a,abc " + sig
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify([][]byte{key}, "msg_1", ts(now), header, big, now); err != nil {
			b.Fatal(err)
		}
	}
}
