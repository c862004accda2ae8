package evtchn

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

type atomicU32 = atomic.Uint32

func u32(b []byte, off int) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(&b[off : off+4][0]))
}

func (d *domain) header() (magic, version, id, max uint32) {
	return u32(d.mem, 0).Load(), u32(d.mem, 4).Load(), u32(d.mem, 8).Load(), u32(d.mem, 12).Load()
}

// entry is one port's 64-byte record in a domain file.
type entry struct{ p unsafe.Pointer }

func (d *domain) entry(p Port) entry {
	return entry{unsafe.Pointer(&d.mem[headerSize+int(p)*entrySize])}
}

func (e entry) state() *atomic.Uint32      { return (*atomic.Uint32)(unsafe.Add(e.p, offState)) }
func (e entry) remoteDom() *atomic.Uint32  { return (*atomic.Uint32)(unsafe.Add(e.p, offRemoteDom)) }
func (e entry) remotePort() *atomic.Uint32 { return (*atomic.Uint32)(unsafe.Add(e.p, offRemotePort)) }
func (e entry) pending() *atomic.Uint32    { return (*atomic.Uint32)(unsafe.Add(e.p, offPending)) }

// open reports whether the port is allocated (unbound or bound): one a
// Channel may use.
func (e entry) open() bool {
	st := e.state().Load()
	return st == stateUnbound || st == stateInterdomain
}

// Shared (not FUTEX_PRIVATE) operations: the word lives in a MAP_SHARED file
// mapped by several processes.
const (
	futexWaitOp = 0 // FUTEX_WAIT
	futexWakeOp = 1 // FUTEX_WAKE
)

// futexWait sleeps while *w == val, at most rel (0: no limit). Spurious
// returns are fine: callers loop. It reports whether a FUTEX_WAKE woke it.
func futexWait(w *atomic.Uint32, val uint32, rel time.Duration) bool {
	var tsp unsafe.Pointer
	var ts unix.Timespec
	if rel > 0 {
		ts = unix.NsecToTimespec(int64(rel))
		tsp = unsafe.Pointer(&ts)
	}
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexWaitOp, uintptr(val), uintptr(tsp), 0, 0)
	return e == 0
}

func futexWake(w *atomic.Uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexWakeOp, 1<<30, 0, 0, 0)
}
