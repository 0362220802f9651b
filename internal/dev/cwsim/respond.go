package cwsim

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Error codes the simulator answers with, in ConnectWise's error body
// {"code":..,"message":..,"errors":[{"code","message","resource","field"}]}.
const (
	codeInvalidObject        = "InvalidObject"
	codeInvalidField         = "InvalidField"
	codeOutOfRange           = "OutOfRange"
	codeObjectExists         = "ObjectExists"
	codeNotFound             = "NotFound"
	codeUnauthorized         = "Unauthorized"
	codeSecurity             = "Security"
	codeConnectWiseAPI       = "ConnectWiseApi"
	codeMethodNotAllowed     = "MethodNotAllowed"
	codeUnsupportedMediaType = "UnsupportedMediaType"
)

// fieldError is one entry of the errors array of an error body.
type fieldError struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	Resource string `json:"resource,omitempty"`
	Field    string `json:"field,omitempty"`
}

// errorBody is ConnectWise's error body.
type errorBody struct {
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Errors  []fieldError `json:"errors,omitempty"`
}

// response is an answer computed before it is written, so that a lost
// response can be computed (the request applied) and then dropped.
type response struct {
	status      int
	header      http.Header
	raw         []byte
	contentType string
}

func (r response) write(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range r.header {
		h[k] = v
	}
	if r.raw != nil {
		h.Set("Content-Type", r.contentType)
		h.Set("Content-Length", strconv.Itoa(len(r.raw)))
	}
	w.WriteHeader(r.status)
	if r.raw != nil {
		_, _ = w.Write(r.raw)
	}
}

func jsonResp(status int, v any) response {
	b, err := json.Marshal(v)
	if err != nil {
		return errorResp(http.StatusInternalServerError, codeConnectWiseAPI, "cwsim: encode response: "+err.Error())
	}
	return response{status: status, header: http.Header{}, raw: b, contentType: "application/json; charset=utf-8"}
}

func noContent() response { return response{status: http.StatusNoContent, header: http.Header{}} }

func errorResp(status int, code, msg string, errs ...fieldError) response {
	return jsonResp(status, errorBody{Code: code, Message: msg, Errors: errs})
}

func notFound(msg string) response { return errorResp(http.StatusNotFound, codeNotFound, msg) }

// invalid answers 400 InvalidObject for a resource, listing field errors.
func invalid(resource string, errs []fieldError) response {
	for i := range errs {
		if errs[i].Resource == "" {
			errs[i].Resource = resource
		}
		if errs[i].Code == "" {
			errs[i].Code = codeInvalidField
		}
	}
	return errorResp(http.StatusBadRequest, codeInvalidObject, resource+" object is invalid", errs...)
}

// badRequest answers 400 InvalidObject with one error naming field.
func badRequest(resource, field, msg string) response {
	return errorResp(http.StatusBadRequest, codeInvalidObject, msg,
		fieldError{Code: codeInvalidField, Message: msg, Resource: resource, Field: field})
}

func methodNotAllowed(method string) response {
	return errorResp(http.StatusMethodNotAllowed, codeMethodNotAllowed,
		"The requested resource does not support http method '"+method+"'.")
}

// request is an authenticated API request being routed.
type request struct {
	r    *http.Request
	rel  string // path relative to the API base
	body []byte
	ids  []int // the {id} segments of the route, in order
}

type route struct {
	method string
	segs   []string
	h      func(*Sim, *request) response
}

var routes []route

// register adds a route such as "GET /service/tickets/{id}"; every {name}
// segment must be a positive integer.
func register(pattern string, h func(*Sim, *request) response) {
	method, path, _ := strings.Cut(pattern, " ")
	routes = append(routes, route{method: method, segs: strings.Split(strings.Trim(path, "/"), "/"), h: h})
}

func (s *Sim) route(q *request) response {
	path := strings.Trim(q.rel, "/")
	segs := strings.Split(path, "/")
	var allowed []string
	for _, rt := range routes {
		ids, ok := matchRoute(rt.segs, segs)
		if !ok {
			continue
		}
		if rt.method != q.r.Method {
			allowed = append(allowed, rt.method)
			continue
		}
		q.ids = ids
		return rt.h(s, q)
	}
	if len(allowed) > 0 {
		sort.Strings(allowed)
		resp := methodNotAllowed(q.r.Method)
		resp.header.Set("Allow", strings.Join(allowed, ", "))
		return resp
	}
	return notFound("The requested resource " + q.rel + " was not found.")
}

func matchRoute(pattern, segs []string) ([]int, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	var ids []int
	for i, p := range pattern {
		if isPlaceholder(p) {
			n, err := strconv.Atoi(segs[i])
			if err != nil || n <= 0 || strconv.Itoa(n) != segs[i] {
				return nil, false
			}
			ids = append(ids, n)
			continue
		}
		if p != segs[i] {
			return nil, false
		}
	}
	return ids, true
}
