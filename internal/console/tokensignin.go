package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SessionCookie is the name of the console's session cookie.
const SessionCookie = "bb_session"

// SessionTTL is how long a session lasts.
const SessionTTL = 12 * time.Hour

// TokenSignIn is the local sign-in: the operator token or the viewer token,
// typed into a form, opens a session (an HMAC-signed cookie).
type TokenSignIn struct {
	OperatorToken string
	ViewerToken   string
	// Key signs the session cookie.
	Key []byte
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (t *TokenSignIn) now() time.Time {
	if t.Now == nil {
		return time.Now()
	}
	return t.Now()
}

// cookie value: base64url(sid|subject|role|expiryUnix) "." base64url(hmac)
func (t *TokenSignIn) sign(payload string) string {
	m := hmac.New(sha256.New, t.Key)
	m.Write([]byte("bb-console-session\x00" + payload))
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

type session struct {
	id  string
	who Identity
	exp time.Time
}

func (t *TokenSignIn) session(r *http.Request) (session, bool) {
	ck, err := r.Cookie(SessionCookie)
	if err != nil || len(t.Key) == 0 {
		return session{}, false
	}
	p64, mac64, ok := strings.Cut(ck.Value, ".")
	if !ok {
		return session{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(p64)
	if err != nil {
		return session{}, false
	}
	if want := t.sign(string(payload)); !hmac.Equal([]byte(want), []byte(p64+"."+mac64)) {
		return session{}, false
	}
	f := strings.Split(string(payload), "|")
	if len(f) != 4 {
		return session{}, false
	}
	exp, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil || !t.now().Before(time.Unix(exp, 0)) {
		return session{}, false
	}
	role := Role(f[2])
	if role != RoleOperator && role != RoleViewer {
		return session{}, false
	}
	return session{id: f[0], who: Identity{Subject: f[1], Role: role}, exp: time.Unix(exp, 0)}, true
}

// Identify returns the session's identity.
func (t *TokenSignIn) Identify(r *http.Request) (Identity, bool) {
	s, ok := t.session(r)
	return s.who, ok
}

// SessionID is the session's random id (the CSRF token is tied to it).
func (t *TokenSignIn) SessionID(r *http.Request) (string, bool) {
	s, ok := t.session(r)
	return s.id, ok
}

func newSessionID() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// match compares tokens in constant time (an empty token never matches).
func match(got, want string) bool {
	if want == "" {
		return false
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// Routes registers GET/POST /console/signin and POST /console/signout.
func (t *TokenSignIn) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/signin", t.signinForm)
	mux.HandleFunc("POST /console/signin", t.signin)
	mux.HandleFunc("POST /console/signout", t.signout)
}

func (t *TokenSignIn) signinForm(w http.ResponseWriter, r *http.Request) {
	renderSignin(w, r, http.StatusOK, SafeNext(r.URL.Query().Get("next")), "")
}

func (t *TokenSignIn) signin(w http.ResponseWriter, r *http.Request) {
	if !SameOrigin(r) {
		http.Error(w, "forbidden: cross-site sign-in", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	tok := r.PostFormValue("token")
	next := SafeNext(r.PostFormValue("next"))
	var who Identity
	switch {
	case match(tok, t.OperatorToken):
		who = Identity{Subject: "operator (token)", Role: RoleOperator}
	case match(tok, t.ViewerToken):
		who = Identity{Subject: "viewer (token)", Role: RoleViewer}
	default:
		renderSignin(w, r, http.StatusUnauthorized, next, "That token is not the operator token or the viewer token.")
		return
	}
	exp := t.now().Add(SessionTTL)
	payload := newSessionID() + "|" + who.Subject + "|" + string(who.Role) + "|" + strconv.FormatInt(exp.Unix(), 10)
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: t.sign(payload), Path: "/console/",
		Expires: exp, MaxAge: int(SessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: overHTTPS(r),
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (t *TokenSignIn) signout(w http.ResponseWriter, r *http.Request) {
	if !SameOrigin(r) {
		http.Error(w, "forbidden: cross-site sign-out", http.StatusForbidden)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/console/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: overHTTPS(r),
	})
	http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
}

// SameOrigin reports whether a POST may come from the console's own pages:
// no Origin header (an older browser, a script), one naming this host, or
// "null" from a browser that says the request is same-origin
// (Sec-Fetch-Site): Chromium sends Origin: null on a form POST under a
// no-referrer policy, which is why the console's policy is same-origin. The
// session cookie is SameSite=Strict and every write carries a CSRF token;
// this also stops cross-site sign-in and sign-out.
func SameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	if o == "null" {
		return r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// overHTTPS reports whether the request came over https (directly, or via a
// proxy saying so).
func overHTTPS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func renderSignin(w http.ResponseWriter, r *http.Request, status int, next, flash string) {
	t, err := pageTemplate("signin.html")
	if err != nil {
		http.Error(w, "internal error: page template", http.StatusInternalServerError)
		return
	}
	_ = execPage(w, status, t, baseFuncs(), layoutData{Flash: flash, Data: signinPage{Next: next}})
}

type signinPage struct{ Next string }
