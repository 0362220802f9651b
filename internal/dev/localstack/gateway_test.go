package localstack_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/efs-cw/backupbridge/internal/dev/localaws/localtest"
	"github.com/efs-cw/backupbridge/internal/dev/localstack"
	"github.com/efs-cw/backupbridge/internal/partner"
)

// The local API Gateway listens on loopback only, and a client that sends
// its headers and then trickles its body is cut off by the read timeout
// (injected short here; 30 s by default) instead of holding a connection
// and a webhook invocation for as long as it likes.
func TestLocalGatewayCutsOffATricklingBody(t *testing.T) {
	const readTimeout = 500 * time.Millisecond
	h := startWith(t, func(o *localstack.Options) { o.Gateway.ReadTimeout = readTimeout })
	u, err := url.Parse(h.st.URL)
	if err != nil {
		t.Fatal(err)
	}
	ap, err := netip.ParseAddrPort(u.Host)
	if err != nil || !ap.Addr().IsLoopback() {
		t.Fatalf("the local API Gateway listens on %s (%v), want a loopback address", u.Host, err)
	}

	// The server's read deadline starts when it accepts the connection, so
	// the clock starts before the dial: elapsed can then never be shorter
	// than the server's timeout, however busy the machine.
	start := time.Now()
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/partners/%s/events HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n"+
		"webhook-id: msg_trickle\r\nwebhook-timestamp: %d\r\nwebhook-signature: v1,AAAA\r\n\r\n{", partner.DemoPartnerID, u.Host, h.clock.Now().Unix())
	defer localtest.Trickle(conn, 20*time.Millisecond)()       // a byte every 20 ms, far slower than the declared length needs
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // a deadline, not a sleep
	_, err = io.Copy(io.Discard, conn)
	elapsed := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection was still open after %v: a trickling body holds it", elapsed)
	}
	if elapsed < readTimeout {
		t.Errorf("the connection ended after %v, before the read timeout %v (%v)", elapsed, readTimeout, err)
	}
	if n := h.queueDepth(h.st.QueueURL); n != 0 {
		t.Errorf("the cut-off request enqueued %d messages", n)
	}

	// The server goes on serving.
	req, _ := http.NewRequest(http.MethodGet, h.st.URL+"/v1/partners/demo/events", nil)
	if code, b := h.do(req); code != http.StatusNotFound || b["message"] != "Not Found" {
		t.Errorf("GET of the webhook route: %d %v, want API Gateway's 404 (the HTTP API has only the POST route)", code, b)
	}
}

// Start refuses a listen address that is not loopback before it starts
// anything.
func TestStartRefusesANonLoopbackAddress(t *testing.T) {
	for _, addr := range []string{":3000", "0.0.0.0:0", "localhost:0"} {
		st, err := localstack.Start(context.Background(), localstack.Options{Dir: t.TempDir(), Addr: addr})
		if err == nil {
			st.Close()
			t.Fatalf("Start with Addr %q: no error", addr)
		}
		if !strings.Contains(err.Error(), "loopback") {
			t.Errorf("Start with Addr %q: %v, want it to say loopback", addr, err)
		}
	}
}
