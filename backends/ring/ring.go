package ring

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Offsets of the shared ring header (struct <name>_sring in ring.h).
const (
	OffReqProd  = 0  // RING_IDX req_prod
	OffReqEvent = 4  // RING_IDX req_event
	OffRspProd  = 8  // RING_IDX rsp_prod
	OffRspEvent = 12 // RING_IDX rsp_event
	OffPvt      = 16 // 4-byte private union (netif.smartpoll_active, ...)
	HeaderSize  = 64 // entries start here
	PageSize    = 4096
	// MaxPageOrder is the largest ring-page-order this package is tested
	// with (Linux blkback allows up to 4; larger orders work the same way).
	MaxPageOrder = 4
)

// StormLimit is how many consecutive notifications that bring no new work a
// side accepts (see Back.Notified) before it declares the peer hostile. A
// well-behaved peer notifies only after pushing, so it stays far below this.
const StormLimit = 1024

var (
	// ErrBroken is wrapped by every error that reports a ring the peer has
	// corrupted; once broken a ring stays broken.
	ErrBroken = errors.New("ring broken by peer")
	// ErrFull is returned by the producer when no slot is free.
	ErrFull = errors.New("ring full")
	// ErrNoOutstanding is returned by a Back asked to respond when every
	// consumed request already has its response slot.
	ErrNoOutstanding = errors.New("no request outstanding for a response")
	// ErrNotifyStorm is wrapped (with ErrBroken) when a peer keeps notifying
	// without producing anything.
	ErrNotifyStorm = errors.New("notification storm on an empty ring")
)

// EntriesFor returns the number of entries ring.h gives a shared area of
// size bytes with entries of entrySize bytes: (size-64)/entrySize rounded
// down to a power of two (__RING_SIZE / __RD32). It is 0 when nothing fits.
func EntriesFor(size, entrySize int) uint32 {
	if entrySize <= 0 || size < HeaderSize+entrySize {
		return 0
	}
	n := uint64(size-HeaderSize) / uint64(entrySize)
	if n > 1<<31 {
		n = 1 << 31
	}
	return rd32(uint32(n))
}

// rd32 rounds down to a power of two, as __RD32 does (0 stays 0).
func rd32(x uint32) uint32 {
	if x == 0 {
		return 0
	}
	p := uint32(1)
	for x > 1 {
		x >>= 1
		p <<= 1
	}
	return p
}

// shared holds what both sides know about the shared area.
type shared struct {
	mem   []byte
	entry uintptr // entry size in bytes
	size  uint32  // nr_ents, a power of two
	mask  uint32
	// The four shared indices, pointing into mem.
	reqProd, reqEvent, rspProd, rspEvent *atomic.Uint32
	entries                              unsafe.Pointer // &mem[HeaderSize], kept alive by mem
}

func newShared(mem []byte, entrySize int) (shared, error) {
	n := EntriesFor(len(mem), entrySize)
	if n == 0 {
		return shared{}, fmt.Errorf("ring: %d bytes hold no %d-byte entry after the %d-byte header", len(mem), entrySize, HeaderSize)
	}
	if !aligned(mem, 8) {
		return shared{}, errors.New("ring: shared area is not 8-byte aligned")
	}
	return shared{
		mem:      mem,
		entry:    uintptr(entrySize),
		size:     n,
		mask:     n - 1,
		reqProd:  word(mem, OffReqProd),
		reqEvent: word(mem, OffReqEvent),
		rspProd:  word(mem, OffRspProd),
		rspEvent: word(mem, OffRspEvent),
		entries:  entriesBase(mem),
	}, nil
}

// slot returns entry idx (masked) as a slice of shared memory.
func (s *shared) slot(idx uint32) []byte {
	off := HeaderSize + uintptr(idx&s.mask)*s.entry
	return s.mem[off : off+s.entry : off+s.entry]
}

// Init writes an empty shared ring header (SHARED_RING_INIT): both producer
// indices 0, both event indices 1, private union and padding zeroed. Only the
// frontend initialises a ring; NewFront calls it.
func Init(mem []byte) error {
	if len(mem) < HeaderSize || !aligned(mem, 8) {
		return errors.New("ring: shared area too small or misaligned")
	}
	word(mem, OffReqProd).Store(0)
	word(mem, OffRspProd).Store(0)
	word(mem, OffReqEvent).Store(1)
	word(mem, OffRspEvent).Store(1)
	clear(mem[OffPvt:HeaderSize])
	return nil
}

type cacheLinePad [64]byte

// Back is the backend's view of a shared ring (struct <name>_back_ring): it
// consumes requests and produces responses. See the package doc for the call
// protocol; a Back is used by one goroutine at a time.
type Back struct {
	_ cacheLinePad
	shared
	rspProdPvt uint32 // responses produced, not necessarily pushed
	reqCons    uint32 // requests consumed (copied out)
	reqLimit   uint32 // last validated req_prod: reqCons may run up to it
	rspPushed  uint32 // rsp_prod as we last published it
	spurious   uint32 // consecutive Notified calls that found no work
	err        error  // non-nil once the frontend broke the ring
	_          cacheLinePad
}

// NewBack attaches a backend to a ring the frontend initialised, like
// BACK_RING_ATTACH with the ring's current rsp_prod (0 for a fresh ring, as
// BACK_RING_INIT). entrySize is the size of the request/response union.
func NewBack(mem []byte, entrySize int) (*Back, error) {
	s, err := newShared(mem, entrySize)
	if err != nil {
		return nil, err
	}
	i := s.rspProd.Load()
	return &Back{shared: s, rspProdPvt: i, reqCons: i, reqLimit: i, rspPushed: i}, nil
}

// Size returns the number of entries (RING_SIZE).
func (b *Back) Size() uint32 { return b.size }

// EntrySize returns the size in bytes of one slot.
func (b *Back) EntrySize() int { return int(b.entry) }

// Err returns the error that broke the ring, or nil.
func (b *Back) Err() error { return b.err }

func (b *Back) fail(format string, args ...any) error {
	if b.err == nil {
		b.err = fmt.Errorf("%w: "+format, append([]any{ErrBroken}, args...)...)
	}
	b.reqLimit = b.reqCons // the fast paths now fall into refill, which fails
	return b.err
}

// refill loads req_prod once and validates it against what this side knows
// (RING_REQUEST_PROD_OVERFLOW, and no moving backwards). It returns the
// number of requests that may be consumed.
func (b *Back) refill() (uint32, error) {
	if b.err != nil {
		return 0, b.err
	}
	prod := b.reqProd.Load()
	ahead := prod - b.rspProdPvt
	if ahead > b.size {
		return 0, b.fail("req_prod %d is %d entries ahead of the responses (ring has %d)", prod, ahead, b.size)
	}
	if ahead < b.reqCons-b.rspProdPvt {
		return 0, b.fail("req_prod %d moved back behind req_cons %d", prod, b.reqCons)
	}
	if prod != b.reqLimit {
		b.spurious = 0
	}
	b.reqLimit = prod
	return prod - b.reqCons, nil
}

// Unconsumed returns how many requests are ready to be consumed
// (RING_HAS_UNCONSUMED_REQUESTS), validating req_prod on the way.
func (b *Back) Unconsumed() (uint32, error) { return b.refill() }

// CopyRequest copies the next request into dst (at least EntrySize bytes) and
// consumes it (RING_COPY_REQUEST; req_cons++). ok is false when none is ready.
func (b *Back) CopyRequest(dst []byte) (ok bool, err error) {
	if b.reqCons == b.reqLimit {
		if n, err := b.refill(); n == 0 {
			return false, err
		}
	}
	copy(dst[:b.entry], b.slot(b.reqCons))
	b.reqCons++
	return true, nil
}

// ResponseSlot returns the shared slot for the next response and produces it
// (rsp_prod_pvt++); the caller fills it before PushResponses. It fails when
// every consumed request already has a response.
func (b *Back) ResponseSlot() ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	if b.rspProdPvt == b.reqCons {
		return nil, ErrNoOutstanding
	}
	s := b.slot(b.rspProdPvt)
	b.rspProdPvt++
	return s, nil
}

// PutResponse copies src (EntrySize bytes or fewer) into the next response slot.
func (b *Back) PutResponse(src []byte) error {
	s, err := b.ResponseSlot()
	if err != nil {
		return err
	}
	copy(s, src)
	return nil
}

// PushResponses publishes the responses produced so far and reports whether
// the frontend asked to be notified (RING_PUSH_RESPONSES_AND_CHECK_NOTIFY).
// The "old" producer is the value this side last published, so a frontend
// scribbling on rsp_prod cannot suppress or force anything but its own events.
func (b *Back) PushResponses() (notify bool) {
	old, new := b.rspPushed, b.rspProdPvt
	if old == new {
		return false
	}
	b.rspProd.Store(new) // seq-cst store: entries before index, index before event read
	b.rspPushed = new
	return new-b.rspEvent.Load() < new-old
}

// FinalCheckForRequests is RING_FINAL_CHECK_FOR_REQUESTS: call it before
// sleeping. If nothing is pending it sets req_event to req_cons+1, so the
// frontend's next push notifies, and checks once more.
func (b *Back) FinalCheckForRequests() (bool, error) {
	n, err := b.refill()
	if n > 0 || err != nil {
		return n > 0, err
	}
	b.reqEvent.Store(b.reqCons + 1)
	n, err = b.refill()
	return n > 0, err
}

// Notified is called when the frontend's event arrives; it returns the number
// of requests ready. More than StormLimit consecutive notifications without
// new requests mark the ring broken with ErrNotifyStorm.
func (b *Back) Notified() (uint32, error) {
	n, err := b.refill()
	if err != nil || n > 0 {
		return n, err
	}
	b.spurious++
	if b.spurious > StormLimit {
		return 0, b.fail("%w: %d notifications without a request", ErrNotifyStorm, b.spurious)
	}
	return 0, nil
}

// Front is the frontend's view of a shared ring (struct <name>_front_ring): it
// produces requests and consumes responses. A Front is used by one goroutine
// at a time.
type Front struct {
	_ cacheLinePad
	shared
	reqProdPvt uint32 // requests produced, not necessarily pushed
	rspCons    uint32 // responses consumed
	rspLimit   uint32 // last validated rsp_prod
	reqPushed  uint32 // req_prod as we last published it
	spurious   uint32
	err        error
	_          cacheLinePad
}

// NewFront initialises the shared ring (SHARED_RING_INIT) and attaches a
// frontend to it (FRONT_RING_INIT).
func NewFront(mem []byte, entrySize int) (*Front, error) {
	s, err := newShared(mem, entrySize)
	if err != nil {
		return nil, err
	}
	if err := Init(mem); err != nil {
		return nil, err
	}
	return &Front{shared: s}, nil
}

// Size returns the number of entries (RING_SIZE).
func (f *Front) Size() uint32 { return f.size }

// EntrySize returns the size in bytes of one slot.
func (f *Front) EntrySize() int { return int(f.entry) }

// Err returns the error that broke the ring, or nil.
func (f *Front) Err() error { return f.err }

func (f *Front) fail(format string, args ...any) error {
	if f.err == nil {
		f.err = fmt.Errorf("%w: "+format, append([]any{ErrBroken}, args...)...)
	}
	f.rspLimit = f.rspCons
	return f.err
}

// Free returns how many requests can be produced (RING_FREE_REQUESTS).
func (f *Front) Free() uint32 { return f.size - (f.reqProdPvt - f.rspCons) }

// RequestSlot returns the shared slot for the next request and produces it
// (req_prod_pvt++); the caller fills it before PushRequests.
func (f *Front) RequestSlot() ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	if f.reqProdPvt-f.rspCons == f.size {
		return nil, ErrFull
	}
	s := f.slot(f.reqProdPvt)
	f.reqProdPvt++
	return s, nil
}

// PutRequest copies src into the next request slot.
func (f *Front) PutRequest(src []byte) error {
	s, err := f.RequestSlot()
	if err != nil {
		return err
	}
	copy(s, src)
	return nil
}

// PushRequests publishes the requests produced so far and reports whether the
// backend asked to be notified (RING_PUSH_REQUESTS_AND_CHECK_NOTIFY).
func (f *Front) PushRequests() (notify bool) {
	old, new := f.reqPushed, f.reqProdPvt
	if old == new {
		return false
	}
	f.reqProd.Store(new)
	f.reqPushed = new
	return new-f.reqEvent.Load() < new-old
}

func (f *Front) refill() (uint32, error) {
	if f.err != nil {
		return 0, f.err
	}
	prod := f.rspProd.Load()
	got := prod - f.rspCons
	if got > f.reqPushed-f.rspCons { // also RING_RESPONSE_PROD_OVERFLOW
		return 0, f.fail("rsp_prod %d claims %d responses, only %d requests outstanding", prod, got, f.reqPushed-f.rspCons)
	}
	if prod != f.rspLimit {
		f.spurious = 0
	}
	f.rspLimit = prod
	return got, nil
}

// Unconsumed returns how many responses are ready
// (RING_HAS_UNCONSUMED_RESPONSES), validating rsp_prod on the way.
func (f *Front) Unconsumed() (uint32, error) { return f.refill() }

// CopyResponse copies the next response into dst and consumes it.
func (f *Front) CopyResponse(dst []byte) (ok bool, err error) {
	if f.rspCons == f.rspLimit {
		if n, err := f.refill(); n == 0 {
			return false, err
		}
	}
	copy(dst[:f.entry], f.slot(f.rspCons))
	f.rspCons++
	return true, nil
}

// FinalCheckForResponses is RING_FINAL_CHECK_FOR_RESPONSES.
func (f *Front) FinalCheckForResponses() (bool, error) {
	n, err := f.refill()
	if n > 0 || err != nil {
		return n > 0, err
	}
	f.rspEvent.Store(f.rspCons + 1)
	n, err = f.refill()
	return n > 0, err
}

// Notified is Back.Notified for the frontend.
func (f *Front) Notified() (uint32, error) {
	n, err := f.refill()
	if err != nil || n > 0 {
		return n, err
	}
	f.spurious++
	if f.spurious > StormLimit {
		return 0, f.fail("%w: %d notifications without a response", ErrNotifyStorm, f.spurious)
	}
	return 0, nil
}
