package netback

import (
	"sync/atomic"
	"unsafe"

	"github.com/xfeat/xfeat/backends/ring"
)

// askForRequests sets the rx ring's req_event just past the frontend's
// current req_prod, so that its next push of rx requests notifies (Linux
// netback's xenvif_rx_ring_slots_available does the same): the ring package
// only asks to be woken when the ring is empty, and rx may wait for more
// slots than one while some are posted.
func askForRequests(mem []byte) {
	prod := (*atomic.Uint32)(unsafe.Pointer(&mem[ring.OffReqProd]))
	event := (*atomic.Uint32)(unsafe.Pointer(&mem[ring.OffReqEvent]))
	for {
		p := prod.Load()
		event.Store(p + 1)
		if prod.Load() == p {
			return
		}
	}
}
