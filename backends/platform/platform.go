// Package platform is the seam between xfeat's PV drivers and the host they
// run on: what a driver needs of Xen (grant tables, event channels) and of
// the host (TAP devices), one interface per ability. The drivers (netback,
// blkback, the frontends) see only these; the sandbox host implements them
// on backends/grant and backends/evtchn, and a real-Xen implementation
// fills the same interfaces with /dev/xen/gntdev and /dev/xen/evtchn.
//
// The abilities:
//
//   - GrantMapper (Backend.MapGrants): map the pages a frontend domain
//     granted, a ring contiguous and writable (MapRing), data pages in
//     batches, read-only or writable (Map, Unmap): GNTTABOP_map_grant_ref,
//     or IOCTL_GNTDEV_MAP_GRANT_REF and mmap;
//   - GrantCopier (Backend.CopyGrants): copy in batches between a
//     frontend's pages and local buffers: GNTTABOP_copy, or
//     IOCTL_GNTDEV_GRANT_COPY;
//   - EventChannels and Channel: bind to a frontend's unbound port, notify
//     it, wait for it: EVTCHNOP_*, or /dev/xen/evtchn (bind interdomain,
//     notify, read pending ports and unmask);
//   - Taps: a vif's host side, a multi-queue TAP device on a bridge;
//   - Guest (a frontend's own side): pages to grant, unbound ports.
//
// The grant types (grant.Ref, grant.Handle, grant.CopyOp and its GNTST_*
// statuses) are Xen's grant-table ABI as package grant defines it; every
// implementation uses them, the sandbox's own tables among others.
//
// Rules every implementation keeps, so that the data paths need no change
// from one to another:
//
//   - Data-path calls (Map, Unmap, Copy, Notify, Wait) take slices the
//     caller owns and allocate nothing; batches are the unit (one system
//     call per batch where the host has one).
//   - A page the guest granted read-only maps only read-only; writing it
//     faults. Asking for a writable mapping of it is an error.
//   - Notification suppression (req_event/rsp_event) stays in the rings
//     (package ring): a Channel only notifies and waits.
//   - One behaviour when an ability is missing: the call that would give it
//     returns an error wrapping ErrUnavailable. A control plane that needs
//     it (mapping the rings, binding the channels) fails the device, as it
//     would for any error; a data path that needs it does not start, the
//     device stays connected, and its error node says what does not work
//     and why (xenbus.NoteUnavailable).
package platform

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/tap"
)

// ErrUnavailable is wrapped by the error of a platform that lacks an
// ability (grant copy, TAP devices without CAP_NET_ADMIN, ...).
var ErrUnavailable = errors.New("not available on this platform")

// Backend is what a backend driver stands on: for one frontend domain at a
// time, its grants mapped or copied, and event channels.
type Backend interface {
	// MapGrants opens frontend domain fe's grants for mapping.
	MapGrants(fe uint32) (GrantMapper, error)
	// CopyGrants opens frontend domain fe's grants for copying.
	CopyGrants(fe uint32) (GrantCopier, error)
	EventChannels
}

// GrantMapper maps pages one frontend domain granted to this backend. It is
// safe for concurrent use. Close gives up the access; what is mapped stays
// mapped until unmapped (a ring Mapping, data pages), so a data path unmaps
// its pages before it closes.
type GrantMapper interface {
	// MapRing maps refs, in order, into one contiguous writable area: a
	// shared ring of len(refs) pages. A ref that is out of range, not in
	// use, not granted to this backend or granted read-only is an error.
	MapRing(refs []grant.Ref) (Mapping, error)
	// Map maps a batch of data pages: refs[i] into pages[i], writable or
	// read-only, handles[i] to undo it. The three slices are the caller's
	// and of one length. On error nothing of the batch stays mapped.
	Map(refs []grant.Ref, writable bool, pages [][]byte, handles []grant.Handle) error
	// Unmap undoes Map for a batch of handles.
	Unmap(handles []grant.Handle) error
	Close() error
}

// Mapping is a ring MapRing mapped.
type Mapping interface {
	Bytes() []byte
	Unmap() error
}

// GrantCopier copies between one frontend domain's granted pages and this
// backend's buffers: each op of a batch gets its own Status (GNTST_*), and
// Copy returns how many failed. It is safe for concurrent use; Close gives
// up the access.
type GrantCopier interface {
	Copy(ops []grant.CopyOp) (failed int)
	Close() error
}

// EventChannels binds this backend's end of interdomain event channels.
type EventChannels interface {
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

// Taps gives a vif its host side.
type Taps interface {
	// OpenTap creates TAP device name with queues queues taking the
	// offloads off (frames behind a virtio-net header when any), and
	// configures its host link (MTU, MAC, bridge: created when missing).
	// Without the privilege to, the error wraps ErrUnavailable.
	OpenTap(name string, queues int, off tap.Offloads, link tap.HostLink) (*tap.Device, error)
	// Close removes what OpenTap created beyond the devices (bridges),
	// once no device uses them.
	Close()
}

// Guest is what a frontend driver stands on: the guest's own memory, grant
// table and event channels.
type Guest interface {
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
