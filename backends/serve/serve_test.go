package serve

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xfeat/xfeat/backends/platform"
	"github.com/xfeat/xfeat/backends/tap"
	"github.com/xfeat/xfeat/internal/testutil"
	"github.com/xfeat/xfeat/internal/xstest"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// noXen is a platform whose every ability is missing: devices probe and
// wait for their frontend; none connects.
type noXen struct{ closed bool }

func (*noXen) MapGrants(uint32) (platform.GrantMapper, error) {
	return nil, fmt.Errorf("no gntdev: %w", platform.ErrUnavailable)
}
func (*noXen) CopyGrants(uint32) (platform.GrantCopier, error) {
	return nil, fmt.Errorf("no gntdev: %w", platform.ErrUnavailable)
}
func (*noXen) BindInterdomain(context.Context, uint32, uint32) (platform.Channel, error) {
	return nil, fmt.Errorf("no evtchn: %w", platform.ErrUnavailable)
}
func (p *noXen) Close() error { p.closed = true; return nil }
func (*noXen) Mapped() int    { return 0 }
func (*noXen) Bound() int     { return 0 }

// store is an in-process XenStore holding dom0's home, as xen-init-dom0
// leaves it.
func store(t *testing.T) *xsclient.Client {
	t.Helper()
	c := xstest.Pipe(t)
	if err := c.WriteString(context.Background(), "/local/domain/0/domid", "0"); err != nil {
		t.Fatal(err)
	}
	return c
}

// sysfs makes a sysfs tree with the kernel backends of kinds registered;
// loadable says whether their modules were loaded (not built in).
func sysfs(t *testing.T, loadable bool, kinds ...pv.Kind) string {
	t.Helper()
	root := t.TempDir()
	for _, k := range kinds {
		if err := os.MkdirAll(filepath.Join(root, "bus/xen-backend/drivers", string(k)), 0o755); err != nil {
			t.Fatal(err)
		}
		if loadable {
			mod := filepath.Join(root, "module", strings.ReplaceAll(kernelModule[k], "-", "_"))
			os.MkdirAll(mod, 0o755)
			os.WriteFile(filepath.Join(mod, "initstate"), []byte("live\n"), 0o644)
		}
	}
	return root
}

// Where the kernel's backend for a type is loaded, the server does not
// start, and says which module, how to unload it and how to leave the type
// to it; nothing is locked or written.
func TestRefusesBesideTheKernelsBackend(t *testing.T) {
	xs := store(t)
	locks := t.TempDir()
	for _, c := range []struct {
		loaded []pv.Kind
		types  []pv.Kind
		module bool
		want   []string
	}{
		{[]pv.Kind{pv.Vif, pv.Vbd}, nil, true, []string{"xen-netback", "rmmod xen-netback", "xen-blkback", "rmmod xen-blkback", "--types"}},
		{[]pv.Kind{pv.Vbd}, []pv.Kind{pv.Vbd}, true, []string{"vbd backend (xen-blkback) is loaded", "serves every vbd"}},
		{[]pv.Kind{pv.Vif}, []pv.Kind{pv.Vif, pv.Vbd}, false, []string{"xen-netback", "built into this kernel"}},
	} {
		_, err := New(context.Background(), Config{XenStore: xs, Types: c.types, Sysfs: sysfs(t, c.module, c.loaded...), LockDir: locks, Platform: &noXen{}})
		if !errors.Is(err, ErrKernelBackend) {
			t.Errorf("kernel backends %v, serving %v: %v; want ErrKernelBackend", c.loaded, c.types, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q lacks %q", err, w)
			}
		}
	}
	if ents, _ := os.ReadDir(locks); len(ents) != 0 {
		t.Errorf("a refused server left %d lock files", len(ents))
	}
	// The other type is served: only a loaded backend of a type served counts.
	s, err := New(context.Background(), Config{XenStore: xs, Types: []pv.Kind{pv.Vbd}, Sysfs: sysfs(t, true, pv.Vif), LockDir: locks, Platform: &noXen{}})
	if err != nil {
		t.Fatalf("vbd beside a loaded xen-netback: %v", err)
	}
	s.unlock()
}

func TestParseTypes(t *testing.T) {
	got, err := ParseTypes([]string{"vbd", " vif", "vbd"})
	if err != nil || len(got) != 2 || got[0] != pv.Vbd || got[1] != pv.Vif {
		t.Errorf("vbd,vif,vbd: %v %v", got, err)
	}
	for _, bad := range []string{"disk", "vifs", "", "pci"} {
		if _, err := ParseTypes([]string{bad}); err == nil || !strings.Contains(err.Error(), "vif and vbd") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// One server per type and domain: a second one is refused, naming the
// first one's process; once the first stops, the type is free again.
func TestOneServerPerType(t *testing.T) {
	xs := store(t)
	locks := t.TempDir()
	cfg := Config{XenStore: xs, Types: []pv.Kind{pv.Vbd}, Sysfs: t.TempDir(), LockDir: locks, Platform: &noXen{}}
	first, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("another xfeat backend serves vbds here (pid %d", os.Getpid())) {
		t.Fatalf("second server: %v", err)
	}
	cfg.Types = []pv.Kind{pv.Vif}
	other, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("a server of the other type: %v", err)
	}
	other.unlock()
	first.unlock()
	cfg.Types = []pv.Kind{pv.Vbd}
	again, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("after the first stopped: %v", err)
	}
	again.unlock()
}

// A domain whose id is not in XenStore, or is garbage, is an error.
func TestSelfID(t *testing.T) {
	xs := store(t)
	ctx := context.Background()
	for _, v := range []string{"x", "-1", "32752", ""} {
		xs.WriteString(ctx, "/local/domain/0/domid", v)
		if _, err := selfID(ctx, xs); err == nil {
			t.Errorf("domid %q accepted", v)
		}
	}
	xs.Rm(ctx, "/local/domain/0/domid")
	if _, err := selfID(ctx, xs); err == nil || !strings.Contains(err.Error(), "xen-init-dom0") {
		t.Errorf("no domid: %v", err)
	}
	xs.WriteString(ctx, "/local/domain/0/domid", "0")
	if id, err := selfID(ctx, xs); err != nil || id != 0 {
		t.Errorf("domid 0: %d %v", id, err)
	}
}

// device writes a device as xl lays it out: frontend and backend
// directories, the backend's keys, state Initialising on both ends.
func device(t *testing.T, xs *xsclient.Client, kind pv.Kind, fe, devid uint32, keys ...string) (be, fd string) {
	t.Helper()
	ctx := context.Background()
	be, fd = pv.BackendPath(0, kind, fe, devid), pv.FrontendPath(fe, kind, devid)
	err := xs.Transact(ctx, func(tx *xsclient.Tx) error {
		kv := append([]string{pv.KeyFrontend, fd, pv.KeyFrontendID, fmt.Sprint(fe), pv.KeyOnline, "1", pv.KeyState, "1"}, keys...)
		for i := 0; i+1 < len(kv); i += 2 {
			if err := tx.Write(ctx, be+"/"+kv[i], []byte(kv[i+1])); err != nil {
				return err
			}
		}
		for _, kv := range [][2]string{{pv.KeyBackend, be}, {pv.KeyBackendID, "0"}, {pv.KeyState, "1"}} {
			if err := tx.Write(ctx, fd+"/"+kv[0], []byte(kv[1])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return be, fd
}

func waitValue(t *testing.T, xs *xsclient.Client, path, want string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var err error
		if got, err = xs.ReadString(context.Background(), path); err == nil && got == want {
			return
		}
	}
	t.Fatalf("%s = %q, want %q", path, got, want)
}

// Run advertises each type's schema in the domain's home and serves its
// devices; a vif's host interface exists from the probe (under the name
// xl's hotplug script expects), before any frontend, and goes with the
// device. A server that stops leaves the devices still waiting for their
// frontend as they are, interfaces included, for its next run, which takes
// them over; it Closes those past InitWait and removes their interfaces.
// The schemas go with the server, and the platform is closed.
func TestRunAndStop(t *testing.T) {
	testutil.NeedRoot(t, "CAP_NET_ADMIN to reserve a vif's TAP")
	testutil.NeedFile(t, tap.TunPath, "TAP devices")
	xs := store(t)
	img := testutil.Image(t, 1<<20)
	locks := t.TempDir()
	start := func() (*noXen, func() error) {
		plat := &noXen{}
		s, err := New(context.Background(), Config{XenStore: xs, Sysfs: t.TempDir(), LockDir: locks, Platform: plat, Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var runErr error
		wg.Go(func() { runErr = s.Run(ctx) })
		stopped := false
		stop := func() error {
			if !stopped {
				stopped = true
				cancel()
				wg.Wait()
			}
			return runErr
		}
		t.Cleanup(func() { stop() })
		return plat, stop
	}
	ctx := context.Background()
	plat, stop := start()

	fe := uint32(20000 + os.Getpid()%10000) // an interface name of this test's own
	ifname := fmt.Sprintf("vif%d.0", fe)
	t.Cleanup(func() { tap.DeleteLink(ifname) })
	vif, vifFe := device(t, xs, pv.Vif, fe, 0, pv.KeyScript, "/etc/xen/scripts/vif-bridge", pv.KeyMAC, "00:16:3e:00:00:01")
	vbd, vbdFe := device(t, xs, pv.Vbd, fe, 51712, pv.KeyParams, img, pv.KeyMode, "w")
	waitValue(t, xs, vif+"/state", "2")
	waitValue(t, xs, vbd+"/state", "2")
	for _, k := range Kinds {
		if ok, _ := xs.Exists(ctx, pv.SchemaDir(0, k)+"/"+pv.KeyMultiQueueMaxQueues+"-defval"); !ok {
			t.Errorf("no %s schema advertised", k)
		}
	}
	l, err := netlink.LinkByName(ifname)
	if err != nil || l.Type() != "tuntap" {
		t.Fatalf("at InitWait, %s: %v %v; want the reserved TAP", ifname, l, err)
	}
	index := l.Attrs().Index

	// A device the toolstack removes takes its interface with it.
	gone, _ := device(t, xs, pv.Vif, fe, 1, pv.KeyMAC, "00:16:3e:00:00:02", pv.KeyVifname, fmt.Sprintf("xft%d", fe))
	waitValue(t, xs, gone+"/state", "2")
	if _, err := netlink.LinkByName(fmt.Sprintf("xft%d", fe)); err != nil {
		t.Fatalf("a vif without a hotplug script: its TAP has its final name at once: %v", err)
	}
	if err := xs.Rm(ctx, gone); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := netlink.LinkByName(fmt.Sprintf("xft%d", fe)); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the removed vif's TAP is still there")
		}
	}

	// Stopped while the devices wait for their frontends: left as they are.
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, be := range []string{vif, vbd} {
		if got, _ := xs.ReadString(ctx, be+"/state"); got != "2" {
			t.Errorf("%s: state %q after stop, want 2 (InitWait: nothing to close)", be, got)
		}
	}
	for _, k := range Kinds {
		if _, err := xs.Read(ctx, pv.SchemaDir(0, k)); !errors.Is(err, xswire.ErrNotFound) {
			t.Errorf("%s schema after stop: %v", k, err)
		}
	}
	if l, err := netlink.LinkByName(ifname); err != nil || l.Attrs().Index != index {
		t.Fatalf("after stop, %s: %v %v; want the same TAP kept for the next run", ifname, l, err)
	}
	if !plat.closed {
		t.Error("the platform was not closed")
	}

	// The next run takes them over; the frontends start, their devices
	// get past InitWait (and fail: this platform maps nothing).
	_, stop = start()
	waitValue(t, xs, pv.SchemaDir(0, pv.Vif)+"/"+pv.KeyMultiQueueMaxQueues+"-defval", "4")
	for _, fd := range []string{vifFe, vbdFe} {
		if err := xs.WriteString(ctx, fd+"/state", "3"); err != nil {
			t.Fatal(err)
		}
	}
	waitValue(t, xs, vif+"/state", "5")
	waitValue(t, xs, vbd+"/state", "5")
	if l, err := netlink.LinkByName(ifname); err != nil || l.Attrs().Index != index {
		t.Fatalf("the second run's %s: %v %v; want the first run's TAP taken over", ifname, l, err)
	}
	if msg, _ := xs.ReadString(ctx, pv.ErrorNode(0, vbd)); !strings.Contains(msg, "not available on this platform") {
		t.Errorf("vbd error node %q: want the missing ability named", msg)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, be := range []string{vif, vbd} {
		if got, _ := xs.ReadString(ctx, be+"/state"); got != "6" {
			t.Errorf("%s: state %q after the second stop, want 6 (Closed)", be, got)
		}
	}
	if _, err := netlink.LinkByName(ifname); err == nil {
		t.Errorf("%s still there after its device was Closed", ifname)
	}
}
