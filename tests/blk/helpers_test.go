// Package blk tests the block data path end to end: guests created by the
// toolstack from xl.cfg text in a sandbox host, I/O through the guest's
// blkfront (granted pages, shared rings, event channels) and blkback
// (grant mappings, preadv/pwritev) into raw image files, checked in the
// files themselves; a hostile frontend; and crash consistency with the host
// killed by SIGKILL.
package blk

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/blkback"
	"github.com/xfeat/xfeat/internal/testutil"
	"github.com/xfeat/xfeat/sandbox"
	"github.com/xfeat/xfeat/tests/internal/testenv"
	"github.com/xfeat/xfeat/toolstack"
	"github.com/xfeat/xfeat/xsclient"
)

var bg = context.Background()

// xfeatBin is built once by TestMain (the crash test runs the host as its
// own process).
var xfeatBin string

func TestMain(m *testing.M) { testenv.MainWithXfeat(m, "xfeat-blk-bin", &xfeatBin) }

// host is a sandbox host with the default backend limits, in this process.
type host struct{ *testenv.Host }

func startHost(t testing.TB, mod func(*sandbox.Config)) *host {
	t.Helper()
	cfg := testenv.HostConfig()
	if mod != nil {
		mod(&cfg)
	}
	return &host{testenv.StartHost(t, "xfblk", cfg)}
}

// create makes a domain from xl.cfg text with the toolstack (parse, check,
// plan against the advertised schemas, create, wait for Connected).
func create(t testing.TB, xs *xsclient.Client, src string) uint32 {
	t.Helper()
	plan := testenv.Plan(t, xs, "guest.cfg", src)
	got, err := toolstack.Create(bg, xs, plan, toolstack.CreateOptions{Wait: 15 * time.Second})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return got.Domid
}

func destroy(t testing.TB, xs *xsclient.Client, domid uint32) {
	t.Helper()
	left, err := toolstack.Destroy(bg, xs, domid, 10*time.Second)
	if err != nil {
		t.Fatalf("destroy %d: %v", domid, err)
	}
	if len(left) > 0 {
		t.Errorf("destroy %d: devices that did not close: %+v", domid, left)
	}
}

// image makes a raw image of size bytes.
func image(t testing.TB, size int64) string { return testutil.Image(t, size) }

func guestCfg(name string, frames int, disks ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name = %q\ntype = \"pv\"\nmemory = 256\nmax_grant_frames = %d\n", name, frames)
	b.WriteString("disk = [\n")
	for _, d := range disks {
		fmt.Fprintf(&b, "  %q,\n", d)
	}
	b.WriteString("]\n")
	return b.String()
}

// blkServer is the host's block data path.
func (h *host) blkServer(t testing.TB) *blkback.Server {
	t.Helper()
	s, ok := h.Blkback().DataPath.(*blkback.Server)
	if !ok {
		t.Fatalf("the host's block data path is %T", h.Blkback().DataPath)
	}
	return s
}

// vbd returns the backend's connected vbd of fe/devid.
func (h *host) vbd(t testing.TB, fe, devid uint32) *blkback.Vbd {
	t.Helper()
	for _, v := range h.Blkback().Connected() {
		if v.Device.FrontendID == fe && v.Device.DevID == devid {
			return v
		}
	}
	t.Fatalf("vbd %d/%d is not connected", fe, devid)
	return nil
}

func (h *host) read(t testing.TB, path string) string {
	t.Helper()
	v, err := h.XS.ReadString(bg, path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return v
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(bg, d)
	t.Cleanup(cancel)
	return ctx
}
