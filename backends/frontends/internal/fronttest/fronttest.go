// Package fronttest is what the frontends' negotiation tests share: an
// embedded XenStore the test writes the backend's offer into, and a guest
// platform whose pages are plain memory and whose grant references and
// event-channel ports count up, so a test can tell how many a frontend
// took. Nothing in it moves data: the data paths are tested on a sandbox
// host (tests/net, tests/blk).
package fronttest

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/platform"
	"github.com/xfeat/xfeat/xenstored"
	"github.com/xfeat/xfeat/xsclient"
)

// XenStore starts an embedded XenStore for the test and returns a dom0
// client of it; both close when the test ends.
func XenStore(t testing.TB) *xsclient.Client {
	t.Helper()
	s, err := xenstored.New(xenstored.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	go s.ServeConn(a, 0)
	c := xsclient.NewClient(b)
	t.Cleanup(func() { c.Close(); s.Close() })
	return c
}

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
