package net

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/netback"
)

func TestPingThroughBridge(t *testing.T) {
	needRoot(t, "ping")
	h := startHost(t, netback.Limits{})
	a := h.createGuest(t, "a", 1, "")
	b := h.createGuest(t, "b", 2, "")
	out, err := a.run(t, 20*time.Second, "ping", "-c", "3", "-i", "0.2", "-W", "2", b.addr)
	if err != nil {
		t.Fatalf("ping %s from %s: %v\n%s\nhost log:\n%s", b.addr, a.name, err, out, h.log)
	}
	t.Logf("%s", out)
	// The bridge was missing: the host created it, said so, and removes
	// it when it stops (checked by the cleanup below).
	if !strings.Contains(h.log.String(), "bridge "+h.bridge+" was missing: created it") {
		t.Errorf("the host did not say it created bridge %s:\n%s", h.bridge, h.log)
	}
	h.stop()
	// Each vif's per-queue counters are in the log when it closes.
	if !strings.Contains(h.log.String(), "queue 0: from the guest") {
		t.Errorf("no per-queue counters in the log:\n%s", h.log)
	}
	for _, name := range []string{h.bridge, a.vifname, b.vifname} {
		if _, err := os.Stat("/sys/class/net/" + name); err == nil {
			t.Errorf("%s is still there after the host stopped", name)
		}
	}
	for _, g := range []*guest{a, b} {
		if _, err := os.Stat("/run/netns/" + g.netns); err == nil {
			t.Errorf("network namespace %s is still there after the host stopped", g.netns)
		}
	}
}

// TestIperfOffloadsAndQueues runs iperf3 TCP between two guests through
// both netbacks and the bridge, with offloads negotiated on and refused by
// config-*, with one and two queues; with two, every queue of both vifs
// must have carried traffic both ways.
func TestIperfOffloadsAndQueues(t *testing.T) {
	needRoot(t, "iperf3")
	secs := 2
	if testing.Short() {
		secs = 1
	}
	for _, tc := range []struct {
		name, opts string
		queues     int
	}{
		{"offloads-on/1-queue", "queues=1", 1},
		{"offloads-off/1-queue", "queues=1,tso4=off,tso6=off,csum=off,sg=off", 1},
		{"offloads-on/2-queues", "queues=2", 2},
		{"offloads-off/2-queues", "queues=2,tso4=off,tso6=off,csum=off,sg=off", 2},
		{"one-event-channel/2-queues", "queues=2,features=feature-split-event-channels:0", 2},
	} {
		if testing.Short() && tc.queues > 1 {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			h := startHost(t, netback.Limits{})
			a := h.createGuest(t, "a", 1, tc.opts)
			b := h.createGuest(t, "b", 2, tc.opts)
			va, vb := h.vif(t, a), h.vif(t, b)
			for _, v := range []*netback.Vif{va, vb} {
				if len(v.Queues) != tc.queues {
					t.Fatalf("%s: %d queues, want %d", &v.Device, len(v.Queues), tc.queues)
				}
				if split := !strings.Contains(tc.opts, "split-event-channels:0"); v.Negotiated.Split != split {
					t.Fatalf("%s: split event channels %v with %q", &v.Device, v.Negotiated.Split, tc.opts)
				}
				off := netback.Offloads(v.Negotiated)
				if on := !strings.Contains(tc.opts, "=off"); off.Csum != on || off.TSO4 != on || off.TSO6 != on {
					t.Fatalf("%s: offloads %+v with %q", &v.Device, off, tc.opts)
				}
			}
			// A virtio-net header exactly when offloads were negotiated.
			vnet := "vnet_hdr on"
			if strings.Contains(tc.opts, "=off") {
				vnet = "vnet_hdr off"
			}
			for _, name := range []string{va.InterfaceName(), vb.InterfaceName()} {
				if out, err := exec.Command("ip", "-d", "link", "show", name).CombinedOutput(); err != nil || !strings.Contains(string(out), vnet) {
					t.Errorf("%s: want %s: %v\n%s", name, vnet, err, out)
				}
			}
			if out, _ := a.run(t, 5*time.Second, "ip", "-d", "link", "show", a.ifname); !strings.Contains(out, vnet) {
				t.Errorf("guest %s: want %s:\n%s", a.ifname, vnet, out)
			}
			bps := iperf(t, a, b, secs, 4)
			t.Logf("iperf3 %s -> %s: %.2f Gbit/s", a.name, b.name, bps/1e9)
			if bps < 1e6 {
				t.Fatalf("iperf3 moved only %.0f bit/s", bps)
			}
			if tc.queues > 1 {
				udpFlows(t, a, b.addr, 64)
				udpFlows(t, b, a.addr, 64)
			}
			for _, v := range []*netback.Vif{va, vb} {
				for _, q := range v.Queues {
					tx, rx := q.Stats.TxPackets.Load(), q.Stats.RxPackets.Load()
					t.Logf("%s queue %d: from guest %d packets (%d bytes), to guest %d packets (%d bytes)",
						&v.Device, q.Index, tx, q.Stats.TxBytes.Load(), rx, q.Stats.RxBytes.Load())
					if tx == 0 || rx == 0 {
						t.Errorf("%s queue %d carried no traffic one way (tx %d, rx %d)", &v.Device, q.Index, tx, rx)
					}
				}
			}
		})
	}
}

// TestGuestToolsSeeNegotiation checks that what a guest negotiated is what
// its interface shows to ethtool (-k offloads, -l channels), to sysfs (its
// queues) and what `xfeat show` reports, for a device that refused TSO for
// IPv4 and asked for two queues.
func TestGuestToolsSeeNegotiation(t *testing.T) {
	needRoot(t, "ethtool")
	h := startHost(t, netback.Limits{})
	a := h.createGuest(t, "a", 1, "queues=2,tso4=off")
	out, err := a.run(t, 10*time.Second, "ethtool", "-k", a.ifname)
	if err != nil {
		t.Fatalf("ethtool -k: %v\n%s", err, out)
	}
	for _, want := range []string{"tx-checksum-ip-generic: on", "\ttx-tcp-segmentation: off", "tx-tcp6-segmentation: on", "scatter-gather: on"} {
		if !strings.Contains(out, want) {
			t.Errorf("ethtool -k %s lacks %q:\n%s", a.ifname, want, out)
		}
	}
	out, err = a.run(t, 10*time.Second, "ethtool", "-l", a.ifname)
	switch {
	case err != nil && strings.Contains(out, "Operation not supported"):
		// Older kernels' TAP driver has no channel operations; the
		// queues below (sysfs) are then what shows the count.
		t.Logf("ethtool -l is not supported by this kernel's TAP driver:\n%s", out)
	case err != nil:
		t.Fatalf("ethtool -l: %v\n%s", err, out)
	default:
		if _, cur, ok := strings.Cut(out, "Current hardware settings:"); !ok || !strings.Contains(cur, "Combined:\t2") {
			t.Errorf("ethtool -l %s does not show 2 combined channels:\n%s", a.ifname, out)
		}
	}
	out, err = a.run(t, 10*time.Second, "ls", "/sys/class/net/"+a.ifname+"/queues")
	if err != nil || strings.Join(strings.Fields(out), " ") != "rx-0 rx-1 tx-0 tx-1" {
		t.Errorf("queues of %s: %v %q", a.ifname, err, out)
	}
	// The host side's TAP carries the same offloads and queues.
	v := h.vif(t, a)
	hout, err := exec.Command("ethtool", "-k", v.InterfaceName()).CombinedOutput()
	if err != nil || !strings.Contains(string(hout), "\ttx-tcp-segmentation: off") || !strings.Contains(string(hout), "tx-tcp6-segmentation: on") {
		t.Errorf("ethtool -k %s (host side): %v\n%s", v.InterfaceName(), err, hout)
	}
	// xfeat show reports the same negotiation.
	cmd := exec.Command(xfeatBin, "show", "vif", a.name+"/0")
	cmd.Env = append(os.Environ(), "XENSTORED_PATH="+h.Socket(), "NO_COLOR=1")
	sout, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("xfeat show: %v\n%s", err, sout)
	}
	rows := map[string][]string{}
	for _, l := range strings.Split(string(sout), "\n") {
		f := strings.Split(l, "\t")
		rows[f[0]] = f
	}
	for name, want := range map[string][2]string{ // requested, negotiated
		"feature-gso-tcpv4":      {"0", "0"},
		"feature-gso-tcpv6":      {"-", "1"},
		"multi-queue-max-queues": {"2", "2"},
	} {
		r := rows[name]
		if len(r) < 6 || r[1] != want[0] || r[4] != want[1] {
			t.Errorf("xfeat show %s row %q, want requested %s negotiated %s\n%s", name, r, want[0], want[1], sout)
		}
	}
}

// TestMacMtuRate: mac= and mtu= are what both ends' interfaces carry, and
// rate= caps what the guest can send.
func TestMacMtuRate(t *testing.T) {
	needRoot(t, "iperf3")
	h := startHost(t, netback.Limits{})
	a := h.createGuest(t, "a", 1, "mtu=9000,rate=20Mb/s@20ms")
	b := h.createGuest(t, "b", 2, "mtu=9000")
	out, err := a.run(t, 5*time.Second, "ip", "-o", "link", "show", a.ifname)
	if err != nil || !strings.Contains(out, "mtu 9000") || !strings.Contains(out, "link/ether 00:16:3e:7a:00:01") {
		t.Errorf("guest interface: %v %s", err, out)
	}
	v := h.vif(t, a)
	hout, err := exec.Command("ip", "-o", "link", "show", v.InterfaceName()).CombinedOutput()
	if err != nil || !strings.Contains(string(hout), "mtu 9000") || !strings.Contains(string(hout), "master "+h.bridge) {
		t.Errorf("host interface: %v %s", err, hout)
	}
	if v.Keys.RateBytes != 50000 || v.Keys.RateMicros != 20000 {
		t.Errorf("rate keys %d bytes / %d us, want 50000 / 20000", v.Keys.RateBytes, v.Keys.RateMicros)
	}
	// A jumbo ping needs mtu 9000 on every hop.
	if out, err := a.run(t, 10*time.Second, "ping", "-c", "1", "-W", "2", "-M", "do", "-s", "8900", b.addr); err != nil {
		t.Errorf("jumbo ping: %v\n%s", err, out)
	}
	// a sends at most 20 Mbit/s (averaged); b, unlimited, sends to a freely.
	limited := iperf(t, a, b, 2, 1)
	free := iperf(t, b, a, 2, 1)
	t.Logf("a -> b (rate=20Mb/s): %.1f Mbit/s; b -> a: %.1f Mbit/s", limited/1e6, free/1e6)
	if limited > 30e6 || limited <= 0 {
		t.Errorf("rate=20Mb/s let %.1f Mbit/s through", limited/1e6)
	}
	if free < 2*limited {
		t.Errorf("the unlimited direction (%.1f Mbit/s) is not clearly faster than the limited one (%.1f)", free/1e6, limited/1e6)
	}
}

// TestIPv6OffloadsAndFallback runs iperf3 over IPv6 (the guests' link-local
// addresses: no address is configured) with TSO6 and IPv6 checksum offload
// on, and with IPv6 checksum offload refused, where both ends complete
// IPv6 checksums in software and the interfaces show no TSO6.
func TestIPv6OffloadsAndFallback(t *testing.T) {
	needRoot(t, "iperf3", "ethtool")
	for _, tc := range []struct{ name, opts, tso6 string }{
		{"offloads-on", "queues=1", "on"},
		{"no-ipv6-csum-offload", "queues=1,features=feature-ipv6-csum-offload:0", "off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHost(t, netback.Limits{})
			a := h.createGuest(t, "a", 1, tc.opts)
			b := h.createGuest(t, "b", 2, tc.opts)
			if out, _ := a.run(t, 5*time.Second, "ethtool", "-k", a.ifname); !strings.Contains(out, "tx-tcp6-segmentation: "+tc.tso6) {
				t.Fatalf("ethtool -k: want tx-tcp6-segmentation %s:\n%s", tc.tso6, out)
			}
			for _, g := range []*guest{a, b} {
				g.addr = linkLocal(t, g)
			}
			bps := iperf(t, a, b, 1, 1)
			t.Logf("iperf3 over IPv6 %s: %.2f Gbit/s", tc.name, bps/1e9)
			if bps < 1e6 {
				t.Fatalf("iperf3 over IPv6 moved only %.0f bit/s", bps)
			}
		})
	}
}

// linkLocal waits for the guest's IPv6 link-local address to finish
// duplicate address detection and returns it, scoped to the interface.
func linkLocal(t *testing.T, g *guest) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := g.run(t, 5*time.Second, "ip", "-6", "-o", "addr", "show", "dev", g.ifname, "scope", "link")
		if f := strings.Fields(out); len(f) >= 4 && !strings.Contains(out, "tentative") {
			addr, _, _ := strings.Cut(f[3], "/")
			return addr + "%" + g.ifname
		}
		if time.Now().After(deadline) {
			t.Fatalf("no usable link-local address on %s: %s", g.name, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
