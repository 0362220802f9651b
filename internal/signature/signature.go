// Package signature signs and verifies webhook requests the Standard Webhooks
// way (https://www.standardwebhooks.com): the sender puts a message id, a
// Unix timestamp and one or more signatures in three headers,
//
//	webhook-id:        msg_2hV1…
//	webhook-timestamp: 1772419277
//	webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= v1,…
//
// each signature being the base64 HMAC-SHA256, keyed with the partner's
// secret, of "<id>.<timestamp>.<body>". Several space-separated signatures
// let a sender sign with an old and a new secret while a secret is rotated;
// the receiver may likewise hold several secrets. One match is enough.
//
// Secrets are written "whsec_" followed by the base64 of the key bytes.
package signature

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers, lower case as API Gateway v2 passes them.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Tolerance is how far a request's timestamp may be from the receiver's
// clock, either way, before the request is refused as stale (a replay, or a
// sender whose clock is off).
const Tolerance = 5 * time.Minute

// SecretPrefix starts every secret.
const SecretPrefix = "whsec_"

// Bounds on a secret's key and on the work a request can cause.
const (
	// MinSecretBytes and MaxSecretBytes bound the decoded key of a secret.
	MinSecretBytes = 16
	MaxSecretBytes = 128
	// NewSecretBytes is the key length NewSecret draws.
	NewSecretBytes = 32
	// MaxIDLength bounds webhook-id (in bytes).
	MaxIDLength = 256
	// MaxSignatures bounds how many entries of webhook-signature are looked
	// at; the rest are ignored.
	MaxSignatures = 10
	// maxTimestampLength bounds webhook-timestamp (in bytes).
	maxTimestampLength = 20
)

// Verification failures. A webhook answers all of them alike (401), so that
// a caller learns nothing about which check failed.
var (
	// ErrMissing: a header is missing, empty or unusable (a timestamp that
	// is not whole seconds, an id longer than MaxIDLength).
	ErrMissing = errors.New("signature: missing or malformed webhook headers")
	// ErrStale: the timestamp is further than Tolerance from now.
	ErrStale = errors.New("signature: timestamp outside the tolerance")
	// ErrMismatch: no signature matches any secret.
	ErrMismatch = errors.New("signature: no matching signature")
)

// ParseSecret decodes a "whsec_<base64>" secret into its key. The error never
// repeats the secret.
func ParseSecret(s string) ([]byte, error) {
	enc, ok := strings.CutPrefix(strings.TrimSpace(s), SecretPrefix)
	if !ok {
		return nil, errors.New("signature: secret does not start with " + SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(enc) // padding left off
	}
	if err != nil {
		return nil, errors.New("signature: secret is not " + SecretPrefix + " followed by standard base64")
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return nil, fmt.Errorf("signature: secret key is %d bytes; want %d to %d", len(key), MinSecretBytes, MaxSecretBytes)
	}
	return key, nil
}

// NewSecret returns a new random secret of NewSecretBytes key bytes, in the
// "whsec_<base64>" form.
func NewSecret() string {
	key := make([]byte, NewSecretBytes)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (it crashes the program instead)
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// Sign returns the webhook-signature value for body sent with message id
// id at time ts: "v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>", the
// timestamp being ts in whole Unix seconds (the value to send as
// webhook-timestamp: strconv.FormatInt(ts.Unix(), 10)).
func Sign(secret []byte, id string, ts time.Time, body []byte) string {
	mac := compute(nil, secret, signedPrefix(id, strconv.FormatInt(ts.Unix(), 10)), body)
	return "v1," + base64.StdEncoding.EncodeToString(mac)
}

// signedPrefix is what the signed content has before the body: id "."
// timestamp ".".
func signedPrefix(id, timestamp string) []byte {
	p := make([]byte, 0, len(id)+len(timestamp)+2)
	p = append(p, id...)
	p = append(p, '.')
	p = append(p, timestamp...)
	return append(p, '.')
}

// compute appends HMAC-SHA256(secret, prefix body) to dst.
func compute(dst, secret, prefix, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write(prefix)
	h.Write(body)
	return h.Sum(dst)
}

// Verify checks the Standard Webhooks headers of a request against the
// partner's secrets at time now. It returns nil when one "v1" signature of
// signatureHeader (at most MaxSignatures entries are looked at; entries of
// other versions are ignored) is the HMAC of "id.timestamp.body" under one
// of secrets; otherwise an error matching ErrMissing, ErrStale or
// ErrMismatch (errors.Is). Signatures are compared in constant time. The
// error text names no secret and no signature.
func Verify(secrets [][]byte, id, timestamp, signatureHeader string, body []byte, now time.Time) error {
	switch {
	case id == "" || timestamp == "" || strings.TrimSpace(signatureHeader) == "":
		return ErrMissing
	case len(id) > MaxIDLength:
		return fmt.Errorf("webhook-id is longer than %d bytes: %w", MaxIDLength, ErrMissing)
	}
	sec, err := parseTimestamp(timestamp)
	if err != nil {
		return err
	}
	ts := time.Unix(sec, 0)
	if now.Sub(ts) > Tolerance || ts.Sub(now) > Tolerance {
		return ErrStale
	}

	// Expected MACs, one per secret, computed once.
	want := make([][sha256.Size]byte, len(secrets))
	prefix := signedPrefix(id, timestamp)
	for i, s := range secrets {
		compute(want[i][:0], s, prefix, body)
	}
	var buf [sha256.Size + 2]byte
	matched := false
	rest := signatureHeader
	for range MaxSignatures {
		var entry string
		entry, rest = nextEntry(rest)
		if entry == "" {
			break
		}
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue // another scheme (v1a: asymmetric) or garbage
		}
		if base64.StdEncoding.DecodedLen(len(sig)) > len(buf) {
			continue // far too long for a SHA-256 MAC
		}
		k, err := base64.StdEncoding.Decode(buf[:], []byte(sig))
		if err != nil || k != sha256.Size {
			continue
		}
		for i := range want {
			// Keep looping after a match: the time taken does not depend
			// on which pair matched.
			if hmac.Equal(buf[:k], want[i][:]) {
				matched = true
			}
		}
	}
	if !matched {
		return ErrMismatch
	}
	return nil
}

// parseTimestamp reads webhook-timestamp: whole Unix seconds.
func parseTimestamp(s string) (int64, error) {
	if len(s) > maxTimestampLength {
		return 0, fmt.Errorf("webhook-timestamp is too long: %w", ErrMissing)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("webhook-timestamp is not whole Unix seconds: %w", ErrMissing)
		}
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("webhook-timestamp is out of range: %w", ErrMissing)
	}
	return sec, nil
}

// nextEntry returns the first space-separated entry of s and what follows.
func nextEntry(s string) (entry, rest string) {
	s = strings.TrimLeft(s, " ")
	entry, rest, _ = strings.Cut(s, " ")
	return entry, rest
}
