package emulator

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"

	"github.com/efs-cw/backupbridge/internal/dev/localaws"
)

// BuildFlags are the Makefile's LAMBDA_FLAGS: no legacy RPC mode of
// aws-lambda-go, reproducible paths, no symbol table or DWARF.
var BuildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w"}

var functionName = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// BuildFunction builds ./functions/<name> the way the Makefile builds a
// Lambda function (CGO_ENABLED=0, BuildFlags) into <outDir>/<name>/bootstrap,
// but for the HOST's GOOS/GOARCH, because the emulator runs the binary
// natively here: on an amd64 machine this is not the linux/arm64 binary that
// is deployed (see BuildFunctionFor for that one).
func BuildFunction(ctx context.Context, name, outDir string) (string, error) {
	return BuildFunctionFor(ctx, name, outDir, runtime.GOOS, runtime.GOARCH)
}

// BuildFunctionFor is BuildFunction for a given GOOS/GOARCH (linux/arm64 is
// what Lambda runs).
func BuildFunctionFor(ctx context.Context, name, outDir, goos, goarch string) (string, error) {
	if !functionName.MatchString(name) {
		return "", fmt.Errorf("build function %q: not a function name", name)
	}
	root, err := localaws.RepoRoot()
	if err != nil {
		return "", fmt.Errorf("build function %s: %w", name, err)
	}
	if _, err := os.Stat(filepath.Join(root, "functions", name)); err != nil {
		return "", fmt.Errorf("build function %s: %w", name, err)
	}
	return BuildPackageFor(ctx, "./functions/"+name, name, outDir, goos, goarch)
}

// BuildPackageFor builds the main package pkg (a path relative to the
// repository's root, "./functions/worker") as outDir/<name>/bootstrap with
// the functions' build flags.
func BuildPackageFor(ctx context.Context, pkg, name, outDir, goos, goarch string) (string, error) {
	root, err := localaws.RepoRoot()
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	out, err := filepath.Abs(filepath.Join(outDir, name, "bootstrap"))
	if err != nil {
		return "", fmt.Errorf("build function %s: %w", name, err)
	}
	args := append([]string{"build"}, BuildFlags...)
	args = append(args, "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build function %s for %s/%s: %w\n%s", name, goos, goarch, err, b)
	}
	return out, nil
}
