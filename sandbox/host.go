// Package sandbox is the sandbox host: one process that plays the privileged
// domain of a Xen host in user space. It runs the embedded xenstored (dom0 on
// <rundir>/socket, each introduced domain on <rundir>/domains/<id>/socket),
// the dom0 backends (netback and blkback, control plane) and, for every
// domain introduced with XS_INTRODUCE, a guest: its memory and grant table
// (backends/grant), its event channels (backends/evtchn) and the reference
// frontends (backends/frontends), which talk to XenStore over that domain's
// own socket, unprivileged. XS_RELEASE stops the guest and removes its files.
//
// The host serves blkback's data path by default, and an I/O control socket
// (<rundir>/io.sock, blkio.go) through which `xfeat io` runs block
// workloads in a guest's blkfront.
//
// Where a feature enters and leaves: what the backends offer enters from
// Config (Netback and Blkback limits: xfeat host's flags) and leaves as the
// schemas they advertise; requests are the backends' business
// (backends/xenbus, netback, blkback), what the guests negotiate the
// frontends' (netfront, blkfront). The host wires them to its platform
// (platform.go: package platform's abilities on backends/grant and
// backends/evtchn).
//
// Start, Stop and Status manage a host detached from the calling process
// (`xfeat host start|stop|status`); Host is the host itself, in process
// (`xfeat host run`, and tests).
//
// Invariants: a guest or a device failing never stops the host; every grant
// mapping and event channel a device acquired is released when the device
// closes or the host stops; a guest's files exist exactly while it is
// introduced; every log line about a guest or one of its devices (which
// the guest can make happen again and again) goes through one per-domain
// limiter (internal/hostlog), so no guest grows the log at will.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/xfeat/xfeat/backends/blkback"
	"github.com/xfeat/xfeat/backends/evtchn"
	"github.com/xfeat/xfeat/backends/frontends/blkfront"
	"github.com/xfeat/xfeat/backends/frontends/netfront"
	"github.com/xfeat/xfeat/backends/netback"
	"github.com/xfeat/xfeat/backends/platform"
	"github.com/xfeat/xfeat/backends/xenbus"
	"github.com/xfeat/xfeat/internal/hostlog"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xenstored"
	"github.com/xfeat/xfeat/xsclient"
)

// Defaults for a domain whose /libxl/<id>/sandbox limits are absent (xl.cfg's
// defaults).
const (
	DefaultMaxGrantFrames   = 64
	DefaultMaxEventChannels = 1023
)

// Config configures a Host.
type Config struct {
	Rundir string
	// Netback and Blkback are the backends' limits; a zero MaxQueues
	// means the package's DefaultLimits.
	Netback netback.Limits
	Blkback blkback.Limits
	// NetbackDataPath and BlkbackDataPath, if set, serve connected
	// devices' rings (see netback.DataPath, blkback.DataPath).
	NetbackDataPath netback.DataPath
	BlkbackDataPath blkback.DataPath
	// NetData serves vifs with TAP devices (netback.TapPath) and gives
	// every guest with vifs a network namespace xfeat-<name> holding its
	// end (netfront.Tap). Needs CAP_NET_ADMIN; without it devices
	// still connect and their error node says so. TunPath overrides
	// /dev/net/tun.
	NetData bool
	TunPath string
	Quotas  xenstored.Quotas
	// Logf receives one line per notable event; nil discards them. Lines
	// about a guest or its devices are rate-limited per domain first.
	Logf func(format string, args ...any)
	// RunFrontends says whether an introduced domain runs the reference
	// frontends; nil means every domain does. A domain without them still
	// gets its memory, grant table and event channels (tests drive it).
	RunFrontends func(domid uint32) bool
}

// Host is a sandbox host in this process.
type Host struct {
	cfg Config
	srv *xenstored.Server
	xs  *xsclient.Client // dom0, in process
	net *xenbus.BackendBus
	blk *xenbus.BackendBus

	nbDriver *netback.Driver
	bbDriver *blkback.Driver
	tapPath  *netback.TapPath // Config.NetData
	netTap   *netfront.Tap    // Config.NetData
	plat     *backendPlatform
	events   *evtchn.Host
	lim      *hostlog.Limiter // per domain, before cfg.Logf

	stopping atomic.Bool

	mu       sync.Mutex
	guests   map[uint32]*Guest
	released map[uint32]*Guest // released, still removing their files
	ctx      context.Context   // set by Run; guests run under it
	wg       sync.WaitGroup
}

// New creates a host listening on <rundir>/socket. Connections are served
// once Run has advertised the backends' schemas.
func New(cfg Config) (*Host, error) {
	if cfg.Rundir == "" {
		return nil, errors.New("sandbox: no rundir")
	}
	if cfg.Netback.MaxQueues == 0 {
		cfg.Netback = netback.DefaultLimits()
	}
	if cfg.Blkback.MaxQueues == 0 {
		cfg.Blkback = blkback.DefaultLimits()
	}
	if err := cfg.Netback.Check(); err != nil {
		return nil, err
	}
	if err := cfg.Blkback.Check(); err != nil {
		return nil, err
	}
	h := &Host{cfg: cfg, guests: map[uint32]*Guest{}, released: map[uint32]*Guest{}}
	h.lim = hostlog.NewLimiter(h.logf)
	srv, err := xenstored.New(xenstored.Config{
		Rundir: cfg.Rundir, Quotas: cfg.Quotas, Logf: h.daemonLogf, DomainLogf: h.daemonDomainLogf,
		OnIntroduce: h.onIntroduce, OnRelease: h.onRelease,
	})
	if err != nil {
		return nil, err
	}
	h.srv = srv
	// No other host answers on this rundir (xenstored.New made sure):
	// whatever a killed host left of its guests goes.
	if err := os.RemoveAll(filepath.Join(cfg.Rundir, "domains")); err != nil {
		srv.Close()
		return nil, fmt.Errorf("sandbox: clearing a previous host's guests: %w", err)
	}
	a, b := net.Pipe()
	go srv.ServeConn(b, 0)
	h.xs = xsclient.NewClient(a)
	h.events = evtchn.NewHost(eventDir(cfg.Rundir))
	if h.plat, err = newBackendPlatform(cfg.Rundir, 0, h.events); err != nil {
		srv.Close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if cfg.BlkbackDataPath == nil {
		cfg.BlkbackDataPath = &blkback.Server{XenStore: h.xs, Logf: h.prefixed("blkback")}
		h.cfg.BlkbackDataPath = cfg.BlkbackDataPath
	}
	h.setupNetData()
	h.nbDriver = &netback.Driver{Limits: cfg.Netback, Platform: h.plat, Logf: h.prefixed("netback"), DataPath: h.cfg.NetbackDataPath}
	h.bbDriver = &blkback.Driver{Limits: cfg.Blkback, Platform: h.plat, Logf: h.prefixed("blkback"), DataPath: cfg.BlkbackDataPath}
	h.net = &xenbus.BackendBus{Client: h.xs, BackendID: 0, Driver: h.nbDriver, Logf: h.prefixed("netback")}
	h.blk = &xenbus.BackendBus{Client: h.xs, BackendID: 0, Driver: h.bbDriver, Logf: h.prefixed("blkback")}
	return h, nil
}

func (h *Host) logf(format string, args ...any) {
	if h.cfg.Logf != nil {
		h.cfg.Logf(format, args...)
	}
}

// daemonLogf passes the daemon's log on, except the end of the host's own
// in-process connection when the host stops.
func (h *Host) daemonLogf(format string, args ...any) {
	if h.stopping.Load() && len(args) > 0 {
		if err, ok := args[len(args)-1].(error); ok && errors.Is(err, io.ErrClosedPipe) {
			return
		}
	}
	h.logf(format, args...)
}

// daemonDomainLogf is daemonLogf for the lines a domain's connections
// cause: limited per domain.
func (h *Host) daemonDomainLogf(domid uint32, format string, args ...any) {
	if h.stopping.Load() && len(args) > 0 {
		if err, ok := args[len(args)-1].(error); ok && errors.Is(err, io.ErrClosedPipe) {
			return
		}
	}
	h.lim.Logf(domid, format, args...)
}

// guestLogf logs a line about guest domid (limited per domain).
func (h *Host) guestLogf(domid uint32, format string, args ...any) {
	h.lim.Logf(domid, "guest %d: "+format, append([]any{domid}, args...)...)
}

// prefixed is the log of a backend or frontend driver, whose lines about a
// device start with that device (a *xenbus.Device or *xenbus.FrontDevice,
// by the drivers' convention): those are limited per the device's guest
// domain. Other lines (a bridge created for the host) are the host's own.
func (h *Host) prefixed(p string) func(string, ...any) {
	return func(format string, args ...any) {
		var dom uint32
		if len(args) > 0 {
			switch d := args[0].(type) {
			case *xenbus.Device:
				dom = d.FrontendID
			case *xenbus.FrontDevice:
				dom = d.DomID
			}
		}
		h.lim.Logf(dom, p+": "+format, args...)
	}
}

// Socket is domain 0's XenStore socket.
func (h *Host) Socket() string { return h.srv.SocketPath() }

// Rundir is the host's run directory.
func (h *Host) Rundir() string { return h.cfg.Rundir }

// XenStore is the host's own dom0 connection (privileged).
func (h *Host) XenStore() *xsclient.Client { return h.xs }

// Run advertises the backends' schemas, serves XenStore and the devices
// until ctx is done, then stops every guest, closes every device and the
// daemon.
func (h *Host) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h.mu.Lock()
	h.ctx = ctx
	h.mu.Unlock()
	defer h.shutdown()

	if err := h.xs.Transact(ctx, func(tx *xsclient.Tx) error {
		if err := tx.Write(ctx, "/local/domain/0/name", []byte("Domain-0")); err != nil {
			return err
		}
		if err := tx.Write(ctx, pv.SandboxMarker, []byte(h.cfg.Rundir)); err != nil {
			return err
		}
		return tx.Write(ctx, "/local/domain/0/domid", []byte("0"))
	}); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	if err := h.net.Advertise(ctx); err != nil {
		return fmt.Errorf("sandbox: netback: %w", err)
	}
	if err := h.blk.Advertise(ctx); err != nil {
		return fmt.Errorf("sandbox: blkback: %w", err)
	}
	errc := make(chan error, 2)
	var bwg sync.WaitGroup
	for _, bus := range []*xenbus.BackendBus{h.net, h.blk} {
		bwg.Add(1)
		go func() {
			defer bwg.Done()
			if err := bus.Run(ctx); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	context.AfterFunc(ctx, func() { h.stopping.Store(true) })
	h.serveIO(ctx) // the I/O control socket (blkio.go)
	serr := h.srv.Serve(ctx)
	cancel()
	bwg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	if serr != nil && !errors.Is(serr, context.Canceled) {
		return serr
	}
	return nil
}

func (h *Host) shutdown() {
	h.mu.Lock()
	ids := slices.Sorted(mapsKeys(h.guests))
	h.mu.Unlock()
	for _, id := range ids {
		h.stopGuest(id)
	}
	h.wg.Wait()
	// The daemon first: it closes our in-process connection itself,
	// without logging it as a client gone astray.
	h.srv.Close()
	h.xs.Close()
	if h.tapPath != nil {
		h.tapPath.Close()
	}
	h.plat.close()
	h.events.Close()
	h.lim.Close() // what it held back is summarised now
	// The domains' socket directories are empty now; a stopped host
	// leaves no trace of its guests.
	dirs, _ := filepath.Glob(filepath.Join(h.cfg.Rundir, "domains", "*"))
	for _, d := range dirs {
		os.Remove(d)
	}
	os.Remove(filepath.Join(h.cfg.Rundir, "domains"))
}

func mapsKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// DomainStatus is what Host.Domains reports of one guest.
type DomainStatus struct {
	ID        uint32
	Frontends bool // runs the reference frontends
	Devices   []xenbus.FrontStatus
}

// Domains lists the guests, by id.
func (h *Host) Domains() []DomainStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []DomainStatus
	for _, id := range slices.Sorted(mapsKeys(h.guests)) {
		g := h.guests[id]
		ds := DomainStatus{ID: id, Frontends: g.netfront != nil}
		if g.netfront != nil {
			ds.Devices = append(ds.Devices, g.netfront.Devices()...)
			ds.Devices = append(ds.Devices, g.blkfront.Devices()...)
		}
		out = append(out, ds)
	}
	return out
}

// Guest returns the guest of domid, or nil.
func (h *Host) Guest(domid uint32) *Guest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.guests[domid]
}

// BackendDevices lists the devices the backends serve.
func (h *Host) BackendDevices() []xenbus.DeviceStatus {
	return append(h.net.Devices(), h.blk.Devices()...)
}

// GrantMappings is the number of grant mappings the backends hold, for leak
// checks.
func (h *Host) GrantMappings() int { return h.plat.mapped() }

// EventChannels is the number of event channels the backends have bound.
func (h *Host) EventChannels() int { return int(h.plat.bound.Load()) }

// Netback and Blkback return the backend drivers (their connected devices
// carry the rings a data path serves).
func (h *Host) Netback() *netback.Driver { return h.nbDriver }

// Blkback returns the block backend driver.
func (h *Host) Blkback() *blkback.Driver { return h.bbDriver }

// Guest is one introduced domain: its memory, grant table, event channels,
// XenStore connection and frontends.
type Guest struct {
	ID  uint32
	Dir string // where its files are: <rundir>/domains (domID.mem, .gnttab, .gntpin, .evtchn)

	plat     *guestPlatform
	xs       *xsclient.Client
	netfront *xenbus.FrontendBus
	blkfront *xenbus.FrontendBus
	cancel   context.CancelFunc
	ready    chan struct{} // closed once plat is set (or setting up failed)
	done     chan struct{}
}

// Platform is the guest's memory, grant table and event channels, for a
// test acting as the guest. It waits until they are set up; nil means
// setting up failed.
func (g *Guest) Platform() platform.Guest {
	<-g.ready
	if g.plat == nil {
		return nil
	}
	return g.plat
}

// Netfront and Blkfront are the guest's frontend drivers (nil when the
// guest runs none); their devices carry the guest's side of the rings.
func (g *Guest) Netfront() *netfront.Driver {
	<-g.ready
	if g.netfront == nil {
		return nil
	}
	return g.netfront.Driver.(*netfront.Driver)
}

// Blkfront is the guest's block frontend driver.
func (g *Guest) Blkfront() *blkfront.Driver {
	<-g.ready
	if g.blkfront == nil {
		return nil
	}
	return g.blkfront.Driver.(*blkfront.Driver)
}

// Done is closed when the guest has stopped.
func (g *Guest) Done() <-chan struct{} { return g.done }

func (h *Host) onIntroduce(d xenstored.Domain) {
	h.mu.Lock()
	if h.ctx == nil {
		h.mu.Unlock()
		return
	}
	// xenstored calls this only for a domain it did not know, so a guest
	// still in the table is a released one whose release hook has not
	// run yet (RELEASE and INTRODUCE on two connections): it goes now.
	if old := h.guests[d.ID]; old != nil {
		delete(h.guests, d.ID)
		h.released[d.ID] = old
		old.cancel()
		go h.reap(d.ID, old)
	}
	// A guest of the same id released a moment ago may still be
	// stopping: the new one sets up only once the old one's files are
	// gone.
	prev := h.released[d.ID]
	ctx, cancel := context.WithCancel(h.ctx)
	g := &Guest{ID: d.ID, Dir: guestDir(h.cfg.Rundir, d.ID), cancel: cancel, ready: make(chan struct{}), done: make(chan struct{})}
	h.guests[d.ID] = g
	h.wg.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.wg.Done()
		defer close(g.done)
		if prev != nil {
			// prev is cancelled already; its done also means every
			// older guest of this id is gone.
			<-prev.done
			if ctx.Err() != nil {
				close(g.ready)
				return
			}
		}
		if err := h.runGuest(ctx, g, d); err != nil {
			h.guestLogf(d.ID, "%v", err)
		}
	}()
}

// onRelease takes the guest out of the domain table at once (so that the
// id can be introduced again right away) and stops it in the background.
func (h *Host) onRelease(d xenstored.Domain) {
	h.mu.Lock()
	// If the id is introduced again already, onIntroduce has retired
	// (or will retire) the released guest: the one in the table is new.
	for _, cur := range h.srv.Domains() {
		if cur.ID == d.ID {
			h.mu.Unlock()
			return
		}
	}
	g := h.guests[d.ID]
	if g != nil {
		delete(h.guests, d.ID)
		h.released[d.ID] = g
		g.cancel()
	}
	h.mu.Unlock()
	if g != nil {
		go h.reap(d.ID, g)
	}
}

// reap forgets a released guest once it has stopped.
func (h *Host) reap(id uint32, g *Guest) {
	<-g.done
	h.mu.Lock()
	if h.released[id] == g {
		delete(h.released, id)
	}
	h.mu.Unlock()
}

func (h *Host) stopGuest(id uint32) {
	h.mu.Lock()
	g := h.guests[id]
	h.mu.Unlock()
	if g == nil {
		return
	}
	g.cancel()
	<-g.done
	h.mu.Lock()
	if h.guests[id] == g {
		delete(h.guests, id)
	}
	h.mu.Unlock()
}

// limit reads /libxl/<id>/sandbox/<key>, def when absent or bad.
func (h *Host) limit(ctx context.Context, id uint32, key string, def int) int {
	v, err := h.xs.ReadString(ctx, "/libxl/"+strconv.FormatUint(uint64(id), 10)+"/sandbox/"+key)
	if err != nil {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		h.guestLogf(id, "/libxl/%d/sandbox/%s = %q is not a positive number; using %d", id, key, v, def)
		return def
	}
	return n
}

// runGuest sets the guest up, runs its frontends until ctx is done, then
// releases everything and removes its files.
func (h *Host) runGuest(ctx context.Context, g *Guest, d xenstored.Domain) error {
	frames := h.limit(ctx, d.ID, "max-grant-frames", DefaultMaxGrantFrames)
	chans := h.limit(ctx, d.ID, "max-event-channels", DefaultMaxEventChannels)
	plat, err := newGuestPlatform(g.Dir, d.ID, frames, chans, h.events)
	if err != nil {
		close(g.ready)
		return err
	}
	g.plat = plat
	defer func() {
		plat.close()
		h.plat.forget(d.ID)
	}()
	h.guestLogf(d.ID, "started (max_grant_frames %d, max_event_channels %d)", frames, chans)
	defer h.guestLogf(d.ID, "stopped")
	if h.cfg.RunFrontends != nil && !h.cfg.RunFrontends(d.ID) {
		close(g.ready)
		<-ctx.Done()
		return nil
	}
	xs, err := xsclient.Dial(ctx, d.Socket)
	if err != nil {
		close(g.ready)
		return fmt.Errorf("connecting to %s: %w", d.Socket, err)
	}
	// The frontends share this connection, as a guest's drivers share its
	// xenbus ring: past the transaction quota they take turns.
	xs.WaitTxQuota = true
	g.xs = xs
	defer xs.Close()
	nf := &xenbus.FrontendBus{Client: xs, DomID: d.ID, Driver: h.netfront(plat), Logf: h.prefixed(fmt.Sprintf("guest %d netfront", d.ID))}
	bf := &xenbus.FrontendBus{Client: xs, DomID: d.ID, Driver: &blkfront.Driver{Platform: plat, MaxRingPageOrder: -1, Logf: h.prefixed(fmt.Sprintf("guest %d blkfront", d.ID))}, Logf: h.prefixed(fmt.Sprintf("guest %d blkfront", d.ID))}
	h.mu.Lock()
	g.netfront, g.blkfront = nf, bf
	h.mu.Unlock()
	close(g.ready)
	var wg sync.WaitGroup
	for _, bus := range []*xenbus.FrontendBus{nf, bf} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := bus.Run(ctx); err != nil && ctx.Err() == nil {
				h.guestLogf(d.ID, "%s: %v", bus.Driver.Kind(), err)
			}
		}()
	}
	wg.Wait()
	return nil
}
