package xendev

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xfeat/xfeat/backends/evtchn"
	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/platform"
)

// Platform is package platform's Backend on a real Xen host: what the
// backend drivers need of Xen, through this domain's Xen devices.
//
//   - MapGrants opens /dev/xen/gntdev for one device: its rings are
//     mapped writable, one IOCTL_GNTDEV_MAP_GRANT_REF and one mmap each
//     (MapRing); a Map batch of data pages is one more of each, read-only
//     unless asked writable, and its pages are handed out by handle.
//   - CopyGrants copies batches with IOCTL_GNTDEV_GRANT_COPY (Copier),
//     through one gntdev descriptor every copier shares: copies leave
//     nothing mapped.
//   - BindInterdomain binds through one /dev/xen/evtchn whose reader
//     goroutine serves every Channel's Wait (EvtchnDev).
//
// Safe for concurrent use. Close unbinds every port left bound; mappings
// are the devices' to undo (Mapped counts those not undone yet).
type Platform struct {
	events *EvtchnDev
	copies *GntDev
	gntdev string // the gntdev node, GntDevPath but in tests

	mapped atomic.Int64 // rings and data batches mapped and not unmapped
	bound  atomic.Int64 // channels bound and not closed
}

var _ platform.Backend = (*Platform)(nil)

// OpenPlatform opens this domain's event channel and grant devices. A
// device that is not there is an error matching ErrNoDevice that names the
// module to load.
func OpenPlatform() (*Platform, error) { return openPlatform(GntDevPath, EvtchnPath) }

func openPlatform(gntdev, evtchnPath string) (*Platform, error) {
	copies, err := openGntDev(gntdev)
	if err != nil {
		return nil, err
	}
	events, err := openEvtchn(evtchnPath)
	if err != nil {
		copies.Close()
		return nil, err
	}
	return &Platform{events: events, copies: copies, gntdev: gntdev}, nil
}

// Close unbinds every port still bound and closes the devices. Mappings
// stay valid until unmapped.
func (p *Platform) Close() error {
	err := p.events.Close()
	if cerr := p.copies.Close(); err == nil {
		err = cerr
	}
	return err
}

// Mapped is the number of rings and data batches mapped and not yet
// unmapped, over every device: 0 once every device is disconnected.
func (p *Platform) Mapped() int { return int(p.mapped.Load()) }

// Bound is the number of event channels bound and not yet closed.
func (p *Platform) Bound() int { return int(p.bound.Load()) }

// domID checks that fe can be a frontend domain: below Xen's reserved
// ids (DOMID_FIRST_RESERVED, xen.h).
func domID(fe uint32) (grant.DomID, error) {
	if fe >= 0x7FF0 {
		return 0, fmt.Errorf("domain %d: not a domain id (ids from 0x7ff0 are Xen's)", fe)
	}
	return grant.DomID(fe), nil
}

// MapGrants implements platform.Backend: a gntdev descriptor of its own
// for frontend domain fe's grants.
func (p *Platform) MapGrants(fe uint32) (platform.GrantMapper, error) {
	dom, err := domID(fe)
	if err != nil {
		return nil, err
	}
	dev, err := openGntDev(p.gntdev)
	if err != nil {
		return nil, err
	}
	return &grantMapper{p: p, dev: dev, dom: dom}, nil
}

// CopyGrants implements platform.Backend.
func (p *Platform) CopyGrants(fe uint32) (platform.GrantCopier, error) {
	dom, err := domID(fe)
	if err != nil {
		return nil, err
	}
	return copier{p.copies.NewCopier(dom, 0)}, nil
}

// copier is a Copier as a platform.GrantCopier: the descriptor is the
// Platform's, so Close has nothing to give up.
type copier struct{ *Copier }

func (copier) Close() error { return nil }

// BindInterdomain implements platform.EventChannels.
func (p *Platform) BindInterdomain(ctx context.Context, remote, remotePort uint32) (platform.Channel, error) {
	dom, err := domID(remote)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := p.events.BindInterdomain(dom, evtchn.Port(remotePort))
	if err != nil {
		return nil, err
	}
	p.bound.Add(1)
	return &channel{c: c, p: p}, nil
}

// channel is a Channel as a platform.Channel; Close counts once.
type channel struct {
	c    *Channel
	p    *Platform
	once sync.Once
}

func (c *channel) Port() uint32                               { return uint32(c.c.Port()) }
func (c *channel) Notify() error                              { return c.c.Notify() }
func (c *channel) Wait(timeout time.Duration) (uint32, error) { return c.c.Wait(timeout) }
func (c *channel) Kick()                                      { c.c.Kick() }

func (c *channel) Close() error {
	var err error
	c.once.Do(func() {
		err = c.c.Close()
		c.p.bound.Add(-1)
	})
	return err
}

// Handles. A Map batch is one gntdev mapping held in a slot of its
// grantMapper; the handle of its page i is slot<<handlePageBits | i.
const (
	handlePageBits = 12 // MaxMapRefs pages per batch
	maxSlots       = 1 << (32 - handlePageBits)
)

// grantMapper is one device's access to a frontend's grants
// (platform.GrantMapper).
type grantMapper struct {
	p   *Platform
	dev *GntDev
	dom grant.DomID

	mu    sync.Mutex
	slots []*mapSlot // by slot number; grows, never shrinks
	free  []int32    // slots not in use
}

// mapSlot is one Map batch: its mapping (reused, request buffer
// included, by the next batch that takes the slot) and which of its pages
// are still mapped.
type mapSlot struct {
	m     Mapping
	inUse bool
	live  int                     // pages not unmapped yet
	pages [MaxMapRefs / 64]uint64 // bit i: page i not unmapped yet
}

var _ platform.GrantMapper = (*grantMapper)(nil)

// take returns a free slot, growing the table when none is.
func (g *grantMapper) take() (int32, *mapSlot, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.free) == 0 {
		n := len(g.slots)
		if n == maxSlots {
			return 0, nil, fmt.Errorf("domain %d: %d batches mapped at once", g.dom, n)
		}
		grow := max(n, 16)
		if n+grow > maxSlots {
			grow = maxSlots - n
		}
		for i := range grow {
			g.slots = append(g.slots, &mapSlot{})
			g.free = append(g.free, int32(n+grow-1-i))
		}
	}
	i := g.free[len(g.free)-1]
	g.free = g.free[:len(g.free)-1]
	s := g.slots[i]
	s.inUse = true
	return i, s, nil
}

// give puts slot i back.
func (g *grantMapper) give(i int32, s *mapSlot) {
	g.mu.Lock()
	s.inUse, s.live = false, 0
	g.free = append(g.free, i)
	g.mu.Unlock()
}

// Map implements platform.GrantMapper: the batch is one gntdev mapping,
// pages[i] its i-th page.
func (g *grantMapper) Map(refs []grant.Ref, writable bool, pages [][]byte, handles []grant.Handle) error {
	n := len(refs)
	if n == 0 || n > MaxMapRefs || len(pages) != n || len(handles) != n {
		return fmt.Errorf("domain %d: a batch of %d refs, %d pages, %d handles (1..%d, one each)", g.dom, n, len(pages), len(handles), MaxMapRefs)
	}
	i, s, err := g.take()
	if err != nil {
		return err
	}
	if err := g.dev.Map(&s.m, g.dom, refs, writable); err != nil {
		g.give(i, s)
		return err
	}
	g.mu.Lock()
	s.live = n
	for k := range n {
		s.pages[k/64] |= 1 << (k % 64)
	}
	g.mu.Unlock()
	for k := range n {
		off := k * grant.PageSize
		pages[k] = s.m.Mem[off : off+grant.PageSize : off+grant.PageSize]
		handles[k] = grant.Handle(uint32(i)<<handlePageBits | uint32(k))
	}
	g.p.mapped.Add(1)
	return nil
}

// Unmap implements platform.GrantMapper. A batch is unmapped (munmap and
// IOCTL_GNTDEV_UNMAP_GRANT_REF) once all its pages are: the data paths
// unmap what they mapped together together, or map one page at a time.
// A handle that is not mapped is an error, and the others of the call are
// still unmapped.
func (g *grantMapper) Unmap(handles []grant.Handle) error {
	var first error
	for _, h := range handles {
		i, k := int32(uint32(h)>>handlePageBits), int(uint32(h)&(1<<handlePageBits-1))
		g.mu.Lock()
		var s *mapSlot
		if int(i) < len(g.slots) {
			s = g.slots[i]
		}
		// The bit is set, under mu, only once the batch is mapped.
		if s == nil || !s.inUse || s.pages[k/64]&(1<<(k%64)) == 0 {
			g.mu.Unlock()
			if first == nil {
				first = fmt.Errorf("domain %d: grant handle %#x is not mapped", g.dom, uint32(h))
			}
			continue
		}
		s.pages[k/64] &^= 1 << (k % 64)
		s.live--
		last := s.live == 0
		g.mu.Unlock()
		if !last {
			continue
		}
		if err := s.m.Unmap(); err != nil && first == nil {
			first = err
		}
		g.give(i, s)
		g.p.mapped.Add(-1)
	}
	return first
}

// MapRing implements platform.GrantMapper: the ring's pages, writable and
// contiguous, one mapping of their own.
func (g *grantMapper) MapRing(refs []grant.Ref) (platform.Mapping, error) {
	if len(refs) == 0 {
		return nil, errors.New("no grant references")
	}
	r := &ringMapping{p: g.p}
	if err := g.dev.Map(&r.m, g.dom, refs, true); err != nil {
		return nil, err
	}
	g.p.mapped.Add(1)
	return r, nil
}

// Close implements platform.GrantMapper: the descriptor goes; what is
// mapped stays valid until unmapped (the kernel frees the grants at the
// last munmap).
func (g *grantMapper) Close() error { return g.dev.Close() }

// ringMapping is a ring MapRing mapped.
type ringMapping struct {
	p    *Platform
	m    Mapping
	once sync.Once
}

func (r *ringMapping) Bytes() []byte { return r.m.Mem }

func (r *ringMapping) Unmap() error {
	var err error
	r.once.Do(func() {
		err = r.m.Unmap()
		r.p.mapped.Add(-1)
	})
	return err
}
