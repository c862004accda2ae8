package netfront

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

// Tests of netfront's negotiation (Talk) against the embedded XenStore, the
// backend's offer written by the test and the guest's platform a fake:
// pages are plain memory, grants count up, ports count up.

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
	be = "/local/domain/0/backend/vif/1/0"
	fe = "/local/domain/1/device/vif/0"
)

// talk writes the backend's offer, runs Talk and returns the frontend's
// keys.
func talk(t *testing.T, drv *Driver, offer map[string]string) (pv.State, map[string]string, error) {
	t.Helper()
	ctx := context.Background()
	c := xenstore(t)
	for k, v := range offer {
		if err := c.WriteString(ctx, be+"/"+k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WriteString(ctx, fe+"/"+pv.KeyState, "1"); err != nil {
		t.Fatal(err)
	}
	d := drv.New(&xenbus.FrontDevice{Kind: pv.Vif, DomID: 1, DevID: 0, Frontend: fe, Backend: be, BackendID: 0})
	st, err := d.Talk(ctx, c)
	keys := map[string]string{}
	var walk func(dir, prefix string)
	walk = func(dir, prefix string) {
		names, _ := c.Directory(ctx, dir)
		for _, n := range names {
			if v, err := c.ReadString(ctx, dir+"/"+n); err == nil && v != "" {
				keys[prefix+n] = v
			}
			walk(dir+"/"+n, prefix+n+"/")
		}
	}
	walk(fe, "")
	return st, keys, err
}

var fullOffer = map[string]string{
	"multi-queue-max-queues": "2", "feature-split-event-channels": "1", "feature-rx-copy": "1",
	"feature-sg": "1", "feature-gso-tcpv4": "1", "feature-gso-tcpv6": "0", "feature-ipv6-csum-offload": "1",
	"feature-no-csum-offload": "0", "feature-multicast-control": "1",
}

// Two queues offered, split channels: per-queue keys under queue-N, the
// offloads echoed, and Connected (as Linux's netfront goes straight there).
func TestTalkMultiQueueSplit(t *testing.T) {
	st, keys, err := talk(t, &Driver{Platform: &fakeGuest{}}, fullOffer)
	if err != nil || st != pv.Connected {
		t.Fatalf("Talk = %s, %v", st, err)
	}
	for k, want := range map[string]string{
		"multi-queue-num-queues": "2", "request-rx-copy": "1", "feature-rx-notify": "1",
		"feature-sg": "1", "feature-gso-tcpv4": "1", "feature-gso-tcpv6": "0", "feature-ipv6-csum-offload": "1",
		"feature-no-csum-offload": "0", "request-multicast-control": "1",
	} {
		if keys[k] != want {
			t.Errorf("%s = %q, want %q", k, keys[k], want)
		}
	}
	for _, q := range []string{"queue-0/", "queue-1/"} {
		for _, k := range []string{"tx-ring-ref", "rx-ring-ref", "event-channel-tx", "event-channel-rx"} {
			if keys[q+k] == "" {
				t.Errorf("no %s%s", q, k)
			}
		}
		if _, ok := keys[q+"event-channel"]; ok {
			t.Errorf("%sevent-channel written with split channels", q)
		}
	}
	if _, ok := keys["tx-ring-ref"]; ok {
		t.Error("a top-level tx-ring-ref with two queues")
	}
}

// The guest's own wish caps the queues; one queue means top-level keys and
// a single event channel; a backend that says nothing of multi-queue gets
// no multi-queue-num-queues.
func TestTalkSingleQueue(t *testing.T) {
	offer := map[string]string{"feature-rx-copy": "1"}
	st, keys, err := talk(t, &Driver{Platform: &fakeGuest{}, MaxQueues: 1}, offer)
	if err != nil || st != pv.Connected {
		t.Fatalf("Talk = %s, %v", st, err)
	}
	for _, k := range []string{"tx-ring-ref", "rx-ring-ref", "event-channel"} {
		if keys[k] == "" {
			t.Errorf("no top-level %s", k)
		}
	}
	for _, k := range []string{"multi-queue-num-queues", "event-channel-tx", "queue-0/tx-ring-ref", "request-multicast-control"} {
		if _, ok := keys[k]; ok {
			t.Errorf("%s written", k)
		}
	}
}

// A backend without rx copy cannot be used; one writing garbage where a
// number belongs is an error naming the key.
func TestTalkRefusesWhatItCannotUse(t *testing.T) {
	if _, _, err := talk(t, &Driver{Platform: &fakeGuest{}}, map[string]string{"multi-queue-max-queues": "2"}); err == nil {
		t.Error("a backend without feature-rx-copy was accepted")
	}
	_, _, err := talk(t, &Driver{Platform: &fakeGuest{}}, map[string]string{"feature-rx-copy": "1", "multi-queue-max-queues": "two"})
	if err == nil || !strings.Contains(err.Error(), "multi-queue-max-queues") {
		t.Errorf("garbage offer: %v", err)
	}
}
