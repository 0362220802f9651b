package console

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// The environment of the Cognito sign-in (template.yaml, AdminFunction).
const (
	// EnvCognitoIssuer is the user pool's issuer,
	// https://cognito-idp.<region>.amazonaws.com/<pool id>. Unset: no
	// Cognito sign-in (CognitoFromEnv answers ok=false).
	EnvCognitoIssuer = "COGNITO_ISSUER"
	// EnvCognitoDomain is the hosted UI's base URL,
	// https://<prefix>.auth.<region>.amazoncognito.com.
	EnvCognitoDomain = "COGNITO_DOMAIN"
	// EnvCognitoClientID is the console's app client id. template.yaml
	// cannot set it (a dependency cycle, see there): in AWS it comes from the
	// console's secret (CognitoFromSecret); set it to override that.
	EnvCognitoClientID = "COGNITO_CLIENT_ID"
	// EnvConsoleSecretID names the console's Secrets Manager secret (see
	// ConsoleSecret).
	EnvConsoleSecretID = "CONSOLE_SECRET_ID"
)

const (
	// cognitoCallbackPath is the app client's callback URL's path, and
	// cognitoSigninPath its sign-out URL's (template.yaml).
	cognitoCallbackPath = "/console/auth/callback"
	cognitoSigninPath   = "/console/signin"
	// cognitoScope is what the console asks for: the ID token and the
	// user's e-mail address.
	cognitoScope = "openid email profile"

	// cognitoSigninCookie carries a sign-in in progress (state, PKCE verifier,
	// nonce, where to go next) from /console/signin to the callback. It is
	// SameSite=Lax: the callback is a navigation from the hosted UI's
	// domain, another site, on which a Strict cookie is not sent.
	cognitoSigninCookie     = "bb_signin"
	cognitoSigninCookiePath = "/console/auth/"
	cognitoSigninTTL        = 10 * time.Minute

	// cognitoSkew is the clock skew allowed on the ID token's exp and iat.
	cognitoSkew = time.Minute
	// cognitoJWKSRefetch is how often, at most, the pool's keys are fetched
	// again for a key id not among them (key rotation).
	cognitoJWKSRefetch = time.Minute
	// cognitoTimeout bounds each call to Cognito (token, keys) when
	// CognitoSignIn makes its own client.
	cognitoTimeout = 10 * time.Second
	// cognitoMaxBody caps what is read of a Cognito answer.
	cognitoMaxBody = 1 << 20
	// cognitoMinKeyLen is the shortest HMAC key CognitoFromEnv accepts.
	cognitoMinKeyLen = 32
)

// Groups of the user pool (template.yaml) and the roles they give.
const (
	OperatorsGroup = "operators"
	ViewersGroup   = "viewers"
)

// CognitoSignIn is the console's sign-in in AWS (docs/console.md): the
// Cognito user pool's hosted UI with the authorization code grant and PKCE
// (S256). At the callback it redeems the code, verifies the ID token (RS256
// with the pool's JWKS, issuer, audience = ClientID, token_use "id", expiry,
// nonce) and takes the role from the groups (cognito:groups: operators →
// RoleOperator, viewers → RoleViewer, neither → refused); then it keeps only
// its own session cookie, SessionCookie: HMAC-signed subject, role and expiry
// (the ID token's, at most SessionTTL), HttpOnly, Secure, SameSite=Strict,
// Path=/console/. The tokens never reach the browser.
//
// Routes:
//
//	GET  /console/signin         → the hosted UI (or next, when signed in)
//	GET  /console/auth/callback  → verifies, sets the session, continues to next
//	POST /console/signout        → clears the session, then the hosted UI's logout
//
// The zero value is not usable; set the exported fields and do not copy it
// after first use (it caches the pool's keys).
type CognitoSignIn struct {
	// Issuer is the pool's issuer, https://cognito-idp.<region>.amazonaws.com/<pool id>;
	// its keys are at Issuer + "/.well-known/jwks.json".
	Issuer string
	// ClientID is the console's app client (a public client: no secret).
	ClientID string
	// Domain is the hosted UI's base URL, https://<prefix>.auth.<region>.amazoncognito.com.
	Domain string
	// Key signs the session and sign-in cookies (at least 32 bytes).
	Key []byte
	// HTTPClient calls Cognito (nil: a client with a 10 s timeout that
	// follows no redirects).
	HTTPClient *http.Client
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey // the pool's keys by key id
	fetched time.Time                 // the last fetch of the keys, successful or not
}

var _ interface {
	Authenticator
	SessionIdentifier
} = (*CognitoSignIn)(nil)

func (c *CognitoSignIn) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *CognitoSignIn) client() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return &http.Client{
		Timeout: cognitoTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("cognito: unexpected redirect")
		},
	}
}

// Routes registers GET /console/signin, GET /console/auth/callback and
// POST /console/signout.
func (c *CognitoSignIn) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+cognitoSigninPath, c.signin)
	mux.HandleFunc("GET "+cognitoCallbackPath, c.callback)
	mux.HandleFunc("POST /console/signout", c.signout)
}

// cognitoSession is the content of the session cookie.
type cognitoSession struct {
	ID      string `json:"sid"`
	Subject string `json:"sub"`
	Role    Role   `json:"role"`
	Exp     int64  `json:"exp"`
}

// session reads and verifies the session cookie.
func (c *CognitoSignIn) session(r *http.Request) (cognitoSession, bool) {
	ck, err := r.Cookie(SessionCookie)
	if err != nil {
		return cognitoSession{}, false
	}
	var s cognitoSession
	if !c.open("session", ck.Value, &s) || s.ID == "" || s.Subject == "" ||
		(s.Role != RoleOperator && s.Role != RoleViewer) || !c.now().Before(time.Unix(s.Exp, 0)) {
		return cognitoSession{}, false
	}
	return s, true
}

// Identify returns the identity of the session cookie, when it is valid.
func (c *CognitoSignIn) Identify(r *http.Request) (Identity, bool) {
	s, ok := c.session(r)
	if !ok {
		return Identity{}, false
	}
	return Identity{Subject: s.Subject, Role: s.Role}, true
}

// SessionID is the session's random id (the console ties CSRF tokens to it).
func (c *CognitoSignIn) SessionID(r *http.Request) (string, bool) {
	s, ok := c.session(r)
	return s.ID, ok
}

// cognitoSigninState is the content of the sign-in cookie.
type cognitoSigninState struct {
	State    string `json:"state"`
	Verifier string `json:"verifier"`
	Nonce    string `json:"nonce"`
	Next     string `json:"next"`
	Exp      int64  `json:"exp"`
}

// signin sends the browser to the hosted UI with a fresh state, PKCE
// challenge and nonce, remembered in the sign-in cookie.
func (c *CognitoSignIn) signin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	next := SafeNext(r.URL.Query().Get("next"))
	if _, ok := c.Identify(r); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	base, ok := cognitoBaseURL(r)
	if !ok {
		c.page(w, http.StatusBadRequest, cognitoPage{Title: "Cannot sign in", Message: "The request's host name is not valid."})
		return
	}
	st := cognitoSigninState{
		State: cognitoRandom(), Verifier: cognitoRandom(), Nonce: cognitoRandom(),
		Next: next, Exp: c.now().Add(cognitoSigninTTL).Unix(),
	}
	http.SetCookie(w, &http.Cookie{
		Name: cognitoSigninCookie, Value: c.seal("signin", st), Path: cognitoSigninCookiePath,
		MaxAge: int(cognitoSigninTTL / time.Second), HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode,
	})
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {c.ClientID},
		"redirect_uri":          {base + cognitoCallbackPath},
		"scope":                 {cognitoScope},
		"state":                 {st.State},
		"code_challenge":        {pkceS256(st.Verifier)},
		"code_challenge_method": {"S256"},
		"nonce":                 {st.Nonce},
	}
	http.Redirect(w, r, c.Domain+"/oauth2/authorize?"+q.Encode(), http.StatusSeeOther)
}

// callback completes a sign-in: state, code exchange with the PKCE
// verifier, ID token, group, session cookie.
func (c *CognitoSignIn) callback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	ctx := r.Context()
	// The sign-in cookie is used once, whatever happens.
	http.SetCookie(w, &http.Cookie{
		Name: cognitoSigninCookie, Value: "", Path: cognitoSigninCookiePath, MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode,
	})
	again := &cognitoLink{URL: cognitoSigninPath, Text: "Sign in again"}
	q := r.URL.Query()
	var st cognitoSigninState
	ck, err := r.Cookie(cognitoSigninCookie)
	if err != nil || !c.open("signin", ck.Value, &st) || !c.now().Before(time.Unix(st.Exp, 0)) ||
		q.Get("state") == "" || !hmac.Equal([]byte(q.Get("state")), []byte(st.State)) {
		c.page(w, http.StatusBadRequest, cognitoPage{
			Title:   "Sign-in expired",
			Message: "This sign-in has expired, was already used, or was started in another browser or tab.",
			Link:    again,
		})
		return
	}
	if e := q.Get("error"); e != "" {
		msg := q.Get("error_description")
		if msg == "" {
			msg = e
		}
		c.page(w, http.StatusUnauthorized, cognitoPage{Title: "Not signed in", Message: "The sign-in page answered: " + msg, Link: again})
		return
	}
	code := q.Get("code")
	if code == "" || st.Verifier == "" || st.Nonce == "" {
		c.page(w, http.StatusBadRequest, cognitoPage{Title: "Cannot sign in", Message: "The sign-in is incomplete.", Link: again})
		return
	}
	base, ok := cognitoBaseURL(r)
	if !ok {
		c.page(w, http.StatusBadRequest, cognitoPage{Title: "Cannot sign in", Message: "The request's host name is not valid."})
		return
	}
	idToken, err := c.exchange(ctx, code, base+cognitoCallbackPath, st.Verifier)
	if err != nil {
		slog.Default().WarnContext(ctx, "console: Cognito token exchange failed", "error", err)
		c.page(w, http.StatusBadGateway, cognitoPage{Title: "Cannot sign in", Message: "Cognito did not complete the sign-in.", Link: again})
		return
	}
	claims, err := c.verifyIDToken(ctx, idToken, st.Nonce)
	if err != nil {
		slog.Default().WarnContext(ctx, "console: Cognito ID token refused", "error", err)
		c.page(w, http.StatusUnauthorized, cognitoPage{Title: "Cannot sign in", Message: "The sign-in could not be verified.", Link: again})
		return
	}
	who := claims.subject()
	role, ok := cognitoRoleOf(claims.Groups)
	if !ok {
		c.page(w, http.StatusForbidden, cognitoPage{
			Title: "No access",
			Message: "You are signed in as " + who + ", but you are in neither the " + OperatorsGroup + " nor the " + ViewersGroup +
				" group: ask an administrator to add you to a group.",
			Link: &cognitoLink{URL: c.logoutURL(base), Text: "Sign in as someone else"},
		})
		return
	}
	exp := time.Unix(claims.Exp, 0)
	if limit := c.now().Add(SessionTTL); exp.After(limit) {
		exp = limit
	}
	if exp.Unix() <= c.now().Unix() {
		// Accepted within the clock skew, but no session can start expired.
		c.page(w, http.StatusUnauthorized, cognitoPage{Title: "Cannot sign in", Message: "The sign-in has already expired.", Link: again})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:  SessionCookie,
		Value: c.seal("session", cognitoSession{ID: cognitoRandom(), Subject: who, Role: role, Exp: exp.Unix()}),
		Path:  "/console/", Expires: exp, MaxAge: int(exp.Sub(c.now()) / time.Second),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
	})
	// Not a redirect: this request is a navigation started on the hosted
	// UI's site, and a redirect stays part of it, so the browser would not
	// send the SameSite=Strict session cookie to next. A page of our own
	// that moves on (meta refresh, no script) starts a same-site navigation.
	c.page(w, http.StatusOK, cognitoPage{
		Title: "Signed in", Message: "Signed in as " + who + " (" + string(role) + ").",
		Refresh: st.Next, Link: &cognitoLink{URL: st.Next, Text: "Continue to the console"},
	})
}

// signout clears the session and signs out of the hosted UI too, which
// comes back to /console/signin.
func (c *CognitoSignIn) signout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/console/", MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
	})
	base, ok := cognitoBaseURL(r)
	if !ok {
		http.Redirect(w, r, cognitoSigninPath, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, c.logoutURL(base), http.StatusSeeOther)
}

// logoutURL is the hosted UI's logout, coming back to the console's
// sign-in page (the app client's sign-out URL).
func (c *CognitoSignIn) logoutURL(base string) string {
	q := url.Values{"client_id": {c.ClientID}, "logout_uri": {base + cognitoSigninPath}}
	return c.Domain + "/logout?" + q.Encode()
}

// cognitoHostPattern is what the console accepts as its host name: a DNS name or
// IPv4 address, with an optional port.
var cognitoHostPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::[0-9]{1,5})?$`)
})

// cognitoBaseURL is https://<the request's host>: the app client's URLs are
// on the API's own host (template.yaml). Cognito accepts only the registered
// callback URL, so a forged Host gets no further than the hosted UI.
func cognitoBaseURL(r *http.Request) (string, bool) {
	if !cognitoHostPattern().MatchString(r.Host) {
		return "", false
	}
	return "https://" + strings.ToLower(r.Host), true
}

// cognitoRoleOf is the role the groups give: operators wins over viewers.
func cognitoRoleOf(groups []string) (Role, bool) {
	switch {
	case slices.Contains(groups, OperatorsGroup):
		return RoleOperator, true
	case slices.Contains(groups, ViewersGroup):
		return RoleViewer, true
	}
	return "", false
}

// ---------------------------------------------------------------- signing

// seal signs v (as JSON) for purpose: base64url(JSON) "." base64url(HMAC).
func (c *CognitoSignIn) seal(purpose string, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("console: cannot encode a cookie: " + err.Error()) // only plain structs are sealed
	}
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + base64.RawURLEncoding.EncodeToString(c.mac(purpose, p))
}

// open verifies a sealed value for purpose and decodes it into v.
func (c *CognitoSignIn) open(purpose, s string, v any) bool {
	if len(c.Key) == 0 {
		return false
	}
	p, m, ok := strings.Cut(s, ".")
	if !ok {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil || !hmac.Equal(got, c.mac(purpose, p)) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	return err == nil && json.Unmarshal(b, v) == nil
}

func (c *CognitoSignIn) mac(purpose, payload string) []byte {
	m := hmac.New(sha256.New, c.Key)
	m.Write([]byte("bb-console-cognito-" + purpose + "\x00" + payload))
	return m.Sum(nil)
}

// cognitoRandom is 32 random bytes, base64url: a state, nonce, session id or
// PKCE verifier (43 characters, within RFC 7636's 43 to 128).
func cognitoRandom() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// pkceS256 is the S256 code challenge of a verifier.
func pkceS256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// ---------------------------------------------------------------- Cognito

// exchange redeems the authorization code at the token endpoint and
// returns the ID token.
func (c *CognitoSignIn) exchange(ctx context.Context, code, redirectURI, verifier string) (string, error) {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {c.ClientID},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {verifier},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Domain+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	var out struct {
		IDToken     string `json:"id_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	status, err := c.getJSON(req, &out)
	switch {
	case err != nil && status == 0:
		return "", fmt.Errorf("token endpoint: %w", err)
	case status != http.StatusOK:
		return "", fmt.Errorf("token endpoint answered %d %s %s", status, out.Error, out.Description)
	case err != nil:
		return "", fmt.Errorf("token endpoint: %w", err)
	case out.IDToken == "":
		return "", errors.New("token endpoint: no id_token in the answer")
	}
	return out.IDToken, nil
}

// getJSON does req and decodes the answer's JSON body (at most
// cognitoMaxBody) into out, whatever the status; status is 0 when there was
// no answer.
func (c *CognitoSignIn) getJSON(req *http.Request, out any) (status int, err error) {
	resp, err := c.client().Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, cognitoMaxBody+1))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("reading the answer: %w", err)
	}
	if len(body) > cognitoMaxBody {
		return resp.StatusCode, fmt.Errorf("answer larger than %d bytes", cognitoMaxBody)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return resp.StatusCode, fmt.Errorf("answer is not JSON: %w", err)
	}
	return resp.StatusCode, nil
}

// cognitoIDClaims are the ID token's claims the console reads.
type cognitoIDClaims struct {
	Issuer   string      `json:"iss"`
	Audience jwtAudience `json:"aud"`
	Subject  string      `json:"sub"`
	TokenUse string      `json:"token_use"`
	Exp      int64       `json:"exp"`
	Iat      int64       `json:"iat"`
	Nonce    string      `json:"nonce"`
	Email    string      `json:"email"`
	// EmailVerified is a JSON boolean, or the string "true" or "false".
	EmailVerified any      `json:"email_verified"`
	Username      string   `json:"cognito:username"`
	Groups        []string `json:"cognito:groups"`
}

// subject is who the console shows: the e-mail address (the pool's user
// name) when it is verified, else the user name, else sub.
func (c cognitoIDClaims) subject() string {
	if c.Email != "" && (c.EmailVerified == true || c.EmailVerified == "true") {
		return c.Email
	}
	if c.Username != "" {
		return c.Username
	}
	return c.Subject
}

// jwtAudience is the aud claim: one string, or a list of them.
type jwtAudience []string

func (a *jwtAudience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = jwtAudience{one}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("aud is neither a string nor a list of strings")
	}
	*a = list
	return nil
}

// verifyIDToken checks the ID token's signature with the pool's keys and
// its claims: iss, aud (the console's client, alone), token_use "id",
// exp and iat with cognitoSkew, the sign-in's nonce, a subject.
func (c *CognitoSignIn) verifyIDToken(ctx context.Context, raw, nonce string) (cognitoIDClaims, error) {
	var claims cognitoIDClaims
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return claims, errors.New("not a JWS compact token")
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := decodeJWTSegment(parts[0], &hdr); err != nil {
		return claims, fmt.Errorf("header: %w", err)
	}
	if hdr.Alg != "RS256" {
		return claims, fmt.Errorf("alg %q, want RS256", hdr.Alg)
	}
	if hdr.Kid == "" {
		return claims, errors.New("no kid in the header")
	}
	pub, err := c.publicKey(ctx, hdr.Kid)
	if err != nil {
		return claims, err
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return claims, errors.New("signature is not base64url")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		return claims, errors.New("bad signature")
	}
	if err := decodeJWTSegment(parts[1], &claims); err != nil {
		return claims, fmt.Errorf("claims: %w", err)
	}
	now := c.now()
	switch {
	case claims.Issuer != c.Issuer:
		return claims, fmt.Errorf("iss %q, want %q", claims.Issuer, c.Issuer)
	case len(claims.Audience) != 1 || claims.Audience[0] != c.ClientID:
		return claims, fmt.Errorf("aud %q, want %q", []string(claims.Audience), c.ClientID)
	case claims.TokenUse != "id":
		return claims, fmt.Errorf("token_use %q, want id", claims.TokenUse)
	case claims.Exp == 0 || !now.Before(time.Unix(claims.Exp, 0).Add(cognitoSkew)):
		return claims, fmt.Errorf("expired (exp %d)", claims.Exp)
	case claims.Iat == 0 || time.Unix(claims.Iat, 0).After(now.Add(cognitoSkew)):
		return claims, fmt.Errorf("iat %d is missing or in the future", claims.Iat)
	case claims.Nonce == "" || !hmac.Equal([]byte(claims.Nonce), []byte(nonce)):
		return claims, errors.New("nonce does not match the sign-in's")
	case claims.Subject == "":
		return claims, errors.New("no sub")
	}
	return claims, nil
}

// decodeJWTSegment decodes a base64url JSON segment of a JWT.
func decodeJWTSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errors.New("not base64url")
	}
	return json.Unmarshal(b, v)
}

// publicKey returns the pool's key kid: from the cache, or from the pool's
// JWKS fetched again when the key is unknown and the last fetch is at least
// cognitoJWKSRefetch old.
func (c *CognitoSignIn) publicKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k := c.keys[kid]; k != nil {
		return k, nil
	}
	if !c.fetched.IsZero() && c.now().Sub(c.fetched) < cognitoJWKSRefetch {
		return nil, fmt.Errorf("unknown kid %q (the pool's keys were fetched less than %v ago)", kid, cognitoJWKSRefetch)
	}
	keys, err := c.fetchKeys(ctx)
	c.fetched = c.now()
	if err != nil {
		return nil, fmt.Errorf("the pool's keys: %w", err)
	}
	c.keys = keys
	if k := keys[kid]; k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("unknown kid %q", kid)
}

// fetchKeys reads the pool's RS256 signing keys from Issuer's JWKS.
func (c *CognitoSignIn) fetchKeys(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Issuer+"/.well-known/jwks.json", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	status, err := c.getJSON(req, &set)
	if status != http.StatusOK && status != 0 {
		return nil, fmt.Errorf("JWKS answered %d", status)
	}
	if err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "RSA" || k.Kid == "" || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "RS256") {
			continue
		}
		nb, err1 := base64.RawURLEncoding.DecodeString(k.N)
		eb, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(eb) == 0 || len(eb) > 4 {
			continue
		}
		n, e := new(big.Int).SetBytes(nb), new(big.Int).SetBytes(eb)
		if n.BitLen() < 2048 || e.Int64() < 3 || e.Int64()%2 == 0 || e.Int64() > 1<<31-1 {
			continue
		}
		keys[k.Kid] = &rsa.PublicKey{N: n, E: int(e.Int64())}
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS has no RS256 signing key")
	}
	return keys, nil
}

// ---------------------------------------------------------------- pages

// cognitoPage is one of the sign-in's own pages: the callback's outcome.
type cognitoPage struct {
	Title   string
	Message string
	// Refresh, when set, is where the page moves on to by itself.
	Refresh string
	Link    *cognitoLink
}

type cognitoLink struct{ URL, Text string }

// cognitoPageTemplate is self-contained (no layout: nobody is signed in
// yet); the console's headers (CSP and others) apply as to every answer.
var cognitoPageTemplate = template.Must(template.New("cognito").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{{with .Refresh}}<meta http-equiv="refresh" content="0;url={{.}}">{{end}}
<title>{{.Title}} · backupbridge</title>
<link rel="stylesheet" href="/console/static/console.css">
</head>
<body>
<main id="main">
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{with .Link}}<p><a href="{{.URL}}">{{.Text}}</a></p>{{end}}
</main>
</body>
</html>
`))

func (c *CognitoSignIn) page(w http.ResponseWriter, status int, p cognitoPage) {
	var b strings.Builder
	if err := cognitoPageTemplate.Execute(&b, p); err != nil {
		http.Error(w, "internal error: rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, b.String())
}

// ---------------------------------------------------------------- setup

// CognitoFromEnv builds the Cognito sign-in from the environment:
// COGNITO_ISSUER, COGNITO_CLIENT_ID and COGNITO_DOMAIN, key signing the
// cookies (at least 32 bytes) and hc calling Cognito (nil: CognitoSignIn's
// default). ok is false, with no error, when COGNITO_ISSUER is unset: no
// Cognito sign-in is configured.
func CognitoFromEnv(getenv func(string) string, key []byte, hc *http.Client) (Authenticator, bool, error) {
	issuer := getenv(EnvCognitoIssuer)
	if issuer == "" {
		return nil, false, nil
	}
	c := &CognitoSignIn{ClientID: getenv(EnvCognitoClientID), Key: key, HTTPClient: hc}
	var errs []error
	var err error
	if c.Issuer, err = cognitoHTTPSBase(EnvCognitoIssuer, issuer, true); err != nil {
		errs = append(errs, err)
	}
	if c.Domain, err = cognitoHTTPSBase(EnvCognitoDomain, getenv(EnvCognitoDomain), false); err != nil {
		errs = append(errs, err)
	}
	if c.ClientID == "" {
		errs = append(errs, fmt.Errorf("%s is not set", EnvCognitoClientID))
	}
	if len(key) < cognitoMinKeyLen {
		errs = append(errs, fmt.Errorf("the session key has %d bytes, want at least %d", len(key), cognitoMinKeyLen))
	}
	if len(errs) > 0 {
		return nil, false, fmt.Errorf("console: Cognito sign-in: %w", errors.Join(errs...))
	}
	return c, true, nil
}

// cognitoHTTPSBase checks that s is an https URL without query, fragment or user
// (with a path only when path is allowed) and returns it without a
// trailing slash.
func cognitoHTTPSBase(name, s string, path bool) (string, error) {
	if s == "" {
		return "", fmt.Errorf("%s is not set", name)
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		(!path && strings.Trim(u.Path, "/") != "") {
		want := "https://host"
		if path {
			want += "/path"
		}
		return "", fmt.Errorf("%s=%q: want %s", name, s, want)
	}
	return strings.TrimRight(s, "/"), nil
}

// ConsoleSecret is the content of the console's Secrets Manager secret
// (template.yaml's ConsoleSecret, named by CONSOLE_SECRET_ID): JSON
// {"clientId": ..., "sessionKey": ...}. The app client's id travels here
// because template.yaml cannot give it to the function as an environment
// variable (a dependency cycle, see there); the session key is generated by
// Secrets Manager.
type ConsoleSecret struct {
	ClientID   string `json:"clientId"`
	SessionKey string `json:"sessionKey"`
}

// ParseConsoleSecret decodes the console's secret; both fields are
// required, the key at least 32 bytes.
func ParseConsoleSecret(s string) (ConsoleSecret, error) {
	var sec ConsoleSecret
	if err := json.Unmarshal([]byte(s), &sec); err != nil {
		return sec, errors.New("console: the console's secret is not JSON {\"clientId\", \"sessionKey\"}")
	}
	if sec.ClientID == "" {
		return sec, errors.New("console: the console's secret has no clientId")
	}
	if len(sec.SessionKey) < cognitoMinKeyLen {
		return sec, fmt.Errorf("console: the console's secret has a sessionKey of %d bytes, want at least %d", len(sec.SessionKey), cognitoMinKeyLen)
	}
	return sec, nil
}

// CognitoFromSecret is CognitoFromEnv as deployed: when COGNITO_ISSUER is
// set it reads the secret named by CONSOLE_SECRET_ID with fetch (Secrets
// Manager's GetSecretValue, SecretString) and takes the session key and the
// app client's id from it (COGNITO_CLIENT_ID, when set, wins). It returns
// the key too: the console's Options.SessionKey. ok is false, and fetch is
// not called, when COGNITO_ISSUER is unset.
func CognitoFromSecret(ctx context.Context, getenv func(string) string,
	fetch func(ctx context.Context, secretID string) (string, error), hc *http.Client,
) (auth Authenticator, key []byte, ok bool, err error) {
	if getenv(EnvCognitoIssuer) == "" {
		return nil, nil, false, nil
	}
	id := getenv(EnvConsoleSecretID)
	if id == "" {
		return nil, nil, false, fmt.Errorf("console: %s is set but %s is not", EnvCognitoIssuer, EnvConsoleSecretID)
	}
	s, err := fetch(ctx, id)
	if err != nil {
		return nil, nil, false, fmt.Errorf("console: reading the console's secret %s: %w", id, err)
	}
	sec, err := ParseConsoleSecret(s)
	if err != nil {
		return nil, nil, false, err
	}
	env := func(name string) string {
		if v := getenv(name); v != "" || name != EnvCognitoClientID {
			return v
		}
		return sec.ClientID
	}
	key = []byte(sec.SessionKey)
	auth, ok, err = CognitoFromEnv(env, key, hc)
	if err != nil || !ok {
		return nil, nil, ok, err
	}
	return auth, key, true, nil
}

// FormActionOrigins is the hosted UI's origin: POST /console/signout ends
// in a redirect to its logout page, and browsers hold a form's redirects to
// the CSP's form-action.
func (c *CognitoSignIn) FormActionOrigins() []string {
	u, err := url.Parse(c.Domain)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil
	}
	return []string{"https://" + u.Host}
}

var _ FormActionOriginer = (*CognitoSignIn)(nil)
