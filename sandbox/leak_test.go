package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/toolstack"
)

// rundirUse counts the memory mappings and open files of this process that
// are files under dir (guests' memory, grant tables, event channels).
func rundirUse(t *testing.T, dir string) (maps, fds int) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, dir+"/") {
			maps++
		}
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if p, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(p, dir+"/") {
			fds++
		}
	}
	return maps, fds
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC() // the first may only have queued cleanups and finalizers
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Domains created, shown and destroyed again and again, as `xfeat create`,
// `show` and `destroy` do, leave nothing behind in the host: its live heap,
// its mappings and open files return to what they were. (A guest's event
// channel file used to stay mapped after its domain was destroyed: one
// mapping, and some 64 KiB of resident memory, per guest ever run.)
func TestDestroyReturnsMemory(t *testing.T) {
	// No log: the test's own record of it would grow with every cycle.
	h := startHost(t, func(c *Config) { c.Logf = nil })
	img := image(t, 1<<20)
	src := "name = \"leaky\"\nvif = [\"bridge=xenbr0,queues=2\"]\ndisk = [\"" + img + ",raw,xvda,rw,queues=2\"]\n"
	ctx, cancel := context.WithTimeout(bg, 2*time.Minute)
	defer cancel()
	cycle := func() {
		t.Helper()
		f, diags := parser.Parse("leaky.cfg", []byte(src), parser.Options{})
		cfg, more := devspec.CheckFile(f)
		diags = append(diags, more...)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		plan, diags, err := toolstack.NewPlan(ctx, h.xs, f, cfg)
		if err != nil || plan == nil {
			t.Fatal(err, diags)
		}
		got, err := toolstack.Create(ctx, h.xs, plan, toolstack.CreateOptions{Wait: 15 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		refs, err := toolstack.Devices(ctx, h.xs, got.Domid)
		if err != nil || len(refs) != 2 {
			t.Fatalf("devices of %d: %v %v", got.Domid, refs, err)
		}
		for _, r := range refs {
			if _, err := toolstack.Show(ctx, h.xs, r.DeviceRef); err != nil {
				t.Fatal(err)
			}
		}
		g := h.Guest(got.Domid)
		if _, err := toolstack.Destroy(ctx, h.xs, got.Domid, 15*time.Second); err != nil {
			t.Fatal(err)
		}
		if g != nil {
			select {
			case <-g.Done():
			case <-ctx.Done():
				t.Fatal("the destroyed guest never stopped")
			}
		}
	}

	// Warm up: the first cycles fill what is kept on purpose (pools,
	// spare buffers, the daemon's tables at their high-water mark).
	for range 5 {
		cycle()
	}
	baseHeap := liveHeap()
	baseMaps, baseFds := rundirUse(t, h.Rundir())
	const cycles = 40
	for range cycles {
		cycle()
	}

	// The guest's files are released once nothing references them (a
	// collection runs their cleanups): poll, bounded.
	var maps, fds int
	for deadline := time.Now().Add(10 * time.Second); ; {
		runtime.GC()
		if maps, fds = rundirUse(t, h.Rundir()); maps <= baseMaps && fds <= baseFds {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d destroyed domains: %d mappings and %d open files of rundir files, %d and %d before", cycles, maps, fds, baseMaps, baseFds)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Measured: the live heap is 300-320 KiB after the warm-up and ends
	// 20-35 KiB above that, after 40 cycles as after 160 (what settles,
	// not what grows). One cycle's guest is far bigger than what the
	// tolerance allows per cycle (256 KiB / 40 cycles = 6.4 KiB): its
	// XenStore connection alone holds a 16 KiB read buffer on each side,
	// its frontends' devices, goroutines and watch tables more; so a
	// guest (or a device) whose memory is never freed exceeds it within
	// the 40 cycles, while the settling does not.
	const tolerance = 256 << 10
	heap := liveHeap()
	t.Logf("live heap %d KiB before, %d KiB after %d cycles; rundir mappings %d, files %d", baseHeap>>10, heap>>10, cycles, maps, fds)
	if heap > baseHeap+tolerance {
		t.Errorf("live heap grew from %d KiB to %d KiB over %d create/show/destroy cycles (tolerance %d KiB)", baseHeap>>10, heap>>10, cycles, tolerance>>10)
	}
}
