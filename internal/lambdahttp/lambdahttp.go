// Package lambdahttp serves an http.Handler as the Lambda function behind an
// API Gateway HTTP API (payload format 2.0). It is the one place where API
// Gateway's event shapes meet net/http: the handlers are plain
// http.Handlers, served alike by httptest, the local stack's http.Server and
// Lambda.
//
// The request a handler sees:
//
//   - method from requestContext.http.method (or the route key's method);
//   - path from rawPath (or requestContext.http.path) without the stage
//     prefix of a named stage; the query from rawQueryString (or
//     queryStringParameters); Host from the host header (or the domain name);
//   - every header once, its value as API Gateway passed it: API Gateway
//     already joined repeated headers with commas, and a value is never split
//     at its commas (webhook-signature is "v1,<base64>");
//   - the cookies array as one Cookie header;
//   - a body marked isBase64Encoded decoded as it is read, with
//     ContentLength the decoded size, so that a handler can refuse a large
//     body before reading it; a body that is not base64 fails the read with
//     a base64.CorruptInputError (the handler decides the answer);
//   - the invocation's context (its deadline, lambdacontext).
//
// The response: status (200 when the handler set none), headers (values
// joined with ", "), Set-Cookie as the cookies array, and the body, as text
// when it is UTF-8 and base64 otherwise. As net/http does, a missing
// Content-Type is sniffed from the body and a HEAD answer has no body.
//
// Why not awslabs/aws-lambda-go-api-proxy (httpadapter.NewV2, v0.16.2): its
// request conversion splits every header not on a short list at its commas,
// so "webhook-signature: v1,<base64>" reaches the handler as the two values
// "v1" and "<base64>" and no signature verifies; a body marked base64 that
// is not base64 becomes a 502 and a function error before the handler can
// answer 413 or 400; a handler that writes nothing is an error rather than a
// 200; it logs through the log package; and its go.mod brings gin, echo,
// fiber, iris and some 80 other modules into this module's graph. This
// package is the part of it we need.
package lambdahttp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Handler returns the Lambda handler that serves h: each API Gateway
// request event becomes an *http.Request, h's answer the response event.
// It never returns an error: an event that is not a valid request is a 400
// answer, and a panic in h is left to the Lambda runtime, which reports it
// (API Gateway then answers 500).
func Handler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		r, err := newRequest(ctx, ev)
		if err != nil {
			return badRequest(err), nil
		}
		w := &responseWriter{header: http.Header{}}
		h.ServeHTTP(w, r)
		return w.response(r.Method), nil
	}
}

// newRequest builds the *http.Request an API Gateway HTTP API event stands for.
func newRequest(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		if m, _, ok := strings.Cut(ev.RouteKey, " "); ok && m != "ANY" {
			method = m
		}
	}
	if method == "" {
		return nil, fmt.Errorf("the event has no requestContext.http.method")
	}
	target := ev.RawPath
	if target == "" {
		target = ev.RequestContext.HTTP.Path
	}
	target = stripStage(target, ev.RequestContext.Stage)
	if !strings.HasPrefix(target, "/") {
		target = "/" + target
	}
	if q := query(ev); q != "" {
		target += "?" + q
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, fmt.Errorf("the event's path is not a request path: %w", err)
	}

	body, size := io.Reader(strings.NewReader(ev.Body)), int64(len(ev.Body))
	if ev.IsBase64Encoded {
		body, size = base64.NewDecoder(base64.StdEncoding, strings.NewReader(ev.Body)), decodedLen(ev.Body)
	}
	r, err := http.NewRequestWithContext(ctx, strings.ToUpper(method), u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("the event is not an HTTP request: %w", err)
	}
	r.URL = u
	r.RequestURI = u.RequestURI()
	r.ContentLength = size
	if size == 0 {
		r.Body = http.NoBody
	}
	if major, minor, ok := http.ParseHTTPVersion(ev.RequestContext.HTTP.Protocol); ok {
		r.Proto, r.ProtoMajor, r.ProtoMinor = ev.RequestContext.HTTP.Protocol, major, minor
	}
	r.RemoteAddr = ev.RequestContext.HTTP.SourceIP

	// Sorted, so that two spellings of one name keep a stable order. Host
	// is r.Host, as a server's request has it.
	r.Host = ev.RequestContext.DomainName
	for _, k := range slices.Sorted(maps.Keys(ev.Headers)) {
		if strings.EqualFold(k, "host") {
			if v := ev.Headers[k]; v != "" {
				r.Host = v
			}
			continue
		}
		r.Header.Add(k, ev.Headers[k])
	}
	if len(ev.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	return r, nil
}

// stripStage removes the "/<stage>" prefix API Gateway puts in front of the
// path of a named stage; the $default stage has none.
func stripStage(path, stage string) string {
	if stage == "" || stage == "$default" {
		return path
	}
	prefix := "/" + stage
	if path == prefix {
		return "/"
	}
	if rest, ok := strings.CutPrefix(path, prefix+"/"); ok {
		return "/" + rest
	}
	return path
}

// query is the event's query string: rawQueryString, or else the
// (comma-joined) queryStringParameters encoded again.
func query(ev events.APIGatewayV2HTTPRequest) string {
	if ev.RawQueryString != "" || len(ev.QueryStringParameters) == 0 {
		return ev.RawQueryString
	}
	v := url.Values{}
	for k, s := range ev.QueryStringParameters {
		v.Set(k, s)
	}
	return v.Encode()
}

// decodedLen is the size of the bytes a standard base64 text decodes to,
// computed without decoding: line breaks, which the decoder skips, are not
// counted, and each padding character is one byte less. For text that is
// not base64 it is an estimate; the read then fails anyway.
func decodedLen(s string) int64 {
	n := len(s) - strings.Count(s, "\n") - strings.Count(s, "\r")
	s = strings.TrimRight(s, "\r\n")
	pad := 0
	for i := 1; i <= 2 && i <= len(s) && s[len(s)-i] == '='; i++ {
		pad++
	}
	return int64(max(base64.StdEncoding.DecodedLen(n)-pad, 0))
}

// responseWriter records a handler's answer.
type responseWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *responseWriter) Header() http.Header { return w.header }

// WriteHeader records the status. As with net/http only the first call
// counts; informational (1xx) codes are not answers and are skipped.
func (w *responseWriter) WriteHeader(code int) {
	if w.status != 0 || (code >= 100 && code < 200) {
		return
	}
	w.status = code
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.body.Write(b)
}

// response is the recorded answer as API Gateway wants it.
func (w *responseWriter) response(method string) events.APIGatewayV2HTTPResponse {
	status := w.status
	switch {
	case status == 0:
		status = http.StatusOK
	case status < 100 || status > 599:
		return events.APIGatewayV2HTTPResponse{
			StatusCode: http.StatusInternalServerError,
			Headers:    map[string]string{"Content-Type": "application/json"},
			Body:       `{"error":"internal error: the handler answered an invalid status"}`,
		}
	}
	body := w.body.Bytes()
	if method == http.MethodHead {
		body = nil
	}
	if _, ok := w.header["Content-Type"]; !ok && w.body.Len() > 0 {
		w.header.Set("Content-Type", http.DetectContentType(w.body.Bytes())) // as net/http does
	}
	resp := events.APIGatewayV2HTTPResponse{StatusCode: status}
	for k, vs := range w.header {
		if len(vs) == 0 {
			continue
		}
		if k == "Set-Cookie" {
			resp.Cookies = append(resp.Cookies, vs...)
			continue
		}
		if resp.Headers == nil {
			resp.Headers = make(map[string]string, len(w.header))
		}
		resp.Headers[k] = strings.Join(vs, ", ")
	}
	if utf8.Valid(body) {
		resp.Body = string(body)
	} else {
		resp.Body, resp.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	}
	return resp
}

// badRequest answers an event that is not a valid HTTP request.
func badRequest(err error) events.APIGatewayV2HTTPResponse {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{"bad request: " + err.Error()})
	return events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusBadRequest,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(b),
	}
}
