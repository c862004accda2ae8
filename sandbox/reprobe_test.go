package sandbox

import (
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/ring"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/xsclient"
)

// writeRequests writes config-* requests into a device's backend directory
// after the device, as xfeat create does on a real host once xl has made
// it: one transaction, backend-only permissions.
func (h *testHost) writeRequests(t *testing.T, be string, kv ...string) {
	t.Helper()
	err := h.xs.Transact(bg, func(tx *xsclient.Tx) error {
		for i := 0; i+1 < len(kv); i += 2 {
			k := be + "/" + pv.ConfigKey(kv[i])
			if err := tx.Write(bg, k, []byte(kv[i+1])); err != nil {
				return err
			}
			if err := tx.SetPerms(bg, k, p("n0")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Requests written after the device, before its frontend starts, are
// decided, recorded and offered as if they had been there at the start
// (the backend probes again); the ones that come once the frontend has
// started change nothing the frontend already read.
func TestRequestsWrittenAfterTheDevice(t *testing.T) {
	h := startHost(t, noFrontends(1))
	img := image(t, 1<<20)
	h.createDomain(t, 1, []vifSpec{{devid: 0}}, []vbdSpec{{devid: 51712, params: img}})
	vif, vbd := bePath("vif", 1, 0), bePath("vbd", 1, 51712)
	h.waitState(t, vif, pv.InitWait)
	h.waitState(t, vbd, pv.InitWait)
	if got := h.read(t, vif+"/"+pv.KeyMultiQueueMaxQueues); got != "4" {
		t.Fatalf("vif offers %s queues before any request, want the default 4", got)
	}

	h.writeRequests(t, vif, pv.KeyMultiQueueMaxQueues, "2", pv.KeyFeatureGSOTCPv4, "0")
	h.writeRequests(t, vbd, pv.KeyMaxRingPageOrder, "1", pv.KeyFeaturePersistent, "0", pv.KeyFeatureMaxIndirectSegs, "9999")
	for _, c := range []struct{ be, key, offer, record string }{
		{vif, pv.KeyMultiQueueMaxQueues, "2", "apply 2"},
		{vif, pv.KeyFeatureGSOTCPv4, "0", "apply 0"},
		{vbd, pv.KeyMaxRingPageOrder, "1", "apply 1"},
		{vbd, pv.KeyFeaturePersistent, "0", "apply 0"},
	} {
		h.eventually(t, c.be+": "+c.key+" offered as requested", func() bool {
			v, _ := h.readOpt(c.be + "/" + c.key)
			r, _ := h.readOpt(pv.DecisionNode(0, c.be, c.key))
			return v == c.offer && r == c.record
		})
	}
	// 9999 is outside the schema's bounds: refused, the default offered,
	// the error node says so.
	h.eventually(t, "indirect segments refused", func() bool {
		r, _ := h.readOpt(pv.DecisionNode(0, vbd, pv.KeyFeatureMaxIndirectSegs))
		return r == "refuse"
	})
	if got := h.read(t, vbd+"/"+pv.KeyFeatureMaxIndirectSegs); got != "256" {
		t.Errorf("%s = %s, want the default 256", pv.KeyFeatureMaxIndirectSegs, got)
	}
	if msg := h.read(t, pv.ErrorNode(0, vbd)); !schema.ErrorNames(msg, pv.KeyFeatureMaxIndirectSegs) || schema.ErrorNames(msg, pv.KeyMaxRingPageOrder) {
		t.Errorf("error node %q: want the refused request named, the applied one not", msg)
	}
	// A request taken back: the default again, its decision gone.
	if err := h.xs.Rm(bg, vbd+"/"+pv.ConfigKey(pv.KeyFeatureMaxIndirectSegs)); err != nil {
		t.Fatal(err)
	}
	h.eventually(t, "the withdrawn request's decision removed", func() bool {
		_, ok := h.readOpt(pv.DecisionNode(0, vbd, pv.KeyFeatureMaxIndirectSegs))
		_, errNode := h.readOpt(pv.ErrorNode(0, vbd))
		return !ok && !errNode
	})
	if got := h.read(t, vbd+"/"+pv.KeyMaxRingPageOrder); got != "1" {
		t.Errorf("after the withdrawal max-ring-page-order = %s, want 1 (still requested)", got)
	}
	if h.read(t, vif+"/state") != "2" || h.read(t, vbd+"/state") != "2" {
		t.Fatal("probing again changed the backends' state")
	}

	// The frontend starts and connects; a request written now waits.
	hg := h.hostile(t, 1, "vif", 0)
	pages, err := hg.g.Platform().AllocPages(2)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		ring.Init(pages.Bytes()[i*4096 : (i+1)*4096])
	}
	tx, _ := pages.Grant(0, 0, false)
	rx, _ := pages.Grant(1, 0, false)
	hg.write("tx-ring-ref", itoa(tx), "rx-ring-ref", itoa(rx), "event-channel", hg.port(), "request-rx-copy", "1", "state", "4")
	h.waitState(t, vif, pv.Connected)
	h.writeRequests(t, vif, pv.KeyMultiQueueMaxQueues, "1")
	// Nothing to wait for when nothing happens: give the watch events
	// the time a probe takes here (well under a millisecond) many times.
	time.Sleep(200 * time.Millisecond)
	if got := h.read(t, vif+"/"+pv.KeyMultiQueueMaxQueues); got != "2" {
		t.Errorf("a request written after the frontend connected changed the offer to %s", got)
	}
	if got := h.read(t, pv.DecisionNode(0, vif, pv.KeyMultiQueueMaxQueues)); got != "apply 2" {
		t.Errorf("decision now %q, want the one the frontend was offered", got)
	}
}
