package sandbox

import (
	"errors"
	"testing"

	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/xswire"
)

// Every request gets a decision node beside the device's error node, in
// the form schema.ParseRecord reads; the guest can neither read nor write
// it (nor the error node), as it can neither read nor write its requests.
func TestDecisionsRecorded(t *testing.T) {
	h := startHost(t, func(c *Config) {
		c.Netback.MaxQueues = 2
		c.Blkback.Disabled = []string{"feature-barrier"}
	})
	img := image(t, 1<<20)
	h.createDomain(t, 1,
		[]vifSpec{{devid: 0, config: map[string]string{
			"multi-queue-max-queues": "8", "feature-sg": "off", "feature-warp-drive": "1"}}},
		[]vbdSpec{{devid: 51712, params: img, mode: "r", config: map[string]string{
			"feature-barrier": "1", "feature-flush-cache": "1", "max-ring-page-order": "1"}}})
	vif, vbd := bePath("vif", 1, 0), bePath("vbd", 1, 51712)
	h.waitState(t, vif, pv.Connected)
	h.waitState(t, vbd, pv.Connected)

	for _, c := range []struct {
		be, feature, record string
	}{
		{vif, "multi-queue-max-queues", "clamp 2"},
		{vif, "feature-sg", "apply 0"},
		{vif, "feature-warp-drive", "ignore"},
		{vbd, "feature-barrier", "refuse"},     // not supported at all
		{vbd, "feature-flush-cache", "refuse"}, // the disk is read-only
		{vbd, "max-ring-page-order", "apply 1"},
	} {
		got := h.read(t, pv.DecisionNode(0, c.be, c.feature))
		if got != c.record {
			t.Errorf("%s: decision %q, want %q", c.feature, got, c.record)
		}
		if _, err := schema.ParseRecord(c.feature, got); err != nil {
			t.Error(err)
		}
	}
	msg := h.read(t, pv.ErrorNode(0, vbd))
	if !schema.ErrorNames(msg, "feature-flush-cache") || schema.ErrorNames(msg, "max-ring-page-order") {
		t.Errorf("vbd error node %q: want the refused flush named, the applied order not", msg)
	}
	if got := h.read(t, vbd+"/feature-flush-cache"); got != "0" {
		t.Errorf("read-only vbd offers feature-flush-cache=%s", got)
	}

	guest := h.dialGuest(t, 1)
	node := pv.DecisionNode(0, vif, "multi-queue-max-queues")
	if _, err := guest.Read(bg, node); !errors.Is(err, xswire.ErrPermission) && !errors.Is(err, xswire.ErrNotFound) {
		t.Errorf("the guest reads its decision node: %v", err)
	}
	if err := guest.WriteString(bg, node, "apply 8"); err == nil {
		t.Error("the guest wrote its decision node")
	}
	if got := h.read(t, node); got != "clamp 2" {
		t.Errorf("decision node now %q", got)
	}

	// The decisions go with the device.
	h.destroy(t, "vif", 1, 0)
	if err := h.xs.Rm(bg, vif); err != nil {
		t.Fatal(err)
	}
	h.eventually(t, "decision nodes removed", func() bool {
		ok, _ := h.xs.Exists(bg, pv.DecisionDir(0, vif))
		return !ok
	})
}
