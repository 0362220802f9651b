package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyEvents copies the raw samples and the schedule of events/ into a
// temporary directory.
func copyEvents(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	paths, _ := filepath.Glob("../../events/*.json")
	paths = append(paths, "../../events/schedule/resync.json")
	for _, p := range paths {
		rel, _ := filepath.Rel("../../events", p)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestWriteThenCheck(t *testing.T) {
	dir := copyEvents(t)
	if err := run([]string{"-dir", dir, "-check"}, io.Discard); err == nil {
		t.Fatal("-check passed without apigw twins")
	}
	if err := run([]string{"-dir", dir, "-at", "2026-03-10T12:00:00Z"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := run([]string{"-dir", dir, "-check"}, &out); err != nil {
		t.Fatalf("-check after writing: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "re-sign") {
		t.Errorf("-check does not say the old signatures are stale:\n%s", out.String())
	}

	// A twin without its sample, and a sample changed after signing.
	if err := os.WriteFile(filepath.Join(dir, "apigw", "orphan.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "usage-snapshot.json")
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), "14", "15", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run([]string{"-dir", dir, "-check"}, &out); err == nil {
		t.Fatal("-check passed with an orphan twin and a changed sample")
	}
	for _, want := range []string{"orphan.json: no raw sample", "usage-snapshot.json: body differs"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-check output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestCommittedEventsCheck(t *testing.T) {
	var out strings.Builder
	if err := run([]string{"-dir", "../../events", "-check"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
}

func TestBrokenSampleIsReported(t *testing.T) {
	dir := copyEvents(t)
	if err := os.WriteFile(filepath.Join(dir, "broken.json"), []byte(`{"specVersion":"2.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run([]string{"-dir", dir}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "broken.json: specVersion") {
		t.Fatalf("err = %v, want the broken sample named", err)
	}
}

// A removal sample (contract 1.1) written with specVersion 1.0 is reported,
// naming the type; the same body with 1.1 is signed.
func TestRemovalSampleNeedsVersion11(t *testing.T) {
	dir := copyEvents(t)
	p := filepath.Join(dir, "account-removed.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"specVersion": "1.1"`) {
		t.Fatalf("account-removed.json is not a 1.1 sample:\n%s", b)
	}
	if err := run([]string{"-dir", dir, "-at", "2026-03-10T12:00:00Z"}, io.Discard); err != nil {
		t.Fatalf("the 1.1 sample: %v", err)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), `"specVersion": "1.1"`, `"specVersion": "1.0"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	err = run([]string{"-dir", dir}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `account-removed.json: type: account.removed needs specVersion "1.1"`) {
		t.Fatalf("err = %v, want the 1.0 removal sample named", err)
	}
}
