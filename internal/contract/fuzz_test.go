package contract

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// FuzzParse checks that Parse never panics, that its fast path and the tree
// reader agree on every input (checkAgree), and that an event it accepts
// survives a round trip: marshalled again and parsed again, it is the same
// event, and so is its body compacted (what the webhook enqueues). The
// committed seed corpus is in testdata/fuzz/FuzzParse; the raw samples, the
// bodies of the rule cases and tricky bodies (agreeSeeds) are added too.
func FuzzParse(f *testing.F) {
	for _, p := range samplePaths(f) {
		f.Add(readFile(f, p))
	}
	for _, c := range cases(f) {
		f.Add(c.body)
	}
	for _, b := range agreeSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkAgree(t, body)
		e, err := Parse(body)
		if err != nil {
			if _, ok := err.(*ValidationError); !ok {
				t.Fatalf("Parse error is a %T, not a *ValidationError: %v", err, err)
			}
			if e != nil {
				t.Fatal("Parse returned an event with an error")
			}
			return
		}
		again := roundTrip(t, e)
		if !sameEvent(e, again) {
			t.Fatalf("round trip changed the event:\n first %+v\nsecond %+v", e, again)
		}
		checkCompact(t, body, e)
	})
}

// roundTrip marshals e as the webhook does and parses it again.
func roundTrip(t *testing.T, e *Event) *Event {
	t.Helper()
	b, err := Marshal(e)
	if err != nil {
		t.Fatalf("marshal a parsed event: %v", err)
	}
	if bytes.ContainsAny(b, "\n") || !json.Valid(b) {
		t.Fatalf("Marshal did not give compact JSON: %q", b)
	}
	again, err := Parse(b)
	if err != nil {
		t.Fatalf("parse a marshalled event: %v\n%s", err, b)
	}
	return again
}

// sameEvent compares two events, times by instant and offset (a parsed time
// zone is a new *time.Location every time).
func sameEvent(a, b *Event) bool {
	norm := func(e *Event) Event {
		c := *e
		c.OccurredAt = normTime(c.OccurredAt)
		if c.Backup != nil {
			bk := *c.Backup
			bk.EndedAt = normTime(bk.EndedAt)
			if bk.StartedAt != nil {
				s := normTime(*bk.StartedAt)
				bk.StartedAt = &s
			}
			c.Backup = &bk
		}
		return c
	}
	return reflect.DeepEqual(norm(a), norm(b)) && offsets(a) == offsets(b)
}

func normTime(t time.Time) time.Time { return t.UTC() }

func offsets(e *Event) [3]int {
	var o [3]int
	_, o[0] = e.OccurredAt.Zone()
	if e.Backup != nil {
		_, o[1] = e.Backup.EndedAt.Zone()
		if e.Backup.StartedAt != nil {
			_, o[2] = e.Backup.StartedAt.Zone()
		}
	}
	return o
}

func TestRoundTripSamples(t *testing.T) {
	t.Parallel()
	for _, p := range samplePaths(t) {
		e, err := Parse(readFile(t, p))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if again := roundTrip(t, e); !sameEvent(e, again) {
			t.Errorf("%s: round trip changed the event", p)
		}
	}
}
