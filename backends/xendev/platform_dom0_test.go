//go:build xenhost_dom0

package xendev_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/platform"
	"github.com/xfeat/xfeat/backends/xendev"
)

func openPlatform(t testing.TB) *xendev.Platform {
	t.Helper()
	p, err := xendev.OpenPlatform()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestDom0PlatformGrants: package platform's grant abilities on gntdev, as
// the data paths use them. A ring maps writable and contiguous; a Map
// batch gives each page its handle, read-only pages fault on write, and a
// read-only grant asked writable fails with nothing mapped; the batch goes
// when its last page is unmapped; a handle unmapped twice is an error;
// copies work through CopyGrants; a map and unmap through the seam
// allocates nothing; everything unmapped leaves no gntdev mapping.
func TestDom0PlatformGrants(t *testing.T) {
	p := openPlatform(t)
	_, a := openGnt(t)
	if size, _ := gntdevMaps(t); size != 0 {
		t.Fatalf("%d bytes of gntdev mappings before the test", size)
	}
	w := share(t, a, 4, true)
	ro := share(t, a, 2, false)
	fill(w.Mem, 1)
	fill(ro.Mem, 77)
	g, err := p.MapGrants(uint32(self))
	if err != nil {
		t.Fatal(err)
	}

	ring, err := g.MapRing(w.Refs[:2])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ring.Bytes(), w.Mem[:2*grant.PageSize]) {
		t.Fatal("the ring's pages are not the granted ones, in order")
	}
	ring.Bytes()[grant.PageSize+9] = 0xEE
	if w.Mem[grant.PageSize+9] != 0xEE {
		t.Fatal("a write to the ring is not seen by the granting side")
	}
	if _, err := g.MapRing(ro.Refs); err == nil {
		t.Fatal("a read-only grant mapped as a (writable) ring")
	}

	refs := []grant.Ref{w.Refs[3], ro.Refs[1], ro.Refs[0]}
	pages := make([][]byte, 3)
	handles := make([]grant.Handle, 3)
	if err := g.Map(refs, true, pages, handles); err == nil {
		t.Fatal("a batch with read-only grants mapped writable")
	} else if !strings.Contains(err.Error(), xendev.GntDevPath) {
		t.Errorf("error %q does not name the device", err)
	}
	if p.Mapped() != 1 {
		t.Fatalf("after a failed Map: %d mappings counted, want the ring's 1", p.Mapped())
	}
	if err := g.Map(refs, false, pages, handles); err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]byte{w.Mem[3*grant.PageSize:], ro.Mem[grant.PageSize:], ro.Mem[:grant.PageSize]} {
		if len(pages[i]) != grant.PageSize || cap(pages[i]) != grant.PageSize || !bytes.Equal(pages[i], want[:grant.PageSize]) {
			t.Fatalf("page %d of the batch: %d bytes (cap %d), not granted page %d's content", i, len(pages[i]), cap(pages[i]), i)
		}
		if !faults(pages[i]) {
			t.Fatalf("page %d mapped read-only: a write did not fault", i)
		}
	}
	if handles[0] == handles[1] || handles[1] == handles[2] {
		t.Fatalf("handles %v are not one per page", handles)
	}
	// A batch stays until its last page is unmapped.
	if err := g.Unmap(handles[1:2]); err != nil {
		t.Fatal(err)
	}
	if p.Mapped() != 2 || !bytes.Equal(pages[0], w.Mem[3*grant.PageSize:]) {
		t.Fatalf("after unmapping one page of three: %d mappings counted, want 2 (ring, batch)", p.Mapped())
	}
	if err := g.Unmap(handles[1:2]); err == nil {
		t.Error("a handle unmapped twice")
	}
	if err := g.Unmap([]grant.Handle{handles[0], handles[2]}); err != nil {
		t.Fatal(err)
	}
	if p.Mapped() != 1 {
		t.Fatalf("after the batch: %d mappings counted, want 1", p.Mapped())
	}
	if err := g.Unmap([]grant.Handle{1 << 30}); err == nil {
		t.Error("a handle never mapped was unmapped")
	}

	c, err := p.CopyGrants(uint32(self))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2*grant.PageSize)
	ops := []grant.CopyOp{
		{Src: grant.CopyPtr{Ref: ro.Refs[0]}, Dst: grant.CopyPtr{Local: buf}, Len: grant.PageSize},
		{Src: grant.CopyPtr{Local: buf, Offset: 10}, Dst: grant.CopyPtr{Ref: ro.Refs[1]}, Len: 4}, // read-only
		{Src: grant.CopyPtr{Local: buf}, Dst: grant.CopyPtr{Ref: w.Refs[2], Offset: 100}, Len: 64},
	}
	if failed := c.Copy(ops); failed != 1 || ops[0].Status != grant.StatusOkay || ops[1].Status == grant.StatusOkay || ops[2].Status != grant.StatusOkay {
		t.Fatalf("copy: %d failed, statuses %v %v %v; want only the write to a read-only grant refused", failed, ops[0].Status, ops[1].Status, ops[2].Status)
	}
	if !bytes.Equal(buf[:grant.PageSize], ro.Mem[:grant.PageSize]) || !bytes.Equal(w.Mem[2*grant.PageSize+100:2*grant.PageSize+164], ro.Mem[:64]) {
		t.Fatal("the copies did not move the data")
	}
	c.Close()

	if err := g.Map(w.Refs, true, pages[:1], handles[:1]); err == nil {
		t.Fatal("a batch of 4 refs mapped into 1 page")
	}

	// The data paths' patterns: one batch per request, unmapped together;
	// persistent grants, one page per batch.
	pages = make([][]byte, 4)
	handles = make([]grant.Handle, 4)
	if err := g.Map(w.Refs, true, pages, handles); err != nil { // warm the slot table
		t.Fatal(err)
	}
	if err := g.Unmap(handles); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(50, func() {
		if err := g.Map(w.Refs, true, pages, handles); err != nil {
			panic(err)
		}
		if err := g.Unmap(handles); err != nil {
			panic(err)
		}
		if err := g.Map(w.Refs[1:2], false, pages[:1], handles[:1]); err != nil {
			panic(err)
		}
		if err := g.Unmap(handles[:1]); err != nil {
			panic(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Map+Unmap through the seam: %v allocations, want 0", allocs)
	}

	if err := ring.Unmap(); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if size, _ := gntdevMaps(t); size != 0 || p.Mapped() != 0 {
		t.Fatalf("after every unmap: %d bytes of gntdev mappings, %d counted", size, p.Mapped())
	}
	if _, err := p.MapGrants(0x7ff0); err == nil {
		t.Error("a mapper for domain 0x7ff0 (DOMID_SELF)")
	}
}

// TestDom0PlatformChannels: a channel bound through the seam to a port
// allocated unbound for domain 0 carries events both ways, Kick wakes its
// own waiter, Close unbinds it (the kernel lists no port of ours), and
// the Platform's Close unbinds what is left.
func TestDom0PlatformChannels(t *testing.T) {
	base := boundIRQs(t)
	p := openPlatform(t)
	fe := openEvtchn(t)
	front, err := fe.BindUnboundPort(self)
	if err != nil {
		t.Fatal(err)
	}
	back, err := p.BindInterdomain(context.Background(), uint32(self), uint32(front.Port()))
	if err != nil {
		t.Fatal(err)
	}
	if p.Bound() != 1 || boundIRQs(t) != base+2 {
		t.Fatalf("bound: %d counted, %d ports listed; want 1 and %d", p.Bound(), boundIRQs(t), base+2)
	}
	if n, err := back.Wait(waitLimit); err != nil || n == 0 { // Xen raises a port at bind
		t.Fatalf("first wait: %d, %v", n, err)
	}
	for i := range 3 {
		if err := front.Notify(); err != nil {
			t.Fatal(err)
		}
		if n, err := back.Wait(waitLimit); err != nil || n == 0 {
			t.Fatalf("round %d: backend woke with %d, %v", i, n, err)
		}
		if err := back.Notify(); err != nil {
			t.Fatal(err)
		}
		waitN(t, front, fmt.Sprintf("round %d", i))
	}
	back.Kick()
	if n, err := back.Wait(waitLimit); err != nil || n == 0 {
		t.Fatalf("after Kick: %d, %v", n, err)
	}
	allocs := testing.AllocsPerRun(50, func() {
		if err := front.Notify(); err != nil {
			panic(err)
		}
		if n, err := back.Wait(waitLimit); err != nil || n == 0 {
			panic(fmt.Sprint(n, err))
		}
	})
	if allocs != 0 {
		t.Errorf("Notify+Wait through the seam: %v allocations, want 0", allocs)
	}
	if err := back.Close(); err != nil {
		t.Fatal(err)
	}
	if err := back.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	if p.Bound() != 0 || boundIRQs(t) != base+1 {
		t.Fatalf("after Close: %d counted, %d ports listed; want 0 and %d", p.Bound(), boundIRQs(t), base+1)
	}
	if _, err := back.Wait(waitLimit); err == nil {
		t.Error("Wait on a closed channel returned no error")
	}
	// Left bound: the Platform's Close unbinds it.
	again, err := p.BindInterdomain(context.Background(), uint32(self), uint32(front.Port()))
	if err != nil {
		t.Fatal(err)
	}
	_ = again
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if n := boundIRQs(t); n != base+1 {
		t.Fatalf("after the Platform's Close: %d ports listed, want %d (the frontend's)", n, base+1)
	}
	var _ platform.Channel = again
}

// BenchmarkDom0PlatformMap: what a blkback request costs in mapping
// through the seam: a batch of pages mapped and unmapped.
func BenchmarkDom0PlatformMap(b *testing.B) {
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("pages=%d", n), func(b *testing.B) {
			p := openPlatform(b)
			_, a := openGnt(b)
			s := share(b, a, n, true)
			g, err := p.MapGrants(uint32(self))
			if err != nil {
				b.Fatal(err)
			}
			defer g.Close()
			pages, handles := make([][]byte, n), make([]grant.Handle, n)
			b.ReportAllocs()
			for b.Loop() {
				if err := g.Map(s.Refs, false, pages, handles); err != nil {
					b.Fatal(err)
				}
				if err := g.Unmap(handles); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
