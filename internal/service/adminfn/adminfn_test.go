package adminfn

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/efs-cw/backupbridge/internal/console"
	"github.com/efs-cw/backupbridge/internal/service"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func serve(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w
}

func TestHandlerWithoutConsole(t *testing.T) {
	fetched := false
	h, err := handler(context.Background(), service.Config{TableName: "t"}, service.Deps{}, env(nil), func(context.Context, string) (string, error) {
		fetched = true
		return "", errors.New("not called")
	})
	if err != nil || fetched {
		t.Fatalf("handler: %v (secret fetched: %v)", err, fetched)
	}
	// The API alone: /console/ is its 404.
	if w := serve(t, h, "GET", "/console/"); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "no such operator route") {
		t.Errorf("GET /console/ without a console: %d %s", w.Code, w.Body)
	}
}

func TestHandlerWithCognitoConsole(t *testing.T) {
	vars := env(map[string]string{
		console.EnvCognitoIssuer:   "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example",
		console.EnvCognitoDomain:   "https://backupbridge-test.auth.eu-west-1.amazoncognito.com",
		console.EnvConsoleSecretID: "stack/console/uuid",
	})
	var asked string
	fetch := func(_ context.Context, id string) (string, error) {
		asked = id
		return `{"clientId":"client-123","sessionKey":"0123456789abcdef0123456789abcdef"}`, nil
	}
	h, err := handler(context.Background(), service.Config{TableName: "t"}, service.Deps{}, vars, fetch)
	if err != nil {
		t.Fatal(err)
	}
	if asked != "stack/console/uuid" {
		t.Errorf("secret read: %q", asked)
	}
	// Pages need a session: to the sign-in, with the console's headers (the
	// hosted UI may be a sign-out form's destination, nothing else more).
	w := serve(t, h, "GET", "/console/partners/demo/events")
	wantCSP := strings.Replace(console.ContentSecurityPolicy, "form-action 'self'", "form-action 'self' https://backupbridge-test.auth.eu-west-1.amazoncognito.com", 1)
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/console/signin?next=") ||
		w.Header().Get("Content-Security-Policy") != wantCSP {
		t.Errorf("console page signed out: %d %q, CSP %q", w.Code, w.Header().Get("Location"), w.Header().Get("Content-Security-Policy"))
	}
	if w := serve(t, h, "GET", "/console"); w.Code != http.StatusMovedPermanently {
		t.Errorf("GET /console: %d", w.Code)
	}
	// The API is still served (its 404 for an unknown route: no store call).
	if w := serve(t, h, "GET", "/v1/admin/nothing"); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "no such operator route") {
		t.Errorf("API route: %d %s", w.Code, w.Body)
	}
	// A configured but broken sign-in fails the init.
	if _, err := handler(context.Background(), service.Config{}, service.Deps{}, vars, func(context.Context, string) (string, error) {
		return "", errors.New("AccessDenied")
	}); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("unreadable secret: %v", err)
	}
}
