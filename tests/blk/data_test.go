package blk

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/frontends/blkfront"
	"github.com/xfeat/xfeat/backends/frontends/blkload"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/sandbox"
)

// checkImage reads the image file itself: every block of bs bytes that
// carries a verify pattern must carry its own block number and the exact
// pattern of the write stamped in it. It returns how many blocks were
// written.
func checkImage(t testing.TB, path string, bs int) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	written := 0
	for b := 0; b+bs <= len(data); b += bs {
		blk := data[b : b+bs]
		block, seq, ok := blkload.PatternSeq(blk)
		if !ok {
			if !bytes.Equal(blk, make([]byte, bs)) {
				t.Errorf("%s: block %d holds neither zeros nor a written pattern", path, b/bs)
			}
			continue
		}
		if block != uint64(b/bs) {
			t.Errorf("%s: block %d holds the data written to block %d", path, b/bs, block)
			continue
		}
		if !blkload.VerifyBlock(blk, block, seq) {
			t.Errorf("%s: block %d: write #%d is torn or corrupt", path, block, seq)
			continue
		}
		written++
	}
	return written
}

func runtime(short, long time.Duration) time.Duration {
	if os.Getenv("CI") != "" {
		return short
	}
	return long
}

// Data written through the guest lands in the image at the right offset
// and reads back identical, for every combination of queues, ring size,
// indirect descriptors and persistent grants; each setting also shows in
// what the two ends negotiated and in what the backend does.
func TestFeatureMatrix(t *testing.T) {
	h := startHost(t, nil)
	srv := h.blkServer(t)
	for _, queues := range []int{1, 2, 4} {
		for order := 0; order <= 3; order++ {
			for _, indirect := range []int{0, 256} {
				for _, pers := range []bool{false, true} {
					name := fmt.Sprintf("q%d-order%d-ind%d-pers%v", queues, order, indirect, pers)
					t.Run(name, func(t *testing.T) {
						img := image(t, 4<<20)
						po := map[bool]string{true: "on", false: "off"}[pers]
						spec := fmt.Sprintf("%s,raw,xvda,rw,queues=%d,max-ring-page-order=%d,max-indirect-segments=%d,persistent=%s",
							img, queues, order, indirect, po)
						dom := create(t, h.XS, guestCfg("m"+name, 1024, spec))
						fe := fmt.Sprintf("/local/domain/%d/device/vbd/51712", dom)
						be := fmt.Sprintf("/local/domain/0/backend/vbd/%d/51712", dom)
						if queues > 1 {
							if got := h.read(t, fe+"/multi-queue-num-queues"); got != strconv.Itoa(queues) {
								t.Errorf("multi-queue-num-queues %s", got)
							}
						}
						if got := h.read(t, fe+"/ring-page-order"); got != strconv.Itoa(order) {
							t.Errorf("ring-page-order %s", got)
						}
						if got := h.read(t, fe+"/feature-persistent"); got != map[bool]string{true: "1", false: "0"}[pers] {
							t.Errorf("frontend feature-persistent %s", got)
						}
						_, err := h.XS.ReadString(bg, be+"/feature-max-indirect-segments")
						if (err == nil) != (indirect > 0) {
							t.Errorf("feature-max-indirect-segments present=%v with max-indirect-segments=%d", err == nil, indirect)
						}
						res, err := sandbox.RunIO(bg, h.Dir, sandbox.IORequest{Domid: dom, Devid: 51712, Workload: blkload.Workload{
							RW: "randrw", BlockSize: 64 << 10, IODepth: 8, Runtime: runtime(80*time.Millisecond, 200*time.Millisecond), Verify: true, MinOps: 64}}, nil)
						if err != nil {
							t.Fatalf("workload: %v", err)
						}
						if res.Writes == 0 || res.Reads == 0 || res.Verified == 0 {
							t.Errorf("workload did too little: %+v", res)
						}
						st := srv.QueueStats(h.vbd(t, dom, 51712))
						if len(st) != queues {
							t.Fatalf("backend serves %d queues, want %d", len(st), queues)
						}
						var hits, maps uint64
						kept := 0
						for i, s := range st {
							kept += s.PersistentMapped
							if s.Requests == 0 {
								t.Errorf("queue %d served nothing", i)
							}
							if s.Errors != 0 {
								t.Errorf("queue %d: %d errors", i, s.Errors)
							}
							hits += s.PersistentHits
							maps += s.Maps
						}
						// Persistent grants stay mapped and are reused; without
						// them every segment is mapped for its request only.
						if pers && (hits == 0 || kept == 0) {
							t.Errorf("persistent grants: %d hits, %d maps, %d kept mapped", hits, maps, kept)
						}
						if !pers && (hits != 0 || kept != 0 || maps == 0) {
							t.Errorf("without persistent grants: %d hits, %d kept mapped, %d maps", hits, kept, maps)
						}
						destroy(t, h.XS, dom)
						if n := h.GrantMappings(); n != 0 {
							t.Errorf("%d grant mappings after teardown", n)
						}
						if n := checkImage(t, img, 64<<10); n == 0 {
							t.Error("nothing written lands in the image")
						}
					})
				}
			}
		}
	}
}

// The flush, barrier and discard requests reach the image as fdatasync and
// hole punching, and a disk without them refuses them cleanly; a
// read-only disk refuses writes.
func TestFlushDiscardReadOnly(t *testing.T) {
	h := startHost(t, nil)
	img, roImg, plain, barrier := image(t, 1<<20), image(t, 1<<20), image(t, 1<<20), image(t, 1<<20)
	os.WriteFile(roImg, bytes.Repeat([]byte{0xAB}, 1<<20), 0o644)
	dom := create(t, h.XS, guestCfg("fdr", 4096,
		img+",raw,xvda,rw",
		"format=raw,vdev=xvdb,access=ro,target="+roImg,
		plain+",raw,xvdc,rw,features=feature-discard:0\\;feature-flush-cache:0\\;feature-barrier:0",
		barrier+",raw,xvdd,rw,queues=1,features=feature-flush-cache:0"))
	bf := h.Guest(dom).Blkfront()
	dev, err := bf.WaitConnected(bg, 51712)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte{0x5A}, 64<<10)
	if _, err := dev.WriteAt(data, 128<<10); err != nil {
		t.Fatal(err)
	}
	if err := dev.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if err := dev.Discard(128<<10, 32<<10); err != nil {
		t.Fatalf("discard: %v", err)
	}
	got, _ := os.ReadFile(img)
	if !bytes.Equal(got[128<<10:160<<10], make([]byte, 32<<10)) || !bytes.Equal(got[160<<10:192<<10], data[:32<<10]) {
		t.Error("discard did not zero exactly the discarded range")
	}
	if got := h.read(t, fmt.Sprintf("/local/domain/0/backend/vbd/%d/51712/discard-granularity", dom)); got == "" {
		t.Error("no discard-granularity")
	}

	ro, err := bf.WaitConnected(bg, 51728)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.WriteAt(data[:4096], 0); err == nil {
		t.Error("a write to a read-only disk succeeded")
	}
	buf := make([]byte, 4096)
	if _, err := ro.ReadAt(buf, 8192); err != nil || buf[0] != 0xAB {
		t.Errorf("read-only disk read: %v %x", err, buf[0])
	}
	if got := h.read(t, fmt.Sprintf("/local/domain/0/backend/vbd/%d/51728/info", dom)); got != "4" {
		t.Errorf("read-only disk info %s, want 4 (VDISK_READONLY)", got)
	}

	pl, err := bf.WaitConnected(bg, 51744)
	if err != nil {
		t.Fatal(err)
	}
	if err := pl.Flush(); err != blkfront.ErrNotSupported {
		t.Errorf("flush on a disk without flush or barrier: %v", err)
	}
	if err := pl.Discard(0, 4096); err != blkfront.ErrNotSupported {
		t.Errorf("discard on a disk without discard: %v", err)
	}
	if _, err := pl.WriteAt(data[:4096], 0); err != nil {
		t.Errorf("plain write: %v", err)
	}
	// Without flush-cache, Flush is a write barrier.
	bd, err := bf.WaitConnected(bg, 51760)
	if err != nil {
		t.Fatal(err)
	}
	if bd.Features.FlushCache || !bd.Features.Barrier {
		t.Errorf("xvdd offers %+v", bd.Features)
	}
	if _, err := bd.WriteAt(data[:8192], 4096); err != nil {
		t.Fatal(err)
	}
	if err := bd.Flush(); err != nil {
		t.Errorf("flush as a barrier: %v", err)
	}
	destroy(t, h.XS, dom)
	if st := h.BackendDevices(); len(st) != 0 {
		for _, d := range st {
			if d.State != pv.Closed {
				t.Errorf("device left: %+v", d)
			}
		}
	}
	ro2, _ := os.ReadFile(roImg)
	if !bytes.Equal(ro2, bytes.Repeat([]byte{0xAB}, 1<<20)) {
		t.Error("the read-only image changed")
	}
}

// direct-io-safe lets blkback use O_DIRECT (on a file system that has it);
// without it every request goes through the page cache.
func TestDirectIO(t *testing.T) {
	h := startHost(t, nil)
	srv := h.blkServer(t)
	direct, buffered := image(t, 4<<20), image(t, 4<<20)
	dom := create(t, h.XS, guestCfg("dio", 4096,
		"format=raw,vdev=xvda,access=rw,direct-io-safe,target="+direct,
		"format=raw,vdev=xvdb,access=rw,target="+buffered))
	for _, c := range []struct {
		devid  uint32
		img    string
		direct bool
	}{{51712, direct, true}, {51728, buffered, false}} {
		res, err := sandbox.RunIO(bg, h.Dir, sandbox.IORequest{Domid: dom, Devid: c.devid, Workload: blkload.Workload{
			RW: "randrw", BlockSize: 32 << 10, IODepth: 4, Runtime: 150 * time.Millisecond, Verify: true, MinOps: 16}}, nil)
		if err != nil || res.Verified == 0 {
			t.Fatalf("disk %d: %v %+v", c.devid, err, res)
		}
		var n uint64
		for _, s := range srv.QueueStats(h.vbd(t, dom, c.devid)) {
			n += s.Direct
		}
		if c.direct && n == 0 {
			t.Errorf("disk %d (direct-io-safe, on %s): no request used O_DIRECT", c.devid, c.img)
		}
		if !c.direct && n != 0 {
			t.Errorf("disk %d (not direct-io-safe): %d requests used O_DIRECT", c.devid, n)
		}
	}
	destroy(t, h.XS, dom)
	checkImage(t, direct, 32<<10)
	checkImage(t, buffered, 32<<10)
}
