package blkback

import (
	"unsafe"

	"github.com/xfeat/xfeat/backends/ring"
)

// unsafeBytes views a []uint64 as bytes (an 8-byte aligned buffer).
func unsafeBytes(u []uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(u))), len(u)*8)
}

// addBytePtr advances an iovec base into the same buffer.
func addBytePtr(p *byte, n uintptr) *byte { return (*byte)(unsafe.Add(unsafe.Pointer(p), n)) }

func unsafePointer(r *ring.BlkifRequest) unsafe.Pointer { return unsafe.Pointer(r) }
