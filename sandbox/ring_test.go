package sandbox

import (
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/blkback"
	"github.com/xfeat/xfeat/pv"

	"github.com/xfeat/xfeat/backends/ring"
)

// TestRingsAndChannelsAreShared: what a connected frontend puts on its ring
// (guest memory, granted) the backend reads through its grant mapping, and
// the event channels carry the notifications both ways.
func TestRingsAndChannelsAreShared(t *testing.T) {
	h := startHost(t, nil)
	img := image(t, 1<<20)
	h.createDomain(t, 1, []vifSpec{{devid: 0, config: map[string]string{"multi-queue-max-queues": "2"}}},
		[]vbdSpec{{devid: 51712, params: img, config: map[string]string{"multi-queue-max-queues": "1", "max-ring-page-order": "2"}}})
	h.waitState(t, fePath("vbd", 1, 51712), pv.Connected)
	h.waitState(t, bePath("vif", 1, 0), pv.Connected)

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
	// 100 requests in flight at once fill the ring past its first page,
	// so the multi-page mapping is exercised; the data lands in the image
	// through the backend's mapping of the guest's granted pages.
	dev, err := g.Blkfront().WaitConnected(bg, 51712)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for k := range buf {
				buf[k] = byte(i)
			}
			if _, err := dev.WriteAt(buf, int64(i)*4096); err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	onDisk, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if onDisk[i*4096] != byte(i) || onDisk[i*4096+4095] != byte(i) {
			t.Fatalf("block %d did not land in the image", i)
		}
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

// echoBlk is a minimal block data path for the test: every request is
// answered OKAY. It records that Stop ran while the rings were still mapped.
type echoBlk struct {
	h               *Host
	mu              sync.Mutex
	stops           map[*blkback.Vbd]chan struct{}
	done            sync.WaitGroup
	mappedAtStop    int
	started, served atomic.Int32
}

func (e *echoBlk) Start(v *blkback.Vbd) error {
	e.mu.Lock()
	if e.stops == nil {
		e.stops = map[*blkback.Vbd]chan struct{}{}
	}
	stop := make(chan struct{})
	e.stops[v] = stop
	e.mu.Unlock()
	e.started.Add(1)
	for _, q := range v.Queues {
		e.done.Add(1)
		go func() {
			defer e.done.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := q.Channel.Wait(0); err != nil {
					return
				}
				var req ring.BlkifRequest
				for {
					ok, err := q.Ring.NextRequest(&req)
					if err != nil || !ok {
						break
					}
					q.Ring.PutResponse(&ring.BlkifResponse{ID: req.ID, Operation: req.Operation, Status: ring.BlkifRspOkay})
					e.served.Add(1)
				}
				if q.Ring.PushResponses() {
					q.Channel.Notify()
				}
			}
		}()
	}
	return nil
}

func (e *echoBlk) Stop(v *blkback.Vbd) {
	e.mu.Lock()
	close(e.stops[v])
	delete(e.stops, v)
	e.mu.Unlock()
	for _, q := range v.Queues {
		q.Channel.Kick()
	}
	e.done.Wait()
	e.mappedAtStop = e.h.GrantMappings()
}

// A data path hangs on the mapped rings: started before Connected, served,
// stopped before the rings are unmapped.
func TestDataPathHook(t *testing.T) {
	dp := &echoBlk{}
	h := startHost(t, func(c *Config) { c.BlkbackDataPath = dp })
	dp.h = h.Host
	img := image(t, 1<<20)
	h.createDomain(t, 1, nil, []vbdSpec{{devid: 51712, params: img, config: map[string]string{"multi-queue-max-queues": "2"}}})
	h.waitState(t, fePath("vbd", 1, 51712), pv.Connected)
	if dp.started.Load() != 1 {
		t.Fatalf("data path started %d times", dp.started.Load())
	}
	// Every queue gets a flush, which the echo path answers.
	front, err := h.Guest(1).Blkfront().WaitConnected(bg, 51712)
	if err != nil {
		t.Fatal(err)
	}
	if err := front.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if n := dp.served.Load(); n != 2 {
		t.Errorf("echo path served %d requests, want one flush per queue (2)", n)
	}
	h.destroy(t, "vbd", 1, 51712)
	if want := 2 << 4; dp.mappedAtStop != want { // 2 queues of 2^4 ring pages
		t.Errorf("Stop saw %d grant mappings; want the rings' %d still mapped", dp.mappedAtStop, want)
	}
	if n := h.GrantMappings(); n != 0 {
		t.Errorf("mappings after teardown: %d", n)
	}
}
