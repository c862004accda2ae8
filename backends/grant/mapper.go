package grant

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Handle identifies one mapping made by a Mapper (grant_handle_t).
type Handle uint32

const handleIndexBits = 24

// Mapping is a guest page mapped into a backend. Page aliases guest memory;
// when !Writable it is read-only memory and writing it faults.
type Mapping struct {
	Handle   Handle
	Ref      Ref
	Writable bool
	Page     []byte
}

type mapSlot struct {
	ref      Ref
	writable bool
	used     bool
	gen      uint8
}

// Mapper is a backend domain's access to one guest's grants
// (GNTTABOP_map_grant_ref, unmap_grant_ref and copy on behalf of Backend).
// Safe for concurrent use; Copy takes no Mapper-wide lock and allocates
// nothing.
type Mapper struct {
	Backend DomID
	guest   *Domain
	live    atomic.Int64

	mu    sync.Mutex // guards slots and free
	slots []mapSlot
	free  []uint32
}

// NewMapper returns the access of backend domain backend to guest's grants.
func NewMapper(backend DomID, guest *Domain) *Mapper {
	return &Mapper{Backend: backend, guest: guest}
}

// Guest returns the guest domain this mapper reads from.
func (m *Mapper) Guest() *Domain { return m.guest }

// Mapped returns the number of live mappings (Map minus Unmap).
func (m *Mapper) Mapped() int { return int(m.live.Load()) }

func (p pinRef) lock() {
	w := p.lockWord()
	for i := 0; !w.CompareAndSwap(0, 1); i++ {
		if i > 64 {
			runtime.Gosched()
		}
	}
}

func (p pinRef) unlock() { p.lockWord().Store(0) }

// acquire pins ref for reading (and writing when write) on behalf of the
// backend: the checks and GTF_reading/GTF_writing updates of Xen's
// _set_status_v1, plus the active-entry pin counts. It returns the frame.
//
// Xen answers GNTST_general_error for an entry granted to another domain or
// a write pin of a read-only grant; this host reports
// StatusPermissionDenied for both (and StatusBadGntref for an entry that
// grants nothing) so the caller can tell the cases apart.
func (m *Mapper) acquire(ref Ref, write bool) (uint32, Status) {
	g := m.guest
	if uint32(ref) >= g.n {
		return 0, StatusBadGntref
	}
	p := g.pin(ref)
	p.lock()
	e := g.entry(ref)
	for {
		old := e.load()
		if old&GTFTypeMask != GTFPermitAccess {
			p.unlock()
			return 0, StatusBadGntref
		}
		if DomID(old>>16) != m.Backend || (write && old&GTFReadonly != 0) {
			p.unlock()
			return 0, StatusPermissionDenied
		}
		nw := old | GTFReading
		if write {
			nw |= GTFWriting
		}
		if nw == old || e.word().CompareAndSwap(old, nw) {
			break
		}
	}
	c := p.counts()
	cur := c.Load()
	inc := uint32(1)
	if write {
		inc = 1 << 16
	}
	if (write && cur>>16 == 0xffff) || (!write && cur&0xffff == 0xffff) {
		// Counts this full mean the bits we set were already set.
		p.unlock()
		return 0, StatusNoSpace
	}
	c.Store(cur + inc)
	frame := e.frame().Load()
	if uint64(frame) >= uint64(g.Pages()) {
		m.releaseLocked(p, e, write, cur+inc)
		m.dec(p, write)
		p.unlock()
		return 0, StatusBadPage
	}
	p.unlock()
	return frame, StatusOkay
}

func (m *Mapper) dec(p pinRef, write bool) {
	if write {
		p.counts().Add(^uint32(1<<16 - 1))
	} else {
		p.counts().Add(^uint32(0))
	}
}

// releaseLocked clears GTF_writing when no writable user would remain and
// GTF_reading when no user at all would remain, given counts cur that
// include this user. Must hold the pin lock.
func (m *Mapper) releaseLocked(p pinRef, e entryRef, write bool, cur uint32) {
	after := cur
	if write {
		after -= 1 << 16
	} else {
		after--
	}
	var clr uint32
	if after>>16 == 0 {
		clr |= GTFWriting
	}
	if after == 0 {
		clr |= GTFReading
	}
	if clr == 0 {
		return
	}
	w := e.word()
	for {
		old := w.Load()
		if old&clr == 0 || w.CompareAndSwap(old, old&^clr) {
			return
		}
	}
}

func (m *Mapper) release(ref Ref, write bool) {
	g := m.guest
	p := g.pin(ref)
	p.lock()
	cur := p.counts().Load()
	m.releaseLocked(p, g.entry(ref), write, cur)
	m.dec(p, write)
	p.unlock()
}

// Map maps guest page ref into the backend (GNTTABOP_map_grant_ref):
// writable unless readonly, which must be set for a GTF_readonly grant.
// Errors are Status values (StatusBadGntref, StatusPermissionDenied, ...).
func (m *Mapper) Map(ref Ref, readonly bool) (Mapping, error) {
	mp, _, err := m.mapFrame(ref, readonly)
	return mp, err
}

func (m *Mapper) mapFrame(ref Ref, readonly bool) (Mapping, uint32, error) {
	frame, st := m.acquire(ref, !readonly)
	if st != StatusOkay {
		return Mapping{}, 0, st.Err()
	}
	m.mu.Lock()
	var idx uint32
	if n := len(m.free); n > 0 {
		idx = m.free[n-1]
		m.free = m.free[:n-1]
	} else {
		if len(m.slots) >= 1<<handleIndexBits-1 {
			m.mu.Unlock()
			m.release(ref, !readonly)
			return Mapping{}, 0, StatusNoSpace.Err()
		}
		m.slots = append(m.slots, mapSlot{})
		idx = uint32(len(m.slots) - 1)
	}
	s := &m.slots[idx]
	s.ref, s.writable, s.used = ref, !readonly, true
	s.gen++
	h := Handle(uint32(s.gen)<<handleIndexBits | idx)
	m.mu.Unlock()
	m.live.Add(1)
	o := int(frame) * PageSize
	src := m.guest.mem
	if readonly {
		src = m.guest.memRO
	}
	return Mapping{Handle: h, Ref: ref, Writable: !readonly, Page: src[o : o+PageSize : o+PageSize]}, frame, nil
}

// MapBatch maps refs[i] into pages[i], writable or read-only, handles[i]
// to undo it (platform.GrantMapper's Map): the slices are the caller's, so
// nothing is allocated. On error nothing of the batch stays mapped.
func (m *Mapper) MapBatch(refs []Ref, writable bool, pages [][]byte, handles []Handle) error {
	if len(pages) < len(refs) || len(handles) < len(refs) {
		return StatusGeneralError.Err()
	}
	for i, ref := range refs {
		mp, _, err := m.mapFrame(ref, !writable)
		if err != nil {
			m.UnmapBatch(handles[:i])
			return err
		}
		pages[i], handles[i] = mp.Page, mp.Handle
	}
	return nil
}

// UnmapBatch unmaps handles (platform.GrantMapper's Unmap); the first
// error is returned, every handle is tried.
func (m *Mapper) UnmapBatch(handles []Handle) error {
	var first error
	for _, h := range handles {
		if err := m.Unmap(h); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// RingMapping is several granted pages mapped writable at consecutive
// addresses, as a backend maps a multi-page shared ring (ring-ref0..N-1).
type RingMapping struct {
	// Mem is the pages in ref order, len(refs)*PageSize bytes.
	Mem      []byte
	mappings []Mapping
}

// MapRing maps refs writable and contiguously, whatever frames they name.
// Each page counts as one mapping until UnmapRing.
func (m *Mapper) MapRing(refs []Ref) (*RingMapping, error) {
	if len(refs) == 0 || len(refs) > 1<<10 {
		return nil, StatusGeneralError.Err()
	}
	r := &RingMapping{}
	frames := make([]uint32, len(refs))
	for i, ref := range refs {
		mp, frame, err := m.mapFrame(ref, false)
		if err != nil {
			m.UnmapRing(r)
			return nil, fmt.Errorf("grant: ring-ref%d (%d): %w", i, ref, err)
		}
		r.mappings = append(r.mappings, mp)
		frames[i] = frame
	}
	mem, err := mapContiguous(m.guest.memF, frames)
	if err != nil {
		m.UnmapRing(r)
		return nil, err
	}
	r.Mem = mem
	return r, nil
}

// UnmapRing undoes MapRing.
func (m *Mapper) UnmapRing(r *RingMapping) error {
	var first error
	if r.Mem != nil {
		first = unmapContiguous(r.Mem)
		r.Mem = nil
	}
	for _, mp := range r.mappings {
		if err := m.Unmap(mp.Handle); err != nil && first == nil {
			first = err
		}
	}
	r.mappings = nil
	return first
}

// Unmap releases a mapping (GNTTABOP_unmap_grant_ref). A handle that is not
// live (never mapped, or already unmapped) is StatusBadHandle.
func (m *Mapper) Unmap(h Handle) error {
	idx := uint32(h) & (1<<handleIndexBits - 1)
	m.mu.Lock()
	if int(idx) >= len(m.slots) || !m.slots[idx].used || m.slots[idx].gen != uint8(uint32(h)>>handleIndexBits) {
		m.mu.Unlock()
		return StatusBadHandle.Err()
	}
	s := &m.slots[idx]
	ref, write := s.ref, s.writable
	s.used = false
	m.free = append(m.free, idx)
	m.mu.Unlock()
	m.release(ref, write)
	m.live.Add(-1)
	return nil
}

// CopyPtr is one side of a grant copy (struct gnttab_copy_ptr): either a
// grant reference of the guest (Local == nil), or a local buffer of the
// backend. Offset is into the granted page or into Local.
type CopyPtr struct {
	Ref    Ref
	Offset uint16
	Local  []byte
}

// CopyOp is one GNTTABOP_copy operation. Status is set by Copy.
type CopyOp struct {
	Src, Dst CopyPtr
	Len      uint16
	Status   Status
}

// Copy performs a batch of grant copies (GNTTABOP_copy): for each op it
// checks that a gref source is granted to the backend, a gref destination
// granted writable, and that offset+len stays within the page
// (StatusBadCopyArg otherwise), then copies, holding GTF_reading/GTF_writing
// on the entries only while it does. Each op gets its own Status; the result
// is the number of ops that failed.
func (m *Mapper) Copy(ops []CopyOp) (failed int) {
	for i := range ops {
		op := &ops[i]
		op.Status = m.copyOne(op)
		if op.Status != StatusOkay {
			failed++
		}
	}
	return failed
}

func (m *Mapper) side(p *CopyPtr, n int, write bool) ([]byte, Status) {
	off := int(p.Offset)
	if p.Local != nil {
		if off+n > len(p.Local) {
			return nil, StatusBadCopyArg
		}
		return p.Local[off : off+n], StatusOkay
	}
	if off+n > PageSize {
		return nil, StatusBadCopyArg
	}
	frame, st := m.acquire(p.Ref, write)
	if st != StatusOkay {
		return nil, st
	}
	o := int(frame)*PageSize + off
	return m.guest.mem[o : o+n], StatusOkay
}

func (m *Mapper) copyOne(op *CopyOp) Status {
	n := int(op.Len)
	src, st := m.side(&op.Src, n, false)
	if st != StatusOkay {
		return st
	}
	dst, st := m.side(&op.Dst, n, true)
	if st != StatusOkay {
		if op.Src.Local == nil {
			m.release(op.Src.Ref, false)
		}
		return st
	}
	copy(dst, src)
	if op.Src.Local == nil {
		m.release(op.Src.Ref, false)
	}
	if op.Dst.Local == nil {
		m.release(op.Dst.Ref, true)
	}
	return StatusOkay
}
