package contract

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckClockBoundaries(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	doc := sample(t, "backup-completed-failure")
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	cases := []struct {
		name  string
		body  []byte
		field string // "" when accepted
	}{
		{"occurredAt now", with(t, doc, "occurredAt", at(0)), ""},
		{"occurredAt now+5m", with(t, doc, "occurredAt", at(MaxClockSkew)), ""},
		{"occurredAt now+5m+1s", with(t, doc, "occurredAt", at(MaxClockSkew+time.Second)), "occurredAt"},
		{"occurredAt now+5m+1ns", with(t, doc, "occurredAt", at(MaxClockSkew+time.Nanosecond)), "occurredAt"},
		{"occurredAt year 9999", with(t, doc, "occurredAt", "9999-12-31T23:59:59Z"), "occurredAt"},
		{"occurredAt ahead in another zone", with(t, doc, "occurredAt", now.Add(10*time.Minute).In(time.FixedZone("", -5*3600)).Format(time.RFC3339)), "occurredAt"},
		{"occurredAt a year old", with(t, doc, "occurredAt", at(-365*24*time.Hour)), ""},
		{"occurredAt year 2000", with(t, doc, "occurredAt", "2000-01-01T00:00:00Z"), ""},
		{"endedAt now+5m", with(t, doc, "backup/endedAt", at(MaxClockSkew)), ""},
		{"endedAt now+5m+1s", with(t, doc, "backup/endedAt", at(MaxClockSkew+time.Second)), "backup.endedAt"},
		{"endedAt year 9999", with(t, doc, "backup/endedAt", "9999-12-31T23:59:59Z"), "backup.endedAt"},
		{"startedAt year 9999", with(t, doc, "backup/startedAt", "9999-12-31T23:59:59Z"), "backup.startedAt"},
		{"startedAt old", with(t, doc, "backup/startedAt", at(-time.Hour)), ""},
	}
	for _, c := range cases {
		// Parse alone has no clock: every body is a valid event.
		if _, err := Parse(c.body); err != nil {
			t.Fatalf("%s: Parse: %v", c.name, err)
		}
		e, err := ParseAt(c.body, now)
		if c.field == "" {
			if err != nil || e == nil {
				t.Errorf("%s: refused: %v", c.name, err)
			}
			continue
		}
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field || !strings.Contains(ve.Problem, "5 minutes ahead") {
			t.Errorf("%s: err = %v, want a ValidationError for %s", c.name, err, c.field)
		}
		if e != nil {
			t.Errorf("%s: an event was returned with the error", c.name)
		}
	}
}

func TestCheckClockOtherTypes(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, name := range []string{"notification-no-backup", "service-status-failed", "usage-snapshot"} {
		doc := sample(t, name)
		if _, err := ParseAt(with(t, doc, "occurredAt", "9999-12-31T23:59:59Z"), now); err == nil {
			t.Errorf("%s: year 9999 accepted", name)
		}
		if _, err := ParseAt(with(t, doc, "occurredAt", now.Format(time.RFC3339)), now); err != nil {
			t.Errorf("%s: now refused: %v", name, err)
		}
	}
	// A nil error is an untyped nil, safe to assign to error.
	var err error = CheckClock(&Event{OccurredAt: now}, now)
	if err != nil {
		t.Errorf("CheckClock = %#v", err)
	}
	if CheckClock(nil, now) != nil {
		t.Error("CheckClock(nil) is not nil")
	}
}

// TestSchemaStatesTheClockRule: the schema cannot check a time against the
// receiver's clock, so it says so in words where senders read it.
func TestSchemaStatesTheClockRule(t *testing.T) {
	t.Parallel()
	s := string(SchemaJSON)
	if n := strings.Count(s, "more than 5 minutes ahead of the receiver's clock"); n < 3 {
		t.Errorf("the schema states the clock rule %d times, want the top level, occurredAt and backup.endedAt", n)
	}
	if MaxClockSkew != 5*time.Minute {
		t.Errorf("MaxClockSkew = %v; the schema and the README say 5 minutes", MaxClockSkew)
	}
}
