package xendev

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xfeat/xfeat/backends/evtchn"
	"github.com/xfeat/xfeat/backends/grant"
)

// EvtchnDev is an open /dev/xen/evtchn: interdomain event channels bound
// through it, and one reader goroutine that passes their events to the
// Channels' waiters.
//
// The kernel masks a port when it queues it for read(2) and delivers it
// again only once it is unmasked (write(2) of the port). The reader
// unmasks each port right after counting its event on the Channel, so a
// notification that comes while the waiter is busy is counted, not lost,
// and the waiter never needs a system call to re-arm.
//
// Safe for concurrent use.
type EvtchnDev struct {
	path string
	f    *os.File     // non-blocking, in Go's poller: the reader parks a goroutine, not a thread
	fd   int          // the same descriptor, for ioctl(2) and write(2)
	mu   sync.RWMutex // read-held by every use of fd; Close write-locks
	shut bool         // under mu: Close has begun

	pmu   sync.Mutex // held by the reader while it delivers
	ports map[evtchn.Port]*Channel

	done chan struct{} // closed when the reader has returned
	err  error         // why the reader stopped, if not Close; set before done
}

// OpenEvtchn opens /dev/xen/evtchn and starts its reader.
func OpenEvtchn() (*EvtchnDev, error) { return openEvtchn(EvtchnPath) }

func openEvtchn(path string) (*EvtchnDev, error) {
	fd, err := openDev(path, evtchnModule, unix.O_NONBLOCK)
	if err != nil {
		return nil, err
	}
	e := &EvtchnDev{
		path:  path,
		f:     os.NewFile(uintptr(fd), path),
		fd:    fd,
		ports: map[evtchn.Port]*Channel{},
		done:  make(chan struct{}),
	}
	go e.read()
	return e, nil
}

func (e *EvtchnDev) errorf(op string, err error, detail string, args ...any) error {
	return &DeviceError{Device: e.path, Module: evtchnModule, Op: op, Detail: fmt.Sprintf(detail, args...), Err: err}
}

// BindInterdomain binds a local port to remotePort of domain remote, which
// that domain allocated unbound for this one (IOCTL_EVTCHN_BIND_INTERDOMAIN:
// what a backend does with the frontend's event-channel key). Xen raises
// the new port at once, so the first Wait returns without a notification.
func (e *EvtchnDev) BindInterdomain(remote grant.DomID, remotePort evtchn.Port) (*Channel, error) {
	arg := evtchnBindInterdomain{remoteDomain: uint32(remote), remotePort: uint32(remotePort)}
	return e.bind("IOCTL_EVTCHN_BIND_INTERDOMAIN", ioctlEvtchnBindInterdomain, unsafe.Pointer(&arg), remote,
		"domain %d port %d", remote, remotePort)
}

// BindUnboundPort allocates a local port that domain remote may bind to
// (IOCTL_EVTCHN_BIND_UNBOUND_PORT: what a frontend does, writing the port
// to XenStore for its backend). Notify drops events until remote binds.
func (e *EvtchnDev) BindUnboundPort(remote grant.DomID) (*Channel, error) {
	arg := evtchnPortArg{v: uint32(remote)}
	return e.bind("IOCTL_EVTCHN_BIND_UNBOUND_PORT", ioctlEvtchnBindUnboundPort, unsafe.Pointer(&arg), remote,
		"for domain %d", remote)
}

func (e *EvtchnDev) bind(op string, req uintptr, arg unsafe.Pointer, remote grant.DomID, detail string, args ...any) (*Channel, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.shut {
		return nil, e.errorf(op, ErrDeviceClosed, detail, args...)
	}
	// Held across the ioctl: Xen raises a port bound interdomain at
	// once, and the reader, which delivers under pmu, must find its
	// Channel (a notification sent before the bind is not lost).
	e.pmu.Lock()
	defer e.pmu.Unlock()
	if e.err != nil {
		return nil, e.errorf(op, e.err, detail, args...)
	}
	port, errno := ioctl(e.fd, req, arg)
	if errno != 0 {
		return nil, e.errorf(op, errno, detail, args...)
	}
	c := &Channel{e: e, port: evtchn.Port(port), remote: remote, wake: make(chan struct{}, 1)}
	e.ports[c.port] = c
	return c, nil
}

// Bound returns the ports bound through e, in order.
func (e *EvtchnDev) Bound() []evtchn.Port {
	e.pmu.Lock()
	defer e.pmu.Unlock()
	out := make([]evtchn.Port, 0, len(e.ports))
	for p := range e.ports {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Reset empties the kernel's queue of pending ports (IOCTL_EVTCHN_RESET),
// which also clears a queue overflow, then unmasks every bound port and
// wakes every waiter: events that were queued are gone, so each Channel
// gets one, and the rings decide whether there was work. The reader calls
// it when the queue overflowed.
func (e *EvtchnDev) Reset() error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.shut {
		return e.errorf("IOCTL_EVTCHN_RESET", ErrDeviceClosed, "")
	}
	if _, errno := ioctl(e.fd, ioctlEvtchnReset, nil); errno != 0 {
		return e.errorf("IOCTL_EVTCHN_RESET", errno, "")
	}
	e.pmu.Lock()
	buf := make([]byte, 0, 4*len(e.ports))
	for p, c := range e.ports {
		buf = binary.NativeEndian.AppendUint32(buf, uint32(p))
		c.event()
	}
	e.pmu.Unlock()
	return e.unmaskLocked(buf)
}

// Close unbinds every port (closing the device does), wakes every waiter
// with evtchn.ErrClosed and waits for the reader to return.
func (e *EvtchnDev) Close() error {
	e.mu.Lock()
	if e.shut {
		e.mu.Unlock()
		<-e.done
		return nil
	}
	e.shut = true
	e.pmu.Lock()
	for p, c := range e.ports {
		delete(e.ports, p)
		c.shut(evtchn.ErrClosed)
	}
	e.pmu.Unlock()
	// The reader's Read returns os.ErrClosed; the kernel unbinds the
	// ports when the file is released.
	err := e.f.Close()
	e.mu.Unlock()
	<-e.done
	if err != nil {
		return e.errorf("close", err, "")
	}
	return nil
}

// read is the reader goroutine: pending ports in, events to Channels,
// ports unmasked.
func (e *EvtchnDev) read() {
	defer close(e.done)
	// The kernel hands out at most a page of ports per read.
	buf := make([]byte, grant.PageSize)
	for {
		n, err := e.f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			if errors.Is(err, unix.EFBIG) { // the queue overflowed
				if err = e.Reset(); err == nil {
					continue
				}
			} else {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				err = e.errorf("read", err, "pending ports")
			}
			e.fail(err)
			return
		}
		n &^= 3
		e.pmu.Lock()
		for i := 0; i < n; i += 4 {
			p := evtchn.Port(binary.NativeEndian.Uint32(buf[i:]))
			// A port unbound since it was queued has no Channel:
			// its event is dropped (and its unmask ignored).
			if c := e.ports[p]; c != nil {
				c.event()
			}
		}
		e.pmu.Unlock()
		e.mu.RLock()
		err = e.unmaskLocked(buf[:n])
		e.mu.RUnlock()
		if err != nil {
			e.fail(err)
			return
		}
	}
}

// unmaskLocked writes ports (native-endian u32s) to the device: the
// kernel delivers each again on its next event. Ports no longer bound
// through e are ignored by the kernel. Must hold e.mu (read).
func (e *EvtchnDev) unmaskLocked(ports []byte) error {
	if e.shut || len(ports) == 0 {
		return nil
	}
	for {
		_, err := unix.Write(e.fd, ports)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return e.errorf("write", err, "unmask %d ports", len(ports)/4)
		}
		return nil
	}
}

// fail wakes every waiter with err, for good: the reader can no longer
// deliver. The ports stay bound until their Close or the device's.
func (e *EvtchnDev) fail(err error) {
	e.pmu.Lock()
	defer e.pmu.Unlock()
	e.err = err
	for _, c := range e.ports {
		c.shut(err)
	}
}

// Err returns why the reader stopped before Close (nil if it did not).
func (e *EvtchnDev) Err() error {
	select {
	case <-e.done:
		e.pmu.Lock()
		defer e.pmu.Unlock()
		return e.err
	default:
		return nil
	}
}

// Channel is one port bound through an EvtchnDev. Notify, Kick and Close
// may be called from any goroutine; Wait, WaitContext and Poll from one
// goroutine at a time (one handler per port, as in the sandbox).
type Channel struct {
	e      *EvtchnDev
	port   evtchn.Port
	remote grant.DomID

	pending atomic.Uint32 // events not yet taken by Wait or Poll
	wake    chan struct{} // capacity 1: a token for a parked or soon-parked waiter
	closed  atomic.Bool
	cause   atomic.Pointer[error] // what Wait returns once closed
	timer   *time.Timer           // Wait's, reused
}

// Port returns the local port.
func (c *Channel) Port() evtchn.Port { return c.port }

// Remote returns the domain at the other end.
func (c *Channel) Remote() grant.DomID { return c.remote }

// event counts one event and wakes the waiter.
func (c *Channel) event() {
	c.pending.Add(1)
	c.signal()
}

func (c *Channel) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Channel) shut(cause error) {
	c.cause.Store(&cause)
	c.closed.Store(true)
	c.signal()
}

// Notify sends an event to the other end (IOCTL_EVTCHN_NOTIFY). On a port
// the peer has not bound yet Xen drops it, as in the sandbox. A closed
// Channel gives evtchn.ErrClosed.
func (c *Channel) Notify() error {
	if c.closed.Load() {
		return evtchn.ErrClosed
	}
	e := c.e
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.shut {
		return evtchn.ErrClosed
	}
	arg := evtchnPortArg{v: uint32(c.port)}
	if _, errno := ioctl(e.fd, ioctlEvtchnNotify, unsafe.Pointer(&arg)); errno != 0 {
		return e.errorf("IOCTL_EVTCHN_NOTIFY", errno, "port %d", c.port)
	}
	return nil
}

// Kick makes an event on the Channel itself, waking its waiter: a way for
// the owner to interrupt its own Wait (for example to stop).
func (c *Channel) Kick() { c.event() }

// Poll takes the pending events without blocking and returns how many
// there were (0 if none).
func (c *Channel) Poll() uint32 { return c.pending.Swap(0) }

// Wait blocks until at least one event is pending, takes them all and
// returns how many there were. timeout <= 0 waits until an event, Kick or
// Close. It returns evtchn.ErrTimeout when the time runs out and
// evtchn.ErrClosed (or the reader's error) once the Channel is closed.
func (c *Channel) Wait(timeout time.Duration) (uint32, error) {
	var timer <-chan time.Time
	if timeout > 0 {
		// Go 1.23 timers: Reset leaves no stale value in C.
		if c.timer == nil {
			c.timer = time.NewTimer(timeout)
		} else {
			c.timer.Reset(timeout)
		}
		defer c.timer.Stop()
		timer = c.timer.C
	}
	return c.wait(nil, timer)
}

// WaitContext is Wait bounded by ctx instead of a timeout: it returns
// ctx.Err() when ctx ends first.
func (c *Channel) WaitContext(ctx context.Context) (uint32, error) {
	return c.wait(ctx, nil)
}

func (c *Channel) wait(ctx context.Context, timer <-chan time.Time) (uint32, error) {
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	for {
		if n := c.pending.Swap(0); n != 0 {
			return n, nil
		}
		if c.closed.Load() {
			return 0, *c.cause.Load()
		}
		select {
		case <-c.wake:
		case <-timer:
			return 0, evtchn.ErrTimeout
		case <-done:
			return 0, ctx.Err()
		}
	}
}

// Close unbinds the port (IOCTL_EVTCHN_UNBIND: Xen closes it, and an
// interdomain peer's port returns to unbound) and wakes the waiter with
// evtchn.ErrClosed. Closing again does nothing.
func (c *Channel) Close() error {
	e := c.e
	e.mu.RLock()
	defer e.mu.RUnlock()
	e.pmu.Lock()
	if e.ports[c.port] != c {
		// Closed already, by this or by the device's Close.
		e.pmu.Unlock()
		return nil
	}
	defer e.pmu.Unlock()
	delete(e.ports, c.port)
	c.shut(evtchn.ErrClosed)
	arg := evtchnPortArg{v: uint32(c.port)}
	_, errno := ioctl(e.fd, ioctlEvtchnUnbind, unsafe.Pointer(&arg))
	if errno != 0 {
		return e.errorf("IOCTL_EVTCHN_UNBIND", errno, "port %d", c.port)
	}
	return nil
}
