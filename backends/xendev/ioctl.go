package xendev

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The devices and the kernel modules that provide them.
const (
	GntDevPath   = "/dev/xen/gntdev"
	GntAllocPath = "/dev/xen/gntalloc"
	EvtchnPath   = "/dev/xen/evtchn"

	gntdevModule   = "xen-gntdev"
	gntallocModule = "xen-gntalloc"
	evtchnModule   = "xen-evtchn"
)

// ioc is Linux's _IOC(_IOC_NONE, typ, nr, size): the Xen devices declare
// every ioctl with direction "none" and the argument's size.
func ioc(typ byte, nr uintptr, size uintptr) uintptr {
	return size<<16 | uintptr(typ)<<8 | nr
}

// The uapi structs, laid out as in include/uapi/xen/*.h on amd64 (checked
// against the installed headers by TestLayoutAgainstLinuxHeaders).

// struct ioctl_gntdev_grant_ref.
type gntdevGrantRef struct {
	domid uint32
	ref   uint32
}

// struct ioctl_gntdev_map_grant_ref, without its variable refs array, which
// follows it in memory.
type gntdevMapGrantRef struct {
	count uint32
	pad   uint32
	index uint64
}

// struct ioctl_gntdev_unmap_grant_ref.
type gntdevUnmapGrantRef struct {
	index uint64
	count uint32
	pad   uint32
}

// struct ioctl_gntdev_set_max_grants.
type gntdevSetMaxGrants struct {
	count uint32
}

// struct gntdev_grant_copy_segment. source and dest are each a union of a
// user virtual address (local side) and {ref u32, offset u16, domid u16}
// (grant side); flags says which (GNTCOPY_source_gref, GNTCOPY_dest_gref).
type gntdevCopySegment struct {
	source uint64
	dest   uint64
	len    uint16
	flags  uint16
	status int16
	_      uint16
}

// struct ioctl_gntdev_grant_copy.
type gntdevGrantCopy struct {
	count    uint32
	_        uint32
	segments uintptr
}

// struct ioctl_gntalloc_alloc_gref, without its variable gref_ids array.
type gntallocAllocGref struct {
	domid uint16
	flags uint16
	count uint32
	index uint64
}

// struct ioctl_gntalloc_dealloc_gref.
type gntallocDeallocGref struct {
	index uint64
	count uint32
	_     uint32
}

// struct ioctl_evtchn_bind_interdomain.
type evtchnBindInterdomain struct {
	remoteDomain uint32
	remotePort   uint32
}

// struct ioctl_evtchn_bind_unbound_port, _unbind and _notify are one
// unsigned int each.
type evtchnPortArg struct {
	v uint32
}

var (
	ioctlGntdevMapGrantRef   = ioc('G', 0, unsafe.Sizeof(gntdevMapGrantRef{})+unsafe.Sizeof(gntdevGrantRef{}))
	ioctlGntdevUnmapGrantRef = ioc('G', 1, unsafe.Sizeof(gntdevUnmapGrantRef{}))
	ioctlGntdevSetMaxGrants  = ioc('G', 3, unsafe.Sizeof(gntdevSetMaxGrants{}))
	ioctlGntdevGrantCopy     = ioc('G', 8, unsafe.Sizeof(gntdevGrantCopy{}))

	ioctlGntallocAllocGref   = ioc('G', 5, alignUp(unsafe.Sizeof(gntallocAllocGref{})+4, 8))
	ioctlGntallocDeallocGref = ioc('G', 6, unsafe.Sizeof(gntallocDeallocGref{}))

	ioctlEvtchnBindInterdomain = ioc('E', 1, unsafe.Sizeof(evtchnBindInterdomain{}))
	ioctlEvtchnBindUnboundPort = ioc('E', 2, unsafe.Sizeof(evtchnPortArg{}))
	ioctlEvtchnUnbind          = ioc('E', 3, unsafe.Sizeof(evtchnPortArg{}))
	ioctlEvtchnNotify          = ioc('E', 4, unsafe.Sizeof(evtchnPortArg{}))
	ioctlEvtchnReset           = ioc('E', 5, 0)
)

func alignUp(n, a uintptr) uintptr { return (n + a - 1) &^ (a - 1) }

// Grant copy flags (xen/include/public/grant_table.h).
const (
	gntcopySourceGref = 1 << 0
	gntcopyDestGref   = 1 << 1
)

// gntallocFlagWritable is GNTALLOC_FLAG_WRITABLE.
const gntallocFlagWritable = 1

// ioctl calls ioctl(2) on fd with arg (a pointer to the argument, or 0) and
// returns its non-negative result. It allocates nothing.
func ioctl(fd int, req uintptr, arg unsafe.Pointer) (int, unix.Errno) {
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	if e != 0 {
		return -1, e
	}
	return int(r), 0
}

// ErrNoDevice matches the error of opening a Xen device that is not there:
// this is not a Xen domain, or the kernel module providing the device is
// not loaded (DeviceError.Module says which).
var ErrNoDevice = errors.New("xendev: Xen device not present")

// ErrDeviceClosed is returned by operations on a closed device.
var ErrDeviceClosed = errors.New("xendev: device closed")

// DeviceError is a failed operation on a Xen device.
type DeviceError struct {
	Device string // the device path, e.g. /dev/xen/gntdev
	Module string // the kernel module providing it, e.g. xen-gntdev
	Op     string // open, mmap, munmap, read, write, or the ioctl's name
	Detail string // what was asked, e.g. "domain 3, 4 refs"; may be empty
	Err    error  // the errno (unix.Errno) or another cause
	Hint   string // what the errno means here; may be empty
}

func (e *DeviceError) Error() string {
	msg := e.Device + ": " + e.Op
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	msg += ": " + e.Err.Error()
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	if e.missing() {
		msg += fmt.Sprintf(" (not a Xen domain, or the %s module is not loaded: modprobe %s)", e.Module, e.Module)
	}
	return msg
}

func (e *DeviceError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNoDevice) true for a device that is absent.
func (e *DeviceError) Is(target error) bool { return target == ErrNoDevice && e.missing() }

// missing: open failed because the node does not exist (no Xen, no
// module, no devtmpfs) or exists without a driver behind it.
func (e *DeviceError) missing() bool {
	if e.Op != "open" {
		return false
	}
	var errno unix.Errno
	return errors.As(e.Err, &errno) && (errno == unix.ENOENT || errno == unix.ENODEV || errno == unix.ENXIO)
}

// openDev opens a Xen device read-write, close-on-exec, plus extra flags.
func openDev(path, module string, extra int) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|extra, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &DeviceError{Device: path, Module: module, Op: "open", Err: err}
		}
		return fd, nil
	}
}
