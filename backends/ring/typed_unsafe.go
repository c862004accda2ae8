package ring

import "unsafe"

// The typed views below are copied in and out of slots as whole structs: one
// fixed-size copy, no per-field decoding, no allocation. This relies on the
// Go structs having the C layout (checked against gcc by layout_test.go) and
// on a little-endian host, which the build constraint of layout_le.go ensures.

// entrySizeOf is sizeof(union { Req req; Rsp rsp; }).
func entrySizeOf[Req, Rsp any]() int {
	var q Req
	var p Rsp
	size := max(unsafe.Sizeof(q), unsafe.Sizeof(p))
	align := max(unsafe.Alignof(q), unsafe.Alignof(p))
	return int((size + align - 1) / align * align)
}

// BackOf is a Back whose requests are Req and responses Rsp (fixed-layout
// structs matching the C union members).
type BackOf[Req, Rsp any] struct{ Back }

// NewBackOf attaches a typed backend (see NewBack).
func NewBackOf[Req, Rsp any](mem []byte) (*BackOf[Req, Rsp], error) {
	b, err := NewBack(mem, entrySizeOf[Req, Rsp]())
	if err != nil {
		return nil, err
	}
	return &BackOf[Req, Rsp]{Back: *b}, nil
}

// NextRequest copies the next request out of shared memory into dst, once,
// and consumes it. ok is false when none is ready; err is non-nil when the
// ring is broken.
func (b *BackOf[Req, Rsp]) NextRequest(dst *Req) (ok bool, err error) {
	if b.reqCons == b.reqLimit {
		return b.nextRequestRefill(dst)
	}
	// Small enough to inline: the common case costs one copy.
	*dst = *(*Req)(b.at(b.reqCons))
	b.reqCons++
	return true, nil
}

func (b *BackOf[Req, Rsp]) nextRequestRefill(dst *Req) (bool, error) {
	if n, err := b.refill(); n == 0 {
		return false, err
	}
	*dst = *(*Req)(b.at(b.reqCons))
	b.reqCons++
	return true, nil
}

// NextRequests copies up to len(dst) requests out of shared memory, each
// once, consumes them and returns how many. It reads req_prod at most once
// per call, and the copy loop runs without a call per request: the batch
// form of NextRequest for backends that handle requests in bursts.
func (b *BackOf[Req, Rsp]) NextRequests(dst []Req) (int, error) {
	avail := b.reqLimit - b.reqCons
	if avail < uint32(len(dst)) {
		n, err := b.refill()
		if err != nil {
			return 0, err
		}
		avail = n
	}
	k := min(uint32(len(dst)), avail)
	// Locals, not fields: stores into dst could alias the Back as far as
	// the compiler knows, so fields would be reloaded every iteration.
	base, mask, es, cons := b.entries, b.mask, b.entry, b.reqCons
	for i := range dst[:k] {
		dst[i] = *(*Req)(unsafe.Add(base, uintptr(cons&mask)*es))
		cons++
	}
	b.reqCons = cons
	return int(k), nil
}

// PutResponse writes rsp into the next response slot (rsp_prod_pvt++).
func (b *BackOf[Req, Rsp]) PutResponse(rsp *Rsp) error {
	if b.err != nil {
		return b.err
	}
	if b.rspProdPvt == b.reqCons {
		return ErrNoOutstanding
	}
	*(*Rsp)(b.at(b.rspProdPvt)) = *rsp
	b.rspProdPvt++
	return nil
}

// PutResponses writes the responses in src into consecutive slots and
// returns how many fit (responses never outnumber consumed requests). The
// batch form of PutResponse.
func (b *BackOf[Req, Rsp]) PutResponses(src []Rsp) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	k := min(uint32(len(src)), b.reqCons-b.rspProdPvt)
	base, mask, es, prod := b.entries, b.mask, b.entry, b.rspProdPvt
	for i := range src[:k] {
		*(*Rsp)(unsafe.Add(base, uintptr(prod&mask)*es)) = src[i]
		prod++
	}
	b.rspProdPvt = prod
	if int(k) < len(src) {
		return int(k), ErrNoOutstanding
	}
	return int(k), nil
}

// ProduceResponse returns the next response slot, in shared memory, and
// produces it (rsp_prod_pvt++): the typed RING_GET_RESPONSE. Writing the
// fields in place avoids a copy; the slot still holds the request that was
// there, so set every field the frontend reads. The pointer is valid until
// PushResponses.
func (b *BackOf[Req, Rsp]) ProduceResponse() (*Rsp, error) {
	if b.err != nil {
		return nil, b.err
	}
	if b.rspProdPvt == b.reqCons {
		return nil, ErrNoOutstanding
	}
	p := (*Rsp)(b.at(b.rspProdPvt))
	b.rspProdPvt++
	return p, nil
}

// FrontOf is a Front whose requests are Req and responses Rsp.
type FrontOf[Req, Rsp any] struct{ Front }

// NewFrontOf initialises the shared ring and attaches a typed frontend.
func NewFrontOf[Req, Rsp any](mem []byte) (*FrontOf[Req, Rsp], error) {
	f, err := NewFront(mem, entrySizeOf[Req, Rsp]())
	if err != nil {
		return nil, err
	}
	return &FrontOf[Req, Rsp]{Front: *f}, nil
}

// PutRequest writes req into the next request slot (req_prod_pvt++).
func (f *FrontOf[Req, Rsp]) PutRequest(req *Req) error {
	if f.err != nil {
		return f.err
	}
	if f.reqProdPvt-f.rspCons == f.size {
		return ErrFull
	}
	*(*Req)(f.at(f.reqProdPvt)) = *req
	f.reqProdPvt++
	return nil
}

// NextResponses copies up to len(dst) responses out, consumes them and
// returns how many (the batch form of NextResponse).
func (f *FrontOf[Req, Rsp]) NextResponses(dst []Rsp) (int, error) {
	avail := f.rspLimit - f.rspCons
	if avail < uint32(len(dst)) {
		n, err := f.refill()
		if err != nil {
			return 0, err
		}
		avail = n
	}
	k := min(uint32(len(dst)), avail)
	base, mask, es, cons := f.entries, f.mask, f.entry, f.rspCons
	for i := range dst[:k] {
		dst[i] = *(*Rsp)(unsafe.Add(base, uintptr(cons&mask)*es))
		cons++
	}
	f.rspCons = cons
	return int(k), nil
}

// PutRequests writes the requests in src into consecutive slots and
// returns how many fit (ErrFull when not all did). The batch form of
// PutRequest.
func (f *FrontOf[Req, Rsp]) PutRequests(src []Req) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	k := min(uint32(len(src)), f.size-(f.reqProdPvt-f.rspCons))
	base, mask, es, prod := f.entries, f.mask, f.entry, f.reqProdPvt
	for i := range src[:k] {
		*(*Req)(unsafe.Add(base, uintptr(prod&mask)*es)) = src[i]
		prod++
	}
	f.reqProdPvt = prod
	if int(k) < len(src) {
		return int(k), ErrFull
	}
	return int(k), nil
}

// ProduceRequest returns the next request slot, in shared memory, and
// produces it (req_prod_pvt++): the typed RING_GET_REQUEST. The slot holds
// whatever was there before, so set every field the backend reads. The
// pointer is valid until PushRequests.
func (f *FrontOf[Req, Rsp]) ProduceRequest() (*Req, error) {
	if f.err != nil {
		return nil, f.err
	}
	if f.reqProdPvt-f.rspCons == f.size {
		return nil, ErrFull
	}
	p := (*Req)(f.at(f.reqProdPvt))
	f.reqProdPvt++
	return p, nil
}

// NextResponse copies the next response out once and consumes it.
func (f *FrontOf[Req, Rsp]) NextResponse(dst *Rsp) (ok bool, err error) {
	if f.rspCons == f.rspLimit {
		return f.nextResponseRefill(dst)
	}
	*dst = *(*Rsp)(f.at(f.rspCons))
	f.rspCons++
	return true, nil
}

func (f *FrontOf[Req, Rsp]) nextResponseRefill(dst *Rsp) (bool, error) {
	if n, err := f.refill(); n == 0 {
		return false, err
	}
	*dst = *(*Rsp)(f.at(f.rspCons))
	f.rspCons++
	return true, nil
}

// Discard reinterprets a copied request whose Operation is BlkifOpDiscard.
func (r *BlkifRequest) Discard() *BlkifRequestDiscard {
	return (*BlkifRequestDiscard)(unsafe.Pointer(r))
}

// Indirect reinterprets a copied request whose Operation is BlkifOpIndirect.
func (r *BlkifRequest) Indirect() *BlkifRequestIndirect {
	return (*BlkifRequestIndirect)(unsafe.Pointer(r))
}

// Extra reinterprets a tx slot that follows a NetTxfExtraInfo request.
func (r *NetifTxRequest) Extra() *NetifExtraInfo { return (*NetifExtraInfo)(unsafe.Pointer(r)) }

// Extra reinterprets an rx slot that follows a NetRxfExtraInfo response
// (both are 8 bytes).
func (r *NetifRxResponse) Extra() *NetifExtraInfo { return (*NetifExtraInfo)(unsafe.Pointer(r)) }

// BlkifSegments reinterprets one indirect page (a copy of it, PageSize bytes)
// as its BlkifSegmentsPerIndirectFrame segments. page must be 4-byte aligned.
func BlkifSegments(page []byte) *[BlkifSegmentsPerIndirectFrame]BlkifSegment {
	return (*[BlkifSegmentsPerIndirectFrame]BlkifSegment)(unsafe.Pointer(&page[:PageSize][0]))
}

var _ = hostLayoutOK // only defined on hosts whose layout matches (layout_le.go)
