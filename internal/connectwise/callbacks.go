package connectwise

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// CallbacksService handles /system/callbacks: ConnectWise's webhooks, which
// POST a CallbackPayload to a URL whenever a record of the watched kind
// changes.
type CallbacksService service

// Callback types and levels the service uses. ConnectWise has more types
// (Activity, Agreement, Company, Contact, Opportunity, Project, ...), each
// with its own levels.
const (
	CallbackTypeTicket = "Ticket"

	// CallbackLevelOwner watches every record of the type (ObjectID 1, or
	// 0: it is ignored).
	CallbackLevelOwner = "Owner"
	// CallbackLevelBoard watches the tickets of one service board (ObjectID
	// is the board id).
	CallbackLevelBoard = "Board"
	// CallbackLevelStatus watches the tickets in one status (ObjectID is the
	// status id).
	CallbackLevelStatus = "Status"
	// CallbackLevelTicket watches one ticket (ObjectID is the ticket id).
	CallbackLevelTicket = "Ticket"
	// CallbackLevelCompany watches the tickets of one company (ObjectID is
	// the company id).
	CallbackLevelCompany = "Company"
)

// Actions of a CallbackPayload.
const (
	CallbackActionAdded   = "added"
	CallbackActionUpdated = "updated"
	CallbackActionDeleted = "deleted"
)

// Callback is a callback registration (a CallbackEntry). URL (max 1000, an
// absolute http or https URL), Type and Level are required; ObjectID is
// required for every level but Owner, and is always sent (0 is a real value
// for Owner). Description is at most 100 characters. InactiveFlag is always
// sent, so that Update of a Callback built from scratch reactivates it.
// ConnectWise refuses a second callback with the same URL, Type, Level and
// ObjectID.
type Callback struct {
	ID           int            `json:"id,omitempty"`
	Description  string         `json:"description,omitempty"`
	URL          string         `json:"url"`
	ObjectID     int            `json:"objectId"`
	Type         string         `json:"type"`
	Level        string         `json:"level"`
	InactiveFlag bool           `json:"inactiveFlag"`
	Info         map[string]any `json:"_info,omitempty"`
}

const callbacksPath = "system/callbacks"

// List returns one page of callbacks. GET /system/callbacks
func (s *CallbacksService) List(ctx context.Context, opts *ListOptions) ([]Callback, *Response, error) {
	return list[Callback](ctx, s.client, callbacksPath, opts)
}

// All returns every callback matching opts, page by page, keeping every
// query parameter on every page. GET /system/callbacks
func (s *CallbacksService) All(ctx context.Context, opts ListOptions) iter.Seq2[Callback, error] {
	return all[Callback](ctx, s.client, callbacksPath, opts)
}

// Get returns a callback. GET /system/callbacks/{id}
func (s *CallbacksService) Get(ctx context.Context, id int) (*Callback, *Response, error) {
	if err := checkID("callback", id); err != nil {
		return nil, nil, err
	}
	return get[Callback](ctx, s.client, fmt.Sprintf("%s/%d", callbacksPath, id))
}

// Create registers a callback. POST /system/callbacks
//
// It is retried only on 429. After a 5xx or a timeout the callback may
// exist all the same: list the callbacks (conditions on url, type, level
// and objectId) before creating it again; a duplicate is refused with 400.
func (s *CallbacksService) Create(ctx context.Context, cb *Callback) (*Callback, *Response, error) {
	if cb == nil {
		return nil, nil, errors.New("connectwise: Callbacks.Create: nil callback")
	}
	return send[Callback](ctx, s.client, http.MethodPost, callbacksPath, cb)
}

// Update replaces the callback cb.ID with cb: every field is sent, so a
// field left zero is set to zero. PUT /system/callbacks/{id}
func (s *CallbacksService) Update(ctx context.Context, cb *Callback) (*Callback, *Response, error) {
	if cb == nil {
		return nil, nil, errors.New("connectwise: Callbacks.Update: nil callback")
	}
	if err := checkID("callback", cb.ID); err != nil {
		return nil, nil, err
	}
	return send[Callback](ctx, s.client, http.MethodPut, fmt.Sprintf("%s/%d", callbacksPath, cb.ID), cb)
}

// Delete deletes a callback. DELETE /system/callbacks/{id}
//
// Being idempotent it is retried on transient errors, so ErrNotFound may
// also mean that an earlier attempt, whose answer was lost, deleted it.
func (s *CallbacksService) Delete(ctx context.Context, id int) (*Response, error) {
	if err := checkID("callback", id); err != nil {
		return nil, err
	}
	req, err := s.client.NewRequest(ctx, http.MethodDelete, fmt.Sprintf("%s/%d", callbacksPath, id), nil)
	if err != nil {
		return nil, err
	}
	return s.client.Do(req, nil)
}

// CallbackSignatureHeader is the request header that carries the signature
// of a callback delivery (see VerifyCallback).
const CallbackSignatureHeader = "x-content-signature"

// CallbackPayload is the body ConnectWise POSTs to a callback URL.
//
// ConnectWise is not consistent about JSON types here, so decoding is
// lenient: ID and CallbackObjectRecID accept a number or a string of digits
// (an empty string or null is 0; a fraction or anything else is an error);
// CompanyID and MemberID accept a string or a number (kept as its text);
// Entity, the record as JSON text, accepts a string or the JSON object
// itself (kept as its text), and null is "". Field names match ignoring
// case, as encoding/json does. Encoding writes ConnectWise's usual shape
// (numbers for ID and CallbackObjectRecId, a string for Entity).
type CallbackPayload struct {
	MessageID string `json:"MessageId"`
	// FromURL is the ConnectWise site the callback came from.
	FromURL string `json:"FromUrl"`
	// CompanyID is the company id the site's users log in with.
	CompanyID string `json:"CompanyId"`
	// MemberID identifies the member whose change fired the callback.
	MemberID string `json:"MemberId"`
	// Action is CallbackActionAdded, CallbackActionUpdated or
	// CallbackActionDeleted.
	Action string `json:"Action"`
	// Type is the record type in lower case, such as "ticket".
	Type string `json:"Type"`
	// ID is the id of the record that changed.
	ID int `json:"ID"`
	// CallbackObjectRecID is the id of the callback registration.
	CallbackObjectRecID int              `json:"CallbackObjectRecId"`
	Metadata            CallbackMetadata `json:"Metadata"`
	// Entity is the record as JSON text (see DecodeEntity).
	Entity string `json:"Entity"`
}

// CallbackMetadata is the Metadata of a CallbackPayload.
type CallbackMetadata struct {
	// KeyURL answers an unauthenticated GET with {"signing_key": "..."},
	// the key of the request's signature. It comes from the request itself:
	// fetch it only when its scheme is https and its host is the
	// ConnectWise site you configured, or anyone could sign a forged
	// request with a key of their own.
	KeyURL string `json:"key_url"`
}

// UnmarshalJSON decodes a payload leniently (see CallbackPayload).
func (p *CallbackPayload) UnmarshalJSON(data []byte) error {
	var raw struct {
		MessageID           string           `json:"MessageId"`
		FromURL             string           `json:"FromUrl"`
		CompanyID           json.RawMessage  `json:"CompanyId"`
		MemberID            json.RawMessage  `json:"MemberId"`
		Action              string           `json:"Action"`
		Type                string           `json:"Type"`
		ID                  json.RawMessage  `json:"ID"`
		CallbackObjectRecID json.RawMessage  `json:"CallbackObjectRecId"`
		Metadata            CallbackMetadata `json:"Metadata"`
		Entity              json.RawMessage  `json:"Entity"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("connectwise: callback payload: %w", err)
	}
	out := CallbackPayload{
		MessageID: raw.MessageID,
		FromURL:   raw.FromURL,
		Action:    raw.Action,
		Type:      raw.Type,
		Metadata:  raw.Metadata,
	}
	var err error
	if out.CompanyID, err = lenientString("CompanyId", raw.CompanyID); err != nil {
		return err
	}
	if out.MemberID, err = lenientString("MemberId", raw.MemberID); err != nil {
		return err
	}
	if out.ID, err = lenientInt("ID", raw.ID); err != nil {
		return err
	}
	if out.CallbackObjectRecID, err = lenientInt("CallbackObjectRecId", raw.CallbackObjectRecID); err != nil {
		return err
	}
	if out.Entity, err = lenientEntity(raw.Entity); err != nil {
		return err
	}
	*p = out
	return nil
}

// DecodeEntity decodes Entity, the changed record, into v (a *Ticket for a
// ticket callback).
func (p *CallbackPayload) DecodeEntity(v any) error {
	if strings.TrimSpace(p.Entity) == "" {
		return errors.New("connectwise: callback payload has no Entity")
	}
	if err := json.Unmarshal([]byte(p.Entity), v); err != nil {
		return fmt.Errorf("connectwise: callback payload: Entity is not the JSON of a %s: %w", p.Type, err)
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// lenientInt reads a JSON number or a string of digits as an int.
func lenientInt(field string, raw json.RawMessage) (int, error) {
	if isNull(raw) {
		return 0, nil
	}
	bad := fmt.Errorf("connectwise: callback payload: %s is not an integer or a string of digits", field)
	var text string
	if err := json.Unmarshal(raw, &text); err == nil {
		text = strings.TrimSpace(text)
		if text == "" {
			return 0, nil
		}
	} else {
		var num json.Number
		if err := json.Unmarshal(raw, &num); err != nil {
			return 0, bad
		}
		text = num.String()
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		// 1e3 or 123.0 are integers written as floats
		f, ferr := strconv.ParseFloat(text, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, bad
		}
		n = int64(f)
	}
	if n != int64(int(n)) {
		return 0, bad
	}
	return int(n), nil
}

// lenientString reads a JSON string, or a number as its text.
func lenientString(field string, raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var num json.Number
	if err := json.Unmarshal(raw, &num); err == nil {
		return num.String(), nil
	}
	return "", fmt.Errorf("connectwise: callback payload: %s is not a string or a number", field)
}

// lenientEntity reads Entity: a string holding JSON, or the JSON object
// itself.
func lenientEntity(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	if t := bytes.TrimSpace(raw); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		return string(t), nil
	}
	return "", errors.New("connectwise: callback payload: Entity is not a string or a JSON object")
}

// callbackMAC is HMAC-SHA256 of body keyed with SHA-256(signingKey).
func callbackMAC(body []byte, signingKey string) []byte {
	key := sha256.Sum256([]byte(signingKey))
	mac := hmac.New(sha256.New, key[:])
	mac.Write(body)
	return mac.Sum(nil)
}

// SignCallback returns the signature ConnectWise sends in
// CallbackSignatureHeader: base64(HMAC-SHA256(key = SHA-256(signingKey),
// message = body)), body being the raw request body.
func SignCallback(body []byte, signingKey string) string {
	return base64.StdEncoding.EncodeToString(callbackMAC(body, signingKey))
}

// VerifyCallback reports whether signature (the CallbackSignatureHeader
// value) signs body, the raw request body as received, with signingKey
// (the signing_key of the payload's Metadata.KeyURL). The comparison takes
// constant time. An empty signature or key, or a signature that is not
// standard base64 of 32 bytes, never verifies.
func VerifyCallback(body []byte, signature, signingKey string) bool {
	if signature == "" || signingKey == "" {
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(sig) != sha256.Size {
		return false
	}
	return hmac.Equal(sig, callbackMAC(body, signingKey))
}
