package xendev

import (
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xfeat/xfeat/backends/grant"
)

// MaxMapRefs bounds the refs of one Map: the largest a backend needs is a
// ring of 2^max-ring-page-order pages or a request's indirect pages, far
// below this; the kernel's own limit (xen_gntdev's limit parameter) is
// higher still.
const MaxMapRefs = 1 << 12

// GntDev is an open /dev/xen/gntdev: this domain's access to the pages
// other domains granted it. Safe for concurrent use.
type GntDev struct {
	path string
	mu   sync.RWMutex // read-held by every use of fd; Close write-locks
	fd   int          // -1 once closed
}

// OpenGntDev opens /dev/xen/gntdev.
func OpenGntDev() (*GntDev, error) { return openGntDev(GntDevPath) }

func openGntDev(path string) (*GntDev, error) {
	fd, err := openDev(path, gntdevModule, 0)
	if err != nil {
		return nil, err
	}
	return &GntDev{path: path, fd: fd}, nil
}

func (d *GntDev) errorf(op string, err error, detail string, args ...any) error {
	return &DeviceError{Device: d.path, Module: gntdevModule, Op: op, Detail: fmt.Sprintf(detail, args...), Err: err}
}

// Close closes the device. Mappings made through it stay valid until they
// are unmapped (the kernel releases the grants at the last munmap).
func (d *GntDev) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	if err != nil {
		return d.errorf("close", err, "")
	}
	return nil
}

// SetMaxGrants asks the kernel to allow n grants mapped at once through
// this open device (IOCTL_GNTDEV_SET_MAX_GRANTS); it must come before any
// other use. Kernels since the pv-ops rework do not implement it (ENOTTY)
// and have no per-open limit, only the xen_gntdev module's limit
// parameter: then limited is false and err nil, as libxengnttab treats it.
func (d *GntDev) SetMaxGrants(n uint32) (limited bool, err error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.fd < 0 {
		return false, d.errorf("IOCTL_GNTDEV_SET_MAX_GRANTS", ErrDeviceClosed, "")
	}
	arg := gntdevSetMaxGrants{count: n}
	if _, e := ioctl(d.fd, ioctlGntdevSetMaxGrants, unsafe.Pointer(&arg)); e != 0 {
		if e == unix.ENOTTY {
			return false, nil
		}
		return false, d.errorf("IOCTL_GNTDEV_SET_MAX_GRANTS", e, "%d grants", n)
	}
	return true, nil
}

// Mapping is a batch of grant refs of one domain mapped at consecutive
// addresses. The caller owns it and reuses it: Map fills it, Unmap empties
// it, and the request buffer it keeps makes the next Map of as many refs
// allocate nothing. Not for concurrent use.
type Mapping struct {
	// Mem is the pages in ref order, len(refs)*grant.PageSize bytes of
	// guest memory; read-only (PROT_READ) unless mapped writable.
	Mem      []byte
	Dom      grant.DomID
	Writable bool

	dev   *GntDev
	index uint64   // the mmap offset IOCTL_GNTDEV_MAP_GRANT_REF returned
	req   []uint64 // the ioctl's argument: header and refs, 8-byte aligned
}

// Mapped reports whether m holds a mapping.
func (m *Mapping) Mapped() bool { return m.dev != nil }

// mmapRetries bounds mmap's retries on EAGAIN: Xen answers GNTST_eagain
// for a paged-out guest frame, and the pager may need a moment.
const mmapRetries = 100

// Map maps refs of domain dom into m (IOCTL_GNTDEV_MAP_GRANT_REF, then
// mmap of the returned index), writable or PROT_READ only. A ref that is
// not granted to this domain, or granted read-only when writable is asked,
// makes the whole map fail (the kernel does not say which ref): Map then
// releases what the ioctl reserved and m stays empty.
func (d *GntDev) Map(m *Mapping, dom grant.DomID, refs []grant.Ref, writable bool) error {
	const op = "IOCTL_GNTDEV_MAP_GRANT_REF"
	if m.Mapped() {
		return d.errorf(op, errors.New("the Mapping is in use: Unmap it first"), "domain %d", dom)
	}
	n := len(refs)
	if n == 0 || n > MaxMapRefs {
		return d.errorf(op, unix.EINVAL, "domain %d, %d refs: 1..%d allowed", dom, n, MaxMapRefs)
	}
	words := 2 + n // header (count, pad, index) then one {domid, ref} per word
	if cap(m.req) < words {
		m.req = make([]uint64, words)
	}
	req := m.req[:words]
	hdr := (*gntdevMapGrantRef)(unsafe.Pointer(&req[0]))
	*hdr = gntdevMapGrantRef{count: uint32(n)}
	grefs := unsafe.Slice((*gntdevGrantRef)(unsafe.Pointer(&req[2])), n)
	for i, r := range refs {
		grefs[i] = gntdevGrantRef{domid: uint32(dom), ref: uint32(r)}
	}

	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.fd < 0 {
		return d.errorf(op, ErrDeviceClosed, "domain %d", dom)
	}
	if _, e := ioctl(d.fd, ioctlGntdevMapGrantRef, unsafe.Pointer(hdr)); e != 0 {
		return d.errorf(op, e, "domain %d, %s", dom, refList(refs))
	}
	index := hdr.index
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	size := uintptr(n) * grant.PageSize
	var p unsafe.Pointer
	var err error
	for try := 0; ; try++ {
		p, err = unix.MmapPtr(d.fd, int64(index), nil, size, prot, unix.MAP_SHARED)
		if err != unix.EAGAIN || try == mmapRetries {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil {
		un := gntdevUnmapGrantRef{index: index, count: uint32(n)}
		ioctl(d.fd, ioctlGntdevUnmapGrantRef, unsafe.Pointer(&un))
		de := d.errorf("mmap", err, "domain %d, %s, %s", dom, refList(refs), protName(writable)).(*DeviceError)
		if err == unix.EINVAL {
			de.Hint = "Xen refused a ref: not granted to this domain, not in use, or granted read-only and mapped writable"
		}
		return de
	}
	m.Mem = unsafe.Slice((*byte)(p), size)
	m.Dom, m.Writable, m.dev, m.index = dom, writable, d, index
	return nil
}

// Unmap undoes Map: munmap, then IOCTL_GNTDEV_UNMAP_GRANT_REF, in the
// order the kernel requires. m is empty afterwards, ready for another Map,
// whatever the result. After the device's Close only the munmap is done,
// which is enough: the kernel frees the grants with the last reference.
func (m *Mapping) Unmap() error {
	d := m.dev
	if d == nil {
		return errors.New("xendev: Unmap of a Mapping that holds no mapping")
	}
	mem, index, dom := m.Mem, m.index, m.Dom
	n := len(mem) / grant.PageSize
	m.Mem, m.dev, m.index, m.Writable = nil, nil, 0, false
	if err := unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(mem)), uintptr(len(mem))); err != nil {
		return d.errorf("munmap", err, "domain %d, %d pages", dom, n)
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.fd < 0 {
		return nil
	}
	un := gntdevUnmapGrantRef{index: index, count: uint32(n)}
	if _, e := ioctl(d.fd, ioctlGntdevUnmapGrantRef, unsafe.Pointer(&un)); e != 0 {
		return d.errorf("IOCTL_GNTDEV_UNMAP_GRANT_REF", e, "domain %d, %d pages at index %#x", dom, n, index)
	}
	return nil
}

func protName(writable bool) string {
	if writable {
		return "writable"
	}
	return "read-only"
}

// refList formats refs for an error message, the first few only.
func refList(refs []grant.Ref) string {
	const show = 8
	if len(refs) <= show {
		return fmt.Sprintf("refs %v", refs)
	}
	return fmt.Sprintf("%d refs %v...", len(refs), refs[:show])
}
