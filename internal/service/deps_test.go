package service

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestFunctionsLinkOnlyWhatTheyRun checks the import graph of each
// functions/<name>: a function's binary carries its own handler and what
// that handler uses, not the other functions' code nor the workshop.
func TestFunctionsLinkOnlyWhatTheyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const internal = "github.com/efs-cw/backupbridge/internal/"
	for _, c := range []struct {
		function string
		must     []string
		mustNot  []string
	}{
		{"webhook", []string{"webhook", "lambdahttp"},
			[]string{"admin", "worker", "resync", "tickets", "datasync", "eventlog", "managedid", "usage", "syncslot", "metrics"}},
		{"worker", []string{"worker", "tickets", "datasync"},
			[]string{"admin", "webhook", "resync", "lambdahttp"}},
		{"resync", []string{"resync"},
			[]string{"admin", "webhook", "worker", "tickets", "datasync", "lambdahttp"}},
		{"admin", []string{"admin", "lambdahttp"},
			[]string{"webhook", "worker"}},
	} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "../../functions/"+c.function).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps ./functions/%s: %v\n%s", c.function, err, out)
		}
		var deps []string
		for _, p := range strings.Fields(string(out)) {
			if rest, ok := strings.CutPrefix(p, internal); ok {
				deps = append(deps, rest)
			}
		}
		for _, p := range c.must {
			if !slices.Contains(deps, p) {
				t.Errorf("functions/%s does not link internal/%s (deps %v): is this test out of date?", c.function, p, deps)
			}
		}
		for _, p := range deps {
			if slices.Contains(c.mustNot, p) || strings.HasPrefix(p, "dev/") || (strings.HasPrefix(p, "service/") && p != "service/"+c.function+"fn") {
				t.Errorf("functions/%s links internal/%s, which it does not run", c.function, p)
			}
		}
	}
}
