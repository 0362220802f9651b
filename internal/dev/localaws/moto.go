package localaws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// MotoServer is moto_server (the Python AWS stand-in) on a loopback port,
// for the store tests that also run against a second DynamoDB
// implementation: moto keeps REMOVE, TTL attributes, transactions and
// ReturnValuesOnConditionCheckFailure as DynamoDB does, where minidyn has
// gaps, so code that bends to minidyn is caught. It is not used by make
// run, which keeps its in-process minidyn.
type MotoServer struct {
	cmd      *exec.Cmd
	endpoint string
}

// ErrNoMoto is returned by StartMoto when moto_server is not on $PATH.
var ErrNoMoto = errors.New("moto_server is not installed (pip install 'moto[server]')")

// StartMoto starts moto_server on a free loopback port and waits until it
// answers. The process dies with this one (its own process group, killed
// on Close or when this process exits).
func StartMoto(ctx context.Context) (*MotoServer, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, ErrNoMoto
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start moto: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = nil, nil
	cmd.Env = append(os.Environ(), "MOTO_ALLOW_NONEXISTENT_REGION=true")
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto: %w", err)
	}
	m := &MotoServer{cmd: cmd, endpoint: "http://127.0.0.1:" + strconv.Itoa(port)}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.endpoint+"/moto-api/", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			return m, nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("start moto: moto_server exited: %v", err)
		case <-ctx.Done():
			_ = killGroup(cmd)
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = killGroup(cmd)
			return nil, errors.New("start moto: moto_server did not answer within 30 s")
		}
	}
}

// Endpoint is the server's URL.
func (m *MotoServer) Endpoint() string { return m.endpoint }

// Close stops the server.
func (m *MotoServer) Close() { _ = killGroup(m.cmd) }
