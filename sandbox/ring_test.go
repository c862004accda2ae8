package sandbox

import (
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/ring"
	"github.com/xfeat/xfeat/backends/xenbus"
)

// TestRingsAndChannelsAreShared: what a connected frontend puts on its ring
// (guest memory, granted) the backend reads through its grant mapping, and
// the event channels carry the notifications both ways.
func TestRingsAndChannelsAreShared(t *testing.T) {
	h := startHost(t, nil)
	img := image(t, 1<<20)
	h.createDomain(t, 1, []vifSpec{{devid: 0, config: map[string]string{"multi-queue-max-queues": "2"}}},
		[]vbdSpec{{devid: 51712, params: img, config: map[string]string{"multi-queue-max-queues": "1", "max-ring-page-order": "2"}}})
	h.waitState(t, fePath("vbd", 1, 51712), xenbus.Connected)
	h.waitState(t, bePath("vif", 1, 0), xenbus.Connected)

	g := h.Guest(1)
	front := g.Blkfront().Device(51712)
	if front == nil || len(front.Queues) != 1 {
		t.Fatalf("blkfront device: %+v", front)
	}
	backs := h.Blkback().Connected()
	if len(backs) != 1 || len(backs[0].Queues) != 1 {
		t.Fatalf("blkback connected vbds: %d", len(backs))
	}
	fq, bq := front.Queues[0], backs[0].Queues[0]
	if fq.Ring.Size() != 128 || bq.Ring.Size() != 128 {
		t.Errorf("order-2 ring sizes: front %d back %d, want 128", fq.Ring.Size(), bq.Ring.Size())
	}
	// Fill past the first page so the multi-page mapping is exercised.
	for i := 0; i < 100; i++ {
		req := ring.BlkifRequest{Operation: ring.BlkifOpRead, ID: uint64(1000 + i), SectorNumber: uint64(i)}
		if err := fq.Ring.PutRequest(&req); err != nil {
			t.Fatal(err)
		}
	}
	if fq.Ring.PushRequests() {
		if err := fq.Channel.Notify(); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Error("the first push did not ask for a notification")
	}
	if n, err := bq.Channel.Wait(5 * time.Second); err != nil || n == 0 {
		t.Fatalf("backend event channel: %d, %v", n, err)
	}
	for i := 0; i < 100; i++ {
		var req ring.BlkifRequest
		ok, err := bq.Ring.NextRequest(&req)
		if err != nil || !ok || req.ID != uint64(1000+i) || req.SectorNumber != uint64(i) {
			t.Fatalf("request %d: ok %v err %v %+v", i, ok, err, req)
		}
		if err := bq.Ring.PutResponse(&ring.BlkifResponse{ID: req.ID, Operation: req.Operation}); err != nil {
			t.Fatal(err)
		}
	}
	if bq.Ring.PushResponses() {
		bq.Channel.Notify()
	}
	if n, err := fq.Channel.Wait(5 * time.Second); err != nil || n == 0 {
		t.Fatalf("frontend event channel: %d, %v", n, err)
	}
	var rsp ring.BlkifResponse
	if ok, err := fq.Ring.NextResponse(&rsp); !ok || err != nil || rsp.ID != 1000 {
		t.Fatalf("first response: %v %v %+v", ok, err, rsp)
	}

	// netif: two queues, split channels, tx and rx rings each.
	nf := g.Netfront().Device(0)
	vifs := h.Netback().Connected()
	if nf == nil || len(nf.Queues) != 2 || len(vifs) != 1 || len(vifs[0].Queues) != 2 || !vifs[0].Negotiated.Split {
		t.Fatalf("netfront/netback queues: %+v / %d", nf, len(vifs))
	}
	for i := range 2 {
		fq, bq := nf.Queues[i], vifs[0].Queues[i]
		fq.Tx.PutRequest(&ring.NetifTxRequest{ID: uint16(7 + i), Size: 60})
		if fq.Tx.PushRequests() {
			fq.TxChannel.Notify()
		}
		if _, err := bq.TxChannel.Wait(5 * time.Second); err != nil {
			t.Fatalf("queue %d tx channel: %v", i, err)
		}
		var req ring.NetifTxRequest
		if ok, err := bq.Tx.NextRequest(&req); !ok || err != nil || req.ID != uint16(7+i) {
			t.Errorf("queue %d tx request: %v %v %+v", i, ok, err, req)
		}
		fq.Rx.PutRequest(&ring.NetifRxRequest{ID: uint16(9 + i)})
		if fq.Rx.PushRequests() {
			fq.RxChannel.Notify()
		}
		if _, err := bq.RxChannel.Wait(5 * time.Second); err != nil {
			t.Fatalf("queue %d rx channel: %v", i, err)
		}
		var rx ring.NetifRxRequest
		if ok, err := bq.Rx.NextRequest(&rx); !ok || err != nil || rx.ID != uint16(9+i) {
			t.Errorf("queue %d rx request: %v %v %+v", i, ok, err, rx)
		}
	}
}
