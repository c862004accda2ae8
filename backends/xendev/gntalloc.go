package xendev

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xfeat/xfeat/backends/grant"
)

// MaxSharePages bounds one Share (the xen_gntalloc module's own limit,
// 1024 pages by default, applies to the whole device).
const MaxSharePages = 1 << 10

// GntAlloc is an open /dev/xen/gntalloc: pages of this domain granted to
// another, as a frontend grants its rings and buffers. Safe for concurrent
// use.
type GntAlloc struct {
	path string
	mu   sync.RWMutex // read-held by every use of fd; Close write-locks
	fd   int          // -1 once closed
}

// OpenGntAlloc opens /dev/xen/gntalloc.
func OpenGntAlloc() (*GntAlloc, error) { return openGntAlloc(GntAllocPath) }

func openGntAlloc(path string) (*GntAlloc, error) {
	fd, err := openDev(path, gntallocModule, 0)
	if err != nil {
		return nil, err
	}
	return &GntAlloc{path: path, fd: fd}, nil
}

func (a *GntAlloc) errorf(op string, err error, detail string, args ...any) error {
	return &DeviceError{Device: a.path, Module: gntallocModule, Op: op, Detail: fmt.Sprintf(detail, args...), Err: err}
}

// Close closes the device. Shared pages stay shared until Unshare (the
// kernel ends the grants when the last mapping goes).
func (a *GntAlloc) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fd < 0 {
		return nil
	}
	err := unix.Close(a.fd)
	a.fd = -1
	if err != nil {
		return a.errorf("close", err, "")
	}
	return nil
}

// Share is pages of this domain granted to one domain.
type Share struct {
	Mem      []byte      // the pages, zeroed at allocation, always writable here
	Refs     []grant.Ref // Refs[i] grants page i
	Dom      grant.DomID // the domain they are granted to
	Writable bool        // whether Dom may write them (else GTF_readonly)

	a     *GntAlloc
	index uint64
}

// Share allocates pages zeroed pages, grants each to dom (writable or
// read-only: IOCTL_GNTALLOC_ALLOC_GREF) and maps them here.
func (a *GntAlloc) Share(dom grant.DomID, pages int, writable bool) (*Share, error) {
	const op = "IOCTL_GNTALLOC_ALLOC_GREF"
	if pages < 1 || pages > MaxSharePages {
		return nil, a.errorf(op, unix.EINVAL, "domain %d, %d pages: 1..%d allowed", dom, pages, MaxSharePages)
	}
	// Header then one u32 ref per page, in u64 words for alignment.
	hdrSize := int(unsafe.Sizeof(gntallocAllocGref{}))
	req := make([]uint64, (hdrSize+4*pages+7)/8)
	hdr := (*gntallocAllocGref)(unsafe.Pointer(&req[0]))
	*hdr = gntallocAllocGref{domid: uint16(dom), count: uint32(pages)}
	if writable {
		hdr.flags = gntallocFlagWritable
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.fd < 0 {
		return nil, a.errorf(op, ErrDeviceClosed, "")
	}
	if _, e := ioctl(a.fd, ioctlGntallocAllocGref, unsafe.Pointer(hdr)); e != 0 {
		return nil, a.errorf(op, e, "domain %d, %d pages, %s", dom, pages, protName(writable))
	}
	ids := unsafe.Slice((*uint32)(unsafe.Add(unsafe.Pointer(hdr), hdrSize)), pages)
	s := &Share{Refs: make([]grant.Ref, pages), Dom: dom, Writable: writable, a: a, index: hdr.index}
	for i, id := range ids {
		s.Refs[i] = grant.Ref(id)
	}
	size := uintptr(pages) * grant.PageSize
	p, err := unix.MmapPtr(a.fd, int64(s.index), nil, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		a.dealloc(s.index, pages)
		return nil, a.errorf("mmap", err, "domain %d, %d pages", dom, pages)
	}
	s.Mem = unsafe.Slice((*byte)(p), size)
	return s, nil
}

// Unshare unmaps the pages and ends their grants (munmap, then
// IOCTL_GNTALLOC_DEALLOC_GREF). A grant the other domain still maps ends
// when it unmaps: the kernel keeps the page until then.
func (s *Share) Unshare() error {
	if s.a == nil {
		return errors.New("xendev: Unshare of pages already unshared")
	}
	a, mem := s.a, s.Mem
	s.a, s.Mem = nil, nil
	if err := unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(mem)), uintptr(len(mem))); err != nil {
		return a.errorf("munmap", err, "domain %d, %d pages", s.Dom, len(s.Refs))
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.fd < 0 {
		return nil
	}
	return a.dealloc(s.index, len(s.Refs))
}

// Must hold a.mu (read).
func (a *GntAlloc) dealloc(index uint64, pages int) error {
	arg := gntallocDeallocGref{index: index, count: uint32(pages)}
	if _, e := ioctl(a.fd, ioctlGntallocDeallocGref, unsafe.Pointer(&arg)); e != 0 {
		return a.errorf("IOCTL_GNTALLOC_DEALLOC_GREF", e, "%d pages at index %#x", pages, index)
	}
	return nil
}
