package cwsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// This file holds the writable-field machinery shared by every resource:
// one table per resource says which JSON fields a client may write and how,
// and the same table serves POST, PUT and PATCH.

// setter writes one JSON field into a draft record. raw is nil for a JSON
// Patch remove or a JSON null.
type setter[T any] func(d *T, raw json.RawMessage) error

// fieldTable describes the JSON fields of one resource for writing.
type fieldTable[T any] struct {
	resource string
	// fields are the writable fields (POST, PUT and PATCH).
	fields map[string]setter[T]
	// refs are the reference fields among them: patching a sub-path
	// (status/id) answers 200 and changes nothing, as ConnectWise does.
	refs map[string]bool
	// readOnly fields are ignored in POST/PUT bodies (a client may send back
	// what it read) and refused by PATCH.
	readOnly []string
	// ignored are ConnectWise fields the simulator does not model: accepted
	// and ignored in POST/PUT bodies, refused by PATCH.
	ignored []string
	// postOnly fields are accepted on POST only (initialDescription).
	postOnly map[string]setter[T]
}

// applyBody writes the fields of a POST (post true) or PUT body into d.
// Unknown fields are errors (stricter than ConnectWise, which ignores them).
func (ft *fieldTable[T]) applyBody(d *T, body map[string]json.RawMessage, post bool) []fieldError {
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var errs []fieldError
	for _, k := range keys {
		raw := body[k]
		if isJSONNull(raw) {
			raw = nil
		}
		set, ok := ft.fields[k]
		if !ok && post {
			set, ok = ft.postOnly[k]
		}
		switch {
		case ok:
			if err := set(d, raw); err != nil {
				errs = append(errs, fieldError{Code: codeInvalidField, Message: k + ": " + err.Error(), Field: k})
			}
		case slices.Contains(ft.readOnly, k), slices.Contains(ft.ignored, k):
		case ft.postOnly[k] != nil:
			errs = append(errs, fieldError{Code: codeInvalidField, Message: k + " can only be set when the " + ft.resource + " is created.", Field: k})
		default:
			errs = append(errs, fieldError{Code: codeInvalidField, Message: k + " is not a field of " + ft.resource + ".", Field: k})
		}
	}
	return errs
}

// patchOp is one operation of a JSON Patch body.
type patchOp struct {
	Op    string
	Path  string
	Value json.RawMessage
}

// parsePatch checks the shape of a PATCH body: a non-empty JSON array of
// {"op","path","value"} objects, op add, replace or remove.
func parsePatch(resource string, body []byte) ([]patchOp, *response) {
	fail := func(field, msg string) ([]patchOp, *response) {
		r := badRequest(resource, field, msg)
		return nil, &r
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '[' {
		return fail("", `PATCH takes a JSON Patch array such as [{"op":"replace","path":"summary","value":"..."}], not a JSON object.`)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(trimmed, &items); err != nil {
		return fail("", "The PATCH body is not a valid JSON array: "+err.Error())
	}
	if len(items) == 0 {
		return fail("", "The PATCH body holds no operation.")
	}
	ops := make([]patchOp, 0, len(items))
	for i, it := range items {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(it, &m); err != nil || m == nil {
			return fail("", fmt.Sprintf("PATCH operation %d is not a JSON object.", i))
		}
		for k := range m {
			if k != "op" && k != "path" && k != "value" {
				return fail("", fmt.Sprintf("PATCH operation %d has an unsupported member %q (only op, path and value).", i, k))
			}
		}
		var op patchOp
		if err := json.Unmarshal(m["op"], &op.Op); err != nil || op.Op == "" {
			return fail("", fmt.Sprintf("PATCH operation %d needs a string op.", i))
		}
		if err := json.Unmarshal(m["path"], &op.Path); err != nil || strings.Trim(op.Path, "/") == "" {
			return fail("", fmt.Sprintf("PATCH operation %d needs a string path.", i))
		}
		switch op.Op {
		case "add", "replace":
			v, ok := m["value"]
			if !ok {
				return fail(strings.TrimPrefix(op.Path, "/"), fmt.Sprintf("PATCH operation %d (%s %s) needs a value.", i, op.Op, op.Path))
			}
			op.Value = v
		case "remove":
		default:
			return fail(strings.TrimPrefix(op.Path, "/"), fmt.Sprintf("PATCH operation %d: op %q is not supported (add, replace or remove).", i, op.Op))
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// applyPatch applies operations to d in order. Paths are case sensitive,
// with or without a leading "/". A sub-path of a reference field changes
// nothing (the ConnectWise trap); read-only and unknown paths are errors.
func (ft *fieldTable[T]) applyPatch(d *T, ops []patchOp) []fieldError {
	var errs []fieldError
	for _, op := range ops {
		path := strings.TrimPrefix(op.Path, "/")
		top, _, sub := strings.Cut(path, "/")
		if slices.Contains(ft.readOnly, top) {
			errs = append(errs, fieldError{Code: codeInvalidField, Message: top + " is read-only.", Field: path})
			continue
		}
		if sub {
			if ft.refs[top] {
				continue // accepted, ignored: replace the whole reference instead.
			}
			errs = append(errs, fieldError{Code: codeInvalidField, Message: "Cannot patch " + path + ": " + top + " is not a reference field of " + ft.resource + " (paths are case sensitive).", Field: path})
			continue
		}
		set, ok := ft.fields[path]
		if !ok {
			errs = append(errs, fieldError{Code: codeInvalidField, Message: "Cannot patch " + path + ": not a patchable field of " + ft.resource + " (paths are case sensitive).", Field: path})
			continue
		}
		raw := op.Value
		if op.Op == "remove" || isJSONNull(raw) {
			raw = nil
		}
		if err := set(d, raw); err != nil {
			errs = append(errs, fieldError{Code: codeInvalidField, Message: path + ": " + err.Error(), Field: path})
		}
	}
	return errs
}

// decodeObject decodes a POST/PUT body, which must be one JSON object.
func decodeObject(resource string, body []byte) (map[string]json.RawMessage, *response) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil || m == nil {
		msg := "The request body must be a JSON object."
		if err != nil {
			msg += " " + err.Error()
		}
		r := badRequest(resource, "", msg)
		return nil, &r
	}
	if dec.More() {
		r := badRequest(resource, "", "The request body holds more than one JSON value.")
		return nil, &r
	}
	return m, nil
}

// decodeBody reads a POST (post true) or PUT body into d, which holds the
// record's defaults: it returns the body's members, or the 400 to answer.
func (ft *fieldTable[T]) decodeBody(d *T, body []byte, post bool) (map[string]json.RawMessage, *response) {
	m, bad := decodeObject(ft.resource, body)
	if bad != nil {
		return nil, bad
	}
	if errs := ft.applyBody(d, m, post); errs != nil {
		r := invalid(ft.resource, errs)
		return nil, &r
	}
	return m, nil
}

func isJSONNull(raw json.RawMessage) bool {
	return raw == nil || string(bytes.TrimSpace(raw)) == "null"
}

// Setter constructors. Each refuses a JSON value of the wrong type.

// jsonField decodes a JSON value of type V into the field get returns; a
// nil raw (remove or null) stores V's zero value. typeErr is the error for
// a value of the wrong JSON type; conv, when not nil, checks or converts the
// decoded value before it is stored.
func jsonField[T, V any](get func(*T) *V, typeErr string, conv func(V) (V, error)) setter[T] {
	return func(d *T, raw json.RawMessage) error {
		if raw == nil {
			var zero V
			*get(d) = zero
			return nil
		}
		var v V
		if err := json.Unmarshal(raw, &v); err != nil {
			return errors.New(typeErr)
		}
		if conv != nil {
			var err error
			if v, err = conv(v); err != nil {
				return err
			}
		}
		*get(d) = v
		return nil
	}
}

func strField[T any](get func(*T) *string) setter[T] {
	return jsonField(get, "must be a string", nil)
}

func enumField[T any](get func(*T) *string, values ...string) setter[T] {
	return jsonField(get, "must be a string", func(v string) (string, error) {
		if !slices.Contains(values, v) {
			return "", fmt.Errorf("%q is not one of %s", v, strings.Join(values, ", "))
		}
		return v, nil
	})
}

func intField[T any](get func(*T) *int) setter[T] {
	return jsonField(get, "must be an integer", nil)
}

func numField[T any](get func(*T) *float64) setter[T] {
	return jsonField(get, "must be a number", nil)
}

func boolField[T any](get func(*T) *bool) setter[T] {
	return jsonField(get, "must be true or false", nil)
}

// dateField accepts an RFC 3339 date-time and stores it as ConnectWise
// writes dates: UTC, whole seconds, "2026-01-31T00:00:00Z".
func dateField[T any](get func(*T) *string) setter[T] {
	return jsonField(get, "must be a date string such as 2026-01-31T00:00:00Z", func(v string) (string, error) {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return "", fmt.Errorf("%q is not a date such as 2026-01-31T00:00:00Z", v)
		}
		return formatTime(t), nil
	})
}

// refField accepts a reference object {"id":..} or {"name":..} /
// {"identifier":..}; resolution happens when the record is validated.
func refField[T any](get func(*T) *Ref) setter[T] {
	return func(d *T, raw json.RawMessage) error {
		if raw == nil {
			*get(d) = Ref{}
			return nil
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil || m == nil {
			return errors.New(`must be a reference object such as {"id": 1}`)
		}
		var r Ref
		if v, ok := m["id"]; ok && !isJSONNull(v) {
			if err := json.Unmarshal(v, &r.ID); err != nil {
				return errors.New("id must be an integer")
			}
		}
		for k, dst := range map[string]*string{"name": &r.Name, "identifier": &r.Identifier} {
			if v, ok := m[k]; ok && !isJSONNull(v) {
				if err := json.Unmarshal(v, dst); err != nil {
					return errors.New(k + " must be a string")
				}
			}
		}
		*get(d) = r
		return nil
	}
}

func formatTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z")
}

// Validation helpers: each appends a fieldError when the check fails.

type checker struct {
	errs []fieldError
}

func (c *checker) add(code, field, format string, args ...any) {
	c.errs = append(c.errs, fieldError{Code: code, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) required(field, v string) bool {
	if strings.TrimSpace(v) == "" {
		c.add(codeInvalidField, field, "The %s field is required.", field)
		return false
	}
	return true
}

func (c *checker) maxLen(field, v string, n int) {
	if utf8.RuneCountInString(v) > n {
		c.add(codeOutOfRange, field, "%s cannot be longer than %d characters (it has %d).", field, n, utf8.RuneCountInString(v))
	}
}

func (c *checker) requiredRef(field string, r Ref) bool {
	if r.ID == 0 && r.Name == "" && r.Identifier == "" {
		c.add(codeInvalidField, field, "The %s field is required.", field)
		return false
	}
	return true
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }
