package sandbox

import (
	"strconv"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/ring"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
)

func (h *testHost) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A guest released with its devices still connected (no teardown first):
// the backends see the frontends go, unmap and unbind, close; nothing leaks.
func TestReleaseWithConnectedDevices(t *testing.T) {
	h := startHost(t, nil)
	img := image(t, 1<<20)
	h.createDomain(t, 3, []vifSpec{{devid: 0}}, []vbdSpec{{devid: 51712, params: img}})
	h.waitState(t, fePath("vif", 3, 0), pv.Connected)
	h.waitState(t, fePath("vbd", 3, 51712), pv.Connected)
	if h.GrantMappings() == 0 || h.EventChannels() == 0 {
		t.Fatal("nothing mapped while connected")
	}
	if err := h.xs.Release(bg, 3); err != nil {
		t.Fatal(err)
	}
	h.waitState(t, bePath("vif", 3, 0), pv.Closed)
	h.waitState(t, bePath("vbd", 3, 51712), pv.Closed)
	h.eventually(t, "mappings and channels released", func() bool { return h.GrantMappings() == 0 && h.EventChannels() == 0 })
	h.eventually(t, "guest stopped", func() bool { return h.Guest(3) == nil })
	// The toolstack removes the backend dirs: the backends forget them.
	if err := h.xs.Rm(bg, "/local/domain/0/backend/vif/3"); err != nil {
		t.Fatal(err)
	}
	if err := h.xs.Rm(bg, "/local/domain/0/backend/vbd/3"); err != nil {
		t.Fatal(err)
	}
	h.eventually(t, "backend devices forgotten", func() bool { return len(h.BackendDevices()) == 0 })
}

// The guest closes its own device: the backend disconnects and closes.
func TestFrontendInitiatedClose(t *testing.T) {
	h := startHost(t, noFrontends(1))
	h.createDomain(t, 1, []vifSpec{{devid: 0}}, nil)
	be := bePath("vif", 1, 0)
	h.waitState(t, be, pv.InitWait)
	hg := h.hostile(t, 1, "vif", 0)
	pages, err := hg.g.Platform().AllocPages(2)
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := pages.Grant(0, 0, false)
	rx, _ := pages.Grant(1, 0, false)
	// A well-formed single-queue frontend, by hand: rings initialised
	// (SHARED_RING_INIT) before their refs are published.
	for i := 0; i < 2; i++ {
		if err := ring.Init(pages.Bytes()[i*4096 : (i+1)*4096]); err != nil {
			t.Fatal(err)
		}
	}
	hg.write("tx-ring-ref", itoa(tx), "rx-ring-ref", itoa(rx), "event-channel", hg.port(), "request-rx-copy", "1", "state", "4")
	h.waitState(t, be, pv.Connected)
	if h.GrantMappings() != 2 || h.EventChannels() != 1 {
		t.Errorf("connected: %d mappings, %d channels; want 2, 1", h.GrantMappings(), h.EventChannels())
	}
	hg.write("state", "5")
	h.waitState(t, be, pv.Closing)
	if h.GrantMappings() != 0 || h.EventChannels() != 0 {
		t.Errorf("after frontend Closing: %d mappings, %d channels", h.GrantMappings(), h.EventChannels())
	}
	hg.write("state", "6")
	h.waitState(t, be, pv.Closed)
	if err := pages.Free(); err != nil {
		t.Errorf("the guest cannot end its grants after the backend closed: %v", err)
	}

	// The driver comes back: the backend offers the device again and
	// connects to the new rings.
	hg.write("state", "1")
	h.waitState(t, be, pv.InitWait)
	pages, err = hg.g.Platform().AllocPages(2)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		ring.Init(pages.Bytes()[i*4096 : (i+1)*4096])
	}
	tx, _ = pages.Grant(0, 0, false)
	rx, _ = pages.Grant(1, 0, false)
	hg.write("tx-ring-ref", itoa(tx), "rx-ring-ref", itoa(rx), "event-channel", hg.port(), "state", "4")
	h.waitState(t, be, pv.Connected)
	if h.GrantMappings() != 2 || h.EventChannels() != 1 {
		t.Errorf("reconnected: %d mappings, %d channels; want 2, 1", h.GrantMappings(), h.EventChannels())
	}
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// Requests the backend cannot parse or does not know are refused, named in
// the error node; the device still connects with the defaults.
func TestBadConfigRefusedButDeviceConnects(t *testing.T) {
	h := startHost(t, nil)
	h.createDomain(t, 1, []vifSpec{{devid: 0, config: map[string]string{
		"multi-queue-max-queues": "lots", "feature-warp-drive": "1", "feature-sg": "maybe"}}}, nil)
	be := bePath("vif", 1, 0)
	h.waitState(t, be, pv.Connected)
	h.waitState(t, fePath("vif", 1, 0), pv.Connected)
	msg := h.read(t, pv.ErrorNode(0, be))
	for _, f := range []string{"multi-queue-max-queues", "feature-warp-drive", "feature-sg"} {
		if !schema.ErrorNames(msg, f) {
			t.Errorf("error node %q does not name %s", msg, f)
		}
	}
	if got := h.read(t, be+"/multi-queue-max-queues"); got != "4" {
		t.Errorf("multi-queue-max-queues = %s, want the default 4", got)
	}
	// The error node goes with the device.
	h.destroy(t, "vif", 1, 0)
	if err := h.xs.Rm(bg, be); err != nil {
		t.Fatal(err)
	}
	h.eventually(t, "error node removed", func() bool {
		ok, _ := h.xs.Exists(bg, pv.ErrorDir(0, be))
		return !ok
	})
}

// A domain id released and introduced again at once (xfeat destroy, then
// create claiming the smallest free id) gets a fresh guest with frontends.
func TestReintroduceRightAfterRelease(t *testing.T) {
	h := startHost(t, nil)
	for i := 0; i < 15; i++ {
		h.createDomain(t, 1, []vifSpec{{devid: 0}}, nil)
		h.waitState(t, bePath("vif", 1, 0), pv.Connected)
		h.waitState(t, fePath("vif", 1, 0), pv.Connected)
		h.destroy(t, "vif", 1, 0)
		for _, p := range []string{"/local/domain/1", "/local/domain/0/backend/vif/1", "/libxl/1"} {
			if err := h.xs.Rm(bg, p); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.xs.Release(bg, 1); err != nil {
			t.Fatal(err)
		}
	}
	h.eventually(t, "mappings released", func() bool { return h.GrantMappings() == 0 && h.EventChannels() == 0 })
}
