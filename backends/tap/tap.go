// Package tap opens Linux TAP devices for the network data paths (netback's
// host-side vif<domid>.<devid> and the sandbox guest's interface), encodes and
// decodes the virtio-net header that carries checksum and segmentation
// offloads across a TAP (IFF_VNET_HDR), and finds and completes the transport
// checksum of an Ethernet frame. netlink.go does the link plumbing (bridges,
// network namespaces, addresses) over rtnetlink.
//
// Invariants: a Device has one file per queue (IFF_MULTI_QUEUE), opened
// non-blocking so that reads park the goroutine on Go's poller and Close
// unblocks them; the device exists exactly while one of its queues is open
// (no TUNSETPERSIST), except one Reserve made, which exists until Release. A Device has a virtio-net header exactly when some
// offload was asked for: without one the kernel completes checksums and
// segments before a frame reaches us, and we must hand it plain frames.
// Nothing here allocates per frame.
package tap

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TunPath is the clone device.
const TunPath = "/dev/net/tun"

// VnetHdrLen is the size of struct virtio_net_hdr (no mergeable buffers).
const VnetHdrLen = 10

// virtio_net_hdr flags and GSO types (linux/virtio_net.h).
const (
	VnetFlagNeedsCsum = 1
	VnetFlagDataValid = 2

	VnetGSONone  = 0
	VnetGSOTCPv4 = 1
	VnetGSOUDP   = 3
	VnetGSOTCPv6 = 4
	VnetGSOECN   = 0x80
)

// VnetHdr is struct virtio_net_hdr (little-endian on every architecture
// xfeat runs on; TUNSETVNETLE is the default there).
type VnetHdr struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
}

// Decode reads a header from b (at least VnetHdrLen bytes).
func (h *VnetHdr) Decode(b []byte) {
	_ = b[VnetHdrLen-1]
	h.Flags = b[0]
	h.GSOType = b[1]
	h.HdrLen = uint16(b[2]) | uint16(b[3])<<8
	h.GSOSize = uint16(b[4]) | uint16(b[5])<<8
	h.CsumStart = uint16(b[6]) | uint16(b[7])<<8
	h.CsumOffset = uint16(b[8]) | uint16(b[9])<<8
}

// Encode writes the header into b (at least VnetHdrLen bytes).
func (h *VnetHdr) Encode(b []byte) {
	_ = b[VnetHdrLen-1]
	b[0] = h.Flags
	b[1] = h.GSOType
	b[2], b[3] = byte(h.HdrLen), byte(h.HdrLen>>8)
	b[4], b[5] = byte(h.GSOSize), byte(h.GSOSize>>8)
	b[6], b[7] = byte(h.CsumStart), byte(h.CsumStart>>8)
	b[8], b[9] = byte(h.CsumOffset), byte(h.CsumOffset>>8)
}

// Offloads are what the reader of a TAP accepts from the kernel: frames
// with a partial checksum (Csum), and TCP segments larger than the MTU
// (TSO4, TSO6; both need Csum). They become the device's features, which
// `ethtool -k` shows.
type Offloads struct {
	Csum, TSO4, TSO6 bool
}

// Any says whether a virtio-net header is needed at all.
func (o Offloads) Any() bool { return o.Csum || o.TSO4 || o.TSO6 }

func (o Offloads) flags() int {
	f := 0
	if o.Csum {
		f |= unix.TUN_F_CSUM
		if o.TSO4 {
			f |= unix.TUN_F_TSO4
		}
		if o.TSO6 {
			f |= unix.TUN_F_TSO6
		}
	}
	return f
}

// Device is an open TAP device: one file per queue.
type Device struct {
	Name    string
	Queues  []*os.File
	VnetHdr bool // every read and write starts with a VnetHdr
}

// ErrNeedsNetAdmin is wrapped when the TAP cannot be created for lack of
// privilege (or of /dev/net/tun).
var ErrNeedsNetAdmin = errors.New("needs CAP_NET_ADMIN and /dev/net/tun")

// Create creates TAP device name with queues queues (multi-queue even for
// one, so every device behaves alike) and the given offloads. The device is
// down; bring it up with SetUp or through netlink.
func Create(name string, queues int, off Offloads) (*Device, error) {
	return CreateAt(TunPath, name, queues, off)
}

// CreateAt is Create with another clone device path (tests use a missing
// one to play a host without /dev/net/tun).
func CreateAt(tunPath, name string, queues int, off Offloads) (*Device, error) {
	if queues < 1 || queues > 256 {
		return nil, fmt.Errorf("tap %s: %d queues (1..256)", name, queues)
	}
	if len(name) == 0 || len(name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("tap %q: an interface name has 1 to %d characters", name, unix.IFNAMSIZ-1)
	}
	d := &Device{Name: name, VnetHdr: off.Any()}
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_MULTI_QUEUE)
	if d.VnetHdr {
		flags |= unix.IFF_VNET_HDR
	}
	for i := 0; i < queues; i++ {
		fd, err := unix.Open(tunPath, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			d.Close()
			if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) {
				return nil, fmt.Errorf("tap %s: opening %s: %v: %w", name, tunPath, err, ErrNeedsNetAdmin)
			}
			return nil, fmt.Errorf("tap %s: opening %s: %w", name, tunPath, err)
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(fd)
			d.Close()
			return nil, err
		}
		ifr.SetUint16(flags)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			d.Close()
			if errors.Is(err, unix.EPERM) {
				return nil, fmt.Errorf("tap %s: TUNSETIFF: %v: %w", name, err, ErrNeedsNetAdmin)
			}
			if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EINVAL) {
				return nil, fmt.Errorf("tap %s: TUNSETIFF: %v (an interface of that name exists already?)", name, err)
			}
			return nil, fmt.Errorf("tap %s: TUNSETIFF: %w", name, err)
		}
		if d.VnetHdr {
			if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, VnetHdrLen); err != nil {
				unix.Close(fd)
				d.Close()
				return nil, fmt.Errorf("tap %s: TUNSETVNETHDRSZ: %w", name, err)
			}
		}
		if i == 0 {
			if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, off.flags()); err != nil {
				unix.Close(fd)
				d.Close()
				return nil, fmt.Errorf("tap %s: TUNSETOFFLOAD: %w", name, err)
			}
		}
		// A non-blocking fd given to os.NewFile is served by the poller:
		// Read parks the goroutine, Close wakes it.
		d.Queues = append(d.Queues, os.NewFile(uintptr(fd), TunPath))
	}
	return d, nil
}

// Close closes every queue; the device goes with the last one.
func (d *Device) Close() error {
	var first error
	for _, f := range d.Queues {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	d.Queues = nil
	return first
}

// IsClosed reports whether err is what a read or write on a queue returns
// once the device was closed under it.
func IsClosed(err error) bool {
	return errors.Is(err, os.ErrClosed) || errors.Is(err, syscall.EBADFD) || errors.Is(err, syscall.EBADF)
}

// Reserve makes TAP device name exist before its queues do: multi-queue,
// persistent (TUNSETPERSIST), no queue attached, down. A real host's
// hotplug script needs the vif's interface when the backend goes
// InitWait (xl's vif-bridge puts vif<domid>.<devid> on its bridge, and
// renames it for vifname=), before the guest has connected any queue;
// CreateAt later attaches the queues to it, the first attach setting the
// virtio-net header, and closing them leaves it in place for the next
// connection. An existing reserved TAP of that name is taken over (a
// backend restarted). It returns the interface index, which survives a
// rename; Release removes the device.
func Reserve(tunPath, name string) (ifindex int, err error) {
	if len(name) == 0 || len(name) >= unix.IFNAMSIZ {
		return 0, fmt.Errorf("tap %q: an interface name has 1 to %d characters", name, unix.IFNAMSIZ-1)
	}
	fd, err := unix.Open(tunPath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) {
			return 0, fmt.Errorf("tap %s: opening %s: %v: %w", name, tunPath, err, ErrNeedsNetAdmin)
		}
		return 0, fmt.Errorf("tap %s: opening %s: %w", name, tunPath, err)
	}
	defer unix.Close(fd) // detaches: the device stays, persistent
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_MULTI_QUEUE)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		if errors.Is(err, unix.EPERM) {
			return 0, fmt.Errorf("tap %s: TUNSETIFF: %v: %w", name, err, ErrNeedsNetAdmin)
		}
		return 0, fmt.Errorf("tap %s: TUNSETIFF: %v (an interface of that name, not a multi-queue TAP, exists already?)", name, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
		return 0, fmt.Errorf("tap %s: TUNSETPERSIST: %w", name, err)
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		return 0, fmt.Errorf("tap %s: %w", name, err)
	}
	return l.Attrs().Index, nil
}
