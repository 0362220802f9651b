package localaws

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// APIGatewayHandler is the shape of a Lambda function behind an API Gateway
// HTTP API with payload format 2.0.
type APIGatewayHandler func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Route is one route of the HTTP API.
//
// The route key is Method + " " + Pattern, for example Method "POST" and
// Pattern "/v1/partners/{partnerId}/events", or Method "ANY" and Pattern
// "/v1/admin/{proxy+}". Pattern may also hold the whole route key
// ("POST /v1/partners/{partnerId}/events") with Method empty, or be
// "$default" to catch every request no other route matches.
type Route struct {
	Method, Pattern string
	Handler         APIGatewayHandler
	// IAMAuth marks a route with AuthorizationType AWS_IAM. See NewGateway
	// for what stands in for IAM locally.
	IAMAuth bool
}

// GatewayOptions configure NewGateway. The zero value is ready to use.
type GatewayOptions struct {
	// OperatorToken, when set, is accepted on IAMAuth routes as
	// "authorization: Bearer <token>" (the local stand-in for SigV4).
	OperatorToken string
	// AccountID of the request context (default AccountID).
	AccountID string
	// APIID of the request context (default "local").
	APIID string
	// StageVariables are passed on every request.
	StageVariables map[string]string
	// MaxBodyBytes is the largest request body accepted (default 10 MiB,
	// API Gateway's payload quota); above it the answer is 413.
	MaxBodyBytes int64
	// Timeout is the integration timeout (default 30s, API Gateway's
	// maximum for HTTP APIs); past it the client gets 503 and the handler's
	// context is cancelled.
	Timeout time.Duration
	// Log receives handler failures and ignored response fields; nil means
	// slog.Default().
	Log *slog.Logger
	// Now is the clock of requestContext.time (default time.Now).
	Now func() time.Time
}

// Defaults of GatewayOptions.
const (
	DefaultMaxBodyBytes   = 10 << 20
	DefaultGatewayTimeout = 30 * time.Second
)

// NewGateway returns an http.Handler that does what an API Gateway HTTP API
// (payload format 2.0, stage $default) in front of Lambda functions does:
// it picks the route, builds the events.APIGatewayV2HTTPRequest as API
// Gateway does, invokes the handler and writes its
// events.APIGatewayV2HTTPResponse.
//
// Routing follows API Gateway: a route with no path variable beats one with
// variables, a literal segment beats {var}, {var} beats {proxy+} (greedy,
// one segment or more, last only), a method beats ANY, and $default comes
// last. No match is 404 {"message":"Not Found"}.
//
// IAM routes: locally there is no IAM to verify a SigV4 signature, so an
// IAMAuth route accepts any "authorization" header that starts with
// AWS4-HMAC-SHA256 (a request signed by an SDK or awscurl, unchecked) or
// "Bearer <OperatorToken>" when OperatorToken is set; anything else is 403
// {"message":"Forbidden"}. requestContext.authorizer.iam is then filled with
// the caller's access key (or "local-operator") and a local user ARN. This is
// a stand-in for development, not a security boundary.
//
// The request: headers lowercased with repeated headers joined by commas;
// the cookie header moved to cookies; repeated query parameters joined by
// commas; the body as text when it is valid UTF-8 with a textual content
// type (text/*, JSON, XML, form), otherwise base64 with isBase64Encoded.
// The response: statusCode, headers, cookies (as Set-Cookie) and the body,
// base64-decoded when isBase64Encoded. multiValueHeaders is not part of
// format 2.0 and is ignored, as API Gateway ignores it. A handler error, a
// panic or a status code of 0 is 500 {"message":"Internal Server Error"}.
//
// NewGateway panics on an invalid route, as http.ServeMux does.
func NewGateway(routes []Route, opts GatewayOptions) http.Handler {
	g := &gateway{opts: opts}
	if g.opts.AccountID == "" {
		g.opts.AccountID = AccountID
	}
	if g.opts.APIID == "" {
		g.opts.APIID = "local"
	}
	if g.opts.MaxBodyBytes <= 0 {
		g.opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if g.opts.Timeout <= 0 {
		g.opts.Timeout = DefaultGatewayTimeout
	}
	if g.opts.Log == nil {
		g.opts.Log = slog.Default()
	}
	if g.opts.Now == nil {
		g.opts.Now = time.Now
	}
	seen := map[string]bool{}
	for _, r := range routes {
		cr, err := compileRoute(r)
		if err != nil {
			panic(fmt.Sprintf("localaws.NewGateway: %v", err))
		}
		if seen[cr.key] {
			panic(fmt.Sprintf("localaws.NewGateway: route %q defined twice", cr.key))
		}
		seen[cr.key] = true
		g.routes = append(g.routes, cr)
	}
	return g
}

type gateway struct {
	opts   GatewayOptions
	routes []*compiledRoute
}

type segKind int

// Segment kinds, in increasing order of specificity.
const (
	segGreedy segKind = iota
	segVar
	segLiteral
)

type segment struct {
	kind segKind
	text string // the literal, or the variable's name
}

type compiledRoute struct {
	route      Route
	key        string // the routeKey
	method     string // upper case, "ANY" for any
	isDefault  bool
	segs       []segment
	hasGreedy  bool
	hasVarsAny bool
}

func compileRoute(r Route) (*compiledRoute, error) {
	if r.Handler == nil {
		return nil, fmt.Errorf("route %q %q has no handler", r.Method, r.Pattern)
	}
	method, pattern := strings.ToUpper(strings.TrimSpace(r.Method)), strings.TrimSpace(r.Pattern)
	if m, p, ok := strings.Cut(pattern, " "); ok && method == "" {
		method, pattern = strings.ToUpper(m), strings.TrimSpace(p)
	}
	cr := &compiledRoute{route: r}
	if pattern == "$default" {
		cr.key, cr.isDefault, cr.method = "$default", true, "ANY"
		return cr, nil
	}
	if method == "" {
		return nil, fmt.Errorf("route %q: no method", r.Pattern)
	}
	if !strings.HasPrefix(pattern, "/") {
		return nil, fmt.Errorf("route %q: the path must start with /", pattern)
	}
	cr.method, cr.key = method, method+" "+pattern
	parts := strings.Split(pattern[1:], "/")
	for i, p := range parts {
		switch {
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "+}"):
			if i != len(parts)-1 {
				return nil, fmt.Errorf("route %q: a greedy variable must be the last segment", cr.key)
			}
			cr.segs = append(cr.segs, segment{segGreedy, p[1 : len(p)-2]})
			cr.hasGreedy, cr.hasVarsAny = true, true
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			cr.segs = append(cr.segs, segment{segVar, p[1 : len(p)-1]})
			cr.hasVarsAny = true
		case strings.ContainsAny(p, "{}"):
			return nil, fmt.Errorf("route %q: segment %q mixes text and a variable", cr.key, p)
		default:
			cr.segs = append(cr.segs, segment{segLiteral, p})
		}
	}
	return cr, nil
}

// match reports whether the route takes method and the (unescaped) path
// segments, with the path parameters.
func (cr *compiledRoute) match(method string, segs []string) (map[string]string, bool) {
	if cr.isDefault {
		return nil, true
	}
	if cr.method != "ANY" && cr.method != method {
		return nil, false
	}
	var params map[string]string
	for i, s := range cr.segs {
		if s.kind == segGreedy {
			rest := segs[i:]
			if len(rest) == 0 || (len(rest) == 1 && rest[0] == "") {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[s.text] = strings.Join(rest, "/")
			return params, true
		}
		if i >= len(segs) {
			return nil, false
		}
		switch s.kind {
		case segLiteral:
			if segs[i] != s.text {
				return nil, false
			}
		case segVar:
			if segs[i] == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[s.text] = segs[i]
		}
	}
	if len(segs) != len(cr.segs) {
		return nil, false
	}
	return params, true
}

// moreSpecific reports whether a should win over b when both match.
func moreSpecific(a, b *compiledRoute) bool {
	if a.isDefault != b.isDefault {
		return b.isDefault
	}
	if a.hasVarsAny != b.hasVarsAny {
		return !a.hasVarsAny
	}
	if a.hasGreedy != b.hasGreedy {
		return !a.hasGreedy
	}
	for i := 0; i < len(a.segs) && i < len(b.segs); i++ {
		if a.segs[i].kind != b.segs[i].kind {
			return a.segs[i].kind > b.segs[i].kind
		}
	}
	if len(a.segs) != len(b.segs) {
		return len(a.segs) > len(b.segs)
	}
	return a.method != "ANY" && b.method == "ANY"
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	w.Header().Set("Apigw-Requestid", reqID)

	segs := pathSegments(r.URL)
	var (
		best   *compiledRoute
		params map[string]string
	)
	for _, cr := range g.routes {
		p, ok := cr.match(r.Method, segs)
		if ok && (best == nil || moreSpecific(cr, best)) {
			best, params = cr, p
		}
	}
	if best == nil {
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}

	var iam *events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription
	if best.route.IAMAuth {
		var ok bool
		if iam, ok = g.authorizeIAM(r.Header.Get("Authorization")); !ok {
			writeMessage(w, http.StatusForbidden, "Forbidden")
			return
		}
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, g.opts.MaxBodyBytes+1))
	if err != nil {
		writeMessage(w, http.StatusBadRequest, "Bad Request")
		return
	}
	if int64(len(body)) > g.opts.MaxBodyBytes {
		writeMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}

	req := g.buildRequest(r, best, params, body, reqID, iam)
	resp, err := invokeFunc(r.Context(), g.opts.Timeout, func(ctx context.Context) (events.APIGatewayV2HTTPResponse, error) {
		return best.route.Handler(ctx, req)
	})
	log := g.opts.Log.With("routeKey", best.key, "requestId", reqID)
	switch {
	case errors.Is(err, ErrInvokeTimeout):
		log.ErrorContext(r.Context(), "gateway: integration timed out", "err", err)
		writeMessage(w, http.StatusServiceUnavailable, "Service Unavailable")
		return
	case err != nil:
		attrs := []any{"err", err}
		var pe *PanicError
		if errors.As(err, &pe) {
			attrs = append(attrs, "stack", string(pe.Stack))
		}
		log.ErrorContext(r.Context(), "gateway: handler failed", attrs...)
		writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	g.writeResponse(w, r, resp, log)
}

func (g *gateway) writeResponse(w http.ResponseWriter, r *http.Request, resp events.APIGatewayV2HTTPResponse, log *slog.Logger) {
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		log.ErrorContext(r.Context(), "gateway: handler returned an invalid statusCode", "statusCode", resp.StatusCode)
		writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			log.ErrorContext(r.Context(), "gateway: isBase64Encoded body is not base64", "err", err)
			writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
	}
	if len(resp.MultiValueHeaders) > 0 {
		log.WarnContext(r.Context(), "gateway: multiValueHeaders is not part of payload format 2.0; API Gateway ignores it",
			"headers", slices.Sorted(maps.Keys(resp.MultiValueHeaders)))
	}
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil // no content sniffing: API Gateway adds none
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// authorizeIAM is the local stand-in for AWS_IAM authorization.
func (g *gateway) authorizeIAM(auth string) (*events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription, bool) {
	const operator = "local-operator"
	iam := &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{
		AccountID: g.opts.AccountID,
		CallerID:  operator,
		UserID:    operator,
		UserARN:   "arn:aws:iam::" + g.opts.AccountID + ":user/" + operator,
	}
	switch {
	case strings.HasPrefix(auth, "AWS4-HMAC-SHA256"):
		iam.AccessKey = sigV4AccessKey(auth)
		if iam.AccessKey == "" {
			iam.AccessKey = operator
		}
		return iam, true
	case g.opts.OperatorToken != "":
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if ok && subtle.ConstantTimeCompare([]byte(token), []byte(g.opts.OperatorToken)) == 1 {
			iam.AccessKey = operator
			return iam, true
		}
	}
	return nil, false
}

// sigV4AccessKey extracts the access key from
// "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/execute-api/aws4_request, ...".
func sigV4AccessKey(auth string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(cred, "/")
	return strings.TrimSpace(key)
}

func (g *gateway) buildRequest(r *http.Request, cr *compiledRoute, params map[string]string, body []byte, reqID string, iam *events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription) events.APIGatewayV2HTTPRequest {
	now := g.opts.Now().UTC()
	sourceIP := r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		sourceIP = host
	}
	proto, port := "http", "80"
	if r.TLS != nil {
		proto, port = "https", "443"
	}
	if _, p, err := net.SplitHostPort(r.Host); err == nil {
		port = p
	}

	headers := make(map[string]string, len(r.Header)+5)
	var cookies []string
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		if lk == "cookie" {
			for _, v := range vs {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[lk] = strings.Join(vs, ",")
	}
	headers["host"] = r.Host
	if len(body) > 0 || r.ContentLength >= 0 {
		headers["content-length"] = strconv.Itoa(len(body))
	}
	headers["x-forwarded-for"] = sourceIP
	headers["x-forwarded-proto"] = proto
	headers["x-forwarded-port"] = port
	headers["x-amzn-trace-id"] = newTraceID(now)

	var query map[string]string
	if r.URL.RawQuery != "" {
		values, _ := url.ParseQuery(r.URL.RawQuery) // keeps what parses, as API Gateway does
		if len(values) > 0 {
			query = make(map[string]string, len(values))
			for k, vs := range values {
				query[k] = strings.Join(vs, ",")
			}
		}
	}

	req := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              cr.key,
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		StageVariables:        g.opts.StageVariables,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     cr.key,
			AccountID:    g.opts.AccountID,
			Stage:        "$default",
			RequestID:    reqID,
			APIID:        g.opts.APIID,
			DomainName:   hostOnly(r.Host),
			DomainPrefix: strings.SplitN(hostOnly(r.Host), ".", 2)[0],
			Time:         now.Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if iam != nil {
		req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{IAM: iam}
	}
	if len(body) > 0 {
		if isTextual(r.Header.Get("Content-Type")) && utf8.Valid(body) {
			req.Body = string(body)
		} else {
			req.Body = base64.StdEncoding.EncodeToString(body)
			req.IsBase64Encoded = true
		}
	}
	return req
}

// isTextual reports whether API Gateway passes a body of this content type
// as text.
func isTextual(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", strings.HasSuffix(mt, "+json"),
		mt == "application/xml", strings.HasSuffix(mt, "+xml"),
		mt == "application/javascript",
		mt == "application/x-www-form-urlencoded":
		return true
	}
	return false
}

// pathSegments splits the path into unescaped segments ("/a/b%2Fc" → a, b/c).
func pathSegments(u *url.URL) []string {
	raw := strings.TrimPrefix(u.EscapedPath(), "/")
	parts := strings.Split(raw, "/")
	for i, p := range parts {
		if s, err := url.PathUnescape(p); err == nil {
			parts[i] = s
		}
	}
	return parts
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

func writeMessage(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// newRequestID looks like API Gateway's: 16 random characters ending in "=".
func newRequestID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)[:15] + "="
}

// newTraceID is an X-Ray trace header: Root=1-<epoch hex>-<24 random hex>.
func newTraceID(now time.Time) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return fmt.Sprintf("Root=1-%08x-%s", now.Unix(), hex.EncodeToString(b))
}
