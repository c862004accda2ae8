package sandbox

import (
	"github.com/xfeat/xfeat/backends/grant"
)

// What blkfront's data path needs of the guest's platform beyond
// platform.Guest: it reserves grant references and regrants them per
// request (blkfront.GrantTable).

// GrantTable is the guest's own grant table (blkfront.GrantTable).
func (g *guestPlatform) GrantTable() *grant.Domain { return g.dom }

// Frame is the guest frame number of page i (blkfront.GrantTable users
// grant data pages by frame).
func (p *guestPages) Frame(i int) uint32 { return p.first + uint32(i) }
