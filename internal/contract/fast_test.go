package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// checkAgree holds the fast path to the tree reader on body: parseFast
// accepts exactly what decodeTree accepts, with the same event, and Parse
// answers as parseTree does (the same event, or the same field and problem).
func checkAgree(t *testing.T, body []byte) {
	t.Helper()
	fast := parseFast(body)
	tree, verr := decodeTree(body)
	switch {
	case fast == nil && verr == nil:
		t.Fatalf("the fast path refuses a body the tree reader decodes: %+v\n%q", tree, body)
	case fast != nil && verr != nil:
		t.Fatalf("the fast path accepts a body the tree reader refuses (%v): %+v\n%q", verr, fast, body)
	case fast != nil && !sameEvent(fast, tree):
		t.Fatalf("the readers decode differently:\n fast %+v\n tree %+v\n%q", fast, tree, body)
	}
	e, err := Parse(body)
	want, werr := parseTree(body)
	switch {
	case (err == nil) != (werr == nil):
		t.Fatalf("Parse error %v, parseTree error %v\n%q", err, werr, body)
	case err != nil:
		var got, exp *ValidationError
		if !errors.As(err, &got) || !errors.As(werr, &exp) || *got != *exp {
			t.Fatalf("Parse error %#v, parseTree error %#v\n%q", err, werr, body)
		}
	case !sameEvent(e, want):
		t.Fatalf("Parse and parseTree give different events:\n%+v\n%+v", e, want)
	}
}

// checkCompact checks Compact on a body Parse accepted as e: one line,
// json.Compact's answer, and the same event.
func checkCompact(t *testing.T, body []byte, e *Event) {
	t.Helper()
	c := Compact(body)
	var want bytes.Buffer
	if err := json.Compact(&want, body); err != nil {
		t.Fatalf("json.Compact: %v", err)
	}
	if !bytes.Equal(c, want.Bytes()) {
		t.Fatalf("Compact = %q, json.Compact = %q", c, want.Bytes())
	}
	again, err := Parse(c)
	if err != nil {
		t.Fatalf("parse the compacted body: %v\n%q", err, c)
	}
	if !sameEvent(e, again) {
		t.Fatalf("compacting changed the event:\n%+v\n%+v", e, again)
	}
}

// agreeSeeds are bodies around what a one-pass reader can get wrong:
// escapes and surrogates, number forms, whitespace, keys repeated or
// escaped, wrong JSON types, trailing data.
func agreeSeeds(t testing.TB) [][]byte {
	t.Helper()
	const head = `{"specVersion":"1.0","type":"usage.snapshot","occurredAt":"2026-03-03T02:06:30Z","customer":{"id":"1","name":`
	const tail = `},"usage":{"archivingMailboxes":1}}`
	var seeds [][]byte
	for _, name := range []string{
		`"a"`, `""`, `"\ud800"`, `"1\ud800\u0041"`, `"\udc00"`, `"\ud83d\ude00"`, `"\ud83d\ud83d"`, `"\ud83d\ude0"`,
		`"\ud800\uZZZZ"`, `"\u0031"`, `"\'"`, `"\/\b\f\n\r\t\"\\"`, `"\u00e9\u00E9"`, `"\u"`, `"\u12"`, `"\x"`, `"a` + "\x01" + `"`,
		`"é"`, `"\u2028"`, `1`, `null`, `true`, `[]`, `{}`, `"a"  `, "\t\"a\"\r\n",
	} {
		seeds = append(seeds, []byte(head+name+tail))
	}
	const usage = `{"specVersion":"1.0","type":"usage.snapshot","occurredAt":"2026-03-03T02:06:30Z","customer":{"id":"1"},"usage":{"archivingMailboxes":`
	for _, n := range []string{
		`0`, `-0`, `00`, `01`, `1.`, `.5`, `+1`, `-`, `1e`, `1e+`, `1E-0`, `2.0`, `2.50e1`, `1e2`, `1.5`, `-1`, `9999999`, `10000000`,
		`1e400`, `-1e400`, `1e-400`, `0e-999999999999999999999`, `5e-99999999999999999999`, `0.0000`, `1x`, `"1"`, `null`,
	} {
		seeds = append(seeds, []byte(usage+n+`}}`))
	}
	const backup = `{"specVersion":"1.0","type":"backup.completed","occurredAt":"2026-03-02T00:00:00Z","customer":{"id":"1"},"backup":{"account":{"id":"a","kind":"desktop","plan":"basic"},"result":"success","endedAt":"2026-03-02T00:00:00Z","onlineGB":`
	for _, n := range []string{`0`, `-0`, `1e-400`, `1e400`, `-1`, `9999999.999999999`, `10000000`, `1.7976931348623157e308`, `1.8e308`, `"1"`} {
		seeds = append(seeds, []byte(backup+n+`,"localGB":1}}`))
	}
	seeds = append(seeds,
		[]byte(backup+`1}}`), // no localGB
		[]byte(strings.Replace(backup, `"type":"backup.completed"`, `"type":"usage.snapshot"`, 1)+`1}}`),
		[]byte(strings.Replace(backup, `"endedAt":"2026-03-02T00:00:00Z"`, `"endedAt":"2026-03-02T00:00:00+05:30","startedAt":"2026-02-28T23:59:59.999999999-00:00"`, 1)+`1,"localGB":2}}`),
	)
	const notif = `{"specVersion":"1.0","type":"notification","occurredAt":"2026-03-04T08:00:00Z","customer":{"id":"1001"},"notification":{"kind":"no_backup","severity":"error","message":"m"`
	for _, rest := range []string{
		``, `,"state":""`, `,"state":"cleared"`, `,"details":{}`, `,"details":{"a":"1","b":"2"}`, `,"details":{"a":"1","a":"2"}`,
		`,"details":{"a":"1","\u0061":"2"}`, `,"details":{"":"x"}`, `,"details":{"a":1}`, `,"details":{"a":null}`, `,"details":[]`,
		`,"details":{"a":{"b":"c"}}`, `,"account":{"id":"x"}`, `,"account":null`, `,"account":{}`, `,"\u006dessage":"again"`,
		`,"details":` + manyDetails(20), `,"details":` + manyDetails(21), `,"message":"m"`, `,"x":1`,
	} {
		seeds = append(seeds, []byte(notif+rest+`}}`))
	}
	const removal = `{"specVersion":"1.1","type":"account.removed","occurredAt":"2026-03-08T16:30:00Z","customer":{"id":"1001"}`
	for _, rest := range []string{
		`,"removal":{"account":{"id":"a"}}`, `,"removal":{"account":{"id":"a"},"reason":"r"}`, `,"removal":{"reason":"r","account":{"id":"a"}}`,
		`,"removal":{"account":{"id":"a","id":"b"}}`, `,"removal":{"account":{"id":"a"},"account":{"id":"a"}}`,
		`,"removal":{"account":{"id":"a"},"reason":"r","reason":"s"}`, `,"removal":{"account":{"id":"a"},"\u0072eason":"r"}`,
		`,"removal":{"account":{"id":"a"},"reason":"\ud800\n\t"}`, `,"removal":{"account":{"id":"a"},"reason":null}`,
		`,"removal":{"account":{"id":"a"},"reason":1}`, `,"removal":{"account":{"id":"a","kind":""}}`, `,"removal":{"account":null}`,
		`,"removal":{"account":{}}`, `,"removal":{"account":[]}`, `,"removal":{}`, `,"removal":null`, `,"removal":[]`, `,"removal":"x"`,
		`,"removal":{"account":{"id":"a"},"removedAt":"2026-03-08T16:30:00Z"}`, `,"removal":{"account":{"id":"a"}},"removal":{"account":{"id":"a"}}`,
		`,"removal":{"account":{"id":"a"}},"usage":{"archivingMailboxes":1}`, ``,
	} {
		seeds = append(seeds, []byte(removal+rest+`}`),
			[]byte(strings.Replace(removal, `"1.1"`, `"1.0"`, 1)+rest+`}`),
			[]byte(strings.Replace(removal, `"account.removed"`, `"customer.removed"`, 1)+rest+`}`))
	}
	for _, b := range []string{
		"", " ", "\v", "\ufeff{}", "{}", "[]", "null", "{", "}", `{"specVersion":"1.0"`, `{"specVersion":"1.0",}`,
		`{"specVersion" "1.0"}`, `{"specVersion":"1.0" "type":"x"}`, `{"specVersion":"1.0"}}`, `{"specVersion":"1.0"},`, `{"specVersion":"1.0"} {}`,
		"{\"specVersion\":\"1.0\"}\n\t ", `{"specVersion":1}`, `{"type":"notification","type":"notification"}`,
		`{"occurredAt":"2026-02-30T00:00:00Z"}`, `{"occurredAt":"2026-03-02T24:00:00Z"}`, `{"occurredAt":"2026-03-02T00:00:00.Z"}`,
		`{"customer":{"id":"1","id":"2"}}`, `{"customer":"1"}`, `{"usage":{"archivingMailboxes":1,"archivingMailboxes":2}}`,
		`{"backup":{"account":{"id":"a","id":"b"}}}`, `{"status":{"account":{"kind":""}}}`,
		`{"removal":{"account":{"id":"a","id":"b"}}}`, `{"removal":{"reason":"a","reason":"b"}}`, `{"removal":{}}`,
		`{"specVersion":"1.1","type":"customer.removed","occurredAt":"2026-03-09T17:00:00Z","customer":{"id":"1002"}}`,
		`{"specVersion":"1.0","type":"customer.removed","occurredAt":"2026-03-09T17:00:00Z","customer":{"id":"1002"}}`,
	} {
		seeds = append(seeds, []byte(b))
	}
	// Every key of every sample written twice, in turn.
	for _, name := range []string{"backup-completed-success", "service-status-failed", "notification-backup-failure", "usage-snapshot", "account-removed", "customer-removed"} {
		doc := sample(t, name)
		for _, k := range keyPaths(doc, "") {
			var b bytes.Buffer
			writeDup(t, &b, doc, "", k)
			seeds = append(seeds, b.Bytes())
			// and its value replaced by one of each JSON type
			for _, v := range []any{nil, true, json.Number("1"), json.Number("-0.5e1"), "s", "", map[string]any{}, map[string]any{"x": "y"}, []any{}} {
				seeds = append(seeds, with(t, doc, k[1:], v))
			}
		}
	}
	// The samples indented with tabs and CRLF, and on one line.
	for _, p := range samplePaths(t) {
		body := readFile(t, p)
		var ind bytes.Buffer
		if err := json.Indent(&ind, body, "", "\t"); err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, bytes.ReplaceAll(ind.Bytes(), []byte("\n"), []byte("\r\n")), Compact(body))
	}
	return seeds
}

// keyPaths lists the paths ("/"-separated) of every key of doc.
func keyPaths(doc map[string]any, parent string) []string {
	var paths []string
	for k, v := range doc {
		p := parent + "/" + k
		paths = append(paths, p)
		if m, ok := v.(map[string]any); ok {
			paths = append(paths, keyPaths(m, p)...)
		}
	}
	return paths
}

// writeDup writes v as JSON with the key at path dup written twice.
func writeDup(t testing.TB, b *bytes.Buffer, v any, path, dup string) {
	m, ok := v.(map[string]any)
	if !ok {
		b.Write(marshal(t, v))
		return
	}
	b.WriteByte('{')
	i := 0
	for k, x := range m {
		p := path + "/" + k
		n := 1
		if p == dup {
			n = 2
		}
		for range n {
			if i > 0 {
				b.WriteByte(',')
			}
			i++
			b.Write(marshal(t, k))
			b.WriteByte(':')
			writeDup(t, b, x, p, dup)
		}
	}
	b.WriteByte('}')
}

func manyDetails(n int) string {
	m := many(n, "v")
	b, _ := json.Marshal(m)
	return string(b)
}

// TestFastAgreesWithTree runs checkAgree over the rule cases, the tricky
// bodies and the committed fuzz corpus.
func TestFastAgreesWithTree(t *testing.T) {
	t.Parallel()
	bodies := agreeSeeds(t)
	for _, c := range cases(t) {
		bodies = append(bodies, c.body)
	}
	corpus, _ := filepath.Glob("testdata/fuzz/FuzzParse/*")
	for _, p := range corpus {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		_, lit, ok := strings.Cut(string(b), "\n[]byte(")
		if !ok {
			t.Fatalf("%s: not a fuzz corpus file", p)
		}
		v, err := strconv.Unquote(strings.TrimSuffix(strings.TrimSpace(lit), ")"))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		bodies = append(bodies, []byte(v))
	}
	accepted := 0
	for _, b := range bodies {
		checkAgree(t, b)
		if e, err := Parse(b); err == nil {
			accepted++
			checkCompact(t, b, e)
		}
	}
	if accepted < 40 {
		t.Errorf("only %d of %d bodies accepted: the seeds miss the accepted side", accepted, len(bodies))
	}
}

var (
	customerIDRE = regexp.MustCompile(CustomerIDPattern)
	accountIDRE  = regexp.MustCompile(AccountIDPattern)
)

// checkMatchers holds the hand-written matchers to the patterns' regular
// expressions.
func checkMatchers(t *testing.T, s string) {
	t.Helper()
	for _, m := range []struct {
		name  string
		re    *regexp.Regexp
		match func(string) bool
	}{
		{"date-time", dateTimeRE(), matchDateTime},
		{"customer id", customerIDRE, matchCustomerID},
		{"account id", accountIDRE, matchAccountID},
	} {
		if got, want := m.match(s), m.re.MatchString(s); got != want {
			t.Errorf("%s matcher(%q) = %v, the regular expression says %v", m.name, s, got, want)
		}
	}
}

var matcherSeeds = []string{
	"", "2026-03-02T14:05:00Z", "2026-03-02T09:05:00-05:00", "2026-03-02T09:05:00.123456789+23:59",
	"2026-03-02T09:05:00.1234567891Z", "2026-03-02T09:05:00.Z", "2026-03-02T09:05:00Z\n", "1999-12-31T23:59:59Z",
	"9999-12-31T23:59:59Z", "2026-00-01T00:00:00Z", "2026-13-01T00:00:00Z", "2026-12-00T00:00:00Z", "2026-12-32T00:00:00Z",
	"2026-12-31T24:00:00Z", "2026-12-31T23:60:00Z", "2026-12-31T23:59:60Z", "2026-12-31t23:59:59z", "2026-12-31T23:59:59+24:00",
	"2026-12-31T23:59:59+23:60", "2026-12-31T23:59:59+2359", "2026-12-31T23:59:59", "2026-12-31T23:59:59+05:30x",
	"2026-02-30T00:00:00Z", "2026-12-31T23:59:59-00:00", "20261231T235959Z",
	"1", "1001", "C" + strings.Repeat("x", 39), "C" + strings.Repeat("x", 40), "-1", "_1", "a-b_c", "a.b", "a:b", "a b",
	"a.b_c:d-" + strings.Repeat("e", 56), "a" + strings.Repeat("e", 64), "é", "a\xff", "a\n",
}

func TestMatchers(t *testing.T) {
	t.Parallel()
	for _, s := range matcherSeeds {
		checkMatchers(t, s)
	}
}

func FuzzMatchers(f *testing.F) {
	for _, s := range matcherSeeds {
		f.Add(s)
	}
	f.Fuzz(checkMatchers)
}

func TestCompact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`{"a":"b"}`:                                         `{"a":"b"}`,
		"{ \"a\" :\t\"b c\" ,\r\n \"d\": 1 }\n":             `{"a":"b c","d":1}`,
		`{"a":"x\" y\\", "b": "\\"}`:                        `{"a":"x\" y\\","b":"\\"}`,
		`{"a" : "\\\\" , "b":"y\\\"z \\\\\" " , "c" : "" }`: `{"a":"\\\\","b":"y\\\"z \\\\\" ","c":""}`,
		"{ }": "{}",
	} {
		if got := Compact([]byte(in)); string(got) != want {
			t.Errorf("Compact(%q) = %q, want %q", in, got, want)
		}
		var std bytes.Buffer
		if err := json.Compact(&std, []byte(in)); err != nil || std.String() != want {
			t.Errorf("json.Compact(%q) = %q (%v): the table is wrong", in, std.Bytes(), err)
		}
	}
	b := []byte(`{"a":"b c"}`)
	if got := Compact(b); &got[0] != &b[0] {
		t.Error("Compact copied a compact body")
	}
}
