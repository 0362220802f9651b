package localaws

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// GoawsModule is the goaws version the local stack runs, installed with
// go install (goaws is a tool, not a dependency of this module). v0.5.4 is the
// first line that speaks the AWS JSON 1.0 protocol the current SQS SDK uses;
// v0.4.x answers in XML and the SDK fails with "invalid character 'B'".
const GoawsModule = "github.com/Admiral-Piett/goaws/app/cmd@v0.5.4"

// GoawsBinEnv names the environment variable that, when set, is the path of
// the goaws binary to run; EnsureGoaws then installs nothing.
const GoawsBinEnv = "GOAWS_BIN"

// goawsInstallMu serializes installs inside one process; the lock file
// serializes them across processes (go test runs one binary per package).
var goawsInstallMu sync.Mutex

// EnsureGoaws returns the path of a goaws binary, installing it if needed:
//
//  1. $GOAWS_BIN, if set (it must exist);
//  2. <repo root>/.bin/goaws, if it exists (repo root is the nearest
//     directory at or above the working directory holding a go.mod; the
//     Makefile installs there);
//  3. otherwise GoawsModule is installed to <repo root>/.bin/goaws with the go
//     command on PATH (it needs the module proxy or a warm module cache).
//
// Concurrent callers, in this process or in others, wait on a lock file
// (.bin/goaws.lock) and the binary is moved into place with an atomic
// rename, so nobody ever runs a half-written file. Outside any module the
// binary goes to the user cache directory instead.
func EnsureGoaws(ctx context.Context) (string, error) {
	if p := os.Getenv(GoawsBinEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("goaws from $%s: %w", GoawsBinEnv, err)
		}
		return p, nil
	}
	binDir, err := goawsBinDir()
	if err != nil {
		return "", err
	}
	target := filepath.Join(binDir, "goaws")
	if isFile(target) {
		return target, nil
	}

	goawsInstallMu.Lock()
	defer goawsInstallMu.Unlock()
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", fmt.Errorf("install goaws: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(binDir, "goaws.lock"))
	if err != nil {
		return "", fmt.Errorf("install goaws: lock: %w", err)
	}
	defer unlock()
	if isFile(target) { // another process installed it while we waited
		return target, nil
	}
	if err := installGoaws(ctx, binDir, target); err != nil {
		return "", err
	}
	return target, nil
}

// installGoaws runs go install with GOBIN set to a fresh directory inside
// binDir (same file system, so the final rename is atomic) and moves the
// resulting binary, named cmd after its package directory, to target.
func installGoaws(ctx context.Context, binDir, target string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("install goaws: the go command is not on PATH (set $%s to a goaws binary instead): %w", GoawsBinEnv, err)
	}
	tmp, err := os.MkdirTemp(binDir, ".goaws-install-")
	if err != nil {
		return fmt.Errorf("install goaws: %w", err)
	}
	defer os.RemoveAll(tmp)

	cmd := exec.CommandContext(ctx, goTool, "install", GoawsModule)
	// Run outside this module with neutral flags: "go install pkg@version"
	// ignores go.mod, but a GOFLAGS=-mod=vendor or a go.work would make it fail.
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=", "GOWORK=off", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("install goaws: go install %s: %w\n%s", GoawsModule, err, out)
	}
	built := filepath.Join(tmp, "cmd")
	if !isFile(built) {
		return fmt.Errorf("install goaws: go install %s produced no %s", GoawsModule, built)
	}
	if err := os.Rename(built, target); err != nil {
		return fmt.Errorf("install goaws: %w", err)
	}
	return nil
}

// goawsBinDir is <repo root>/.bin, or <user cache>/backupbridge/bin outside
// a module.
func goawsBinDir() (string, error) {
	root, err := RepoRoot()
	if err == nil {
		return filepath.Join(root, ".bin"), nil
	}
	cache, cerr := os.UserCacheDir()
	if cerr != nil {
		return "", fmt.Errorf("goaws install directory: %w", errors.Join(err, cerr))
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
