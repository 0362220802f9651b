package connectwise

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// witness is a server that must never be reached: it records every request
// and the Authorization header it carried.
type witness struct {
	srv  *httptest.Server
	hits atomic.Int32
	mu   sync.Mutex
	auth []string
}

func newWitness(t *testing.T, tlsOn bool) *witness {
	t.Helper()
	w := &witness{}
	h := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.hits.Add(1)
		w.mu.Lock()
		w.auth = append(w.auth, r.Header.Get("Authorization"))
		w.mu.Unlock()
		reply(rw, http.StatusOK, []byte(`{"id":1,"Codebase":"v4_6_release/"}`))
	})
	if tlsOn {
		w.srv = httptest.NewTLSServer(h)
	} else {
		w.srv = httptest.NewServer(h)
	}
	t.Cleanup(w.srv.Close)
	return w
}

func (w *witness) check(t *testing.T, name string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := w.hits.Load(); n != 0 {
		t.Errorf("%s: the redirect target got %d requests (Authorization %q)", name, n, w.auth)
	}
}

// TestRedirectsAreNeverFollowed: the site answers a redirect to another
// https server on 127.0.0.1 (a different port: Go keeps the Authorization
// header for the same host name), to plain http, and to itself. Whatever
// client NewClient is given, the redirect is not followed, the target never
// sees a request (so never the credentials), and the error says why.
func TestRedirectsAreNeverFollowed(t *testing.T) {
	t.Parallel()
	other := newWitness(t, true)
	plain := newWitness(t, false)
	f := newFakeCW(t)
	targets := map[string]string{
		"other https host": other.srv.URL + testBasePath + "/service/tickets/1",
		"https to http":    plain.srv.URL + testBasePath + "/service/tickets/1",
		"same site":        f.srv.URL + testBasePath + "/service/tickets/2",
	}
	var status atomic.Int32
	var to atomic.Value // the redirect target
	f.api.HandleFunc("GET /service/tickets/1", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, to.Load().(string), int(status.Load()))
	})
	f.api.HandleFunc("GET /service/tickets/2", func(w http.ResponseWriter, r *http.Request) {
		t.Error("the redirect to the same site was followed")
	})
	f.root.HandleFunc("GET /login/companyinfo/{id}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, to.Load().(string), http.StatusFound)
	})

	clients := map[string]func() *http.Client{
		"NewHTTPClient":               f.httpClient,
		"a caller's http.Client":      f.srv.Client, // follows redirects on its own
		"no client (NewClient's own)": nil,
	}
	for cname, mk := range clients {
		for tname, target := range targets {
			for _, code := range []int{http.StatusFound, http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
				status.Store(int32(code))
				to.Store(target)
				opts := f.options()
				opts.HTTPClient = nil
				if mk != nil {
					opts.HTTPClient = mk()
				}
				c, err := NewClient(context.Background(), opts)
				if err != nil {
					t.Fatal(err)
				}
				before := len(f.callList())
				_, _, err = c.Tickets.Get(context.Background(), 1)
				name := cname + ", " + tname + ", " + http.StatusText(code)
				if mk == nil {
					// NewClient's own client trusts only the system roots
					// and allows no loopback: refused before connecting.
					if !errors.Is(err, ErrAddressNotAllowed) {
						t.Errorf("%s: err = %v, want ErrAddressNotAllowed", name, err)
					}
					continue
				}
				if !errors.Is(err, ErrRedirectRefused) || !errors.Is(err, ErrInvalidSiteURL) || IsTransient(err) || !IsPermanent(err) {
					t.Errorf("%s: err = %v: want ErrRedirectRefused and ErrInvalidSiteURL, permanent", name, err)
				}
				if err != nil && !strings.Contains(err.Error(), "ConnectWise never redirects") {
					t.Errorf("%s: Error() = %q does not say why", name, err)
				}
				if got := len(f.callList()) - before; got != 1 {
					t.Errorf("%s: the site got %d requests, want 1 (no retry, no follow)", name, got)
				}
			}
		}
	}
	// the unauthenticated company info lookup does not follow either
	for tname, target := range targets {
		to.Store(target)
		before := len(f.callList())
		_, err := LookupCompanyInfo(context.Background(), f.srv.Client(), f.srv.URL, "acme")
		if got := len(f.callList()) - before; got != 1 {
			t.Errorf("LookupCompanyInfo, %s: the site got %d requests, want 1", tname, got)
		}
		if !errors.Is(err, ErrRedirectRefused) {
			t.Errorf("LookupCompanyInfo, %s: err = %v, want ErrRedirectRefused", tname, err)
		}
	}
	other.check(t, "other https host")
	plain.check(t, "https to http")
}

// TestHTTPClientRefusesRedirectsDirectly: the client from NewHTTPClient
// refuses redirects whoever uses it, with the Authorization header set.
func TestHTTPClientRefusesRedirectsDirectly(t *testing.T) {
	t.Parallel()
	other := newWitness(t, true)
	plain := newWitness(t, false)
	site := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	}))
	defer site.Close()
	hc := testHTTPClient(t, site, SitePolicy{AllowLoopback: true})
	for _, target := range []string{other.srv.URL + "/x", plain.srv.URL + "/x"} {
		req, _ := http.NewRequest(http.MethodGet, site.URL+"/?to="+url.QueryEscape(target), nil)
		req.Header.Set("Authorization", wantAuthorization())
		resp, err := hc.Do(req)
		if resp != nil {
			_ = resp.Body.Close()
		}
		if !errors.Is(err, ErrRedirectRefused) {
			t.Errorf("redirect to %s: err = %v", target, err)
		}
	}
	other.check(t, "other https host")
	plain.check(t, "https to http")
}

type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

// TestHTTPClientRefusesPlainHTTP: whatever URL it is asked for, the client
// sends nothing that is not https, and closes the request body.
func TestHTTPClientRefusesPlainHTTP(t *testing.T) {
	t.Parallel()
	plain := newWitness(t, false)
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	hc := testHTTPClient(t, tlsSrv, SitePolicy{AllowLoopback: true})
	body := &closeRecorder{Reader: strings.NewReader(`{"a":1}`)}
	req, _ := http.NewRequest(http.MethodPost, plain.srv.URL+"/v4_6_release/apis/3.0/service/tickets", body)
	req.Header.Set("Authorization", wantAuthorization())
	resp, err := hc.Do(req)
	if resp != nil {
		_ = resp.Body.Close()
	}
	if !errors.Is(err, ErrInvalidSiteURL) || !strings.Contains(err.Error(), "not https") || IsTransient(err) {
		t.Fatalf("err = %v, want a refused plain http request", err)
	}
	if !body.closed.Load() {
		t.Error("the request body was not closed")
	}
	plain.check(t, "plain http")

	// A caller's client given to NewClient is guarded the same way.
	c, err := NewClient(context.Background(), Options{SiteURL: "https://cw.example.com", Codebase: testCodebase, Credentials: testCreds, HTTPClient: plain.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = c.hc.Get(plain.srv.URL)
	if resp != nil {
		_ = resp.Body.Close()
	}
	if !errors.Is(err, ErrInvalidSiteURL) {
		t.Fatalf("caller's client: err = %v", err)
	}
	plain.check(t, "plain http, caller's client")
}

// TestHTTPClientGuardsAddressesAtDialTime: with the default policy the
// client refuses loopback before connecting, both on the URL's host and,
// underneath, on the address a name resolves to (the transport below the
// host check is called directly, as a name resolving to an internal
// address would reach it). Only 127.0.0.1 servers are involved.
func TestHTTPClientGuardsAddressesAtDialTime(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	strict := testHTTPClient(t, srv, SitePolicy{})
	resp, err := strict.Get(srv.URL)
	if resp != nil {
		_ = resp.Body.Close()
	}
	if !errors.Is(err, ErrAddressNotAllowed) || !errors.Is(err, ErrInvalidSiteURL) || IsTransient(err) {
		t.Fatalf("loopback URL: err = %v, want ErrAddressNotAllowed", err)
	}

	inner := strict.Transport.(*guardTransport).base
	for _, host := range []string{"127.0.0.1", "localhost"} {
		req, _ := http.NewRequest(http.MethodGet, "https://"+net.JoinHostPort(host, port)+"/", nil)
		resp, err := inner.RoundTrip(req)
		if resp != nil {
			_ = resp.Body.Close()
		}
		if !errors.Is(err, ErrAddressNotAllowed) {
			t.Errorf("dial to %s: err = %v, want ErrAddressNotAllowed from the dialer", host, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the server got %d requests through the strict client", n)
	}

	// The development switch lets the same request through.
	dev := testHTTPClient(t, srv, SitePolicy{AllowLoopback: true})
	resp, err = dev.Get(srv.URL)
	if err != nil {
		t.Fatalf("AllowLoopback: %v", err)
	}
	_ = resp.Body.Close()
	if hits.Load() != 1 {
		t.Fatalf("hits = %d, want 1", hits.Load())
	}

	// Through NewClient: a loopback site with a deployment's client fails
	// permanently, says why, and sends nothing.
	f := newFakeCW(t)
	c := f.client(func(o *Options) { o.HTTPClient = testHTTPClient(t, f.srv, SitePolicy{}) })
	_, _, err = c.Tickets.Get(context.Background(), 1)
	if !errors.Is(err, ErrAddressNotAllowed) || !IsPermanent(err) || IsTransient(err) {
		t.Fatalf("NewClient with a loopback site: err = %v", err)
	}
	if !strings.Contains(err.Error(), "a loopback address") || strings.Contains(err.Error(), "no answer") {
		t.Errorf("Error() = %q", err)
	}
	if calls := f.callList(); len(calls) != 0 {
		t.Fatalf("the site got %v", calls)
	}
}

// TestNewHTTPClientTransport: the base transport's proxy and dialers are
// replaced (nothing bypasses the guard) and certificate verification
// cannot be switched off.
func TestNewHTTPClientTransport(t *testing.T) {
	t.Parallel()
	if _, err := NewHTTPClient(HTTPClientOptions{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}); err == nil || !strings.Contains(err.Error(), "InsecureSkipVerify") {
		t.Fatalf("InsecureSkipVerify: err = %v", err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	base := srv.Client().Transport.(*http.Transport).Clone()
	base.Proxy = func(*http.Request) (*url.URL, error) {
		t.Error("the base transport's proxy was used")
		return nil, nil
	}
	base.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		t.Error("the base transport's TLS dialer was used")
		return nil, errors.New("bypass")
	}
	hc, err := NewHTTPClient(HTTPClientOptions{Transport: base})
	if err != nil {
		t.Fatal(err)
	}
	tr := hc.Transport.(*guardTransport).base.(*http.Transport)
	if tr.Proxy != nil || tr.DialTLSContext != nil || tr.DialContext == nil || tr.TLSClientConfig.MinVersion < tls.VersionTLS12 {
		t.Fatal("the transport keeps a proxy or a dialer that bypasses the guard")
	}
	if base.Proxy == nil {
		t.Fatal("the caller's transport was changed")
	}
	if hc.Timeout != DefaultTimeout || hc.CheckRedirect == nil {
		t.Fatalf("timeout %v, CheckRedirect set %v", hc.Timeout, hc.CheckRedirect != nil)
	}
	// with the development switch, a loopback request goes through the
	// replaced dialer and the base's TLS settings (its root CAs)
	hc, err = NewHTTPClient(HTTPClientOptions{Transport: base, Policy: SitePolicy{AllowLoopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
}
