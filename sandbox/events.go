package sandbox

import (
	"context"
	"fmt"
	"sync"

	"github.com/xfeat/xfeat/backends/xenbus"
)

// eventTable is the host's interdomain event channels: per domain a port
// table bounded by max_event_channels (port 0 is never used, as in Xen).
// A guest allocates a port unbound for a remote domain; that domain binds
// it, getting a port of its own; notifying one end wakes the other.
//
// TODO(evtchn): replaced by backends/evtchn (cross-process channels) once
// that package lands; the interfaces the drivers see do not change.
type eventTable struct {
	mu   sync.Mutex
	doms map[uint32]*eventDomain
}

type eventDomain struct {
	id    uint32
	limit int
	ports map[uint32]*eventPort
}

type eventPort struct {
	dom    *eventDomain
	port   uint32
	remote uint32 // domain allowed to bind (unbound) or bound to
	peer   *eventPort
	ch     chan struct{}
	closed bool
}

func newEventTable() *eventTable { return &eventTable{doms: map[uint32]*eventDomain{}} }

func (t *eventTable) addDomain(id uint32, limit int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.doms[id] = &eventDomain{id: id, limit: limit, ports: map[uint32]*eventPort{}}
}

// removeDomain closes every port of a domain (its peers see them closed).
func (t *eventTable) removeDomain(id uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.doms[id]
	if d == nil {
		return
	}
	for _, p := range d.ports {
		t.closeLocked(p)
	}
	delete(t.doms, id)
}

func (t *eventTable) domain(id uint32) *eventDomain {
	d := t.doms[id]
	if d == nil {
		d = &eventDomain{id: id, limit: 1 << 17, ports: map[uint32]*eventPort{}}
		t.doms[id] = d
	}
	return d
}

func (t *eventTable) newPortLocked(d *eventDomain) (*eventPort, error) {
	for port := uint32(1); int(port) < d.limit; port++ {
		if d.ports[port] == nil {
			p := &eventPort{dom: d, port: port, ch: make(chan struct{}, 1)}
			d.ports[port] = p
			return p, nil
		}
	}
	return nil, fmt.Errorf("domain %d: no free event channel (max_event_channels %d)", d.id, d.limit)
}

func (t *eventTable) allocUnbound(dom, remote uint32) (*eventChannel, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.doms[dom]
	if d == nil {
		return nil, fmt.Errorf("no domain %d", dom)
	}
	p, err := t.newPortLocked(d)
	if err != nil {
		return nil, err
	}
	p.remote = remote
	return &eventChannel{t: t, p: p}, nil
}

func (t *eventTable) bindInterdomain(self, remote, remotePort uint32) (*eventChannel, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rd := t.doms[remote]
	if rd == nil {
		return nil, fmt.Errorf("no domain %d", remote)
	}
	rp := rd.ports[remotePort]
	switch {
	case rp == nil:
		return nil, fmt.Errorf("domain %d has no port %d", remote, remotePort)
	case rp.remote != self:
		return nil, fmt.Errorf("domain %d port %d is not for domain %d", remote, remotePort, self)
	case rp.peer != nil:
		return nil, fmt.Errorf("domain %d port %d is already bound", remote, remotePort)
	}
	p, err := t.newPortLocked(t.domain(self))
	if err != nil {
		return nil, err
	}
	p.remote, p.peer, rp.peer = remote, rp, p
	return &eventChannel{t: t, p: p}, nil
}

func (t *eventTable) closeLocked(p *eventPort) {
	if p.closed {
		return
	}
	p.closed = true
	delete(p.dom.ports, p.port)
	if p.peer != nil {
		p.peer.peer = nil
	}
	close(p.ch)
}

func (t *eventTable) count(dom uint32) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if d := t.doms[dom]; d != nil {
		return len(d.ports)
	}
	return 0
}

type eventChannel struct {
	t *eventTable
	p *eventPort
}

func (c *eventChannel) Port() uint32 { return c.p.port }

func (c *eventChannel) Notify() error {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	if c.p.closed {
		return fmt.Errorf("event channel %d closed", c.p.port)
	}
	if peer := c.p.peer; peer != nil && !peer.closed {
		select {
		case peer.ch <- struct{}{}:
		default: // already pending
		}
	}
	return nil
}

func (c *eventChannel) Events() <-chan struct{} { return c.p.ch }

func (c *eventChannel) Close() error {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	c.t.closeLocked(c.p)
	return nil
}

// BindInterdomain implements xenbus.EventBinder.
func (p *backendPlatform) BindInterdomain(ctx context.Context, remote, remotePort uint32) (xenbus.Channel, error) {
	ch, err := p.events.bindInterdomain(p.self, remote, remotePort)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return ch, nil
}

// AllocUnbound implements xenbus.GuestPlatform.
func (g *guestPlatform) AllocUnbound(ctx context.Context, remote uint32) (xenbus.Channel, error) {
	ch, err := g.events.allocUnbound(g.id, remote)
	if err != nil {
		return nil, err
	}
	return ch, nil
}
