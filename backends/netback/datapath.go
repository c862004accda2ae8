package netback

// TapPath is netback's data path: it moves a connected vif's packets between
// the guest's rings and a host TAP device, vif<domid>.<devid> (or vifname=),
// a port of the vif's bridge.
//
// Pipeline, per queue (one TAP queue per ring queue, IFF_MULTI_QUEUE), three
// goroutines:
//
//	pump  with a single event channel only: waits on it and wakes tx and
//	      rx (a channel of capacity 1 each: wake-ups coalesce, none is
//	      lost); with split channels tx and rx each wait on their own
//	tx    guest -> host: copies each tx ring request once (ring package),
//	      validates the packet (slots, offsets, sizes, extra info), grant-
//	      copies its fragments into one fixed buffer behind a virtio-net
//	      header, writes it to the TAP queue, responds, notifies
//	rx    host -> guest: reads one frame (and its virtio-net header) from
//	      the TAP queue, waits until the frontend has posted enough rx
//	      requests, grant-copies the frame into those pages, responds in
//	      the same slots (with GSO extra info), notifies
//
// Each goroutine allocates its buffers and request/response/copy arrays
// before its loop; nothing is allocated per packet. A frontend that stops
// posting rx requests stalls only its own rx goroutine: the kernel's TAP
// queue fills and drops, so memory stays bounded.
//
// A frontend breaking the protocol (a producer index past the ring, more
// slots than a packet may use, a fragment crossing its page, an unknown
// extra type or a GSO type it did not negotiate) fails its device: the
// error node says why and the backend goes Closing, as Linux netback's
// xenvif_fatal_tx_err does. Packets that are merely bad (zero-length or
// shorter than an Ethernet header, fragments adding up past the packet,
// grants that do not copy) are dropped with an error response.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/platform"
	"github.com/xfeat/xfeat/backends/ring"
	"github.com/xfeat/xfeat/backends/tap"
	"github.com/xfeat/xfeat/backends/xenbus"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xsclient"
)

// QueueStats count one queue's traffic, from the guest's side: Tx is what
// the guest transmitted (tx ring, to the TAP), Rx what it received.
// Unlocked reads are advisory.
type QueueStats struct {
	TxPackets, TxBytes, TxDropped, TxErrors atomic.Uint64
	RxPackets, RxBytes, RxDropped, RxErrors atomic.Uint64
}

const (
	// maxTxSlots is the most slots one packet may use (XEN_NETIF_NR_SLOTS_MIN,
	// Linux's XEN_NETBK_LEGACY_SLOTS_MAX): more is a fatal error.
	maxTxSlots = ring.NetifNrSlotsMin
	// maxExtras is the most extra-info slots a packet may carry (one per type).
	maxExtras = ring.NetifExtraTypeHash
	// frameMax is the largest frame either way (XEN_NETIF_MAX_TX_SIZE; GSO
	// frames from the TAP are bounded by the same 64 KiB).
	frameMax = 65535 + 1
	bufSize  = tap.VnetHdrLen + frameMax + 4096
	// maxRxSlots: a 64 KiB frame in whole pages plus the GSO extra slot.
	maxRxSlots = (frameMax+grant.PageSize-1)/grant.PageSize + 2
	// macHost is the host side's MAC, as Linux netback gives vifs.
	macHost = "fe:ff:ff:ff:ff:ff"
)

// TapPath serves connected vifs with TAP devices. Set XenStore and Taps
// before use.
type TapPath struct {
	// XenStore is the backend's (dom0) connection, used to report a
	// device's data-path error and to fail it.
	XenStore *xsclient.Client
	Logf     func(format string, args ...any)
	// Taps makes each vif's host side (HostTaps on Linux); nil is a
	// platform without TAP devices.
	Taps platform.Taps

	mu   sync.Mutex
	vifs map[*Vif]*vifPath
}

type vifPath struct {
	t        *TapPath
	v        *Vif
	dev      *tap.Device // nil when the data path could not be set up
	copier   platform.GrantCopier
	queues   []*queuePath
	stop     chan struct{}
	stopping atomic.Bool
	wg       sync.WaitGroup
	failed   atomic.Bool
	limit    *limiter
}

type queuePath struct {
	vp   *vifPath
	q    *Queue
	file interface {
		Read([]byte) (int, error)
		Write([]byte) (int, error)
	}
	txWake chan struct{}
	rxWake chan struct{}
	txNote platform.Channel // notifies tx responses
	rxNote platform.Channel // notifies rx responses
	// txWait and rxWait are the channels the loops wait on themselves
	// (split channels); nil means they wait for the pump's wake-ups.
	txWait, rxWait platform.Channel
	rxMem          []byte // the rx ring's shared page
}

// waitOn sleeps until the frontend notifies (on ch, or through wake from
// the pump); false means stop.
func (qp *queuePath) waitOn(ch platform.Channel, wake chan struct{}) bool {
	if ch == nil {
		return qp.vp.wait(wake)
	}
	_, err := ch.Wait(0)
	return err == nil && !qp.vp.stopping.Load()
}

func (t *TapPath) logf(format string, args ...any) {
	if t.Logf != nil {
		t.Logf(format, args...)
	}
}

// Offloads says what a vif's TAP accepts, from what was negotiated: the
// same features in both directions, since netfront echoes netback's offer.
func Offloads(n Negotiated) tap.Offloads {
	csum := !n.NoCsumOffload
	return tap.Offloads{
		Csum: csum,
		TSO4: csum && n.SG && n.GSOTCPv4,
		// Segmentation of IPv6 needs its checksum offload too (as
		// Linux's netdev_fix_features has it).
		TSO6: csum && n.SG && n.GSOTCPv6 && n.IPv6CsumOffload,
	}
}

// InterfaceName is the host-side name of a vif's TAP.
func (v *Vif) InterfaceName() string {
	if v.Keys.VifName != "" {
		return v.Keys.VifName
	}
	return fmt.Sprintf("vif%d.%d", v.Device.FrontendID, v.Device.DevID)
}

// Start implements DataPath. A platform that lacks grant copy or TAP
// devices gets the one behaviour of package platform: nothing moves, the
// vif stays connected, and its error node says why.
func (t *TapPath) Start(v *Vif) error {
	vp := &vifPath{t: t, v: v, stop: make(chan struct{})}
	if v.Keys.RateBytes > 0 {
		vp.limit = &limiter{bytes: int64(v.Keys.RateBytes), every: time.Duration(v.Keys.RateMicros) * time.Microsecond}
	}
	unavailable := func(err error) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		msg, nerr := xenbus.NoteUnavailable(ctx, t.XenStore, &v.Device, "no packets move", err)
		t.logf("%s: %s", &v.Device, msg)
		if nerr != nil {
			t.logf("%s: writing the error node: %v", &v.Device, nerr)
		}
		t.track(v, vp)
		return nil
	}
	copier, err := v.driver.Platform.CopyGrants(v.Device.FrontendID)
	if errors.Is(err, platform.ErrUnavailable) {
		return unavailable(err)
	}
	if err != nil {
		return err
	}
	if t.Taps == nil {
		copier.Close()
		return unavailable(fmt.Errorf("no TAP devices: %w", platform.ErrUnavailable))
	}
	name := v.InterfaceName()
	mac, _ := net.ParseMAC(macHost)
	dev, err := t.Taps.OpenTap(name, len(v.Queues), Offloads(v.Negotiated), tap.HostLink{MTU: v.Keys.MTU, MAC: mac, Bridge: v.Keys.Bridge})
	if err != nil {
		copier.Close()
		if errors.Is(err, platform.ErrUnavailable) {
			return unavailable(err)
		}
		return err
	}
	vp.dev, vp.copier = dev, copier
	for i, q := range v.Queues {
		qp := &queuePath{vp: vp, q: q, file: dev.Queues[i],
			txWake: make(chan struct{}, 1), rxWake: make(chan struct{}, 1),
			txNote: q.TxChannel, rxNote: q.TxChannel, rxMem: q.rxMapping.Bytes()}
		if q.RxChannel != nil {
			qp.rxNote = q.RxChannel
		}
		vp.queues = append(vp.queues, qp)
	}
	for _, qp := range vp.queues {
		q := qp.q
		if q.RxChannel != nil {
			// Split channels: each loop waits on its own channel, with
			// no goroutine in between.
			qp.txWait, qp.rxWait = q.TxChannel, q.RxChannel
		} else {
			vp.wg.Go(func() { platform.Pump(q.TxChannel, &vp.stopping, qp.txWake, qp.rxWake) })
		}
		vp.wg.Go(qp.txLoop)
		vp.wg.Go(qp.rxLoop)
	}
	t.track(v, vp)
	t.logf("%s: data path on %s (%d queues, bridge %q, offloads %+v)", &v.Device, name, len(v.Queues), v.Keys.Bridge, Offloads(v.Negotiated))
	return nil
}

func (t *TapPath) track(v *Vif, vp *vifPath) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.vifs == nil {
		t.vifs = map[*Vif]*vifPath{}
	}
	if vp == nil {
		delete(t.vifs, v)
	} else {
		t.vifs[v] = vp
	}
}

// Stop implements DataPath: it returns once no goroutine touches the rings.
func (t *TapPath) Stop(v *Vif) {
	t.mu.Lock()
	vp := t.vifs[v]
	t.mu.Unlock()
	if vp == nil {
		return
	}
	vp.stopping.Store(true)
	close(vp.stop)
	for _, qp := range vp.queues {
		qp.q.TxChannel.Kick()
		if qp.q.RxChannel != nil {
			qp.q.RxChannel.Kick()
		}
	}
	if vp.dev != nil {
		vp.dev.Close() // wakes readers and writers
	}
	vp.wg.Wait()
	if vp.copier != nil {
		vp.copier.Close()
	}
	t.track(v, nil)
	if vp.dev != nil {
		for _, q := range v.Queues {
			st := &q.Stats
			t.logf("%s: queue %d: from the guest %d packets %d bytes (%d dropped, %d bad grants); to the guest %d packets %d bytes (%d dropped, %d bad grants)",
				&v.Device, q.Index, st.TxPackets.Load(), st.TxBytes.Load(), st.TxDropped.Load(), st.TxErrors.Load(),
				st.RxPackets.Load(), st.RxBytes.Load(), st.RxDropped.Load(), st.RxErrors.Load())
		}
	}
}

// Close removes what the TAPs made beyond the devices (the bridges they
// created), once no vif uses them.
func (t *TapPath) Close() {
	if t.Taps != nil {
		t.Taps.Close()
	}
}

// note appends msg to the device's error node, keeping Probe's clauses.
func (t *TapPath) note(v *Vif, msg string) {
	if t.XenStore == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := xenbus.AppendError(ctx, t.XenStore, &v.Device, msg); err != nil {
		t.logf("%s: writing the error node: %v", &v.Device, err)
	}
}

// fail reports a frontend's protocol violation and has the device closed;
// the calling goroutine returns right after.
func (vp *vifPath) fail(format string, args ...any) {
	if vp.stopping.Load() || !vp.failed.CompareAndSwap(false, true) {
		return
	}
	msg := "data path: frontend misbehaved: " + fmt.Sprintf(format, args...)
	t, v := vp.t, vp.v
	t.logf("%s: %s: closing the device", &v.Device, msg)
	go func() {
		t.note(v, msg)
		if t.XenStore == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := xenbus.SwitchState(ctx, t.XenStore, v.Device.Backend, pv.Closing); err != nil {
			t.logf("%s: closing: %v", &v.Device, err)
		}
	}()
}

// wait sleeps until woken or stopped; false means stop.
func (vp *vifPath) wait(wake chan struct{}) bool {
	select {
	case <-wake:
		return true
	case <-vp.stop:
		return false
	}
}

// limiter is rate=: at most bytes every interval, averaged (Linux netback's
// credit scheduler: the credit refills each interval, a packet larger than
// what is left runs the credit into debt that the next intervals pay).
type limiter struct {
	bytes  int64
	every  time.Duration
	mu     sync.Mutex
	credit int64
	next   time.Time
}

// take waits until n bytes may go; false means stop.
func (l *limiter) take(n int, stop <-chan struct{}) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		now := time.Now()
		if !now.Before(l.next) {
			periods := int64(1)
			if !l.next.IsZero() {
				periods += int64(now.Sub(l.next) / l.every)
			}
			l.credit = min(l.credit+periods*l.bytes, l.bytes)
			l.next = now.Add(l.every)
		}
		if l.credit > 0 {
			l.credit -= int64(n)
			return true
		}
		d := time.Until(l.next)
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-stop:
			timer.Stop()
			return false
		}
	}
}

// HostTaps is the TAP ability of a Linux host (platform.Taps): TAP devices
// through the clone device and bridges through netlink, the same in the
// sandbox and in a real dom0.
type HostTaps struct {
	// TunPath is the clone device; "" is /dev/net/tun.
	TunPath string
	Logf    func(format string, args ...any)

	mu      sync.Mutex
	bridges map[string]bool // bridges OpenTap created
}

// OpenTap implements platform.Taps. The TAP is created first, so that a
// host without CAP_NET_ADMIN creates nothing (not even the bridge).
func (h *HostTaps) OpenTap(name string, queues int, off tap.Offloads, link tap.HostLink) (*tap.Device, error) {
	path := h.TunPath
	if path == "" {
		path = tap.TunPath
	}
	dev, err := tap.CreateAt(path, name, queues, off)
	if errors.Is(err, tap.ErrNeedsNetAdmin) {
		return nil, fmt.Errorf("%w: %w", err, platform.ErrUnavailable)
	}
	if err != nil {
		return nil, err
	}
	if br := link.Bridge; br != "" {
		created, err := tap.EnsureBridge(br)
		if err != nil {
			dev.Close()
			return nil, err
		}
		if created {
			h.mu.Lock()
			if h.bridges == nil {
				h.bridges = map[string]bool{}
			}
			h.bridges[br] = true
			h.mu.Unlock()
			h.logf("bridge %s was missing: created it", br)
		}
	}
	if err := tap.ConfigureHost(dev.Name, link); err != nil {
		dev.Close()
		return nil, err
	}
	return dev, nil
}

// Close implements platform.Taps: it removes the bridges OpenTap created.
func (h *HostTaps) Close() {
	h.mu.Lock()
	brs := h.bridges
	h.bridges = nil
	h.mu.Unlock()
	for br := range brs {
		if err := tap.DeleteLink(br); err != nil {
			h.logf("removing bridge %s: %v", br, err)
		} else {
			h.logf("removed bridge %s (created by this host)", br)
		}
	}
}

func (h *HostTaps) logf(format string, args ...any) {
	if h.Logf != nil {
		h.Logf(format, args...)
	}
}
