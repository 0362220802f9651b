package console

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// ------------------------------------------------------------ fake Cognito

// cognitoTestKeys are RSA keys for the fake pool, generated once (slow under -race).
var cognitoTestKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	var keys []*rsa.PrivateKey
	for range 3 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys = append(keys, k)
	}
	return keys
})

type cognitoClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *cognitoClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *cognitoClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// cognitoPendingCode is what the fake hosted UI remembers of an authorization.
type cognitoPendingCode struct {
	clientID, redirectURI, challenge, nonce string
	groups                                  []string
}

// fakeCognito plays a user pool: the hosted UI's authorize step (login),
// the token endpoint (with PKCE) and the pool's JWKS, on 127.0.0.1 over TLS.
type fakeCognito struct {
	t     *testing.T
	srv   *httptest.Server
	clock *cognitoClock

	mu          sync.Mutex
	published   map[string]*rsa.PrivateKey // kid → key, served in the JWKS
	signKid     string                     // the kid the next tokens are signed with
	signKey     *rsa.PrivateKey            // nil: published[signKid]
	codes       map[string]cognitoPendingCode
	jwksFetches int
	tokenCalls  int
	pkceFails   int
	// claimsHook and headerHook change a token before it is signed;
	// tamper changes it after.
	claimsHook func(map[string]any)
	headerHook func(map[string]any)
	tamper     bool
	// tokenAnswer, when set, answers the token endpoint instead.
	tokenAnswer func(w http.ResponseWriter)
}

func newFakeCognito(t *testing.T, clock *cognitoClock) *fakeCognito {
	t.Helper()
	f := &fakeCognito{
		t: t, clock: clock,
		published: map[string]*rsa.PrivateKey{"k1": cognitoTestKeys()[0]},
		signKid:   "k1",
		codes:     map[string]cognitoPendingCode{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pool/.well-known/jwks.json", f.jwks)
	mux.HandleFunc("POST /oauth2/token", f.token)
	f.srv = httptest.NewUnstartedServer(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Listener = ln
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCognito) issuer() string { return f.srv.URL + "/pool" }

func (f *fakeCognito) jwks(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jwksFetches++
	type jwk struct {
		Kty string `json:"kty"`
		Kid string `json:"kid"`
		Use string `json:"use"`
		Alg string `json:"alg"`
		N   string `json:"n"`
		E   string `json:"e"`
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	for kid, k := range f.published {
		set.Keys = append(set.Keys, jwk{
			Kty: "RSA", Kid: kid, Use: "sig", Alg: "RS256",
			N: base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
		})
	}
	// Keys Cognito never sends, which must be skipped: another type, an
	// encryption key, a short RSA key.
	set.Keys = append(set.Keys,
		jwk{Kty: "EC", Kid: "ec1", Use: "sig", Alg: "ES256"},
		jwk{Kty: "RSA", Kid: "enc1", Use: "enc", N: set.Keys[0].N, E: set.Keys[0].E},
		jwk{Kty: "RSA", Kid: "short", Use: "sig", Alg: "RS256", N: base64.RawURLEncoding.EncodeToString(big.NewInt(3233).Bytes()), E: "AQAB"},
	)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(set)
}

// login plays the hosted UI: it checks the authorize URL the console sent
// the browser to and returns the callback URL the browser is sent back to.
func (f *fakeCognito) login(location string, groups []string) string {
	f.t.Helper()
	u, err := url.Parse(location)
	if err != nil {
		f.t.Fatalf("authorize URL %q: %v", location, err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != f.srv.URL+"/oauth2/authorize" {
		f.t.Fatalf("sign-in went to %s, want the hosted UI's %s/oauth2/authorize", got, f.srv.URL)
	}
	q := u.Query()
	for k, want := range map[string]string{
		"response_type": "code", "client_id": "console-client", "scope": "openid email profile",
		"code_challenge_method": "S256", "redirect_uri": "https://console.example/console/auth/callback",
	} {
		if q.Get(k) != want {
			f.t.Errorf("authorize %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if len(q.Get("code_challenge")) != 43 || len(q.Get("state")) < 32 || len(q.Get("nonce")) < 32 {
		f.t.Errorf("authorize: code_challenge %q, state %q, nonce %q: want an S256 challenge and random state and nonce", q.Get("code_challenge"), q.Get("state"), q.Get("nonce"))
	}
	code := cognitoRandom()
	f.mu.Lock()
	f.codes[code] = cognitoPendingCode{
		clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"),
		challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), groups: groups,
	}
	f.mu.Unlock()
	return q.Get("redirect_uri") + "?" + url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
}

func (f *fakeCognito) token(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenCalls++
	if f.tokenAnswer != nil {
		f.tokenAnswer(w)
		return
	}
	fail := func(e string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"`+e+`"}`)
	}
	if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
		fail("invalid_request")
		return
	}
	code := r.PostForm.Get("code")
	p, ok := f.codes[code]
	delete(f.codes, code) // a code is used once
	switch {
	case r.PostForm.Get("grant_type") != "authorization_code":
		fail("unsupported_grant_type")
		return
	case !ok || r.PostForm.Get("client_id") != p.clientID || r.PostForm.Get("redirect_uri") != p.redirectURI:
		fail("invalid_grant")
		return
	case r.PostForm.Get("code_verifier") == "" || pkceS256(r.PostForm.Get("code_verifier")) != p.challenge:
		f.pkceFails++
		fail("invalid_grant")
		return
	}
	now := f.clock.Now()
	claims := map[string]any{
		"iss": f.issuer(), "aud": p.clientID, "sub": "8f1c0d6e-0000-4000-8000-000000000001",
		"token_use": "id", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "auth_time": now.Unix(),
		"nonce": p.nonce, "email": "ops@example.com", "email_verified": true,
		"cognito:username": "8f1c0d6e-0000-4000-8000-000000000001",
	}
	if p.groups != nil {
		claims["cognito:groups"] = p.groups
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id_token": f.sign(claims), "access_token": "opaque-access", "refresh_token": "opaque-refresh",
		"token_type": "Bearer", "expires_in": 3600,
	})
}

// sign makes a JWS with the current signing key, hooks applied; f.mu held.
func (f *fakeCognito) sign(claims map[string]any) string {
	hdr := map[string]any{"alg": "RS256", "kid": f.signKid, "typ": "JWT"}
	if f.claimsHook != nil {
		f.claimsHook(claims)
	}
	if f.headerHook != nil {
		f.headerHook(hdr)
	}
	key := f.signKey
	if key == nil {
		key = f.published[f.signKid]
	}
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signed := enc(hdr) + "." + enc(claims)
	h := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		panic(err)
	}
	if f.tamper {
		claims["cognito:groups"] = []string{OperatorsGroup}
		claims["email"] = "intruder@example.com"
		_, rest, _ := strings.Cut(signed, ".")
		signed = strings.Replace(signed, rest, enc(claims), 1)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func (f *fakeCognito) set(fn func(f *fakeCognito)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeCognito) counts() (jwks, token, pkce int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.jwksFetches, f.tokenCalls, f.pkceFails
}

// ------------------------------------------------------------ the console side

var cognitoTestKey = []byte("0123456789abcdef0123456789abcdef-test-key")

type cognitoRig struct {
	t     *testing.T
	clock *cognitoClock
	f     *fakeCognito
	c     *CognitoSignIn
	mux   *http.ServeMux
	jar   map[string]*http.Cookie
}

func newCognitoRig(t *testing.T) *cognitoRig {
	t.Helper()
	clock := &cognitoClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	f := newFakeCognito(t, clock)
	c := &CognitoSignIn{
		Issuer: f.issuer(), ClientID: "console-client", Domain: f.srv.URL,
		Key: cognitoTestKey, HTTPClient: f.srv.Client(), Now: clock.Now,
	}
	mux := http.NewServeMux()
	c.Routes(mux)
	return &cognitoRig{t: t, clock: clock, f: f, c: c, mux: mux, jar: map[string]*http.Cookie{}}
}

// do sends a request to the console at https://console.example with the
// jar's cookies and keeps the cookies the answer sets.
func (r *cognitoRig) do(method, target string) (*http.Response, string) {
	r.t.Helper()
	if !strings.HasPrefix(target, "https://") {
		target = "https://console.example" + target
	}
	req := httptest.NewRequest(method, target, nil)
	for _, ck := range r.jar {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	rec := httptest.NewRecorder()
	r.mux.ServeHTTP(rec, req)
	resp := rec.Result()
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 {
			delete(r.jar, ck.Name)
		} else {
			r.jar[ck.Name] = ck
		}
	}
	return resp, rec.Body.String()
}

// request is a console request carrying the jar's cookies, for Identify.
func (r *cognitoRig) request() *http.Request {
	req := httptest.NewRequest(http.MethodGet, "https://console.example/console/", nil)
	for _, ck := range r.jar {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	return req
}

// startSignIn follows /console/signin to the hosted UI's authorize URL.
func (r *cognitoRig) startSignIn(next string) string {
	r.t.Helper()
	target := "/console/signin"
	if next != "" {
		target += "?next=" + url.QueryEscape(next)
	}
	resp, _ := r.do(http.MethodGet, target)
	if resp.StatusCode != http.StatusSeeOther {
		r.t.Fatalf("GET /console/signin: %d, want 303 to the hosted UI", resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

// signIn goes through the whole sign-in as a user of groups and returns the
// callback's answer.
func (r *cognitoRig) signIn(groups []string) (*http.Response, string) {
	r.t.Helper()
	return r.do(http.MethodGet, r.f.login(r.startSignIn(""), groups))
}

func cognitoCookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, ck := range resp.Cookies() {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

// refused checks a callback answer that must not have signed anyone in.
func (r *cognitoRig) refused(resp *http.Response, body string, status int, says string) {
	r.t.Helper()
	if resp.StatusCode != status {
		r.t.Errorf("callback: %d, want %d; body:\n%s", resp.StatusCode, status, body)
	}
	if ck := cognitoCookieNamed(resp, SessionCookie); ck != nil {
		r.t.Errorf("callback set %s = %q; a refused sign-in must not", SessionCookie, ck.Value)
	}
	if _, ok := r.c.Identify(r.request()); ok {
		r.t.Error("Identify accepts the browser after a refused sign-in")
	}
	if says != "" && !strings.Contains(body, says) {
		r.t.Errorf("callback page does not say %q:\n%s", says, body)
	}
}

// ------------------------------------------------------------ tests

func TestCognitoSignInFullFlow(t *testing.T) {
	r := newCognitoRig(t)
	location := r.startSignIn("/console/partners/acme/events")
	flow := r.jar[cognitoSigninCookie]
	if flow == nil {
		t.Fatal("/console/signin set no sign-in cookie")
	}
	if !flow.HttpOnly || !flow.Secure || flow.SameSite != http.SameSiteLaxMode || flow.Path != "/console/auth/" || flow.MaxAge != 600 {
		t.Errorf("sign-in cookie %+v: want HttpOnly, Secure, SameSite=Lax, Path=/console/auth/, Max-Age=600", flow)
	}
	callback := r.f.login(location, []string{OperatorsGroup})

	resp, body := r.do(http.MethodGet, callback)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callback: %d, want 200; body:\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{`<meta http-equiv="refresh" content="0;url=/console/partners/acme/events">`, `href="/console/partners/acme/events"`, "ops@example.com"} {
		if !strings.Contains(body, want) {
			t.Errorf("callback page lacks %s:\n%s", want, body)
		}
	}
	ck := cognitoCookieNamed(resp, SessionCookie)
	if ck == nil {
		t.Fatal("callback set no session cookie")
	}
	if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console/" {
		t.Errorf("session cookie %+v: want HttpOnly, Secure, SameSite=Strict, Path=/console/", ck)
	}
	// The token lives an hour, less than SessionTTL: the session too.
	if ck.MaxAge != 3600 || !ck.Expires.Equal(r.clock.Now().Add(time.Hour).Truncate(time.Second)) {
		t.Errorf("session cookie Max-Age %d, Expires %v; want the ID token's expiry, an hour", ck.MaxAge, ck.Expires)
	}
	if c := cognitoCookieNamed(resp, cognitoSigninCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("callback did not clear the sign-in cookie: %+v", c)
	}
	if strings.Contains(ck.Value, "opaque-access") || strings.Count(ck.Value, ".") != 1 {
		t.Errorf("session cookie %q looks like it carries a token", ck.Value)
	}

	id, ok := r.c.Identify(r.request())
	if !ok || id != (Identity{Subject: "ops@example.com", Role: RoleOperator}) {
		t.Errorf("Identify = %+v, %v; want ops@example.com, operator", id, ok)
	}
	sid, ok := r.c.SessionID(r.request())
	if !ok || len(sid) < 32 {
		t.Errorf("SessionID = %q, %v", sid, ok)
	}
	if jwks, tokens, pkce := r.f.counts(); jwks != 1 || tokens != 1 || pkce != 0 {
		t.Errorf("fake Cognito saw %d JWKS fetches, %d token calls, %d PKCE failures; want 1, 1, 0", jwks, tokens, pkce)
	}

	// Signed in: /console/signin goes straight on.
	resp, _ = r.do(http.MethodGet, "/console/signin?next=%2Fconsole%2Fpartners%2Fnew")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/partners/new" {
		t.Errorf("signin when signed in: %d to %q, want 303 to /console/partners/new", resp.StatusCode, resp.Header.Get("Location"))
	}

	// The same callback again (a replayed code, the old sign-in cookie):
	// the code is spent.
	r.jar[cognitoSigninCookie] = flow
	delete(r.jar, SessionCookie)
	resp, body = r.do(http.MethodGet, callback)
	r.refused(resp, body, http.StatusBadGateway, "Cognito did not complete the sign-in")

	// Sessions end with the token.
	r.signIn([]string{OperatorsGroup})
	if _, ok := r.c.Identify(r.request()); !ok {
		t.Fatal("second sign-in did not take")
	}
	r.clock.Advance(time.Hour)
	if _, ok := r.c.Identify(r.request()); ok {
		t.Error("Identify accepts a session past the ID token's expiry")
	}
}

func TestCognitoSubjectIsTheVerifiedEmail(t *testing.T) {
	for _, c := range []struct {
		name     string
		verified any
		want     string
	}{
		{"verified", true, "ops@example.com"},
		{"verified, as a string", "true", "ops@example.com"},
		{"not verified", false, "cognito-user-1"},
		{"not verified, as a string", "false", "cognito-user-1"},
		{"no claim", nil, "cognito-user-1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newCognitoRig(t)
			r.f.set(func(f *fakeCognito) {
				f.claimsHook = func(m map[string]any) {
					m["cognito:username"] = "cognito-user-1"
					if c.verified == nil {
						delete(m, "email_verified")
					} else {
						m["email_verified"] = c.verified
					}
				}
			})
			if resp, body := r.signIn([]string{OperatorsGroup}); resp.StatusCode != http.StatusOK {
				t.Fatalf("callback: %d\n%s", resp.StatusCode, body)
			}
			if id, _ := r.c.Identify(r.request()); id.Subject != c.want {
				t.Errorf("subject %q, want %q", id.Subject, c.want)
			}
		})
	}
}

func TestCognitoSessionAtMostTwelveHours(t *testing.T) {
	r := newCognitoRig(t)
	r.f.set(func(f *fakeCognito) {
		f.claimsHook = func(c map[string]any) { c["exp"] = r.clock.Now().Add(24 * time.Hour).Unix() }
	})
	resp, body := r.signIn([]string{ViewersGroup})
	ck := cognitoCookieNamed(resp, SessionCookie)
	if resp.StatusCode != http.StatusOK || ck == nil {
		t.Fatalf("callback: %d, cookie %v; body:\n%s", resp.StatusCode, ck, body)
	}
	if ck.MaxAge != int(SessionTTL/time.Second) {
		t.Errorf("session Max-Age %d, want %d (SessionTTL)", ck.MaxAge, int(SessionTTL/time.Second))
	}
	r.clock.Advance(SessionTTL - time.Second)
	if _, ok := r.c.Identify(r.request()); !ok {
		t.Error("session ended before 12 hours")
	}
	r.clock.Advance(time.Second)
	if _, ok := r.c.Identify(r.request()); ok {
		t.Error("session outlived 12 hours")
	}
}

func TestCognitoGroupsGiveTheRole(t *testing.T) {
	for _, c := range []struct {
		name   string
		groups []string
		role   Role
	}{
		{"viewer", []string{ViewersGroup}, RoleViewer},
		{"operator", []string{OperatorsGroup}, RoleOperator},
		{"both", []string{ViewersGroup, OperatorsGroup}, RoleOperator},
		{"viewer and another group", []string{"billing", ViewersGroup}, RoleViewer},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newCognitoRig(t)
			if resp, body := r.signIn(c.groups); resp.StatusCode != http.StatusOK {
				t.Fatalf("callback: %d; body:\n%s", resp.StatusCode, body)
			}
			if id, ok := r.c.Identify(r.request()); !ok || id.Role != c.role {
				t.Errorf("groups %q: Identify = %+v, %v; want role %s", c.groups, id, ok, c.role)
			}
		})
	}
}

func TestCognitoUserInNoGroupIsRefused(t *testing.T) {
	for _, groups := range [][]string{nil, {"billing"}, {"Operators", "viewer"}} {
		r := newCognitoRig(t)
		resp, body := r.signIn(groups)
		r.refused(resp, body, http.StatusForbidden, "ask an administrator to add you to a group")
		if !strings.Contains(body, "ops@example.com") {
			t.Errorf("the refusal does not say who is signed in:\n%s", body)
		}
		logout := r.f.srv.URL + "/logout?client_id=console-client&amp;logout_uri=https%3A%2F%2Fconsole.example%2Fconsole%2Fsignin"
		if !strings.Contains(body, logout) {
			t.Errorf("the refusal does not offer the hosted UI's logout (%s):\n%s", logout, body)
		}
	}
}

func TestCognitoRefusesBadIDTokens(t *testing.T) {
	for _, c := range []struct {
		name   string
		claims func(now time.Time, c map[string]any)
		header func(h map[string]any)
		setup  func(f *fakeCognito)
		ok     bool
	}{
		{name: "tampered payload", setup: func(f *fakeCognito) { f.tamper = true }},
		{name: "signed by a key not the pool's", setup: func(f *fakeCognito) { f.signKey = cognitoTestKeys()[2] }},
		{name: "wrong aud", claims: func(_ time.Time, c map[string]any) { c["aud"] = "another-client" }},
		{name: "aud list with another client", claims: func(_ time.Time, c map[string]any) { c["aud"] = []string{"console-client", "another-client"} }},
		{name: "aud list of the client alone", ok: true, claims: func(_ time.Time, c map[string]any) { c["aud"] = []string{"console-client"} }},
		{name: "wrong iss", claims: func(_ time.Time, c map[string]any) {
			c["iss"] = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_other"
		}},
		{name: "access token", claims: func(_ time.Time, c map[string]any) { c["token_use"] = "access" }},
		{name: "expired", claims: func(now time.Time, c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() }},
		{name: "no exp", claims: func(_ time.Time, c map[string]any) { delete(c, "exp") }},
		{name: "issued in the future", claims: func(now time.Time, c map[string]any) { c["iat"] = now.Add(2 * time.Minute).Unix() }},
		{name: "issued within the skew", ok: true, claims: func(now time.Time, c map[string]any) { c["iat"] = now.Add(30 * time.Second).Unix() }},
		{name: "no iat", claims: func(_ time.Time, c map[string]any) { delete(c, "iat") }},
		{name: "other nonce", claims: func(_ time.Time, c map[string]any) { c["nonce"] = "replayed" }},
		{name: "no nonce", claims: func(_ time.Time, c map[string]any) { delete(c, "nonce") }},
		{name: "no sub", claims: func(_ time.Time, c map[string]any) { delete(c, "sub") }},
		{name: "alg HS256", header: func(h map[string]any) { h["alg"] = "HS256" }},
		{name: "alg none", header: func(h map[string]any) { h["alg"] = "none" }},
		{name: "no kid", header: func(h map[string]any) { delete(h, "kid") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newCognitoRig(t)
			r.f.set(func(f *fakeCognito) {
				if c.claims != nil {
					f.claimsHook = func(m map[string]any) { c.claims(r.clock.Now(), m) }
				}
				f.headerHook = c.header
				if c.setup != nil {
					c.setup(f)
				}
			})
			resp, body := r.signIn([]string{OperatorsGroup})
			if c.ok {
				if resp.StatusCode != http.StatusOK {
					t.Errorf("callback: %d, want 200; body:\n%s", resp.StatusCode, body)
				}
				return
			}
			r.refused(resp, body, http.StatusUnauthorized, "could not be verified")
		})
	}
}

func TestCognitoUnknownKidRefetchesAtMostOnceAMinute(t *testing.T) {
	r := newCognitoRig(t)
	if resp, body := r.signIn([]string{OperatorsGroup}); resp.StatusCode != http.StatusOK {
		t.Fatalf("first sign-in: %d\n%s", resp.StatusCode, body)
	}
	delete(r.jar, SessionCookie)
	fetches := func(want int) {
		t.Helper()
		if got, _, _ := r.f.counts(); got != want {
			t.Errorf("JWKS fetched %d times, want %d", got, want)
		}
	}
	fetches(1)

	// A kid the pool does not publish: refused; the keys were fetched
	// less than a minute ago, so not again.
	r.clock.Advance(10 * time.Second)
	r.f.set(func(f *fakeCognito) { f.signKid, f.signKey = "unknown", cognitoTestKeys()[2] })
	resp, body := r.signIn([]string{OperatorsGroup})
	r.refused(resp, body, http.StatusUnauthorized, "")
	fetches(1)

	// The pool rotates to k2: still within the minute, refused.
	r.clock.Advance(10 * time.Second)
	r.f.set(func(f *fakeCognito) {
		f.published["k2"] = cognitoTestKeys()[1]
		f.signKid, f.signKey = "k2", nil
	})
	resp, body = r.signIn([]string{OperatorsGroup})
	r.refused(resp, body, http.StatusUnauthorized, "")
	fetches(1)

	// A minute after the last fetch: fetched again, and k2 is found.
	r.clock.Advance(41 * time.Second)
	if resp, body := r.signIn([]string{OperatorsGroup}); resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in with the rotated key: %d\n%s", resp.StatusCode, body)
	}
	fetches(2)
	delete(r.jar, SessionCookie)

	// Known keys need no fetch; an unknown one right after a fetch none either.
	r.f.set(func(f *fakeCognito) { f.signKid = "k1" })
	if resp, _ := r.signIn([]string{OperatorsGroup}); resp.StatusCode != http.StatusOK {
		t.Errorf("sign-in with k1: %d", resp.StatusCode)
	}
	delete(r.jar, SessionCookie)
	r.f.set(func(f *fakeCognito) { f.signKid, f.signKey = "k3", cognitoTestKeys()[2] })
	resp, body = r.signIn([]string{OperatorsGroup})
	r.refused(resp, body, http.StatusUnauthorized, "")
	fetches(2)
}

func TestCognitoJWKSUnavailable(t *testing.T) {
	r := newCognitoRig(t)
	r.c.Issuer = r.f.srv.URL + "/no-such-pool" // its JWKS is a 404
	r.f.set(func(f *fakeCognito) {
		f.claimsHook = func(c map[string]any) { c["iss"] = r.c.Issuer }
	})
	resp, body := r.signIn([]string{OperatorsGroup})
	r.refused(resp, body, http.StatusUnauthorized, "could not be verified")
}

func TestCognitoTokenEndpointFailures(t *testing.T) {
	for name, answer := range map[string]func(w http.ResponseWriter){
		"server error": func(w http.ResponseWriter) { http.Error(w, "<html>oops</html>", http.StatusInternalServerError) },
		"not JSON":     func(w http.ResponseWriter) { _, _ = io.WriteString(w, "<html>ok</html>") },
		"no id_token":  func(w http.ResponseWriter) { _, _ = io.WriteString(w, `{"access_token":"a","token_type":"Bearer"}`) },
		"too large": func(w http.ResponseWriter) {
			_, _ = io.WriteString(w, `{"id_token":"`+strings.Repeat("a", cognitoMaxBody)+`"}`)
		},
		"a redirect": func(w http.ResponseWriter) {
			w.Header().Set("Location", "/oauth2/token2")
			w.WriteHeader(http.StatusFound)
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := newCognitoRig(t)
			// Like the default client, follows no redirect.
			r.c.HTTPClient.CheckRedirect = (&CognitoSignIn{}).client().CheckRedirect
			r.f.set(func(f *fakeCognito) { f.tokenAnswer = answer })
			resp, body := r.signIn([]string{OperatorsGroup})
			r.refused(resp, body, http.StatusBadGateway, "Cognito did not complete the sign-in")
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		r := newCognitoRig(t)
		loc := r.startSignIn("")
		cb := r.f.login(loc, []string{OperatorsGroup})
		r.f.srv.Close()
		resp, body := r.do(http.MethodGet, cb)
		r.refused(resp, body, http.StatusBadGateway, "")
	})
}

func TestCognitoDefaultClient(t *testing.T) {
	c := (&CognitoSignIn{}).client()
	if c.Timeout != cognitoTimeout || c.CheckRedirect == nil || c.CheckRedirect(nil, nil) == nil {
		t.Errorf("default client: timeout %v, redirects followed: %v", c.Timeout, c.CheckRedirect == nil)
	}
	if (&CognitoSignIn{}).now().IsZero() {
		t.Error("zero clock")
	}
}

func TestCognitoCallbackChecksTheSignIn(t *testing.T) {
	noExchange := func(t *testing.T, r *cognitoRig) {
		t.Helper()
		if _, tokens, _ := r.f.counts(); tokens != 0 {
			t.Errorf("the code was sent to the token endpoint %d times; a refused callback must not", tokens)
		}
	}
	t.Run("wrong state", func(t *testing.T) {
		r := newCognitoRig(t)
		cb, _ := url.Parse(r.f.login(r.startSignIn(""), []string{OperatorsGroup}))
		q := cb.Query()
		q.Set("state", cognitoRandom())
		cb.RawQuery = q.Encode()
		resp, body := r.do(http.MethodGet, cb.String())
		r.refused(resp, body, http.StatusBadRequest, "sign-in has expired")
		noExchange(t, r)
	})
	t.Run("no state", func(t *testing.T) {
		r := newCognitoRig(t)
		cb, _ := url.Parse(r.f.login(r.startSignIn(""), []string{OperatorsGroup}))
		q := cb.Query()
		q.Del("state")
		cb.RawQuery = q.Encode()
		resp, body := r.do(http.MethodGet, cb.String())
		r.refused(resp, body, http.StatusBadRequest, "")
		noExchange(t, r)
	})
	t.Run("no sign-in cookie", func(t *testing.T) {
		r := newCognitoRig(t)
		cb := r.f.login(r.startSignIn(""), []string{OperatorsGroup})
		delete(r.jar, cognitoSigninCookie)
		resp, body := r.do(http.MethodGet, cb)
		r.refused(resp, body, http.StatusBadRequest, "another browser")
		noExchange(t, r)
	})
	t.Run("forged sign-in cookie", func(t *testing.T) {
		r := newCognitoRig(t)
		cb := r.f.login(r.startSignIn(""), []string{OperatorsGroup})
		other := &CognitoSignIn{Key: []byte("another key, another key, another key")}
		u, _ := url.Parse(cb)
		r.jar[cognitoSigninCookie].Value = other.seal("signin", cognitoSigninState{
			State: u.Query().Get("state"), Verifier: cognitoRandom(), Nonce: cognitoRandom(),
			Next: "/console/", Exp: r.clock.Now().Add(time.Minute).Unix(),
		})
		resp, body := r.do(http.MethodGet, cb)
		r.refused(resp, body, http.StatusBadRequest, "")
		noExchange(t, r)
	})
	t.Run("sign-in cookie expired", func(t *testing.T) {
		r := newCognitoRig(t)
		cb := r.f.login(r.startSignIn(""), []string{OperatorsGroup})
		r.clock.Advance(cognitoSigninTTL)
		resp, body := r.do(http.MethodGet, cb)
		r.refused(resp, body, http.StatusBadRequest, "expired")
		noExchange(t, r)
	})
	t.Run("missing verifier", func(t *testing.T) {
		r := newCognitoRig(t)
		cb := r.f.login(r.startSignIn(""), []string{OperatorsGroup})
		var st cognitoSigninState
		if !r.c.open("signin", r.jar[cognitoSigninCookie].Value, &st) {
			t.Fatal("cannot open the sign-in cookie")
		}
		st.Verifier = ""
		r.jar[cognitoSigninCookie].Value = r.c.seal("signin", st)
		resp, body := r.do(http.MethodGet, cb)
		r.refused(resp, body, http.StatusBadRequest, "incomplete")
		noExchange(t, r)
	})
	t.Run("verifier of another sign-in", func(t *testing.T) {
		// Sign-in A's cookie and state with sign-in B's code: Cognito
		// checks B's challenge against A's verifier and refuses.
		r := newCognitoRig(t)
		locA := r.startSignIn("")
		cookieA := *r.jar[cognitoSigninCookie]
		cbB, _ := url.Parse(r.f.login(r.startSignIn(""), []string{OperatorsGroup}))
		stateA, _ := url.Parse(locA)
		q := cbB.Query()
		q.Set("state", stateA.Query().Get("state"))
		cbB.RawQuery = q.Encode()
		r.jar[cognitoSigninCookie] = &cookieA
		resp, body := r.do(http.MethodGet, cbB.String())
		r.refused(resp, body, http.StatusBadGateway, "")
		if _, tokens, pkce := r.f.counts(); tokens != 1 || pkce != 1 {
			t.Errorf("token calls %d, PKCE failures %d; want 1 and 1", tokens, pkce)
		}
	})
	t.Run("no code", func(t *testing.T) {
		r := newCognitoRig(t)
		loc, _ := url.Parse(r.startSignIn(""))
		resp, body := r.do(http.MethodGet, "/console/auth/callback?state="+url.QueryEscape(loc.Query().Get("state")))
		r.refused(resp, body, http.StatusBadRequest, "")
		noExchange(t, r)
	})
	t.Run("the hosted UI answers an error", func(t *testing.T) {
		r := newCognitoRig(t)
		loc, _ := url.Parse(r.startSignIn(""))
		q := url.Values{"state": {loc.Query().Get("state")}, "error": {"access_denied"}, "error_description": {"<script>alert(1)</script> denied"}}
		resp, body := r.do(http.MethodGet, "/console/auth/callback?"+q.Encode())
		r.refused(resp, body, http.StatusUnauthorized, "&lt;script&gt;alert(1)&lt;/script&gt; denied")
		if strings.Contains(body, "<script>") {
			t.Errorf("the error description reached the page unescaped:\n%s", body)
		}
		noExchange(t, r)
	})
	t.Run("a sign-in cookie is used once", func(t *testing.T) {
		r := newCognitoRig(t)
		cb := r.f.login(r.startSignIn(""), []string{OperatorsGroup})
		resp, _ := r.do(http.MethodGet, cb+"&state=x") // a bad state spends the cookie too
		if c := cognitoCookieNamed(resp, cognitoSigninCookie); c == nil || c.MaxAge >= 0 {
			t.Errorf("a refused callback did not clear the sign-in cookie: %+v", c)
		}
	})
}

func TestCognitoSignInRedirect(t *testing.T) {
	r := newCognitoRig(t)
	for _, c := range []struct{ next, want string }{
		{"", "/console/"},
		{"/console/partners/acme", "/console/partners/acme"},
		{"https://evil.example/console/", "/console/"},
		{"//evil.example/console/", "/console/"},
	} {
		loc := r.startSignIn(c.next)
		var st cognitoSigninState
		if !r.c.open("signin", r.jar[cognitoSigninCookie].Value, &st) {
			t.Fatal("cannot open the sign-in cookie")
		}
		if st.Next != c.want {
			t.Errorf("next %q kept as %q, want %q", c.next, st.Next, c.want)
		}
		u, _ := url.Parse(loc)
		if pkceS256(st.Verifier) != u.Query().Get("code_challenge") || st.State != u.Query().Get("state") || st.Nonce != u.Query().Get("nonce") {
			t.Error("the sign-in cookie does not hold the verifier, state and nonce sent to the hosted UI")
		}
	}
	// Two sign-ins never share a state, verifier or nonce.
	a, _ := url.Parse(r.startSignIn(""))
	b, _ := url.Parse(r.startSignIn(""))
	for _, k := range []string{"state", "code_challenge", "nonce"} {
		if a.Query().Get(k) == b.Query().Get(k) {
			t.Errorf("two sign-ins share %s", k)
		}
	}

	req := httptest.NewRequest(http.MethodGet, "https://console.example/console/signin", nil)
	req.Host = "evil.example/path?x="
	rec := httptest.NewRecorder()
	r.mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("signin with host %q: %d, want 400", req.Host, rec.Code)
	}
}

func TestCognitoSignOut(t *testing.T) {
	r := newCognitoRig(t)
	if resp, _ := r.signIn([]string{OperatorsGroup}); resp.StatusCode != http.StatusOK {
		t.Fatal("sign-in failed")
	}
	resp, _ := r.do(http.MethodPost, "/console/signout")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signout: %d, want 303", resp.StatusCode)
	}
	want := r.f.srv.URL + "/logout?client_id=console-client&logout_uri=https%3A%2F%2Fconsole.example%2Fconsole%2Fsignin"
	if got := resp.Header.Get("Location"); got != want {
		t.Errorf("signout goes to %s, want %s", got, want)
	}
	ck := cognitoCookieNamed(resp, SessionCookie)
	if ck == nil || ck.MaxAge >= 0 || ck.Path != "/console/" || ck.Value != "" {
		t.Errorf("signout did not clear the session cookie: %+v", ck)
	}
	if _, ok := r.c.Identify(r.request()); ok {
		t.Error("still signed in after signout")
	}
	if resp, _ := r.do(http.MethodGet, "/console/signout"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /console/signout: %d, want 405 (signing out is a POST)", resp.StatusCode)
	}
}

func TestCognitoIdentifyRefusesBadSessions(t *testing.T) {
	r := newCognitoRig(t)
	if resp, _ := r.signIn([]string{OperatorsGroup}); resp.StatusCode != http.StatusOK {
		t.Fatal("sign-in failed")
	}
	good := r.jar[SessionCookie].Value
	ident := func(value string) bool {
		req := httptest.NewRequest(http.MethodGet, "https://console.example/console/", nil)
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: value})
		_, ok := r.c.Identify(req)
		return ok
	}
	if !ident(good) {
		t.Fatal("the good session is refused")
	}
	payload, mac, _ := strings.Cut(good, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	var s cognitoSession
	_ = json.Unmarshal(raw, &s)
	forged := s
	forged.Role = RoleOperator
	forged.Subject = "someone-else@example.com"
	fb, _ := json.Marshal(forged)
	other := &CognitoSignIn{Key: []byte("another key, another key, another key")}
	viewer := s
	viewer.Role = "admin"
	tokenSignIn := &TokenSignIn{Key: cognitoTestKey, Now: r.clock.Now}
	for name, v := range map[string]string{
		"empty":                 "",
		"no mac":                payload,
		"payload changed":       base64.RawURLEncoding.EncodeToString(fb) + "." + mac,
		"mac changed":           payload + "." + strings.Repeat("A", len(mac)),
		"signed with other key": other.seal("session", s),
		"sealed for sign-in":    r.c.seal("signin", s),
		"unknown role":          r.c.seal("session", viewer),
		"TokenSignIn's cookie":  tokenSignIn.sign("sid|operator (token)|operator|" + "9999999999"),
	} {
		if ident(v) {
			t.Errorf("%s: Identify accepts %q", name, v)
		}
	}
	noKey := &CognitoSignIn{Now: r.clock.Now}
	req := r.request()
	if _, ok := noKey.Identify(req); ok {
		t.Error("a CognitoSignIn without a key accepts sessions")
	}
}

func TestCognitoFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	good := map[string]string{
		EnvCognitoIssuer:   "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123",
		EnvCognitoClientID: "3n4b5urk1ft4fl3mg5e62d9ado",
		EnvCognitoDomain:   "https://backupbridge-prod-123456789012.auth.eu-west-1.amazoncognito.com/",
	}
	a, ok, err := CognitoFromEnv(env(good), cognitoTestKey, nil)
	if err != nil || !ok {
		t.Fatalf("CognitoFromEnv = %v, %v", ok, err)
	}
	c := a.(*CognitoSignIn)
	if c.Issuer != good[EnvCognitoIssuer] || c.ClientID != good[EnvCognitoClientID] ||
		c.Domain != "https://backupbridge-prod-123456789012.auth.eu-west-1.amazoncognito.com" || string(c.Key) != string(cognitoTestKey) {
		t.Errorf("CognitoFromEnv = %+v", c)
	}

	if a, ok, err := CognitoFromEnv(env(nil), nil, nil); a != nil || ok || err != nil {
		t.Errorf("without COGNITO_ISSUER: %v, %v, %v; want nil, false, nil", a, ok, err)
	}
	for name, c := range map[string]struct {
		change map[string]string
		key    []byte
		says   string
	}{
		"http issuer":      {map[string]string{EnvCognitoIssuer: "http://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"}, cognitoTestKey, EnvCognitoIssuer},
		"issuer query":     {map[string]string{EnvCognitoIssuer: "https://cognito-idp.eu-west-1.amazonaws.com/p?x=1"}, cognitoTestKey, EnvCognitoIssuer},
		"no client":        {map[string]string{EnvCognitoClientID: ""}, cognitoTestKey, EnvCognitoClientID},
		"no domain":        {map[string]string{EnvCognitoDomain: ""}, cognitoTestKey, EnvCognitoDomain},
		"domain path":      {map[string]string{EnvCognitoDomain: "https://x.auth.eu-west-1.amazoncognito.com/oauth2"}, cognitoTestKey, EnvCognitoDomain},
		"domain with user": {map[string]string{EnvCognitoDomain: "https://u:p@x.auth.eu-west-1.amazoncognito.com"}, cognitoTestKey, EnvCognitoDomain},
		"short key":        {nil, []byte("short"), "session key"},
	} {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		for k, v := range c.change {
			m[k] = v
		}
		a, ok, err := CognitoFromEnv(env(m), c.key, nil)
		if err == nil || ok || a != nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, %v, %v; want an error naming %s", name, a, ok, err, c.says)
		}
	}
}

func TestCognitoFromSecret(t *testing.T) {
	secret := `{"clientId":"3n4b5urk1ft4fl3mg5e62d9ado","sessionKey":"Zq8x1Yc3Vn5Bm7Lk9Jh2Gf4Ds6Ap0Ow8Ie1Ru3Ty5Qw7Ea9Sd2Fg4Hj6Kl8Zx0Cv"}`
	env := map[string]string{
		EnvCognitoIssuer:   "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123",
		EnvCognitoDomain:   "https://backupbridge-prod-123456789012.auth.eu-west-1.amazoncognito.com",
		EnvConsoleSecretID: "backupbridge/console/1c2fa620-982a-11e3-aff7-50e2416294e0",
	}
	var asked []string
	fetch := func(_ context.Context, id string) (string, error) {
		asked = append(asked, id)
		return secret, nil
	}
	a, key, ok, err := CognitoFromSecret(context.Background(), func(k string) string { return env[k] }, fetch, nil)
	if err != nil || !ok {
		t.Fatalf("CognitoFromSecret: %v, %v", ok, err)
	}
	c := a.(*CognitoSignIn)
	if c.ClientID != "3n4b5urk1ft4fl3mg5e62d9ado" || string(key) != string(c.Key) || len(key) != 64 {
		t.Errorf("client %q, key %q (authenticator's %q)", c.ClientID, key, c.Key)
	}
	if len(asked) != 1 || asked[0] != env[EnvConsoleSecretID] {
		t.Errorf("fetched %q, want the secret named by %s", asked, EnvConsoleSecretID)
	}

	env[EnvCognitoClientID] = "override"
	a, _, _, _ = CognitoFromSecret(context.Background(), func(k string) string { return env[k] }, fetch, nil)
	if a == nil || a.(*CognitoSignIn).ClientID != "override" {
		t.Errorf("COGNITO_CLIENT_ID does not override the secret's: %+v", a)
	}
	delete(env, EnvCognitoClientID)

	asked = nil
	if a, key, ok, err := CognitoFromSecret(context.Background(), func(string) string { return "" }, fetch, nil); a != nil || key != nil || ok || err != nil || asked != nil {
		t.Errorf("without COGNITO_ISSUER: %v, %v, %v, %v, fetched %q; want nothing, and no fetch", a, key, ok, err, asked)
	}

	for name, c := range map[string]struct {
		env    map[string]string
		secret string
		err    error
	}{
		"no secret id": {map[string]string{EnvConsoleSecretID: ""}, secret, nil},
		"fetch fails":  {nil, "", errors.New("AccessDeniedException")},
		"not JSON":     {nil, "sessionKey", nil},
		"no client id": {nil, `{"sessionKey":"Zq8x1Yc3Vn5Bm7Lk9Jh2Gf4Ds6Ap0Ow8Ie1Ru3Ty5Qw7Ea9Sd2Fg4Hj6Kl8Zx0Cv"}`, nil},
		"short key":    {nil, `{"clientId":"x","sessionKey":"short"}`, nil},
		"no domain":    {map[string]string{EnvCognitoDomain: ""}, secret, nil},
	} {
		m := map[string]string{}
		for k, v := range env {
			m[k] = v
		}
		for k, v := range c.env {
			m[k] = v
		}
		fetch := func(context.Context, string) (string, error) { return c.secret, c.err }
		a, key, ok, err := CognitoFromSecret(context.Background(), func(k string) string { return m[k] }, fetch, nil)
		if err == nil || a != nil || key != nil || ok {
			t.Errorf("%s: %v, %q, %v, %v; want an error", name, a, key, ok, err)
		}
	}
}

// TestCognitoInTheConsole: the console mounts the sign-in's routes, and a
// Cognito session opens its pages.
func TestCognitoInTheConsole(t *testing.T) {
	r := newCognitoRig(t)
	if resp, _ := r.signIn([]string{ViewersGroup}); resp.StatusCode != http.StatusOK {
		t.Fatal("sign-in failed")
	}
	h := New(Options{API: http.NotFoundHandler(), Auth: r.c, SessionKey: cognitoTestKey, Now: r.clock.Now}).Routes()

	req := httptest.NewRequest(http.MethodGet, "https://console.example/console/signin", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), r.f.srv.URL+"/oauth2/authorize?") {
		t.Errorf("console GET /console/signin: %d to %q, want 303 to the hosted UI", rec.Code, rec.Header().Get("Location"))
	}
	if rec.Header().Get("Content-Security-Policy") == "" {
		t.Error("the sign-in's answers lack the console's security headers")
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, r.request())
	if rec.Code == http.StatusSeeOther {
		t.Errorf("console GET /console/ with a Cognito session: redirected to %q", rec.Header().Get("Location"))
	}
}

// TestCognitoSignOutMayLeaveForTheHostedUI: the sign-out form's redirect to
// the hosted UI's logout is allowed by the CSP's form-action, and nothing
// else is.
func TestCognitoSignOutMayLeaveForTheHostedUI(t *testing.T) {
	c := &CognitoSignIn{Domain: "https://ops.auth.eu-west-1.amazoncognito.com/"}
	if got := c.FormActionOrigins(); len(got) != 1 || got[0] != "https://ops.auth.eu-west-1.amazoncognito.com" {
		t.Errorf("FormActionOrigins = %v", got)
	}
	for _, bad := range []string{"", "http://ops.auth.eu-west-1.amazoncognito.com", "not a url"} {
		if got := (&CognitoSignIn{Domain: bad}).FormActionOrigins(); got != nil {
			t.Errorf("Domain %q: FormActionOrigins = %v, want none", bad, got)
		}
	}
}
