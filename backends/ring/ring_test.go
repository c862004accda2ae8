package ring

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

func TestEntriesFor(t *testing.T) {
	cases := []struct {
		size, entry int
		want        uint32
	}{
		{4096, BlkifEntrySize, 32}, // 36 fit
		{4096 << 1, BlkifEntrySize, 64},
		{4096 << 2, BlkifEntrySize, 128},
		{4096 << 3, BlkifEntrySize, 256},
		{4096 << 4, BlkifEntrySize, 512},
		{4096, NetifTxEntrySize, 256}, // 336 fit
		{4096, NetifRxEntrySize, 256}, // 504 fit
		{4096, 16, 128},               // netif ctrl: 252 fit
		{64 + 112, 112, 1},
		{64 + 111, 112, 0},
		{10, 8, 0},
		{4096, 0, 0},
	}
	for _, c := range cases {
		if got := EntriesFor(c.size, c.entry); got != c.want {
			t.Errorf("EntriesFor(%d, %d) = %d, want %d", c.size, c.entry, got, c.want)
		}
	}
}

func TestInitHeader(t *testing.T) {
	mem := make([]byte, 4096)
	for i := range mem {
		mem[i] = 0xAA
	}
	if _, err := NewFront(mem, 112); err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}
	for i, w := range want {
		if mem[i] != w {
			t.Fatalf("header byte %d = %#x, want %#x (SHARED_RING_INIT)", i, mem[i], w)
		}
	}
	for i := 16; i < HeaderSize; i++ {
		if mem[i] != 0 {
			t.Fatalf("pad byte %d not zeroed", i)
		}
	}
	if mem[HeaderSize] != 0xAA {
		t.Fatal("Init touched the entries")
	}
}

// pair builds a front and back on mem whose indices all start at start
// (FRONT_RING_ATTACH / BACK_RING_ATTACH at start).
func pair(t testing.TB, mem []byte, start uint32) (*BlkifFront, *BlkifBack) {
	t.Helper()
	f, err := NewBlkifFront(mem)
	if err != nil {
		t.Fatal(err)
	}
	f.reqProd.Store(start)
	f.rspProd.Store(start)
	f.reqEvent.Store(start + 1)
	f.rspEvent.Store(start + 1)
	f.reqProdPvt, f.rspCons, f.rspLimit, f.reqPushed = start, start, start, start
	b, err := NewBlkifBack(mem)
	if err != nil {
		t.Fatal(err)
	}
	if b.reqCons != start {
		t.Fatalf("back attached at %d, want rsp_prod %d", b.reqCons, start)
	}
	return f, b
}

// TestIndexTable runs batches of every interesting size through a one-page
// blkif ring from start indices that make the free-running counters wrap.
func TestIndexTable(t *testing.T) {
	starts := []uint32{0, 1, 31, 0xffffffff - 40, 0xffffffff - 31, 0xffffffff - 1, 0xffffffff}
	batches := []int{1, 2, 31, 32, 17, 32, 5}
	for _, start := range starts {
		mem := make([]byte, 4096)
		f, b := pair(t, mem, start)
		if f.Size() != 32 || b.Size() != 32 {
			t.Fatalf("size %d/%d", f.Size(), b.Size())
		}
		id := uint64(1000)
		for round := 0; round < 3; round++ {
			for _, n := range batches {
				if got := f.Free(); got != 32 {
					t.Fatalf("start %#x: free %d before batch, want 32", start, got)
				}
				for i := 0; i < n; i++ {
					req := BlkifRequest{Operation: BlkifOpWrite, NrSegments: 1, ID: id + uint64(i), SectorNumber: uint64(i) * 8}
					req.Seg[0] = BlkifSegment{Gref: uint32(i), FirstSect: 0, LastSect: 7}
					if err := f.PutRequest(&req); err != nil {
						t.Fatalf("start %#x batch %d req %d: %v", start, n, i, err)
					}
				}
				if n == 32 {
					var req BlkifRequest
					if err := f.PutRequest(&req); !errors.Is(err, ErrFull) {
						t.Fatalf("full ring: PutRequest = %v, want ErrFull", err)
					}
					if f.Free() != 0 {
						t.Fatal("full ring reports free slots")
					}
				}
				if got, _ := b.Unconsumed(); got != 0 {
					t.Fatalf("back sees %d requests before the push", got)
				}
				f.PushRequests()
				if got, err := b.Unconsumed(); got != uint32(n) || err != nil {
					t.Fatalf("start %#x: unconsumed %d, %v; want %d", start, got, err, n)
				}
				for i := 0; i < n; i++ {
					var req BlkifRequest
					ok, err := b.NextRequest(&req)
					if !ok || err != nil || req.ID != id+uint64(i) || req.Seg[0].Gref != uint32(i) || req.Seg[0].LastSect != 7 {
						t.Fatalf("start %#x: request %d = %+v ok=%v err=%v", start, i, req, ok, err)
					}
					if i%2 == 1 { // respond in two halves to leave requests outstanding
						for j := i - 1; j <= i; j++ {
							if err := b.PutResponse(&BlkifResponse{ID: id + uint64(j), Operation: BlkifOpWrite, Status: int16(-(j % 3))}); err != nil {
								t.Fatal(err)
							}
						}
					}
				}
				if ok, err := b.NextRequest(new(BlkifRequest)); ok || err != nil {
					t.Fatalf("extra request: %v %v", ok, err)
				}
				if n%2 == 1 {
					b.PutResponse(&BlkifResponse{ID: id + uint64(n-1), Operation: BlkifOpWrite, Status: int16(-((n - 1) % 3))})
				}
				if err := b.PutResponse(&BlkifResponse{}); !errors.Is(err, ErrNoOutstanding) {
					t.Fatalf("response without request: %v", err)
				}
				b.PushResponses()
				for i := 0; i < n; i++ {
					var rsp BlkifResponse
					ok, err := f.NextResponse(&rsp)
					if !ok || err != nil || rsp.ID != id+uint64(i) || rsp.Status != int16(-(i%3)) {
						t.Fatalf("start %#x: response %d = %+v %v %v", start, i, rsp, ok, err)
					}
				}
				if ok, err := f.NextResponse(new(BlkifResponse)); ok || err != nil {
					t.Fatalf("extra response: %v %v", ok, err)
				}
				id += uint64(n)
			}
		}
		if b.Err() != nil || f.Err() != nil {
			t.Fatal(b.Err(), f.Err())
		}
	}
}

// TestNotifySuppression checks push-and-check-notify and final-check against
// the ring.h formulas, including across the 2^32 wrap.
func TestNotifySuppression(t *testing.T) {
	for _, start := range []uint32{0, 0xfffffffe} {
		mem := make([]byte, 4096)
		f, b := pair(t, mem, start)
		put := func(n int) {
			for i := 0; i < n; i++ {
				if err := f.PutRequest(&BlkifRequest{ID: 1}); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Fresh ring: req_event = start+1, so the first push notifies.
		put(1)
		if !f.PushRequests() {
			t.Fatal("first push did not notify")
		}
		put(3)
		if f.PushRequests() {
			t.Fatal("second push notified although the backend did not re-arm")
		}
		if f.PushRequests() {
			t.Fatal("empty push notified")
		}
		// Backend drains, then final-check arms req_event = cons+1.
		for {
			ok, _ := b.NextRequest(new(BlkifRequest))
			if !ok {
				break
			}
			b.PutResponse(&BlkifResponse{ID: 1})
		}
		if more, err := b.FinalCheckForRequests(); more || err != nil {
			t.Fatal(more, err)
		}
		if got := b.reqEvent.Load(); got != start+5 {
			t.Fatalf("req_event %#x, want %#x", got, start+5)
		}
		// Frontend's rsp_event is still start+1: the backend's push of 4
		// responses covers it, so it notifies.
		if !b.PushResponses() {
			t.Fatal("response push did not notify")
		}
		put(2)
		if !f.PushRequests() {
			t.Fatal("push after final check did not notify")
		}
		// A final check that finds work does not touch req_event.
		if more, _ := b.FinalCheckForRequests(); !more {
			t.Fatal("final check missed pushed requests")
		}
		// Backend sets its event further ahead (batching): push of 2 more
		// does not reach it.
		b.reqEvent.Store(start + 6 + 4)
		put(2)
		if f.PushRequests() {
			t.Fatal("notified before the batching threshold")
		}
		put(2)
		if !f.PushRequests() {
			t.Fatal("not notified when the threshold fell inside (old, new]")
		}
	}
}

func TestHostileRequestProducer(t *testing.T) {
	for _, start := range []uint32{0, 0xfffffff0} {
		mem := make([]byte, 4096)
		f, b := pair(t, mem, start)
		// A full ring is fine...
		f.reqProd.Store(start + 32)
		if n, err := b.Unconsumed(); n != 32 || err != nil {
			t.Fatalf("full ring: %d %v", n, err)
		}
		// ...one more is not.
		f.reqProd.Store(start + 33)
		if _, err := b.Unconsumed(); !errors.Is(err, ErrBroken) {
			t.Fatalf("req_prod past the ring: err %v", err)
		}
		// Broken stays broken, on every call.
		f.reqProd.Store(start + 1)
		if ok, err := b.NextRequest(new(BlkifRequest)); ok || !errors.Is(err, ErrBroken) {
			t.Fatal("broken ring served a request")
		}
		if err := b.PutResponse(&BlkifResponse{}); !errors.Is(err, ErrBroken) {
			t.Fatal("broken ring took a response")
		}
		if _, err := b.FinalCheckForRequests(); !errors.Is(err, ErrBroken) {
			t.Fatal("broken ring final check")
		}
	}

	// After consuming, responses outstanding limit what may be produced.
	mem := make([]byte, 4096)
	start := uint32(0xffffffff - 4)
	f, b := pair(t, mem, start)
	for i := 0; i < 20; i++ {
		f.PutRequest(&BlkifRequest{ID: uint64(i)})
	}
	f.PushRequests()
	for i := 0; i < 20; i++ {
		b.NextRequest(new(BlkifRequest))
	}
	// 20 outstanding without responses: req_prod may go 12 further, not 13.
	f.reqProd.Store(start + 32)
	if _, err := b.Unconsumed(); err != nil {
		t.Fatal(err)
	}
	f.reqProd.Store(start + 33)
	if _, err := b.Unconsumed(); !errors.Is(err, ErrBroken) {
		t.Fatal("overflow with outstanding requests not detected")
	}

	// req_prod moving backwards.
	mem = make([]byte, 4096)
	f, b = pair(t, mem, 7)
	for i := 0; i < 4; i++ {
		f.PutRequest(&BlkifRequest{ID: uint64(i)})
	}
	f.PushRequests()
	for i := 0; i < 4; i++ {
		b.NextRequest(new(BlkifRequest))
	}
	f.reqProd.Store(9)
	if _, err := b.Unconsumed(); !errors.Is(err, ErrBroken) {
		t.Fatal("req_prod moving backwards not detected")
	}
}

// TestRewrittenRequest is the XSA-155 double fetch: the frontend rewrites a
// slot after the backend copied it; the backend's copy must not change.
func TestRewrittenRequest(t *testing.T) {
	mem := make([]byte, 4096)
	f, b := pair(t, mem, 0)
	req := BlkifRequest{Operation: BlkifOpRead, NrSegments: 1, ID: 42}
	req.Seg[0] = BlkifSegment{Gref: 9, FirstSect: 0, LastSect: 7}
	f.PutRequest(&req)
	f.PushRequests()
	var got BlkifRequest
	if ok, _ := b.NextRequest(&got); !ok {
		t.Fatal("no request")
	}
	slot := mem[HeaderSize : HeaderSize+BlkifEntrySize]
	slot[1] = 200 // nr_segments past BLKIF_MAX_SEGMENTS_PER_REQUEST
	slot[24+5] = 99
	if got.NrSegments != 1 || got.Seg[0].LastSect != 7 || got.ID != 42 {
		t.Fatalf("copy changed with the shared slot: %+v", got)
	}
	// The untyped API copies once too.
	f.PutRequest(&req)
	f.PushRequests()
	raw := make([]byte, BlkifEntrySize)
	if ok, err := b.CopyRequest(raw); !ok || err != nil {
		t.Fatal(ok, err)
	}
	mem[HeaderSize+BlkifEntrySize+1] = 200
	if raw[1] != 1 {
		t.Fatal("CopyRequest returned shared memory")
	}
}

func TestNotifyStorm(t *testing.T) {
	mem := make([]byte, 4096)
	f, b := pair(t, mem, 0)
	// Notifications interleaved with work never trip the detector.
	for i := 0; i < 3*StormLimit; i++ {
		if i%100 == 0 {
			f.PutRequest(&BlkifRequest{ID: uint64(i)})
			f.PushRequests()
			b.NextRequest(new(BlkifRequest))
			b.PutResponse(&BlkifResponse{})
			b.PushResponses()
			f.NextResponse(new(BlkifResponse))
		}
		if _, err := b.Notified(); err != nil {
			t.Fatalf("notification %d: %v", i, err)
		}
	}
	// A storm on an empty ring does.
	var err error
	for i := 0; i <= StormLimit && err == nil; i++ {
		_, err = b.Notified()
	}
	if !errors.Is(err, ErrNotifyStorm) || !errors.Is(err, ErrBroken) {
		t.Fatalf("storm: %v", err)
	}
	for i := 0; i <= StormLimit; i++ {
		f.Notified()
	}
	if !errors.Is(f.Err(), ErrNotifyStorm) {
		t.Fatalf("front storm: %v", f.Err())
	}
}

func TestHostileResponseProducer(t *testing.T) {
	mem := make([]byte, 4096)
	rstart := uint32(0xfffffffd)
	f, b := pair(t, mem, rstart)
	for i := 0; i < 3; i++ {
		f.PutRequest(&BlkifRequest{ID: uint64(i)})
	}
	f.PushRequests()
	b.rspProd.Store(rstart + 3)
	if n, err := f.Unconsumed(); n != 3 || err != nil {
		t.Fatal(n, err)
	}
	b.rspProd.Store(rstart + 4) // more responses than requests pushed
	if _, err := f.Unconsumed(); !errors.Is(err, ErrBroken) {
		t.Fatalf("err %v", err)
	}
	if err := f.PutRequest(&BlkifRequest{}); !errors.Is(err, ErrBroken) {
		t.Fatal("broken front accepted a request")
	}
}

func TestBadArea(t *testing.T) {
	if _, err := NewFront(make([]byte, 100), 112); err == nil {
		t.Fatal("100-byte ring accepted")
	}
	if _, err := NewBack(make([]byte, 4096)[1:], 8); err == nil {
		t.Fatal("misaligned ring accepted")
	}
}

func TestNetifTyped(t *testing.T) {
	mem := make([]byte, 4096)
	f, err := NewNetifTxFront(mem)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewNetifTxBack(mem)
	if f.EntrySize() != 12 || f.Size() != 256 {
		t.Fatal(f.EntrySize(), f.Size())
	}
	f.PutRequest(&NetifTxRequest{Gref: 5, Offset: 14, Flags: NetTxfExtraInfo | NetTxfMoreData, ID: 3, Size: 9000})
	var x NetifTxRequest
	e := x.Extra()
	e.SetGSO(1448, NetifGSOTypeTCPv4, 0)
	e.Flags = NetifExtraFlagMore
	f.PutRequest(&x)
	f.PushRequests()
	var r NetifTxRequest
	b.NextRequest(&r)
	if r != (NetifTxRequest{Gref: 5, Offset: 14, Flags: NetTxfExtraInfo | NetTxfMoreData, ID: 3, Size: 9000}) {
		t.Fatalf("%+v", r)
	}
	b.NextRequest(&r)
	ex := r.Extra()
	if size, typ, feat := ex.GSO(); ex.Type != NetifExtraTypeGSO || ex.Flags != 1 || size != 1448 || typ != 1 || feat != 0 {
		t.Fatalf("extra %+v", ex)
	}
	// Bytes on the wire: type 1, flags 1, size 1448 LE, type 1.
	want := []byte{1, 1, 0xa8, 0x05, 1, 0, 0, 0}
	for i, w := range want {
		if mem[HeaderSize+12+i] != w {
			t.Fatalf("extra byte %d = %#x want %#x", i, mem[HeaderSize+12+i], w)
		}
	}
	rxm := make([]byte, 4096)
	rf, _ := NewNetifRxFront(rxm)
	rb, _ := NewNetifRxBack(rxm)
	rf.PutRequest(&NetifRxRequest{ID: 7, Gref: 77})
	rf.PushRequests()
	var rq NetifRxRequest
	rb.NextRequest(&rq)
	if rq.ID != 7 || rq.Gref != 77 {
		t.Fatal(rq)
	}
	rb.PutResponse(&NetifRxResponse{ID: 7, Offset: 0, Flags: NetRxfDataValidated, Status: 1500})
	rb.PushResponses()
	var rr NetifRxResponse
	if ok, _ := rf.NextResponse(&rr); !ok || rr.Status != 1500 || rr.Flags != 1 {
		t.Fatal(rr)
	}
}

// TestConcurrent sends random requests from one goroutine to another through
// a small ring; the receiver checks every one with a second RNG on the same
// seed, and the sender checks the responses the same way.
func TestConcurrent(t *testing.T) {
	total := 300000
	if raceEnabled || testing.Short() {
		total = 30000
	}
	for _, start := range []uint32{0, 0xffffffff - 1000} {
		mem := make([]byte, 4096)
		f, b := pair(t, mem, start)
		const seed = 12345
		var wg sync.WaitGroup
		wg.Add(1)
		var backErr error
		var backDone atomic.Bool
		go func() {
			defer wg.Done()
			defer backDone.Store(true)
			rng := rand.New(rand.NewPCG(seed, 1))
			ctl := rand.New(rand.NewPCG(seed, 2))
			var req BlkifRequest
			for i := 0; i < total; {
				ok, err := b.NextRequest(&req)
				if err != nil {
					backErr = err
					return
				}
				if !ok {
					if !b.PushResponses() {
						runtime.Gosched()
					}
					continue
				}
				want := randomRequest(rng, uint64(i))
				if req != want {
					backErr = fmt.Errorf("request %d = %+v, want %+v", i, req, want)
					return
				}
				if err := b.PutResponse(&BlkifResponse{ID: req.ID, Operation: req.Operation, Status: int16(req.SectorNumber % 3)}); err != nil {
					backErr = err
					return
				}
				if ctl.IntN(4) == 0 {
					b.PushResponses()
				}
				i++
			}
			b.PushResponses()
		}()
		rng := rand.New(rand.NewPCG(seed, 1))
		checker := rand.New(rand.NewPCG(seed, 1))
		ctl := rand.New(rand.NewPCG(seed, 3))
		sent, got := 0, 0
		for got < total && !(backDone.Load() && backErr != nil) {
			for n := ctl.IntN(40); n > 0 && sent < total && f.Free() > 0; n-- {
				req := randomRequest(rng, uint64(sent))
				if err := f.PutRequest(&req); err != nil {
					t.Fatal(err)
				}
				sent++
			}
			f.PushRequests()
			var rsp BlkifResponse
			progress := false
			for {
				ok, err := f.NextResponse(&rsp)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				want := randomRequest(checker, uint64(got))
				if rsp.ID != want.ID || rsp.Operation != want.Operation || rsp.Status != int16(want.SectorNumber%3) {
					t.Fatalf("response %d = %+v for %+v", got, rsp, want)
				}
				got++
				progress = true
			}
			if !progress {
				runtime.Gosched()
			}
		}
		wg.Wait()
		if backErr != nil {
			t.Fatal(backErr)
		}
	}
}

func randomRequest(rng *rand.Rand, i uint64) BlkifRequest {
	r := BlkifRequest{
		Operation:    uint8(rng.IntN(7)),
		NrSegments:   uint8(rng.IntN(12)),
		Handle:       uint16(rng.Uint32()),
		ID:           i<<20 | rng.Uint64()>>44,
		SectorNumber: rng.Uint64(),
	}
	for s := range r.Seg {
		r.Seg[s] = BlkifSegment{Gref: rng.Uint32(), FirstSect: uint8(rng.IntN(8)), LastSect: uint8(rng.IntN(8))}
	}
	return r
}

func TestHotPathAllocs(t *testing.T) {
	mem := make([]byte, 4096)
	f, b := pair(t, mem, 0)
	raw := make([]byte, BlkifEntrySize)
	var req BlkifRequest
	var rsp BlkifResponse
	var reqs [4]BlkifRequest
	var rsps [6]BlkifResponse
	allocs := testing.AllocsPerRun(1000, func() {
		f.PutRequest(&req)
		slot, _ := f.RequestSlot()
		slot[0] = 1
		f.PushRequests()
		b.Unconsumed()
		b.NextRequest(&req)
		b.CopyRequest(raw)
		b.PutResponse(&rsp)
		s, _ := b.ResponseSlot()
		s[0] = 0
		b.PushResponses()
		b.FinalCheckForRequests()
		f.NextResponse(&rsp)
		f.CopyResponse(raw)
		f.FinalCheckForResponses()
		f.PutRequests(reqs[:])
		if r, err := f.ProduceRequest(); err == nil {
			r.ID = 1
		}
		f.PushRequests()
		n, _ := b.NextRequests(reqs[:])
		b.PutResponses(rsps[:n])
		if r, err := b.ProduceResponse(); err == nil {
			r.ID = 1
		}
		b.PushResponses()
		f.NextResponses(rsps[:])
	})
	if allocs != 0 {
		t.Fatalf("hot path allocates %v per round", allocs)
	}
	if b.Err() != nil || f.Err() != nil {
		t.Fatal(b.Err(), f.Err())
	}
}

// TestNotifyBoundaries pins the (old, new] window of
// RING_PUSH_*_AND_CHECK_NOTIFY at each edge, on both sides, across the wrap.
func TestNotifyBoundaries(t *testing.T) {
	for _, start := range []uint32{0, 100, 0xfffffffc} {
		for _, c := range []struct {
			event  uint32 // relative to old
			notify bool
		}{
			{0, false}, // event == old: already past
			{1, true},  // first new entry
			{3, true},  // event == new
			{4, false}, // beyond new
			{0xffffff00, false},
		} {
			mem := make([]byte, 4096)
			f, b := pair(t, mem, start)
			f.reqEvent.Store(start + c.event)
			for i := 0; i < 3; i++ {
				f.PutRequest(&BlkifRequest{})
			}
			if got := f.PushRequests(); got != c.notify {
				t.Errorf("start %#x req_event old+%d: notify %v, want %v", start, c.event, got, c.notify)
			}
			for i := 0; i < 3; i++ {
				b.NextRequest(new(BlkifRequest))
				b.PutResponse(&BlkifResponse{})
			}
			b.rspEvent.Store(start + c.event)
			if got := b.PushResponses(); got != c.notify {
				t.Errorf("start %#x rsp_event old+%d: notify %v, want %v", start, c.event, got, c.notify)
			}
		}
	}
}

// TestBatchAPI checks the batch and in-place forms against the ring limits.
func TestBatchAPI(t *testing.T) {
	for _, start := range []uint32{0, 0xfffffff0} {
		mem := make([]byte, 4096)
		f, b := pair(t, mem, start)
		src := make([]BlkifRequest, 40)
		for i := range src {
			src[i] = BlkifRequest{ID: uint64(i), Operation: BlkifOpWrite}
		}
		n, err := f.PutRequests(src)
		if n != 32 || !errors.Is(err, ErrFull) {
			t.Fatalf("PutRequests = %d, %v; want 32, ErrFull", n, err)
		}
		if _, err := f.ProduceRequest(); !errors.Is(err, ErrFull) {
			t.Fatal("ProduceRequest on a full ring")
		}
		f.PushRequests()
		dst := make([]BlkifRequest, 20)
		if n, err := b.NextRequests(dst); n != 20 || err != nil || dst[19].ID != 19 {
			t.Fatal(n, err, dst[19])
		}
		if n, err := b.NextRequests(dst); n != 12 || err != nil || dst[11].ID != 31 {
			t.Fatal(n, err, dst[11])
		}
		if n, err := b.NextRequests(dst); n != 0 || err != nil {
			t.Fatal(n, err)
		}
		rsps := make([]BlkifResponse, 31)
		for i := range rsps {
			rsps[i] = BlkifResponse{ID: uint64(i), Status: 1}
		}
		if n, err := b.PutResponses(rsps); n != 31 || err != nil {
			t.Fatal(n, err)
		}
		p, err := b.ProduceResponse()
		if err != nil {
			t.Fatal(err)
		}
		*p = BlkifResponse{ID: 31, Status: 2}
		if _, err := b.ProduceResponse(); !errors.Is(err, ErrNoOutstanding) {
			t.Fatal("response slot without a request")
		}
		if n, err := b.PutResponses(rsps[:1]); n != 0 || !errors.Is(err, ErrNoOutstanding) {
			t.Fatal(n, err)
		}
		b.PushResponses()
		got := make([]BlkifResponse, 64)
		if n, err := f.NextResponses(got); n != 32 || err != nil || got[31].Status != 2 || got[30].ID != 30 {
			t.Fatal(n, err, got[31])
		}
		r, _ := f.ProduceRequest()
		*r = BlkifRequest{ID: 77}
		f.PushRequests()
		if ok, _ := b.NextRequest(&dst[0]); !ok || dst[0].ID != 77 {
			t.Fatal(dst[0])
		}
		// A broken ring fails the batch calls too.
		f.reqProd.Store(f.reqProd.Load() + 40)
		if n, err := b.NextRequests(dst); n != 0 || !errors.Is(err, ErrBroken) {
			t.Fatal(n, err)
		}
		if _, err := b.PutResponses(rsps[:1]); !errors.Is(err, ErrBroken) {
			t.Fatal(err)
		}
	}
}

func TestBlkifIndirectViews(t *testing.T) {
	var r BlkifRequest
	ind := r.Indirect()
	ind.Operation, ind.IndirectOp, ind.NrSegments, ind.ID, ind.Handle = BlkifOpIndirect, BlkifOpWrite, 700, 9, 3
	ind.IndirectGrefs[1] = 0x55
	d := r.Discard()
	if d.Operation != BlkifOpIndirect || d.ID != 9 {
		t.Fatal(d)
	}
	// The union bytes as C lays them out: nr_segments u16 at 2, grefs at 28.
	raw := (*[BlkifEntrySize]byte)(unsafePointer(&r))
	if raw[2] != 700&0xff || raw[3] != 700>>8 || raw[28+4] != 0x55 || raw[24] != 3 {
		t.Fatalf("% x", raw[:40])
	}
	page := make([]byte, PageSize)
	page[8*511] = 0x11 // gref of the last segment
	page[8*511+4], page[8*511+5] = 2, 6
	segs := BlkifSegments(page)
	if segs[511] != (BlkifSegment{Gref: 0x11, FirstSect: 2, LastSect: 6}) {
		t.Fatal(segs[511])
	}
}
