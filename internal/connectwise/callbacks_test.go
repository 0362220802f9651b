package connectwise

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestCallbackCallsHitTheirEndpoints calls every Callbacks method against a
// server that only knows that method's route, under the real base path
// (newFakeCW checks the auth, clientId and Accept headers of each).
func TestCallbackCallsHitTheirEndpoints(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		pattern  string
		wantPath string
		wantBody string
		status   int
		answer   string
		call     func(context.Context, *Client) error
	}{
		{"List", "GET /system/callbacks", "/system/callbacks", "", 200, `[{"id":5,"url":"https://x.example/cb","objectId":7,"type":"Ticket","level":"Board"}]`,
			func(ctx context.Context, c *Client) error {
				cbs, _, err := c.Callbacks.List(ctx, &ListOptions{Conditions: `type="Ticket"`})
				if err == nil && (len(cbs) != 1 || cbs[0].ID != 5 || cbs[0].ObjectID != 7 || cbs[0].Level != "Board") {
					return errors.New("list decoded wrong")
				}
				return err
			}},
		{"All", "GET /system/callbacks", "/system/callbacks", "", 200, `[]`,
			func(ctx context.Context, c *Client) error {
				for _, err := range c.Callbacks.All(ctx, ListOptions{}) {
					return err
				}
				return nil
			}},
		{"Get", "GET /system/callbacks/{id}", "/system/callbacks/5", "", 200,
			`{"id":5,"description":"d","url":"https://x.example/cb","objectId":0,"type":"Ticket","level":"Owner","inactiveFlag":true,"_info":{"lastUpdated":"2026-01-31T10:15:00Z"}}`,
			func(ctx context.Context, c *Client) error {
				cb, _, err := c.Callbacks.Get(ctx, 5)
				if err == nil && (cb.ID != 5 || !cb.InactiveFlag || cb.Description != "d" || cb.Info["lastUpdated"] != "2026-01-31T10:15:00Z") {
					return errors.New("get decoded wrong")
				}
				return err
			}},
		// objectId 0 and inactiveFlag false are sent: both are real values.
		{"Create", "POST /system/callbacks", "/system/callbacks",
			`{"url":"https://x.example/cb","objectId":0,"type":"Ticket","level":"Owner","inactiveFlag":false}`, 201, `{"id":6}`,
			func(ctx context.Context, c *Client) error {
				cb, _, err := c.Callbacks.Create(ctx, &Callback{URL: "https://x.example/cb", Type: CallbackTypeTicket, Level: CallbackLevelOwner})
				if err == nil && cb.ID != 6 {
					return errors.New("create decoded wrong")
				}
				return err
			}},
		{"Update", "PUT /system/callbacks/{id}", "/system/callbacks/6",
			`{"id":6,"description":"backup board","url":"https://x.example/cb","objectId":7,"type":"Ticket","level":"Board","inactiveFlag":false}`, 200, `{"id":6}`,
			func(ctx context.Context, c *Client) error {
				_, _, err := c.Callbacks.Update(ctx, &Callback{ID: 6, Description: "backup board", URL: "https://x.example/cb", ObjectID: 7, Type: CallbackTypeTicket, Level: CallbackLevelBoard})
				return err
			}},
		{"Delete", "DELETE /system/callbacks/{id}", "/system/callbacks/6", "", 204, ``,
			func(ctx context.Context, c *Client) error {
				resp, err := c.Callbacks.Delete(ctx, 6)
				if err == nil && resp.StatusCode != http.StatusNoContent {
					return errors.New("delete: no 204")
				}
				return err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeCW(t)
			var hits atomic.Int32
			f.api.HandleFunc(tt.pattern, func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if r.URL.Path != tt.wantPath {
					t.Errorf("path = %q, want %q", r.URL.Path, tt.wantPath)
				}
				body, _ := io.ReadAll(r.Body)
				if tt.wantBody == "" && len(body) > 0 {
					t.Errorf("unexpected body %s", body)
				}
				if tt.wantBody != "" && !jsonEqual(t, body, []byte(tt.wantBody)) {
					t.Errorf("body = %s, want %s", body, tt.wantBody)
				}
				if tt.answer == "" {
					w.WriteHeader(tt.status)
					return
				}
				reply(w, tt.status, []byte(tt.answer))
			})
			if err := tt.call(context.Background(), f.client()); err != nil {
				t.Fatalf("call: %v (requests: %v)", err, f.callList())
			}
			if hits.Load() != 1 {
				t.Fatalf("route hit %d times, want 1 (requests: %v)", hits.Load(), f.callList())
			}
		})
	}
}

func TestCallbackCallsCheckArguments(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	c := f.client()
	ctx := context.Background()
	if _, _, err := c.Callbacks.Create(ctx, nil); err == nil {
		t.Error("Create(nil) accepted")
	}
	if _, _, err := c.Callbacks.Update(ctx, nil); err == nil {
		t.Error("Update(nil) accepted")
	}
	if _, _, err := c.Callbacks.Update(ctx, &Callback{URL: "https://x.example/cb"}); err == nil || !strings.Contains(err.Error(), "callback id must be positive") {
		t.Errorf("Update without an id: %v", err)
	}
	if _, _, err := c.Callbacks.Get(ctx, 0); err == nil {
		t.Error("Get(0) accepted")
	}
	if _, err := c.Callbacks.Delete(ctx, -1); err == nil {
		t.Error("Delete(-1) accepted")
	}
	if got := f.callList(); len(got) != 0 {
		t.Fatalf("refused calls reached the server: %v", got)
	}
}

func TestCallbackDeleteNotFound(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	f.api.HandleFunc("DELETE /system/callbacks/{id}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNotFound, fixture(t, "error_not_found.json"))
	})
	if _, err := f.client().Callbacks.Delete(context.Background(), 9); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

// signature is the callback signature computed from its definition:
// base64(HMAC-SHA256(key = SHA-256(signingKey), message = body)).
func signature(body []byte, signingKey string) string {
	key := sha256.Sum256([]byte(signingKey))
	mac := hmac.New(sha256.New, key[:])
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestSignCallbackKnownVector(t *testing.T) {
	t.Parallel()
	body := []byte(`{"MessageId":"m-1","Action":"updated","Type":"ticket","ID":123}`)
	const key = "s3cr3t-signing-key"
	// Computed outside Go: printf %s "$body" | openssl dgst -sha256 -mac HMAC
	// -macopt hexkey:$(printf %s "$key" | sha256sum | cut -d' ' -f1) -binary | base64
	const want = "WPQAuLv6x6gDyf0v2/qtYLeSGGErzrYJAfFJczLrFyw="
	if got := signature(body, key); got != want {
		t.Fatalf("the test's own HMAC = %s, want %s", got, want)
	}
	if got := SignCallback(body, key); got != want {
		t.Fatalf("SignCallback = %s, want %s", got, want)
	}
	if got := SignCallback(body, key+"x"); got == want {
		t.Fatal("SignCallback ignores the key")
	}
	// The key is hashed first: signing with the raw key as HMAC key differs.
	raw := hmac.New(sha256.New, []byte(key))
	raw.Write(body)
	if base64.StdEncoding.EncodeToString(raw.Sum(nil)) == want {
		t.Fatal("the vector does not tell a hashed key from a raw one")
	}
}

func TestVerifyCallback(t *testing.T) {
	t.Parallel()
	body := []byte(`{"MessageId":"6c0e1f5e-1b7a-4a57-9a0e-2f3c4d5e6f70","Action":"added","Type":"ticket","ID":10001,"Entity":"{\"id\":10001}"}`)
	const key = "k3y/with+base64=chars"
	good := signature(body, key)
	if !VerifyCallback(body, good, key) {
		t.Fatal("a valid signature does not verify")
	}
	if !VerifyCallback(body, SignCallback(body, key), key) {
		t.Fatal("SignCallback's signature does not verify")
	}
	tampered := []byte(strings.Replace(string(body), `"added"`, `"deleted"`, 1))
	raw, _ := base64.StdEncoding.DecodeString(good)
	flipped := append([]byte(nil), raw...)
	flipped[0] ^= 1
	tests := []struct {
		name      string
		body      []byte
		signature string
		key       string
	}{
		{"tampered body", tampered, good, key},
		{"body with a trailing newline", append(append([]byte(nil), body...), '\n'), good, key},
		{"wrong key", body, good, key + "x"},
		{"empty key", body, signature(body, ""), ""},
		{"empty signature", body, "", key},
		{"not base64", body, "not*base64!", key},
		{"URL-safe base64", body, base64.URLEncoding.EncodeToString(raw), key},
		{"truncated", body, base64.StdEncoding.EncodeToString(raw[:16]), key},
		{"one bit flipped", body, base64.StdEncoding.EncodeToString(flipped), key},
		{"hex instead of base64", body, strings.Repeat("ab", 32), key},
	}
	for _, tt := range tests {
		if tt.name == "URL-safe base64" && base64.URLEncoding.EncodeToString(raw) == good {
			continue // this signature has no + or /: both encodings agree
		}
		if VerifyCallback(tt.body, tt.signature, tt.key) {
			t.Errorf("%s: verified", tt.name)
		}
	}
}

func TestCallbackPayloadDecoding(t *testing.T) {
	t.Parallel()
	const entity = `{"id":123,"summary":"Backup failed","board":{"id":7},"status":{"id":101,"name":"Closed"},"closedFlag":true}`
	canonical := `{"MessageId":"m-1","FromUrl":"api-na.myconnectwise.net","CompanyId":"acme","MemberId":"jdoe",` +
		`"Action":"updated","Type":"ticket","ID":123,"CallbackObjectRecId":7,` +
		`"Metadata":{"key_url":"https://api-na.myconnectwise.net/v4_6_release/apis/3.0/system/callbackkeys/abc"},` +
		`"Entity":` + strconvQuote(entity) + `}`
	want := CallbackPayload{
		MessageID: "m-1", FromURL: "api-na.myconnectwise.net", CompanyID: "acme", MemberID: "jdoe",
		Action: CallbackActionUpdated, Type: "ticket", ID: 123, CallbackObjectRecID: 7,
		Metadata: CallbackMetadata{KeyURL: "https://api-na.myconnectwise.net/v4_6_release/apis/3.0/system/callbackkeys/abc"},
		Entity:   entity,
	}
	var p CallbackPayload
	if err := json.Unmarshal([]byte(canonical), &p); err != nil {
		t.Fatal(err)
	}
	if p != want {
		t.Fatalf("decoded %+v\nwant    %+v", p, want)
	}
	var tk Ticket
	if err := p.DecodeEntity(&tk); err != nil {
		t.Fatal(err)
	}
	if tk.ID != 123 || tk.Board.ID != 7 || tk.Status.Name != "Closed" || !tk.ClosedFlag {
		t.Fatalf("entity %+v", tk)
	}
	// Encoding writes the canonical shape back.
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, out, []byte(canonical)) {
		t.Fatalf("encoded %s\nwant    %s", out, canonical)
	}

	// The variations ConnectWise sends.
	variants := []struct {
		name string
		json string
		want func(*CallbackPayload)
	}{
		{"ids as strings", `{"ID":"123","CallbackObjectRecId":" 7 "}`, func(w *CallbackPayload) { w.ID, w.CallbackObjectRecID = 123, 7 }},
		{"ids as floats", `{"ID":123.0,"CallbackObjectRecId":7e0}`, func(w *CallbackPayload) { w.ID, w.CallbackObjectRecID = 123, 7 }},
		{"company and member as numbers", `{"CompanyId":19300,"MemberId":176}`, func(w *CallbackPayload) { w.CompanyID, w.MemberID = "19300", "176" }},
		{"nulls and empty strings", `{"ID":null,"CallbackObjectRecId":"","CompanyId":null,"Entity":null}`, func(*CallbackPayload) {}},
		{"entity as an object", `{"Entity":{"id":5, "summary":"s"}}`, func(w *CallbackPayload) { w.Entity = `{"id":5, "summary":"s"}` }},
		{"names in other cases", `{"messageId":"m","id":9,"callbackObjectRecId":"3","action":"deleted","metadata":{"key_url":"k"}}`,
			func(w *CallbackPayload) {
				w.MessageID, w.ID, w.CallbackObjectRecID, w.Action, w.Metadata.KeyURL = "m", 9, 3, CallbackActionDeleted, "k"
			}},
	}
	for _, v := range variants {
		var got, want CallbackPayload
		v.want(&want)
		if err := json.Unmarshal([]byte(v.json), &got); err != nil {
			t.Errorf("%s: %v", v.name, err)
			continue
		}
		if got != want {
			t.Errorf("%s: decoded %+v, want %+v", v.name, got, want)
		}
	}

	for _, bad := range []struct{ name, json, field string }{
		{"ID not a number", `{"ID":"12a"}`, "ID"},
		{"ID a fraction", `{"ID":1.5}`, "ID"},
		{"ID a boolean", `{"ID":true}`, "ID"},
		{"ID an object", `{"ID":{"id":1}}`, "ID"},
		{"CallbackObjectRecId a fraction", `{"CallbackObjectRecId":"7.5"}`, "CallbackObjectRecId"},
		{"CompanyId an object", `{"CompanyId":{}}`, "CompanyId"},
		{"Entity a number", `{"Entity":42}`, "Entity"},
		{"not an object", `[1,2]`, ""},
	} {
		p := CallbackPayload{ID: 99}
		err := json.Unmarshal([]byte(bad.json), &p)
		if err == nil {
			t.Errorf("%s: accepted", bad.name)
			continue
		}
		if !strings.Contains(err.Error(), bad.field) {
			t.Errorf("%s: error %q does not name %s", bad.name, err, bad.field)
		}
		if p.ID != 99 {
			t.Errorf("%s: a failed decode changed the payload", bad.name)
		}
	}

	if err := (&CallbackPayload{Type: "ticket"}).DecodeEntity(&tk); err == nil {
		t.Error("DecodeEntity of an empty Entity succeeded")
	}
	if err := (&CallbackPayload{Type: "ticket", Entity: "{"}).DecodeEntity(&tk); err == nil {
		t.Error("DecodeEntity of broken JSON succeeded")
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
