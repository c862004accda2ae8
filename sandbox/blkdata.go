package sandbox

import (
	"github.com/xfeat/xfeat/backends/grant"
)

// What the block data path needs of the platform beyond xenbus's
// interfaces: the backend maps and copies data pages through the guest's
// grant table itself (blkback.GrantAccess), and blkfront reserves grant
// references and regrants them per request (frontends.GrantTable).

// OpenGrants implements blkback.GrantAccess: the guest's mapper, kept open
// (like a live mapping) until release.
func (p *backendPlatform) OpenGrants(fe uint32) (*grant.Mapper, func(), error) {
	v, err := p.view(fe)
	if err != nil {
		return nil, nil, err
	}
	p.mu.Lock()
	v.live++
	p.mu.Unlock()
	m := &grantMapping{p: p, fe: fe, v: v}
	return v.mapper, func() { m.release() }, nil
}

// release drops a reference taken by OpenGrants.
func (m *grantMapping) release() {
	m.once.Do(m.dropRef)
}

// GrantTable is the guest's own grant table (frontends.GrantTable).
func (g *guestPlatform) GrantTable() *grant.Domain { return g.dom }

// Frame is the guest frame number of page i (frontends.GrantTable users
// grant data pages by frame).
func (p *guestPages) Frame(i int) uint32 { return p.first + uint32(i) }
