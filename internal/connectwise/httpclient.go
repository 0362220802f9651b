package connectwise

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// ErrRedirectRefused matches a redirect answer (3xx with a Location) that
// was not followed. ConnectWise never redirects an API call; a redirect
// means the site URL is not the API host, or something else answered. It
// also matches ErrInvalidSiteURL.
var ErrRedirectRefused = errors.New("connectwise: redirect refused")

// refusedError is a request the client refused to make or to continue: a
// redirect, a request that is not https, an address the SitePolicy refuses.
// It matches its kind and ErrInvalidSiteURL: each says the site URL, or
// what its name resolves to, is not a ConnectWise API host.
type refusedError struct {
	kind error
	msg  string
}

func (e *refusedError) Error() string { return e.msg }

func (e *refusedError) Is(target error) bool {
	return target == e.kind || target == ErrInvalidSiteURL
}

// HTTPClientOptions configure NewHTTPClient.
type HTTPClientOptions struct {
	// Timeout bounds each request; 0 means DefaultTimeout.
	Timeout time.Duration
	// RootCAs are the certificate authorities trusted for the site's
	// certificate; nil means the system roots (which SSL_CERT_FILE and
	// SSL_CERT_DIR extend). Tests and the local simulator set their CA here.
	RootCAs *x509.CertPool
	// Transport is copied as the base of the client's transport (pool sizes,
	// TLS settings); nil means a copy of http.DefaultTransport. Its Proxy,
	// DialContext and DialTLSContext are replaced (no proxy: the guard must
	// see the address really connected to), and a transport that disables
	// certificate verification is refused.
	Transport *http.Transport
	// Policy says which addresses may be connected to; the zero value,
	// which every deployment uses, allows public internet addresses only.
	Policy SitePolicy
}

// NewHTTPClient builds the HTTP client for ConnectWise calls; every client
// that talks to ConnectWise is built here. The client:
//
//   - refuses every redirect: the redirect is not followed (so the
//     Authorization header is never sent anywhere else) and the error
//     matches ErrRedirectRefused;
//   - refuses every request whose URL is not https, whatever URL it is
//     given, before anything is sent;
//   - connects only to addresses Policy allows, checked on the request's
//     host and again, after DNS resolution, on every address it dials
//     (net.Dialer.Control), so a name resolving to 169.254.169.254 is
//     refused before connecting; the error matches ErrAddressNotAllowed;
//   - verifies TLS certificates, with TLS 1.2 or later, and uses no proxy.
func NewHTTPClient(opts HTTPClientOptions) (*http.Client, error) {
	var tr *http.Transport
	if opts.Transport != nil {
		tr = opts.Transport.Clone()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	if tr.TLSClientConfig != nil && tr.TLSClientConfig.InsecureSkipVerify {
		return nil, errInsecureSkipVerify
	}
	cfg := tr.TLSClientConfig
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if opts.RootCAs != nil {
		cfg.RootCAs = opts.RootCAs
	}
	cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
	tr.TLSClientConfig = cfg
	tr.Proxy = nil
	tr.OnProxyConnectResponse = nil
	tr.DialTLSContext = nil
	//lint:ignore SA1019 cleared so that no dial bypasses the guard
	tr.DialTLS = nil
	//lint:ignore SA1019 cleared so that no dial bypasses the guard
	tr.Dial = nil
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: opts.Policy.dialControl}
	tr.DialContext = dialer.DialContext
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &http.Client{
		Timeout:       timeout,
		Transport:     &guardTransport{base: tr, policy: opts.Policy},
		CheckRedirect: refuseRedirect,
	}, nil
}

var errInsecureSkipVerify = errors.New("connectwise: the HTTP client disables TLS certificate verification (InsecureSkipVerify): ConnectWise credentials are only sent over verified TLS; trust the server's CA with RootCAs instead")

// guardTransport refuses any request that is not https, or whose host
// policy refuses, before base sees it.
type guardTransport struct {
	base   http.RoundTripper
	policy SitePolicy
}

func (t *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	refuse := func(err error) (*http.Response, error) {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper closes the body, even on errors
		}
		return nil, err
	}
	if req.URL == nil || req.URL.Scheme != "https" {
		return refuse(&refusedError{kind: ErrInvalidSiteURL,
			msg: "connectwise: refusing a request that is not https: ConnectWise credentials are only sent over https"})
	}
	host := req.URL.Hostname()
	if why := t.policy.checkHost(host); why != "" {
		return refuse(&refusedError{kind: ErrAddressNotAllowed, msg: fmt.Sprintf(
			"connectwise: refusing to connect to %s, %s: a ConnectWise site is a public internet host (check the site URL)", host, why)})
	}
	return t.base.RoundTrip(req)
}

// refuseRedirect is the CheckRedirect of every ConnectWise HTTP client.
func refuseRedirect(req *http.Request, _ []*http.Request) error {
	status := "a redirect"
	if req.Response != nil {
		status = fmt.Sprintf("%d, a redirect,", req.Response.StatusCode)
	}
	return &refusedError{kind: ErrRedirectRefused, msg: fmt.Sprintf(
		"connectwise: the server answered %s which was not followed: ConnectWise never redirects an API call, so the site URL is not the ConnectWise API host (e.g. %s) or something else answered", status, siteExample)}
}

// defaultHTTPClient is NewHTTPClient's client with the default options,
// built once so that clients made without an HTTP client share its
// connections.
var defaultHTTPClient = sync.OnceValues(func() (*http.Client, error) {
	return NewHTTPClient(HTTPClientOptions{})
})

// guardClient returns the client NewClient and LookupCompanyInfo send
// with. nil gives NewHTTPClient's client with the default (public only)
// SitePolicy. Any other client is used through a copy that refuses every
// redirect and every request that is not https; its own transport is kept,
// so only a client built by NewHTTPClient has the dial-time address guard
// (a copy of another client refuses literal internal addresses in the URL
// but, since it cannot see where a name resolves, not loopback). A client
// whose transport disables certificate verification is refused.
func guardClient(hc *http.Client) (*http.Client, error) {
	if hc == nil {
		return defaultHTTPClient()
	}
	if t, ok := hc.Transport.(*http.Transport); ok && t.TLSClientConfig != nil && t.TLSClientConfig.InsecureSkipVerify {
		return nil, errInsecureSkipVerify
	}
	c := *hc
	c.CheckRedirect = refuseRedirect
	if _, ok := c.Transport.(*guardTransport); !ok {
		base := c.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		c.Transport = &guardTransport{base: base, policy: SitePolicy{AllowLoopback: true}}
	}
	return &c, nil
}
