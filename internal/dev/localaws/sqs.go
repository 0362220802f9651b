package localaws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// SQSOptions configure StartSQS. The zero value is ready to use.
type SQSOptions struct {
	// Binary is the goaws binary to run; empty means EnsureGoaws.
	Binary string
	// Port is goaws's port on 127.0.0.1. Zero means $BACKUPBRIDGE_LOCAL_SQS_PORT
	// when set (`make run` sets it, so that events/env.json knows the
	// endpoint), else a free port.
	Port int
	// Dir is where the config file (and, without LogWriter, goaws.log) are
	// written. Empty means a new temporary directory, removed by Close.
	Dir string
	// LogWriter receives goaws's stdout and stderr (JSON lines). Nil means
	// the file goaws.log in Dir.
	LogWriter io.Writer
	// StartTimeout bounds the wait for goaws to answer. Zero means 15s.
	StartTimeout time.Duration
	// Debug starts goaws with -debug (it logs every request).
	Debug bool
}

// SQSPortEnv names the environment variable holding the port StartSQS gives
// goaws when SQSOptions.Port is zero. Unset or 0 means a free port.
const SQSPortEnv = "BACKUPBRIDGE_LOCAL_SQS_PORT"

// SQSServer is a running goaws process serving SQS on a loopback port.
type SQSServer struct {
	endpoint string
	dir      string
	logPath  string
	ownDir   bool
	cmd      *exec.Cmd
	logFile  *os.File
	exited   chan struct{} // closed when the process has been waited for
	waitErr  error
	once     sync.Once
	closeErr error
}

// StartSQS starts goaws as a child process and returns once it answers
// ListQueues through the real SDK client.
//
// goaws gets its own config file (environment "Local": host 127.0.0.1, the
// port, region us-east-1, account 100010001000, no predefined queues or
// topics, default visibility timeout 30s, no long polling by default) and
// runs with that directory as its working directory, because without
// -config it walks the working directory looking for any goaws.yaml.
//
// goaws listens on 127.0.0.1 only (see GoawsCommand), and StartSQS fails if
// the system shows its port open on any other address. Without a fixed
// port, the port is picked free on 127.0.0.1 just before the start, and the
// start is retried on another port if goaws exits at once because the port
// got taken.
func StartSQS(ctx context.Context, opts SQSOptions) (*SQSServer, error) {
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = EnsureGoaws(ctx); err != nil {
			return nil, fmt.Errorf("start sqs: %w", err)
		}
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 15 * time.Second
	}
	if opts.Port == 0 {
		port, err := portFromEnv(SQSPortEnv)
		if err != nil {
			return nil, fmt.Errorf("start sqs: %w", err)
		}
		opts.Port = port
	}
	dir, ownDir := opts.Dir, false
	if dir == "" {
		d, err := os.MkdirTemp("", "goaws-")
		if err != nil {
			return nil, fmt.Errorf("start sqs: %w", err)
		}
		dir, ownDir = d, true
	}
	// goaws runs inside dir and is given its config by path: make it absolute.
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("start sqs: %w", err)
	}
	dir = abs

	var errs []error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := startGoaws(ctx, bin, dir, ownDir, opts)
		if err == nil {
			return s, nil
		}
		if opts.Port != 0 && errors.Is(err, errExitedEarly) {
			err = fmt.Errorf("%w (is port %d taken? it is SQSOptions.Port or $%s)", err, opts.Port, SQSPortEnv)
		}
		errs = append(errs, err)
		if ctx.Err() != nil || !errors.Is(err, errExitedEarly) || opts.Port != 0 {
			break
		}
	}
	if ownDir {
		_ = os.RemoveAll(dir)
	}
	return nil, fmt.Errorf("start sqs: %w", errors.Join(errs...))
}

var errExitedEarly = errors.New("goaws exited before answering")

func startGoaws(ctx context.Context, bin, dir string, ownDir bool, opts SQSOptions) (*SQSServer, error) {
	port := opts.Port
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, err
		}
	} else if err := portFree(port); err != nil {
		// Checked first: a goaws already on the port would answer the
		// readiness probe while ours exits.
		return nil, err
	}
	cfgPath := filepath.Join(dir, "goaws.yaml")
	if err := os.WriteFile(cfgPath, []byte(goawsConfig(port)), 0o644); err != nil {
		return nil, err
	}

	s := &SQSServer{
		endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		dir:      dir,
		ownDir:   ownDir,
		exited:   make(chan struct{}),
	}
	out := opts.LogWriter
	if out == nil {
		s.logPath = filepath.Join(dir, "goaws.log")
		f, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		s.logFile, out = f, f
	}

	args := []string{"-config", cfgPath}
	if opts.Debug {
		args = append(args, "-debug")
	}
	args = append(args, "Local")
	// Not CommandContext: the server outlives the start-up context; Close
	// ends it.
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		s.closeLog()
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	s.cmd = cmd
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()

	if err := s.waitReady(ctx, opts.StartTimeout); err != nil {
		_ = s.stop()
		return nil, err
	}
	if err := checkLoopbackOnly(port); err != nil {
		_ = s.stop()
		return nil, err
	}
	return s, nil
}

// goawsConfig is the goaws.yaml for one server. Queues are created by
// CreateQueues through the API, like CloudFormation would, never here.
func goawsConfig(port int) string {
	return fmt.Sprintf(`Local:
  Host: 127.0.0.1
  Port: %d
  Region: %s
  AccountId: "%s"
  LogToFile: false
  EnableDuplicates: false
  QueueAttributeDefaults:
    VisibilityTimeout: 30
    ReceiveMessageWaitTimeSeconds: 0
  Queues: []
  Topics: []
`, port, Region, AccountID)
}

// portFree fails when port is taken on 127.0.0.1.
func portFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d (SQSOptions.Port or $%s) is taken: %w", port, SQSPortEnv, err)
	}
	return l.Close()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *SQSServer) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cfg, err := AWSConfig(ctx)
	if err != nil {
		return err
	}
	client := SQSClient(cfg, s.endpoint)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		callCtx, callCancel := context.WithTimeout(ctx, time.Second)
		_, lastErr = client.ListQueues(callCtx, &sqs.ListQueuesInput{}, func(o *sqs.Options) {
			o.RetryMaxAttempts = 1
		})
		callCancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("%w (%v); see %s", errExitedEarly, s.waitErr, s.logWhere())
		case <-ctx.Done():
			return fmt.Errorf("goaws did not answer on %s within %s: %w; see %s", s.endpoint, timeout, lastErr, s.logWhere())
		case <-tick.C:
		}
	}
}

func (s *SQSServer) logWhere() string {
	if s.logPath != "" {
		return s.logPath
	}
	return "its log writer"
}

// Endpoint is the base URL to give SQSClient, http://127.0.0.1:PORT.
func (s *SQSServer) Endpoint() string { return s.endpoint }

// LogPath is the file goaws writes to, or "" when SQSOptions.LogWriter was set.
func (s *SQSServer) LogPath() string { return s.logPath }

// QueueARN is the ARN goaws gives a queue of that name.
func (s *SQSServer) QueueARN(name string) string {
	return "arn:aws:sqs:" + Region + ":" + AccountID + ":" + name
}

// Close kills goaws (its whole process group) and waits for it to exit. The
// temporary directory StartSQS made is removed; a Dir given in SQSOptions is
// left alone. It is safe to call twice.
func (s *SQSServer) Close() error {
	s.once.Do(func() {
		s.closeErr = s.stop()
		if s.ownDir {
			if err := os.RemoveAll(s.dir); err != nil && s.closeErr == nil {
				s.closeErr = err
			}
		}
	})
	return s.closeErr
}

func (s *SQSServer) stop() error {
	var err error
	select {
	case <-s.exited:
	default:
		err = killGroup(s.cmd)
		<-s.exited
	}
	s.closeLog()
	if err != nil {
		return fmt.Errorf("stop goaws: %w", err)
	}
	return nil
}

func (s *SQSServer) closeLog() {
	if s.logFile != nil {
		_ = s.logFile.Close()
	}
}
