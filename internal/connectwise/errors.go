package connectwise

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Kinds of failure, matched with errors.Is.
var (
	// ErrNotFound matches a 404: the record does not exist (or was deleted).
	ErrNotFound = errors.New("connectwise: not found")
	// ErrUnauthorized matches a 401 or 403: the API member's keys or the
	// integrator login are wrong, or the member lacks a permission.
	ErrUnauthorized = errors.New("connectwise: unauthorized: check the API member's public/private keys and its security role")
	// ErrRateLimited matches a 429 (a *RateLimitError).
	ErrRateLimited = errors.New("connectwise: rate limited")
	// ErrServer matches any 5xx.
	ErrServer = errors.New("connectwise: server error")
	// ErrInvalidSiteURL matches a site URL NewClient, CheckSiteURL or
	// LookupCompanyInfo refused (not https, has a path, an internal
	// address, ...), and a request the HTTP client refused because the site
	// is not a ConnectWise API host (ErrRedirectRefused,
	// ErrAddressNotAllowed, a request that is not https).
	ErrInvalidSiteURL = errors.New("connectwise: invalid site URL")
)

// FieldError is one entry of the "errors" array of a ConnectWise error body.
type FieldError struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	Resource string `json:"resource"`
	Field    string `json:"field"`
}

// Error is a non-2xx answer from ConnectWise. Code, Message and Errors come
// from ConnectWise's JSON error body ({"code","message","errors":[...]}),
// cleaned with CleanLine (no control or format characters) and cut: Message
// and each field error's message to 200 characters, codes and field names to
// 60, at most 10 field errors. Any other body (HTML from a proxy, a
// redirect page, other JSON) is never shown: Message is the HTTP status text
// ("Service Unavailable") and Code is empty. Error() shows at most 200
// characters of ConnectWise's words.
type Error struct {
	StatusCode int
	Code       string
	Message    string
	Errors     []FieldError
	// Method and Path name the request, Path relative to the API base
	// (e.g. "service/tickets"), without the query.
	Method string
	Path   string

	fromAPI       bool // the body was a ConnectWise JSON error
	retryAfter    time.Duration
	hasRetryAfter bool
}

// Error reads, for example,
// "ConnectWise 400 InvalidObject on POST service/tickets: Ticket object is
// invalid: The summary field is required. (field summary)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("ConnectWise ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if code := Truncate(CleanLine(e.Code), maxCode); code != "" {
		b.WriteString(" " + code)
	}
	if e.Method != "" || e.Path != "" {
		b.WriteString(" on " + strings.TrimSpace(e.Method+" "+e.Path))
	}
	switch e.StatusCode {
	case http.StatusUnauthorized:
		b.WriteString(": the credentials were refused: check the API member's public/private keys and its security role (for a legacy integrator login, its user name and password)")
	case http.StatusForbidden:
		b.WriteString(": permission denied: check the API member's public/private keys and its security role (the role must allow this call)")
	}
	var fields []string
	for _, fe := range e.Errors {
		s := fe.Message
		if s == "" {
			s = fe.Code
		}
		if fe.Field != "" {
			s += " (field " + fe.Field + ")"
		}
		if s != "" {
			fields = append(fields, s)
		}
	}
	detail := e.Message
	if len(fields) > 0 {
		if detail != "" {
			detail += ": "
		}
		detail += strings.Join(fields, "; ")
	}
	detail = Truncate(CleanLine(detail), maxMessage)
	if detail == http.StatusText(e.StatusCode) && (e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden) {
		detail = "" // only the status, already explained
	}
	if detail != "" {
		if e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden {
			b.WriteString(" (ConnectWise said: " + detail + ")")
		} else {
			b.WriteString(": " + detail)
		}
	}
	return b.String()
}

// Is matches the kinds ErrNotFound, ErrUnauthorized, ErrRateLimited and
// ErrServer by status code.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrServer:
		return e.StatusCode >= 500 && e.StatusCode <= 599
	}
	return false
}

// RateLimitError is a 429 from ConnectWise. RetryAfter is the server's
// Retry-After (seconds or an HTTP date) or, failing that, the wait its
// message names ("try again in 30 seconds"); 0 when neither was given.
// It matches ErrRateLimited and unwraps to the *Error.
type RateLimitError struct {
	RetryAfter time.Duration
	Err        *Error
}

// Error reads like the *Error, plus the wait.
func (e *RateLimitError) Error() string {
	s := "ConnectWise 429: rate limited"
	if e.Err != nil {
		s = e.Err.Error()
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// Unwrap returns the underlying *Error.
func (e *RateLimitError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// Is matches ErrRateLimited.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

const (
	maxErrorBody = 1 << 20
	// maxMessage is the most characters (UTF-16 code units, so also runes)
	// of ConnectWise's message an error shows.
	maxMessage = 200
	// maxCode bounds a code, field or resource name of an error body.
	maxCode = 60
	// maxFieldErrors bounds the field errors kept from an error body.
	maxFieldErrors = 10
)

// CheckResponse returns nil for a 2xx answer and otherwise an *Error (a
// *RateLimitError for 429) built from the body, which it reads (at most
// 1 MiB) but does not close. Only a ConnectWise JSON error body is shown,
// cleaned and cut (see Error); any other body is not.
func CheckResponse(r *http.Response) error {
	return checkResponse(r, nil)
}

// checkResponse is CheckResponse; scrub, when not nil, removes secrets from
// the body's text after it is cleaned and before it is cut, so that no
// part of a secret survives a cut.
func checkResponse(r *http.Response, scrub func(string) string) error {
	if r.StatusCode >= 200 && r.StatusCode <= 299 {
		return nil
	}
	e := &Error{StatusCode: r.StatusCode}
	if r.Request != nil && r.Request.URL != nil {
		e.Method = r.Request.Method
		e.Path = apiPath(r.Request.URL.Path)
	}
	var data []byte
	if r.Body != nil {
		data, _ = io.ReadAll(io.LimitReader(r.Body, maxErrorBody))
	}
	parseErrorBody(e, data, scrub)
	if e.Message == "" && e.Code == "" && len(e.Errors) == 0 {
		e.Message = http.StatusText(r.StatusCode)
	}
	if e.Message == "" && !e.fromAPI {
		e.Message = "HTTP " + strconv.Itoa(r.StatusCode)
	}
	e.retryAfter, e.hasRetryAfter = parseRetryAfter(r.Header.Get("Retry-After"), time.Now())
	if r.StatusCode != http.StatusTooManyRequests {
		return e
	}
	if !e.hasRetryAfter {
		if m := tryAgainRE().FindStringSubmatch(e.Message); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil {
				e.retryAfter, e.hasRetryAfter = time.Duration(n)*time.Second, true
			}
		}
	}
	return &RateLimitError{RetryAfter: e.retryAfter, Err: e}
}

var tryAgainRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)try again in ([0-9]{1,5}) seconds?`) })

// parseErrorBody fills e from a ConnectWise JSON error body: an object with
// a string "message" and a string "code" (or "error", which the 429 body
// uses), at least one of them non-empty. Anything else leaves e empty: its
// text is never shown.
func parseErrorBody(e *Error, data []byte, scrub func(string) string) {
	trimmed := bytes.TrimSpace(data)
	if !bytes.HasPrefix(trimmed, []byte("{")) {
		return
	}
	var body struct {
		Code    *string      `json:"code"`
		Error   *string      `json:"error"` // the 429 body uses "error"
		Message *string      `json:"message"`
		Errors  []FieldError `json:"errors"`
	}
	if json.Unmarshal(trimmed, &body) != nil || body.Message == nil || (body.Code == nil && body.Error == nil) {
		return
	}
	text := func(s string, n int) string {
		s = CleanLine(s)
		if scrub != nil {
			s = scrub(s)
		}
		return Truncate(s, n)
	}
	code := body.Code
	if code == nil || *code == "" {
		code = body.Error
	}
	if code != nil {
		e.Code = text(*code, maxCode)
	}
	e.Message = text(*body.Message, maxMessage)
	if e.Code == "" && e.Message == "" {
		return
	}
	e.fromAPI = true
	for i, fe := range body.Errors {
		if i == maxFieldErrors {
			break
		}
		e.Errors = append(e.Errors, FieldError{
			Code: text(fe.Code, maxCode), Message: text(fe.Message, maxMessage),
			Resource: text(fe.Resource, maxCode), Field: text(fe.Field, maxCode),
		})
	}
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > 24*3600 {
			n = 24 * 3600
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// RetryAfter returns the wait the server asked for (Retry-After on a 429 or
// a 5xx, or the wait a 429 message names) anywhere in err's chain.
func RetryAfter(err error) (time.Duration, bool) {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		if rl.RetryAfter > 0 {
			return rl.RetryAfter, true
		}
		if rl.Err != nil && rl.Err.hasRetryAfter {
			return rl.Err.retryAfter, true
		}
		return 0, false
	}
	var e *Error
	if errors.As(err, &e) && e.hasRetryAfter {
		return e.retryAfter, true
	}
	return 0, false
}

// IsTransient reports whether trying again later may succeed: a 408, 429
// or 5xx answer; a network error (refused or reset connection, unexpected
// EOF, DNS failure other than "no such host"); or a timeout, including
// context.DeadlineExceeded whether it came from the HTTP client's timeout or
// from the caller's context deadline (ConnectWise did not answer in time,
// and the work should come back later).
//
// A context.Canceled is not transient: the caller chose to stop, which says
// nothing about ConnectWise (the caller knows whether to try again). TLS
// certificate failures are not transient either.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		s := e.StatusCode
		return s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || (s >= 500 && s <= 599)
	}
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if errors.Is(err, ErrInvalidSiteURL) || errors.Is(err, errInsecureSkipVerify) || isTLSVerification(err) {
		// a refused redirect, address or scheme, or a certificate failure
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return !dns.IsNotFound
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var te *transportError
	var op *net.OpError
	return errors.As(err, &te) || errors.As(err, &op)
}

func isTLSVerification(err error) bool {
	var (
		ua  x509.UnknownAuthorityError
		ci  x509.CertificateInvalidError
		hn  x509.HostnameError
		cve *tls.CertificateVerificationError
		rhe tls.RecordHeaderError
	)
	return errors.As(err, &ua) || errors.As(err, &ci) || errors.As(err, &hn) || errors.As(err, &cve) || errors.As(err, &rhe)
}

// IsPermanent reports whether sending the same request again cannot
// succeed until someone changes something: a 4xx answer other than 408 and
// 429 (400, 401, 403, 404, 409, 422, ...), a site URL NewClient refused, or a
// condition Build refused.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		s := e.StatusCode
		return s >= 400 && s <= 499 && s != http.StatusRequestTimeout && s != http.StatusTooManyRequests
	}
	return errors.Is(err, ErrInvalidSiteURL) || errors.Is(err, ErrUnsafeConditionValue) || errors.Is(err, ErrInvalidCondition)
}
