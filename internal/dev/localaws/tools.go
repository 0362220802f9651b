package localaws

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// toolInstallMu serializes EnsureTool installs inside one process; the lock
// file serializes them across processes.
var toolInstallMu sync.Mutex

// EnsureTool returns the path of the pinned Go tool module ("import/path@version",
// a main package) installed as <repo root>/.bin/<name>, installing it with
// go install when it is missing (the Lambda runtime interface emulator, say).
// An existing binary is used only when its embedded build information says
// it is exactly that package at that version, so bumping a pin reinstalls
// instead of silently running the old binary.
//
// Concurrent callers, in this process or in others, wait on the lock file
// .bin/<name>.lock, and the binary is moved into place with an atomic
// rename, so nobody ever runs a half-written file. Outside any module the
// binary goes to <user cache>/backupbridge/bin instead.
func EnsureTool(ctx context.Context, module, name string) (string, error) {
	pkg, version, ok := strings.Cut(module, "@")
	if !ok || pkg == "" || version == "" {
		return "", fmt.Errorf("install %s: %q is not import/path@version", name, module)
	}
	if name == "" || strings.ContainsAny(name, `/\`) {
		return "", fmt.Errorf("install %s: not a file name", name)
	}
	binDir, err := toolBinDir()
	if err != nil {
		return "", err
	}
	target := filepath.Join(binDir, name)
	if isPinned(target, pkg, version) {
		return target, nil
	}

	toolInstallMu.Lock()
	defer toolInstallMu.Unlock()
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", fmt.Errorf("install %s: %w", name, err)
	}
	unlock, err := lockFile(ctx, filepath.Join(binDir, name+".lock"))
	if err != nil {
		return "", fmt.Errorf("install %s: lock: %w", name, err)
	}
	defer unlock()
	if isPinned(target, pkg, version) { // another process installed it while we waited
		return target, nil
	}
	if err := installTool(ctx, module, pkg, binDir, target); err != nil {
		return "", fmt.Errorf("install %s: %w", name, err)
	}
	return target, nil
}

// isPinned reports whether p is a Go binary built from package pkg of its
// module at version.
func isPinned(p, pkg, version string) bool {
	if !isFile(p) {
		return false
	}
	bi, err := buildinfo.ReadFile(p)
	return err == nil && bi.Path == pkg && bi.Main.Version == version
}

var majorVersion = regexp.MustCompile(`^v[0-9]+$`)

// installedName is the file name go install gives package pkg: its last path
// element, or the one before a major-version suffix (…/cmd/v2 → cmd).
func installedName(pkg string) string {
	base := path.Base(pkg)
	if dir := path.Dir(pkg); majorVersion.MatchString(base) && dir != "." {
		base = path.Base(dir)
	}
	return base
}

// installTool runs go install with GOBIN set to a fresh directory inside
// binDir (same file system, so the final rename is atomic) and moves the
// binary to target.
func installTool(ctx context.Context, module, pkg, binDir, target string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go command is not on PATH: %w", err)
	}
	tmp, err := os.MkdirTemp(binDir, ".install-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	cmd := exec.CommandContext(ctx, goTool, "install", module)
	// Outside this module, with neutral flags: "go install pkg@version"
	// ignores go.mod, but GOFLAGS=-mod=vendor or a go.work would break it.
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=", "GOWORK=off", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go install %s: %w\n%s", module, err, out)
	}
	built := filepath.Join(tmp, installedName(pkg))
	if !isFile(built) {
		return fmt.Errorf("go install %s produced no %s", module, built)
	}
	if err := os.Rename(built, target); err != nil {
		return err
	}
	return nil
}

// OwnProcessGroup prepares cmd (before Start) to lead a new process group,
// so that KillProcessGroup also reaches whatever it spawns; on Linux the
// kernel also kills it when this process dies without cleaning up.
func OwnProcessGroup(cmd *exec.Cmd) { ownProcessGroup(cmd) }

// KillProcessGroup kills the process group of a command started after
// OwnProcessGroup (or the process alone where groups do not exist).
func KillProcessGroup(cmd *exec.Cmd) error {
	err := killGroup(cmd)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}
