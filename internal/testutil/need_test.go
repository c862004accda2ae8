package testutil

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how Need stopped it.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recorder) Skipf(format string, args ...any)  { r.skip = fmt.Sprintf(format, args...) }

func TestNeedSkipsOutsideCIAndFailsUnderCI(t *testing.T) {
	t.Setenv("CI", "")
	r := &recorder{}
	Need(r, "iperf3", "not installed")
	if r.fatal != "" || r.skip != "needs iperf3: not installed" {
		t.Errorf("outside CI: fatal %q, skip %q; want a skip in the summary's form", r.fatal, r.skip)
	}
	t.Setenv("CI", "true")
	r = &recorder{}
	Need(r, "iperf3", "not installed")
	if r.skip != "" || !strings.HasPrefix(r.fatal, "needs iperf3: not installed") || !strings.Contains(r.fatal, "make deps") {
		t.Errorf("under CI: fatal %q, skip %q; want a failure saying how to fix it", r.fatal, r.skip)
	}
	// The shorthands stop only when something is missing.
	r = &recorder{}
	if p := NeedTool(r, "sh", "dash"); p == "" || r.fatal != "" {
		t.Errorf("NeedTool(sh) = %q, fatal %q", p, r.fatal)
	}
	NeedTool(r, "no-such-tool-xfeat", "nothing")
	if !strings.Contains(r.fatal, "needs no-such-tool-xfeat: not installed (Debian package nothing") {
		t.Errorf("NeedTool of a missing tool: %q", r.fatal)
	}
	r = &recorder{}
	NeedFile(r, t.TempDir(), "a directory that exists")
	NeedFile(r, "/nonexistent/xfeat", "a file")
	if !strings.HasPrefix(r.fatal, "needs /nonexistent/xfeat: a file: ") {
		t.Errorf("NeedFile: %q", r.fatal)
	}
}
