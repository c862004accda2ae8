package blkfront

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xfeat/xfeat/backends/frontends/footprint"
	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/platform"
	"github.com/xfeat/xfeat/backends/ring"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xsclient"
)

// blkfront data path.
//
// A connected Device is a block device (io.ReaderAt, io.WriterAt, Flush,
// Discard) over its rings. Each queue owns a pool of data pages in guest
// memory, each with a grant reference reserved for it at connect
// (gnttab_alloc_grant_references): with persistent grants the pages stay
// granted writable to the backend for the whole connection and data is
// copied in and out of them (LIFO reuse, as blkif.h recommends); without,
// a page is granted for one request only (read-only for a write) and the
// grant is ended when the response arrives. Requests longer than 11
// segments use indirect pages when the backend offers
// feature-max-indirect-segments.
//
// Grant budget: each queue's pool is sized by footprint.Vbd.Pool (the ring
// size times 11 data pages, at most footprint.BlkPoolPages, and an
// indirect page per ring slot when indirect descriptors are used), which
// is what the toolstack plans a domain with. When the grant table cannot
// give that (a table shared beyond the plan), the device runs with fewer
// pages (fewer requests in flight) and says so in the log; it fails only
// when not even one request fits.
//
// Concurrency: any number of goroutines may do I/O at once; each request
// goes to a queue (round robin), waits for a free slot and pages, and
// sleeps until its response arrives. One goroutine per queue consumes the
// responses.

// GrantTable is what the data path needs of a GuestPlatform beyond xenbus:
// the guest's grant table, to reserve references and grant them per request.
// Pages must also offer Frame(i) (the guest frame of page i).
type GrantTable interface {
	GrantTable() *grant.Domain
}

type framer interface{ Frame(i int) uint32 }

// Errors of the block device.
var (
	ErrNotConnected = errors.New("blkfront: device not connected")
	ErrNotSupported = errors.New("blkfront: operation not offered by the backend")
	ErrIO           = errors.New("blkfront: the backend answered BLKIF_RSP_ERROR")
	ErrUnaligned    = errors.New("blkfront: offset and length must be multiples of 512 bytes")
	ErrReadOnly     = errors.New("blkfront: the disk is read-only")
)

// Features are the backend's offers read at connect.
type Features struct {
	FlushCache, Barrier, Discard bool
	MaxIndirectSegments          int // 0: no indirect
	DiscardGranularity           uint32
	DiscardAlignment             uint32
}

type blkIO struct {
	d        *Device
	dom      *grant.Domain
	be       grant.DomID
	segMax   int // segments per request
	queues   []*blkQueueIO
	next     atomic.Uint32
	readOnly bool
}

type fpage struct {
	mem   []byte
	frame uint32
	ref   grant.Ref
}

type fslot struct {
	done  chan int16
	pages []int32 // data pages of the request
	ind   []int32 // indirect pages
	write bool
	busy  bool
}

type blkQueueIO struct {
	io      *blkIO
	q       *Queue
	mem     platform.Pages
	mu      sync.Mutex
	cond    sync.Cond
	slots   []fslot
	free    []uint16
	pages   []fpage
	freePg  []int32
	ind     []fpage
	freeInd []int32
	broken  error
	stop    atomic.Bool
	started atomic.Bool
	done    chan struct{}
}

func (d *Device) logf(format string, args ...any) {
	if d.drv.Logf != nil {
		d.drv.Logf("%s: "+format, append([]any{&d.dev}, args...)...)
	}
}

// startIO reads the backend's offers and sets the queues' page pools up.
func (d *Device) startIO(ctx context.Context, c *xsclient.Client) error {
	var f Features
	for _, kv := range []struct {
		key string
		dst *bool
	}{{pv.KeyFeatureFlushCache, &f.FlushCache}, {pv.KeyFeatureBarrier, &f.Barrier}, {pv.KeyFeatureDiscard, &f.Discard}} {
		v, err := readBackendUint(ctx, c, &d.dev, kv.key, 0)
		if err != nil {
			return err
		}
		*kv.dst = v != 0
	}
	mi, err := readBackendUint(ctx, c, &d.dev, pv.KeyFeatureMaxIndirectSegs, 0)
	if err != nil {
		return err
	}
	f.MaxIndirectSegments = int(mi)
	g, err := readBackendUint(ctx, c, &d.dev, pv.KeyDiscardGranularity, 512)
	if err != nil {
		return err
	}
	a, err := readBackendUint(ctx, c, &d.dev, pv.KeyDiscardAlignment, 0)
	if err != nil {
		return err
	}
	f.DiscardGranularity, f.DiscardAlignment = uint32(g), uint32(a)
	d.Features = f

	gt, ok := d.drv.Platform.(GrantTable)
	if !ok {
		return nil // a platform without a grant table: control plane only
	}
	pool := footprint.Vbd{Queues: int64(len(d.Queues)), RingPageOrder: int64(d.RingPageOrder), IndirectSegments: int64(f.MaxIndirectSegments)}.Pool()
	io := &blkIO{d: d, dom: gt.GrantTable(), be: grant.DomID(d.dev.BackendID), segMax: int(pool.Segments),
		readOnly: d.Info&ring.VdiskReadonly != 0}
	if len(d.Queues) == 0 {
		return nil
	}
	if err := io.setup(d.Queues, pool); err != nil {
		return err
	}
	d.ioMu.Lock()
	d.io = io
	d.ioMu.Unlock()
	for _, qi := range io.queues {
		go qi.complete()
	}
	return nil
}

// setup sizes the queues' pools to pool, or to what the grant table gives
// when that is less, and builds them. References are reserved first
// (gnttab_alloc_grant_references: a grant made and ended at once keeps its
// reference out of the allocator), then shared evenly between the queues.
func (io *blkIO) setup(queues []*Queue, pool footprint.Pool) error {
	d := io.d
	nq := len(queues)
	indPer := 0
	if pool.IndirectPages > 0 {
		indPer = int(pool.IndirectPages / pool.RingSize)
	}
	dataWant, indWant := int(pool.DataPages), int(pool.IndirectPages)
	want := nq * (dataWant + indWant)
	refs := make([]grant.Ref, 0, want)
	var gerr error
	for len(refs) < want {
		ref, err := io.dom.GrantAccess(io.be, 0, true)
		if err != nil {
			gerr = err
			break
		}
		io.dom.EndAccessRef(ref)
		refs = append(refs, ref)
	}
	share := len(refs) / nq
	data, ind := dataWant, indWant
	if share < dataWant+indWant {
		indirectFits := false
		if indPer > 0 {
			if k := share / (io.segMax + indPer); k >= 1 {
				ind = min(indWant, k*indPer)
				data = min(share-ind, dataWant)
				indirectFits = true
			}
		}
		if !indirectFits { // direct requests only
			io.segMax, indPer, ind, data = ring.BlkifMaxSegmentsPerRequest, 0, 0, min(share, dataWant)
		}
		if data < ring.BlkifMaxSegmentsPerRequest {
			for _, r := range refs {
				io.dom.EndAccess(r)
			}
			return fmt.Errorf("the grant table has room for %d references (%v): not one request per queue fits", len(refs), gerr)
		}
		d.logf("grant table full (%v): %d of %d references; per queue %d of %d data pages and %d of %d indirect pages (requests up to %d KiB); fewer requests in flight",
			gerr, len(refs), want, data, dataWant, ind, indWant, io.segMax*ring.PageSize>>10)
	}
	// Each queue keeps data+ind of its share; the rest go back.
	per := data + ind
	kept := make([]grant.Ref, 0, nq*per)
	for i := range nq {
		kept = append(kept, refs[i*share:i*share+per]...)
		for _, r := range refs[i*share+per : (i+1)*share] {
			io.dom.EndAccess(r)
		}
	}
	for _, r := range refs[nq*share:] {
		io.dom.EndAccess(r)
	}
	for i, q := range queues {
		qi, err := io.newQueue(q, kept[i*per:(i+1)*per], data, ind, indPer)
		if err != nil {
			for _, r := range kept[i*per:] {
				io.dom.EndAccess(r)
			}
			io.close()
			return err
		}
		io.queues = append(io.queues, qi)
	}
	return nil
}

// newQueue builds one queue's pool from reserved references: data pages
// first, then indirect pages.
func (io *blkIO) newQueue(q *Queue, refs []grant.Ref, data, ind, indPer int) (*blkQueueIO, error) {
	d := io.d
	mem, err := d.drv.Platform.AllocPages(data + ind)
	if err != nil {
		return nil, fmt.Errorf("queue %d: data pages: %v", q.Index, err)
	}
	fr, ok := mem.(framer)
	if !ok {
		mem.Free()
		return nil, errors.New("guest pages without frame numbers")
	}
	qi := &blkQueueIO{io: io, q: q, mem: mem, done: make(chan struct{})}
	qi.cond.L = &qi.mu
	for i := 0; i < data+ind; i++ {
		frame := fr.Frame(i)
		// Persistent grants are granted once, writable, for the whole
		// connection; otherwise per request.
		if d.Persistent {
			if err := io.dom.GrantAccessRef(refs[i], io.be, frame, false); err != nil {
				qi.pages = nil
				mem.Free()
				return nil, fmt.Errorf("queue %d: granting page %d: %v", q.Index, i, err)
			}
		}
		p := fpage{mem: mem.Bytes()[i*ring.PageSize : (i+1)*ring.PageSize : (i+1)*ring.PageSize], frame: frame, ref: refs[i]}
		if i < data {
			qi.pages = append(qi.pages, p)
		} else {
			qi.ind = append(qi.ind, p)
		}
	}
	nSlots := int(q.Ring.Size())
	qi.slots = make([]fslot, nSlots)
	for i := range qi.slots {
		qi.slots[i] = fslot{done: make(chan int16, 1), pages: make([]int32, 0, io.segMax), ind: make([]int32, 0, max(indPer, 1))}
		qi.free = append(qi.free, uint16(nSlots-1-i))
	}
	for i := len(qi.pages) - 1; i >= 0; i-- {
		qi.freePg = append(qi.freePg, int32(i))
	}
	for i := len(qi.ind) - 1; i >= 0; i-- {
		qi.freeInd = append(qi.freeInd, int32(i))
	}
	return qi, nil
}

// release ends the grants and frees the pages; pages the backend still
// maps stay allocated (as under Xen, their grants cannot be ended).
func (qi *blkQueueIO) release() {
	stuck := false
	for _, set := range [][]fpage{qi.pages, qi.ind} {
		for _, p := range set {
			if qi.io.d.Persistent {
				if err := qi.io.dom.EndAccess(p.ref); err != nil {
					stuck = true
				}
				continue
			}
			// Reserved only: give the reference back.
			if err := qi.io.dom.EndAccess(p.ref); err != nil && !errors.Is(err, grant.ErrInUse) {
				continue
			} else if err != nil {
				stuck = true
			}
		}
	}
	if stuck {
		qi.io.d.logf("queue %d: the backend still maps data pages; they stay allocated", qi.q.Index)
		return
	}
	qi.mem.Free()
}

// stopIO fails every waiter, waits for every I/O call to leave, stops the
// response goroutines and releases the pools.
func (d *Device) stopIO() {
	d.ioMu.RLock()
	io := d.io
	d.ioMu.RUnlock()
	if io == nil {
		return
	}
	for _, qi := range io.queues {
		qi.mu.Lock()
		if qi.broken == nil {
			qi.broken = ErrNotConnected
		}
		qi.failPendingLocked()
		qi.mu.Unlock()
	}
	d.ioMu.Lock() // every I/O call has returned
	d.io = nil
	d.ioMu.Unlock()
	io.close()
}

func (io *blkIO) close() {
	for _, qi := range io.queues {
		qi.stop.Store(true)
		qi.q.Channel.Kick()
	}
	for _, qi := range io.queues {
		qi.waitStopped()
		qi.release()
	}
}

func (qi *blkQueueIO) waitStopped() {
	// complete() closes done when it returns; a queue whose goroutine
	// never started (setup failed) has nothing to wait for.
	if qi.started.Load() {
		<-qi.done
	}
}

// complete consumes responses and hands their statuses to the waiting
// requests.
func (qi *blkQueueIO) complete() {
	qi.started.Store(true)
	defer close(qi.done)
	r := qi.q.Ring
	var rsp ring.BlkifResponse
	for !qi.stop.Load() {
		qi.mu.Lock()
		n := 0
		var err error
		for {
			ok, e := r.NextResponse(&rsp)
			if e != nil {
				err = e
				break
			}
			if !ok {
				break
			}
			n++
			id := rsp.ID
			if id >= uint64(len(qi.slots)) || !qi.slots[id].busy {
				err = fmt.Errorf("response for request %d, which is not in flight", id)
				break
			}
			select {
			case qi.slots[id].done <- rsp.Status:
			default:
			}
		}
		more := false
		if err == nil && n == 0 && len(qi.free) < len(qi.slots) {
			// Requests in flight: their responses are near, and a
			// wakeup costs more than looking again a few times.
			qi.mu.Unlock()
			more = qi.poll()
			qi.mu.Lock()
		}
		if err == nil && !more {
			more, err = r.FinalCheckForResponses()
		}
		if err != nil {
			qi.breakLocked(err)
			qi.mu.Unlock()
			return
		}
		qi.mu.Unlock()
		if more || n > 0 {
			continue
		}
		if _, err := qi.q.Channel.Wait(0); err != nil {
			return
		}
	}
}

const pollRounds = 64

func (qi *blkQueueIO) poll() bool {
	for range pollRounds {
		runtime.Gosched()
		qi.mu.Lock()
		n, err := qi.q.Ring.Unconsumed()
		qi.mu.Unlock()
		if n > 0 || err != nil || qi.stop.Load() {
			return true
		}
	}
	return false
}

func (qi *blkQueueIO) breakLocked(err error) {
	if qi.broken == nil {
		qi.broken = fmt.Errorf("blkfront: queue %d: %w", qi.q.Index, err)
		qi.io.d.logf("queue %d: %v", qi.q.Index, err)
	}
	qi.failPendingLocked()
}

// failPendingLocked completes every request in flight with an error and
// wakes the callers waiting for a slot, once qi.broken says why. Must hold
// qi.mu.
func (qi *blkQueueIO) failPendingLocked() {
	for i := range qi.slots {
		if qi.slots[i].busy {
			select {
			case qi.slots[i].done <- ring.BlkifRspError:
			default:
			}
		}
	}
	qi.cond.Broadcast()
}

// Size is the disk's size in bytes.
func (d *Device) Size() int64 { return int64(d.Sectors) * ring.BlkifSectorSize }

// MaxRequestBytes is the most data one request carries.
func (d *Device) MaxRequestBytes() int {
	d.ioMu.RLock()
	defer d.ioMu.RUnlock()
	if d.io == nil {
		return 0
	}
	return d.io.segMax * ring.PageSize
}

// ReadAt reads len(p) bytes at off (both multiples of 512).
func (d *Device) ReadAt(p []byte, off int64) (int, error) {
	return d.transfer(ring.BlkifOpRead, p, off)
}

// WriteAt writes p at off (both multiples of 512). It returns once the
// backend acknowledged every request; Flush makes the writes durable.
func (d *Device) WriteAt(p []byte, off int64) (int, error) {
	return d.transfer(ring.BlkifOpWrite, p, off)
}

func (d *Device) transfer(op uint8, p []byte, off int64) (int, error) {
	if off%512 != 0 || len(p)%512 != 0 || off < 0 {
		return 0, ErrUnaligned
	}
	d.ioMu.RLock()
	defer d.ioMu.RUnlock()
	io := d.io
	if io == nil {
		return 0, ErrNotConnected
	}
	if op == ring.BlkifOpWrite && io.readOnly {
		return 0, ErrReadOnly
	}
	if off+int64(len(p)) > d.Size() {
		return 0, fmt.Errorf("blkfront: %d bytes at %d: past the end of the disk (%d bytes)", len(p), off, d.Size())
	}
	chunk := io.segMax * ring.PageSize
	done := 0
	for done < len(p) {
		n := min(chunk, len(p)-done)
		qi := io.queues[int(io.next.Add(1))%len(io.queues)]
		if err := qi.do(op, p[done:done+n], off+int64(done)); err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

// Flush commits written data to stable storage (BLKIF_OP_FLUSH_DISKCACHE;
// a write barrier when the backend only offers that).
func (d *Device) Flush() error {
	d.ioMu.RLock()
	defer d.ioMu.RUnlock()
	io := d.io
	if io == nil {
		return ErrNotConnected
	}
	op := uint8(ring.BlkifOpFlushDiskcache)
	switch {
	case d.Features.FlushCache:
	case d.Features.Barrier:
		op = ring.BlkifOpWriteBarrier
	default:
		return ErrNotSupported
	}
	// Each queue is served in order: a flush on every queue covers the
	// writes acknowledged on all of them.
	for _, qi := range io.queues {
		if err := qi.do(op, nil, 0); err != nil {
			return err
		}
	}
	return nil
}

// Discard tells the backend that n bytes at off are no longer used
// (BLKIF_OP_DISCARD); they read back as zeros afterwards.
func (d *Device) Discard(off, n int64) error {
	if off%512 != 0 || n%512 != 0 || off < 0 || n < 0 {
		return ErrUnaligned
	}
	d.ioMu.RLock()
	defer d.ioMu.RUnlock()
	io := d.io
	if io == nil {
		return ErrNotConnected
	}
	if !d.Features.Discard {
		return ErrNotSupported
	}
	if off+n > d.Size() {
		return fmt.Errorf("blkfront: discard of %d bytes at %d: past the end of the disk", n, off)
	}
	return io.queues[0].doDiscard(off, n)
}

// acquire takes a slot and npages data pages (and indirect pages) from the
// queue, waiting for them.
func (qi *blkQueueIO) acquire(npages, nind int) (uint16, error) {
	for {
		if qi.broken != nil {
			return 0, qi.broken
		}
		if len(qi.free) > 0 && len(qi.freePg) >= npages && len(qi.freeInd) >= nind {
			break
		}
		qi.cond.Wait()
	}
	id := qi.free[len(qi.free)-1]
	qi.free = qi.free[:len(qi.free)-1]
	s := &qi.slots[id]
	s.busy = true
	s.pages = append(s.pages[:0], qi.freePg[len(qi.freePg)-npages:]...)
	qi.freePg = qi.freePg[:len(qi.freePg)-npages]
	s.ind = append(s.ind[:0], qi.freeInd[len(qi.freeInd)-nind:]...)
	qi.freeInd = qi.freeInd[:len(qi.freeInd)-nind]
	return id, nil
}

// releaseSlot ends per-request grants and returns the slot's pages (LIFO).
// Called with mu held.
func (qi *blkQueueIO) releaseSlot(id uint16) {
	s := &qi.slots[id]
	if !qi.io.d.Persistent {
		for _, i := range s.pages {
			if err := qi.io.dom.EndAccessRef(qi.pages[i].ref); err != nil {
				qi.breakLocked(fmt.Errorf("the backend still maps a data page after answering: %v", err))
			}
		}
		for _, i := range s.ind {
			if err := qi.io.dom.EndAccessRef(qi.ind[i].ref); err != nil {
				qi.breakLocked(fmt.Errorf("the backend still maps an indirect page after answering: %v", err))
			}
		}
	}
	qi.freePg = append(qi.freePg, s.pages...)
	qi.freeInd = append(qi.freeInd, s.ind...)
	s.busy = false
	select { // a stale status from a stop or a broken ring
	case <-s.done:
	default:
	}
	qi.free = append(qi.free, id)
	qi.cond.Broadcast()
}

func (qi *blkQueueIO) push() {
	if qi.q.Ring.PushRequests() {
		qi.q.Channel.Notify()
	}
}

// finish frees slot id once its response, with status st, is in, and says
// what the request came to: a ring broken meanwhile outranks a bare I/O
// error.
func (qi *blkQueueIO) finish(id uint16, st int16) error {
	qi.mu.Lock()
	broken := qi.broken
	qi.releaseSlot(id)
	qi.mu.Unlock()
	switch {
	case st == ring.BlkifRspOkay:
		return nil
	case broken != nil:
		return broken
	case st == ring.BlkifRspEOPNOTSUPP:
		return ErrNotSupported
	default:
		return ErrIO
	}
}

// do runs one request: op on buf at off (buf nil for flush/barrier).
func (qi *blkQueueIO) do(op uint8, buf []byte, off int64) error {
	io := qi.io
	npages := (len(buf) + ring.PageSize - 1) / ring.PageSize
	nind := 0
	if npages > ring.BlkifMaxSegmentsPerRequest {
		nind = (npages + ring.BlkifSegmentsPerIndirectFrame - 1) / ring.BlkifSegmentsPerIndirectFrame
	}
	write := op == ring.BlkifOpWrite
	qi.mu.Lock()
	id, err := qi.acquire(npages, nind)
	if err != nil {
		qi.mu.Unlock()
		return err
	}
	s := &qi.slots[id]
	s.write = write
	// Data in, grants on (non-persistent: read-only for a write).
	for k, i := range s.pages {
		pg := &qi.pages[i]
		if write {
			copy(pg.mem, buf[k*ring.PageSize:])
		}
		if !io.d.Persistent {
			if err := io.dom.GrantAccessRef(pg.ref, io.be, pg.frame, write); err != nil {
				qi.releaseSlot(id)
				qi.mu.Unlock()
				return fmt.Errorf("blkfront: granting a data page: %v", err)
			}
		}
	}
	req, err := qi.q.Ring.ProduceRequest()
	if err != nil {
		qi.releaseSlot(id)
		qi.mu.Unlock()
		return err
	}
	seg := func(k int) ring.BlkifSegment {
		n := min(ring.PageSize, len(buf)-k*ring.PageSize)
		return ring.BlkifSegment{Gref: uint32(qi.pages[s.pages[k]].ref), FirstSect: 0, LastSect: uint8(n/512 - 1)}
	}
	if nind == 0 {
		*req = ring.BlkifRequest{Operation: op, NrSegments: uint8(npages), Handle: uint16(io.d.dev.DevID),
			ID: uint64(id), SectorNumber: uint64(off) / 512}
		for k := range npages {
			req.Seg[k] = seg(k)
		}
	} else {
		ind := req.Indirect()
		*ind = ring.BlkifRequestIndirect{Operation: ring.BlkifOpIndirect, IndirectOp: op, NrSegments: uint16(npages),
			ID: uint64(id), SectorNumber: uint64(off) / 512, Handle: uint16(io.d.dev.DevID)}
		for j, i := range s.ind {
			ip := &qi.ind[i]
			segs := ring.BlkifSegments(ip.mem)
			for k := j * ring.BlkifSegmentsPerIndirectFrame; k < min(npages, (j+1)*ring.BlkifSegmentsPerIndirectFrame); k++ {
				segs[k-j*ring.BlkifSegmentsPerIndirectFrame] = seg(k)
			}
			if !io.d.Persistent {
				if err := io.dom.GrantAccessRef(ip.ref, io.be, ip.frame, true); err != nil {
					qi.breakLocked(err)
				}
			}
			ind.IndirectGrefs[j] = uint32(ip.ref)
		}
	}
	qi.push()
	qi.mu.Unlock()

	st := <-s.done

	if st == ring.BlkifRspOkay && !write {
		for k, i := range s.pages {
			copy(buf[k*ring.PageSize:], qi.pages[i].mem)
		}
	}
	return qi.finish(id, st)
}

func (qi *blkQueueIO) doDiscard(off, n int64) error {
	qi.mu.Lock()
	id, err := qi.acquire(0, 0)
	if err != nil {
		qi.mu.Unlock()
		return err
	}
	s := &qi.slots[id]
	req, err := qi.q.Ring.ProduceRequest()
	if err != nil {
		qi.releaseSlot(id)
		qi.mu.Unlock()
		return err
	}
	*req = ring.BlkifRequest{}
	*req.Discard() = ring.BlkifRequestDiscard{Operation: ring.BlkifOpDiscard, Handle: uint16(qi.io.d.dev.DevID),
		ID: uint64(id), SectorNumber: uint64(off) / 512, NrSectors: uint64(n) / 512}
	qi.push()
	qi.mu.Unlock()
	st := <-s.done
	return qi.finish(id, st)
}

// Connected returns device devid once its data path is up, or nil.
func (b *Driver) Connected(devid uint32) *Device {
	d := b.Device(devid)
	if d == nil {
		return nil
	}
	d.ioMu.RLock()
	defer d.ioMu.RUnlock()
	if d.io == nil {
		return nil
	}
	return d
}

// WaitConnected waits until device devid's data path is up.
func (b *Driver) WaitConnected(ctx context.Context, devid uint32) (*Device, error) {
	for {
		if d := b.Connected(devid); d != nil {
			return d, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("blkfront: device %d: %w", devid, ErrNotConnected)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
