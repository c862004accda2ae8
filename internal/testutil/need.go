package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// Tests that need something of the machine (root, a TAP device, a Debian
// tool) say so through Need and its shorthands, never with t.Skip: under
// CI=true a missing requirement fails the test, because there it is a
// broken CI setup (make deps installs every package a test uses, and CI
// runs as root), not a reason to run fewer tests. Elsewhere the test is
// skipped with a message in one form, "needs WHAT: WHY", which
// internal/testrun (make test) collects into its one-line summary of what
// did not run.

// SkipPrefix starts every skip message of Need; internal/testrun groups the
// summary by what follows it.
const SkipPrefix = "needs "

// CI reports whether the tests run under continuous integration (CI=true),
// where nothing may be skipped.
func CI() bool { return os.Getenv("CI") == "true" }

// Need stops t because the machine lacks what (a short noun: "root",
// "iperf3"); why says what the test would have done with it. Under CI it
// fails the test, otherwise it skips it.
func Need(t testing.TB, what, why string) {
	t.Helper()
	if CI() {
		t.Fatalf("%s%s: %s (CI=true: a test that cannot run fails; install what is missing with make deps, and run as root)", SkipPrefix, what, why)
		return
	}
	t.Skipf("%s%s: %s", SkipPrefix, what, why)
}

// NeedRoot stops t (see Need) unless the process runs as root.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Need(t, "root", why)
	}
}

// NeedTool returns the path of the program name, or stops t (see Need)
// naming the Debian package pkg that provides it.
func NeedTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Need(t, name, "not installed (Debian package "+pkg+"; make deps installs it)")
	}
	return p
}

// NeedFile stops t (see Need) unless path exists.
func NeedFile(t testing.TB, path, why string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Need(t, path, why+": "+err.Error())
	}
}
