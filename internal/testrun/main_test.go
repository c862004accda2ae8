package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sample is a module whose tests pass, fail, skip for want of something
// (testutil.Need's message form) and skip for another reason.
var sample = map[string]string{
	"go.mod": "module example.com/sample\n\ngo 1.21\n",
	"a/a_test.go": `package a

import "testing"

func TestPasses(t *testing.T) { t.Log("chatter of a passing test") }

func TestFails(t *testing.T) {
	t.Log("context of the failure")
	t.Error("the assertion that failed")
}

func TestNeedsRoot(t *testing.T) { t.Skip("needs root: TAP devices") }
`,
	"b/b_test.go": `package b

import "testing"

func TestNeedsRootToo(t *testing.T) { t.Skipf("needs root: %s", "namespaces") }

func TestShort(t *testing.T) { t.Skip("long; not with -short") }

func TestOK(t *testing.T) {}
`,
}

func writeSample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range sample {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func goCmd(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not in PATH: %v", err)
	}
	return p
}

// The real go test -json stream of the sample: plain output for the
// failure only, go's exit status, and one summary line grouping the skips
// by what they need.
func TestPrintsFailuresAndOneSkipLine(t *testing.T) {
	t.Setenv("CI", "")
	dir := writeSample(t)
	var out, errb bytes.Buffer
	code := run(goCmd(t), dir, []string{"-count=1", "./..."}, &out, &errb)
	if code != 1 {
		t.Errorf("exit %d, want 1 (a test failed)\nstdout:\n%s\nstderr:\n%s", code, &out, &errb)
	}
	got := out.String()
	for _, want := range []string{
		"--- FAIL: TestFails",
		"context of the failure",
		"the assertion that failed",
		"FAIL\texample.com/sample/a",
		"ok  \texample.com/sample/b",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"chatter of a passing test", "=== RUN   TestOK", "--- SKIP", "\nPASS\n"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("output has %q (plain go test does not print it):\n%s", unwanted, got)
		}
	}
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	last := lines[len(lines)-1]
	want := `testrun: 3 tests skipped: 2 for "needs root" (a, b); 1 for "long; not with -short" (b)`
	if last != want {
		t.Errorf("last line\n %q\nwant\n %q", last, want)
	}
	if n := strings.Count(got, "skipped"); n != 1 {
		t.Errorf("%d lines mention skips, want the one summary:\n%s", n, got)
	}
}

// Under CI=true any skip fails the run, even when every test passed.
func TestCIFailsOnSkips(t *testing.T) {
	t.Setenv("CI", "true")
	dir := writeSample(t)
	var out, errb bytes.Buffer
	code := run(goCmd(t), dir, []string{"-count=1", "-run", "TestNeedsRootToo|TestOK", "./b"}, &out, &errb)
	if code == 0 {
		t.Fatalf("exit 0 with a skipped test under CI=true:\n%s%s", &out, &errb)
	}
	if !strings.Contains(out.String(), `FAIL testrun: 1 test skipped: 1 for "needs root" (b)`) {
		t.Errorf("output:\n%s", &out)
	}
	// And a clean run passes and says nothing was skipped.
	out.Reset()
	if code := run(goCmd(t), dir, []string{"-count=1", "-run", "TestOK", "./b"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, &out, &errb)
	}
	if !strings.HasSuffix(out.String(), "testrun: no test skipped\n") {
		t.Errorf("output:\n%s", &out)
	}
}

// A package that does not build is reported with go's message and fails.
func TestBuildFailureShown(t *testing.T) {
	t.Setenv("CI", "")
	dir := writeSample(t)
	if err := os.WriteFile(filepath.Join(dir, "a", "broken_test.go"), []byte("package a\n\nfunc broken() { undefinedName() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(goCmd(t), dir, []string{"-count=1", "./a"}, &out, &errb); code == 0 {
		t.Fatalf("exit 0 for a package that does not build:\n%s%s", &out, &errb)
	}
	if all := out.String() + errb.String(); !strings.Contains(all, "undefinedName") {
		t.Errorf("the compiler's message is missing:\n%s", all)
	}
}
