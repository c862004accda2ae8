package grant

import (
	"sync/atomic"
	"unsafe"
)

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
