package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xfeat/xfeat/backends/evtchn"
	"github.com/xfeat/xfeat/backends/frontends/footprint"
	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/platform"
)

// Where a domain's files live: all in <rundir>/domains, next to the
// per-domain socket directories (which xenstored alone creates and
// removes): grant files domN.mem, .gnttab, .gntpin, event channel files
// domN.evtchn (dom0's included, since binding a channel maps both ends'
// files through one evtchn.Host). Keeping them out of domains/<id> lets an
// id be released and introduced again at once without the two guests'
// clean-up and set-up racing over one directory.
func guestDir(rundir string, domid uint32) string { return eventDir(rundir) }

func eventDir(rundir string) string { return filepath.Join(rundir, "domains") }

// backendMaxChannels is dom0's port table: enough for every queue of every
// device of every guest the sandbox runs.
const backendMaxChannels = 1 << 16

// channel adapts an evtchn port to platform.Channel; Close closes the port
// (EVTCHNOP_close) once.
type channel struct {
	host  *evtchn.Host
	dom   evtchn.DomID
	ch    *evtchn.Channel
	count *atomic.Int64
	once  sync.Once
}

func (c *channel) Port() uint32                               { return uint32(c.ch.Port()) }
func (c *channel) Notify() error                              { return c.ch.Notify() }
func (c *channel) Wait(timeout time.Duration) (uint32, error) { return c.ch.Wait(timeout) }
func (c *channel) Kick()                                      { c.ch.Kick() }

func (c *channel) Close() error {
	var err error
	c.once.Do(func() {
		err = c.host.CloseChannel(c.dom, c.ch.Port())
		if c.count != nil {
			c.count.Add(-1)
		}
	})
	return err
}

func openChannel(h *evtchn.Host, dom evtchn.DomID, port evtchn.Port, count *atomic.Int64) (platform.Channel, error) {
	ch, err := h.Channel(dom, port)
	if err != nil {
		h.CloseChannel(dom, port)
		return nil, err
	}
	if count != nil {
		count.Add(1)
	}
	return &channel{host: h, dom: dom, ch: ch, count: count}, nil
}

// backendPlatform is dom0's access to the guests' grants and event channels
// (platform.Backend). It opens a guest's grant files on first use with
// its own mappings, so a guest stopping never pulls memory from under a
// backend: the view is closed only when its last mapping is gone.
type backendPlatform struct {
	rundir string
	self   uint32
	events *evtchn.Host
	bound  atomic.Int64

	mu      sync.Mutex
	guests  map[uint32]*guestView
	orphans map[*guestView]struct{} // released guests' views still mapped
}

type guestView struct {
	dom    *grant.Domain
	mapper *grant.Mapper
	live   int  // mappings handed out and not unmapped
	gone   bool // the guest was released: close when live drops to 0
}

func newBackendPlatform(rundir string, self uint32, events *evtchn.Host) (*backendPlatform, error) {
	if err := os.MkdirAll(eventDir(rundir), 0o755); err != nil {
		return nil, err
	}
	events.RemoveDomain(evtchn.DomID(self)) // a previous host's, if any
	if err := events.CreateDomain(evtchn.DomID(self), backendMaxChannels); err != nil {
		return nil, err
	}
	return &backendPlatform{rundir: rundir, self: self, events: events,
		guests: map[uint32]*guestView{}, orphans: map[*guestView]struct{}{}}, nil
}

func (p *backendPlatform) view(fe uint32) (*guestView, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v := p.guests[fe]; v != nil && !v.gone {
		return v, nil
	}
	if fe == 0 || fe >= 0x7FF0 {
		return nil, fmt.Errorf("no domain %d", fe)
	}
	d, err := grant.OpenDomain(guestDir(p.rundir, fe), grant.DomID(fe))
	if err != nil {
		return nil, fmt.Errorf("domain %d has no grant table: %w", fe, err)
	}
	// A released guest whose pages are still mapped keeps its old view
	// until they are unmapped; a new domain with its id gets a new one.
	if old := p.guests[fe]; old != nil {
		p.orphans[old] = struct{}{}
	}
	v := &guestView{dom: d, mapper: grant.NewMapper(grant.DomID(p.self), d)}
	p.guests[fe] = v
	return v, nil
}

// forget drops a released guest's view once nothing maps it.
func (p *backendPlatform) forget(fe uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.guests[fe]
	if v == nil {
		return
	}
	v.gone = true
	if v.live == 0 {
		v.dom.Close()
		delete(p.guests, fe)
	}
}

// unrefLocked gives back one reference (a guestGrants, a ring mapping) to
// v, guest fe's view; the last one of a guest that is gone closes its grant
// domain and forgets the view. Must hold p.mu.
func (p *backendPlatform) unrefLocked(fe uint32, v *guestView) {
	v.live--
	if v.live == 0 && v.gone {
		v.dom.Close()
		if p.guests[fe] == v {
			delete(p.guests, fe)
		}
		delete(p.orphans, v)
	}
}

// mapped is the number of live grant mappings over all guests.
func (p *backendPlatform) mapped() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, v := range p.guests {
		n += v.mapper.Mapped()
	}
	for v := range p.orphans {
		n += v.mapper.Mapped()
	}
	return n
}

func (p *backendPlatform) close() {
	p.mu.Lock()
	for id, v := range p.guests {
		if v.live == 0 {
			v.dom.Close()
			delete(p.guests, id)
		}
	}
	p.mu.Unlock()
	p.events.RemoveDomain(evtchn.DomID(p.self))
}

// guestGrants is dom0's access to one guest's grants
// (platform.GrantMapper and platform.GrantCopier): it holds a reference to
// the guest's view until Close, and every ring it maps holds one of its
// own until unmapped.
type guestGrants struct {
	p    *backendPlatform
	fe   uint32
	v    *guestView
	once sync.Once
}

// open takes a reference to guest fe's view for a new guestGrants.
func (p *backendPlatform) open(fe uint32) (*guestGrants, error) {
	v, err := p.view(fe)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	v.live++
	p.mu.Unlock()
	return &guestGrants{p: p, fe: fe, v: v}, nil
}

// MapGrants implements platform.Backend.
func (p *backendPlatform) MapGrants(fe uint32) (platform.GrantMapper, error) { return p.open(fe) }

// CopyGrants implements platform.Backend.
func (p *backendPlatform) CopyGrants(fe uint32) (platform.GrantCopier, error) { return p.open(fe) }

// Map implements platform.GrantMapper.
func (g *guestGrants) Map(refs []grant.Ref, writable bool, pages [][]byte, handles []grant.Handle) error {
	return g.v.mapper.MapBatch(refs, writable, pages, handles)
}

// Unmap implements platform.GrantMapper.
func (g *guestGrants) Unmap(handles []grant.Handle) error { return g.v.mapper.UnmapBatch(handles) }

// Copy implements platform.GrantCopier.
func (g *guestGrants) Copy(ops []grant.CopyOp) int { return g.v.mapper.Copy(ops) }

// Close implements platform.GrantMapper and platform.GrantCopier: it gives
// back the reference to the guest's view, once.
func (g *guestGrants) Close() error {
	g.once.Do(func() {
		g.p.mu.Lock()
		g.p.unrefLocked(g.fe, g.v)
		g.p.mu.Unlock()
	})
	return nil
}

// MapRing implements platform.GrantMapper: one page or a multi-page ring,
// writable, holding its own reference to the guest's view.
func (g *guestGrants) MapRing(refs []grant.Ref) (platform.Mapping, error) {
	if len(refs) == 0 {
		return nil, errors.New("no grant references")
	}
	m := &ringMapping{g: &guestGrants{p: g.p, fe: g.fe, v: g.v}}
	var err error
	if len(refs) == 1 {
		m.page, err = g.v.mapper.Map(refs[0], false)
	} else {
		m.ring, err = g.v.mapper.MapRing(refs)
	}
	if err != nil {
		return nil, err
	}
	g.p.mu.Lock()
	g.v.live++
	g.p.mu.Unlock()
	return m, nil
}

// ringMapping is one page or a multi-page ring MapRing mapped.
type ringMapping struct {
	g    *guestGrants // its own reference, given back on Unmap
	page grant.Mapping
	ring *grant.RingMapping
	once sync.Once
}

func (m *ringMapping) Bytes() []byte {
	if m.ring != nil {
		return m.ring.Mem
	}
	return m.page.Page
}

func (m *ringMapping) Unmap() error {
	var err error
	m.once.Do(func() {
		if m.ring != nil {
			err = m.g.v.mapper.UnmapRing(m.ring)
		} else {
			err = m.g.v.mapper.Unmap(m.page.Handle)
		}
		m.g.Close()
	})
	return err
}

// BindInterdomain implements platform.EventChannels.
func (p *backendPlatform) BindInterdomain(ctx context.Context, remote, remotePort uint32) (platform.Channel, error) {
	if remote >= 0x7FF0 {
		return nil, fmt.Errorf("no domain %d", remote)
	}
	port, err := p.events.BindInterdomain(evtchn.DomID(p.self), evtchn.DomID(remote), evtchn.Port(remotePort))
	if err != nil {
		return nil, err
	}
	return openChannel(p.events, evtchn.DomID(p.self), port, &p.bound)
}

// guestPlatform is one guest's memory, grant table and event channels
// (platform.Guest).
type guestPlatform struct {
	dir    string
	id     uint32
	dom    *grant.Domain
	events *evtchn.Host

	mu   sync.Mutex
	used []bool // frames handed out
}

func newGuestPlatform(dir string, id uint32, frames, chans int, events *evtchn.Host) (*guestPlatform, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// Guest memory is a sparse file: as many pages as the grant table
	// could ever share, bounded (what the toolstack plans the devices in).
	pages := int(footprint.GuestPages(int64(frames)))
	// Files a previous host left for this id (it was killed) go first.
	grant.RemoveDomain(dir, grant.DomID(id))
	events.RemoveDomain(evtchn.DomID(id))
	d, err := grant.CreateDomain(dir, grant.DomID(id), pages, frames)
	if err != nil {
		return nil, err
	}
	if err := events.CreateDomain(evtchn.DomID(id), chans); err != nil {
		d.Close()
		grant.RemoveDomain(dir, grant.DomID(id))
		return nil, err
	}
	return &guestPlatform{dir: dir, id: id, dom: d, events: events, used: make([]bool, pages)}, nil
}

func (g *guestPlatform) close() {
	g.events.RemoveDomain(evtchn.DomID(g.id))
	g.dom.Close()
	grant.RemoveDomain(g.dir, grant.DomID(g.id))
}

// AllocUnbound implements platform.Guest.
func (g *guestPlatform) AllocUnbound(ctx context.Context, remote uint32) (platform.Channel, error) {
	port, err := g.events.AllocUnbound(evtchn.DomID(g.id), evtchn.DomID(remote))
	if err != nil {
		return nil, err
	}
	return openChannel(g.events, evtchn.DomID(g.id), port, nil)
}

// AllocPages implements platform.Guest: n contiguous free frames,
// zeroed.
func (g *guestPlatform) AllocPages(n int) (platform.Pages, error) {
	if n < 1 {
		return nil, errors.New("no pages asked for")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	run := 0
	for f := range g.used {
		if g.used[f] {
			run = 0
			continue
		}
		run++
		if run == n {
			first := f - n + 1
			mem, err := g.dom.Frames(uint32(first), n)
			if err != nil {
				return nil, err
			}
			for i := first; i <= f; i++ {
				g.used[i] = true
			}
			clear(mem)
			return &guestPages{g: g, first: uint32(first), mem: mem}, nil
		}
	}
	return nil, fmt.Errorf("guest %d: out of memory (%d contiguous pages)", g.id, n)
}

type guestPages struct {
	g     *guestPlatform
	first uint32
	mem   []byte
	refs  []grant.Ref
	freed bool
}

func (p *guestPages) Bytes() []byte { return p.mem }

func (p *guestPages) Grant(i int, dom uint32, readonly bool) (uint32, error) {
	if i < 0 || i*grant.PageSize >= len(p.mem) {
		return 0, fmt.Errorf("page %d out of range", i)
	}
	ref, err := p.g.dom.GrantAccess(grant.DomID(dom), p.first+uint32(i), readonly)
	if err != nil {
		return 0, err
	}
	p.refs = append(p.refs, ref)
	return uint32(ref), nil
}

// Free ends the grants and returns the frames. A grant the backend still
// maps cannot be ended (as under Xen): then the frames stay allocated.
func (p *guestPages) Free() error {
	if p.freed {
		return nil
	}
	var kept []grant.Ref
	var first error
	for _, r := range p.refs {
		if err := p.g.dom.EndAccess(r); err != nil {
			kept = append(kept, r)
			if first == nil {
				first = err
			}
		}
	}
	p.refs = kept
	if first != nil {
		return first
	}
	p.freed = true
	p.g.mu.Lock()
	for i := 0; i < len(p.mem)/grant.PageSize; i++ {
		p.g.used[int(p.first)+i] = false
	}
	p.g.mu.Unlock()
	return nil
}
