package sandbox

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xfeat/xfeat/backends/grant"
)

// frameOf returns the guest frame a mapped page of d's memory is.
func frameOf(d *grant.Domain, page []byte) uint32 {
	base, _ := d.Page(0)
	return uint32((uintptr(unsafe.Pointer(&page[0])) - uintptr(unsafe.Pointer(&base[0]))) / grant.PageSize)
}

// framesOf returns n consecutive frames of the guest's own memory view as
// one slice (the guest's memory is one mapping).
func framesOf(d *grant.Domain, first uint32, n int) []byte {
	p, _ := d.Page(first)
	return unsafe.Slice(&p[0], n*grant.PageSize)
}

// mapFrames maps frames of the guest memory file, in order, at consecutive
// addresses, as Xen maps a multi-page ring's grants into one virtual area.
func mapFrames(memFile string, frames []uint32, writable bool) ([]byte, error) {
	flag, prot := os.O_RDONLY, unix.PROT_READ
	if writable {
		flag, prot = os.O_RDWR, unix.PROT_READ|unix.PROT_WRITE
	}
	f, err := os.OpenFile(memFile, flag, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	region, err := unix.Mmap(-1, 0, len(frames)*grant.PageSize, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, err
	}
	for k, fr := range frames {
		addr := uintptr(unsafe.Pointer(&region[k*grant.PageSize]))
		_, _, e := unix.Syscall6(unix.SYS_MMAP, addr, grant.PageSize, uintptr(prot),
			unix.MAP_SHARED|unix.MAP_FIXED, f.Fd(), uintptr(fr)*grant.PageSize)
		if e != 0 {
			unix.Munmap(region)
			return nil, fmt.Errorf("mapping frame %d: %w", fr, e)
		}
	}
	return region, nil
}

func unmapRegion(b []byte) error { return unix.Munmap(b) }
