package cwsim

import (
	"errors"
	"strings"
	"testing"
)

// testSpec is a small resource for the conditions tests.
var testSpec = newCondSpec(
	"id number", "summary string", "externalXRef string", "closedFlag bool",
	"company/id number", "company/identifier string", "board/name string", "status/name string",
	"price number", "lastUpdated=_info/lastUpdated date",
)

// testRecords are decoded JSON objects, as the evaluator sees resources.
var testRecords = []map[string]any{
	{"id": 1.0, "summary": "Backup failed: SERVER01", "externalXRef": "efs:p1:c1:a1:backup", "closedFlag": false,
		"company": map[string]any{"id": 42.0, "identifier": "AcmeDental"}, "board": map[string]any{"name": "eFolder Backup"},
		"status": map[string]any{"name": "New"}, "price": 1.5, "_info": map[string]any{"lastUpdated": "2026-01-30T10:00:00Z"}},
	{"id": 2.0, "summary": "No backup in 3 days", "closedFlag": true,
		"company": map[string]any{"id": 42.0, "identifier": "AcmeDental"}, "board": map[string]any{"name": "eFolder Backup"},
		"status": map[string]any{"name": "Resolved"}, "price": 20.0, "_info": map[string]any{"lastUpdated": "2026-02-01T00:00:00Z"}},
	{"id": 3.0, "summary": "Printer jam", "externalXRef": "other", "closedFlag": false,
		"company": map[string]any{"id": 7.0, "identifier": "BirchLegal"}, "board": map[string]any{"name": "Help Desk"},
		"status": map[string]any{"name": "New"}, "price": 0.0, "_info": map[string]any{"lastUpdated": "2026-01-31T00:00:00Z"}},
}

// matches returns the ids of the test records the conditions select.
func matches(t *testing.T, src string) []int {
	t.Helper()
	e, err := parseConditions(src)
	if err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	if err := e.check(testSpec); err != nil {
		t.Fatalf("check %q: %v", src, err)
	}
	var ids []int
	for _, r := range testRecords {
		if e.eval(r) {
			ids = append(ids, int(r["id"].(float64)))
		}
	}
	return ids
}

func TestConditionsSelectRecords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []int
	}{
		{"string equality", `summary="Printer jam"`, []int{3}},
		{"string equality ignores case", `company/identifier="acmedental"`, []int{1, 2}},
		{"integer reference", `company/id=42`, []int{1, 2}},
		{"integer reference with spaces", `company/id = 7`, []int{3}},
		{"boolean", `closedFlag=false`, []int{1, 3}},
		{"boolean keyword case-insensitive", `closedFlag=TRUE`, []int{2}},
		{"not equal skips null", `externalXRef!="other"`, []int{1}},
		{"equals null", `externalXRef=null`, []int{2}},
		{"not null", `externalXRef != null`, []int{1, 3}},
		{"like prefix wildcard", `summary like "Backup*"`, []int{1}},
		{"like inner wildcard", `summary like "*backup*"`, []int{1, 2}},
		{"like without wildcard is equality", `summary like "printer jam"`, []int{3}},
		{"not like", `summary not like "*backup*"`, []int{3}},
		{"contains", `summary contains "JAM"`, []int{3}},
		{"not contains", `summary not contains "backup"`, []int{3}},
		{"in numbers", `id in (1, 3)`, []int{1, 3}},
		{"in strings", `status/name in ("Resolved","Closed")`, []int{2}},
		{"not in", `id not in (1,3)`, []int{2}},
		{"less than number", `price < 1.5`, []int{3}},
		{"less or equal", `price <= 1.5`, []int{1, 3}},
		{"greater than negative", `price > -1`, []int{1, 2, 3}},
		{"date after", `lastUpdated > [2026-01-31T00:00:00Z]`, []int{2}},
		{"date on or after", `lastUpdated >= [2026-01-31T00:00:00Z]`, []int{2, 3}},
		{"date only", `lastUpdated < [2026-01-31]`, []int{1}},
		{"and", `company/id=42 and closedFlag=false`, []int{1}},
		{"AND uppercase", `company/id=42 AND closedFlag=false`, []int{1}},
		{"and binds tighter than or", `id=3 or company/id=42 and closedFlag=true`, []int{2, 3}},
		{"parentheses override", `(id=3 or company/id=42) and closedFlag=true`, []int{2}},
		{"nested parentheses", `((id=1) or (id=2 and (closedFlag=true)))`, []int{1, 2}},
		{"or chain", `id=1 or id=2 or id=3`, []int{1, 2, 3}},
		{"reference name with space", `board/name="eFolder Backup" and status/name!="Resolved"`, []int{1}},
		{"quoted value with special characters", `externalXRef="efs:p1:c1:a1:backup"`, []int{1}},
		{"keywords inside a string are text", `summary="No backup in 3 days"`, []int{2}},
		{"string with and/or inside", `summary contains " in "`, []int{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := matches(t, tc.src)
			if !equalInts(got, tc.want) {
				t.Errorf("%s selected %v, want %v", tc.src, got, tc.want)
			}
		})
	}
}

func TestConditionsRejectMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		src       string
		wantField string // field the error names, when it names one
		wantText  string
	}{
		{"embedded double quote", `summary="say "hi""`, "", "unexpected"},
		{"backslash escape", `summary="say \"hi\""`, "", "backslash"},
		{"unterminated string", `summary="open`, "", "unterminated"},
		{"single quotes", `summary='x'`, "", "double quotes"},
		{"bare word value", `summary=Printer`, "", "double quotes"},
		{"unknown field", `owner/id=3`, "owner/id", "owner/id"},
		{"field names are case sensitive", `Summary="x"`, "Summary", "Summary"},
		{"string field with number", `summary=3`, "summary", "string field"},
		{"number field with string", `company/id="42"`, "company/id", "number field"},
		{"bool field with string", `closedFlag="false"`, "closedFlag", "boolean field"},
		{"date field with string", `lastUpdated>"2026-01-01"`, "lastUpdated", "date field"},
		{"like on number field", `id like "1*"`, "id", "number field"},
		{"like needs string", `summary like 3`, "summary", "quoted string"},
		{"order on bool", `closedFlag > false`, "closedFlag", "not allowed"},
		{"null with like", `summary like null`, "summary", "quoted string"},
		{"null in list", `id in (1, null)`, "id", "null"},
		{"missing operator", `summary "x"`, "summary", "operator"},
		{"double equals", `id==1`, "", "expected a value"},
		{"diamond operator", `id<>1`, "", "<>"},
		{"bang alone", `id!1`, "", "!"},
		{"missing value", `id=`, "", "expected a value"},
		{"dangling and", `id=1 and`, "", "field name"},
		{"and without left side", `and id=1`, "", "field name"},
		{"unbalanced parenthesis", `(id=1 or id=2`, "", "expected )"},
		{"extra parenthesis", `id=1)`, "", "unexpected"},
		{"bad date", `lastUpdated>[yesterday]`, "", "malformed date"},
		{"unterminated date", `lastUpdated>[2026-01-01`, "", "unterminated date"},
		{"malformed number", `id=12abc`, "", "malformed number"},
		{"not without operator", `summary not "x"`, "summary", "after not"},
		{"in without list", `id in 1`, "id", "expected ("},
		{"in list unclosed", `id in (1,2`, "id", "expected , or )"},
		{"unknown character", `id=1 & id=2`, "", "unexpected character"},
		{"trailing slash field", `company/=1`, "company/", "malformed field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := parseConditions(tc.src)
			if err == nil {
				err = e.check(testSpec)
			}
			if err == nil {
				t.Fatalf("%s was accepted", tc.src)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("%s: error %q does not mention %q", tc.src, err, tc.wantText)
			}
			var ce *conditionError
			if !errors.As(err, &ce) {
				t.Fatalf("%s: error %T is not a *conditionError", tc.src, err)
			}
			if tc.wantField != "" && ce.Field != tc.wantField {
				t.Errorf("%s: error names field %q, want %q", tc.src, ce.Field, tc.wantField)
			}
		})
	}
}

func TestConditionsSpecWithout(t *testing.T) {
	t.Parallel()
	e, err := parseConditions(`externalXRef="x"`)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.check(testSpec.without("externalXRef")); err == nil {
		t.Fatal("externalXRef accepted by a spec without it")
	}
	if _, ok := testSpec["externalXRef"]; !ok {
		t.Fatal("without changed the original spec")
	}
}

func TestLikeMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"a*", "abc", true},
		{"*c", "abc", true},
		{"a*c", "abc", true},
		{"a*c", "ac", true},
		{"a*b*b", "ab", false},
		{"*a*a", "a", false},
		{"*a*a", "aa", true},
		{"*", "", true},
		{"abc", "abcd", false},
		{"*ab*", "xxabyy", true},
	}
	for _, tc := range tests {
		if got := likeMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("likeMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
