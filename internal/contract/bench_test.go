package contract

import (
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkParse parses each raw sample (pretty-printed, as in events/).
func BenchmarkParse(b *testing.B) {
	for _, p := range samplePaths(b) {
		body := readFile(b, p)
		b.Run(strings.TrimSuffix(filepath.Base(p), ".json"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := Parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseRefused parses bodies the fast path refuses only at their
// end, so that the tree reader reads them again to name the problem: the
// most a refused body costs.
func BenchmarkParseRefused(b *testing.B) {
	body := readFile(b, samplesDir+"/notification-backup-failure.json")
	for _, c := range []struct{ name, suffix string }{
		{"data-after-the-object", `{}`},
		{"not-json", `x`},
	} {
		bad := append(append([]byte{}, body...), c.suffix...)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(bad); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
