package grant

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapContiguous maps the given frames of the memory file at consecutive
// addresses: it reserves the range, then maps each page over it with
// MAP_FIXED (what Xen's map into a vmalloc area achieves).
func mapContiguous(f *os.File, frames []uint32) ([]byte, error) {
	size := uintptr(len(frames)) * PageSize
	base, err := unix.MmapPtr(-1, 0, nil, size, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("grant: reserve ring area: %w", err)
	}
	for i, fr := range frames {
		at := unsafe.Add(base, uintptr(i)*PageSize)
		if _, err := unix.MmapPtr(int(f.Fd()), int64(fr)*PageSize, at, PageSize,
			unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_FIXED); err != nil {
			unix.MunmapPtr(base, size)
			return nil, fmt.Errorf("grant: map ring page %d: %w", i, err)
		}
	}
	return unsafe.Slice((*byte)(base), size), nil
}

func unmapContiguous(b []byte) error {
	return unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)))
}

// entryRef points at one grant_entry_v1. flags and domid are accessed as one
// 32-bit word (flags in the low half on little-endian hosts), so a single
// compare-and-swap checks the domid and updates the flags, as Xen's
// _set_status_v1 does.
type entryRef struct{ p unsafe.Pointer }

func entryAt(table []byte, ref Ref) entryRef {
	return entryRef{unsafe.Pointer(&table[int(ref)*EntrySize])}
}

func (d *Domain) entry(ref Ref) entryRef { return entryAt(d.table, ref) }

func (e entryRef) word() *atomic.Uint32  { return (*atomic.Uint32)(e.p) }
func (e entryRef) frame() *atomic.Uint32 { return (*atomic.Uint32)(unsafe.Add(e.p, offFrame)) }
func (e entryRef) load() uint32          { return e.word().Load() }

// pinRef points at one active entry: lock word, then readers (low 16 bits)
// and writers (high 16 bits) in a second word.
type pinRef struct{ p unsafe.Pointer }

func (d *Domain) pin(ref Ref) pinRef {
	return pinRef{unsafe.Pointer(&d.pins[int(ref)*pinSize])}
}

func (p pinRef) lockWord() *atomic.Uint32 { return (*atomic.Uint32)(p.p) }
func (p pinRef) counts() *atomic.Uint32   { return (*atomic.Uint32)(unsafe.Add(p.p, 4)) }
