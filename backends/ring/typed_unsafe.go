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
		if n, err := b.refill(); n == 0 {
			return false, err
		}
	}
	*dst = *(*Req)(b.at(b.reqCons))
	b.reqCons++
	return true, nil
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

// NextResponse copies the next response out once and consumes it.
func (f *FrontOf[Req, Rsp]) NextResponse(dst *Rsp) (ok bool, err error) {
	if f.rspCons == f.rspLimit {
		if n, err := f.refill(); n == 0 {
			return false, err
		}
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
