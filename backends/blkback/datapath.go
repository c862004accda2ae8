package blkback

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/platform"
	"github.com/xfeat/xfeat/backends/ring"
	"github.com/xfeat/xfeat/backends/xenbus"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xsclient"
)

// The data path.
//
// Server serves a connected vbd's queues. Each queue has one worker
// goroutine (the worker pool is one worker per queue, as Linux's
// xen_blkif_schedule thread per ring): it takes requests off its ring in
// batches, copies each out of shared memory once, validates it completely,
// does the I/O with one preadv/pwritev straight on the guest's granted pages
// (mapped through the grant table, read-only for a write), and answers.
//
// Invariants:
//   - Nothing in a request is trusted: operation, segment counts, sector
//     ranges (overflow included), grant references and indirect pages are
//     checked before any I/O, and a bad request gets BLKIF_RSP_ERROR (or
//     EOPNOTSUPP for an operation not offered) without touching the image.
//   - A ring the frontend breaks (producer index past the ring, a
//     notification storm) fails that device: error node and Closing. No
//     other device is affected.
//   - Every grant a request maps is unmapped before its response is pushed,
//     except persistent grants, which stay mapped (at most
//     MaxPersistentGrants per queue, least recently used ones go first) until
//     the device stops; Stop leaves no mapping behind.
//   - The request path allocates nothing (all buffers are per queue, made at
//     Start).

// GrantAccess is what the data path needs from the host beyond
// platform.Backend: the frontend domain's grant table itself, to map
// data pages (and keep them mapped, for persistent grants) and to copy
// indirect segment pages. The sandbox host's platform implements it.
type GrantAccess interface {
	// OpenGrants returns the mapper of domain fe's grants; the table stays
	// open until release is called.
	OpenGrants(fe uint32) (m *grant.Mapper, release func(), err error)
}

// DefaultMaxPersistentGrants is the number of persistently mapped grants a
// queue keeps at most (Linux blkback's max_persistent_grants default).
const DefaultMaxPersistentGrants = 1056

// Server is blkback's data path (a DataPath). It maps data pages through
// the vbd's own grant mapper (platform.GrantMapper, opened by Connect for
// the rings) and copies indirect pages through a grant copier of the
// platform's (platform.Backend.CopyGrants).
type Server struct {
	// XenStore is a privileged connection used to fail a device whose
	// frontend broke its ring (error node, then Closing).
	XenStore *xsclient.Client
	Logf     func(format string, args ...any)
	// MaxPersistentGrants per queue; 0 means DefaultMaxPersistentGrants.
	MaxPersistentGrants int

	mu   sync.Mutex
	vbds map[*Vbd]*served
}

type served struct {
	v       *Vbd
	copier  platform.GrantCopier
	direct  *os.File // O_DIRECT descriptor of the image, or nil
	workers []*worker
	failed  atomic.Bool
}

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

// Stats are a queue's counters (for tests and `xfeat show`-like reports).
type Stats struct {
	Requests, Errors, Unsupported uint64
	Maps, PersistentHits          uint64
	PersistentMapped              int
	Direct                        uint64 // requests served with O_DIRECT
}

// QueueStats returns the counters of every queue of v (nil when v is not
// served).
func (s *Server) QueueStats(v *Vbd) []Stats {
	s.mu.Lock()
	sv := s.vbds[v]
	s.mu.Unlock()
	if sv == nil {
		return nil
	}
	out := make([]Stats, len(sv.workers))
	for i, w := range sv.workers {
		out[i] = Stats{Requests: w.nReq.Load(), Errors: w.nErr.Load(), Unsupported: w.nUnsup.Load(),
			Maps: w.nMaps.Load(), PersistentHits: w.nHits.Load(), PersistentMapped: int(w.nPers.Load()),
			Direct: w.nDirect.Load()}
	}
	return out
}

// Start implements DataPath. A platform that lacks grant copy gets the
// one behaviour of package platform: no request is served, the vbd stays
// connected, and its error node says why.
func (s *Server) Start(v *Vbd) error {
	copier, err := v.driver.Platform.CopyGrants(v.Device.FrontendID)
	if errors.Is(err, platform.ErrUnavailable) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		msg, nerr := xenbus.NoteUnavailable(ctx, s.XenStore, &v.Device, "no I/O is served", err)
		s.logf("%s: %s", &v.Device, msg)
		if nerr != nil {
			s.logf("%s: writing the error node: %v", &v.Device, nerr)
		}
		return nil
	}
	if err != nil {
		return err
	}
	sv := &served{v: v, copier: copier}
	if v.Settings.DirectIO {
		flag := os.O_RDWR
		if v.Settings.ReadOnly {
			flag = os.O_RDONLY
		}
		f, err := os.OpenFile(v.Image.Name(), flag|unix.O_DIRECT, 0)
		if err != nil {
			s.logf("%s: direct-io-safe, but O_DIRECT is refused (%v): buffered I/O", &v.Device, err)
		} else {
			sv.direct = f
		}
	}
	maxP := s.MaxPersistentGrants
	if maxP <= 0 {
		maxP = DefaultMaxPersistentGrants
	}
	for _, q := range v.Queues {
		sv.workers = append(sv.workers, newWorker(s, sv, q, maxP))
	}
	s.mu.Lock()
	if s.vbds == nil {
		s.vbds = map[*Vbd]*served{}
	}
	s.vbds[v] = sv
	s.mu.Unlock()
	for _, w := range sv.workers {
		go w.run()
	}
	return nil
}

// Stop implements DataPath: it stops the workers, then unmaps every
// persistent grant.
func (s *Server) Stop(v *Vbd) {
	s.mu.Lock()
	sv := s.vbds[v]
	delete(s.vbds, v)
	s.mu.Unlock()
	if sv == nil {
		return
	}
	for _, w := range sv.workers {
		w.stop.Store(true)
		w.q.Channel.Kick()
	}
	for _, w := range sv.workers {
		<-w.done
		w.pers.clear()
	}
	if sv.direct != nil {
		sv.direct.Close()
	}
	sv.copier.Close()
}

// fail reports a device whose frontend broke the protocol: error node and
// Closing, once; the bus then disconnects it.
func (s *Server) fail(sv *served, q int, err error) {
	if !sv.failed.CompareAndSwap(false, true) {
		return
	}
	dev := &sv.v.Device
	msg := fmt.Sprintf("queue %d: %v", q, err)
	s.logf("%s: data path: %s", dev, msg)
	if s.XenStore == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := xenbus.WriteError(ctx, s.XenStore, dev.BackendID, dev.Backend, msg); err != nil {
		s.logf("%s: writing the error node: %v", dev, err)
	}
	if err := xenbus.SwitchState(ctx, s.XenStore, dev.Backend, pv.Closing); err != nil {
		s.logf("%s: switching to Closing: %v", dev, err)
	}
}

// maxBatch bounds how many requests a worker takes before answering, so the
// first of a burst is not held back by the last.
const maxBatch = 32

// maxSegs is the most segments one request can carry (indirect).
const maxSegs = ring.BlkifMaxIndirectPagesPerRequest * ring.BlkifSegmentsPerIndirectFrame

type worker struct {
	s      *Server
	sv     *served
	q      *Queue
	grants platform.GrantMapper // the vbd's: data pages
	copier platform.GrantCopier // indirect pages

	fd, directFd   int
	sectors        uint64
	readOnly       bool
	flush, barrier bool
	discard        bool
	maxIndirect    int
	persistent     bool
	reqs           []ring.BlkifRequest
	rsps           []ring.BlkifResponse
	segs           []ring.BlkifSegment
	iov            []unix.Iovec
	// The current request's pages mapped for it alone (not persistent),
	// as one batch: refs[i] of segment at[i], mapped into pages[i].
	refs           []grant.Ref
	at             []int
	pages          [][]byte
	handles        []grant.Handle
	indirect       []byte // copies of a request's indirect pages
	copies         [ring.BlkifMaxIndirectPagesPerRequest]grant.CopyOp
	pers           *persistentGrants
	stop           atomic.Bool
	done           chan struct{}
	loggedBad      int
	nReq, nErr     atomic.Uint64
	nUnsup, nMaps  atomic.Uint64
	nHits, nDirect atomic.Uint64
	nPers          atomic.Int64
}

func newWorker(s *Server, sv *served, q *Queue, maxPersistent int) *worker {
	v := sv.v
	w := &worker{s: s, sv: sv, q: q, grants: v.grants, copier: sv.copier, fd: int(v.Image.Fd()), directFd: -1,
		sectors: v.Sectors, readOnly: v.Settings.ReadOnly, flush: v.Settings.FlushCache,
		barrier: v.Settings.Barrier, discard: v.Settings.Discard,
		maxIndirect: int(v.Settings.MaxIndirectSegments), persistent: v.Negotiated.Persistent,
		done: make(chan struct{})}
	if sv.direct != nil {
		w.directFd = int(sv.direct.Fd())
	}
	batch := int(q.Ring.Size())
	if batch > maxBatch {
		batch = maxBatch
	}
	w.reqs = make([]ring.BlkifRequest, batch)
	w.rsps = make([]ring.BlkifResponse, batch)
	n := ring.BlkifMaxSegmentsPerRequest
	if w.maxIndirect > n {
		n = w.maxIndirect
	}
	w.segs = make([]ring.BlkifSegment, n)
	w.iov = make([]unix.Iovec, n)
	w.refs, w.at = make([]grant.Ref, n), make([]int, n)
	w.pages, w.handles = make([][]byte, n), make([]grant.Handle, n)
	if w.maxIndirect > 0 {
		pages := (w.maxIndirect + ring.BlkifSegmentsPerIndirectFrame - 1) / ring.BlkifSegmentsPerIndirectFrame
		// uint64 backing keeps the copies 8-byte aligned for BlkifSegments.
		w.indirect = unsafeBytes(make([]uint64, pages*ring.PageSize/8))
	}
	if w.persistent {
		w.pers = newPersistentGrants(v.grants, maxPersistent)
	}
	return w
}

func (w *worker) run() {
	defer close(w.done)
	r := w.q.Ring
	for !w.stop.Load() {
		n, err := r.NextRequests(w.reqs)
		if err != nil {
			w.s.fail(w.sv, w.q.Index, err)
			return
		}
		if n > 0 {
			for i := range w.reqs[:n] {
				req := &w.reqs[i]
				w.rsps[i] = ring.BlkifResponse{ID: req.ID, Operation: responseOp(req), Status: w.handle(req)}
			}
			r.PutResponses(w.rsps[:n])
			if r.PushResponses() {
				w.q.Channel.Notify()
			}
			continue
		}
		// Under load the next request is microseconds away and a
		// wakeup costs more: look again for a short while before
		// asking to be notified and sleeping.
		if w.poll() {
			continue
		}
		more, err := r.FinalCheckForRequests()
		if err != nil {
			w.s.fail(w.sv, w.q.Index, err)
			return
		}
		if more {
			continue
		}
		if _, err := w.q.Channel.Wait(0); err != nil || w.stop.Load() {
			return
		}
		if _, err := r.Notified(); err != nil {
			w.s.fail(w.sv, w.q.Index, err)
			return
		}
	}
}

// responseOp is the operation a response to req carries: the request's,
// but an indirect request's own (indirect_op), as Linux's blkback answers;
// Linux's blkfront disables a disk whose indirect request is answered as
// BLKIF_OP_INDIRECT ("response has wrong operation").
func responseOp(req *ring.BlkifRequest) uint8 {
	if req.Operation == ring.BlkifOpIndirect {
		return req.Indirect().IndirectOp
	}
	return req.Operation
}

// pollRounds is how many times an idle worker yields and looks at its
// ring before sleeping on the event channel.
const pollRounds = 64

func (w *worker) poll() bool {
	for range pollRounds {
		runtime.Gosched()
		if n, err := w.q.Ring.Unconsumed(); n > 0 || err != nil || w.stop.Load() {
			return true
		}
	}
	return false
}

// bad counts a refused request and logs the first few of each queue (a
// hostile frontend must not flood the log).
func (w *worker) bad(status int16, why string) int16 {
	if status == ring.BlkifRspEOPNOTSUPP {
		w.nUnsup.Add(1)
	} else {
		w.nErr.Add(1)
	}
	if w.loggedBad < 8 {
		w.loggedBad++
		w.s.logf("%s: queue %d: request refused: %s", &w.sv.v.Device, w.q.Index, why)
	}
	return status
}

// handle serves one request (a copy, out of shared memory) and returns its
// status.
func (w *worker) handle(req *ring.BlkifRequest) int16 {
	w.nReq.Add(1)
	switch req.Operation {
	case ring.BlkifOpRead, ring.BlkifOpWrite:
		n := int(req.NrSegments)
		if n == 0 || n > ring.BlkifMaxSegmentsPerRequest {
			return w.bad(ring.BlkifRspError, "segment count out of range")
		}
		copy(w.segs, req.Seg[:n])
		return w.rw(req.Operation, req.SectorNumber, w.segs[:n])
	case ring.BlkifOpIndirect:
		return w.indirectRW(req.Indirect())
	case ring.BlkifOpFlushDiskcache, ring.BlkifOpWriteBarrier:
		if (req.Operation == ring.BlkifOpFlushDiskcache && !w.flush) || (req.Operation == ring.BlkifOpWriteBarrier && !w.barrier) {
			return w.bad(ring.BlkifRspEOPNOTSUPP, "flush or barrier not offered")
		}
		// Requests of a queue are served in order and each write is
		// complete when answered, so a barrier is a flush here.
		if err := unix.Fdatasync(w.fd); err != nil {
			return w.bad(ring.BlkifRspError, "fdatasync failed")
		}
		return ring.BlkifRspOkay
	case ring.BlkifOpDiscard:
		return w.discardOp(req.Discard())
	default:
		return w.bad(ring.BlkifRspEOPNOTSUPP, "unknown operation")
	}
}

func (w *worker) indirectRW(ind *ring.BlkifRequestIndirect) int16 {
	if w.maxIndirect == 0 {
		return w.bad(ring.BlkifRspEOPNOTSUPP, "indirect requests not offered")
	}
	op := ind.IndirectOp
	if op != ring.BlkifOpRead && op != ring.BlkifOpWrite {
		return w.bad(ring.BlkifRspError, "indirect request of an operation other than read or write")
	}
	n := int(ind.NrSegments)
	if n == 0 || n > w.maxIndirect {
		return w.bad(ring.BlkifRspError, "indirect segment count out of range")
	}
	pages := (n + ring.BlkifSegmentsPerIndirectFrame - 1) / ring.BlkifSegmentsPerIndirectFrame
	ops := w.copies[:pages]
	for i := range ops {
		ops[i] = grant.CopyOp{
			Src: grant.CopyPtr{Ref: grant.Ref(ind.IndirectGrefs[i])},
			Dst: grant.CopyPtr{Local: w.indirect[i*ring.PageSize : (i+1)*ring.PageSize]},
			Len: ring.PageSize,
		}
	}
	if w.copier.Copy(ops) != 0 {
		return w.bad(ring.BlkifRspError, "indirect page not granted")
	}
	for i := 0; i < pages; i++ {
		segs := ring.BlkifSegments(w.indirect[i*ring.PageSize:])
		k := n - i*ring.BlkifSegmentsPerIndirectFrame
		if k > ring.BlkifSegmentsPerIndirectFrame {
			k = ring.BlkifSegmentsPerIndirectFrame
		}
		copy(w.segs[i*ring.BlkifSegmentsPerIndirectFrame:], segs[:k])
	}
	return w.rw(op, ind.SectorNumber, w.segs[:n])
}

func (w *worker) discardOp(d *ring.BlkifRequestDiscard) int16 {
	if !w.discard {
		return w.bad(ring.BlkifRspEOPNOTSUPP, "discard not offered")
	}
	if d.Flag&ring.BlkifDiscardSecure != 0 {
		return w.bad(ring.BlkifRspEOPNOTSUPP, "secure discard not offered")
	}
	if d.SectorNumber > w.sectors || d.NrSectors > w.sectors-d.SectorNumber {
		return w.bad(ring.BlkifRspError, "discard past the end of the disk")
	}
	if d.NrSectors == 0 {
		return ring.BlkifRspOkay
	}
	err := unix.Fallocate(w.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE,
		int64(d.SectorNumber)*ring.BlkifSectorSize, int64(d.NrSectors)*ring.BlkifSectorSize)
	if err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			return w.bad(ring.BlkifRspEOPNOTSUPP, "the image's file system cannot punch holes")
		}
		return w.bad(ring.BlkifRspError, "hole punching failed")
	}
	return ring.BlkifRspOkay
}

// rw checks the segments and the sector range, maps the pages and does the
// I/O with one system call.
func (w *worker) rw(op uint8, sector uint64, segs []ring.BlkifSegment) int16 {
	write := op == ring.BlkifOpWrite
	if write && w.readOnly {
		return w.bad(ring.BlkifRspError, "write to a read-only disk")
	}
	var total uint64
	for i := range segs {
		s := &segs[i]
		if s.FirstSect > s.LastSect || s.LastSect >= ring.BlkifSectorsPerPage {
			return w.bad(ring.BlkifRspError, "segment sectors out of the page")
		}
		total += uint64(s.LastSect-s.FirstSect) + 1
	}
	if sector > w.sectors || total > w.sectors-sector {
		return w.bad(ring.BlkifRspError, "sectors past the end of the disk")
	}
	// Persistent grants are mapped writable (the frontend grants them so);
	// the other pages are mapped for this request only, in one batch,
	// read-only for a write (it only reads guest memory).
	aligned := w.directFd >= 0
	if w.pers != nil {
		w.pers.gen++
	}
	batch := 0
	for i := range segs {
		if w.pers != nil {
			page, hit, err := w.pers.get(grant.Ref(segs[i].Gref))
			if hit {
				w.nHits.Add(1)
			} else if err == nil {
				w.nMaps.Add(1)
			}
			if err == nil {
				w.setIov(i, &segs[i], page)
				continue
			}
			if err != errTableFull {
				return w.bad(ring.BlkifRspError, "segment grant cannot be mapped")
			}
		}
		w.refs[batch], w.at[batch] = grant.Ref(segs[i].Gref), i
		batch++
	}
	if batch > 0 {
		if err := w.grants.Map(w.refs[:batch], !write, w.pages[:batch], w.handles[:batch]); err != nil {
			return w.bad(ring.BlkifRspError, "segment grant cannot be mapped")
		}
		w.nMaps.Add(uint64(batch))
		for k, i := range w.at[:batch] {
			w.setIov(i, &segs[i], w.pages[k])
		}
	}
	if w.pers != nil {
		w.nPers.Store(int64(w.pers.n))
	}
	fd := w.fd
	if aligned {
		fd = w.directFd
	}
	err := rwv(fd, write, w.iov[:len(segs)], int64(sector)*ring.BlkifSectorSize, int64(total)*ring.BlkifSectorSize)
	if err == unix.EINVAL && fd != w.fd {
		// The device wants a larger alignment than this request has.
		fd = w.fd
		err = rwv(fd, write, w.iov[:len(segs)], int64(sector)*ring.BlkifSectorSize, int64(total)*ring.BlkifSectorSize)
	}
	if batch > 0 {
		w.grants.Unmap(w.handles[:batch])
	}
	if err != nil {
		return w.bad(ring.BlkifRspError, "I/O error on the image")
	}
	if fd != w.fd {
		w.nDirect.Add(1)
	}
	return ring.BlkifRspOkay
}

// setIov points iov[i] at segment s's sectors of page.
func (w *worker) setIov(i int, s *ring.BlkifSegment, page []byte) {
	b := page[int(s.FirstSect)*ring.BlkifSectorSize : (int(s.LastSect)+1)*ring.BlkifSectorSize]
	w.iov[i].Base = &b[0]
	w.iov[i].SetLen(len(b))
}

var (
	errShort     = errors.New("short transfer")
	errTableFull = errors.New("persistent grant table full")
)

// rwv is preadv/pwritev of want bytes at off, resuming after a partial
// transfer. It allocates nothing.
func rwv(fd int, write bool, iov []unix.Iovec, off, want int64) error {
	nr := uintptr(unix.SYS_PREADV)
	if write {
		nr = unix.SYS_PWRITEV
	}
	for want > 0 {
		n, _, e := unix.Syscall6(nr, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)), uintptr(off), 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		if n == 0 {
			return errShort
		}
		want -= int64(n)
		off += int64(n)
		if want == 0 {
			return nil
		}
		// Skip what was transferred.
		left := uint64(n)
		for len(iov) > 0 && left >= iov[0].Len {
			left -= iov[0].Len
			iov = iov[1:]
		}
		if len(iov) == 0 {
			return errShort
		}
		iov[0].Base = addBytePtr(iov[0].Base, uintptr(left))
		iov[0].Len -= left
	}
	return nil
}

// persistentGrants is one queue's persistently mapped grants: a fixed table
// and an index by grant reference, evicted least-recently-used first
// (a clock) when full. It allocates nothing once built.
type persistentGrants struct {
	m    platform.GrantMapper
	ref  [1]grant.Ref // Map's batch of one
	page [1][]byte
	h    [1]grant.Handle
	max  int
	n    int
	ents []pgrant
	idx  map[grant.Ref]int32
	hand int
	gen  uint64
}

type pgrant struct {
	ref     grant.Ref
	handle  grant.Handle
	page    []byte
	used    bool   // referenced since the clock hand last passed
	lastGen uint64 // request generation that last used it
}

func newPersistentGrants(m platform.GrantMapper, max int) *persistentGrants {
	return &persistentGrants{m: m, max: max, ents: make([]pgrant, max), idx: make(map[grant.Ref]int32, max)}
}

func (p *persistentGrants) get(ref grant.Ref) ([]byte, bool, error) {
	if i, ok := p.idx[ref]; ok {
		e := &p.ents[i]
		e.used, e.lastGen = true, p.gen
		return e.page, true, nil
	}
	slot := p.n
	if p.n == p.max {
		// Every entry serving the current request means a request with
		// more segments than the table: the caller maps this one for
		// the request only, as Linux does past max_persistent_grants.
		if slot = p.evict(); slot < 0 {
			return nil, false, errTableFull
		}
	}
	p.ref[0] = ref
	err := p.m.Map(p.ref[:], true, p.page[:], p.h[:])
	if err != nil {
		if slot != p.n { // an entry was evicted for nothing: keep the table dense
			if last := p.n - 1; slot != last {
				p.ents[slot] = p.ents[last]
				p.idx[p.ents[slot].ref] = int32(slot)
			}
			p.n--
			p.hand = 0
		}
		return nil, false, err
	}
	if slot == p.n {
		p.n++
	}
	p.ents[slot] = pgrant{ref: ref, handle: p.h[0], page: p.page[0], used: true, lastGen: p.gen}
	p.idx[ref] = int32(slot)
	return p.page[0], false, nil
}

// evict unmaps the least recently used entry not used by the current
// request and returns its slot, or -1.
func (p *persistentGrants) evict() int {
	for range 2 * p.max {
		e := &p.ents[p.hand]
		i := p.hand
		p.hand = (p.hand + 1) % p.max
		if e.lastGen == p.gen {
			continue
		}
		if e.used {
			e.used = false
			continue
		}
		p.h[0] = e.handle
		p.m.Unmap(p.h[:])
		delete(p.idx, e.ref)
		return i
	}
	return -1
}

func (p *persistentGrants) clear() {
	if p == nil {
		return
	}
	for i := range p.ents[:p.n] {
		p.h[0] = p.ents[i].handle
		p.m.Unmap(p.h[:])
	}
	p.n = 0
	clear(p.idx)
}
