package xendev

import (
	"runtime"
	"unsafe"

	"github.com/xfeat/xfeat/backends/grant"
)

// copyBatchSize is how many segments one IOCTL_GNTDEV_GRANT_COPY carries;
// a longer Copy makes several calls.
const copyBatchSize = 64

// Copier copies between local buffers and the pages one domain granted
// (IOCTL_GNTDEV_GRANT_COPY), with the contract of the sandbox's
// grant.Mapper.Copy: each op gets its own grant.Status, and the result is
// the number of ops that failed. Safe for concurrent use: each call takes
// one of the Copier's segment batches (up to parallel calls at once, more
// wait their turn), so nothing is allocated per call.
type Copier struct {
	dev  *GntDev
	dom  grant.DomID
	free chan *copyBatch
}

// copyBatch is one call's ioctl argument, reused.
type copyBatch struct {
	segs [copyBatchSize]gntdevCopySegment
	op   [copyBatchSize]int32 // segs[i] is ops[op[i]]
	arg  gntdevGrantCopy
	// ops holds the call's ops while the kernel reads the addresses of
	// their local buffers from segs: storing the parameter makes the
	// compiler keep those buffers on the heap (where nothing moves) and
	// this keeps them reachable.
	ops []grant.CopyOp
}

// NewCopier returns a Copier for the grants of domain dom that serves up
// to parallel calls at once (runtime.GOMAXPROCS(0) when parallel <= 0).
func (d *GntDev) NewCopier(dom grant.DomID, parallel int) *Copier {
	if parallel <= 0 {
		parallel = runtime.GOMAXPROCS(0)
	}
	c := &Copier{dev: d, dom: dom, free: make(chan *copyBatch, parallel)}
	for range parallel {
		c.free <- &copyBatch{}
	}
	return c
}

// Dom returns the domain whose grants c copies.
func (c *Copier) Dom() grant.DomID { return c.dom }

// Copy performs ops (see CopyOps) and returns how many failed.
func (c *Copier) Copy(ops []grant.CopyOp) (failed int) {
	failed, _ = c.CopyOps(ops)
	return failed
}

// CopyOps performs ops and sets each op's Status: a grant side (Local ==
// nil) names a ref of the Copier's domain, a local side a buffer of this
// process. An op the kernel would reject for the whole call (both sides
// local, a grant side crossing its page, a local side outside its buffer)
// gets grant.StatusBadCopyArg without reaching the kernel; Xen's own
// refusals (a bad ref, a read-only grant written) are the op's GNTST
// status. err is set only when a call itself failed (its ops then have
// grant.StatusGeneralError): the device closed, or the kernel refused.
func (c *Copier) CopyOps(ops []grant.CopyOp) (failed int, err error) {
	b := <-c.free
	b.ops = ops
	n := 0
	flush := func() {
		if n == 0 {
			return
		}
		if e := c.dev.copy(b, n); e != nil {
			if err == nil {
				err = e
			}
			for i := range n {
				ops[b.op[i]].Status = grant.StatusGeneralError
			}
		} else {
			for i := range n {
				ops[b.op[i]].Status = grant.Status(b.segs[i].status)
			}
		}
		n = 0
	}
	for i := range ops {
		if !c.segment(&b.segs[n], &ops[i]) {
			ops[i].Status = grant.StatusBadCopyArg
			continue
		}
		b.op[n] = int32(i)
		if n++; n == copyBatchSize {
			flush()
		}
	}
	flush()
	b.ops = nil
	c.free <- b
	for i := range ops {
		if ops[i].Status != grant.StatusOkay {
			failed++
		}
	}
	return failed, err
}

// segment encodes op as a gntdev_grant_copy_segment, or reports false when
// the kernel would refuse it.
func (c *Copier) segment(s *gntdevCopySegment, op *grant.CopyOp) bool {
	if op.Src.Local != nil && op.Dst.Local != nil {
		return false
	}
	*s = gntdevCopySegment{len: op.Len}
	var ok bool
	if s.source, ok = c.side(&op.Src, op.Len); !ok {
		return false
	}
	if s.dest, ok = c.side(&op.Dst, op.Len); !ok {
		return false
	}
	if op.Src.Local == nil {
		s.flags |= gntcopySourceGref
	}
	if op.Dst.Local == nil {
		s.flags |= gntcopyDestGref
	}
	return true
}

// side encodes one side: a local buffer's address, or {ref u32, offset
// u16, domid u16} in the union's 8 bytes.
func (c *Copier) side(p *grant.CopyPtr, n uint16) (uint64, bool) {
	off, end := int(p.Offset), int(p.Offset)+int(n)
	if p.Local != nil {
		if end > len(p.Local) {
			return 0, false
		}
		return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(p.Local))) + uintptr(off)), true
	}
	if end > grant.PageSize {
		return 0, false
	}
	return uint64(p.Ref) | uint64(p.Offset)<<32 | uint64(c.dom)<<48, true
}

// copy issues one IOCTL_GNTDEV_GRANT_COPY for b's first n segments.
func (d *GntDev) copy(b *copyBatch, n int) error {
	for i := range n {
		b.segs[i].status = 0
	}
	b.arg = gntdevGrantCopy{count: uint32(n), segments: uintptr(unsafe.Pointer(&b.segs[0]))}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.fd < 0 {
		return d.errorf("IOCTL_GNTDEV_GRANT_COPY", ErrDeviceClosed, "")
	}
	if _, e := ioctl(d.fd, ioctlGntdevGrantCopy, unsafe.Pointer(&b.arg)); e != 0 {
		return d.errorf("IOCTL_GNTDEV_GRANT_COPY", e, "%d segments", n)
	}
	return nil
}
