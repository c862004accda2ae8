// Package ring implements Xen's shared I/O rings (xen/include/public/io/ring.h)
// on a []byte holding the shared pages, byte-compatible with the C macros, so
// that a frontend or backend written in C against ring.h can drive the other
// side.
//
// # Layout
//
// The shared area starts with a 64-byte header: req_prod at 0, req_event at 4,
// rsp_prod at 8, rsp_event at 12, a 4-byte private union and 44 bytes of
// padding. Entries (a union of one request and one response, entrySize bytes)
// follow from offset 64. The number of entries is (len-64)/entrySize rounded
// down to a power of two, exactly as __RING_SIZE does; a ring of 2^order pages
// has one header at its start.
//
// # Indices
//
// All four shared indices are free-running uint32 values, read and written
// only with sync/atomic (sequentially consistent, which is at least as strong
// as ring.h's xen_wmb/xen_mb), and masked with size-1 when used as a slot.
// Private indices (req_prod_pvt/rsp_cons for a Front, rsp_prod_pvt/req_cons
// for a Back) live in the Front or Back value, padded onto cache lines of
// their own so a front and a back in the same process do not false-share.
//
// # Call protocol
//
// Back (the consumer of requests):
//
//	n, err := b.Unconsumed()        // or just loop on NextRequest
//	ok, err := b.NextRequest(&req)  // copies the request out once (XSA-155)
//	... handle the copy only ...
//	b.PutResponse(&rsp)             // writes into the next response slot
//	if b.PushResponses() { notify the frontend }
//	more, err := b.FinalCheckForRequests() // before sleeping: sets req_event
//
// Front (the producer of requests):
//
//	f.PutRequest(&req) (or RequestSlot) while f.Free() > 0
//	if f.PushRequests() { notify the backend }
//	ok, err := f.NextResponse(&rsp)
//	more, err := f.FinalCheckForResponses()
//
// The typed forms (BlkifBack, NetifTxFront, ... = BackOf/FrontOf) add batch
// calls, which read the peer's producer index once per batch and copy
// without a call per entry: NextRequests(dst []Req), PutResponses(src),
// PutRequests(src), NextResponses(dst); and in-place producers,
// ProduceRequest and ProduceResponse, which return a pointer to the next
// slot (the typed RING_GET_REQUEST/RING_GET_RESPONSE) valid until the push.
// Consumers only ever get copies.
//
// Notify decisions and event thresholds follow RING_PUSH_*_AND_CHECK_NOTIFY
// and RING_FINAL_CHECK_FOR_* exactly: the pusher notifies iff the peer's event
// index lies in (old, new].
//
// # Hostile peers
//
// A backend trusts nothing in the shared area. A req_prod that runs more than a
// ring ahead of the responses or moves backwards, a response producer that
// claims more responses than requests were pushed, and a storm of
// notifications that never bring work (see Notified) each mark the ring broken:
// every later call returns the same error wrapping ErrBroken, and nothing
// panics. Requests are copied out of shared memory exactly once, and only the
// copy is used, so a peer rewriting a slot after it was read changes nothing.
//
// # Concurrency
//
// A Front or Back is thread-compatible: one goroutine at a time (one producer
// and one consumer per ring side, as in C). The two sides may run in different
// goroutines, threads or processes.
//
// Typed views (BlkifRequest, NetifTxRequest, ...) are fixed-layout structs with
// the x86_64 sizes and offsets of blkif.h and netif.h; FrontOf and BackOf copy
// them in and out of slots with one fixed-size copy and allocate nothing.
package ring
