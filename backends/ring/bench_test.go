package ring

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// yieldAfter empty polls, a spinning side gives its CPU away
// (sched_yield, as testdata/bench_roundtrip.c does): on a machine with more
// runnable threads than cores a pure spinner burns its whole time slice while
// its peer waits to be scheduled.
const yieldAfter = 64

func relax(spins *int) {
	*spins++
	if *spins%yieldAfter == 0 {
		unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	}
}

// alignedPages returns n zeroed pages aligned to the page size, as a shared
// mapping would be.
func alignedPages(n int) []byte {
	b := make([]byte, (n+1)*PageSize)
	off := int(uintptr(PageSize)-uintptr(unsafe.Pointer(&b[0]))%PageSize) % PageSize
	return b[off : off+n*PageSize : off+n*PageSize]
}

// BenchmarkBlkifRoundTrip: a frontend (this goroutine) and a backend (another
// goroutine), each locked to an OS thread and spinning, move b.N blkif
// requests and their responses through a ring of 1, 2, 4 or 8 pages. ns/op
// is the time per request round trip at full pipelining; the frontend keeps
// the ring as full as it can, as blkfront does under load. The C program
// testdata/bench_roundtrip.c does the same with ring.h (make bench).
func BenchmarkBlkifRoundTrip(b *testing.B) {
	for _, pages := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("pages=%d", pages), func(b *testing.B) {
			mem := alignedPages(pages)
			front, err := NewBlkifFront(mem)
			if err != nil {
				b.Fatal(err)
			}
			back, err := NewBlkifBack(mem)
			if err != nil {
				b.Fatal(err)
			}
			n := b.N
			var stop atomic.Bool
			done := make(chan error, 1)
			go func() {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				// The backend takes requests in batches (one read of
				// req_prod per batch, each request copied out once) and
				// answers each in place.
				var reqs [32]BlkifRequest
				spins := 0
				for !stop.Load() {
					k, err := back.NextRequests(reqs[:])
					if err != nil {
						done <- err
						return
					}
					if k == 0 {
						relax(&spins)
						continue
					}
					for i := range reqs[:k] {
						rsp, _ := back.ProduceResponse()
						rsp.ID, rsp.Operation, rsp.Status = reqs[i].ID, reqs[i].Operation, BlkifRspOkay
					}
					back.PushResponses()
				}
				done <- nil
			}()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var rsps [32]BlkifResponse
			b.ReportAllocs()
			b.ResetTimer()
			sent, got, spins := 0, 0, 0
			for got < n {
				// Fill every free slot in place, publish once.
				for free := min(int(front.Free()), n-sent); free > 0; free-- {
					req, _ := front.ProduceRequest()
					req.Operation, req.NrSegments, req.Handle = BlkifOpRead, 1, 1
					req.ID, req.SectorNumber = uint64(sent), uint64(sent)*8
					req.Seg[0] = BlkifSegment{Gref: 8, FirstSect: 0, LastSect: 7}
					sent++
				}
				front.PushRequests()
				k, err := front.NextResponses(rsps[:])
				if err != nil {
					b.Fatal(err)
				}
				if k == 0 {
					relax(&spins)
					continue
				}
				for i := range rsps[:k] {
					if rsps[i].ID != uint64(got) {
						b.Fatalf("response %d has id %d", got, rsps[i].ID)
					}
					got++
				}
			}
			b.StopTimer()
			stop.Store(true)
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
