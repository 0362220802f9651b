package connectwise

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// DefaultAPIVersion is the ConnectWise model version pinned in the
	// Accept header when Options.APIVersion is empty.
	DefaultAPIVersion = "2025.1"
	// DefaultTimeout is the timeout of the HTTP client NewClient builds when
	// Options.HTTPClient is nil. Creating a ticket has been seen to take
	// minutes; a caller with less time passes a context deadline.
	DefaultTimeout = 60 * time.Second
	// DefaultAllPageSize is the page size All iterators ask for when
	// ListOptions.PageSize is unset (1000 is ConnectWise's maximum).
	DefaultAllPageSize = 1000

	mediaType      = "application/vnd.connectwise.com+json"
	apiRoot        = "apis/3.0/"
	headerClientID = "clientId"
)

// Options configure NewClient.
type Options struct {
	// SiteURL is the ConnectWise API host, e.g. https://api-na.myconnectwise.net.
	// It must be https and carry no path; a trailing slash is fine. A
	// literal address that is never a ConnectWise site (private,
	// link-local, ...: see SitePolicy) is refused here; loopback is left to
	// the HTTP client's SitePolicy (NewHTTPClient), which also judges the
	// addresses a host name resolves to.
	SiteURL string
	// Codebase is the release folder, e.g. "v4_6_release/" on premise or
	// "v2025_1/" in the cloud. Empty: looked up with LookupCompanyInfo.
	Codebase string
	// Credentials are the company ID, API member keys and clientId.
	Credentials Credentials
	// HTTPClient sends the requests; build it with NewHTTPClient, the only
	// client that also guards the addresses it connects to. Nil:
	// NewHTTPClient's client with the default options (DefaultTimeout,
	// public addresses only). Whatever client is given, NewClient sends with
	// a copy that refuses every redirect and every request that is not
	// https. A client whose transport disables TLS certificate verification
	// is refused.
	HTTPClient *http.Client
	// APIVersion is pinned in the Accept header; default DefaultAPIVersion.
	APIVersion string
	// Retry is the retry policy; zero fields take their defaults.
	Retry RetryPolicy
}

// Client talks to one ConnectWise company. It is safe for concurrent use.
type Client struct {
	// Tickets: /service/tickets and their notes.
	Tickets *TicketsService
	// Companies: /company/companies and their management summary reports.
	Companies *CompaniesService
	// Boards: /service/boards, their statuses and types, and /service/priorities.
	Boards *BoardsService
	// Agreements: /finance/agreements and their additions.
	Agreements *AgreementsService
	// Catalog: /procurement/catalog.
	Catalog *CatalogService
	// Configurations: /company/configurations.
	Configurations *ConfigurationsService
	// Callbacks: /system/callbacks (webhooks).
	Callbacks *CallbacksService

	site       *url.URL                // scheme and host only
	base       atomic.Pointer[url.URL] // {site}/{codebase}apis/3.0/
	lookedUp   bool                    // the codebase came from LookupCompanyInfo
	relookupMu sync.Mutex
	companyID  string
	hc         *http.Client
	accept     string
	retry      RetryPolicy
	secret     *secrets // behind a pointer: printing a Client value shows an address
}

// secrets holds what must never leave the client except in headers.
type secrets struct {
	authorization string
	clientID      string
	scrub         []string // substrings removed from error text
}

type service struct{ client *Client }

// NewClient checks the options, looks the codebase up when Options.Codebase
// is empty (GET {site}/login/companyinfo/{companyId}) and returns a client.
//
// A SiteURL that is not https, that carries a path, query or user name, or
// whose host is an address no ConnectWise site has, is refused with an error
// matching ErrInvalidSiteURL that says what to enter instead.
func NewClient(ctx context.Context, opts Options) (*Client, error) {
	site, err := checkSite(opts.SiteURL, clientLiteralPolicy)
	if err != nil {
		return nil, err
	}
	if err := opts.Credentials.validate(); err != nil {
		return nil, err
	}
	hc, err := guardClient(opts.HTTPClient)
	if err != nil {
		return nil, err
	}
	version := opts.APIVersion
	if version == "" {
		version = DefaultAPIVersion
	}
	if !apiVersionRE().MatchString(version) {
		return nil, fmt.Errorf("connectwise: API version %q is not a version such as %q", version, DefaultAPIVersion)
	}
	creds := opts.Credentials
	c := &Client{
		site:      site,
		companyID: creds.CompanyID,
		hc:        hc,
		accept:    mediaType + "; version=" + version,
		retry:     opts.Retry.withDefaults(),
		secret: &secrets{
			authorization: creds.authorization(),
			clientID:      creds.ClientID,
		},
	}
	for _, s := range []string{creds.PrivateKey, creds.PublicKey, creds.ClientID,
		strings.TrimPrefix(creds.authorization(), "Basic ")} {
		if len(s) >= 4 {
			c.secret.scrub = append(c.secret.scrub, s)
		}
	}

	codebase := opts.Codebase
	if strings.TrimSpace(codebase) == "" {
		info, err := LookupCompanyInfo(ctx, hc, site.String(), creds.CompanyID)
		if err != nil {
			return nil, fmt.Errorf("connectwise: looking up the codebase of company %q (set Options.Codebase, e.g. \"v4_6_release/\", to skip this): %w", creds.CompanyID, err)
		}
		codebase = info.Codebase
		c.lookedUp = true
	}
	cb, err := normalizeCodebase(codebase)
	if err != nil && c.lookedUp {
		// the codebase came from the site's answer: do not repeat it
		return nil, fmt.Errorf("connectwise: %s answered a codebase for company %q that is not a release folder such as \"v4_6_release/\" (is it a ConnectWise site? set Options.Codebase to skip the lookup)", site, creds.CompanyID)
	}
	if err != nil {
		return nil, err
	}
	c.setBase(cb)

	c.Tickets = &TicketsService{client: c}
	c.Companies = &CompaniesService{client: c}
	c.Boards = &BoardsService{client: c}
	c.Agreements = &AgreementsService{client: c}
	c.Catalog = &CatalogService{client: c}
	c.Configurations = &ConfigurationsService{client: c}
	c.Callbacks = &CallbacksService{client: c}
	return c, nil
}

var (
	apiVersionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]{4}\.[0-9]{1,2}$`) })
	codebaseRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*/$`) })
)

// String describes the client without its credentials.
func (c *Client) String() string {
	return fmt.Sprintf("connectwise.Client{BaseURL: %q, CompanyID: %q}", c.BaseURL(), c.companyID)
}

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// BaseURL returns the API base, e.g. https://host/v4_6_release/apis/3.0/.
func (c *Client) BaseURL() string { return c.base.Load().String() }

func (c *Client) setBase(codebase string) {
	u := *c.site
	u.Path = "/" + codebase + apiRoot
	c.base.Store(&u)
}

// invalidSiteURLError reads as its message and matches ErrInvalidSiteURL.
type invalidSiteURLError struct{ msg string }

func (e *invalidSiteURLError) Error() string        { return e.msg }
func (e *invalidSiteURLError) Is(target error) bool { return target == ErrInvalidSiteURL }

const siteExample = "https://api-na.myconnectwise.net"

// CheckSiteURL checks a ConnectWise site URL: https, a host and nothing
// else, and a host that policy allows (see SitePolicy: loopback only with
// AllowLoopback; private, link-local, unspecified and other internal
// addresses never). It returns the URL normalised ("https://host"); the
// error says what to enter and matches ErrInvalidSiteURL (and, for a refused
// address, ErrAddressNotAllowed). A host name is not resolved here: the
// transport of NewHTTPClient judges the addresses it resolves to.
func CheckSiteURL(raw string, policy SitePolicy) (string, error) {
	u, err := checkSite(raw, policy)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// clientLiteralPolicy is the policy NewClient and LookupCompanyInfo apply to
// the literal host of the site URL: every address no ConnectWise site can
// have is refused; loopback is the HTTP client's SitePolicy to judge.
var clientLiteralPolicy = SitePolicy{AllowLoopback: true}

// checkSite is parseSiteURL and then policy on the host.
func checkSite(raw string, policy SitePolicy) (*url.URL, error) {
	u, err := parseSiteURL(raw)
	if err != nil {
		return nil, err
	}
	host := u.Hostname()
	if why := policy.checkHost(host); why != "" {
		return nil, &refusedError{kind: ErrAddressNotAllowed, msg: fmt.Sprintf(
			"ConnectWise site URL %q: %s is %s; enter the public ConnectWise API host, e.g. %s", u.String(), host, why, siteExample)}
	}
	return u, nil
}

// parseSiteURL accepts "https://host" or "https://host/" and returns the
// scheme and host.
func parseSiteURL(raw string) (*url.URL, error) {
	bad := func(format string, args ...any) error {
		return &invalidSiteURLError{msg: fmt.Sprintf(format, args...)}
	}
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, bad("ConnectWise site URL is empty: set it to your ConnectWise API host, e.g. %s", siteExample)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, bad("ConnectWise site URL %q is not a URL: enter the ConnectWise API host, e.g. %s", raw, siteExample)
	}
	shown := raw
	if u.User != nil {
		shown = u.Redacted()
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return nil, bad("ConnectWise site URL %q must start with https:// (ConnectWise only accepts SSL)", shown)
	}
	if u.User != nil {
		return nil, bad("ConnectWise site URL %q must not contain a user name or password: the keys go in the credentials", shown)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, bad("ConnectWise site URL %q has no host: enter the ConnectWise API host, e.g. %s", shown, siteExample)
	}
	if p := strings.Trim(u.EscapedPath(), "/"); p != "" {
		return nil, bad("ConnectWise site URL %q must be the host only (e.g. %s), without the path /%s: the codebase (e.g. v4_6_release/) is looked up or set separately", shown, siteExample, p)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, bad("ConnectWise site URL %q must be the host only (e.g. %s), without a query or fragment", shown, siteExample)
	}
	return &url.URL{Scheme: "https", Host: u.Host}, nil
}

// normalizeCodebase turns "v4_6_release", "/v4_6_release/" and
// "v4_6_release/" into "v4_6_release/".
func normalizeCodebase(cb string) (string, error) {
	cb = strings.TrimPrefix(strings.TrimSpace(cb), "/")
	if !strings.HasSuffix(cb, "/") {
		cb += "/"
	}
	if !codebaseRE().MatchString(cb) || strings.Contains(cb, "..") {
		return "", fmt.Errorf("connectwise: codebase %q is not a release folder such as \"v4_6_release/\" or \"v2025_1/\"", cb)
	}
	return cb, nil
}

// NewRequest builds a request for path, relative to BaseURL (for example
// "service/tickets" or "service/tickets?page=2"), with the Authorization,
// clientId and Accept headers set. A non-nil body is sent as JSON, with
// Content-Type: application/json, and can be re-sent on a retry. An absolute
// path ("/service/tickets" or a full URL) is an error.
func (c *Client) NewRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	u, err := resolve(c.base.Load(), path)
	if err != nil {
		return nil, err
	}
	var payload io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("connectwise: encoding the %s %s body: %w", method, path, err)
		}
		payload = bytes.NewReader(data) // sets GetBody, so retries re-send it
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), payload)
	if err != nil {
		return nil, fmt.Errorf("connectwise: building %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", c.secret.authorization)
	req.Header.Set(headerClientID, c.secret.clientID)
	req.Header.Set("Accept", c.accept)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// resolve joins a relative API path to base, refusing anything that could
// leave it.
func resolve(base *url.URL, path string) (*url.URL, error) {
	if path == "" {
		return nil, errors.New("connectwise: empty request path")
	}
	rel, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("connectwise: request path %q is not a URL path: %w", path, err)
	}
	if rel.Scheme != "" || rel.Host != "" || strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("connectwise: request path %q must be relative to the API base (e.g. \"service/tickets\"), not absolute", path)
	}
	for _, seg := range strings.Split(rel.Path, "/") {
		if seg == ".." || seg == "." {
			return nil, fmt.Errorf("connectwise: request path %q must not contain %q segments", path, seg)
		}
	}
	return base.ResolveReference(rel), nil
}

// Response is an HTTP response from ConnectWise with the paging read from
// its Link header. Its body has already been read and closed.
type Response struct {
	*http.Response
	// NextPage is the page number of rel="next", 0 on the last page.
	NextPage int
	// LastPage is the page number of rel="last", 0 when not sent.
	LastPage int

	linked bool // a Link header was present
}

func newResponse(r *http.Response) *Response {
	resp := &Response{Response: r}
	links := r.Header.Values("Link")
	resp.linked = len(links) > 0
	resp.NextPage, resp.LastPage = parseLinks(strings.Join(links, ", "))
	return resp
}

var (
	linkEndRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`>\s*;\s*rel="?([A-Za-z]+)"?`) })
	linkPageRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[?&]page=([0-9]+)(?:&|$)`) })
)

// parseLinks reads the page numbers of rel="next" and rel="last" from a
// Link header such as `<https://h/...?page=2&pageSize=25>; rel="next",
// <https://h/...?page=3&pageSize=25>; rel="last"`. It tolerates raw
// commas, '<' and '>' inside the URLs (unencoded conditions).
func parseLinks(h string) (next, last int) {
	start := 0
	for _, m := range linkEndRE().FindAllStringSubmatchIndex(h, -1) {
		seg := strings.TrimLeft(h[start:m[0]], ", \t")
		start = m[1]
		if !strings.HasPrefix(seg, "<") {
			continue
		}
		target := seg[1:]
		page := 0
		if pm := linkPageRE().FindStringSubmatch(target); pm != nil {
			if _, err := fmt.Sscan(pm[1], &page); err != nil {
				page = 0
			}
		}
		switch strings.ToLower(h[m[2]:m[3]]) {
		case "next":
			next = page
		case "last":
			last = page
		}
	}
	return next, last
}

// idempotentKey marks a POST that only reads (a search), so that Do may
// retry it like a GET.
type idempotentKey struct{}

func withIdempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey{}, true)
}

func retryableMethod(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return true
	}
	v, _ := req.Context().Value(idempotentKey{}).(bool)
	return v
}

// Do sends req, retrying it by the client's RetryPolicy, and decodes a
// successful JSON answer into v (v may be nil, or an io.Writer to receive
// the raw body). A non-2xx answer becomes the error CheckResponse returns.
//
// Retries: GET, PUT, PATCH and DELETE (and read-only searches) on transient
// errors (IsTransient); POST only on 429. A wait is never started when the
// context deadline would pass before it ends: Do then returns the last error,
// still matching RetryAfter and errors.As. When the codebase was looked up
// and the answer is a 404 that is not a ConnectWise error body, the codebase
// is looked up again once and, if it changed, the request is sent once more.
//
// The returned Response is non-nil whenever ConnectWise answered.
func (c *Client) Do(req *http.Request, v any) (*Response, error) {
	if req.URL == nil || req.URL.Scheme != "https" || req.URL.Host != c.site.Host {
		return nil, fmt.Errorf("connectwise: refusing to send a request outside %s (build it with NewRequest)", c.site)
	}
	ctx := req.Context()
	resendable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	relocated := false
	for attempt := 1; ; attempt++ {
		resp, err := c.send(req, v)
		if err == nil {
			return resp, nil
		}
		if !relocated && resendable && c.codebaseMoved(err) {
			relocated = true
			if next, ok := c.relocate(req); ok {
				req = next
				attempt-- // the relocated try is not a retry
				continue
			}
		}
		retry := resendable && (IsTransient(err) && retryableMethod(req) || req.Method == http.MethodPost && errors.Is(err, ErrRateLimited))
		if !retry || errors.Is(err, context.Canceled) || ctx.Err() != nil {
			return resp, err
		}
		if attempt >= c.retry.MaxAttempts {
			if attempt > 1 {
				err = &retryStopError{err: err, why: fmt.Sprintf("gave up after %d attempts", attempt)}
			}
			return resp, err
		}
		ra, _ := RetryAfter(err)
		wait := Backoff(attempt-1, ra, c.retry.Base, c.retry.Max, c.retry.Rand())
		if dl, ok := ctx.Deadline(); ok {
			if left := time.Until(dl); left < wait {
				return resp, &retryStopError{err: err, why: fmt.Sprintf(
					"not retrying: the next try would wait %s but the deadline is in %s",
					wait.Round(time.Millisecond), max(left, 0).Round(time.Millisecond))}
			}
		}
		if serr := c.retry.Sleep(ctx, wait); serr != nil {
			return resp, &retryStopError{err: err, why: "stopped waiting to retry", cause: serr}
		}
	}
}

// retryStopError is the last error of a request Do stopped retrying, with
// the reason. It unwraps to both the last error and the reason's cause.
type retryStopError struct {
	err   error
	why   string
	cause error
}

func (e *retryStopError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%v (%s: %v)", e.err, e.why, e.cause)
	}
	return fmt.Sprintf("%v (%s)", e.err, e.why)
}

func (e *retryStopError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.err, e.cause}
	}
	return []error{e.err}
}

// transportError is a request that got no HTTP answer.
type transportError struct {
	method, path string
	err          error // from http.Client.Do, usually a *url.Error
}

func (e *transportError) Error() string {
	var refused *refusedError
	if errors.As(e.err, &refused) {
		return fmt.Sprintf("ConnectWise %s %s: %s", e.method, e.path, refused.msg)
	}
	inner := e.err
	var ue *url.Error
	if errors.As(inner, &ue) && ue.Err != nil {
		inner = ue.Err // the URL is already named by method and path
	}
	msg := inner.Error()
	if strings.Contains(msg, "malformed HTTP") {
		// net/http quotes what the server sent instead of HTTP: not shown
		msg = "the server's answer is not HTTP (is the site URL a ConnectWise site?)"
	}
	return fmt.Sprintf("ConnectWise %s %s: no answer: %s", e.method, e.path, Truncate(CleanLine(msg), maxMessage))
}

// mediaTypeOf names the media type of r's body ("text/html") when its
// Content-Type header is a valid one, without its parameters; a header that
// is not is not shown.
func mediaTypeOf(r *http.Response) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt == "" || len(mt) > 60 {
		return "no valid Content-Type"
	}
	return mt
}

// decodeError is an answer that is not the JSON expected. Its text never
// holds the answer; the JSON error is kept for errors.As.
type decodeError struct {
	what string
	err  error
}

func (e *decodeError) Error() string { return e.what }
func (e *decodeError) Unwrap() error { return e.err }

func (e *transportError) Unwrap() error { return e.err }

// send makes one attempt.
func (c *Client) send(req *http.Request, v any) (*Response, error) {
	r := req.Clone(req.Context())
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
		// every attempt, the first included, reads a fresh copy of the body
		body, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("connectwise: re-reading the %s %s body: %w", req.Method, apiPath(req.URL.Path), err)
		}
		r.Body = body
	}
	hresp, err := c.hc.Do(r)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w: %w", ctxErr, err)
		}
		return nil, &transportError{method: req.Method, path: apiPath(req.URL.Path), err: err}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(hresp.Body, 64<<10))
		_ = hresp.Body.Close()
	}()
	resp := newResponse(hresp)
	if err := checkResponse(hresp, c.scrub); err != nil {
		return resp, err
	}
	if v == nil {
		return resp, nil
	}
	if w, ok := v.(io.Writer); ok {
		if _, err := io.Copy(w, hresp.Body); err != nil {
			return resp, fmt.Errorf("ConnectWise %s %s: reading the answer: %w", req.Method, apiPath(req.URL.Path), err)
		}
		return resp, nil
	}
	if err := json.NewDecoder(hresp.Body).Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return resp, &decodeError{what: fmt.Sprintf("ConnectWise %s %s: the answer (HTTP %d, %s) is not the JSON expected", req.Method, apiPath(req.URL.Path), hresp.StatusCode, mediaTypeOf(hresp)), err: err}
	}
	return resp, nil
}

// scrub removes any credential text a server might have echoed.
func (c *Client) scrub(s string) string {
	for _, secret := range c.secret.scrub {
		s = strings.ReplaceAll(s, secret, redacted)
	}
	return s
}

// codebaseMoved reports a 404 that did not come from the ConnectWise API
// (an HTML or empty body) on a client whose codebase was looked up.
func (c *Client) codebaseMoved(err error) bool {
	var e *Error
	return c.lookedUp && errors.As(err, &e) && e.StatusCode == http.StatusNotFound && !e.fromAPI
}

// relocate looks the codebase up again and, when it differs from the one
// req was built with, returns req rebuilt on the new base.
func (c *Client) relocate(req *http.Request) (*http.Request, bool) {
	old := req.URL.String()
	c.relookupMu.Lock()
	current := c.base.Load()
	if !strings.HasPrefix(old, current.String()) {
		// another request already moved the base
		c.relookupMu.Unlock()
	} else {
		info, err := LookupCompanyInfo(req.Context(), c.hc, c.site.String(), c.companyID)
		var cb string
		if err == nil {
			cb, err = normalizeCodebase(info.Codebase)
		}
		if err != nil || "/"+cb+apiRoot == current.Path {
			c.relookupMu.Unlock()
			return nil, false
		}
		c.setBase(cb)
		c.relookupMu.Unlock()
	}
	rest, ok := strings.CutPrefix(old, c.site.String()+"/")
	if !ok {
		return nil, false
	}
	// rest is "{oldCodebase}apis/3.0/{path}"
	_, path, ok := strings.Cut(rest, apiRoot)
	if !ok {
		return nil, false
	}
	u, err := resolve(c.base.Load(), path)
	if err != nil {
		return nil, false
	}
	next := req.Clone(req.Context())
	next.URL = u
	next.Host = ""
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, false
		}
		next.Body = body
	}
	return next, true
}

// apiPath is the part of an URL path after "apis/3.0/", or the path without
// its leading slash.
func apiPath(p string) string {
	if _, rest, ok := strings.Cut(p, "/"+apiRoot); ok {
		return rest
	}
	return strings.TrimPrefix(p, "/")
}

// CompanyInfo is ConnectWise's answer to GET /login/companyinfo/{companyId}.
type CompanyInfo struct {
	CompanyName string `json:"CompanyName"`
	Codebase    string `json:"Codebase"`
	VersionCode string `json:"VersionCode"`
	CompanyID   string `json:"CompanyID"`
	IsCloud     bool   `json:"IsCloud"`
}

// LookupCompanyInfo asks a ConnectWise site which codebase serves a company.
// GET {siteURL}/login/companyinfo/{companyId}, without authentication. hc is
// used as NewClient uses Options.HTTPClient (nil: NewHTTPClient's default
// client; any client: redirects and plain http refused). An answer without a
// codebase (an unknown company) is an error that says to check the company
// ID. The strings of the answer are cleaned with CleanLine and cut to 100
// characters.
func LookupCompanyInfo(ctx context.Context, hc *http.Client, siteURL, companyID string) (*CompanyInfo, error) {
	site, err := checkSite(siteURL, clientLiteralPolicy)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(companyID) == "" {
		return nil, errors.New("connectwise: company ID is empty: set the company ID you log in to ConnectWise with")
	}
	if hc, err = guardClient(hc); err != nil {
		return nil, err
	}
	u := *site
	u.Path = "/login/companyinfo/" + companyID
	u.RawPath = "/login/companyinfo/" + url.PathEscape(companyID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("connectwise: building the company info request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	hresp, err := hc.Do(req)
	if err != nil {
		return nil, &transportError{method: http.MethodGet, path: "login/companyinfo/" + companyID, err: err}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(hresp.Body, 64<<10))
		_ = hresp.Body.Close()
	}()
	if err := CheckResponse(hresp); err != nil {
		return nil, err
	}
	var info CompanyInfo
	if err := json.NewDecoder(io.LimitReader(hresp.Body, 1<<20)).Decode(&info); err != nil {
		return nil, &decodeError{what: fmt.Sprintf("ConnectWise GET login/companyinfo/%s: the answer is not company info (is %s a ConnectWise site?)", companyID, site), err: err}
	}
	for _, f := range []*string{&info.CompanyName, &info.Codebase, &info.VersionCode, &info.CompanyID} {
		*f = Truncate(CleanLine(*f), 100)
	}
	if strings.TrimSpace(info.Codebase) == "" {
		return nil, fmt.Errorf("ConnectWise GET login/companyinfo/%s: %s does not know company %q: check the company ID (the one you log in to ConnectWise with)", companyID, site, companyID)
	}
	return &info, nil
}
