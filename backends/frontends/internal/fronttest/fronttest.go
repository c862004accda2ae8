// Package fronttest is the guest platform the frontends' negotiation tests
// share (beside internal/xstest's embedded XenStore, where a test writes the
// backend's offer): pages are plain memory, grant references and event-
// channel ports count up, so a test can tell how many a frontend took. Nothing in it moves data: the data paths are tested on a sandbox
// host (tests/net, tests/blk).
package fronttest

import (
	"context"
	"errors"
	"time"

	"github.com/xfeat/xfeat/backends/platform"
)

// Guest is a platform.Guest that grants references from 101 up and
// allocates ports from 1 up; Refs and Ports are how many it gave out.
type Guest struct{ Refs, Ports uint32 }

// AllocPages implements platform.Guest with plain memory.
func (g *Guest) AllocPages(n int) (platform.Pages, error) {
	return &pages{g: g, mem: make([]byte, n*4096)}, nil
}

// AllocUnbound implements platform.Guest: the next port, never bound.
func (g *Guest) AllocUnbound(context.Context, uint32) (platform.Channel, error) {
	g.Ports++
	return &channel{port: g.Ports}, nil
}

type pages struct {
	g   *Guest
	mem []byte
}

func (p *pages) Bytes() []byte { return p.mem }
func (p *pages) Grant(int, uint32, bool) (uint32, error) {
	p.g.Refs++
	return 100 + p.g.Refs, nil
}
func (p *pages) Free() error { return nil }

type channel struct{ port uint32 }

func (c *channel) Port() uint32                       { return c.port }
func (c *channel) Notify() error                      { return nil }
func (c *channel) Wait(time.Duration) (uint32, error) { return 0, errors.New("closed") }
func (c *channel) Kick()                              {}
func (c *channel) Close() error                       { return nil }
