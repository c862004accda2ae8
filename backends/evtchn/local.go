package evtchn

import (
	"runtime"
	"sync/atomic"
	"time"
)

// In-process waits.
//
// A Wait asleep in FUTEX_WAIT holds an OS thread, and every event that
// wakes it costs a thread switch (on a virtual machine, an inter-processor
// interrupt too). The sandbox host runs backends and frontends in one
// process, where each packet crosses several channels, so Wait parks the
// goroutine on a Go channel instead and a Notify from this process hands
// the event to the Go scheduler: no system call, and the woken goroutine
// usually runs next on the notifier's own P.
//
// The futex protocol stays what other processes (and C programs) see: the
// waiter bit is set before parking and a notifier that finds it set must
// wake someone. A Notify through the Host that registered the waiter sends
// on the Go channel; any other notifier calls FUTEX_WAKE, which a relay
// goroutine, asleep in FUTEX_WAIT on the same word for as long as the port
// is open, passes on to the Go channel. Local traffic never calls
// FUTEX_WAKE while the waiter is registered, so the relay sleeps through
// it. The relay ends when the port is closed (the pending word gets
// closedBit, so a relay about to sleep on an older value returns at once)
// or when the Host is closed. One case keeps it until Host.Close: another
// process closes the port while the relay waits to be rearmed (see relay)
// and this process never waits on the port again.

// waiter is the Go side of one port's Wait.
type waiter struct {
	wake   chan struct{} // capacity 1: an event for a parked or soon-parked Wait
	active atomic.Bool   // a Wait is in progress (set before the waiter bit)
	stop   atomic.Bool   // set by Host.Close: the relay must end
	done   chan struct{} // closed when the relay has ended

	// armed is false while the relay waits for the waiter to take the
	// events it passed on; a Wait about to park sends on rearm.
	armed atomic.Bool
	rearm chan struct{} // capacity 1

	relayed atomic.Uint64 // FUTEX_WAKEs passed on (for tests)
}

func newWaiter() *waiter {
	w := &waiter{wake: make(chan struct{}, 1), rearm: make(chan struct{}, 1), done: make(chan struct{})}
	w.armed.Store(true)
	return w
}

// signal makes the next (or current) park return; a token already
// waiting is enough.
func (w *waiter) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *waiter) ended() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// relay passes FUTEX_WAKE calls on word to w until the port closes or the
// Host does. It signals after every return of FUTEX_WAIT, a changed value
// included: a notifier that changed the word just before the relay slept
// has already made its FUTEX_WAKE call.
//
// It sleeps in FUTEX_WAIT only on a word with no events pending. Such a
// word changes only by gaining events, each followed by a FUTEX_WAKE. A
// word with events pending is taken by the waiter (on the relay's
// signal) and may be raised to the same value again before the relay
// sleeps, whose FUTEX_WAKE the relay would then sleep through: so with
// events pending it signals and waits for the waiter to take them and
// park again (rearm).
//
// d is the domain whose mapping e points into: holding it keeps the
// mapping.
func (w *waiter) relay(d *domain, e entry) {
	defer close(w.done)
	defer runtime.KeepAlive(d)
	word := e.pending()
	for !w.stop.Load() {
		v := word.Load()
		if !e.open() || v&closedBit != 0 {
			break
		}
		if v&countMask != 0 {
			// Disarm, then signal: the Wait that takes the events
			// parks after this and, finding armed false, rearms.
			w.armed.Store(false)
			w.signal()
			if word.Load()&countMask != 0 {
				<-w.rearm
			}
			continue
		}
		if futexWait(word, v, 0) {
			w.relayed.Add(1)
		}
		w.signal()
	}
	w.signal() // a parked Wait sees the closed port
}

// rearmRelay is called by a Wait about to park: a relay waiting for the
// events it passed on to be taken may sleep in FUTEX_WAIT again.
func (w *waiter) rearmRelay() {
	if !w.armed.Load() && w.armed.CompareAndSwap(false, true) {
		select {
		case w.rearm <- struct{}{}:
		default:
		}
	}
}

// endRelay lets the relay of a port this process waits on see that the
// port was closed (FUTEX_WAKE reaches it only while it is armed).
func (d *domain) endRelay(p Port) {
	if v, ok := d.waiters.Load(p); ok {
		v.(*waiter).rearmRelay()
	}
}

// halt ends w's relay and waits for it, waking it until it has seen stop
// (it may be between loading the word and sleeping on it).
func (w *waiter) halt(word *atomicU32) {
	w.stop.Store(true)
	for {
		futexWake(word)
		select {
		case w.rearm <- struct{}{}:
		default:
		}
		select {
		case <-w.done:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// waiterFor returns c's registered waiter, starting one (and its relay)
// for the first Wait on the channel or when the last one ended.
func (c *Channel) waiterFor() *waiter {
	if w := c.w; w != nil && !w.ended() {
		return w
	}
	w := newWaiter()
	c.w = w
	go w.relay(c.d, c.local)
	// Another Channel's waiter on this port is finished with (one
	// goroutine waits on a port at a time): end its relay.
	if old, ok := c.d.waiters.Swap(c.port, w); ok && old.(*waiter) != w {
		old.(*waiter).halt(c.local.pending())
	}
	return w
}

// wakeWord adds one pending event to the word of port p in d and wakes its
// waiter; it reports whether a waiter was asleep.
func (d *domain) wakeWord(p Port, word *atomicU32) bool {
	if !addEvent(word) {
		return false
	}
	// A registered waiter with no Wait in progress means the waiter bit
	// is someone else's (the port is waited on from another process now).
	if v, ok := d.waiters.Load(p); ok {
		if w := v.(*waiter); w.active.Load() {
			w.signal()
			return true
		}
	}
	futexWake(word)
	return true
}

// park sleeps until w is signalled or, for timeout > 0, the timer fires
// (Wait looks at the word and the clock again either way).
func (c *Channel) park(w *waiter, timeout time.Duration) {
	if timeout <= 0 {
		<-w.wake
		return
	}
	// Go 1.23 timers: Reset and Stop leave no stale value in C.
	if c.timer == nil {
		c.timer = time.NewTimer(timeout)
	} else {
		c.timer.Reset(timeout)
	}
	select {
	case <-w.wake:
		c.timer.Stop()
	case <-c.timer.C:
	}
}
