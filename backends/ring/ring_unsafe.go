package ring

import (
	"sync/atomic"
	"unsafe"
)

// word returns the shared 32-bit index at off in b. b+off must be 4-byte
// aligned (newShared checks the base is 8-byte aligned).
func word(b []byte, off int) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(&b[off : off+4][0]))
}

func aligned(b []byte, n uintptr) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%n == 0
}

// at returns a pointer to slot idx (masked) without a bounds check: the mask
// keeps it inside the entries region newShared sized.
func (s *shared) at(idx uint32) unsafe.Pointer {
	return unsafe.Add(s.entries, uintptr(idx&s.mask)*s.entry)
}

func entriesBase(mem []byte) unsafe.Pointer { return unsafe.Pointer(&mem[HeaderSize]) }
