// Package e2e runs the xfeat binary — create, show, list, destroy, features
// — against a real sandbox host (embedded xenstored, netback, blkback and
// the guests' reference frontends), and checks what the guest may do with
// Debian's own XenStore clients (xenstore-read, xenstore-write).
package e2e

import (
	"os"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/internal/testutil"
	"github.com/xfeat/xfeat/sandbox"
	"github.com/xfeat/xfeat/tests/internal/testenv"
)

// xfeatBin is the binary under test, built once by TestMain.
var xfeatBin string

func TestMain(m *testing.M) { testenv.MainWithXfeat(m, "xfeat-e2e-bin", &xfeatBin) }

// host is a sandbox host running in the test process.
type host struct{ *testenv.Host }

func startHost(t testing.TB, mod func(*sandbox.Config)) *host {
	t.Helper()
	cfg := testenv.HostConfig()
	if mod != nil {
		mod(&cfg)
	}
	return &host{testenv.StartHost(t, "xfe2e", cfg)}
}

type result = testenv.Result

// xfeat runs the binary with --xenstore pointing at h (when the command
// takes it) and returns what it printed and its exit status.
func (h *host) xfeat(t testing.TB, args ...string) result {
	t.Helper()
	return runXfeat(t, nil, append(args, "--xenstore", h.Socket())...)
}

func runXfeat(t testing.TB, env []string, args ...string) result {
	t.Helper()
	return testenv.RunXfeat(t, xfeatBin, env, args...)
}

// dump is the whole tree with values and permissions.
func (h *host) dump(t testing.TB) string {
	t.Helper()
	return testenv.Dump(t, h.XS)
}

// images makes n raw disk images of size bytes.
func images(t testing.TB, n int, size int64) []string {
	t.Helper()
	var paths []string
	for range n {
		paths = append(paths, testutil.Image(t, size))
	}
	return paths
}

// writeCfg writes an xl.cfg file and returns its path.
func writeCfg(t testing.TB, name, src string) string {
	t.Helper()
	return testenv.WriteCfg(t, name, src)
}

// guestCfg is examples/guest.cfg with its disk images at imgs.
func guestCfg(t testing.TB, imgs []string) string {
	t.Helper()
	src, err := os.ReadFile("../../examples/guest.cfg")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(src), "/tmp/xfeat-demo/root.img", imgs[0])
	s = strings.ReplaceAll(s, "/tmp/xfeat-demo/data.img", imgs[1])
	return writeCfg(t, "guest.cfg", s)
}

func diffLines(a, b string) string { return testutil.DiffLines(a, b) }
