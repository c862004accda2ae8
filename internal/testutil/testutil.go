// Package testutil holds the few test helpers that packages anywhere in the
// module share and that depend on nothing of xfeat, so that any package's
// own tests (sandbox, toolstack) can use them without an import cycle. The
// end-to-end scaffolding that needs a sandbox host is tests/internal/testenv.
//
// need.go is how a test says it cannot run on this machine (Need, NeedRoot,
// NeedTool, NeedFile): it skips with a message make test summarises, and
// fails under CI=true, where every test must run. cprog.go (CFacts) is how
// a layout test learns what gcc makes of Xen's and Linux's headers.
package testutil

import (
	"os"
	"strings"
	"testing"
)

// Image makes a sparse raw disk image of size bytes in a temporary
// directory of t and returns its path.
func Image(t testing.TB, size int64) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "disk*.img")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return f.Name()
}

// DiffLines lists the lines of a missing from b ("- ") and then those of b
// missing from a ("+ "), for messages about a XenStore tree that changed.
func DiffLines(a, b string) string {
	in, out := map[string]bool{}, map[string]bool{}
	for _, l := range strings.Split(a, "\n") {
		in[l] = true
	}
	for _, l := range strings.Split(b, "\n") {
		out[l] = true
	}
	var d []string
	for _, l := range strings.Split(a, "\n") {
		if !out[l] {
			d = append(d, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !in[l] {
			d = append(d, "+ "+l)
		}
	}
	return strings.Join(d, "\n")
}
