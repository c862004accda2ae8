package xenbus

import (
	"context"
	"sync/atomic"
	"time"
)

// The interfaces below are what the drivers need from the host they run on:
// pages a peer granted, and event channels. The sandbox host implements them
// on backends/grant and backends/evtchn; a driver never sees how.

// GrantMapper maps pages a frontend domain granted to this backend.
type GrantMapper interface {
	// MapGrants maps refs of domain fe, in order, into one contiguous
	// area. A ref that is out of range, not in use, not granted to this
	// backend, or read-only when writable is asked is an error.
	MapGrants(ctx context.Context, fe uint32, refs []uint32, writable bool) (Mapping, error)
}

// Mapping is a set of mapped grant pages.
type Mapping interface {
	Bytes() []byte
	Unmap() error
}

// EventBinder binds this backend's end of interdomain event channels.
type EventBinder interface {
	// BindInterdomain binds to remotePort of domain remote, which that
	// domain allocated unbound for this one.
	BindInterdomain(ctx context.Context, remote, remotePort uint32) (Channel, error)
}

// Channel is one end of an interdomain event channel.
type Channel interface {
	Port() uint32
	Notify() error
	// Wait blocks until the peer notified (timeout <= 0: no limit) and
	// returns how many notifications it consumed; one goroutine waits
	// at a time.
	Wait(timeout time.Duration) (uint32, error)
	// Kick wakes this end's own waiter (a data path stopping its loop).
	Kick()
	Close() error
}

// Pump turns the notifications on ch into wake-ups for the loops that share
// it (an event channel not split into tx and rx): each notification is a
// non-blocking send on every wake channel, so a wake-up already pending
// stands for any number. It returns once Wait fails or, after a
// notification, stopping is set; the owner sets stopping and Kicks ch.
func Pump(ch Channel, stopping *atomic.Bool, wakes ...chan struct{}) {
	for {
		_, err := ch.Wait(0)
		if err != nil || stopping.Load() {
			return
		}
		for _, w := range wakes {
			select {
			case w <- struct{}{}:
			default:
			}
		}
	}
}

// BackendPlatform is what a backend driver stands on.
type BackendPlatform interface {
	GrantMapper
	EventBinder
}

// GuestPlatform is what a frontend driver stands on: the guest's own memory,
// grant table and event channels.
type GuestPlatform interface {
	// AllocPages allocates n contiguous zeroed pages of guest memory.
	AllocPages(n int) (Pages, error)
	// AllocUnbound allocates an event channel for remote to bind.
	AllocUnbound(ctx context.Context, remote uint32) (Channel, error)
}

// Pages is guest memory a frontend owns and may grant.
type Pages interface {
	Bytes() []byte
	// Grant grants page i to domain dom and returns the grant reference.
	Grant(i int, dom uint32, readonly bool) (uint32, error)
	// Free ends every grant of these pages and releases them.
	Free() error
}
