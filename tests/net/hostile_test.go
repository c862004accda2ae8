package net

import (
	"context"
	"encoding/binary"
	"fmt"
	gonet "net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/frontends/netfront"
	"github.com/xfeat/xfeat/backends/netback"
	"github.com/xfeat/xfeat/backends/ring"
	"github.com/xfeat/xfeat/backends/xenbus"
	"github.com/xfeat/xfeat/pv"
)

// hostileGuest is a guest whose netfront data path the test stopped: the
// test drives the rings itself, as a malicious frontend would.
type hostileGuest struct {
	*guest
	h    *host
	dev  *netfront.Device
	q    *netfront.Queue
	page []byte // a page granted read-only to dom0, holding a valid frame
	ref  uint32
}

func (h *host) hostile(t *testing.T, suffix string, hostByte int) *hostileGuest {
	t.Helper()
	g := h.createGuest(t, suffix, hostByte, "queues=1")
	hg := h.Guest(g.domid)
	dev := hg.Netfront().Device(0)
	if dev == nil {
		t.Fatalf("guest %s has no netfront device 0", g.name)
	}
	h.NetTap().Stop(dev)
	// Let the backend answer what the data path posted before it stopped
	// (the guest kernel's first packets), and consume those answers.
	q := dev.Queues[0]
	txPage, _ := q.RingPages()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if binary.LittleEndian.Uint32(txPage[ring.OffReqProd:]) == binary.LittleEndian.Uint32(txPage[ring.OffRspProd:]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the backend never answered the stopped data path's requests")
		}
	}
	for {
		var r ring.NetifTxResponse
		if ok, err := q.Tx.NextResponse(&r); err != nil || !ok {
			break
		}
	}
	pg, err := hg.Platform().AllocPages(1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := pg.Grant(0, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	// A broadcast Ethernet frame (ARP-sized) at the start of the page.
	frame := pg.Bytes()
	for i := 0; i < 6; i++ {
		frame[i] = 0xff
	}
	copy(frame[6:], []byte{0x00, 0x16, 0x3e, 0x7a, 0x00, byte(hostByte), 0x08, 0x06})
	return &hostileGuest{guest: g, h: h, dev: dev, q: dev.Queues[0], page: frame, ref: ref}
}

// post puts reqs on the tx ring and notifies the backend.
func (g *hostileGuest) post(reqs ...ring.NetifTxRequest) {
	for _, r := range reqs {
		slot, _ := g.q.Tx.ProduceRequest()
		*slot = r
	}
	g.q.Tx.PushRequests()
	g.q.TxChannel.Notify()
}

// responses waits for n tx responses and returns them.
func (g *hostileGuest) responses(t *testing.T, n int) []ring.NetifTxResponse {
	t.Helper()
	var out []ring.NetifTxResponse
	deadline := time.Now().Add(5 * time.Second)
	for len(out) < n {
		var r ring.NetifTxResponse
		ok, err := g.q.Tx.NextResponse(&r)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			out = append(out, r)
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d tx responses after 5 s", len(out), n)
		}
		time.Sleep(time.Millisecond)
	}
	return out
}

func (g *hostileGuest) backendDir() string {
	return pv.BackendPath(0, pv.Vif, g.domid, 0)
}

// waitFailed waits until the backend gave up on the device (Closing or
// Closed) with an error node containing want.
func (g *hostileGuest) waitFailed(t *testing.T, want string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _ := xenbus.ReadState(ctx, g.h.xs, g.backendDir())
		msg, _ := g.h.xs.ReadString(ctx, pv.ErrorNode(0, g.backendDir()))
		if (st == pv.Closing || st == pv.Closed) && strings.Contains(msg, want) {
			t.Logf("backend %s, error node: %s", st, msg)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend state %s, error node %q; want Closing/Closed and %q\nhost log:\n%s", st, msg, want, g.h.log)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (g *hostileGuest) mustStayConnected(t *testing.T) {
	t.Helper()
	if st, err := xenbus.ReadState(context.Background(), g.h.xs, g.backendDir()); err != nil || st != pv.Connected {
		t.Fatalf("backend state %v %v, want Connected (a bad packet is dropped, not fatal)", st, err)
	}
}

// TestHostileFrontend: a frontend breaking the netif protocol gets its
// packets dropped or its device closed; the host never panics, and two
// other guests on the same bridge keep talking throughout.
func TestHostileFrontend(t *testing.T) {
	needRoot(t, "ping")
	h := startHost(t, netback.Limits{})
	a := h.createGuest(t, "a", 1, "")
	b := h.createGuest(t, "b", 2, "")
	stillFlowing := func(t *testing.T) {
		t.Helper()
		if out, err := a.run(t, 15*time.Second, "ping", "-c", "2", "-i", "0.1", "-W", "2", b.addr); err != nil {
			t.Fatalf("the other guests stopped talking: %v\n%s\nhost log:\n%s", err, out, h.log)
		}
	}
	ok := func(g *hostileGuest, size uint16) ring.NetifTxRequest {
		return ring.NetifTxRequest{Gref: g.ref, Size: size, ID: 1}
	}
	host := 10
	next := func() int { host++; return host }

	t.Run("too-many-slots", func(t *testing.T) {
		g := h.hostile(t, "s", next())
		var reqs []ring.NetifTxRequest
		for i := 0; i < 20; i++ {
			reqs = append(reqs, ring.NetifTxRequest{Gref: g.ref, Size: 60, ID: uint16(i), Flags: ring.NetTxfMoreData})
		}
		reqs[0].Size = 20 * 60
		reqs[19].Flags = 0
		g.post(reqs...)
		g.waitFailed(t, "more than 18 slots")
		stillFlowing(t)
	})
	t.Run("offset-past-page", func(t *testing.T) {
		g := h.hostile(t, "o", next())
		g.post(ring.NetifTxRequest{Gref: g.ref, Offset: 4000, Size: 200})
		g.waitFailed(t, "crosses its page")
		stillFlowing(t)
	})
	t.Run("zero-length", func(t *testing.T) {
		g := h.hostile(t, "z", next())
		g.post(ok(g, 0))
		if r := g.responses(t, 1); r[0].Status != ring.NetifRspError || r[0].ID != 1 {
			t.Fatalf("response %+v, want id 1 status %d", r[0], ring.NetifRspError)
		}
		g.mustStayConnected(t)
		// A good packet still goes through afterwards.
		g.post(ok(g, 60))
		if r := g.responses(t, 1); r[0].Status != ring.NetifRspOkay {
			t.Fatalf("good packet after a bad one: %+v", r[0])
		}
		stillFlowing(t)
	})
	t.Run("over-64KiB", func(t *testing.T) {
		g := h.hostile(t, "l", next())
		// The total says 65535 but the 17 fragments add up to 17 pages.
		var reqs []ring.NetifTxRequest
		reqs = append(reqs, ring.NetifTxRequest{Gref: g.ref, Size: 65535, Flags: ring.NetTxfMoreData, ID: 0})
		for i := 1; i < 18; i++ {
			reqs = append(reqs, ring.NetifTxRequest{Gref: g.ref, Size: 4096, Flags: ring.NetTxfMoreData, ID: uint16(i)})
		}
		reqs[17].Flags = 0
		g.post(reqs...)
		for _, r := range g.responses(t, 18) {
			if r.Status != ring.NetifRspError {
				t.Fatalf("response %+v, want status %d", r, ring.NetifRspError)
			}
		}
		g.mustStayConnected(t)
		stillFlowing(t)
	})
	t.Run("bad-grants", func(t *testing.T) {
		g := h.hostile(t, "g", next())
		for _, ref := range []uint32{0, 99999999, g.ref + 1000} {
			g.post(ring.NetifTxRequest{Gref: ref, Size: 60, ID: 7})
			if r := g.responses(t, 1); r[0].Status != ring.NetifRspError {
				t.Fatalf("ref %d: response %+v, want an error", ref, r[0])
			}
		}
		g.mustStayConnected(t)
		if v := h.vif(t, g.guest); v.Queues[0].Stats.TxErrors.Load() != 3 {
			t.Fatalf("tx errors %d, want 3", v.Queues[0].Stats.TxErrors.Load())
		}
		stillFlowing(t)
	})
	t.Run("bad-gso-type", func(t *testing.T) {
		g := h.hostile(t, "t", next())
		var extra ring.NetifTxRequest
		extra.Extra().SetGSO(1448, 7, 0)
		g.post(ring.NetifTxRequest{Gref: g.ref, Size: 60, Flags: ring.NetTxfExtraInfo | ring.NetTxfCsumBlank}, extra)
		g.waitFailed(t, "GSO type 7")
		stillFlowing(t)
	})
	t.Run("request-producer-past-ring", func(t *testing.T) {
		g := h.hostile(t, "p", next())
		txPage, _ := g.q.RingPages()
		rspProd := binary.LittleEndian.Uint32(txPage[ring.OffRspProd:])
		binary.LittleEndian.PutUint32(txPage[ring.OffReqProd:], rspProd+300)
		g.q.TxChannel.Notify()
		g.waitFailed(t, "tx ring")
		stillFlowing(t)
	})
	t.Run("rx-never-consumed", func(t *testing.T) {
		g := h.hostile(t, "r", next())
		v := h.vif(t, g.guest)
		// The guest consumes nothing: a flood at it fills the 256 rx
		// slots its stopped data path left posted, then the backend
		// waits and the kernel drops at the TAP.
		mac := fmt.Sprintf("00:16:3e:7a:00:%02x", host)
		if out, err := a.run(t, 5*time.Second, "ip", "neigh", "replace", g.addr, "lladdr", mac, "dev", a.ifname); err != nil {
			t.Fatalf("static neighbour: %v %s", err, out)
		}
		q := &v.Queues[0].Stats
		base := q.RxPackets.Load() + q.RxErrors.Load()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		payload := make([]byte, 1400)
		sent := 0
		err := inNetns(t, a.netns, func() error {
			c, err := gonet.Dial("udp4", g.addr+":9")
			if err != nil {
				return err
			}
			defer c.Close()
			for end := time.Now().Add(time.Second); time.Now().Before(end); {
				if _, err := c.Write(payload); err == nil {
					sent++
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		got := q.RxPackets.Load() + q.RxErrors.Load() - base
		drops := readUint(t, "/sys/class/net/"+v.InterfaceName()+"/statistics/tx_dropped")
		t.Logf("sent %d datagrams; backend gave the guest %d, the host TAP dropped %d; heap %d -> %d KiB",
			sent, got, drops, before.HeapInuse>>10, after.HeapInuse>>10)
		if got > 256 {
			t.Errorf("the backend handed %d packets to a guest that posted 256 buffers", got)
		}
		if sent > 1000 && drops == 0 {
			t.Errorf("a guest that never consumes: no drops at its TAP after %d datagrams", sent)
		}
		if after.HeapInuse > before.HeapInuse+32<<20 {
			t.Errorf("heap grew from %d to %d KiB while flooding a stalled guest", before.HeapInuse>>10, after.HeapInuse>>10)
		}
		g.mustStayConnected(t)
		stillFlowing(t)
	})
}

func readUint(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
