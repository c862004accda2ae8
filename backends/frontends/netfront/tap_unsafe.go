package netfront

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// vecIO does readv and writev on a TAP queue through Go's poller, so a
// frame goes between the TAP and the guest's buffer pages without being
// copied through one buffer. The iovec array and the callbacks are
// allocated once; one goroutine uses a vecIO.
type vecIO struct {
	raw     syscall.RawConn
	iov     [maxTxSlots + 3]unix.Iovec
	n       int
	res     int
	errno   syscall.Errno
	writeFn func(fd uintptr) bool
	readFn  func(fd uintptr) bool
}

func newVecIO(f *os.File) *vecIO {
	raw, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	v := &vecIO{raw: raw}
	v.writeFn = func(fd uintptr) bool {
		r, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&v.iov[0])), uintptr(v.n))
		if e == unix.EAGAIN {
			return false // the poller waits for room
		}
		v.res, v.errno = int(r), e
		return true
	}
	v.readFn = func(fd uintptr) bool {
		r, _, e := unix.Syscall(unix.SYS_READV, fd, uintptr(unsafe.Pointer(&v.iov[0])), uintptr(v.n))
		if e == unix.EAGAIN {
			return false // the poller waits for a frame
		}
		v.res, v.errno = int(r), e
		return true
	}
	return v
}

// readv reads one frame into the vector and empties it; it returns the
// bytes read.
func (v *vecIO) readv() (int, error) {
	err := v.raw.Read(v.readFn)
	n := v.n
	v.n = 0
	for i := range v.iov[:n] {
		v.iov[i] = unix.Iovec{}
	}
	if err != nil {
		return 0, err
	}
	if v.errno != 0 {
		return 0, v.errno
	}
	return v.res, nil
}

// add appends b (not empty) to the vector.
func (v *vecIO) add(b []byte) {
	v.iov[v.n].Base = &b[0]
	v.iov[v.n].SetLen(len(b))
	v.n++
}

// writev writes the vector and empties it.
func (v *vecIO) writev() error {
	err := v.raw.Write(v.writeFn)
	n := v.n
	v.n = 0
	for i := range v.iov[:n] {
		v.iov[i] = unix.Iovec{} // hold no pointer into the pages
	}
	if err != nil {
		return err
	}
	if v.errno != 0 {
		return v.errno
	}
	return nil
}
