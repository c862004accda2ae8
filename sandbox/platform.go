package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/xenbus"
)

// guestDir is where a domain's memory, grant table and event channel files
// live: next to its XenStore socket.
func guestDir(rundir string, domid uint32) string {
	return fmt.Sprintf("%s/domains/%d", rundir, domid)
}

// backendPlatform is dom0's access to the guests' grants and event
// channels (xenbus.BackendPlatform). It opens a guest's files on first use
// with its own mappings, so a guest stopping never pulls memory from under a
// backend: the view is closed only when its last mapping is gone.
type backendPlatform struct {
	rundir string
	self   uint32
	events *eventTable

	mu     sync.Mutex
	guests map[uint32]*guestView
}

type guestView struct {
	dom    *grant.Domain
	mapper *grant.Mapper
	live   int  // mappings handed out and not unmapped
	gone   bool // the guest was released: close when live drops to 0
}

func newBackendPlatform(rundir string, self uint32, events *eventTable) *backendPlatform {
	return &backendPlatform{rundir: rundir, self: self, events: events, guests: map[uint32]*guestView{}}
}

func (p *backendPlatform) view(fe uint32) (*guestView, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v := p.guests[fe]; v != nil && !v.gone {
		return v, nil
	}
	if fe > 0x7FEF {
		return nil, fmt.Errorf("no domain %d", fe)
	}
	d, err := grant.OpenDomain(guestDir(p.rundir, fe), grant.DomID(fe))
	if err != nil {
		return nil, fmt.Errorf("domain %d has no grant table: %w", fe, err)
	}
	v := &guestView{dom: d, mapper: grant.NewMapper(grant.DomID(p.self), d)}
	if old := p.guests[fe]; old != nil {
		// A released guest whose mappings are still live keeps its old
		// view until they go; the new domain with the same id gets a new
		// one. The old view is tracked by its mappings' closures.
		_ = old
	}
	p.guests[fe] = v
	return v, nil
}

// release drops a guest's view once nothing maps it.
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

func (p *backendPlatform) mapped() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, v := range p.guests {
		n += v.mapper.Mapped()
	}
	return n
}

func (p *backendPlatform) bound() int { return p.events.count(p.self) }

func (p *backendPlatform) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, v := range p.guests {
		if v.live == 0 {
			v.dom.Close()
			delete(p.guests, id)
		}
	}
}

// grantMapping is a set of grant mappings seen as one contiguous area.
type grantMapping struct {
	p       *backendPlatform
	fe      uint32
	v       *guestView
	handles []grant.Handle
	mem     []byte
	region  []byte // our own contiguous view (multi-page), nil for one page
	once    sync.Once
}

func (m *grantMapping) Bytes() []byte { return m.mem }

func (m *grantMapping) Unmap() error {
	var first error
	m.once.Do(func() {
		if m.region != nil {
			first = unmapRegion(m.region)
		}
		for _, h := range m.handles {
			if err := m.v.mapper.Unmap(h); err != nil && first == nil {
				first = err
			}
		}
		m.p.mu.Lock()
		m.v.live--
		if m.v.live == 0 && m.v.gone {
			m.v.dom.Close()
			if m.p.guests[m.fe] == m.v {
				delete(m.p.guests, m.fe)
			}
		}
		m.p.mu.Unlock()
	})
	return first
}

// MapGrants implements xenbus.GrantMapper.
func (p *backendPlatform) MapGrants(ctx context.Context, fe uint32, refs []uint32, writable bool) (xenbus.Mapping, error) {
	if len(refs) == 0 {
		return nil, errors.New("no grant references")
	}
	v, err := p.view(fe)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	v.live++
	p.mu.Unlock()
	m := &grantMapping{p: p, fe: fe, v: v}
	frames := make([]uint32, 0, len(refs))
	for _, r := range refs {
		mp, err := v.mapper.Map(grant.Ref(r), !writable)
		if err != nil {
			m.Unmap()
			return nil, fmt.Errorf("grant %d: %w", r, err)
		}
		m.handles = append(m.handles, mp.Handle)
		if len(refs) == 1 {
			m.mem = mp.Page
			return m, nil
		}
		frames = append(frames, frameOf(v.dom, mp.Page))
	}
	mem, _, _ := grant.Paths(guestDir(p.rundir, fe), grant.DomID(fe))
	region, err := mapFrames(mem, frames, writable)
	if err != nil {
		m.Unmap()
		return nil, err
	}
	m.region, m.mem = region, region
	return m, nil
}

// guestPlatform is one guest's memory, grant table and event channels
// (xenbus.GuestPlatform).
type guestPlatform struct {
	dir    string
	id     uint32
	dom    *grant.Domain
	events *eventTable

	mu   sync.Mutex
	used []bool // frames handed out
}

func newGuestPlatform(dir string, id uint32, frames, chans int, events *eventTable) (*guestPlatform, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// Guest memory is a sparse file: as many pages as the grant table
	// could ever share, bounded.
	pages := frames * grant.EntriesPerFrame
	if pages > 1<<16 {
		pages = 1 << 16
	}
	d, err := grant.CreateDomain(dir, grant.DomID(id), pages, frames)
	if err != nil {
		return nil, err
	}
	events.addDomain(id, chans)
	return &guestPlatform{dir: dir, id: id, dom: d, events: events, used: make([]bool, pages)}, nil
}

func (g *guestPlatform) close() {
	g.events.removeDomain(g.id)
	g.dom.Close()
	grant.RemoveDomain(g.dir, grant.DomID(g.id))
}

// AllocPages implements xenbus.GuestPlatform: n contiguous free frames,
// zeroed.
func (g *guestPlatform) AllocPages(n int) (xenbus.Pages, error) {
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
			for i := first; i <= f; i++ {
				g.used[i] = true
			}
			mem := framesOf(g.dom, uint32(first), n)
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
// maps cannot be ended (as under Xen): its frames stay allocated.
func (p *guestPages) Free() error {
	if p.freed {
		return nil
	}
	var first error
	for _, r := range p.refs {
		if err := p.g.dom.EndAccess(r); err != nil && first == nil {
			first = err
		}
	}
	p.refs = nil
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
