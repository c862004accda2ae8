// Package footprint is what the reference frontends (netfront, blkfront)
// take of a guest for one device, given what the device's backend offers:
// grant references, pages of guest memory, event channels and XenStore
// nodes. The frontends size themselves with it; the toolstack plans a
// domain with it, so that every device fits in the domain's limits
// (max_grant_frames, max_event_channels, the guest's memory, xenstored's
// node quota) before anything is written. It is a package of its own so
// that both can use one definition without the toolstack depending on the
// frontends' machinery. linux.go is the same for Linux's own frontends,
// which a real Xen host's guests run (LinuxGuest): what the toolstack plans
// a domain xl builds with.
//
// Data enters as the backend's offers (queues, ring page order, indirect
// segments, split event channels) and leaves as a Use; nothing here does
// I/O.
//
// Invariant: a reference frontend takes exactly what Use says for the
// offers it read (tests/e2e measures a guest's grant table and XenStore
// nodes against it), so a plan whose devices' uses add up within the
// limits cannot run out at connect time; for Linux's frontends the model
// is their source's (linux.go), checked on a real host by tests/xenhost.
package footprint

import (
	"fmt"

	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/ring"
)

// Limits of a guest that are not the devices' to choose.
const (
	// ReservedGrants are the grant references no frontend may use
	// (GNTTAB_NR_RESERVED_ENTRIES, xen/include/public/grant_table.h: the
	// console and xenstore pages among them).
	ReservedGrants = grant.NrReservedEntries
	// GrantsPerFrame is how many grant_entry_v1 one grant-table frame holds.
	GrantsPerFrame = grant.EntriesPerFrame
	// MaxGuestPages bounds a sandbox guest's memory (256 MiB).
	MaxGuestPages = 1 << 16
	// MaxRingPageOrder is the largest ring a frontend uses (16 pages).
	MaxRingPageOrder = ring.MaxPageOrder
	// NodeQuota is C xenstored's default per-domain node quota
	// (xenstored -E / --entry-nb), which the embedded daemon shares.
	NodeQuota = 1000
)

// Grants is how many grant references the devices of a guest with
// maxGrantFrames frames may use: frames × 512, less the reserved ones.
func Grants(maxGrantFrames int64) int64 { return maxGrantFrames*GrantsPerFrame - ReservedGrants }

// GuestPages is a sandbox guest's memory, in pages: as many as its grant
// table can share, at most MaxGuestPages.
func GuestPages(maxGrantFrames int64) int64 {
	return min(maxGrantFrames*GrantsPerFrame, MaxGuestPages)
}

// What the reference frontends do, per queue.
const (
	// BlkPoolPages bounds the data pages blkfront keeps per queue (8 MiB).
	BlkPoolPages = 2048
	// BlkMaxSegments is the most segments of one indirect request
	// blkfront uses, whatever the backend offers (1 MiB requests).
	BlkMaxSegments = 256
	// NetBuffers is how many buffer pages netfront keeps per ring (one
	// per slot of a one-page netif ring), tx and rx each.
	NetBuffers = 256
)

// Use is what one device (or a domain's devices) takes of a guest.
type Use struct {
	Grants        int64 `json:"grants"`
	Pages         int64 `json:"pages"`
	EventChannels int64 `json:"event_channels"`
	// Nodes are the XenStore nodes the frontend creates in its device
	// directory (the guest owns them).
	Nodes int64 `json:"xenstore_nodes"`
}

// Add returns u + v.
func (u Use) Add(v Use) Use {
	return Use{u.Grants + v.Grants, u.Pages + v.Pages, u.EventChannels + v.EventChannels, u.Nodes + v.Nodes}
}

// Sub returns u - v.
func (u Use) Sub(v Use) Use {
	return Use{u.Grants - v.Grants, u.Pages - v.Pages, u.EventChannels - v.EventChannels, u.Nodes - v.Nodes}
}

// Vbd is what a block backend offers one device, as blkfront reads it.
type Vbd struct {
	Queues           int64 // multi-queue-max-queues (at least 1 is used)
	RingPageOrder    int64 // max-ring-page-order
	IndirectSegments int64 // feature-max-indirect-segments (0: none)
}

// Pool is how blkfront sizes one queue for these offers.
type Pool struct {
	RingPages     int64 // 2^order, each granted
	RingSize      int64 // requests the ring holds
	Segments      int64 // segments per request (11 without indirect descriptors)
	DataPages     int64 // data pages, each with a grant reference reserved
	IndirectPages int64 // indirect-descriptor pages, each with a reference
}

// Pool returns what blkfront reserves per queue: the ring; enough data
// pages for every ring slot to carry an 11-segment request, at most
// BlkPoolPages and at least one largest request; and, with indirect
// descriptors, one indirect page per ring slot for each 512 segments.
func (v Vbd) Pool() Pool {
	order := min(max(v.RingPageOrder, 0), ring.MaxPageOrder)
	p := Pool{RingPages: 1 << order, RingSize: int64(ring.EntriesFor(ring.PageSize<<order, ring.BlkifEntrySize)),
		Segments: ring.BlkifMaxSegmentsPerRequest}
	perInd := int64(0)
	if v.IndirectSegments > ring.BlkifMaxSegmentsPerRequest {
		p.Segments = min(v.IndirectSegments, BlkMaxSegments)
		perInd = (p.Segments + ring.BlkifSegmentsPerIndirectFrame - 1) / ring.BlkifSegmentsPerIndirectFrame
	}
	p.DataPages = max(min(p.RingSize*ring.BlkifMaxSegmentsPerRequest, BlkPoolPages), p.Segments)
	p.IndirectPages = p.RingSize * perInd
	return p
}

// Use is what blkfront takes for these offers: per queue its Pool (one
// page and one grant each) and one event channel; in XenStore
// multi-queue-num-queues, ring-page-order and feature-persistent, and per
// queue its ring-ref(s) and event-channel (in a queue-N directory when
// there are several queues). protocol, which the toolstack writes first,
// is not counted again.
func (v Vbd) Use() Use {
	q := max(v.Queues, 1)
	p := v.Pool()
	per := p.RingPages + p.DataPages + p.IndirectPages
	nodes := 3 + q*(p.RingPages+1)
	if q > 1 {
		nodes += q
	}
	return Use{Grants: q * per, Pages: q * per, EventChannels: q, Nodes: nodes}
}

// String says what the offers make blkfront take, for messages.
func (v Vbd) String() string {
	p := v.Pool()
	return fmt.Sprintf("%d queue(s) × (%d ring page(s) + %d data pages + %d indirect pages)",
		max(v.Queues, 1), p.RingPages, p.DataPages, p.IndirectPages)
}

// Vif is what a network backend offers one device, as netfront reads it.
type Vif struct {
	Queues    int64 // multi-queue-max-queues (at least 1 is used)
	Split     bool  // feature-split-event-channels
	Multicast bool  // feature-multicast-control
}

// Use is what netfront takes for these offers: per queue a tx and an rx
// ring page and NetBuffers buffers for each (granted; the buffers only
// when the host runs the data path, counted always), one event channel or
// two when split; in XenStore per queue tx-ring-ref, rx-ring-ref and its
// event channel(s) (in a queue-N directory when there are several), then
// multi-queue-num-queues, request-rx-copy, feature-rx-notify, the five
// offload keys and, when offered, request-multicast-control.
func (v Vif) Use() Use {
	q := max(v.Queues, 1)
	per := int64(2 + 2*NetBuffers)
	ch := int64(1)
	if v.Split {
		ch = 2
	}
	nodes := 8 + q*(2+ch)
	if q > 1 {
		nodes += q
	}
	if v.Multicast {
		nodes++
	}
	return Use{Grants: q * per, Pages: q * per, EventChannels: q * ch, Nodes: nodes}
}

// String says what the offers make netfront take, for messages.
func (v Vif) String() string {
	ch := 1
	if v.Split {
		ch = 2
	}
	return fmt.Sprintf("%d queue(s) × (2 ring pages + %d buffers, %d event channel(s))", max(v.Queues, 1), 2*NetBuffers, ch)
}
