package blkback

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/platform"
	"github.com/xfeat/xfeat/backends/ring"
	"github.com/xfeat/xfeat/internal/testutil"
)

// hotPath is one queue's worker over a real grant table (a guest domain in
// a temporary directory) and a real image file, without rings or event
// channels: what handle does with one request.
type hotPath struct {
	w     *worker
	m     *grant.Mapper // dom0's mapper of dom's grants, behind w
	dom   *grant.Domain
	img   *os.File
	refs  []grant.Ref // data pages granted to dom0, writable
	ro    []grant.Ref // same pages, read-only grants
	other []grant.Ref // same pages granted to domain 7
}

func newHotPath(t testing.TB, persistent bool, maxIndirect uint32) *hotPath {
	t.Helper()
	dir := t.TempDir()
	dom, err := grant.CreateDomain(dir, 1, 1024, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dom.Close() })
	img, err := os.Create(filepath.Join(dir, "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	if err := img.Truncate(8 << 20); err != nil {
		t.Fatal(err)
	}
	hp := &hotPath{dom: dom, img: img}
	for i := 0; i < 300; i++ {
		r, err := dom.GrantAccess(0, uint32(i), false)
		if err != nil {
			t.Fatal(err)
		}
		hp.refs = append(hp.refs, r)
		r, _ = dom.GrantAccess(0, uint32(i), true)
		hp.ro = append(hp.ro, r)
		r, _ = dom.GrantAccess(7, uint32(i), false)
		hp.other = append(hp.other, r)
	}
	ringMem := make([]uint64, ring.PageSize/8)
	front, err := ring.NewBlkifFront(unsafeBytes(ringMem))
	if err != nil {
		t.Fatal(err)
	}
	_ = front
	back, err := ring.NewBlkifBack(unsafeBytes(ringMem))
	if err != nil {
		t.Fatal(err)
	}
	v := &Vbd{Image: img, Sectors: 8 << 20 / 512,
		Settings:   Settings{FlushCache: true, Barrier: true, Discard: true, MaxIndirectSegments: maxIndirect},
		Negotiated: Negotiated{Persistent: persistent}}
	hp.m = grant.NewMapper(0, dom)
	v.grants = mapperGrants{hp.m}
	sv := &served{v: v, copier: mapperGrants{hp.m}}
	hp.w = newWorker(&Server{}, sv, &Queue{Ring: back}, DefaultMaxPersistentGrants)
	t.Cleanup(func() { hp.w.pers.clear() })
	return hp
}

// mapperGrants is a grant.Mapper as the platform's grant mapper and copier
// (what the sandbox host gives; these tests map no rings).
type mapperGrants struct{ m *grant.Mapper }

func (g mapperGrants) MapRing([]grant.Ref) (platform.Mapping, error) {
	return nil, errors.New("no rings in these tests")
}
func (g mapperGrants) Map(refs []grant.Ref, writable bool, pages [][]byte, h []grant.Handle) error {
	return g.m.MapBatch(refs, writable, pages, h)
}
func (g mapperGrants) Unmap(h []grant.Handle) error { return g.m.UnmapBatch(h) }
func (g mapperGrants) Copy(ops []grant.CopyOp) int  { return g.m.Copy(ops) }
func (g mapperGrants) Close() error                 { return nil }

func (hp *hotPath) page(i int) []byte {
	p, _ := hp.dom.Page(uint32(i))
	return p
}

func rwReq(op uint8, sector uint64, refs []grant.Ref) ring.BlkifRequest {
	r := ring.BlkifRequest{Operation: op, NrSegments: uint8(len(refs)), ID: 7, SectorNumber: sector}
	for i, ref := range refs {
		r.Seg[i] = ring.BlkifSegment{Gref: uint32(ref), FirstSect: 0, LastSect: 7}
	}
	return r
}

func TestReadWriteLandAtTheRightOffset(t *testing.T) {
	for _, pers := range []bool{false, true} {
		hp := newHotPath(t, pers, 256)
		for i := 0; i < 3; i++ {
			copy(hp.page(i), bytes.Repeat([]byte{byte(0x40 + i)}, ring.PageSize))
		}
		req := rwReq(ring.BlkifOpWrite, 24, hp.ro[:3]) // a write needs only read access
		if pers {
			req = rwReq(ring.BlkifOpWrite, 24, hp.refs[:3])
		}
		if st := hp.w.handle(&req); st != ring.BlkifRspOkay {
			t.Fatalf("persistent=%v: write status %d", pers, st)
		}
		got := make([]byte, 3*ring.PageSize)
		hp.img.ReadAt(got, 24*512)
		for i := 0; i < 3; i++ {
			if got[i*ring.PageSize] != byte(0x40+i) || got[(i+1)*ring.PageSize-1] != byte(0x40+i) {
				t.Fatalf("persistent=%v: page %d landed wrong", pers, i)
			}
		}
		clear(hp.page(5))
		req = rwReq(ring.BlkifOpRead, 24+8, hp.refs[5:6])
		if st := hp.w.handle(&req); st != ring.BlkifRspOkay {
			t.Fatalf("read status %d", st)
		}
		if !bytes.Equal(hp.page(5), bytes.Repeat([]byte{0x41}, ring.PageSize)) {
			t.Fatalf("persistent=%v: read back wrong data", pers)
		}
		if n := hp.m.Mapped(); pers && n == 0 || !pers && n != 0 {
			t.Errorf("persistent=%v: %d mappings live after the requests", pers, n)
		}
	}
}

func TestBadRequestsAreRefused(t *testing.T) {
	hp := newHotPath(t, false, 16)
	sectors := hp.w.sectors
	seg := func(ref grant.Ref, f, l uint8) ring.BlkifSegment {
		return ring.BlkifSegment{Gref: uint32(ref), FirstSect: f, LastSect: l}
	}
	cases := map[string]ring.BlkifRequest{
		"zero segments":      {Operation: ring.BlkifOpRead},
		"too many segments":  {Operation: ring.BlkifOpRead, NrSegments: 12},
		"past the end":       rwReq(ring.BlkifOpRead, sectors-7, hp.refs[:1]),
		"overflow":           rwReq(ring.BlkifOpRead, ^uint64(0)-3, hp.refs[:1]),
		"first > last":       {Operation: ring.BlkifOpRead, NrSegments: 1, Seg: [11]ring.BlkifSegment{seg(hp.refs[0], 5, 2)}},
		"past the page":      {Operation: ring.BlkifOpRead, NrSegments: 1, Seg: [11]ring.BlkifSegment{seg(hp.refs[0], 0, 8)}},
		"ungranted":          rwReq(ring.BlkifOpRead, 0, []grant.Ref{900}),
		"out of table":       rwReq(ring.BlkifOpRead, 0, []grant.Ref{1 << 30}),
		"other domain":       rwReq(ring.BlkifOpWrite, 0, hp.other[:1]),
		"read into readonly": rwReq(ring.BlkifOpRead, 0, hp.ro[:1]),
	}
	for name, req := range cases {
		if st := hp.w.handle(&req); st != ring.BlkifRspError {
			t.Errorf("%s: status %d, want %d", name, st, ring.BlkifRspError)
		}
	}
	// Indirect: too many segments, an indirect page not granted, an
	// operation other than read/write.
	var r ring.BlkifRequest
	ind := r.Indirect()
	*ind = ring.BlkifRequestIndirect{Operation: ring.BlkifOpIndirect, IndirectOp: ring.BlkifOpRead, NrSegments: 17}
	ind.IndirectGrefs[0] = uint32(hp.refs[0])
	if st := hp.w.handle(&r); st != ring.BlkifRspError {
		t.Errorf("17 indirect segments (max 16): %d", st)
	}
	ind.NrSegments, ind.IndirectGrefs[0] = 4, 950
	if st := hp.w.handle(&r); st != ring.BlkifRspError {
		t.Errorf("ungranted indirect page: %d", st)
	}
	ind.IndirectGrefs[0], ind.IndirectOp = uint32(hp.refs[0]), ring.BlkifOpDiscard
	if st := hp.w.handle(&r); st != ring.BlkifRspError {
		t.Errorf("indirect discard: %d", st)
	}
	if st := hp.w.handle(&ring.BlkifRequest{Operation: 42}); st != ring.BlkifRspEOPNOTSUPP {
		t.Errorf("unknown op: %d", st)
	}
	if n := hp.m.Mapped(); n != 0 {
		t.Errorf("%d mappings left after refused requests", n)
	}
	// Nothing was written.
	buf := make([]byte, 64<<10)
	hp.img.ReadAt(buf, 0)
	if !bytes.Equal(buf, make([]byte, len(buf))) {
		t.Error("a refused request wrote to the image")
	}
}

func TestIndirectAndDiscard(t *testing.T) {
	hp := newHotPath(t, true, 256)
	// 20 segments through one indirect page, each page a distinct byte.
	segs := ring.BlkifSegments(hp.page(400))
	for i := 0; i < 20; i++ {
		copy(hp.page(i), bytes.Repeat([]byte{byte(i + 1)}, ring.PageSize))
		segs[i] = ring.BlkifSegment{Gref: uint32(hp.refs[i]), LastSect: 7}
	}
	indRef, _ := hp.dom.GrantAccess(0, 400, true)
	var r ring.BlkifRequest
	*r.Indirect() = ring.BlkifRequestIndirect{Operation: ring.BlkifOpIndirect, IndirectOp: ring.BlkifOpWrite, NrSegments: 20, SectorNumber: 8}
	r.Indirect().IndirectGrefs[0] = uint32(indRef)
	if st := hp.w.handle(&r); st != ring.BlkifRspOkay {
		t.Fatalf("indirect write: %d", st)
	}
	got := make([]byte, 20*ring.PageSize)
	hp.img.ReadAt(got, 8*512)
	for i := 0; i < 20; i++ {
		if got[i*ring.PageSize+100] != byte(i+1) {
			t.Fatalf("indirect segment %d landed wrong", i)
		}
	}
	var d ring.BlkifRequest
	*d.Discard() = ring.BlkifRequestDiscard{Operation: ring.BlkifOpDiscard, SectorNumber: 16, NrSectors: 16}
	if st := hp.w.handle(&d); st != ring.BlkifRspOkay {
		// Only a file system that cannot punch holes excuses a failed
		// discard; ask it directly.
		if err := punchHole(filepath.Join(t.TempDir(), "probe")); err != nil {
			testutil.Need(t, "a file system with hole punching", "discard is FALLOC_FL_PUNCH_HOLE on the image: "+err.Error())
		}
		t.Fatalf("discard: status %d, on a file system that punches holes", st)
	}
	hp.img.ReadAt(got[:16*512], 16*512)
	if !bytes.Equal(got[:16*512], make([]byte, 16*512)) {
		t.Error("discarded range does not read back as zeros")
	}
	*d.Discard() = ring.BlkifRequestDiscard{Operation: ring.BlkifOpDiscard, SectorNumber: hp.w.sectors - 1, NrSectors: 2}
	if st := hp.w.handle(&d); st != ring.BlkifRspError {
		t.Errorf("discard past the end: %d", st)
	}
}

// punchHole makes a file at path and punches a hole in it, as discard does.
func punchHole(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 8192)); err != nil {
		return err
	}
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, 4096)
}

func TestHotPathAllocatesNothing(t *testing.T) {
	for _, pers := range []bool{false, true} {
		hp := newHotPath(t, pers, 256)
		rd := rwReq(ring.BlkifOpRead, 0, hp.refs[:1])
		wr := rwReq(ring.BlkifOpWrite, 8, hp.refs[1:2])
		big := rwReq(ring.BlkifOpRead, 64, hp.refs[10:21])
		var ind ring.BlkifRequest
		segs := ring.BlkifSegments(hp.page(400))
		for i := 0; i < 64; i++ {
			segs[i] = ring.BlkifSegment{Gref: uint32(hp.refs[30+i]), LastSect: 7}
		}
		indRef, _ := hp.dom.GrantAccess(0, 400, true)
		*ind.Indirect() = ring.BlkifRequestIndirect{Operation: ring.BlkifOpIndirect, IndirectOp: ring.BlkifOpRead, NrSegments: 64}
		ind.Indirect().IndirectGrefs[0] = uint32(indRef)
		for _, r := range []*ring.BlkifRequest{&rd, &wr, &big, &ind} {
			hp.w.handle(r) // warm: persistent grants mapped once
			allocs := testing.AllocsPerRun(200, func() {
				if st := hp.w.handle(r); st != ring.BlkifRspOkay {
					t.Fatalf("status %d", st)
				}
			})
			if allocs != 0 {
				t.Errorf("persistent=%v op %d: %v allocations per request", pers, r.Operation, allocs)
			}
		}
	}
}

func benchHandle(b *testing.B, pers bool, segs int) {
	hp := newHotPath(b, pers, 256)
	var r ring.BlkifRequest
	if segs <= 11 {
		r = rwReq(ring.BlkifOpRead, 0, hp.refs[:segs])
	} else {
		ss := ring.BlkifSegments(hp.page(400))
		for i := 0; i < segs; i++ {
			ss[i] = ring.BlkifSegment{Gref: uint32(hp.refs[i]), LastSect: 7}
		}
		ref, _ := hp.dom.GrantAccess(0, 400, true)
		*r.Indirect() = ring.BlkifRequestIndirect{Operation: ring.BlkifOpIndirect, IndirectOp: ring.BlkifOpRead, NrSegments: uint16(segs)}
		r.Indirect().IndirectGrefs[0] = uint32(ref)
	}
	b.SetBytes(int64(segs * ring.PageSize))
	b.ReportAllocs()
	for b.Loop() {
		if st := hp.w.handle(&r); st != ring.BlkifRspOkay {
			b.Fatal(st)
		}
	}
}

// BenchmarkHandle is the backend's work for one read request (validate,
// map, preadv, unmap) on an image in the test's temporary directory.
func BenchmarkHandle(b *testing.B) {
	for _, c := range []struct {
		name string
		pers bool
		segs int
	}{{"4K", false, 1}, {"4K-persistent", true, 1}, {"44K", false, 11}, {"44K-persistent", true, 11},
		{"1M-indirect", false, 256}, {"1M-indirect-persistent", true, 256}} {
		b.Run(c.name, func(b *testing.B) { benchHandle(b, c.pers, c.segs) })
	}
}

// Persistent grants are bounded: past MaxPersistentGrants the least
// recently used mapping goes, and the data stays right.
func TestPersistentGrantsAreBounded(t *testing.T) {
	hp := newHotPath(t, true, 0)
	hp.w.pers.clear()
	hp.w.pers = newPersistentGrants(hp.w.grants, 4)
	for round := 0; round < 3; round++ {
		for i := 0; i < 10; i++ {
			p := hp.page(i)
			copy(p, bytes.Repeat([]byte{byte(round*10 + i)}, ring.PageSize))
			req := rwReq(ring.BlkifOpWrite, uint64(i*8), hp.refs[i:i+1])
			if st := hp.w.handle(&req); st != ring.BlkifRspOkay {
				t.Fatalf("write %d: %d", i, st)
			}
			if n := hp.m.Mapped(); n > 4 {
				t.Fatalf("%d persistent mappings, bound 4", n)
			}
		}
	}
	got := make([]byte, 10*ring.PageSize)
	hp.img.ReadAt(got, 0)
	for i := 0; i < 10; i++ {
		if got[i*ring.PageSize] != byte(20+i) {
			t.Errorf("page %d: %d", i, got[i*ring.PageSize])
		}
	}
	// A request with more segments than the table holds: the overflow
	// is mapped for that request only.
	req := rwReq(ring.BlkifOpRead, 0, hp.refs[20:30])
	if st := hp.w.handle(&req); st != ring.BlkifRspOkay {
		t.Errorf("10 segments through a 4-entry table: %d", st)
	}
	for i := 0; i < 10; i++ {
		if hp.page(20 + i)[0] != byte(20+i) {
			t.Errorf("segment %d read %d", i, hp.page(20 + i)[0])
		}
	}
	if n := hp.m.Mapped(); n > 4 {
		t.Errorf("%d mappings after the request", n)
	}
	// A bad grant after an eviction leaves the table consistent.
	bad := rwReq(ring.BlkifOpRead, 0, []grant.Ref{hp.refs[0], 5000})
	if st := hp.w.handle(&bad); st != ring.BlkifRspError {
		t.Errorf("bad grant: %d", st)
	}
	for i := 0; i < 10; i++ {
		req := rwReq(ring.BlkifOpRead, uint64(i*8), hp.refs[40+i:41+i])
		if st := hp.w.handle(&req); st != ring.BlkifRspOkay || hp.page(40 + i)[0] != byte(20+i) {
			t.Fatalf("read %d after the bad grant: %d", i, st)
		}
	}
	if n := hp.m.Mapped(); n > 4 {
		t.Errorf("%d mappings at the end", n)
	}
}

// loopChannel is an in-process event channel for driving a worker's loop
// (the sandbox's real channels are tested in tests/blk).
type loopChannel struct{ c chan struct{} }

func (l *loopChannel) Port() uint32 { return 1 }
func (l *loopChannel) Notify() error {
	select {
	case l.c <- struct{}{}:
	default:
	}
	return nil
}
func (l *loopChannel) Wait(time.Duration) (uint32, error) {
	if _, ok := <-l.c; !ok {
		return 0, errors.New("closed")
	}
	return 1, nil
}
func (l *loopChannel) Kick()        { l.Notify() }
func (l *loopChannel) Close() error { return nil }

// serveRing runs hp's worker on a one-page ring and returns the
// frontend's end of it, the channel that notifies the worker, and stop,
// which ends the worker and waits for it.
func (hp *hotPath) serveRing(t testing.TB) (*ring.BlkifFront, *loopChannel, func()) {
	t.Helper()
	ringMem := unsafeBytes(make([]uint64, ring.PageSize/8))
	front, err := ring.NewBlkifFront(ringMem)
	if err != nil {
		t.Fatal(err)
	}
	back, _ := ring.NewBlkifBack(ringMem)
	toBack := &loopChannel{c: make(chan struct{}, 1)}
	hp.w.q = &Queue{Ring: back, Channel: toBack}
	go hp.w.run()
	return front, toBack, func() {
		hp.w.stop.Store(true)
		toBack.Kick()
		<-hp.w.done
	}
}

// The whole request loop (batch off the ring, serve, answer, notify)
// allocates nothing per request either.
func TestRequestLoopAllocatesNothing(t *testing.T) {
	for _, pers := range []bool{false, true} {
		hp := newHotPath(t, pers, 256)
		front, toBack, stop := hp.serveRing(t)
		reqs := make([]ring.BlkifRequest, 32)
		for i := range reqs {
			reqs[i] = rwReq(ring.BlkifOpRead, uint64(i*8), hp.refs[i:i+1])
			reqs[i].ID = uint64(i)
		}
		var rsp ring.BlkifResponse
		allocs := testing.AllocsPerRun(100, func() {
			front.PutRequests(reqs)
			front.PushRequests()
			toBack.Notify()
			for got := 0; got < len(reqs); {
				ok, err := front.NextResponse(&rsp)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					runtime.Gosched()
					continue
				}
				if rsp.Status != ring.BlkifRspOkay {
					t.Fatalf("status %d", rsp.Status)
				}
				got++
			}
		})
		stop()
		if allocs != 0 {
			t.Errorf("persistent=%v: %v allocations per batch of 32 requests", pers, allocs)
		}
	}
}

// TestIndirectResponseOperation: through the ring, the response to an
// indirect request carries its indirect_op, as Linux's blkfront requires
// (it disables the disk otherwise), and a direct request's its own.
func TestIndirectResponseOperation(t *testing.T) {
	hp := newHotPath(t, false, 256)
	front, toBack, stop := hp.serveRing(t)
	defer stop()
	segs := ring.BlkifSegments(hp.page(400))
	for i := 0; i < 16; i++ {
		segs[i] = ring.BlkifSegment{Gref: uint32(hp.refs[i]), LastSect: 7}
	}
	indRef, _ := hp.dom.GrantAccess(0, 400, true)
	reqs := make([]ring.BlkifRequest, 3)
	for i, op := range []uint8{ring.BlkifOpWrite, ring.BlkifOpRead} {
		*reqs[i].Indirect() = ring.BlkifRequestIndirect{Operation: ring.BlkifOpIndirect, IndirectOp: op, NrSegments: 16, ID: uint64(i)}
		reqs[i].Indirect().IndirectGrefs[0] = uint32(indRef)
	}
	reqs[2] = rwReq(ring.BlkifOpRead, 0, hp.refs[:1])
	reqs[2].ID = 2
	want := []uint8{ring.BlkifOpWrite, ring.BlkifOpRead, ring.BlkifOpRead}
	front.PutRequests(reqs)
	front.PushRequests()
	toBack.Notify()
	deadline := time.Now().Add(10 * time.Second)
	for got := 0; got < len(reqs); {
		var rsp ring.BlkifResponse
		ok, err := front.NextResponse(&rsp)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			if time.Now().After(deadline) {
				t.Fatalf("%d responses of %d after 10 s", got, len(reqs))
			}
			runtime.Gosched()
			continue
		}
		got++
		if rsp.ID >= uint64(len(want)) || rsp.Status != ring.BlkifRspOkay || rsp.Operation != want[rsp.ID] {
			t.Errorf("response %+v; want id < %d, status okay, operation %d", rsp, len(want), want[min(rsp.ID, 2)])
		}
	}
}

// FuzzHandle: whatever a frontend puts in a request (and in the page an
// indirect request points at), the backend answers with a status, never
// panics, never leaves a mapping behind (without persistent grants) and
// never writes outside the disk.
func FuzzHandle(f *testing.F) {
	seed := func(r ring.BlkifRequest) []byte {
		return append([]byte(nil), unsafeBytes((*[ring.BlkifEntrySize / 8]uint64)(unsafePointer(&r))[:])...)
	}
	f.Add(seed(rwReq(ring.BlkifOpRead, 0, []grant.Ref{8})), []byte{})
	f.Add(seed(rwReq(ring.BlkifOpWrite, 16376, []grant.Ref{8, 9})), []byte{})
	var ind ring.BlkifRequest
	*ind.Indirect() = ring.BlkifRequestIndirect{Operation: ring.BlkifOpIndirect, IndirectOp: ring.BlkifOpRead, NrSegments: 3}
	ind.Indirect().IndirectGrefs[0] = 1
	f.Add(seed(ind), []byte{8, 0, 0, 0, 0, 7, 0, 0, 9, 0, 0, 0, 3, 2})
	f.Fuzz(func(t *testing.T, raw []byte, page []byte) {
		hp := newHotPath(t, false, 16)
		var req ring.BlkifRequest
		copy(unsafeBytes((*[ring.BlkifEntrySize / 8]uint64)(unsafePointer(&req))[:]), raw)
		// Page 299 is what indirect grefs usually name (ref 8+3*299 is
		// its writable grant); the fuzzer fills it.
		copy(hp.page(299), page)
		st := hp.w.handle(&req)
		if st != ring.BlkifRspOkay && st != ring.BlkifRspError && st != ring.BlkifRspEOPNOTSUPP {
			t.Fatalf("status %d", st)
		}
		if n := hp.m.Mapped(); n != 0 {
			t.Fatalf("%d mappings left", n)
		}
		if fi, _ := hp.img.Stat(); fi.Size() != 8<<20 {
			t.Fatalf("the image grew to %d", fi.Size())
		}
	})
}
