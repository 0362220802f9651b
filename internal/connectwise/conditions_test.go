package connectwise

import (
	"errors"
	"testing"
	"time"
)

type deviceType string

func TestBuild(t *testing.T) {
	t.Parallel()
	when := time.Date(2026, 1, 31, 1, 2, 3, 456, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		cond Condition
		want string
	}{
		{"string", Eq("identifier", "ACME"), `identifier="ACME"`},
		{"int", Eq("company/id", 42), `company/id=42`},
		{"negative int64", Eq("id", int64(-7)), `id=-7`},
		{"uint", Eq("id", uint16(7)), `id=7`},
		{"bool", Eq("closedFlag", false), `closedFlag=false`},
		{"float", Gt("quantity", 1.5), `quantity>1.5`},
		{"time in UTC", Ge("lastUpdated", when), `lastUpdated>=[2026-01-31T00:02:03Z]`},
		{"nil is null", Eq("closedDate", nil), `closedDate=null`},
		{"named string type", Eq("deviceType", deviceType("BackupStats")), `deviceType="BackupStats"`},
		{"not equal", NotEq("status/name", "Closed"), `status/name!="Closed"`},
		{"lt le gt", And(Lt("id", 10), Le("id", 9), Gt("id", 1)), `id<10 and id<=9 and id>1`},
		{"contains", Contains("summary", "ACME-DC01"), `summary contains "ACME-DC01"`},
		{"like pattern", Like("name", "Backup*Alert*"), `name like "Backup*Alert*"`},
		{"like prefix", LikePrefix("identifier", "ACME"), `identifier like "ACME*"`},
		{"in ints", In("id", 1, 2, 3), `id in (1,2,3)`},
		{"in strings", In("status/name", "New", "In Progress"), `status/name in ("New","In Progress")`},
		{"unicode, brackets, parens, wildcards-free punctuation", Eq("name", "Müller & Söhne (GmbH) [Zürich] 東京 'x' and y=1"), `name="Müller & Söhne (GmbH) [Zürich] 東京 'x' and y=1"`},
		{"star in Eq is literal text", Eq("name", "A*B"), `name="A*B"`},
		{"empty string Eq", Eq("externalXRef", ""), `externalXRef=""`},
		{"and of one", And(Eq("id", 1)), `id=1`},
		{"and", And(Eq("company/id", 42), Eq("externalXRef", "efs:a:b"), Eq("closedFlag", false)), `company/id=42 and externalXRef="efs:a:b" and closedFlag=false`},
		{"or inside and", And(Eq("board/id", 7), Or(Eq("status/name", "New"), Eq("status/name", "Open"))), `board/id=7 and (status/name="New" or status/name="Open")`},
		{"and inside or", Or(And(Eq("a", 1), Eq("b", 2)), Eq("c", 3)), `(a=1 and b=2) or c=3`},
	}
	for _, tt := range tests {
		got, err := Build(tt.cond)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s: Build = %s, want %s", tt.name, got, tt.want)
		}
		if tt.cond.Err() != nil {
			t.Errorf("%s: Err() = %v", tt.name, tt.cond.Err())
		}
	}
}

func TestBuildRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cond Condition
		want error
	}{
		{"double quote", Eq("name", `ACME" or id>0 or name="x`), ErrUnsafeConditionValue},
		{"backslash", Eq("name", `ACME\`), ErrUnsafeConditionValue},
		{"newline", Eq("name", "ACME\nor id>0"), ErrUnsafeConditionValue},
		{"carriage return", Contains("summary", "a\rb"), ErrUnsafeConditionValue},
		{"tab", Eq("name", "a\tb"), ErrUnsafeConditionValue},
		{"NUL", Eq("name", "a\x00b"), ErrUnsafeConditionValue},
		{"DEL", Eq("name", "a\x7fb"), ErrUnsafeConditionValue},
		{"C1 control", Eq("name", "a\u0085b"), ErrUnsafeConditionValue},
		{"line separator", Eq("name", "a\u2028b"), ErrUnsafeConditionValue},
		{"invalid UTF-8", Eq("name", "a\xffb"), ErrUnsafeConditionValue},
		{"quote inside In", In("name", "a", `b"`), ErrUnsafeConditionValue},
		{"quote deep inside And/Or", And(Eq("id", 1), Or(Eq("a", 1), Eq("b", `"`))), ErrUnsafeConditionValue},
		{"star in LikePrefix", LikePrefix("identifier", "AC*ME"), ErrUnsafeConditionValue},
		{"empty LikePrefix", LikePrefix("identifier", ""), ErrUnsafeConditionValue},
		{"star in Contains", Contains("summary", "*"), ErrUnsafeConditionValue},
		{"empty Contains", Contains("summary", ""), ErrUnsafeConditionValue},
		{"quote in Like", Like("name", `a"*`), ErrUnsafeConditionValue},
		{"field with space", Eq("company id", 1), ErrInvalidCondition},
		{"field with operator", Eq("id=1 or id", 1), ErrInvalidCondition},
		{"field with quote", Eq(`name"`, 1), ErrInvalidCondition},
		{"empty field", Eq("", 1), ErrInvalidCondition},
		{"leading slash", Eq("/company/id", 1), ErrInvalidCondition},
		{"trailing slash", Eq("company/", 1), ErrInvalidCondition},
		{"digit first", Eq("1id", 1), ErrInvalidCondition},
		{"unicode field", Eq("nämé", 1), ErrInvalidCondition},
		{"reserved word", Eq("company/and", 1), ErrInvalidCondition},
		{"unsupported type", Eq("id", []int{1}), ErrInvalidCondition},
		{"struct type", Eq("id", struct{}{}), ErrInvalidCondition},
		{"NaN", Eq("quantity", nanValue()), ErrInvalidCondition},
		{"zero time", Lt("lastUpdated", time.Time{}), ErrInvalidCondition},
		{"empty In", In("id"), ErrInvalidCondition},
		{"empty And", And(), ErrInvalidCondition},
		{"empty Or", Or(), ErrInvalidCondition},
		{"zero Condition", Condition{}, ErrInvalidCondition},
		{"zero Condition inside And", And(Eq("id", 1), Condition{}), ErrInvalidCondition},
	}
	for _, tt := range tests {
		got, err := Build(tt.cond)
		if !errors.Is(err, tt.want) || got != "" {
			t.Errorf("%s: Build = %q, %v; want error %v", tt.name, got, err, tt.want)
		}
		if !errors.Is(tt.cond.Err(), tt.want) {
			t.Errorf("%s: Err() = %v", tt.name, tt.cond.Err())
		}
		if !IsPermanent(err) {
			t.Errorf("%s: a refused condition must be permanent", tt.name)
		}
	}
}

func nanValue() float64 {
	zero := 0.0
	return zero / zero
}
