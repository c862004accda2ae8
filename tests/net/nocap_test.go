package net

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/netback"
	"github.com/xfeat/xfeat/backends/tap"
	"github.com/xfeat/xfeat/backends/xenbus"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/sandbox"
	"github.com/xfeat/xfeat/tests/internal/testenv"
	"github.com/xfeat/xfeat/toolstack"
	"github.com/xfeat/xfeat/xsclient"
)

// TestWithoutTunTheControlPlaneStands: on a host where no TAP can be made
// (no /dev/net/tun, as without CAP_NET_ADMIN), a vif still connects, and
// its error node and the log say that its data path needs CAP_NET_ADMIN.
// Runs as any user: nothing is created on the host.
func TestWithoutTunTheControlPlaneStands(t *testing.T) {
	h := startHost(t, netback.Limits{}, func(c *sandbox.Config) { c.TunPath = filepath.Join(t.TempDir(), "no-tun") })
	src := "name = \"xfnocap" + h.tag + "\"\nvif = [ \"bridge=" + h.bridge + ",mac=00:16:3e:7a:01:01\" ]\n"
	plan := testenv.Plan(t, h.xs, "g.cfg", src)
	ctx := context.Background()
	got, err := toolstack.Create(ctx, h.xs, plan, toolstack.CreateOptions{Wait: 15 * time.Second})
	if err != nil {
		t.Fatalf("create: %v\nhost log:\n%s", err, h.log)
	}
	defer toolstack.Destroy(ctx, h.xs, got.Domid, 10*time.Second)
	be := pv.BackendPath(0, pv.Vif, got.Domid, 0)
	if st, err := xenbus.ReadState(ctx, h.xs, be); err != nil || st != pv.Connected {
		t.Fatalf("backend state %v %v, want Connected", st, err)
	}
	msg, err := h.xs.ReadString(ctx, pv.ErrorNode(0, be))
	if err != nil || !strings.Contains(msg, "needs CAP_NET_ADMIN") {
		t.Fatalf("error node %q (%v), want it to say the data path needs CAP_NET_ADMIN", msg, err)
	}
	if !strings.Contains(h.log.String(), "needs CAP_NET_ADMIN") {
		t.Fatalf("the log does not say so:\n%s", h.log)
	}
	t.Logf("error node: %s", msg)
}

// TestWithoutCapNetAdmin runs `xfeat host run --net-data` as root without
// CAP_NET_ADMIN (setpriv drops it from the bounding set): a vif connects,
// and its error node says the data path needs CAP_NET_ADMIN.
func TestWithoutCapNetAdmin(t *testing.T) {
	needRoot(t, "setpriv")
	dir, err := os.MkdirTemp("", "xfnocap")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var log strings.Builder
	cmd := exec.CommandContext(ctx, "setpriv", "--bounding-set=-net_admin", "--", xfeatBin, "host", "run", "--net-data", "--rundir", dir)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	sock := filepath.Join(dir, sandbox.SocketName)
	if !testenv.WaitAnswers(ctx, sock, 10*time.Second) {
		t.Fatalf("the host never answered:\n%s", log.String())
	}
	xs, err := xsclient.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer xs.Close()
	tag := randHex(3)
	plan := testenv.Plan(t, xs, "g.cfg", "name = \"xfcap"+tag+"\"\nvif = [ \"bridge=xfbr"+tag+",mac=00:16:3e:7a:02:01\" ]\n")
	got, err := toolstack.Create(ctx, xs, plan, toolstack.CreateOptions{Wait: 15 * time.Second})
	if err != nil {
		t.Fatalf("create: %v\nhost log:\n%s", err, log.String())
	}
	defer toolstack.Destroy(ctx, xs, got.Domid, 10*time.Second)
	be := pv.BackendPath(0, pv.Vif, got.Domid, 0)
	msg, err := xs.ReadString(ctx, pv.ErrorNode(0, be))
	if err != nil || !strings.Contains(msg, "needs CAP_NET_ADMIN") || !strings.Contains(msg, "operation not permitted") {
		t.Fatalf("error node %q (%v), want it to say the data path needs CAP_NET_ADMIN\nhost log:\n%s", msg, err, log.String())
	}
	if _, err := os.Stat("/sys/class/net/xfbr" + tag); err == nil {
		tap.DeleteLink("xfbr" + tag)
		t.Fatal("a host without CAP_NET_ADMIN created a bridge")
	}
	t.Logf("error node: %s", msg)
}
