package ring

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/xfeat/xfeat/backends/evtchn"
)

// BenchmarkBlkifEvtchn is BlkifRoundTrip with event channels instead of
// spinning: both sides sleep in evtchn Wait when the ring is empty (after
// the ring.h final check) and notify only when PushRequests/PushResponses
// say the peer asked for it. The frontend keeps at most inflight requests
// outstanding. Reported: requests per frontend notification, per backend
// notification, and futex wakeups per request (the syscalls the event
// suppression saves).
func BenchmarkBlkifEvtchn(b *testing.B) {
	for _, inflight := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			dir := b.TempDir()
			h := evtchn.NewHost(dir)
			defer h.Close()
			if err := h.CreateDomain(0, 16); err != nil {
				b.Fatal(err)
			}
			if err := h.CreateDomain(1, 16); err != nil {
				b.Fatal(err)
			}
			fp, _ := h.AllocUnbound(1, 0)
			bp, err := h.BindInterdomain(0, 1, fp)
			if err != nil {
				b.Fatal(err)
			}
			feCh, _ := h.Channel(1, fp)
			beCh, _ := h.Channel(0, bp)
			beCh.Poll()

			mem := alignedPages(1)
			front, _ := NewBlkifFront(mem)
			back, _ := NewBlkifBack(mem)
			n := b.N
			var stop atomic.Bool
			done := make(chan error, 1)
			go func() {
				var req BlkifRequest
				var rsp BlkifResponse
				for {
					for {
						ok, err := back.NextRequest(&req)
						if err != nil {
							done <- err
							return
						}
						if !ok {
							break
						}
						rsp.ID, rsp.Operation, rsp.Status = req.ID, req.Operation, BlkifRspOkay
						back.PutResponse(&rsp)
					}
					if back.PushResponses() {
						beCh.Notify()
					}
					if more, _ := back.FinalCheckForRequests(); more {
						continue
					}
					if stop.Load() {
						done <- nil
						return
					}
					if _, err := beCh.Wait(0); err != nil {
						done <- err
						return
					}
				}
			}()
			req := BlkifRequest{Operation: BlkifOpRead, NrSegments: 1}
			var rsp BlkifResponse
			b.ReportAllocs()
			b.ResetTimer()
			sent, got := 0, 0
			for got < n {
				for sent < n && sent-got < inflight {
					req.ID = uint64(sent)
					front.PutRequest(&req)
					sent++
				}
				if front.PushRequests() {
					feCh.Notify()
				}
				progress := false
				for {
					ok, err := front.NextResponse(&rsp)
					if err != nil {
						b.Fatal(err)
					}
					if !ok {
						break
					}
					got++
					progress = true
				}
				if progress {
					continue
				}
				if more, _ := front.FinalCheckForResponses(); !more {
					feCh.Wait(0)
				}
			}
			b.StopTimer()
			stop.Store(true)
			beCh.Kick()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			feSent, feWoke := feCh.Notifications()
			beSent, beWoke := beCh.Notifications()
			b.ReportMetric(float64(n)/float64(max(feSent, 1)), "req/fe-notify")
			b.ReportMetric(float64(n)/float64(max(beSent, 1)), "req/be-notify")
			b.ReportMetric(float64(feWoke+beWoke)/float64(n), "wakeups/req")
		})
	}
}
