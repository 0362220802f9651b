// Package emulator runs the functions' bootstrap binaries under the AWS
// Lambda Runtime Interface Emulator (RIE), the program `sam local invoke`
// runs inside its container, so that a test exercises the real wiring of a
// function (functions/<name>/main.go → service.Run → the Lambda runtime API
// → lambdahttp for the HTTP functions → the handler) rather than calling the
// handler in process.
//
// The RIE is a tool, not a dependency of this module: EnsureRIE installs the
// pinned RIEModule into <repo root>/.bin with go install, as localaws does
// for goaws. The emulator runs the binary natively on this machine, so the
// functions are built for the host (BuildFunction), not for linux/arm64.
//
// # What the RIE does (and does not)
//
//   - Init is lazy: the bootstrap starts at the first invoke, as a cold start
//     does. A failed init answers that invoke (and every later one, each
//     retrying init) with 502 and an empty body; the function's message is in
//     the log (Output).
//   - A handler error is an HTTP 200 whose body is {"errorMessage",
//     "errorType"}; Invoke returns it as a *FunctionError.
//   - The REPORT line's "Init Duration" of this RIE version times only the
//     hand-over of the init request (about 0.03 ms); the init itself is
//     inside that first invoke's "Duration". The real init time is the rapid
//     log line "INIT REPORT(durationMs: …)", which InitDuration returns.
//   - It forwards its whole environment to the function; Start gives it only
//     the variables asked for, plus PATH and HOME.
//   - Given --runtime-api-address with port 0 it listens on a free port but
//     tells the runtime port 0, so Start picks both ports itself.
package emulator

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/efs-cw/backupbridge/internal/dev/localaws"
)

// RIEModule is the pinned Runtime Interface Emulator, installed with go install.
const RIEModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// RIEBinEnv names the environment variable that, when set, is the path of
// the aws-lambda-rie binary to run; EnsureRIE then installs nothing.
const RIEBinEnv = "AWS_LAMBDA_RIE_BIN"

// InvocationsPath is the RIE's invoke endpoint (the Lambda Invoke API path
// with the function name fixed to "function").
const InvocationsPath = "/2015-03-31/functions/function/invocations"

// EnsureRIE returns the path of the aws-lambda-rie binary: $AWS_LAMBDA_RIE_BIN
// if set, else <repo root>/.bin/aws-lambda-rie, installed from RIEModule
// when missing or not that version (see localaws.EnsureTool).
func EnsureRIE(ctx context.Context) (string, error) {
	if p := os.Getenv(RIEBinEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("aws-lambda-rie from $%s: %w", RIEBinEnv, err)
		}
		return p, nil
	}
	return localaws.EnsureTool(ctx, RIEModule, "aws-lambda-rie")
}

// Options configure StartWith. The zero value is ready to use.
type Options struct {
	// RIE is the aws-lambda-rie binary (empty: EnsureRIE).
	RIE string
	// Log, if set, also receives the RIE's and the function's output as it
	// comes (Output keeps all of it regardless).
	Log io.Writer
	// StartTimeout bounds the wait for the RIE to listen (default 15 s).
	StartTimeout time.Duration
}

// Function is a bootstrap running under the RIE.
type Function struct {
	url     string
	cmd     *exec.Cmd
	out     *output
	exited  chan struct{}
	waitErr error
	once    sync.Once
	hc      *http.Client
}

// StartWith runs `aws-lambda-rie --log-level info
// --runtime-interface-emulator-address 127.0.0.1:<free port>
// --runtime-api-address 127.0.0.1:<free port> <bootstrap>` in the
// bootstrap's directory (as /var/task) and returns once both ports accept
// connections; it retries on other ports if the RIE exits at once. The
// function does not start until the first Invoke.
//
// The environment is env plus PATH and HOME, nothing else of this process's,
// so no AWS_PROFILE or credentials of the developer leak in; and, unless env
// sets them, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE point at the
// null device so that the SDK does not read ~/.aws either.
func StartWith(ctx context.Context, bootstrap string, env map[string]string, opts Options) (*Function, error) {
	bootstrap, err := filepath.Abs(bootstrap)
	if err != nil {
		return nil, fmt.Errorf("start function: %w", err)
	}
	if st, err := os.Stat(bootstrap); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("start function: bootstrap %s is not a file", bootstrap)
	}
	rie := opts.RIE
	if rie == "" {
		if rie, err = EnsureRIE(ctx); err != nil {
			return nil, fmt.Errorf("start function: %w", err)
		}
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 15 * time.Second
	}
	var errs []error
	for attempt := 0; attempt < 3; attempt++ {
		f, err := start(ctx, rie, bootstrap, env, opts)
		if err == nil {
			return f, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil || !errors.Is(err, errExitedEarly) {
			break
		}
	}
	return nil, fmt.Errorf("start function %s: %w", bootstrap, errors.Join(errs...))
}

var errExitedEarly = errors.New("aws-lambda-rie exited before listening")

func start(ctx context.Context, rie, bootstrap string, env map[string]string, opts Options) (*Function, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// The runtime API's port is picked here too: given port 0, this RIE
	// listens on a free port but still tells the runtime
	// AWS_LAMBDA_RUNTIME_API=127.0.0.1:0, and the runtime's first /next fails.
	// Its default, 9001, would keep two emulators from running at once.
	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	f := &Function{
		url:    "http://" + addr + InvocationsPath,
		out:    newOutput(opts.Log),
		exited: make(chan struct{}),
		hc:     &http.Client{},
	}
	// Not CommandContext: the emulator outlives ctx; Close ends it.
	cmd := exec.Command(rie,
		"--log-level", "info",
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", apiAddr,
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = environ(env)
	cmd.Stdout, cmd.Stderr = f.out, f.out
	localaws.OwnProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", rie, err)
	}
	f.cmd = cmd
	go func() {
		f.waitErr = cmd.Wait()
		close(f.exited)
	}()
	// Both must listen: the RIE panics (exits) when the runtime API's port
	// is taken, possibly after its own port is already up.
	for _, a := range []string{addr, apiAddr} {
		if err := f.waitListening(ctx, a, opts.StartTimeout); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	select {
	case <-f.exited:
		return nil, fmt.Errorf("%w (%v):\n%s", errExitedEarly, f.waitErr, f.Output())
	default:
	}
	return f, nil
}

// environ is env plus PATH and HOME, and the AWS shared files pointed at the
// null device unless env names them.
func environ(env map[string]string) []string {
	all := map[string]string{
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
	}
	for _, k := range []string{"PATH", "HOME"} {
		if v, ok := os.LookupEnv(k); ok {
			all[k] = v
		}
	}
	for k, v := range env {
		all[k] = v
	}
	out := make([]string, 0, len(all))
	for k, v := range all {
		out = append(out, k+"="+v)
	}
	return out
}

// freeAddr returns 127.0.0.1:<a port free just now>.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (f *Function) waitListening(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case <-f.exited:
			return fmt.Errorf("%w (%v):\n%s", errExitedEarly, f.waitErr, f.Output())
		case <-ctx.Done():
			return fmt.Errorf("aws-lambda-rie did not listen on %s: %w\n%s", addr, ctx.Err(), f.Output())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// InvokeError is an invoke the RIE did not answer with 200: 502 with an
// empty body when the function's init failed or it crashed (its message is
// in Output), 504 on a timeout, and so on.
type InvokeError struct {
	StatusCode int
	Body       []byte
}

func (e *InvokeError) Error() string {
	return fmt.Sprintf("invoke: the emulator answered %d %s: %q", e.StatusCode, http.StatusText(e.StatusCode), e.Body)
}

// FunctionError is a handler's error as the runtime reports it.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string {
	return "function error " + e.Type + ": " + e.Message
}

// Invoke sends payload to the function and returns its response. A non-200
// answer is an *InvokeError. A 200 whose body is the runtime's error shape
// ({"errorMessage","errorType"[,"stackTrace"]} and nothing else) returns the
// body and a *FunctionError. When the RIE answered, Invoke waits (up to 2 s)
// for the invoke's REPORT line, then LastReport has it.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	id := newRequestID()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amzn-RequestId", id)
	resp, err := f.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoke: read the response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, &InvokeError{StatusCode: resp.StatusCode, Body: body}
	}
	f.out.waitReport(ctx, id, 2*time.Second)
	if fe := functionError(body); fe != nil {
		return body, fe
	}
	return body, nil
}

func functionError(body []byte) *FunctionError {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	if _, ok := m["errorType"]; !ok {
		return nil
	}
	if _, ok := m["errorMessage"]; !ok {
		return nil
	}
	for k := range m {
		if k != "errorType" && k != "errorMessage" && k != "stackTrace" {
			return nil
		}
	}
	var fe FunctionError
	if json.Unmarshal(body, &fe) != nil {
		return nil
	}
	return &fe
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Report is an invoke's REPORT line.
type Report struct {
	RequestID string
	// InitDuration is the REPORT line's "Init Duration" (first invoke only).
	// This RIE version times only the hand-over of the init request there;
	// see Function.InitDuration.
	InitDuration time.Duration
	// Duration is the invoke's duration; for the first invoke it includes
	// the init.
	Duration time.Duration
}

// Reports returns the REPORT lines so far.
func (f *Function) Reports() []Report {
	f.out.mu.Lock()
	defer f.out.mu.Unlock()
	return append([]Report(nil), f.out.reports...)
}

// LastReport returns the latest REPORT line.
func (f *Function) LastReport() (Report, bool) {
	f.out.mu.Lock()
	defer f.out.mu.Unlock()
	if len(f.out.reports) == 0 {
		return Report{}, false
	}
	return f.out.reports[len(f.out.reports)-1], true
}

// InitDuration is how long the function's init took: from the RIE starting
// the bootstrap to the runtime asking for its first event (the RIE's
// "INIT REPORT(durationMs: …)" of the init phase, what Lambda reports as Init
// Duration). Zero until the first invoke has initialised the function.
func (f *Function) InitDuration() time.Duration {
	f.out.mu.Lock()
	defer f.out.mu.Unlock()
	return f.out.initDuration
}

// Output returns everything the RIE and the function wrote so far.
func (f *Function) Output() string {
	f.out.mu.Lock()
	defer f.out.mu.Unlock()
	return f.out.buf.String()
}

// Close stops the RIE: SIGTERM first, on which it kills the function's
// process (which it runs in a process group of its own) and exits; SIGKILL
// of its process group after 3 s. Safe to call twice.
func (f *Function) Close() error {
	f.once.Do(func() {
		if f.cmd == nil || f.cmd.Process == nil {
			return
		}
		select {
		case <-f.exited:
			return
		default:
		}
		if err := f.cmd.Process.Signal(syscall.SIGTERM); err == nil {
			select {
			case <-f.exited:
				return
			case <-time.After(3 * time.Second):
			}
		}
		_ = localaws.KillProcessGroup(f.cmd)
		<-f.exited
	})
	return nil
}

// output collects the RIE's output and parses the lines that matter.
type output struct {
	mu           sync.Mutex
	buf          bytes.Buffer
	partial      []byte
	tee          io.Writer
	reports      []Report
	initDuration time.Duration
	initSeen     bool
	changed      chan struct{} // closed (and replaced) on every parsed line
}

func newOutput(tee io.Writer) *output {
	return &output{tee: tee, changed: make(chan struct{})}
}

var (
	reportLine     = regexp.MustCompile(`^REPORT RequestId: (\S+)\t(.*)$`)
	initReportLine = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
)

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	if o.tee != nil {
		_, _ = o.tee.Write(p)
	}
	o.partial = append(o.partial, p...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		o.parse(strings.TrimRight(string(o.partial[:i]), "\r"))
		o.partial = o.partial[i+1:]
	}
	return len(p), nil
}

// parse handles one line; o.mu is held.
func (o *output) parse(line string) {
	if m := reportLine.FindStringSubmatch(line); m != nil {
		r := Report{RequestID: m[1]}
		for _, field := range strings.Split(m[2], "\t") {
			k, v, ok := strings.Cut(field, ": ")
			if !ok {
				continue
			}
			d := parseMS(v)
			switch k {
			case "Init Duration":
				r.InitDuration = d
			case "Duration":
				r.Duration = d
			}
		}
		o.reports = append(o.reports, r)
	} else if m := initReportLine.FindStringSubmatch(line); m != nil && !o.initSeen {
		o.initDuration, o.initSeen = parseMS(m[1]+" ms"), true
	} else {
		return
	}
	close(o.changed)
	o.changed = make(chan struct{})
}

// parseMS parses "12.34 ms".
func parseMS(s string) time.Duration {
	v, ok := strings.CutSuffix(strings.TrimSpace(s), " ms")
	if !ok {
		return 0
	}
	ms, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0
	}
	return time.Duration(ms * float64(time.Millisecond))
}

// waitReport waits until the REPORT line of request id was parsed.
func (o *output) waitReport(ctx context.Context, id string, timeout time.Duration) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		for _, r := range o.reports {
			if r.RequestID == id {
				o.mu.Unlock()
				return
			}
		}
		ch := o.changed
		o.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		}
	}
}
