package localstack

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestOperatorAuth(t *testing.T) {
	t.Parallel()
	var reached int
	h := OperatorAuth("s3cret-token", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached++
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, c := range []struct {
		name, auth string
		want       int
	}{
		{"bearer token", "Bearer s3cret-token", 204},
		{"scheme in any case", "bearer s3cret-token", 204},
		{"SigV4 (unverifiable locally: refused)", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260301/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc123", 403},
		{"no authorization", "", 401},
		{"wrong token", "Bearer s3cret-tokeN", 403},
		{"token prefix", "Bearer s3cret", 403},
		{"token with more", "Bearer s3cret-token2", 403},
		{"empty bearer", "Bearer ", 403},
		{"token without scheme", "s3cret-token", 403},
		{"basic", "Basic b3A6czNjcmV0LXRva2Vu", 403},
		{"bare SigV4 scheme", "AWS4-HMAC-SHA256", 403},
	} {
		before := reached
		r := httptest.NewRequest("GET", "/v1/admin/partners", nil)
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("%s: %d, want %d", c.name, w.Code, c.want)
		}
		if passed := reached > before; passed != (c.want == 204) {
			t.Errorf("%s: reached the operator API = %v", c.name, passed)
		}
		if c.want == 204 {
			continue
		}
		var m map[string]string
		if w.Header().Get("Content-Type") != "application/json" || json.Unmarshal(w.Body.Bytes(), &m) != nil || m["message"] == "" {
			t.Errorf("%s: answer %q %s is not API Gateway's JSON shape", c.name, w.Header().Get("Content-Type"), w.Body)
		}
		if (c.want == 401) != (w.Header().Get("WWW-Authenticate") != "") {
			t.Errorf("%s: WWW-Authenticate = %q", c.name, w.Header().Get("WWW-Authenticate"))
		}
	}

	// No token configured: no bearer gets through.
	none := OperatorAuth("", http.NotFoundHandler())
	r := httptest.NewRequest("GET", "/v1/admin/partners", nil)
	r.Header.Set("Authorization", "Bearer ")
	w := httptest.NewRecorder()
	none.ServeHTTP(w, r)
	if w.Code != 403 {
		t.Errorf("empty token configured, empty bearer sent: %d, want 403", w.Code)
	}
}
