package signature

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

// FuzzVerify checks that Verify never panics and always answers nil or one
// of the three sentinel errors, and that what Sign produces always verifies
// (for a usable id, at the signing time). The committed seed corpus is in
// testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	f.Add([]byte("demo-webhook-secret-for-local-use-only"), "msg_1", int64(1772452800), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"a":1}`), int64(0))
	f.Add([]byte{}, "", int64(0), "", []byte{}, int64(-400))
	f.Fuzz(func(t *testing.T, secret []byte, id string, unix int64, header string, body []byte, skew int64) {
		at := time.Unix(unix, 0)
		stamp := strconv.FormatInt(unix, 10)

		// Arbitrary headers: never a panic, only the sentinels.
		err := Verify([][]byte{secret, []byte("second")}, id, stamp, header, body, at.Add(time.Duration(skew)*time.Second))
		if err != nil && !errors.Is(err, ErrMissing) && !errors.Is(err, ErrStale) && !errors.Is(err, ErrMismatch) {
			t.Fatalf("Verify returned %v, not a sentinel", err)
		}
		_ = Verify(nil, id, header, header, body, at)

		// Sign then Verify.
		sig := Sign(secret, id, at, body)
		err = Verify([][]byte{[]byte("other"), secret}, id, stamp, header+" "+sig, body, at)
		usable := id != "" && len(id) <= MaxIDLength && unix >= 0 && countEntries(header) < MaxSignatures
		if usable && err != nil {
			t.Fatalf("a signature made by Sign does not verify: %v", err)
		}
		if err := Verify([][]byte{secret}, id, stamp, sig, body, at); usable && err != nil {
			t.Fatalf("a lone signature made by Sign does not verify: %v", err)
		}
	})
}

// countEntries counts the space-separated entries of a header.
func countEntries(h string) int {
	n := 0
	for rest := h; ; n++ {
		var e string
		e, rest = nextEntry(rest)
		if e == "" {
			return n
		}
	}
}
