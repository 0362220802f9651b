package partner

import (
	"github.com/efs-cw/backupbridge/internal/connectwise"
	"sync"

	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxRequestBytes bounds the operator API's partner body.
const MaxRequestBytes = 64 * 1024

// maxRequestDepth bounds the nesting of a partner body (the body nests four
// deep: body → partner → rules → rule → severities).
const maxRequestDepth = 8

// requestBody is the operator API's body of POST /v1/admin/partners and
// PUT /v1/admin/partners/{id}.
type requestBody struct {
	Partner *Partner        `json:"partner"`
	Secrets *requestSecrets `json:"secrets"`
}

// requestSecrets are the secrets a request may carry: Secrets without its
// binding (SiteURL, CompanyID), which only the server sets (Secrets.Bind),
// so that "secrets.siteUrl" in a body is refused as an unknown field.
type requestSecrets struct {
	PublicKey      string   `json:"publicKey"`
	PrivateKey     string   `json:"privateKey"`
	ClientID       string   `json:"clientId"`
	WebhookSecrets []string `json:"webhookSecrets"`
}

// DecodeRequest reads the operator API's partner body,
//
//	{"partner": {...}, "secrets": {...}}
//
// strictly: one JSON object and nothing after it, at most MaxRequestBytes,
// no unknown or misspelt key (names are matched exactly, not ignoring case),
// no key twice, every value of its setting's JSON type, whole-number
// settings whole. Either part may be absent (nil); a null value counts as
// absent. Every problem is an *InvalidError whose Field is the JSON path of
// the value ("partner.syncWindowHours", "partner.rules[1].action",
// "secrets.webhookSecrets[0]"; "" when the body as a whole is at fault)
// and whose Problem says what is allowed; no problem repeats a value. The
// secrets' binding (Secrets.SiteURL, Secrets.CompanyID) is not part of the
// body: "secrets.siteUrl" is an unknown field, and the returned secrets
// are unbound.
//
// DecodeRequest checks the shape only; CheckRequest checks the settings.
func DecodeRequest(r io.Reader) (*Partner, *Secrets, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxRequestBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read body: %w", err)
	}
	if len(body) > MaxRequestBytes {
		return nil, nil, &InvalidError{Problem: fmt.Sprintf("body is larger than %d bytes", MaxRequestBytes)}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil, &InvalidError{Problem: `body is empty: send {"partner": {...}, "secrets": {...}}`}
	}
	if !utf8.Valid(body) {
		return nil, nil, &InvalidError{Problem: "body is not valid UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tree, err := readJSON(dec, "", 0)
	if err != nil {
		return nil, nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, &InvalidError{Problem: "body is not valid JSON: data after the top-level object"}
	}
	if err := checkShape(tree, reflect.TypeFor[requestBody](), ""); err != nil {
		return nil, nil, err
	}
	var b requestBody
	if err := json.Unmarshal(body, &b); err != nil { // cannot happen after checkShape
		return nil, nil, &InvalidError{Problem: "body is not the expected JSON: " + err.Error()}
	}
	var s *Secrets
	if b.Secrets != nil {
		s = &Secrets{PublicKey: b.Secrets.PublicKey, PrivateKey: b.Secrets.PrivateKey, ClientID: b.Secrets.ClientID, WebhookSecrets: b.Secrets.WebhookSecrets}
	}
	return b.Partner, s, nil
}

// CheckRequest validates a decoded body: the partner's settings (filling
// their defaults, see Partner.Validate) and, when given, the secrets (see
// Secrets.Validate). Problems are *InvalidError with the JSON path in the
// body: "partner.syncWindowHours", "secrets.webhookSecrets[1]".
func CheckRequest(p *Partner, s *Secrets, policy connectwise.SitePolicy) error {
	if p == nil {
		return &InvalidError{Field: "partner", Problem: "required: the partner's settings"}
	}
	if err := p.Validate(policy); err != nil {
		var ie *InvalidError
		if errors.As(err, &ie) {
			return &InvalidError{Field: "partner." + ie.Field, Problem: ie.Problem}
		}
		return err
	}
	if s != nil {
		return s.Validate()
	}
	return nil
}

// CheckUpdate refuses an update that would let the stored ConnectWise keys
// reach a site or company they were not given for: when the update changes
// the site (siteUrl, compared normalised: scheme, host case, default port,
// trailing slash) or the company (companyId, compared ignoring case and
// surrounding spaces), the request must carry both ConnectWise keys
// (secrets.publicKey and secrets.privateKey); otherwise the next call
// (validate, the doctor, any event) would send the stored private key to the
// new host. The answer is an *InvalidError naming the missing key field
// and the changed settings.
//
// old is the stored partner; nil when it cannot be read (ErrUnreadable:
// pass UnreadableError.Partial instead when there is one), in which case the
// keys are required whatever changed. A codebase change needs no keys: the
// keys go to the same host. Pure: reads and writes nothing.
func CheckUpdate(old, updated *Partner, s *Secrets) error {
	haveKeys := s != nil && strings.TrimSpace(s.PublicKey) != "" && strings.TrimSpace(s.PrivateKey) != ""
	if haveKeys || updated == nil {
		return nil
	}
	missing := "secrets.publicKey"
	if s != nil && strings.TrimSpace(s.PublicKey) != "" {
		missing = "secrets.privateKey"
	}
	if old == nil {
		return &InvalidError{Field: missing, Problem: "the stored partner cannot be read, so the update must carry the ConnectWise keys: send secrets with publicKey and privateKey (and clientId and webhookSecrets)"}
	}
	var changed []string
	if !SameSite(old.SiteURL, updated.SiteURL) {
		changed = append(changed, "partner.siteUrl")
	}
	if !strings.EqualFold(strings.TrimSpace(old.CompanyID), strings.TrimSpace(updated.CompanyID)) {
		changed = append(changed, "partner.companyId")
	}
	if len(changed) == 0 {
		return nil
	}
	return &InvalidError{Field: missing, Problem: fmt.Sprintf(
		"%s changed, so the ConnectWise keys for it must come in the same request: send secrets with publicKey and privateKey (and clientId and webhookSecrets); the stored keys are never sent to another site or company",
		strings.Join(changed, " and "))}
}

// SameSite reports whether two ConnectWise site URLs name the same site:
// same scheme and host (ignoring case and a trailing dot), same port (443
// when https and none is written), and the same path ignoring a trailing
// slash. A URL that does not parse is the same only as the identical string.
func SameSite(a, b string) bool {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == b {
		return true
	}
	na, oka := normalSite(a)
	nb, okb := normalSite(b)
	return oka && okb && na == nb
}

func normalSite(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + host + ":" + port + "/" + strings.Trim(u.EscapedPath(), "/") + "?" + u.RawQuery, true
}

// A JSON value is read into: object (keys in document order), []any,
// string, json.Number, bool or nil.
type object []member

type member struct {
	key string
	val any
}

// readJSON reads one JSON value, refusing duplicate keys and deep nesting.
func readJSON(dec *json.Decoder, path string, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonSyntax(err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if depth >= maxRequestDepth {
		return nil, &InvalidError{Field: path, Problem: "nested too deeply"}
	}
	switch d {
	case '{':
		var o object
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, jsonSyntax(err)
			}
			key, _ := kt.(string)
			field := fieldPath(path, key)
			if seen[key] {
				return nil, &InvalidError{Field: field, Problem: "appears more than once"}
			}
			seen[key] = true
			v, err := readJSON(dec, field, depth+1)
			if err != nil {
				return nil, err
			}
			o = append(o, member{key, v})
		}
		if _, err := dec.Token(); err != nil {
			return nil, jsonSyntax(err)
		}
		if o == nil {
			o = object{}
		}
		return o, nil
	case '[':
		a := []any{}
		for dec.More() {
			v, err := readJSON(dec, fmt.Sprintf("%s[%d]", path, len(a)), depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, jsonSyntax(err)
		}
		return a, nil
	}
	return nil, &InvalidError{Problem: "body is not valid JSON: unexpected " + d.String()}
}

// jsonSyntax turns a decoder error into an InvalidError that names the byte
// offset but none of the input.
func jsonSyntax(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return &InvalidError{Problem: "body is not valid JSON: " + se.Error() + " (at byte " + strconv.FormatInt(se.Offset, 10) + ")"}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &InvalidError{Problem: "body is not valid JSON: unexpected end of input"}
	}
	return &InvalidError{Problem: "body is not valid JSON"}
}

var plainKeyRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,63}$`) })

// fieldPath appends key to path: with a dot when it is a plain name,
// otherwise quoted and shortened in brackets, so that a path never echoes
// long or odd input.
func fieldPath(path, key string) string {
	if plainKeyRE().MatchString(key) {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	if utf8.RuneCountInString(key) > 32 {
		key = string([]rune(key)[:32]) + "…"
	}
	return path + "[" + strconv.QuoteToASCII(key) + "]"
}

var indexRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\[[0-9]+\]`) })

// problemAt says what the value at path (of Go type t) must be.
func problemAt(path string, t reflect.Type) string {
	general := indexRE().ReplaceAllString(path, "[]")
	switch {
	case strings.HasPrefix(general, "partner."):
		if p := settingProblem(strings.TrimPrefix(general, "partner.")); p != "" {
			return p
		}
	case general == "secrets.webhookSecrets" || general == "secrets.webhookSecrets[]":
		return "must be a list of webhook signing secrets; each " + webhookSecretRule
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "must be a string"
	case reflect.Bool:
		return "must be true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "must be a whole number"
	case reflect.Slice:
		return "must be a list"
	}
	return "must be an object"
}

// jsonFields maps the JSON names of a struct's fields to their types.
func jsonFields(t reflect.Type) (map[string]reflect.Type, []string) {
	m := map[string]reflect.Type{}
	var names []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
		names = append(names, name)
	}
	return m, names
}

// checkShape checks that the value v read from JSON fits the Go type t
// exactly as encoding/json will decode it, and that every key is known.
func checkShape(v any, t reflect.Type, path string) error {
	if v == nil {
		return nil // null: as if absent
	}
	bad := func() error {
		if path == "" {
			return &InvalidError{Problem: `body must be a JSON object: {"partner": {...}, "secrets": {...}}`}
		}
		return &InvalidError{Field: path, Problem: problemAt(path, t)}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		o, ok := v.(object)
		if !ok {
			return bad()
		}
		fields, names := jsonFields(t)
		for _, m := range o {
			ft, ok := fields[m.key]
			field := fieldPath(path, m.key)
			if !ok {
				return unknownKey(path, field, m.key, names)
			}
			if err := checkShape(m.val, ft, field); err != nil {
				return err
			}
		}
	case reflect.Map:
		o, ok := v.(object)
		if !ok {
			return bad()
		}
		for _, m := range o {
			if err := checkShape(m.val, t.Elem(), fieldPath(path, m.key)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		a, ok := v.([]any)
		if !ok {
			return bad()
		}
		for i, e := range a {
			if err := checkShape(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return bad()
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			return bad()
		}
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			return bad()
		}
	default:
		return bad()
	}
	return nil
}

// unknownKey refuses a key the body does not have, suggesting the known key
// it differs from only in case.
func unknownKey(parent, field, key string, names []string) error {
	for _, n := range names {
		if strings.EqualFold(n, key) {
			return &InvalidError{Field: field, Problem: fmt.Sprintf("unknown field; did you mean %q? (names are case-sensitive)", n)}
		}
	}
	where := "the body"
	if parent != "" {
		where = parent
	}
	return &InvalidError{Field: field, Problem: fmt.Sprintf("unknown field; %s has %s", where, strings.Join(names, ", "))}
}
