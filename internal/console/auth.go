package console

import "net/http"

// Role is what a signed-in person may do.
type Role string

const (
	// RoleOperator reads and writes.
	RoleOperator Role = "operator"
	// RoleViewer only reads.
	RoleViewer Role = "viewer"
)

// Identity is who signed a request.
type Identity struct {
	Subject string
	Role    Role
}

// CanWrite reports whether the identity may change anything.
func (i Identity) CanWrite() bool { return i.Role == RoleOperator }

// Authenticator identifies the signed-in person and serves sign-in/out.
type Authenticator interface {
	// Identify returns who signed r, or ok=false.
	Identify(r *http.Request) (Identity, bool)
	// Routes registers this authenticator's sign-in/out routes on mux.
	Routes(mux *http.ServeMux)
}

// SessionIdentifier is optionally implemented by an Authenticator whose
// sessions have an id of their own (a random id in the session cookie): the
// CSRF token is then HMAC(SessionKey, that id), tied to the session; else
// it is tied to the person (subject and role).
type SessionIdentifier interface {
	SessionID(r *http.Request) (string, bool)
}

// FormActionOriginer is optionally implemented by an Authenticator whose
// POST /console/signout redirects to another origin (the Cognito hosted
// UI's logout): browsers apply the CSP's form-action to a form's redirects,
// so those origins ("https://x.auth.eu-west-1.amazoncognito.com") are added
// to it. Nothing else is relaxed.
type FormActionOriginer interface {
	FormActionOrigins() []string
}
