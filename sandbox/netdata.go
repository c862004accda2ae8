package sandbox

import (
	"github.com/xfeat/xfeat/backends/frontends/netfront"
	"github.com/xfeat/xfeat/backends/netback"
)

// The network data path (Config.NetData): netback's TAP path on the host
// side and netfront's TAP-in-a-namespace path on each guest's side.

// NetTap is the guests' network data path (nil unless Config.NetData).
func (h *Host) NetTap() *netfront.Tap { return h.netTap }

// TapPath is netback's data path (nil unless Config.NetData).
func (h *Host) TapPath() *netback.TapPath { return h.tapPath }

// setupNetData builds both ends of the network data path.
func (h *Host) setupNetData() {
	if !h.cfg.NetData || h.cfg.NetbackDataPath != nil {
		return
	}
	taps := &netback.HostTaps{TunPath: h.cfg.TunPath, Logf: h.prefixed("netback")}
	h.tapPath = &netback.TapPath{XenStore: h.xs, Logf: h.prefixed("netback"), Taps: taps}
	h.cfg.NetbackDataPath = h.tapPath
	h.netTap = &netfront.Tap{Logf: h.prefixed("netfront"), TunPath: h.cfg.TunPath}
}

// netfront is a guest's network frontend driver, with the data path when
// the host has one.
func (h *Host) netfront(plat *guestPlatform) *netfront.Driver {
	nf := &netfront.Driver{Platform: plat}
	if h.netTap != nil {
		nf.DataPath = h.netTap
	}
	return nf
}
