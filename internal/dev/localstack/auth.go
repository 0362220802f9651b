package localstack

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
)

// OperatorAuth stands in, on the local stack, for the AWS_IAM authorization
// API Gateway puts in front of the operator routes. It lets through only
// "authorization: Bearer <token>" with the operator token (compared in
// constant time; an empty token lets no bearer through). A SigV4 header is
// refused: there is no IAM locally to verify it, and an unverified
// signature would let any local process administer partners.
//
// Anything else gets a JSON answer in API Gateway's shape and never reaches
// next: 401 {"message": …} with WWW-Authenticate when no authorization is
// sent, 403 {"message": …} when it is wrong. It is a development stand-in on
// a loopback-only server, not a security boundary.
func OperatorAuth(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		scheme, cred, _ := strings.Cut(auth, " ")
		switch {
		case auth == "":
			w.Header().Set("WWW-Authenticate", `Bearer realm="backupbridge operator API (local)"`)
			writeMessage(w, http.StatusUnauthorized, "Unauthorized: the operator API needs authorization: Bearer <operator token> (make run prints it)")
		case strings.EqualFold(scheme, "Bearer"):
			got := sha256.Sum256([]byte(strings.TrimSpace(cred)))
			if token == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				writeMessage(w, http.StatusForbidden, "Forbidden: wrong operator token")
				return
			}
			next.ServeHTTP(w, r)
		default:
			writeMessage(w, http.StatusForbidden, "Forbidden: the operator API takes authorization: Bearer <operator token> (make run prints it); SigV4 cannot be verified locally")
		}
	})
}

// writeMessage writes an answer in API Gateway's own shape, {"message": msg}.
func writeMessage(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
