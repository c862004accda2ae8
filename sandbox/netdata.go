package sandbox

import (
	"github.com/xfeat/xfeat/backends/frontends"
	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/netback"
)

// The network data path (Config.NetData): netback's TAP path on the host
// side and netfront's TAP-in-a-namespace path on each guest's side.

// copier is one backend's grant-copy access to a guest; it keeps the
// guest's grant files mapped (like a mapping) until Close.
type copier struct {
	p    *backendPlatform
	fe   uint32
	v    *guestView
	done bool
}

func (c *copier) Copy(ops []grant.CopyOp) int { return c.v.mapper.Copy(ops) }

func (c *copier) Close() error {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	if c.done {
		return nil
	}
	c.done = true
	c.p.unrefLocked(c.fe, c.v)
	return nil
}

// GrantCopier implements netback.GrantCopier.
func (p *backendPlatform) GrantCopier(fe uint32) (netback.Copier, error) {
	v, err := p.view(fe)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	v.live++
	p.mu.Unlock()
	return &copier{p: p, fe: fe, v: v}, nil
}

// NetTap is the guests' network data path (nil unless Config.NetData).
func (h *Host) NetTap() *frontends.NetTap { return h.netTap }

// TapPath is netback's data path (nil unless Config.NetData).
func (h *Host) TapPath() *netback.TapPath { return h.tapPath }

// setupNetData builds both ends of the network data path.
func (h *Host) setupNetData() {
	if !h.cfg.NetData || h.cfg.NetbackDataPath != nil {
		return
	}
	h.tapPath = &netback.TapPath{XenStore: h.xs, Logf: h.prefixed("netback"), TunPath: h.cfg.TunPath}
	h.cfg.NetbackDataPath = h.tapPath
	h.netTap = &frontends.NetTap{Logf: h.prefixed("netfront"), TunPath: h.cfg.TunPath}
}

// netfront is a guest's network frontend driver, with the data path when
// the host has one.
func (h *Host) netfront(plat *guestPlatform) *frontends.Netfront {
	nf := &frontends.Netfront{Platform: plat}
	if h.netTap != nil {
		nf.DataPath = h.netTap
	}
	return nf
}
