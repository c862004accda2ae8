package footprint

import (
	"fmt"

	"github.com/xfeat/xfeat/backends/ring"
)

// Linux's PV frontends, as the guests of a real Xen host run them
// (drivers/net/xen-netfront.c and drivers/block/xen-blkfront.c, Linux
// 6.1): what one device takes of the guest's grant table and event
// channels, for what its backend offers and what the guest itself allows
// (its vcpus and the frontends' module parameters). Only these two
// resources are counted: a real guest's memory is its own (xl.cfg memory)
// and its XenStore nodes are xl's layout plus a handful per device.
//
// netfront, per queue: a grant for every slot of the tx ring and of the rx
// ring (allocated when the queue is set up; a queue that cannot get them is
// not created, and a vif left with none fails), then the two ring pages;
// one event channel, or two with split event channels. Queues: the
// backend's multi-queue-max-queues (absent: 1), at most max_queues
// (default: the guest's vcpus, at most 8).
//
// blkfront, per ring: its 2^order pages (granted when the ring is set up:
// a disk that cannot get them fails), then per request in flight one
// grant per segment and, with indirect descriptors, one per indirect
// page; a full ring is its size R = 32 × 2^order requests (__RING_SIZE of
// blkif.h). Segments per request: the backend's
// feature-max-indirect-segments, at most max_indirect_segments (default
// 32); 11 or fewer means no indirect descriptors (11 segments). Requests
// wait for grants rather than fail, and with persistent grants those stay
// granted: a full ring's worth is what the disk may hold. One event
// channel per ring. Rings: the backend's multi-queue-max-queues, at most
// max_queues (default 4, at most the vcpus); order: the backend's
// max-ring-page-order, at most max_ring_page_order (default 0, at most 4).

// Linux frontends' module parameter defaults (and bounds).
const (
	// LinuxNetMaxQueuesCap bounds netfront's default max_queues.
	LinuxNetMaxQueuesCap = 8
	// LinuxBlkMaxQueues is blkfront's default max_queues.
	LinuxBlkMaxQueues = 4
	// LinuxBlkMaxIndirectSegments is blkfront's default max_indirect_segments.
	LinuxBlkMaxIndirectSegments = 32
	// LinuxMaxRingPageOrder is XENBUS_MAX_RING_GRANT_ORDER: the largest
	// ring order blkfront (and blkback) take.
	LinuxMaxRingPageOrder = 4
)

// LinuxGuest is what bounds a Linux guest's frontends: its vcpus and the
// frontends' module parameters (0 where not given: the default).
type LinuxGuest struct {
	VCPUs int64
	// NetMaxQueues is xen_netfront.max_queues (default: min(8, VCPUs)).
	NetMaxQueues int64
	// BlkMaxQueues is xen_blkfront.max_queues (default 4), at most VCPUs.
	BlkMaxQueues int64
	// BlkMaxRingPageOrder is xen_blkfront.max_ring_page_order (default 0),
	// at most 4.
	BlkMaxRingPageOrder int64
	// BlkMaxIndirectSegments is xen_blkfront.max_indirect_segments
	// (default 32), at least 11.
	BlkMaxIndirectSegments int64
}

func (g LinuxGuest) vcpus() int64 { return max(g.VCPUs, 1) }

// netQueues is netfront's max_queues as the module sets it at load.
func (g LinuxGuest) netQueues() int64 {
	if g.NetMaxQueues > 0 {
		return g.NetMaxQueues
	}
	return min(LinuxNetMaxQueuesCap, g.vcpus())
}

// blkQueues is blkfront's max_queues as the module sets it at load.
func (g LinuxGuest) blkQueues() int64 {
	q := int64(LinuxBlkMaxQueues)
	if g.BlkMaxQueues > 0 {
		q = g.BlkMaxQueues
	}
	return min(q, g.vcpus())
}

func (g LinuxGuest) blkOrder() int64 {
	return min(max(g.BlkMaxRingPageOrder, 0), LinuxMaxRingPageOrder)
}

func (g LinuxGuest) blkSegments() int64 {
	s := int64(LinuxBlkMaxIndirectSegments)
	if g.BlkMaxIndirectSegments > 0 {
		s = g.BlkMaxIndirectSegments
	}
	return max(s, ring.BlkifMaxSegmentsPerRequest)
}

// LinuxVif is what netfront chose for a vif's offers.
type LinuxVif struct {
	Queues int64
	Split  bool
}

// Vif is what netfront chooses for offer.
func (g LinuxGuest) Vif(offer Vif) LinuxVif {
	return LinuxVif{Queues: max(min(max(offer.Queues, 1), g.netQueues()), 1), Split: offer.Split}
}

// NetSlots are the slots of a one-page netif tx (or rx) ring: netfront
// holds a grant for each.
var NetSlots = int64(ring.EntriesFor(ring.PageSize, ring.NetifTxEntrySize))

// Use is what the vif takes: grants and event channels.
func (v LinuxVif) Use() Use {
	ch := int64(1)
	if v.Split {
		ch = 2
	}
	return Use{Grants: v.Queues * (2*NetSlots + 2), EventChannels: v.Queues * ch}
}

// String is the arithmetic of Use, for messages.
func (v LinuxVif) String() string {
	ch := 1
	if v.Split {
		ch = 2
	}
	return fmt.Sprintf("%d queue(s) × (2 × %d slot grants + 2 ring pages) = %d grants, %d event channel(s)",
		v.Queues, NetSlots, v.Use().Grants, int64(ch)*v.Queues)
}

// LinuxVbd is what blkfront chose for a disk's offers.
type LinuxVbd struct {
	Queues        int64
	RingPageOrder int64
	// Segments per request: 11 without indirect descriptors.
	Segments int64
	// Indirect is whether requests use indirect descriptors.
	Indirect bool
}

// Vbd is what blkfront chooses for offer.
func (g LinuxGuest) Vbd(offer Vbd) LinuxVbd {
	v := LinuxVbd{
		Queues:        max(min(max(offer.Queues, 1), g.blkQueues()), 1),
		RingPageOrder: min(max(offer.RingPageOrder, 0), g.blkOrder()),
		Segments:      ring.BlkifMaxSegmentsPerRequest,
	}
	if s := min(offer.IndirectSegments, g.blkSegments()); s > ring.BlkifMaxSegmentsPerRequest {
		v.Segments, v.Indirect = s, true
	}
	return v
}

// RingSize is the requests one ring holds (R).
func (v LinuxVbd) RingSize() int64 {
	return int64(ring.EntriesFor(ring.PageSize<<v.RingPageOrder, ring.BlkifEntrySize))
}

// PerRequest is the grants one request may hold: its segments and, with
// indirect descriptors, its indirect pages.
func (v LinuxVbd) PerRequest() int64 {
	if !v.Indirect {
		return v.Segments
	}
	return v.Segments + (v.Segments+ring.BlkifSegmentsPerIndirectFrame-1)/ring.BlkifSegmentsPerIndirectFrame
}

// Use is what the disk may take: grants and event channels.
func (v LinuxVbd) Use() Use {
	per := int64(1)<<v.RingPageOrder + v.RingSize()*v.PerRequest()
	return Use{Grants: v.Queues * per, EventChannels: v.Queues}
}

// String is the arithmetic of Use, for messages.
func (v LinuxVbd) String() string {
	return fmt.Sprintf("%d ring(s) × (%d ring page(s) + %d requests × %d grants) = %d grants, %d event channel(s)",
		v.Queues, int64(1)<<v.RingPageOrder, v.RingSize(), v.PerRequest(), v.Use().Grants, v.Queues)
}
