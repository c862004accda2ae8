// Package evtchn is the sandbox host's interdomain event channels: Xen's
// EVTCHNOP_alloc_unbound, bind_interdomain, send and close, with the
// per-domain limit max_event_channels, working across processes.
//
// # Mechanism
//
// Each domain has a file dir/domN.evtchn, mapped MAP_SHARED by every process
// that uses the domain's channels:
//
//	0    header: magic "XFEV", version, domid, max_event_channels (u32 each)
//	64   port table, one 64-byte entry per port 0..max (port 0 is reserved,
//	     as in Xen): state u32 @0, remote domid u32 @4, remote port u32 @8,
//	     pending word u32 @16
//
// The pending word is both the notification state and a futex: bits 0..29
// count notifications not yet consumed (saturating), bit 30 is set when the
// port is closed, bit 31 says a waiter is asleep. Notify adds one with a
// compare-and-swap and wakes the waiter only if the waiter bit was set; Wait
// takes the whole count at once (so a burst of notifications is consumed as
// one batch, like Xen's single pending bit, but the count is kept for
// statistics) and otherwise sets the waiter bit and sleeps. Shared
// (non-private) futexes on a MAP_SHARED file work between processes, so a
// backend and a frontend in different processes need nothing else: no
// sockets, no fd passing. A Go Wait parks its goroutine rather than its
// thread, and a relay turns other processes' FUTEX_WAKE into a Go wake-up
// (local.go).
//
// Control operations (alloc, bind, close) take flock on the domain files
// involved, in domid order, plus a mutex within the process; Notify and Wait
// take no lock.
//
// # Rules
//
// One goroutine waits on a port at a time (as one handler is bound to a Xen
// port). Notify on a port that is not (or no longer) interdomain-bound is
// dropped silently, as EVTCHNOP_send does for an unbound port. Closing a port
// returns its peer to the unbound state (allowing the same remote domain to
// bind again) and wakes the peer's waiter.
package evtchn

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// DomID is a Xen domain id.
type DomID uint16

// Port is an event channel port number within one domain.
type Port uint32

// Port states (ECS_*).
const (
	stateFree        = 0
	stateUnbound     = 1
	stateInterdomain = 2
	stateReserved    = 3
)

const (
	magic      = 0x56454658 // "XFEV" little-endian
	version    = 1
	headerSize = 64
	entrySize  = 64

	offState      = 0
	offRemoteDom  = 4
	offRemotePort = 8
	offPending    = 16

	countMask = 1<<30 - 1
	closedBit = 1 << 30
	waiterBit = 1 << 31

	// DefaultMaxChannels is libxl's default max_event_channels.
	DefaultMaxChannels = 1023
	// MaxChannelsLimit bounds max_event_channels (Xen's 2-level ABI limit on
	// 64-bit guests is 4096; FIFO allows more, which no PV device needs).
	MaxChannelsLimit = 1 << 17
)

var (
	// ErrNoSpace is returned when a domain has used max_event_channels ports.
	ErrNoSpace = errors.New("evtchn: no free port (max_event_channels reached)")
	// ErrInvalid is returned for a port or peer in the wrong state (EINVAL).
	ErrInvalid = errors.New("evtchn: invalid port or port state")
	// ErrClosed is returned by Wait when the port is closed under it.
	ErrClosed = errors.New("evtchn: port closed")
	// ErrTimeout is returned by Wait when the timeout passes.
	ErrTimeout = errors.New("evtchn: wait timed out")
	// ErrNoDomain is returned for a domain without an event channel file.
	ErrNoDomain = errors.New("evtchn: no such domain")
)

// Host gives access to the event channels of the domains in one run
// directory. It maps each domain's file once. Safe for concurrent use.
//
// A domain that is removed (or whose file another process re-created)
// leaves the table, but its mapping stays until nothing can touch it any
// more: Channels, the peers Notify caches and the relays all hold the
// *domain, and a cleanup unmaps the file once the domain is unreachable.
// Unmapping at RemoveDomain would fault a Notify racing with it; never
// unmapping cost one mapping per guest ever run.
type Host struct {
	dir  string
	mu   sync.Mutex // guards doms; held across control operations
	doms map[DomID]*domain
}

type domain struct {
	id   DomID
	f    *os.File
	mem  []byte
	max  uint32
	st   os.FileInfo // identity of the mapped file
	gone atomic.Bool

	unmap runtime.Cleanup // of the mapping, once the domain is unreachable

	waiters sync.Map // Port -> *waiter: this process's Waits on the port
}

// mapping is what a domain's cleanup releases; it must not refer to the
// domain itself.
type mapping struct {
	mem []byte
	f   *os.File
}

func release(m mapping) {
	unix.Munmap(m.mem)
	m.f.Close()
}

// NewHost returns a Host for the domains whose files live in dir.
func NewHost(dir string) *Host { return &Host{dir: dir, doms: map[DomID]*domain{}} }

// Path returns the event channel file of domain id.
func (h *Host) Path(id DomID) string { return filepath.Join(h.dir, fmt.Sprintf("dom%d.evtchn", id)) }

// CreateDomain creates domain id's event channel file with room for
// maxChannels ports (xl.cfg max_event_channels; ports 1..maxChannels).
func (h *Host) CreateDomain(id DomID, maxChannels int) error {
	if maxChannels < 1 || maxChannels > MaxChannelsLimit {
		return fmt.Errorf("evtchn: domain %d: max_event_channels %d out of range 1..%d", id, maxChannels, MaxChannelsLimit)
	}
	f, err := os.OpenFile(h.Path(id), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("evtchn: create domain %d: %w", id, err)
	}
	defer f.Close()
	size := headerSize + (maxChannels+1)*entrySize
	if err := f.Truncate(int64(size)); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("evtchn: create domain %d: %w", id, err)
	}
	hdr := make([]byte, headerSize)
	le32(hdr[0:], magic)
	le32(hdr[4:], version)
	le32(hdr[8:], uint32(id))
	le32(hdr[12:], uint32(maxChannels))
	ent := make([]byte, 4)
	le32(ent, stateReserved)
	if _, err := f.WriteAt(ent, headerSize+offState); err == nil {
		_, err = f.WriteAt(hdr, 0) // header last: a half-made file has no magic
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("evtchn: create domain %d: %w", id, err)
	}
	return nil
}

func le32(b []byte, v uint32) { b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24) }

// RemoveDomain deletes domain id's file and wakes every waiter on its ports
// with ErrClosed. Peers' ports stay bound to it; their notifications go
// nowhere.
func (h *Host) RemoveDomain(id DomID) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.domLocked(id)
	if err != nil {
		return err
	}
	for p := uint32(1); p <= d.max; p++ {
		e := d.entry(Port(p))
		if e.state().Load() != stateFree {
			e.state().Store(stateFree)
			e.pending().Store(closedBit)
			futexWake(e.pending())
			d.endRelay(Port(p))
		}
	}
	d.gone.Store(true)
	delete(h.doms, id)
	return os.Remove(h.Path(id))
}

// Close unmaps every domain file this Host mapped. Channels obtained from it
// must not be used afterwards.
func (h *Host) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var first error
	for id, d := range h.doms {
		// Relays sleep on words in this mapping: end them first.
		d.waiters.Range(func(k, v any) bool {
			v.(*waiter).halt(d.entry(k.(Port)).pending())
			return true
		})
		d.unmap.Stop()
		if err := unix.Munmap(d.mem); err != nil && first == nil {
			first = err
		}
		d.f.Close()
		delete(h.doms, id)
	}
	return first
}

// Must hold h.mu.
func (h *Host) domLocked(id DomID) (*domain, error) {
	if d, ok := h.doms[id]; ok && !d.gone.Load() {
		// Another process may have removed and re-created the domain:
		// the cached mapping is only good while the path names its file.
		if st, err := os.Stat(h.Path(id)); err == nil && os.SameFile(st, d.st) {
			return d, nil
		}
		d.gone.Store(true)
	}
	f, err := os.OpenFile(h.Path(id), os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %d", ErrNoDomain, id)
		}
		return nil, fmt.Errorf("evtchn: %w", err)
	}
	st, err := f.Stat()
	if err != nil || st.Size() < headerSize+2*entrySize || st.Size() > headerSize+(MaxChannelsLimit+1)*entrySize {
		f.Close()
		return nil, fmt.Errorf("evtchn: domain %d: bad event channel file", id)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("evtchn: mmap domain %d: %w", id, err)
	}
	d := &domain{id: id, f: f, mem: mem, st: st}
	hm, hv, hid, hmax := d.header()
	if hm != magic || hv != version || hid != uint32(id) || int64(headerSize+(int(hmax)+1)*entrySize) != st.Size() {
		unix.Munmap(mem)
		f.Close()
		return nil, fmt.Errorf("evtchn: domain %d: bad event channel file header", id)
	}
	d.max = hmax
	d.unmap = runtime.AddCleanup(d, release, mapping{mem, f})
	h.doms[id] = d
	return d, nil
}

func (d *domain) lock() error   { return unix.Flock(int(d.f.Fd()), unix.LOCK_EX) }
func (d *domain) unlock() error { return unix.Flock(int(d.f.Fd()), unix.LOCK_UN) }

// lockDoms takes the file locks of a and b in domid order (a may equal b).
func lockDoms(a, b *domain) (unlock func(), err error) {
	if a.id > b.id {
		a, b = b, a
	}
	if err := a.lock(); err != nil {
		return nil, err
	}
	if a != b {
		if err := b.lock(); err != nil {
			a.unlock()
			return nil, err
		}
	}
	return func() {
		if a != b {
			b.unlock()
		}
		a.unlock()
	}, nil
}

func (d *domain) valid(p Port) bool { return p >= 1 && uint32(p) <= d.max }

// MaxChannels returns domain id's max_event_channels.
func (h *Host) MaxChannels(id DomID) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.domLocked(id)
	if err != nil {
		return 0, err
	}
	return int(d.max), nil
}

// AllocUnbound allocates a port in dom that remote may bind to
// (EVTCHNOP_alloc_unbound).
func (h *Host) AllocUnbound(dom, remote DomID) (Port, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.domLocked(dom)
	if err != nil {
		return 0, err
	}
	unlock, err := lockDoms(d, d)
	if err != nil {
		return 0, err
	}
	defer unlock()
	p, err := d.allocLocked()
	if err != nil {
		return 0, err
	}
	e := d.entry(p)
	e.remoteDom().Store(uint32(remote))
	e.remotePort().Store(0)
	e.pending().Store(0)
	e.state().Store(stateUnbound)
	return p, nil
}

// Must hold the domain's file lock.
func (d *domain) allocLocked() (Port, error) {
	for p := uint32(1); p <= d.max; p++ {
		if d.entry(Port(p)).state().Load() == stateFree {
			return Port(p), nil
		}
	}
	return 0, fmt.Errorf("%w: domain %d has %d", ErrNoSpace, d.id, d.max)
}

// BindInterdomain binds a new port of dom to remotePort of remoteDom, which
// must be unbound and allocated for dom (EVTCHNOP_bind_interdomain).
func (h *Host) BindInterdomain(dom, remoteDom DomID, remotePort Port) (Port, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ld, err := h.domLocked(dom)
	if err != nil {
		return 0, err
	}
	rd, err := h.domLocked(remoteDom)
	if err != nil {
		return 0, err
	}
	unlock, err := lockDoms(ld, rd)
	if err != nil {
		return 0, err
	}
	defer unlock()
	if !rd.valid(remotePort) {
		return 0, fmt.Errorf("%w: domain %d port %d", ErrInvalid, remoteDom, remotePort)
	}
	re := rd.entry(remotePort)
	if re.state().Load() != stateUnbound || DomID(re.remoteDom().Load()) != dom {
		return 0, fmt.Errorf("%w: domain %d port %d is not unbound for domain %d", ErrInvalid, remoteDom, remotePort, dom)
	}
	lp, err := ld.allocLocked()
	if err != nil {
		return 0, err
	}
	le := ld.entry(lp)
	le.remoteDom().Store(uint32(remoteDom))
	le.remotePort().Store(uint32(remotePort))
	le.pending().Store(0)
	le.state().Store(stateInterdomain)
	re.remotePort().Store(uint32(lp))
	re.state().Store(stateInterdomain)
	// Xen raises the event on the local port after binding, so a
	// notification sent before the bind is not lost.
	ld.wakeWord(lp, le.pending())
	return lp, nil
}

// CloseChannel closes port of dom (EVTCHNOP_close): an interdomain peer goes
// back to unbound for dom, and a waiter on the port gets ErrClosed.
func (h *Host) CloseChannel(dom DomID, port Port) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.domLocked(dom)
	if err != nil {
		return err
	}
	if !d.valid(port) {
		return fmt.Errorf("%w: domain %d port %d", ErrInvalid, dom, port)
	}
	e := d.entry(port)
	var rd *domain
	if e.state().Load() == stateInterdomain {
		rd, _ = h.domLocked(DomID(e.remoteDom().Load())) // a removed peer is fine
	}
	if rd == nil {
		rd = d
	}
	unlock, err := lockDoms(d, rd)
	if err != nil {
		return err
	}
	defer unlock()
	switch e.state().Load() {
	case stateUnbound:
	case stateInterdomain:
		if rd != d || DomID(e.remoteDom().Load()) == dom {
			rp := Port(e.remotePort().Load())
			if rd.valid(rp) {
				re := rd.entry(rp)
				if re.state().Load() == stateInterdomain && DomID(re.remoteDom().Load()) == dom && Port(re.remotePort().Load()) == port {
					re.remotePort().Store(0)
					re.state().Store(stateUnbound)
				}
			}
		}
	default:
		return fmt.Errorf("%w: domain %d port %d is not open", ErrInvalid, dom, port)
	}
	e.state().Store(stateFree)
	e.pending().Store(closedBit)
	futexWake(e.pending())
	d.endRelay(port)
	return nil
}

// Channel returns a handle for notifying and waiting on port of dom.
func (h *Host) Channel(dom DomID, port Port) (*Channel, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.domLocked(dom)
	if err != nil {
		return nil, err
	}
	if !d.valid(port) {
		return nil, fmt.Errorf("%w: domain %d port %d", ErrInvalid, dom, port)
	}
	if !d.entry(port).open() {
		return nil, fmt.Errorf("%w: domain %d port %d is not open", ErrInvalid, dom, port)
	}
	return &Channel{h: h, dom: dom, port: port, d: d, local: d.entry(port)}, nil
}

// Channel is one open port of one domain. Notify may be called from any
// goroutine; Wait and Poll from one goroutine at a time.
type Channel struct {
	h     *Host
	dom   DomID
	port  Port
	d     *domain
	local entry

	w     *waiter // Wait's; only the waiting goroutine touches w and timer
	timer *time.Timer

	// Peer resolved by Notify, cached while the binding does not change
	// (replaced, never mutated, so Notify needs no lock).
	peer atomic.Pointer[peerCache]

	notifies, wakeups atomic.Uint64 // statistics
}

type peerCache struct {
	dom  DomID
	port Port
	d    *domain
	w    *atomicU32
}

// Port returns the channel's port number.
func (c *Channel) Port() Port { return c.port }

// Remote returns the bound peer, if any.
func (c *Channel) Remote() (DomID, Port, bool) {
	if c.local.state().Load() != stateInterdomain {
		return 0, 0, false
	}
	return DomID(c.local.remoteDom().Load()), Port(c.local.remotePort().Load()), true
}

// Notify sends an event to the peer (EVTCHNOP_send). On a port that is not
// interdomain-bound the event is dropped, as in Xen. It returns an error only
// for a closed port.
func (c *Channel) Notify() error {
	st := c.local.state().Load()
	if st != stateInterdomain {
		if st == stateUnbound {
			return nil
		}
		return ErrClosed
	}
	rdom, rport := DomID(c.local.remoteDom().Load()), Port(c.local.remotePort().Load())
	pc := c.peer.Load()
	if pc == nil || pc.dom != rdom || pc.port != rport || pc.d.gone.Load() {
		c.h.mu.Lock()
		d, err := c.h.domLocked(rdom)
		c.h.mu.Unlock()
		if err != nil || !d.valid(rport) {
			return nil // the peer went away: nowhere to deliver
		}
		pc = &peerCache{dom: rdom, port: rport, d: d, w: d.entry(rport).pending()}
		c.peer.Store(pc)
	}
	c.notifies.Add(1)
	if pc.d.wakeWord(pc.port, pc.w) {
		c.wakeups.Add(1)
	}
	return nil
}

// Notifications returns how many events this Channel sent and how many of
// them had to wake a sleeping waiter.
func (c *Channel) Notifications() (sent, woke uint64) { return c.notifies.Load(), c.wakeups.Load() }

// addEvent adds one pending event; it reports whether a waiter is asleep
// and must be woken.
func addEvent(w *atomicU32) bool {
	for {
		old := w.Load()
		n := old & countMask
		if n < countMask {
			n++
		}
		if w.CompareAndSwap(old, old&^countMask|n) {
			return old&waiterBit != 0
		}
	}
}

// Poll consumes pending events without blocking and returns how many there
// were (0 if none).
func (c *Channel) Poll() uint32 {
	w := c.local.pending()
	for {
		old := w.Load()
		if old&countMask == 0 {
			return 0
		}
		if w.CompareAndSwap(old, 0) {
			return old & countMask
		}
	}
}

// Wait blocks until at least one event is pending, consumes all pending
// events, and returns their number. timeout <= 0 waits forever. It returns
// ErrClosed when the port is closed and ErrTimeout when time runs out.
func (c *Channel) Wait(timeout time.Duration) (uint32, error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	word := c.local.pending()
	var w *waiter
	for {
		old := word.Load()
		if old&countMask != 0 {
			if word.CompareAndSwap(old, old&closedBit) {
				c.endWait(w)
				return old & countMask, nil
			}
			continue
		}
		if !c.local.open() {
			c.endWait(w)
			c.d.endRelay(c.port)
			return 0, ErrClosed
		}
		if w == nil {
			// Registered (and active) before the waiter bit is set, so
			// a notifier that sees the bit finds it; then look again.
			w = c.waiterFor()
			w.active.Store(true)
			continue
		}
		if old&waiterBit == 0 && !word.CompareAndSwap(old, old|waiterBit) {
			continue
		}
		w.rearmRelay()
		var rel time.Duration
		if timeout > 0 {
			if rel = time.Until(deadline); rel <= 0 {
				c.endWait(w)
				return 0, ErrTimeout
			}
		}
		c.park(w, rel)
	}
}

func (c *Channel) endWait(w *waiter) {
	if w != nil {
		w.active.Store(false)
	}
}

// Kick makes a pending event on the channel's own port, waking its waiter:
// a way for the owner to interrupt its own Wait (for example to stop).
func (c *Channel) Kick() { c.d.wakeWord(c.port, c.local.pending()) }
