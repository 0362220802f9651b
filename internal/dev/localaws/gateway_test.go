package localaws_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/efs-cw/backupbridge/internal/dev/localaws"
)

// recorder is a handler that keeps the last request and answers with resp.
type recorder struct {
	mu   sync.Mutex
	last *events.APIGatewayV2HTTPRequest
	resp events.APIGatewayV2HTTPResponse
	err  error
}

func (r *recorder) handle(_ context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = &req
	return r.resp, r.err
}

func (r *recorder) request(t *testing.T) events.APIGatewayV2HTTPRequest {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		t.Fatal("handler not invoked")
	}
	return *r.last
}

func ok() events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{StatusCode: 202, Headers: map[string]string{"content-type": "application/json"}, Body: `{"ok":true}`}
}

type gw struct {
	srv                                 *httptest.Server
	ingest, partner, adminAny, adminGet *recorder
	fallback                            *recorder
}

func newGateway(t *testing.T) *gw {
	t.Helper()
	g := &gw{
		ingest: &recorder{resp: ok()}, partner: &recorder{resp: ok()},
		adminAny: &recorder{resp: ok()}, adminGet: &recorder{resp: ok()},
	}
	routes := []localaws.Route{
		{Method: "POST", Pattern: "/v1/partners/{partnerId}/events", Handler: g.ingest.handle},
		{Pattern: "POST /v1/partners/acme/events", Handler: g.partner.handle}, // literal beats {partnerId}
		{Method: "ANY", Pattern: "/v1/admin/{proxy+}", Handler: g.adminAny.handle, IAMAuth: true},
		{Method: "GET", Pattern: "/v1/admin/partners/{id}", Handler: g.adminGet.handle, IAMAuth: true},
	}
	g.srv = httptest.NewServer(localaws.NewGateway(routes, localaws.GatewayOptions{
		OperatorToken: "s3cret",
		Log:           slog.New(slog.DiscardHandler),
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func do(t *testing.T, method, url string, body []byte, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestGatewayBuildsV2Request(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	req, _ := http.NewRequestWithContext(t.Context(), "POST", g.srv.URL+"/v1/partners/p%2D1/events?a=1&a=2&b=x%20y",
		strings.NewReader(`{"event":"backup.failed"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Add("X-Multi", "one")
	req.Header.Add("X-Multi", "two")
	req.Header.Set("Webhook-Id", "msg_1")
	req.Header.Set("Cookie", "c1=v1; c2=v2")
	req.Header.Set("User-Agent", "sender/1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 202 || string(body) != `{"ok":true}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("response = %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp.Header.Get("Apigw-Requestid") == "" {
		t.Error("no apigw-requestid response header")
	}

	r := g.ingest.request(t)
	checks := []struct {
		what      string
		got, want any
	}{
		{"version", r.Version, "2.0"},
		{"routeKey", r.RouteKey, "POST /v1/partners/{partnerId}/events"},
		{"rawPath", r.RawPath, "/v1/partners/p%2D1/events"},
		{"rawQueryString", r.RawQueryString, "a=1&a=2&b=x%20y"},
		{"pathParameters", r.PathParameters["partnerId"], "p-1"},
		{"query a", r.QueryStringParameters["a"], "1,2"},
		{"query b", r.QueryStringParameters["b"], "x y"},
		{"content-type", r.Headers["content-type"], "application/json"},
		{"multi header", r.Headers["x-multi"], "one,two"},
		{"webhook-id", r.Headers["webhook-id"], "msg_1"},
		{"cookie header removed", r.Headers["cookie"], ""},
		{"cookies", strings.Join(r.Cookies, "|"), "c1=v1|c2=v2"},
		{"body", r.Body, `{"event":"backup.failed"}`},
		{"isBase64Encoded", r.IsBase64Encoded, false},
		{"ctx routeKey", r.RequestContext.RouteKey, r.RouteKey},
		{"stage", r.RequestContext.Stage, "$default"},
		{"apiId", r.RequestContext.APIID, "local"},
		{"accountId", r.RequestContext.AccountID, localaws.AccountID},
		{"domainName", r.RequestContext.DomainName, "127.0.0.1"},
		{"method", r.RequestContext.HTTP.Method, "POST"},
		{"path", r.RequestContext.HTTP.Path, "/v1/partners/p-1/events"},
		{"protocol", r.RequestContext.HTTP.Protocol, "HTTP/1.1"},
		{"sourceIp", r.RequestContext.HTTP.SourceIP, "127.0.0.1"},
		{"userAgent", r.RequestContext.HTTP.UserAgent, "sender/1.0"},
		{"no authorizer", r.RequestContext.Authorizer == nil, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if r.RequestContext.RequestID == "" || r.RequestContext.TimeEpoch == 0 || r.RequestContext.Time == "" {
		t.Errorf("requestContext lacks requestId/time: %+v", r.RequestContext)
	}
	for k := range r.Headers {
		if k != strings.ToLower(k) {
			t.Errorf("header %q is not lower case", k)
		}
	}
}

func TestGatewayRouting(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	bearer := map[string]string{"Authorization": "Bearer s3cret"}

	resp, _ := do(t, "POST", g.srv.URL+"/v1/partners/acme/events", []byte("{}"), nil)
	if resp.StatusCode != 202 || g.partner.request(t).RouteKey != "POST /v1/partners/acme/events" {
		t.Fatalf("literal route not preferred: %d", resp.StatusCode)
	}

	resp, _ = do(t, "GET", g.srv.URL+"/v1/admin/partners/p1", nil, bearer)
	if resp.StatusCode != 202 {
		t.Fatalf("GET admin partner = %d", resp.StatusCode)
	}
	if r := g.adminGet.request(t); r.PathParameters["id"] != "p1" || r.RouteKey != "GET /v1/admin/partners/{id}" {
		t.Fatalf("specific admin route got %+v", r.PathParameters)
	}

	resp, _ = do(t, "DELETE", g.srv.URL+"/v1/admin/partners/p1/faults/f2", nil, bearer)
	if resp.StatusCode != 202 {
		t.Fatalf("DELETE via ANY {proxy+} = %d", resp.StatusCode)
	}
	r := g.adminAny.request(t)
	if r.PathParameters["proxy"] != "partners/p1/faults/f2" || r.RouteKey != "ANY /v1/admin/{proxy+}" {
		t.Fatalf("greedy route got %q (%s)", r.PathParameters["proxy"], r.RouteKey)
	}
	if a := r.RequestContext.Authorizer; a == nil || a.IAM == nil || a.IAM.UserARN == "" || a.IAM.AccountID != localaws.AccountID {
		t.Fatalf("IAM route lacks requestContext.authorizer.iam: %+v", a)
	}

	for _, tc := range []struct{ method, path string }{
		{"GET", "/v1/partners/p1/events"}, // wrong method
		{"POST", "/v1/partners//events"},  // empty variable
		{"POST", "/v1/partners/p1/events/extra"},
		{"GET", "/v1/admin"},  // {proxy+} needs a segment
		{"GET", "/v1/admin/"}, // nor an empty one
		{"GET", "/nowhere"},
	} {
		resp, body := do(t, tc.method, g.srv.URL+tc.path, nil, bearer)
		if resp.StatusCode != 404 || string(body) != `{"message":"Not Found"}` {
			t.Errorf("%s %s = %d %s, want 404 Not Found", tc.method, tc.path, resp.StatusCode, body)
		}
	}
}

func TestGatewayIAMAuth(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	url := g.srv.URL + "/v1/admin/partners/p1"
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"none", "", 403},
		{"wrong token", "Bearer nope", 403},
		{"basic", "Basic czNjcmV0", 403},
		{"operator token", "Bearer s3cret", 202},
		{"sigv4", "AWS4-HMAC-SHA256 Credential=AKIDLOCAL/20240101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=abc", 202},
	} {
		resp, body := do(t, "GET", url, nil, map[string]string{"Authorization": tc.auth})
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d %s, want %d", tc.name, resp.StatusCode, body, tc.want)
		}
		if tc.want == 403 && string(body) != `{"message":"Forbidden"}` {
			t.Errorf("%s: body %s, want Forbidden", tc.name, body)
		}
	}
	if key := g.adminGet.request(t).RequestContext.Authorizer.IAM.AccessKey; key != "AKIDLOCAL" {
		t.Errorf("IAM accessKey = %q, want the SigV4 credential's AKIDLOCAL", key)
	}

	// Without an operator token configured, a bearer token is never enough.
	h := localaws.NewGateway([]localaws.Route{{Method: "GET", Pattern: "/x", IAMAuth: true, Handler: (&recorder{resp: ok()}).handle}},
		localaws.GatewayOptions{Log: slog.New(slog.DiscardHandler)})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("Authorization", "Bearer ")
	h.ServeHTTP(rec, req)
	if rec.Code != 403 {
		t.Errorf("empty bearer with no operator token = %d, want 403", rec.Code)
	}
}

func TestGatewayBinaryBodies(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	bin := []byte{0x00, 0xff, 0x10, 'a'}
	g.ingest.resp = events.APIGatewayV2HTTPResponse{
		StatusCode:      200,
		Headers:         map[string]string{"Content-Type": "application/octet-stream"},
		Body:            base64.StdEncoding.EncodeToString([]byte{0xde, 0xad, 0xbe, 0xef}),
		IsBase64Encoded: true,
		Cookies:         []string{"a=1; Path=/", "b=2"},
	}
	resp, body := do(t, "POST", g.srv.URL+"/v1/partners/p1/events", bin, map[string]string{"Content-Type": "application/octet-stream"})
	r := g.ingest.request(t)
	if !r.IsBase64Encoded || r.Body != base64.StdEncoding.EncodeToString(bin) {
		t.Errorf("binary request body = %q (base64 %v), want base64 of the bytes", r.Body, r.IsBase64Encoded)
	}
	if !bytes.Equal(body, []byte{0xde, 0xad, 0xbe, 0xef}) {
		t.Errorf("response body = %x, want the decoded deadbeef", body)
	}
	if c := resp.Header.Values("Set-Cookie"); len(c) != 2 {
		t.Errorf("Set-Cookie = %v, want both cookies", c)
	}

	// JSON that is not UTF-8 is base64 too; text/plain UTF-8 is text.
	do(t, "POST", g.srv.URL+"/v1/partners/p1/events", []byte{'"', 0xff, '"'}, map[string]string{"Content-Type": "application/json"})
	if r := g.ingest.request(t); !r.IsBase64Encoded {
		t.Error("invalid UTF-8 JSON body passed as text")
	}
	do(t, "POST", g.srv.URL+"/v1/partners/p1/events", []byte("héllo"), map[string]string{"Content-Type": "text/plain; charset=utf-8"})
	if r := g.ingest.request(t); r.IsBase64Encoded || r.Body != "héllo" {
		t.Errorf("text body = %q (base64 %v)", r.Body, r.IsBase64Encoded)
	}
}

func TestGatewayFailures(t *testing.T) {
	t.Parallel()
	var seen bool
	routes := []localaws.Route{
		{Method: "POST", Pattern: "/err", Handler: func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			return events.APIGatewayV2HTTPResponse{}, errors.New("boom")
		}},
		{Method: "POST", Pattern: "/panic", Handler: func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			panic("boom")
		}},
		{Method: "POST", Pattern: "/nostatus", Handler: func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			return events.APIGatewayV2HTTPResponse{Body: "x"}, nil
		}},
		{Method: "POST", Pattern: "/big", Handler: func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			seen = true
			return ok(), nil
		}},
	}
	h := localaws.NewGateway(routes, localaws.GatewayOptions{MaxBodyBytes: 1024, Log: slog.New(slog.DiscardHandler)})
	for _, tc := range []struct {
		path string
		body []byte
		want int
		msg  string
	}{
		{"/err", nil, 500, "Internal Server Error"},
		{"/panic", nil, 500, "Internal Server Error"},
		{"/nostatus", nil, 500, "Internal Server Error"},
		{"/big", make([]byte, 1025), 413, "Request Entity Too Large"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", tc.path, bytes.NewReader(tc.body)))
		var m struct{ Message string }
		_ = json.Unmarshal(rec.Body.Bytes(), &m)
		if rec.Code != tc.want || m.Message != tc.msg {
			t.Errorf("%s = %d %s, want %d %s", tc.path, rec.Code, rec.Body, tc.want, tc.msg)
		}
	}
	if seen {
		t.Error("the handler saw a body over the limit")
	}
}

func TestNewGatewayRejectsBadRoutes(t *testing.T) {
	t.Parallel()
	h := func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return ok(), nil
	}
	for _, r := range []localaws.Route{
		{Method: "GET", Pattern: "/a/{proxy+}/b", Handler: h},
		{Method: "GET", Pattern: "no-slash", Handler: h},
		{Method: "GET", Pattern: "/a", Handler: nil},
		{Pattern: "/a", Handler: h},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("route %+v accepted", r)
				}
			}()
			localaws.NewGateway([]localaws.Route{r}, localaws.GatewayOptions{})
		}()
	}
}
