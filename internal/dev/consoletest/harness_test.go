package consoletest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/efs-cw/backupbridge/internal/dev/localstack"
	"github.com/efs-cw/backupbridge/internal/signature"
)

// TestMain trusts the simulator's CA before any TLS handshake of the process
// (Go reads SSL_CERT_FILE and SSL_CERT_DIR once).
func TestMain(m *testing.M) { os.Exit(localstack.RunTrustingSimulator(m.Run)) }

const (
	operatorToken = "console-test-operator"
	viewerToken   = "console-test-viewer"
)

// chromiumPath finds Debian's chromium, or skips the test (fails it when
// CI=true: CI must run the browser tests).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found and CI=true: the console's browser tests must run in CI (sudo apt-get install chromium)")
	}
	t.Skip("chromium not found: the console's browser tests are skipped (install it: sudo apt-get install chromium)")
	return ""
}

// env is one test's local stack and browser tab.
type env struct {
	t   *testing.T
	st  *localstack.Stack
	ctx context.Context // the tab
	log *bytes.Buffer
	mu  *sync.Mutex
	// dialogs counts JavaScript dialogs (alert, confirm): an XSS payload
	// that runs opens one.
	dialogs *int
}

// start brings up the local stack and a headless chromium tab of 1280×800.
func start(t *testing.T) *env {
	t.Helper()
	path := chromiumPath(t)
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	st, err := localstack.Start(ctx, localstack.Options{
		Dir:               t.TempDir(),
		Addr:              "127.0.0.1:0",
		VisibilityTimeout: 1,
		WorkerConcurrency: 2,
		OperatorToken:     operatorToken,
		ViewerToken:       viewerToken,
		Logger:            logger,
	})
	if err != nil {
		t.Fatalf("start local stack: %v", err)
	}
	// The worker loop runs as under make run: events reach ConnectWise by
	// themselves, as the operator in the browser would see them.
	wctx, wcancel := context.WithCancel(context.Background())
	workers := make(chan struct{})
	go func() { defer close(workers); _ = st.RunWorkers(wctx) }()
	t.Cleanup(func() {
		wcancel()
		<-workers
		st.Close()
		if t.Failed() {
			mu.Lock()
			t.Logf("service log (tail):\n%s", tail(buf.String(), 6000))
			mu.Unlock()
		}
	})
	// The flags a closed network and a root sandbox need (see the machine
	// notes): no background traffic, no sandbox, a fresh profile.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	tab, tcancel := chromedp.NewContext(actx)
	t.Cleanup(tcancel)
	// Start the browser with the tab's own context (no timeout: it would
	// stop the browser), then count JavaScript dialogs: an XSS payload that
	// runs opens one. They are closed so the page goes on.
	if err := chromedp.Do(tab, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	dialogs := 0
	opened := chromedp.Events(tab, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range opened {
			if err != nil {
				return
			}
			mu.Lock()
			dialogs++
			mu.Unlock()
			t.Logf("a JavaScript dialog opened: %q", ev.Message)
			_, _ = chromedp.Call(tab, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return &env{t: t, st: st, ctx: tab, log: &buf, mu: &mu, dialogs: &dialogs}
}

// run runs browser actions in order, failing the test on error.
func (e *env) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

// get runs one browser action that returns a value.
func get[T any](e *env, what string, a chromedp.Action[T]) T {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// signIn signs in with token through the sign-in form.
func (e *env) signIn(token string) {
	e.t.Helper()
	e.run("sign in",
		chromedp.Navigate(e.st.URL+"/console/signin"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitNotPresent(chromedp.ID("token")),
	)
	who := get(e, "signed-in page", chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
	if !strings.Contains(who, "Signed in as") {
		e.t.Fatalf("sign-in did not sign in; the browser shows:\n%s", who)
	}
}

// text is the visible text of the page's main landmark.
func (e *env) text() string {
	e.t.Helper()
	return get(e, "read the page", chromedp.Text(chromedp.CSS("main")))
}

// shot saves a full-page PNG as CONSOLE_SCREENSHOTS/<name>.png, when set.
func (e *env) shot(name string) {
	e.t.Helper()
	dir := os.Getenv("CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := get(e, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// post signs body with secret as the backup provider does and posts it to
// partner's webhook; it returns the status.
func (e *env) post(partnerID, secret string, body []byte) int {
	e.t.Helper()
	key, err := signature.ParseSecret(secret)
	if err != nil {
		e.t.Fatal(err)
	}
	id := fmt.Sprintf("msg_console_%d", time.Now().UnixNano())
	now := time.Now()
	req, err := http.NewRequest(http.MethodPost, e.st.URL+"/v1/partners/"+partnerID+"/events", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("content-type", "application/json")
	req.Header.Set(signature.HeaderID, id)
	req.Header.Set(signature.HeaderTimestamp, fmt.Sprint(now.Unix()))
	req.Header.Set(signature.HeaderSignature, signature.Sign(key, id, now, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		e.t.Logf("webhook answered %d %s", resp.StatusCode, b)
	}
	return resp.StatusCode
}

// logText is the service log so far.
func (e *env) logText() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.log.String()
}

// postAs posts form (url-encoded) to path with the browser's cookies, as a
// forged request from the signed-in session would; it returns the status.
func (e *env) postAs(path, form string) int {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.st.URL+path, strings.NewReader(form))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.st.URL)
	resp, _ := e.doAs(req)
	return resp.StatusCode
}

// getAs gets path with the browser's cookies (what following a download
// link does) and returns the answer and its body.
func (e *env) getAs(path string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.st.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.doAs(req)
}

// doAs sends req with the browser's session cookies, following no redirect.
func (e *env) doAs(req *http.Request) (*http.Response, string) {
	e.t.Helper()
	cookies := get(e, "cookies", chromedp.Action[[]*network.Cookie](func(ctx context.Context, t *chromedp.Target) ([]*network.Cookie, error) {
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{e.st.URL + "/console/"}})
		if err != nil {
			return nil, err
		}
		return res.Cookies, nil
	}))
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// eventually polls cond every 50 ms for up to 30 s; on a timeout it calls
// explain (when given) and fails the test.
func eventually(t *testing.T, what string, cond func() bool, explain ...func()) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			for _, f := range explain {
				f()
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// failureEvent is a backup failure of account (acctID, acctName) of
// customer (id, name).
func failureEvent(customerID, customerName, acctID, acctName string) []byte {
	at := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	b, err := json.Marshal(map[string]any{
		"specVersion": "1.0", "type": "backup.completed", "occurredAt": at,
		"customer": map[string]string{"id": customerID, "name": customerName},
		"backup": map[string]any{
			"account": map[string]string{"id": acctID, "name": acctName, "kind": "server", "plan": "select"},
			"result":  "failure", "endedAt": at, "onlineGB": 120.5, "localGB": 300, "message": "engine says failure",
		},
	})
	if err != nil {
		panic(err)
	}
	return b
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
