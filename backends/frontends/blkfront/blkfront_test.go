package blkfront

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/platform"
	"github.com/xfeat/xfeat/backends/xenbus"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xenstored"
	"github.com/xfeat/xfeat/xsclient"
)

// Tests of blkfront's negotiation (Talk, BackendConnected) against the
// embedded XenStore, the backend's offer written by the test and the
// guest's platform a fake. tests/blk runs the data path on a sandbox host.

func xenstore(t *testing.T) *xsclient.Client {
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

type fakeGuest struct{ refs, ports uint32 }

type fakePages struct {
	g   *fakeGuest
	mem []byte
}

type fakeChannel struct{ port uint32 }

func (g *fakeGuest) AllocPages(n int) (platform.Pages, error) {
	return &fakePages{g: g, mem: make([]byte, n*4096)}, nil
}
func (g *fakeGuest) AllocUnbound(context.Context, uint32) (platform.Channel, error) {
	g.ports++
	return &fakeChannel{port: g.ports}, nil
}
func (p *fakePages) Bytes() []byte { return p.mem }
func (p *fakePages) Grant(int, uint32, bool) (uint32, error) {
	p.g.refs++
	return 100 + p.g.refs, nil
}
func (p *fakePages) Free() error { return nil }

func (c *fakeChannel) Port() uint32                       { return c.port }
func (c *fakeChannel) Notify() error                      { return nil }
func (c *fakeChannel) Wait(time.Duration) (uint32, error) { return 0, errors.New("closed") }
func (c *fakeChannel) Kick()                              {}
func (c *fakeChannel) Close() error                       { return nil }

const (
	be = "/local/domain/0/backend/vbd/1/51712"
	fe = "/local/domain/1/device/vbd/51712"
)

type rig struct {
	c *xsclient.Client
	d *Device
}

func newRig(t *testing.T, drv *Driver, offer map[string]string) *rig {
	t.Helper()
	c := xenstore(t)
	for k, v := range offer {
		if err := c.WriteString(context.Background(), be+"/"+k, v); err != nil {
			t.Fatal(err)
		}
	}
	h := drv.New(&xenbus.FrontDevice{Kind: pv.Vbd, DomID: 1, DevID: 51712, Frontend: fe, Backend: be, BackendID: 0})
	return &rig{c: c, d: h.(*Device)}
}

func (r *rig) read(t *testing.T, key string) (string, bool) {
	t.Helper()
	v, err := r.c.ReadString(context.Background(), fe+"/"+key)
	return v, err == nil
}

// Two queues of 2^2-page rings: ring-ref0..3 and event-channel under each
// queue-N, the protocol and persistence written, Initialised returned.
func TestTalkMultiQueueMultiPage(t *testing.T) {
	r := newRig(t, &Driver{Platform: &fakeGuest{}, MaxRingPageOrder: -1},
		map[string]string{"multi-queue-max-queues": "2", "max-ring-page-order": "2", "feature-persistent": "1"})
	st, err := r.d.Talk(context.Background(), r.c)
	if err != nil || st != pv.Initialised {
		t.Fatalf("Talk = %s, %v", st, err)
	}
	for k, want := range map[string]string{"multi-queue-num-queues": "2", "ring-page-order": "2",
		"protocol": "x86_64-abi", "feature-persistent": "1"} {
		if got, _ := r.read(t, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, q := range []string{"queue-0/", "queue-1/"} {
		for _, k := range []string{"ring-ref0", "ring-ref1", "ring-ref2", "ring-ref3", "event-channel"} {
			if _, ok := r.read(t, q+k); !ok {
				t.Errorf("no %s%s", q, k)
			}
		}
	}
	if _, ok := r.read(t, "ring-ref"); ok {
		t.Error("a top-level ring-ref with two queues")
	}
}

// The guest's wishes cap what it takes; one single-page ring is ring-ref,
// top level; a backend silent on multi-queue gets no multi-queue-num-queues.
func TestTalkGuestWishes(t *testing.T) {
	r := newRig(t, &Driver{Platform: &fakeGuest{}, MaxQueues: 1, MaxRingPageOrder: 0},
		map[string]string{"max-ring-page-order": "4"})
	if st, err := r.d.Talk(context.Background(), r.c); err != nil || st != pv.Initialised {
		t.Fatalf("Talk = %s, %v", st, err)
	}
	if got, _ := r.read(t, "ring-page-order"); got != "0" {
		t.Errorf("ring-page-order %q, want 0", got)
	}
	for _, k := range []string{"ring-ref", "event-channel"} {
		if _, ok := r.read(t, k); !ok {
			t.Errorf("no top-level %s", k)
		}
	}
	if _, ok := r.read(t, "multi-queue-num-queues"); ok {
		t.Error("multi-queue-num-queues written for a backend that offers no queues")
	}
}

// What the backend publishes at Connected is checked before any I/O: no
// sectors, or a sector size that is not a power of two from 512, fails the
// device.
func TestBackendConnectedChecksTheDisk(t *testing.T) {
	for _, c := range []struct {
		keys map[string]string
		want string
	}{
		{map[string]string{"sector-size": "512"}, "no sectors"},
		{map[string]string{"sectors": "lots"}, "sectors"},
		{map[string]string{"sectors": "2048", "sector-size": "1000"}, "power of two"},
		{map[string]string{"sectors": "2048", "sector-size": "256"}, "power of two"},
	} {
		r := newRig(t, &Driver{Platform: &fakeGuest{}}, c.keys)
		err := r.d.BackendConnected(context.Background(), r.c)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error saying %q", c.keys, err, c.want)
		}
	}
}
