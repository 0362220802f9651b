package localaws

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// GoawsModule is the goaws version the local stack runs, installed with
// go install (goaws is a tool, not a dependency of this module). v0.5.4 is the
// first line that speaks the AWS JSON 1.0 protocol the current SQS SDK uses;
// v0.4.x answers in XML and the SDK fails with "invalid character 'B'".
const GoawsModule = "github.com/Admiral-Piett/goaws/app/cmd@v0.5.4"

// GoawsBinEnv names the environment variable that, when set, is the path of
// the goaws binary to run; EnsureGoaws then installs nothing.
const GoawsBinEnv = "GOAWS_BIN"

// EnsureGoaws returns the path of a goaws binary, installing it if needed:
//
//  1. $GOAWS_BIN, if set (it must exist);
//  2. otherwise EnsureTool(GoawsModule) as <repo root>/.bin/goaws (repo root
//     is the nearest directory at or above the working directory holding a
//     go.mod; `make tools` installs there too).
func EnsureGoaws(ctx context.Context) (string, error) {
	if p := os.Getenv(GoawsBinEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("goaws from $%s: %w", GoawsBinEnv, err)
		}
		return p, nil
	}
	return EnsureTool(ctx, GoawsModule, "goaws")
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
