package emulator_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/efs-cw/backupbridge/internal/dev/emulator"
)

// coldStarts is how many cold starts TestReportBinarySizeAndInit measures per
// function.
const coldStarts = 5

// TestReportBinarySizeAndInit reports, per function, the size of the
// deployed linux/arm64 bootstrap (built as the Makefile builds it) and the
// init duration of the host build under the Lambda RIE (the median of
// coldStarts cold starts, each a fresh emulator; init = from the RIE
// starting the bootstrap to the runtime's first /next, the RIE's
// "INIT REPORT"). Run it with
//
//	REPORT_LAMBDA=1 go test -run '^TestReportBinarySizeAndInit$' -count=1 -v ./internal/emulator
//
// or `make bench-lambda`. The init figure is this machine's, natively, not
// Lambda's: no Firecracker, no arm64, no code download; compare functions and
// revisions with it, not with CloudWatch.
func TestReportBinarySizeAndInit(t *testing.T) {
	if os.Getenv("REPORT_LAMBDA") != "1" || testing.Short() {
		t.Skip("set REPORT_LAMBDA=1 to build the functions and measure their cold starts")
	}
	r := setup(t, unreachableSite)
	armDir := filepath.Join(t.TempDir(), "linux-arm64")

	// A cheap invoke per function, touching no AWS service where possible:
	// the init is what is measured.
	payloads := map[string]any{
		"webhook": events.APIGatewayV2HTTPRequest{RawPath: "/v1/partners/demo/events",
			RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST"}}}, // 401, no headers
		"worker": events.SQSEvent{Records: []events.SQSMessage{}},
		"resync": events.EventBridgeEvent{DetailType: "Scheduled Event", Source: "aws.events"},
		"admin":  adminRequest("GET", "/v1/admin/nothing", ""), // 404
	}

	// A hello-world built the same way, started the same way, in the same
	// rounds: the floor each function's init is compared with. The cold
	// starts alternate between the functions, so that the machine's load
	// falls on all of them alike.
	names := append([]string{"hello"}, functions...)
	payloads["hello"] = map[string]any{}
	arm, host := map[string]string{}, map[string]string{}
	for _, name := range names {
		pkg := "./functions/" + name
		if name == "hello" {
			pkg = "./internal/dev/emulator/hello"
		}
		var err error
		if arm[name], err = emulator.BuildPackageFor(t.Context(), pkg, name, armDir, "linux", "arm64"); err != nil {
			t.Fatal(err)
		}
		host[name] = r.bins[name]
		if name == "hello" {
			if host[name], err = emulator.BuildPackageFor(t.Context(), pkg, name, t.TempDir(), runtime.GOOS, runtime.GOARCH); err != nil {
				t.Fatal(err)
			}
		}
	}
	inits, firsts := map[string][]time.Duration{}, map[string][]time.Duration{}
	for i := 0; i < coldStarts; i++ {
		for _, name := range names {
			env := map[string]string{}
			if name != "hello" {
				env = r.env(t, name)
			}
			f, err := emulator.StartWith(t.Context(), host[name], env, emulator.Options{RIE: r.rie})
			if err != nil {
				t.Fatal(err)
			}
			invoke(t, f, payloads[name])
			init := f.InitDuration()
			rep, ok := f.LastReport()
			_ = f.Close()
			if init <= 0 || !ok {
				t.Fatalf("%s: no init duration / REPORT line in:\n%s", name, f.Output())
			}
			inits[name], firsts[name] = append(inits[name], init), append(firsts[name], rep.Duration)
		}
	}
	floor := median(inits["hello"])
	var rows []string
	for _, name := range names {
		armSize, hostSize := fileSize(t, arm[name]), fileSize(t, host[name])
		rows = append(rows, fmt.Sprintf("%-8s %10s %10d %10s %12s %12s %12s   %v",
			name, mib(armSize), armSize, mib(hostSize), ms(median(inits[name])), ms(median(inits[name])-floor), ms(median(firsts[name])), msList(inits[name])))
	}
	t.Logf("Lambda functions (init under aws-lambda-rie, host build, median of %d cold starts, alternated; over hello = init − hello-world's):\n"+
		"%-8s %10s %10s %10s %12s %12s %12s   %s\n%s",
		coldStarts, "function", "arm64", "bytes", runtime.GOOS+"/"+runtime.GOARCH, "init", "over hello", "1st invoke", "inits", strings.Join(rows, "\n"))
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func msList(ds []time.Duration) string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
	}
	return "[" + strings.Join(out, " ") + "] ms"
}
