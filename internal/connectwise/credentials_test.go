package connectwise

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func secretsIn(s string) []string {
	var found []string
	encoded := strings.TrimPrefix(wantAuthorization(), "Basic ")
	for _, secret := range []string{testPublicKey, testPrivateKey, testClientID, encoded} {
		if strings.Contains(s, secret) {
			found = append(found, secret)
		}
	}
	return found
}

func TestCredentialsNeverPrintSecrets(t *testing.T) {
	t.Parallel()
	c := testCreds
	outputs := map[string]string{"String": c.String(), "GoString": c.GoString()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		outputs[verb] = fmt.Sprintf(verb, c)
		if verb != "%T %v" {
			outputs[verb+" pointer"] = fmt.Sprintf(verb, &c)
		}
	}
	outputs["in Options %+v"] = fmt.Sprintf("%+v", Options{SiteURL: "https://x", Credentials: c})
	outputs["in Options %#v"] = fmt.Sprintf("%#v", Options{SiteURL: "https://x", Credentials: c})
	outputs["in a slice"] = fmt.Sprint([]Credentials{c})
	data, err := json.Marshal(struct{ Creds Credentials }{c})
	if err != nil {
		t.Fatal(err)
	}
	outputs["json"] = string(data)
	var jsonLog, textLog bytes.Buffer
	slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("connect", "creds", c, "opts", Options{Credentials: c})
	slog.New(slog.NewTextHandler(&textLog, nil)).Info("connect", "creds", c, "opts", Options{Credentials: c})
	outputs["slog json"], outputs["slog text"] = jsonLog.String(), textLog.String()

	for name, out := range outputs {
		if found := secretsIn(out); len(found) > 0 {
			t.Errorf("%s shows %v: %s", name, found, out)
		}
	}
	if !strings.Contains(outputs["%+v"], `CompanyID: "acme"`) || !strings.Contains(outputs["%+v"], "PrivateKey: [redacted]") {
		t.Errorf("%%+v = %s", outputs["%+v"])
	}
	if got := (Credentials{CompanyID: "acme"}).String(); !strings.Contains(got, "PrivateKey: [empty]") {
		t.Errorf("an unset key should read [empty]: %s", got)
	}
}

func TestClientNeverPrintsSecrets(t *testing.T) {
	t.Parallel()
	c, err := NewClient(context.Background(), Options{SiteURL: "https://x.example", Codebase: "v4_6_release/", Credentials: testCreds})
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint([]*Client{c}), fmt.Sprintf("%+v", c.Tickets)} {
		if found := secretsIn(out); len(found) > 0 {
			t.Errorf("shows %v: %s", found, out)
		}
	}
}

// TestErrorsNeverContainSecrets: even a server that echoes the
// Authorization header and the keys in its error body does not get them
// into Error().
func TestErrorsNeverContainSecrets(t *testing.T) {
	t.Parallel()
	f := newFakeCW(t)
	f.api.HandleFunc("GET /service/tickets/{id}", func(w http.ResponseWriter, r *http.Request) {
		body, _ := json.Marshal(map[string]any{
			"code":    "Unauthorized",
			"message": "bad header " + r.Header.Get("Authorization") + " for " + testPublicKey + "/" + testPrivateKey,
			"errors":  []map[string]string{{"code": "x", "message": "clientId " + testClientID, "field": testPrivateKey}},
		})
		reply(w, http.StatusUnauthorized, body)
	})
	f.api.HandleFunc("GET /service/boards", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusServiceUnavailable, []byte("<html><body>"+r.Header.Get("Authorization")+" "+testPrivateKey+"</body></html>"))
	})
	c := f.client(func(o *Options) { o.Retry.MaxAttempts = 1 })
	_, _, err := c.Tickets.Get(context.Background(), 1)
	if err == nil {
		t.Fatal("no error")
	}
	_, _, err2 := c.Boards.List(context.Background(), nil)
	for _, e := range []error{err, err2} {
		for _, out := range []string{e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
			if found := secretsIn(out); len(found) > 0 {
				t.Errorf("error shows %v: %s", found, out)
			}
		}
	}
	if !strings.Contains(err.Error(), "check the API member's public/private keys and its security role") {
		t.Errorf("401 message: %s", err)
	}
}
