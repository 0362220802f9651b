package contract

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// samplesDir holds the raw sample bodies (one per kind and case).
const samplesDir = "../../events"

// notSamples are the JSON files of events/ that are not event bodies:
// env.json is the SAM --env-vars file.
var notSamples = []string{"env.json"}

// samplePaths lists the raw sample bodies.
func samplePaths(t testing.TB) []string {
	t.Helper()
	all, err := filepath.Glob(filepath.Join(samplesDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, p := range all {
		if !slices.Contains(notSamples, filepath.Base(p)) {
			paths = append(paths, p)
		}
	}
	if len(paths) < 15 {
		t.Fatalf("%d samples in %s, want the 15 of every kind and case", len(paths), samplesDir)
	}
	slices.Sort(paths)
	return paths
}

// sample returns the named raw sample as a generic document.
func sample(t testing.TB, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samplesDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// with2 is with for a chain of edits: doc with the value at path replaced,
// as a document again.
func with2(t testing.TB, doc map[string]any, path string, v any) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(with(t, doc, path, v)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// remove, used as a value in with, deletes the key.
var remove = &struct{ remove bool }{true}

// with returns doc as JSON with the value at path (keys separated by "/")
// replaced by v, or deleted when v is remove. Missing objects on the path are
// created. doc is not changed.
func with(t testing.TB, doc map[string]any, path string, v any) []byte {
	t.Helper()
	c := deepCopy(doc).(map[string]any)
	keys := strings.Split(path, "/")
	m := c
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	last := keys[len(keys)-1]
	if v == remove {
		delete(m, last)
	} else {
		m[last] = v
	}
	return marshal(t, c)
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(v))
		for k, x := range v {
			c[k] = deepCopy(x)
		}
		return c
	case []any:
		c := make([]any, len(v))
		for i, x := range v {
			c[i] = deepCopy(x)
		}
		return c
	}
	return v
}

// many returns a map of n entries "k00": value.
func many(n int, value string) map[string]any {
	m := make(map[string]any, n)
	for i := range n {
		m["k"+string(rune('a'+i/26))+string(rune('a'+i%26))] = value
	}
	return m
}

// case_ is one body and what Parse must say of it.
type case_ struct {
	name string
	body []byte
	// field and problem (a substring) of the expected *ValidationError; both
	// empty for a body that must be accepted.
	field, problem string
	// goOnly marks a rule JSON Schema cannot state (duplicate keys, invalid
	// UTF-8): the schema is not asked about it.
	goOnly bool
}

func (c case_) valid() bool { return c.field == "" && c.problem == "" }

// cases returns accepted and rejected bodies around every rule of the
// contract. Both Parse and the JSON Schema are held to them.
func cases(t testing.TB) []case_ {
	bk := sample(t, "backup-completed-success")
	st := sample(t, "service-status-failed")
	nt := sample(t, "notification-backup-failure")
	us := sample(t, "usage-snapshot")
	ar := sample(t, "account-removed")
	cr := sample(t, "customer-removed")
	s := strings.Repeat
	return []case_{
		// Accepted, at the edges.
		{name: "customer id of 40", body: with(t, bk, "customer/id", "C"+s("x", 39))},
		{name: "customer id with _ and -", body: with(t, bk, "customer/id", "acme_dental-1001")},
		{name: "account id of 64 with . _ : -", body: with(t, bk, "backup/account/id", "a.b_c:d-"+s("e", 56))},
		{name: "name of 200 characters (400 bytes)", body: with(t, bk, "customer/name", s("é", 200))},
		{name: "message of 2000 with newline and tab", body: with(t, bk, "backup/message", "a\nb\t"+s("m", 1996))},
		{name: "empty optional message", body: with(t, bk, "backup/message", "")},
		{name: "GB zero", body: with(t, bk, "backup/onlineGB", json.Number("0"))},
		{name: "GB just below the limit", body: with(t, bk, "backup/onlineGB", json.Number("9999999.99"))},
		{name: "GB with exponent", body: with(t, bk, "backup/localGB", json.Number("1.5e3"))},
		{name: "no startedAt", body: with(t, bk, "backup/startedAt", remove)},
		{name: "occurredAt with offset and nanoseconds", body: with(t, bk, "occurredAt", "2026-03-02T09:05:00.123456789-05:00")},
		{name: "occurredAt in year 2000", body: with(t, bk, "occurredAt", "2000-01-01T00:00:00Z")},
		{name: "occurredAt on 29 February of a leap year", body: with(t, bk, "occurredAt", "2028-02-29T12:00:00Z")},
		{name: "status without account", body: with(t, st, "status/account", remove)},
		{name: "status account without kind and plan", body: with(t, st, "status/account", map[string]any{"id": "ACME-SRV01"})},
		{name: "notification state omitted", body: with(t, nt, "notification/state", remove)},
		{name: "notification without details", body: with(t, nt, "notification/details", remove)},
		{name: "notification with empty details", body: with(t, nt, "notification/details", map[string]any{})},
		{name: "20 details, key of 64, value of 500", body: with(t, nt, "notification/details", func() map[string]any {
			m := many(19, s("v", 500))
			m[s("k", 64)] = ""
			return m
		}())},
		{name: "detail key with spaces and dots", body: with(t, nt, "notification/details/last backup (UTC).", "x")},
		{name: "one usage counter", body: with(t, us, "usage", map[string]any{"filteringMailboxes": json.Number("0")})},
		{name: "usage counter just below the limit", body: with(t, us, "usage/archivingMailboxes", json.Number("9999999"))},
		{name: "usage counter written 2.0", body: with(t, us, "usage/archivingMailboxes", json.Number("2.0"))},
		{name: "usage counter written 1e2", body: with(t, us, "usage/archivingMailboxes", json.Number("1e2"))},
		{name: "usage counter written -0", body: with(t, us, "usage/archivingMailboxes", json.Number("-0"))},

		// Accepted: version 1.1 carries the 1.0 types, and the removals.
		{name: "backup.completed in version 1.1", body: with(t, bk, "specVersion", "1.1")},
		{name: "service.status in version 1.1", body: with(t, st, "specVersion", "1.1")},
		{name: "notification in version 1.1", body: with(t, nt, "specVersion", "1.1")},
		{name: "usage.snapshot in version 1.1", body: with(t, us, "specVersion", "1.1")},
		{name: "account.removed without reason", body: with(t, ar, "removal/reason", remove)},
		{name: "account.removed account with its id only", body: with(t, ar, "removal/account", map[string]any{"id": "ACME-WS07"})},
		{name: "removal reason of 2000 with newline and tab", body: with(t, ar, "removal/reason", "a\nb\t"+s("r", 1996))},
		{name: "removal reason empty", body: with(t, ar, "removal/reason", "")},
		{name: "customer.removed without removal", body: with(t, cr, "removal", remove)},
		{name: "customer.removed with an empty removal", body: with(t, cr, "removal", map[string]any{})},

		// Top level.
		{name: "specVersion missing", body: with(t, bk, "specVersion", remove), field: "specVersion", problem: "required"},
		{name: "specVersion 2.0", body: with(t, bk, "specVersion", "2.0"), field: "specVersion", problem: `must be "1.0" or "1.1"`},
		{name: "specVersion 1.2", body: with(t, bk, "specVersion", "1.2"), field: "specVersion", problem: `must be "1.0" or "1.1"`},
		{name: "specVersion 1", body: with(t, ar, "specVersion", "1"), field: "specVersion", problem: `must be "1.0" or "1.1"`},
		{name: "account.removed in version 1.0", body: with(t, ar, "specVersion", "1.0"), field: "type", problem: `account.removed needs specVersion "1.1" (not "1.0")`},
		{name: "customer.removed in version 1.0", body: with(t, cr, "specVersion", "1.0"), field: "type", problem: `customer.removed needs specVersion "1.1"`},
		{name: "customer.removed in version 1.0 without removal", body: with(t, with2(t, cr, "specVersion", "1.0"), "removal", remove), field: "type", problem: `customer.removed needs specVersion "1.1"`},
		{name: "account.removed in version 1.0 with a bad account", body: with(t, with2(t, ar, "specVersion", "1.0"), "removal/account/id", "a b"), field: "type", problem: `needs specVersion "1.1"`},
		{name: "specVersion a number", body: with(t, bk, "specVersion", json.Number("1.0")), field: "specVersion", problem: "must be a string"},
		{name: "type unknown", body: with(t, bk, "type", "backup.started"), field: "type", problem: "must be one of backup.completed, service.status, notification, usage.snapshot, account.removed, customer.removed"},
		{name: "type unknown in version 1.1", body: with(t, with2(t, ar, "type", "account.deleted"), "specVersion", "1.1"), field: "type", problem: "must be one of backup.completed"},
		{name: "type missing", body: with(t, bk, "type", remove), field: "type", problem: "required"},
		{name: "type null", body: with(t, bk, "type", nil), field: "type", problem: "must not be null"},
		{name: "unknown top-level field", body: with(t, bk, "tenant", "x"), field: "tenant", problem: "unknown field"},
		{name: "unknown field with a long name", body: with(t, bk, s("z", 300), "x"), field: `["` + s("z", 32) + `\u2026"]`, problem: "unknown field"},
		{name: "occurredAt missing", body: with(t, bk, "occurredAt", remove), field: "occurredAt", problem: "required"},
		{name: "occurredAt not a date", body: with(t, bk, "occurredAt", "yesterday"), field: "occurredAt", problem: "RFC 3339"},
		{name: "occurredAt without time zone", body: with(t, bk, "occurredAt", "2026-03-02T02:41:17"), field: "occurredAt", problem: "RFC 3339"},
		{name: "occurredAt lower case", body: with(t, bk, "occurredAt", "2026-03-02t02:41:17z"), field: "occurredAt", problem: "RFC 3339"},
		{name: "occurredAt 30 February", body: with(t, bk, "occurredAt", "2026-02-30T00:00:00Z"), field: "occurredAt", problem: "calendar"},
		{name: "occurredAt second 60", body: with(t, bk, "occurredAt", "2026-03-02T23:59:60Z"), field: "occurredAt", problem: "RFC 3339"},
		{name: "occurredAt offset +24:00", body: with(t, bk, "occurredAt", "2026-03-02T02:41:17+24:00"), field: "occurredAt", problem: "RFC 3339"},
		{name: "occurredAt before 2000", body: with(t, bk, "occurredAt", "1999-12-31T23:59:59Z"), field: "occurredAt", problem: "RFC 3339"},
		{name: "occurredAt a number", body: with(t, bk, "occurredAt", json.Number("1772419277")), field: "occurredAt", problem: "must be a string"},
		{name: "occurredAt with 10 fraction digits", body: with(t, bk, "occurredAt", "2026-03-02T02:41:17.1234567891Z"), field: "occurredAt", problem: "RFC 3339"},

		// Customer.
		{name: "customer missing", body: with(t, bk, "customer", remove), field: "customer.id", problem: "required"},
		{name: "customer id empty", body: with(t, bk, "customer/id", ""), field: "customer.id", problem: "required"},
		{name: "customer id starting with -", body: with(t, bk, "customer/id", "-1001"), field: "customer.id", problem: "1 to 40"},
		{name: "customer id of 41", body: with(t, bk, "customer/id", "C"+s("x", 40)), field: "customer.id", problem: "1 to 40"},
		{name: "customer id with a dot", body: with(t, bk, "customer/id", "10.01"), field: "customer.id", problem: "1 to 40"},
		{name: "customer id a number", body: with(t, bk, "customer/id", json.Number("1001")), field: "customer.id", problem: "must be a string"},
		{name: "customer a string", body: with(t, bk, "customer", "1001"), field: "customer", problem: "must be an object"},
		{name: "customer name of 201", body: with(t, bk, "customer/name", s("n", 201)), field: "customer.name", problem: "at most 200"},
		{name: "customer name with a bell", body: with(t, bk, "customer/name", "Acme\u0007"), field: "customer.name", problem: "control"},
		{name: "customer name with a newline", body: with(t, bk, "customer/name", "Acme\nDental"), field: "customer.name", problem: "control"},
		{name: "customer name with a C1 control", body: with(t, bk, "customer/name", "Acme\u0085"), field: "customer.name", problem: "control"},
		{name: "customer unknown field", body: with(t, bk, "customer/cid", "1001"), field: "customer.cid", problem: "unknown field"},

		// Data objects.
		{name: "backup missing", body: with(t, bk, "backup", remove), field: "backup", problem: "required for type backup.completed"},
		{name: "status beside backup", body: with(t, bk, "status", st["status"]), field: "status", problem: "not allowed for type backup.completed"},
		{name: "usage beside notification", body: with(t, nt, "usage", us["usage"]), field: "usage", problem: "not allowed for type notification"},
		{name: "notification missing", body: with(t, nt, "notification", remove), field: "notification", problem: "required for type notification"},
		{name: "status missing", body: with(t, st, "status", remove), field: "status", problem: "required"},
		{name: "usage missing", body: with(t, us, "usage", remove), field: "usage", problem: "required"},
		{name: "backup null", body: with(t, bk, "backup", nil), field: "backup", problem: "must not be null"},
		{name: "backup an array", body: with(t, bk, "backup", []any{}), field: "backup", problem: "must be an object"},
		{name: "removal beside backup", body: with(t, bk, "removal", ar["removal"]), field: "removal", problem: "not allowed for type backup.completed (its data goes in backup)"},
		{name: "empty removal beside usage in version 1.1", body: with(t, with2(t, us, "specVersion", "1.1"), "removal", map[string]any{}), field: "removal", problem: "not allowed for type usage.snapshot"},
		{name: "removal beside status in version 1.0", body: with(t, st, "removal", cr["removal"]), field: "removal", problem: "not allowed for type service.status"},
		{name: "backup beside removal", body: with(t, ar, "backup", bk["backup"]), field: "backup", problem: "not allowed for type account.removed (its data goes in removal)"},
		{name: "usage beside removal", body: with(t, cr, "usage", us["usage"]), field: "usage", problem: "not allowed for type customer.removed (its data goes in removal)"},
		{name: "status instead of removal on customer.removed", body: with(t, with2(t, cr, "removal", remove), "status", st["status"]), field: "status", problem: "not allowed for type customer.removed"},
		{name: "removal missing on account.removed", body: with(t, ar, "removal", remove), field: "removal", problem: "required for type account.removed"},
		{name: "removal null", body: with(t, cr, "removal", nil), field: "removal", problem: "must not be null"},
		{name: "removal an array", body: with(t, ar, "removal", []any{}), field: "removal", problem: "must be an object"},
		{name: "removal a string", body: with(t, cr, "removal", "gone"), field: "removal", problem: "must be an object"},

		// backup.completed.
		{name: "backup account missing", body: with(t, bk, "backup/account", remove), field: "backup.account.id", problem: "required"},
		{name: "backup account null", body: with(t, bk, "backup/account", nil), field: "backup.account", problem: "must not be null"},
		{name: "backup account kind missing", body: with(t, bk, "backup/account/kind", remove), field: "backup.account.kind", problem: "required"},
		{name: "backup account plan missing", body: with(t, bk, "backup/account/plan", remove), field: "backup.account.plan", problem: "required"},
		{name: "backup account plan unknown", body: with(t, bk, "backup/account/plan", "gold"), field: "backup.account.plan", problem: "must be one of select, basic, shadowprotect_bdr"},
		{name: "backup account kind empty", body: with(t, bk, "backup/account/kind", ""), field: "backup.account.kind", problem: "must be one of server, desktop"},
		{name: "backup account id with a space", body: with(t, bk, "backup/account/id", "ACME SRV01"), field: "backup.account.id", problem: "1 to 64"},
		{name: "backup account id of 65", body: with(t, bk, "backup/account/id", "A"+s("x", 64)), field: "backup.account.id", problem: "1 to 64"},
		{name: "backup account name of 201", body: with(t, bk, "backup/account/name", s("n", 201)), field: "backup.account.name", problem: "at most 200"},
		{name: "backup account unknown field", body: with(t, bk, "backup/account/os", "windows"), field: "backup.account.os", problem: "unknown field"},
		{name: "backup result unknown", body: with(t, bk, "backup/result", "partial"), field: "backup.result", problem: "must be one of success, warning, failure"},
		{name: "backup result missing", body: with(t, bk, "backup/result", remove), field: "backup.result", problem: "required"},
		{name: "backup endedAt missing", body: with(t, bk, "backup/endedAt", remove), field: "backup.endedAt", problem: "required"},
		{name: "backup startedAt not a date", body: with(t, bk, "backup/startedAt", "02:00"), field: "backup.startedAt", problem: "RFC 3339"},
		{name: "backup onlineGB negative", body: with(t, bk, "backup/onlineGB", json.Number("-1")), field: "backup.onlineGB", problem: "must not be negative"},
		{name: "backup onlineGB at the limit", body: with(t, bk, "backup/onlineGB", json.Number("10000000")), field: "backup.onlineGB", problem: "below 10000000"},
		{name: "backup onlineGB beyond float64", body: with(t, bk, "backup/onlineGB", json.Number("1e400")), field: "backup.onlineGB", problem: "below 10000000"},
		{name: "backup onlineGB missing", body: with(t, bk, "backup/onlineGB", remove), field: "backup.onlineGB", problem: "required"},
		{name: "backup localGB a string", body: with(t, bk, "backup/localGB", "12"), field: "backup.localGB", problem: "must be a number"},
		{name: "backup localGB missing", body: with(t, bk, "backup/localGB", remove), field: "backup.localGB", problem: "required"},
		{name: "backup message of 2001", body: with(t, bk, "backup/message", s("m", 2001)), field: "backup.message", problem: "at most 2000"},
		{name: "backup message with a carriage return", body: with(t, bk, "backup/message", "a\r\nb"), field: "backup.message", problem: "other than newline and tab"},
		{name: "backup message with NUL", body: with(t, bk, "backup/message", "a\u0000b"), field: "backup.message", problem: "control"},
		{name: "backup message null", body: with(t, bk, "backup/message", nil), field: "backup.message", problem: "must not be null"},
		{name: "backup unknown field", body: with(t, bk, "backup/files", json.Number("3")), field: "backup.files", problem: "unknown field"},

		// service.status.
		{name: "status service unknown", body: with(t, st, "status/service", "tape"), field: "status.service", problem: "must be one of online_backup"},
		{name: "status health missing", body: with(t, st, "status/health", remove), field: "status.health", problem: "required"},
		{name: "status account empty", body: with(t, st, "status/account", map[string]any{}), field: "status.account.id", problem: "required"},
		{name: "status account kind unknown", body: with(t, st, "status/account/kind", "laptop"), field: "status.account.kind", problem: "must be one of server, desktop"},
		{name: "status message of 2001", body: with(t, st, "status/message", s("m", 2001)), field: "status.message", problem: "at most 2000"},

		// notification.
		{name: "notification kind unknown", body: with(t, nt, "notification/kind", "power_failure"), field: "notification.kind", problem: "must be one of backup_failure"},
		{name: "notification kind missing", body: with(t, nt, "notification/kind", remove), field: "notification.kind", problem: "required"},
		{name: "notification severity unknown", body: with(t, nt, "notification/severity", "fatal"), field: "notification.severity", problem: "must be one of info, warning, error, critical"},
		{name: "notification state unknown", body: with(t, nt, "notification/state", "open"), field: "notification.state", problem: "must be one of raised, cleared"},
		{name: "notification state empty", body: with(t, nt, "notification/state", ""), field: "notification.state", problem: "must be one of raised, cleared"},
		{name: "notification message missing", body: with(t, nt, "notification/message", remove), field: "notification.message", problem: "required"},
		{name: "notification message empty", body: with(t, nt, "notification/message", ""), field: "notification.message", problem: "required"},
		{name: "notification message of 2001", body: with(t, nt, "notification/message", s("m", 2001)), field: "notification.message", problem: "at most 2000"},
		{name: "notification account id missing", body: with(t, nt, "notification/account/id", remove), field: "notification.account.id", problem: "required"},
		{name: "notification details 21", body: with(t, nt, "notification/details", many(21, "v")), field: "notification.details", problem: "at most 20 entries"},
		{name: "notification details key of 65", body: with(t, nt, "notification/details/"+s("k", 65), "v"), field: "notification.details", problem: "at most 64 characters"},
		{name: "notification details key empty", body: with(t, nt, "notification/details/", "v"), field: "notification.details", problem: "must not be empty"},
		{name: "notification details key with a tab", body: with(t, nt, "notification/details/a\tb", "v"), field: "notification.details", problem: "control"},
		{name: "notification details value of 501", body: with(t, nt, "notification/details/volume", s("v", 501)), field: "notification.details.volume", problem: "at most 500"},
		{name: "notification details value with a newline", body: with(t, nt, "notification/details/volume", "D:\nE:"), field: "notification.details.volume", problem: "control"},
		{name: "notification details value a number", body: with(t, nt, "notification/details/volume", json.Number("4")), field: "notification.details.volume", problem: "must be a string"},
		{name: "notification details value under an odd key", body: with(t, nt, "notification/details/last backup", json.Number("4")), field: `notification.details["last backup"]`, problem: "must be a string"},
		{name: "notification details an array", body: with(t, nt, "notification/details", []any{"a"}), field: "notification.details", problem: "must be an object"},

		// usage.snapshot.
		{name: "usage empty", body: with(t, us, "usage", map[string]any{}), field: "usage", problem: "at least one counter"},
		{name: "usage counter negative", body: with(t, us, "usage/archivingMailboxes", json.Number("-1")), field: "usage.archivingMailboxes", problem: "must not be negative"},
		{name: "usage counter with a fraction", body: with(t, us, "usage/archivingMailboxes", json.Number("1.5")), field: "usage.archivingMailboxes", problem: "whole number"},
		{name: "usage counter 1e-400", body: with(t, us, "usage/archivingMailboxes", json.Number("1e-400")), field: "usage.archivingMailboxes", problem: "whole number"},
		{name: "usage counter at the limit", body: with(t, us, "usage/filteringMailboxes", json.Number("10000000")), field: "usage.filteringMailboxes", problem: "below 10000000"},
		{name: "usage counter huge", body: with(t, us, "usage/filteringMailboxes", json.Number("1e30")), field: "usage.filteringMailboxes", problem: "below 10000000"},
		{name: "usage counter a string", body: with(t, us, "usage/shadowProtectServers", "2"), field: "usage.shadowProtectServers", problem: "must be a number"},
		{name: "usage counter null", body: with(t, us, "usage/shadowProtectServers", nil), field: "usage.shadowProtectServers", problem: "must not be null"},
		{name: "usage unknown counter", body: with(t, us, "usage/seats", json.Number("3")), field: "usage.seats", problem: "unknown field"},

		// account.removed and customer.removed.
		{name: "removal account missing", body: with(t, ar, "removal/account", remove), field: "removal.account", problem: "required for type account.removed"},
		{name: "removal empty on account.removed", body: with(t, ar, "removal", map[string]any{}), field: "removal.account", problem: "required for type account.removed"},
		{name: "removal account null", body: with(t, ar, "removal/account", nil), field: "removal.account", problem: "must not be null"},
		{name: "removal account a string", body: with(t, ar, "removal/account", "ACME-WS07"), field: "removal.account", problem: "must be an object"},
		{name: "removal account empty", body: with(t, ar, "removal/account", map[string]any{}), field: "removal.account.id", problem: "required"},
		{name: "removal account id missing", body: with(t, ar, "removal/account/id", remove), field: "removal.account.id", problem: "required"},
		{name: "removal account id with a space", body: with(t, ar, "removal/account/id", "ACME WS07"), field: "removal.account.id", problem: "1 to 64"},
		{name: "removal account id a number", body: with(t, ar, "removal/account/id", json.Number("7")), field: "removal.account.id", problem: "must be a string"},
		{name: "removal account kind unknown", body: with(t, ar, "removal/account/kind", "laptop"), field: "removal.account.kind", problem: "must be one of server, desktop"},
		{name: "removal account plan empty", body: with(t, ar, "removal/account/plan", ""), field: "removal.account.plan", problem: "must be one of select, basic, shadowprotect_bdr"},
		{name: "removal account name of 201", body: with(t, ar, "removal/account/name", s("n", 201)), field: "removal.account.name", problem: "at most 200"},
		{name: "removal account name with a tab", body: with(t, ar, "removal/account/name", "Front\tdesk"), field: "removal.account.name", problem: "control"},
		{name: "removal account unknown field", body: with(t, ar, "removal/account/os", "windows"), field: "removal.account.os", problem: "unknown field"},
		{name: "removal reason of 2001", body: with(t, ar, "removal/reason", s("r", 2001)), field: "removal.reason", problem: "at most 2000"},
		{name: "removal reason with a carriage return", body: with(t, cr, "removal/reason", "a\r\nb"), field: "removal.reason", problem: "other than newline and tab"},
		{name: "removal reason with a C1 control", body: with(t, ar, "removal/reason", "a\u0085b"), field: "removal.reason", problem: "control"},
		{name: "removal reason a number", body: with(t, cr, "removal/reason", json.Number("1")), field: "removal.reason", problem: "must be a string"},
		{name: "removal reason null", body: with(t, ar, "removal/reason", nil), field: "removal.reason", problem: "must not be null"},
		{name: "removal unknown field", body: with(t, ar, "removal/removedAt", "2026-03-08T16:30:00Z"), field: "removal.removedAt", problem: "unknown field"},
		{name: "customer.removed with an account", body: with(t, cr, "removal/account", map[string]any{"id": "BIRCH-SRV01"}), field: "removal.account", problem: "not allowed for type customer.removed"},
		{name: "customer.removed with an empty account", body: with(t, cr, "removal/account", map[string]any{}), field: "removal.account", problem: "not allowed for type customer.removed"},

		// The body as a whole.
		{name: "empty body", body: []byte(""), field: "", problem: "body is empty"},
		{name: "array body", body: []byte(`[{"specVersion":"1.0"}]`), field: "", problem: "body must be a JSON object"},
		{name: "null body", body: []byte(`null`), field: "", problem: "body must be a JSON object"},
		{name: "truncated JSON", body: []byte(`{"specVersion":"1.0","type":`), field: "", problem: "body is not valid JSON"},
		{name: "not JSON", body: []byte(`specVersion=1.0`), field: "", problem: "body is not valid JSON"},
		{name: "trailing comma", body: []byte(`{"specVersion":"1.0",}`), field: "", problem: "body is not valid JSON"},
		{name: "data after the object", body: append(with(t, bk, "type", "backup.completed"), []byte(`{}`)...), field: "", problem: "data after the top-level value"},
		{name: "deeply nested unknown field", body: with(t, bk, "x", map[string]any{"a": map[string]any{"b": map[string]any{"c": map[string]any{"d": map[string]any{"e": map[string]any{"f": map[string]any{"g": map[string]any{}}}}}}}}), field: "x.a.b.c.d.e.f.g", problem: "nested too deeply"},
		{name: "duplicate key", body: []byte(`{"specVersion":"1.0","specVersion":"1.0"}`), field: "specVersion", problem: "appears more than once", goOnly: true},
		{name: "duplicate nested key", body: bytes.Replace(with(t, bk, "type", "backup.completed"), []byte(`"result":"success"`), []byte(`"result":"success","result":"failure"`), 1), field: "backup.result", problem: "appears more than once", goOnly: true},
		{name: "invalid UTF-8", body: bytes.Replace(with(t, bk, "customer/name", "Acme@"), []byte("@"), []byte{0xff}, 1), field: "", problem: "not valid UTF-8", goOnly: true},
	}
}
