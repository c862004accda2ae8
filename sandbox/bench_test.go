package sandbox

import (
	"strconv"
	"testing"

	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xsclient"
)

// BenchmarkConnectTeardown measures one vif (2 queues, split channels) and
// one vbd (2 queues, order 2) of a running guest going from creation by the
// toolstack to Connected on both ends and back to Closed, with the dirs
// removed: the control plane's whole round trip.
func BenchmarkConnectTeardown(b *testing.B) {
	h := startHost(b, nil)
	img := imageTB(b, 1<<20)
	h.createDomain(b, 1, nil, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dev := uint32(i)
		vbdDev := uint32(51712 + i)
		d := strconv.Itoa(i)
		vfe, vbe := fePath("vif", 1, dev), bePath("vif", 1, dev)
		bfe, bbe := fePath("vbd", 1, vbdDev), bePath("vbd", 1, vbdDev)
		err := h.xs.Transact(bg, func(tx *xsclient.Tx) error {
			// Directories first, with their permissions, so that the
			// keys inherit them (libxl's order).
			for _, dp := range [][3]string{{vfe, "n1", "r0"}, {bfe, "n1", "r0"}, {vbe, "n0", "r1"}, {bbe, "n0", "r1"}} {
				if err := tx.Mkdir(bg, dp[0]); err != nil {
					return err
				}
				if err := tx.SetPerms(bg, dp[0], p(dp[1], dp[2])); err != nil {
					return err
				}
			}
			for _, kv := range [][2]string{
				{vfe + "/backend", vbe}, {vfe + "/backend-id", "0"}, {vfe + "/state", "1"}, {vfe + "/handle", d},
				{vbe + "/frontend", vfe}, {vbe + "/frontend-id", "1"}, {vbe + "/online", "1"}, {vbe + "/state", "1"},
				{vbe + "/config-multi-queue-max-queues", "2"},
				{bfe + "/backend", bbe}, {bfe + "/backend-id", "0"}, {bfe + "/state", "1"}, {bfe + "/virtual-device", strconv.Itoa(int(vbdDev))},
				{bbe + "/frontend", bfe}, {bbe + "/frontend-id", "1"}, {bbe + "/online", "1"}, {bbe + "/state", "1"},
				{bbe + "/params", img}, {bbe + "/mode", "w"},
				{bbe + "/config-multi-queue-max-queues", "2"}, {bbe + "/config-max-ring-page-order", "2"},
			} {
				if err := tx.Write(bg, kv[0], []byte(kv[1])); err != nil {
					return err
				}
			}
			for _, k := range []string{"config-multi-queue-max-queues", "config-max-ring-page-order"} {
				for _, dir := range []string{vbe, bbe} {
					if ok, _ := tx.Exists(bg, dir+"/"+k); ok {
						if err := tx.SetPerms(bg, dir+"/"+k, p("n0")); err != nil {
							return err
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		h.waitState(b, vfe, pv.Connected)
		h.waitState(b, bfe, pv.Connected)
		h.waitState(b, vbe, pv.Connected)
		h.waitState(b, bbe, pv.Connected)
		h.destroy(b, "vif", 1, dev)
		h.destroy(b, "vbd", 1, vbdDev)
		for _, dir := range []string{vfe, vbe, bfe, bbe} {
			h.xs.Rm(bg, dir)
		}
	}
	b.StopTimer()
	if n := h.GrantMappings(); n != 0 {
		b.Fatalf("%d grant mappings left", n)
	}
}
