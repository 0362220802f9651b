package localaws_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/dev/localaws"
	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
)

// listen starts a gateway on a free loopback port, stopped when the test ends.
func listen(t *testing.T, h http.Handler, opts localaws.GatewayOptions) *localaws.Gateway {
	t.Helper()
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	g, err := localaws.ListenGateway("127.0.0.1:0", h, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

func TestGatewayListensOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.1:0", "localhost:0", "example.com:0", "127.0.0.1"} {
		if g, err := localaws.ListenGateway(addr, localaws.NotFound, localaws.GatewayOptions{}); err == nil {
			_ = g.Close()
			t.Errorf("ListenGateway(%q) listened on %s, want a refusal", addr, g.Addr())
		}
	}
	g := listen(t, localaws.NotFound, localaws.GatewayOptions{})
	ap, err := netip.ParseAddrPort(g.Addr().String())
	if err != nil || !ap.Addr().IsLoopback() || ap.Port() == 0 {
		t.Fatalf("gateway listens on %s (%v), want a loopback address", g.Addr(), err)
	}
	if g.URL != "http://"+g.Addr().String() {
		t.Errorf("URL = %q", g.URL)
	}
	resp, err := http.Get(g.URL + "/nowhere")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || string(b) != `{"message":"Not Found"}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("NotFound: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}

// TestGatewayCutsOffATricklingBody is the regression test of the slow-body
// hold: a client sends its headers, then its body one byte at a time, never
// finishing. The read timeout ends the request and the connection, instead
// of the handler waiting as long as the client likes.
func TestGatewayCutsOffATricklingBody(t *testing.T) {
	t.Parallel()
	const readTimeout = 300 * time.Millisecond
	readErr := make(chan error, 1)
	g := listen(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
		w.WriteHeader(http.StatusBadRequest)
	}), localaws.GatewayOptions{ReadTimeout: readTimeout})

	// The server's read deadline starts when it accepts the connection, so
	// the clock starts before the dial: elapsed can then never be shorter
	// than the server's timeout, however busy the machine.
	start := time.Now()
	conn, err := net.Dial("tcp", g.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/partners/demo/events HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", g.Addr())
	defer localtest.Trickle(conn, 20*time.Millisecond)() // a byte every 20 ms, far slower than the declared length needs

	// The client gives the server 10 s (a deadline, not a sleep); the server
	// must end the connection long before.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, conn)
	elapsed := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection was still open after %v: a trickling body holds it", elapsed)
	}
	if elapsed < readTimeout {
		t.Errorf("the connection ended after %v, before the read timeout %v: %v", elapsed, readTimeout, err)
	}
	select {
	case err := <-readErr:
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("the handler's body read ended with %v, want a timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the handler's body read did not end")
	}
}

func TestGatewayBodyLimit(t *testing.T) {
	t.Parallel()
	read := make(chan error, 1)
	g := listen(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		read <- err
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}), localaws.GatewayOptions{MaxBodyBytes: 1024})

	post := func(body io.Reader) int {
		t.Helper()
		resp, err := http.Post(g.URL+"/x", "application/json", body)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 413 && len(b) > 0 && string(b) != `{"message":"Request Entity Too Large"}` {
			t.Errorf("413 body %s", b)
		}
		return resp.StatusCode
	}
	if code := post(bytes.NewReader(make([]byte, 1024))); code != 204 {
		t.Errorf("a body of the limit: %d", code)
	}
	<-read
	if code := post(bytes.NewReader(make([]byte, 1025))); code != 413 {
		t.Errorf("a body over the limit: %d, want 413", code)
	}
	select {
	case err := <-read:
		t.Errorf("the handler ran (read %v) for a body announced over the limit", err)
	default:
	}
	// Length not announced (chunked): the read fails at the limit.
	if code := post(io.MultiReader(strings.NewReader(strings.Repeat("x", 2000)))); code != 413 {
		t.Errorf("a chunked body over the limit: %d, want 413", code)
	}
	var mbe *http.MaxBytesError
	if err := <-read; !errors.As(err, &mbe) {
		t.Errorf("reading a chunked body over the limit: %v, want an *http.MaxBytesError", err)
	}
}

func TestGatewayTimeoutAndPanic(t *testing.T) {
	t.Parallel()
	cancelled := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		close(cancelled)
	})
	mux.HandleFunc("/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	var logs bytes.Buffer
	g := listen(t, mux, localaws.GatewayOptions{Timeout: 100 * time.Millisecond, Log: slog.New(slog.NewJSONHandler(&logs, nil))})

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(g.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/slow"); code != 503 || body != `{"message":"Service Unavailable"}` {
		t.Errorf("slow handler: %d %s, want 503", code, body)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Error("the slow handler's context was not cancelled")
	}
	if code, body := get("/panic"); code != 500 || body != `{"message":"Internal Server Error"}` {
		t.Errorf("panicking handler: %d %s, want 500", code, body)
	}
	// The server goes on.
	if code, _ := get("/nowhere"); code != 404 {
		t.Errorf("after a panic: %d", code)
	}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	var logged bool
	for sc.Scan() {
		logged = logged || (strings.Contains(sc.Text(), "handler panicked") && strings.Contains(sc.Text(), "boom"))
	}
	if !logged {
		t.Errorf("the panic was not logged: %s", logs.String())
	}
}
