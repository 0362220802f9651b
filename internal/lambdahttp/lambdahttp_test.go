package lambdahttp

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// seen is what a handler saw of its request.
type seen struct {
	method, path, rawPath, query, host, remote string
	header                                     http.Header
	cookies                                    []string
	contentLength                              int64
	body                                       []byte
	readErr                                    error
	ctxValue                                   any
	partner                                    string
}

type ctxKey struct{}

// record serves ev with a mux holding the webhook's route and returns what
// the handler saw and the response.
func record(t *testing.T, ev events.APIGatewayV2HTTPRequest) (*seen, events.APIGatewayV2HTTPResponse) {
	t.Helper()
	var got *seen
	mux := http.NewServeMux()
	h := func(w http.ResponseWriter, r *http.Request) {
		s := &seen{method: r.Method, path: r.URL.Path, rawPath: r.URL.EscapedPath(), query: r.URL.RawQuery, host: r.Host,
			remote: r.RemoteAddr, header: r.Header, contentLength: r.ContentLength, ctxValue: r.Context().Value(ctxKey{}),
			partner: r.PathValue("partnerId")}
		for _, c := range r.Cookies() {
			s.cookies = append(s.cookies, c.Name+"="+c.Value)
		}
		s.body, s.readErr = io.ReadAll(r.Body)
		got = s
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}
	mux.HandleFunc("POST /v1/partners/{partnerId}/events", h)
	mux.HandleFunc("GET /v1/admin/partners/{id}", h)
	ctx := context.WithValue(context.Background(), ctxKey{}, "invocation")
	resp, err := Handler(mux)(ctx, ev)
	if err != nil {
		t.Fatalf("Handler returned an error: %v", err)
	}
	return got, resp
}

func webhookEvent() events.APIGatewayV2HTTPRequest {
	return events.APIGatewayV2HTTPRequest{
		Version:  "2.0",
		RouteKey: "POST /v1/partners/{partnerId}/events",
		RawPath:  "/v1/partners/demo/events",
		Headers: map[string]string{
			"content-type":      "application/json",
			"host":              "api.example.com",
			"webhook-id":        "msg_1",
			"webhook-signature": "v1,c2lnbmF0dXJlLW9uZQ== v1,c2lnbmF0dXJlLXR3bw==",
			"accept":            "application/json, text/plain",
		},
		Cookies:        []string{"a=1", "b=2"},
		PathParameters: map[string]string{"partnerId": "demo"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:   "POST /v1/partners/{partnerId}/events",
			Stage:      "$default",
			DomainName: "abc.execute-api.us-east-1.amazonaws.com",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: "POST", Path: "/v1/partners/demo/events", Protocol: "HTTP/1.1", SourceIP: "203.0.113.10",
			},
		},
		Body: `{"specVersion":"1.0"}`,
	}
}

func TestRequest(t *testing.T) {
	got, resp := record(t, webhookEvent())
	if got == nil {
		t.Fatalf("the route was not served: %d %s", resp.StatusCode, resp.Body)
	}
	if got.method != "POST" || got.path != "/v1/partners/demo/events" || got.partner != "demo" || got.host != "api.example.com" || got.remote != "203.0.113.10" {
		t.Errorf("request = %+v", got)
	}
	// A header's value is never split at its commas.
	if v := got.header.Values("Webhook-Signature"); len(v) != 1 || v[0] != "v1,c2lnbmF0dXJlLW9uZQ== v1,c2lnbmF0dXJlLXR3bw==" {
		t.Errorf("webhook-signature = %q, want the one value as sent", v)
	}
	if v := got.header.Values("Accept"); len(v) != 1 || v[0] != "application/json, text/plain" {
		t.Errorf("accept = %q", v)
	}
	if got.header.Get("Host") != "" {
		t.Errorf("Host is in the header map: %q (it is r.Host)", got.header.Get("Host"))
	}
	if !slices.Equal(got.cookies, []string{"a=1", "b=2"}) {
		t.Errorf("cookies = %v", got.cookies)
	}
	if string(got.body) != `{"specVersion":"1.0"}` || got.contentLength != int64(len(got.body)) || got.readErr != nil {
		t.Errorf("body = %q (ContentLength %d, err %v)", got.body, got.contentLength, got.readErr)
	}
	if got.ctxValue != "invocation" {
		t.Errorf("the request's context is not the invocation's")
	}
	if resp.StatusCode != 202 || resp.Body != `{"ok":true}` || resp.Headers["Content-Type"] != "application/json" || resp.IsBase64Encoded {
		t.Errorf("response = %+v", resp)
	}
}

func TestRequestPathAndQuery(t *testing.T) {
	for _, c := range []struct {
		name                      string
		mod                       func(*events.APIGatewayV2HTTPRequest)
		path, rawPath, query, pid string
	}{
		{name: "rawPath as is", path: "/v1/partners/demo/events", rawPath: "/v1/partners/demo/events", pid: "demo"},
		{name: "escaped slash stays in its segment", mod: func(e *events.APIGatewayV2HTTPRequest) {
			e.RawPath = "/v1/partners/..%2Fadmin/events"
		}, path: "/v1/partners/../admin/events", rawPath: "/v1/partners/..%2Fadmin/events", pid: "../admin"},
		{name: "no rawPath: requestContext.http.path", mod: func(e *events.APIGatewayV2HTTPRequest) {
			e.RawPath = ""
		}, path: "/v1/partners/demo/events", rawPath: "/v1/partners/demo/events", pid: "demo"},
		{name: "named stage prefix removed", mod: func(e *events.APIGatewayV2HTTPRequest) {
			e.RawPath, e.RequestContext.Stage = "/prod/v1/partners/demo/events", "prod"
		}, path: "/v1/partners/demo/events", rawPath: "/v1/partners/demo/events", pid: "demo"},
		{name: "rawQueryString", mod: func(e *events.APIGatewayV2HTTPRequest) {
			e.RawQueryString = "a=1&a=2&b=%20x"
			e.QueryStringParameters = map[string]string{"a": "1,2", "b": " x"}
		}, path: "/v1/partners/demo/events", rawPath: "/v1/partners/demo/events", query: "a=1&a=2&b=%20x", pid: "demo"},
		{name: "queryStringParameters only", mod: func(e *events.APIGatewayV2HTTPRequest) {
			e.QueryStringParameters = map[string]string{"limit": "5", "customer": "10 01"}
		}, path: "/v1/partners/demo/events", rawPath: "/v1/partners/demo/events", query: "customer=10+01&limit=5", pid: "demo"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev := webhookEvent()
			if c.mod != nil {
				c.mod(&ev)
			}
			got, resp := record(t, ev)
			if got == nil {
				t.Fatalf("not routed: %d %s", resp.StatusCode, resp.Body)
			}
			if got.path != c.path || got.rawPath != c.rawPath || got.query != c.query || got.partner != c.pid {
				t.Errorf("path %q raw %q query %q partner %q, want %q %q %q %q", got.path, got.rawPath, got.query, got.partner, c.path, c.rawPath, c.query, c.pid)
			}
		})
	}
}

func TestRequestMethod(t *testing.T) {
	ev := webhookEvent()
	ev.RequestContext.HTTP.Method = ""
	if got, resp := record(t, ev); got == nil || got.method != "POST" {
		t.Errorf("method from the route key: %+v %d %s", got, resp.StatusCode, resp.Body)
	}
	ev.RouteKey = "$default"
	got, resp := record(t, ev)
	if got != nil || resp.StatusCode != 400 || !strings.Contains(resp.Body, "method") || resp.Headers["Content-Type"] != "application/json" {
		t.Errorf("no method anywhere: served %v, answer %+v; want a 400 naming the method", got, resp)
	}
	admin := webhookEvent()
	admin.RouteKey, admin.RawPath, admin.RequestContext.HTTP.Method, admin.Body = "ANY /v1/admin/{proxy+}", "/v1/admin/partners/demo", "get", ""
	if got, resp := record(t, admin); got == nil || got.method != "GET" || got.contentLength != 0 {
		t.Errorf("lower-case method of an ANY route: %+v %d %s", got, resp.StatusCode, resp.Body)
	}
}

func TestBase64Body(t *testing.T) {
	raw := []byte("{\"x\":\"\xff\xfe binary\"}\n")
	for _, c := range []struct {
		name    string
		body    string
		want    []byte
		corrupt bool
	}{
		{name: "padded", body: base64.StdEncoding.EncodeToString(raw), want: raw},
		{name: "with line breaks", body: breakLines(base64.StdEncoding.EncodeToString(raw), 8), want: raw},
		{name: "empty", body: "", want: []byte{}},
		{name: "not base64", body: "not base64!", corrupt: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev := webhookEvent()
			ev.Body, ev.IsBase64Encoded = c.body, true
			got, _ := record(t, ev)
			if got == nil {
				t.Fatal("not served")
			}
			var ce base64.CorruptInputError
			if c.corrupt {
				if !errors.As(got.readErr, &ce) {
					t.Errorf("reading a body that is not base64: err = %v, want a base64.CorruptInputError", got.readErr)
				}
				return
			}
			if got.readErr != nil || string(got.body) != string(c.want) || got.contentLength != int64(len(c.want)) {
				t.Errorf("body %q (ContentLength %d, err %v), want %q", got.body, got.contentLength, got.readErr, c.want)
			}
		})
	}
}

func breakLines(s string, n int) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n] + "\r\n")
		s = s[n:]
	}
	return b.String() + s
}

func TestDecodedLen(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 5, 100, 65536, 65537} {
		enc := base64.StdEncoding.EncodeToString(make([]byte, n))
		if got := decodedLen(enc); got != int64(n) {
			t.Errorf("decodedLen of the base64 of %d bytes = %d", n, got)
		}
		if got := decodedLen(breakLines(enc, 76) + "\n"); got != int64(n) {
			t.Errorf("decodedLen of the base64 of %d bytes in lines = %d", n, got)
		}
	}
}

func TestResponse(t *testing.T) {
	serve := func(method string, h http.HandlerFunc) events.APIGatewayV2HTTPResponse {
		t.Helper()
		ev := webhookEvent()
		ev.RequestContext.HTTP.Method = method
		resp, err := Handler(h)(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := serve("POST", func(http.ResponseWriter, *http.Request) {}); r.StatusCode != 200 || r.Body != "" || r.IsBase64Encoded {
		t.Errorf("a handler that writes nothing: %+v, want an empty 200", r)
	}
	r := serve("POST", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Add("Vary", "Accept")
		w.Header().Add("Vary", "Origin")
		http.SetCookie(w, &http.Cookie{Name: "a", Value: "1"})
		http.SetCookie(w, &http.Cookie{Name: "b", Value: "2"})
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusCreated)
		w.WriteHeader(http.StatusTeapot) // superfluous: ignored
		fmt.Fprint(w, "<html>hello</html>")
	})
	if r.StatusCode != 201 || r.Headers["Vary"] != "Accept, Origin" || !slices.Equal(r.Cookies, []string{"a=1", "b=2"}) || r.Headers["Set-Cookie"] != "" {
		t.Errorf("response = %+v", r)
	}
	if ct := r.Headers["Content-Type"]; ct != "text/html; charset=utf-8" || r.Body != "<html>hello</html>" {
		t.Errorf("sniffed Content-Type %q, body %q", ct, r.Body)
	}
	bin := []byte{0x89, 'P', 'N', 'G', 0xff, 0x00}
	r = serve("POST", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(bin)
	})
	if b, err := base64.StdEncoding.DecodeString(r.Body); !r.IsBase64Encoded || err != nil || string(b) != string(bin) || r.StatusCode != 200 {
		t.Errorf("binary body: %+v", r)
	}
	r = serve("HEAD", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"a":1}`) })
	if r.Body != "" || r.StatusCode != 200 {
		t.Errorf("HEAD answer has a body: %+v", r)
	}
	r = serve("POST", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(42) })
	if r.StatusCode != 500 {
		t.Errorf("status 42: answered %d, want 500", r.StatusCode)
	}
}
