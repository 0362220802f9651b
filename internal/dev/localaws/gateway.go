package localaws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"time"
)

// GatewayOptions configure ListenGateway. The zero value is ready to use.
type GatewayOptions struct {
	// MaxBodyBytes is the largest request body accepted (default
	// DefaultMaxBodyBytes, API Gateway's payload quota); a larger one is 413
	// before the handler runs, or fails the handler's read when its length
	// was not announced.
	MaxBodyBytes int64
	// Timeout is the integration timeout (default DefaultGatewayTimeout, API
	// Gateway's maximum for HTTP APIs): past it the client gets 503 and the
	// handler's context is cancelled.
	Timeout time.Duration
	// ReadHeaderTimeout (default 10 s) bounds the request line and headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout (default 30 s) bounds the whole request, body included: a
	// client that trickles its body is cut off.
	ReadTimeout time.Duration
	// WriteTimeout (default Timeout + 5 s, so that a 503 still gets out)
	// bounds a request from the end of its headers to the end of the answer.
	WriteTimeout time.Duration
	// IdleTimeout (default 120 s) bounds a kept-alive connection's wait for
	// its next request.
	IdleTimeout time.Duration
	// Log receives handler panics and the server's errors (default
	// slog.Default()).
	Log *slog.Logger
}

// Defaults of GatewayOptions.
const (
	DefaultMaxBodyBytes      = 10 << 20
	DefaultGatewayTimeout    = 30 * time.Second
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
)

func (o *GatewayOptions) defaults() {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultGatewayTimeout
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = o.Timeout + 5*time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
}

// Gateway is the local stand-in for API Gateway's HTTP API: a plain
// http.Server on a loopback address serving the functions' http.Handlers
// (the very ones package lambdahttp serves in Lambda), with what API Gateway
// does before a function sees a request.
type Gateway struct {
	// URL is the base URL, http://127.0.0.1:<port>.
	URL  string
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// ListenGateway listens on addr, which must be a loopback IP address and a
// port ("127.0.0.1:3000"; port 0 picks a free one): this is a development
// server, unauthenticated but for the operator routes' stand-in, and never
// reachable from another machine. It serves h with:
//
//   - the body limit (413 {"message":"Request Entity Too Large"});
//   - the integration timeout (503 {"message":"Service Unavailable"});
//   - a handler panic as 500 {"message":"Internal Server Error"}, logged;
//   - the server timeouts of opts, so that no client holds a connection
//     forever (a slow body is cut off at ReadTimeout).
//
// Routing is h's: mount the functions' routes on an http.ServeMux, with
// NotFound for the rest. Close stops it.
func ListenGateway(addr string, h http.Handler, opts GatewayOptions) (*Gateway, error) {
	opts.defaults()
	if err := CheckLoopback(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("local gateway: listen on %s: %w", addr, err)
	}
	if ap, err := netip.ParseAddrPort(ln.Addr().String()); err != nil || !ap.Addr().IsLoopback() {
		_ = ln.Close()
		return nil, fmt.Errorf("local gateway: listening on %s, which is not a loopback address", ln.Addr())
	}
	log := opts.Log
	handler := recoverPanics(limitBody(http.TimeoutHandler(h, opts.Timeout, messageBody("Service Unavailable")), opts.MaxBodyBytes), log)
	g := &Gateway{
		URL: "http://" + ln.Addr().String(),
		ln:  ln,
		srv: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: opts.ReadHeaderTimeout,
			ReadTimeout:       opts.ReadTimeout,
			WriteTimeout:      opts.WriteTimeout,
			IdleTimeout:       opts.IdleTimeout,
			MaxHeaderBytes:    1 << 20,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(g.done)
		if err := g.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("local gateway stopped", "error", err)
		}
	}()
	return g, nil
}

// CheckLoopback refuses a listen address that is not a loopback IP and
// port: "", "0.0.0.0" and "::" would listen on every interface, and a host
// name may resolve to anything.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("local gateway: address %q: %w", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("local gateway: address %q: must be a loopback IP address and port, e.g. 127.0.0.1:3000 (the local stack is never reachable from other machines)", addr)
	}
	return nil
}

// Addr is the listening address.
func (g *Gateway) Addr() net.Addr { return g.ln.Addr() }

// Close stops the server, letting requests in progress finish for up to 5
// seconds. It is safe to call twice.
func (g *Gateway) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := g.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = g.srv.Close()
	}
	<-g.done
	return err
}

// NotFound is API Gateway's answer to a request no route takes: 404
// {"message":"Not Found"}.
var NotFound http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	writeMessage(w, http.StatusNotFound, "Not Found")
})

// limitBody refuses a body announced larger than max (413, unread) and
// bounds the read of one whose length is unknown (the read fails with an
// *http.MaxBytesError).
func limitBody(next http.Handler, max int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			w.Header().Set("Connection", "close")
			writeMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r)
	})
}

// recoverPanics answers a handler's panic with 500, as API Gateway answers
// a function that failed, and logs it with its stack.
func recoverPanics(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v) // net/http's own way to abort a response
			}
			log.ErrorContext(r.Context(), "local gateway: handler panicked", "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
		}()
		next.ServeHTTP(w, r)
	})
}

func messageBody(msg string) string {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	return string(b)
}

// writeMessage writes API Gateway's own answer shape, {"message": msg}.
func writeMessage(w http.ResponseWriter, status int, msg string) {
	b := messageBody(msg)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b))
}
