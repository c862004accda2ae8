package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/blkback"
	"github.com/xfeat/xfeat/backends/netback"
	"github.com/xfeat/xfeat/backends/xenbus"
	"github.com/xfeat/xfeat/internal/testutil"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/toolstack"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// testHost runs a Host in this process and returns it with a dom0 client
// on its socket (the toolstack's view).
type testHost struct {
	*Host
	xs  *xsclient.Client
	log *syncLog
}

type syncLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *syncLog) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *syncLog) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.lines {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

func startHost(t testing.TB, mod func(*Config)) *testHost {
	t.Helper()
	dir, err := os.MkdirTemp("", "xfh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	lg := &syncLog{}
	cfg := Config{Rundir: dir, Netback: netback.DefaultLimits(), Blkback: blkback.DefaultLimits(),
		Logf: lg.logf}
	if tt, ok := t.(*testing.T); ok { // a fuzz target's F may not log from its goroutines
		cfg.Logf = func(f string, a ...any) { lg.logf(f, a...); tt.Logf(f, a...) }
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !Answers(ctx, h.Socket()) {
		if time.Now().After(deadline) {
			t.Fatal("host socket never answered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	xs, err := xsclient.Dial(ctx, h.Socket())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		xs.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("host Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("host did not stop")
		}
		// Nothing of a guest survives the host.
		if left, _ := filepath.Glob(filepath.Join(dir, "domains", "*")); len(left) > 0 {
			t.Errorf("guest files left after the host stopped: %v", left)
		}
	})
	return &testHost{Host: h, xs: xs, log: lg}
}

var (
	bg = context.Background()
)

func p(perms ...string) []xswire.Perm {
	ps, err := xswire.ParsePerms(perms)
	if err != nil {
		panic(err)
	}
	return ps
}

type vifSpec struct {
	devid  uint32
	config map[string]string
}

type vbdSpec struct {
	devid  uint32
	params string
	mode   string
	config map[string]string
}

// createDomain lays a domain and its devices out as the toolstack does
// (libxl's layout, docs/design.md "Creating and destroying a domain"),
// INTRODUCE included.
func (h *testHost) createDomain(t testing.TB, id uint32, vifs []vifSpec, vbds []vbdSpec) {
	t.Helper()
	ctx := bg
	ids := strconv.Itoa(int(id))
	err := h.xs.Transact(ctx, func(tx *xsclient.Tx) error {
		if err := tx.Write(ctx, "/libxl/"+ids+"/name", []byte("guest"+ids)); err != nil {
			return err
		}
		if err := tx.Write(ctx, "/libxl/"+ids+"/sandbox/max-grant-frames", []byte("64")); err != nil {
			return err
		}
		return tx.Write(ctx, "/libxl/"+ids+"/sandbox/max-event-channels", []byte("1023"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.xs.Introduce(ctx, id, 0, 1); err != nil {
		t.Fatal(err)
	}
	home := "/local/domain/" + ids
	err = h.xs.Transact(ctx, func(tx *xsclient.Tx) error {
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		defer func() {
			if r := recover(); r != nil {
				err := r.(error)
				panic(err)
			}
		}()
		w := func(path, v string, perms ...string) {
			must(tx.Write(ctx, path, []byte(v)))
			if len(perms) > 0 {
				must(tx.SetPerms(ctx, path, p(perms...)))
			}
		}
		w(home, "", "n0", "r"+ids)
		w(home+"/name", "guest"+ids)
		w(home+"/domid", ids)
		w(home+"/device", "", "n0", "r"+ids)
		w(home+"/error", "", "n"+ids)
		w(home+"/data", "", "n"+ids)
		for _, v := range vifs {
			d := strconv.Itoa(int(v.devid))
			fe := home + "/device/vif/" + d
			be := "/local/domain/0/backend/vif/" + ids + "/" + d
			w(fe, "", "n"+ids, "r0")
			for _, kv := range [][2]string{{"backend", be}, {"backend-id", "0"}, {"state", "1"}, {"handle", d}, {"mac", "00:16:3e:00:00:0" + d}, {"trusted", "1"}} {
				w(fe+"/"+kv[0], kv[1], "n"+ids, "r0")
			}
			w(fe+"/mtu", "1500", "n0", "r"+ids)
			w(be, "", "n0", "r"+ids)
			for _, kv := range [][2]string{{"frontend", fe}, {"frontend-id", ids}, {"online", "1"}, {"state", "1"}, {"script", "/etc/xen/scripts/vif-bridge"}, {"mac", "00:16:3e:00:00:0" + d}, {"bridge", "xenbr0"}, {"handle", d}, {"type", "vif"}} {
				w(be+"/"+kv[0], kv[1])
			}
			for k, val := range v.config {
				w(be+"/config-"+k, val, "n0")
			}
		}
		for _, v := range vbds {
			d := strconv.Itoa(int(v.devid))
			fe := home + "/device/vbd/" + d
			be := "/local/domain/0/backend/vbd/" + ids + "/" + d
			w(fe, "", "n"+ids, "r0")
			for _, kv := range [][2]string{{"backend", be}, {"backend-id", "0"}, {"state", "1"}, {"virtual-device", d}, {"device-type", "disk"}, {"trusted", "1"}, {"protocol", "x86_64-abi"}} {
				w(fe+"/"+kv[0], kv[1], "n"+ids, "r0")
			}
			w(be, "", "n0", "r"+ids)
			mode := v.mode
			if mode == "" {
				mode = "w"
			}
			for _, kv := range [][2]string{{"frontend", fe}, {"frontend-id", ids}, {"online", "1"}, {"state", "1"}, {"params", v.params}, {"type", "phy"}, {"mode", mode}, {"device-type", "disk"}, {"removable", "0"}, {"bootable", "1"}, {"dev", "xvda"}, {"discard-enable", "1"}, {"specification", "xen"}} {
				w(be+"/"+kv[0], kv[1])
			}
			for k, val := range v.config {
				w(be+"/config-"+k, val, "n0")
			}
		}
		w("/libxl/"+ids+"/device", "", "n0")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (h *testHost) read(t testing.TB, path string) string {
	t.Helper()
	v, err := h.xs.ReadString(bg, path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return v
}

func (h *testHost) readOpt(path string) (string, bool) {
	v, err := h.xs.ReadString(bg, path)
	return v, err == nil
}

// waitState waits until dir/state is want.
func (h *testHost) waitState(t testing.TB, dir string, want pv.State) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 15*time.Second)
	defer cancel()
	s, err := xenbus.WaitState(ctx, h.xs, dir, func(s pv.State) bool { return s == want })
	if err != nil {
		cur, _ := h.readOpt(dir + "/state")
		errNode, _ := h.readOpt(pv.ErrorNode(0, dir))
		t.Fatalf("%s: waiting for %s: %v (state %q, error node %q)", dir, want, err, cur, errNode)
	}
	_ = s
}

func bePath(kind pv.Kind, fe, dev uint32) string { return pv.BackendPath(0, kind, fe, dev) }
func fePath(kind pv.Kind, fe, dev uint32) string { return pv.FrontendPath(fe, kind, dev) }

// destroy tears a device down as libxl does and checks both ends close.
func (h *testHost) destroy(t testing.TB, kind pv.Kind, fe, dev uint32) {
	t.Helper()
	be := bePath(kind, fe, dev)
	err := h.xs.Transact(bg, func(tx *xsclient.Tx) error {
		if err := tx.Write(bg, be+"/online", []byte("0")); err != nil {
			return err
		}
		return tx.Write(bg, be+"/state", []byte("5"))
	})
	if err != nil {
		t.Fatal(err)
	}
	h.waitState(t, be, pv.Closed)
}

func image(t *testing.T, size int64) string { return imageTB(t, size) }

func imageTB(t testing.TB, size int64) string { return testutil.Image(t, size) }

func TestSchemaAdvertised(t *testing.T) {
	h := startHost(t, nil)
	for kind, want := range map[pv.Kind][]string{
		"vif": {"multi-queue-max-queues", "feature-sg", "feature-gso-tcpv4", "feature-gso-tcpv6", "feature-ipv6-csum-offload", "feature-no-csum-offload", "feature-split-event-channels", "feature-multicast-control"},
		"vbd": {"multi-queue-max-queues", "max-ring-page-order", "feature-persistent", "feature-max-indirect-segments", "feature-flush-cache", "feature-barrier", "feature-discard"},
	} {
		dir := pv.SchemaDir(0, kind)
		names, err := h.xs.Directory(bg, dir)
		if err != nil {
			t.Fatal(err)
		}
		entries := map[string]string{}
		for _, n := range names {
			entries[n] = h.read(t, dir+"/"+n)
		}
		s, err := schema.Parse(0, kind, entries)
		if err != nil {
			t.Fatalf("%s schema does not parse: %v", kind, err)
		}
		for _, f := range want {
			if s.Lookup(f) == nil {
				t.Errorf("%s schema lacks %s", kind, f)
			}
		}
	}
	if got := h.read(t, pv.SchemaDir(0, "vif")+"/multi-queue-max-queues-defval"); got != "4" {
		t.Errorf("vif multi-queue-max-queues-defval = %q, want 4", got)
	}
	if got := h.read(t, pv.SchemaDir(0, "vbd")+"/feature-max-indirect-segments-max"); got != "4096" {
		t.Errorf("vbd feature-max-indirect-segments-max = %q, want 4096", got)
	}
}

// The host marks its XenStore as the sandbox's, so that xfeat's commands
// build domains here themselves rather than asking xl (toolstack.DetectHost).
func TestHostMarksItsXenStore(t *testing.T) {
	h := startHost(t, nil)
	if got := h.read(t, pv.SandboxMarker); got != h.Rundir() {
		t.Errorf("%s = %q, want the run directory %q", pv.SandboxMarker, got, h.Rundir())
	}
	perms, err := h.xs.GetPerms(bg, pv.SandboxMarker)
	if err != nil || len(perms) != 1 || perms[0].Domid != 0 || perms[0].Access != 'n' {
		t.Errorf("%s permissions %v, %v: want dom0's alone", pv.SandboxMarker, perms, err)
	}
	host, err := toolstack.DetectHost(bg, h.xs, toolstack.HostProbe{LookPath: func(string) (string, error) { return "/usr/sbin/xl", nil }})
	if err != nil || host.Kind != toolstack.SandboxHost || host.Rundir != h.Rundir() {
		t.Errorf("DetectHost: %+v, %v; want the sandbox host, even with xl installed", host, err)
	}
}

func TestVifAndVbdConnect(t *testing.T) {
	h := startHost(t, nil)
	img := image(t, 8<<20)
	h.createDomain(t, 1, []vifSpec{{devid: 0}}, []vbdSpec{{devid: 51712, params: img}})
	for _, k := range []struct {
		kind pv.Kind
		dev  uint32
	}{{"vif", 0}, {"vbd", 51712}} {
		h.waitState(t, bePath(k.kind, 1, k.dev), pv.Connected)
		h.waitState(t, fePath(k.kind, 1, k.dev), pv.Connected)
	}
	fe := fePath("vif", 1, 0)
	if got := h.read(t, fe+"/multi-queue-num-queues"); got != "4" {
		t.Errorf("netfront multi-queue-num-queues = %s, want 4 (backend default)", got)
	}
	if got := h.read(t, fePath("vbd", 1, 51712)+"/ring-page-order"); got != "4" {
		t.Errorf("blkfront ring-page-order = %s, want 4", got)
	}
	if got := h.read(t, bePath("vbd", 1, 51712)+"/sectors"); got != strconv.Itoa(8<<20/512) {
		t.Errorf("sectors = %s", got)
	}
	if n := h.GrantMappings(); n != 4*2+4*16 {
		t.Errorf("grant mappings = %d, want %d", n, 4*2+4*16)
	}
	h.destroy(t, "vif", 1, 0)
	h.destroy(t, "vbd", 1, 51712)
	h.waitState(t, fePath("vif", 1, 0), pv.Closed)
	h.waitState(t, fePath("vbd", 1, 51712), pv.Closed)
	if n := h.GrantMappings(); n != 0 {
		t.Errorf("grant mappings after teardown = %d, want 0", n)
	}
}

var _ = errors.Is
