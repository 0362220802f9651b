package localaws

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// The local SQS is goaws v0.5.4 (github.com/Admiral-Piett/goaws, pinned in
// go.mod), the first line that speaks the AWS JSON 1.0 protocol the current
// SQS SDK uses (v0.4.x answers in XML and the SDK fails with "invalid
// character 'B'").
//
// # Loopback only
//
// goaws has no authentication, and its own command (app/cmd) always listens
// on 0.0.0.0: the Host of its yaml config only goes into the queue URLs it
// hands out, and it has no bind-address flag. Run as is, anyone who can reach
// the machine could send an unsigned message to the events queue and have
// the worker open a ConnectWise ticket for it, bypassing the webhook's
// signature check.
//
// So the local stack does not run goaws's command but GoawsCommand, package
// ./goawsloopback of this module: goaws's main with 127.0.0.1 as the listen
// address, around the very same goaws packages (conf, router, gosqs). It is
// declared with a tool directive in go.mod and built by `go tool -n`, which
// keeps the binary in the Go build cache (rebuilt when goaws's pin or the
// command changes, never stale). A reverse proxy in front of the stock goaws
// would not help, since goaws itself would still listen on every interface.
//
// StartSQS also checks, where the system lists its sockets (Linux:
// /proc/net/tcp and /proc/net/tcp6), that nothing listens on goaws's port on
// any address but loopback, and refuses to go on otherwise, so a $GOAWS_BIN
// pointing at the stock goaws fails loudly rather than exposing the queue.

// GoawsVersion is the goaws release GoawsCommand is built from (the version
// of github.com/Admiral-Piett/goaws required by go.mod).
const GoawsVersion = "v0.5.4"

// GoawsCommand is the package of the loopback-only goaws command, declared
// as a tool in go.mod.
const GoawsCommand = "github.com/efs-cw/backupbridge/internal/dev/localaws/goawsloopback"

// GoawsBinEnv names the environment variable that, when set, is the path of
// the goaws binary to run; EnsureGoaws then builds nothing. It must listen on
// loopback only: StartSQS checks.
const GoawsBinEnv = "GOAWS_BIN"

var goawsBuild struct {
	sync.Mutex
	path string
}

// EnsureGoaws returns the path of a goaws binary:
//
//  1. $GOAWS_BIN, if set (it must exist);
//  2. otherwise GoawsCommand as built by `go tool -n goawsloopback`, run in
//     the repo root (the nearest directory at or above the working directory
//     holding a go.mod), which prints the path of the binary in the Go build
//     cache, building it first when needed. The path is remembered for the
//     rest of the process.
func EnsureGoaws(ctx context.Context) (string, error) {
	if p := os.Getenv(GoawsBinEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("goaws from $%s: %w", GoawsBinEnv, err)
		}
		return p, nil
	}
	goawsBuild.Lock()
	defer goawsBuild.Unlock()
	if goawsBuild.path != "" && isFile(goawsBuild.path) {
		return goawsBuild.path, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", fmt.Errorf("build goaws: %w", err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build goaws: the go command is not on PATH: %w", err)
	}
	cmd := exec.CommandContext(ctx, goTool, "tool", "-n", GoawsCommand)
	cmd.Dir = root
	// Neutral flags: GOFLAGS=-mod=vendor or a go.work would change the build.
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("build goaws: go tool -n %s: %w\n%s", GoawsCommand, err, stderr.String())
	}
	p := strings.TrimSpace(string(out))
	if !filepath.IsAbs(p) || !isFile(p) {
		return "", fmt.Errorf("build goaws: go tool -n %s printed %q, not a binary", GoawsCommand, out)
	}
	goawsBuild.path = p
	return p, nil
}

// toolBinDir is <repo root>/.bin, or <user cache>/backupbridge/bin outside
// a module.
func toolBinDir() (string, error) {
	root, err := RepoRoot()
	if err == nil {
		return filepath.Join(root, ".bin"), nil
	}
	cache, cerr := os.UserCacheDir()
	if cerr != nil {
		return "", fmt.Errorf("tool install directory: %w", errors.Join(err, cerr))
	}
	return filepath.Join(cache, "backupbridge", "bin"), nil
}

// RepoRoot returns the nearest directory at or above the working directory
// that holds a go.mod file.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("repo root: %w", err)
	}
	for {
		if isFile(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("repo root: no go.mod at or above the working directory: %w", fs.ErrNotExist)
		}
		dir = parent
	}
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// ErrSocketsUnlisted is returned by ListeningAddrs where the system does not
// list its sockets in /proc/net (every system but Linux).
var ErrSocketsUnlisted = errors.New("listening sockets are not listed in /proc/net on this system")

// ListeningAddrs returns the local addresses of the TCP sockets (IPv4 and
// IPv6) that listen on port in this network namespace, read from
// /proc/net/tcp and /proc/net/tcp6. A socket on every interface shows as
// 0.0.0.0 or ::. Where neither file exists it returns ErrSocketsUnlisted.
func ListeningAddrs(port int) ([]netip.Addr, error) {
	var addrs []netip.Addr
	found := false
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // no IPv6, or not Linux
		}
		if err != nil {
			return nil, err
		}
		found = true
		a, err := parseProcNetTCP(f, port)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		addrs = append(addrs, a...)
	}
	if !found {
		return nil, ErrSocketsUnlisted
	}
	return addrs, nil
}

// tcpListen is the state of a listening socket in /proc/net/tcp.
const tcpListen = "0A"

// parseProcNetTCP reads a /proc/net/tcp or /proc/net/tcp6 table and returns
// the local addresses of the sockets listening on port. Its local_address
// column is the address as 32-bit words printed in hexadecimal in the host's
// byte order (127.0.0.1 is 0100007F on a little-endian machine), a colon, and
// the port in hexadecimal.
func parseProcNetTCP(r io.Reader, port int) ([]netip.Addr, error) {
	var out []netip.Addr
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first { // the header line
			first = false
			continue
		}
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != tcpListen {
			continue
		}
		hexAddr, hexPort, ok := strings.Cut(fields[1], ":")
		if !ok {
			return nil, fmt.Errorf("bad local address %q", fields[1])
		}
		p, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			return nil, fmt.Errorf("bad port in %q: %w", fields[1], err)
		}
		if int(p) != port {
			continue
		}
		if len(hexAddr) != 8 && len(hexAddr) != 32 {
			return nil, fmt.Errorf("bad address in %q", fields[1])
		}
		raw := make([]byte, len(hexAddr)/2)
		for w := 0; w < len(hexAddr); w += 8 {
			v, err := strconv.ParseUint(hexAddr[w:w+8], 16, 32)
			if err != nil {
				return nil, fmt.Errorf("bad address in %q: %w", fields[1], err)
			}
			binary.NativeEndian.PutUint32(raw[w/2:], uint32(v))
		}
		addr, _ := netip.AddrFromSlice(raw)
		out = append(out, addr)
	}
	return out, sc.Err()
}

// checkLoopbackOnly fails when a socket listens on port on an address that
// is not loopback (0.0.0.0 and :: included). Where sockets cannot be listed
// it checks nothing.
func checkLoopbackOnly(port int) error {
	addrs, err := ListeningAddrs(port)
	if errors.Is(err, ErrSocketsUnlisted) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list listening sockets: %w", err)
	}
	for _, a := range addrs {
		if !a.Unmap().IsLoopback() {
			return fmt.Errorf("goaws listens on %s port %d, not only on loopback: it has no authentication, so anyone reaching this machine could queue events; run the loopback-only build (%s), not the stock goaws", a, port, GoawsCommand)
		}
	}
	return nil
}
