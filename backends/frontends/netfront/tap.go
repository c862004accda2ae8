package netfront

// Tap is netfront's data path in the sandbox: the guest's end of each vif
// is a TAP device inside the guest's network namespace, xfeat-<domain name>,
// named eth<devid> there and configured with the vif's mac, mtu and ip, so
// that real tools (ping, iperf3, ethtool) run as the guest.
//
// Pipeline, per queue (one TAP queue per ring queue):
//
//	pump  with a single event channel only: waits on it and wakes tx and
//	      rx (split channels: each loop waits on its own)
//	tx    guest TAP -> tx ring: reads a frame (virtio-net header when
//	      offloads were negotiated) with readv straight into the queue's
//	      tx buffer pages (granted read-only to the backend once, at
//	      start), posts one request per page (+ a GSO extra slot),
//	      reclaims pages from tx responses
//	rx    rx ring -> guest TAP: keeps every rx buffer page (granted
//	      writable once) posted, finds each packet's slots (responses
//	      land in their request's slot, as Linux netfront assumes) and
//	      writes them with writev, behind a virtio-net header carrying
//	      its offloads, to the TAP
//
// What the guest negotiated is what its interface shows: the TAP's features
// (TUNSETOFFLOAD) are the negotiated checksum and TSO offloads, so
// `ethtool -k` reports them, and its queues are the negotiated queues:
// `ethtool -l` shows them as combined channels, and
// /sys/class/net/eth<devid>/queues/{rx,tx}-N lists them (the only place on
// kernels whose TAP driver has no ethtool channel operations).

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/xfeat/xfeat/backends/frontends/footprint"
	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/platform"
	"github.com/xfeat/xfeat/backends/ring"
	"github.com/xfeat/xfeat/backends/tap"
	"github.com/xfeat/xfeat/backends/xenbus"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xsclient"
)

// DataPath moves a connected netfront device's packets. Start runs when
// the backend is Connected; Stop before the rings are freed.
type DataPath interface {
	Start(ctx context.Context, c *xsclient.Client, d *Device) error
	Stop(d *Device)
}

// Device returns the device's XenBus identity.
func (d *Device) Device() xenbus.FrontDevice { return d.dev }

// NetnsPrefix starts the name of every guest's network namespace.
const NetnsPrefix = "xfeat-"

// NetnsName is the network namespace of the guest named name.
func NetnsName(name string) string { return NetnsPrefix + name }

// Buffers per queue and direction: one page per slot of a one-page tx or rx
// ring (256 slots each, __CONST_RING_SIZE of netif.h's rings), as Linux's
// xen-netfront grants them and footprint.Vif counts them.
const netBufs = footprint.NetBuffers

const (
	frameMax   = 65535 + 1
	bufSize    = tap.VnetHdrLen + frameMax + grant.PageSize
	maxTxSlots = ring.NetifNrSlotsMin
)

// Tap is the TAP-in-a-namespace data path.
type Tap struct {
	Logf func(format string, args ...any)
	// TunPath is the clone device; "" is /dev/net/tun.
	TunPath string

	mu    sync.Mutex
	devs  map[*Device]*frontPath
	netns map[string]int // devices per namespace this path created
}

// Stats count one queue's traffic from the guest's side.
type Stats struct {
	TxPackets, TxBytes, TxDropped atomic.Uint64
	RxPackets, RxBytes, RxDropped atomic.Uint64
}

type frontPath struct {
	t        *Tap
	d        *Device
	netns    string
	ifname   string
	dev      *tap.Device
	queues   []*frontQueue
	stop     chan struct{}
	stopping atomic.Bool
	wg       sync.WaitGroup
}

type frontQueue struct {
	fp   *frontPath
	q    *Queue
	file interface {
		Read([]byte) (int, error)
		Write([]byte) (int, error)
	}
	txPages        platform.Pages
	rxPages        platform.Pages
	txRefs, rxRefs [netBufs]uint32
	txWake, rxWake chan struct{}
	txNote, rxNote platform.Channel // notify the backend of tx / rx requests
	txWait, rxWait platform.Channel // split channels: the loops wait on them
	vec            *vecIO           // writev to the TAP queue (rx loop)
	txVec          *vecIO           // readv from the TAP queue (tx loop)
	hdr            [tap.VnetHdrLen]byte
	Stats          Stats
}

func (t *Tap) logf(format string, args ...any) {
	if t.Logf != nil {
		t.Logf(format, args...)
	}
}

// Offloads is what a guest TAP accepts given the negotiated features.
func Offloads(f map[string]bool) tap.Offloads {
	csum := !f[pv.KeyFeatureNoCsumOffload]
	return tap.Offloads{
		Csum: csum,
		TSO4: csum && f[pv.KeyFeatureSG] && f[pv.KeyFeatureGSOTCPv4],
		TSO6: csum && f[pv.KeyFeatureSG] && f[pv.KeyFeatureGSOTCPv6] && f[pv.KeyFeatureIPv6CsumOffl],
	}
}

// Start implements DataPath.
func (t *Tap) Start(ctx context.Context, c *xsclient.Client, d *Device) error {
	dev := d.dev
	name, err := c.ReadString(ctx, pv.DomainPath(dev.DomID)+"/name")
	if err != nil || name == "" || strings.ContainsAny(name, "/\x00") || len(name) > 200 {
		name = "dom" + strconv.FormatUint(uint64(dev.DomID), 10)
	}
	gl := tap.GuestLink{Netns: NetnsName(name), Name: "eth" + strconv.FormatUint(uint64(dev.DevID), 10),
		// A frame's size must fit netif's 16-bit field, with room for
		// headers (as Linux netfront: XEN_NETIF_MAX_TX_SIZE - MAX_TCP_HEADER).
		GSOMaxSize: ring.NetifMaxTxSize - 320}
	if v, err := c.ReadString(ctx, dev.Frontend+"/"+pv.KeyMAC); err == nil {
		if gl.MAC, err = net.ParseMAC(v); err != nil {
			return fmt.Errorf("mac %q: %v", v, err)
		}
	}
	if v, err := c.ReadString(ctx, dev.Frontend+"/"+pv.KeyMTU); err == nil {
		if gl.MTU, err = strconv.Atoi(v); err != nil {
			return fmt.Errorf("mtu %q: %v", v, err)
		}
	}
	if v, err := c.ReadString(ctx, dev.Backend+"/"+pv.KeyIP); err == nil {
		for _, a := range strings.Fields(v) {
			ip, ipn, err := net.ParseCIDR(a)
			if err != nil {
				if ip = net.ParseIP(a); ip == nil {
					return fmt.Errorf("ip %q: not ADDR/PREFIX", a)
				}
				bits := 32
				if ip.To4() == nil {
					bits = 128
				}
				ipn = &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}
			}
			ipn.IP = ip
			gl.Addrs = append(gl.Addrs, ipn)
		}
	}
	fp := &frontPath{t: t, d: d, netns: gl.Netns, ifname: gl.Name, stop: make(chan struct{})}
	// A name of its own in the host namespace until it moves: two hosts
	// (or a host and a killed one's leftovers) may serve the same domid.
	tmp := fmt.Sprintf("xfg%08x", rand.Uint32())
	tunPath := t.TunPath
	if tunPath == "" {
		tunPath = tap.TunPath
	}
	tdev, err := tap.CreateAt(tunPath, tmp, len(d.Queues), Offloads(d.Features))
	if err != nil {
		if errors.Is(err, tap.ErrNeedsNetAdmin) {
			t.logf("%s: no data path: %v", &dev, err)
			return nil
		}
		return err
	}
	fp.dev = tdev
	if _, err := tap.EnsureNetns(gl.Netns); err != nil {
		tdev.Close()
		return err
	}
	t.mu.Lock()
	if t.netns == nil {
		t.netns = map[string]int{}
		t.devs = map[*Device]*frontPath{}
	}
	t.netns[gl.Netns]++
	t.mu.Unlock()
	fail := func(err error) error {
		fp.release()
		return err
	}
	if err := tap.MoveToGuest(tmp, gl); err != nil {
		return fail(err)
	}
	p := d.drv.Platform
	for i, q := range d.Queues {
		fq := &frontQueue{fp: fp, q: q, file: tdev.Queues[i], txWake: make(chan struct{}, 1), rxWake: make(chan struct{}, 1),
			txNote: q.TxChannel, rxNote: q.TxChannel}
		if q.RxChannel != nil {
			fq.rxNote = q.RxChannel
		}
		fq.vec, fq.txVec = newVecIO(tdev.Queues[i]), newVecIO(tdev.Queues[i])
		if fq.vec == nil || fq.txVec == nil {
			return fail(fmt.Errorf("%s: no raw access to the TAP queue", tmp))
		}
		fp.queues = append(fp.queues, fq)
		if fq.txPages, err = p.AllocPages(netBufs); err != nil {
			return fail(err)
		}
		if fq.rxPages, err = p.AllocPages(netBufs); err != nil {
			return fail(err)
		}
		for k := 0; k < netBufs; k++ {
			if fq.txRefs[k], err = fq.txPages.Grant(k, dev.BackendID, true); err != nil {
				return fail(err)
			}
			if fq.rxRefs[k], err = fq.rxPages.Grant(k, dev.BackendID, false); err != nil {
				return fail(err)
			}
		}
	}
	for _, fq := range fp.queues {
		q := fq.q
		if q.RxChannel != nil {
			fq.txWait, fq.rxWait = q.TxChannel, q.RxChannel
		} else {
			fp.wg.Go(func() { platform.Pump(q.TxChannel, &fp.stopping, fq.txWake, fq.rxWake) })
		}
		fp.wg.Go(fq.txLoop)
		fp.wg.Go(fq.rxLoop)
	}
	t.mu.Lock()
	t.devs[d] = fp
	t.mu.Unlock()
	t.logf("%s: %s in network namespace %s (%d queues, offloads %+v)", &dev, gl.Name, gl.Netns, len(d.Queues), Offloads(d.Features))
	return nil
}

// release stops the goroutines, closes the TAP, frees the buffers and
// drops the namespace when its last device goes.
func (fp *frontPath) release() {
	fp.stopping.Store(true)
	close(fp.stop)
	for _, fq := range fp.queues {
		fq.q.TxChannel.Kick()
		if fq.q.RxChannel != nil {
			fq.q.RxChannel.Kick()
		}
	}
	fp.dev.Close()
	fp.wg.Wait()
	for _, fq := range fp.queues {
		for _, pg := range []platform.Pages{fq.txPages, fq.rxPages} {
			if pg != nil {
				pg.Free()
			}
		}
	}
	t := fp.t
	t.mu.Lock()
	t.netns[fp.netns]--
	last := t.netns[fp.netns] <= 0
	if last {
		delete(t.netns, fp.netns)
	}
	t.mu.Unlock()
	if last {
		if err := tap.DeleteNetns(fp.netns); err != nil {
			t.logf("removing network namespace %s: %v", fp.netns, err)
		}
	}
}

// Stop implements DataPath.
func (t *Tap) Stop(d *Device) {
	t.mu.Lock()
	fp := t.devs[d]
	delete(t.devs, d)
	t.mu.Unlock()
	if fp != nil {
		fp.release()
	}
}

// Stats returns the per-queue counters of a device's data path (nil when
// it has none).
func (t *Tap) Stats(d *Device) []*Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	fp := t.devs[d]
	if fp == nil {
		return nil
	}
	out := make([]*Stats, len(fp.queues))
	for i, fq := range fp.queues {
		out[i] = &fq.Stats
	}
	return out
}

// Interface returns the namespace and interface name of a device's guest
// end ("" when it has no data path).
func (t *Tap) Interface(d *Device) (netns, ifname string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fp := t.devs[d]; fp != nil {
		return fp.netns, fp.ifname
	}
	return "", ""
}

// waitOn sleeps until the backend notifies (on ch, or through wake from the
// pump); false means stop.
func (fq *frontQueue) waitOn(ch platform.Channel, wake chan struct{}) bool {
	if ch == nil {
		return fq.fp.wait(wake)
	}
	_, err := ch.Wait(0)
	return err == nil && !fq.fp.stopping.Load()
}

func (fp *frontPath) wait(wake chan struct{}) bool {
	select {
	case <-wake:
		return true
	case <-fp.stop:
		return false
	}
}

// RingPages returns the queue's shared tx and rx ring pages (the guest's own
// view), for tests that play a misbehaving frontend.
func (q *Queue) RingPages() (tx, rx []byte) {
	return q.txPages.Bytes(), q.rxPages.Bytes()
}
