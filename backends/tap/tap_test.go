package tap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xfeat/xfeat/internal/testutil"
)

func TestVnetHdrRoundTrip(t *testing.T) {
	h := VnetHdr{Flags: VnetFlagNeedsCsum, GSOType: VnetGSOTCPv6, HdrLen: 74, GSOSize: 1428, CsumStart: 54, CsumOffset: 16}
	var b [VnetHdrLen]byte
	h.Encode(b[:])
	// struct virtio_net_hdr, little-endian: flags, gso_type, hdr_len,
	// gso_size, csum_start, csum_offset.
	want := [VnetHdrLen]byte{1, 4, 74, 0, 0x94, 0x05, 54, 0, 16, 0}
	if b != want {
		t.Fatalf("encoded % x, want % x", b, want)
	}
	var g VnetHdr
	g.Decode(b[:])
	if g != h {
		t.Fatalf("decoded %+v, want %+v", g, h)
	}
}

// frame builds Ethernet + IPv4 or IPv6 + TCP or UDP with payload n.
func frame(v6 bool, proto uint8, vlan bool, n int) []byte {
	var f []byte
	f = append(f, make([]byte, 12)...)
	if vlan {
		f = append(f, 0x81, 0x00, 0, 5)
	}
	if v6 {
		f = append(f, 0x86, 0xdd)
		ip := make([]byte, 40)
		ip[0] = 0x60
		l := 8 + n
		if proto == 6 {
			l = 20 + n
		}
		binary.BigEndian.PutUint16(ip[4:], uint16(l))
		ip[6], ip[7] = proto, 64
		ip[8], ip[23] = 0x20, 1
		ip[24], ip[39] = 0x20, 2
		f = append(f, ip...)
	} else {
		f = append(f, 0x08, 0x00)
		ip := make([]byte, 20)
		ip[0] = 0x45
		ip[8], ip[9] = 64, proto
		copy(ip[12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
		f = append(f, ip...)
	}
	if proto == 6 {
		tcp := make([]byte, 20)
		tcp[12] = 5 << 4
		f = append(f, tcp...)
	} else {
		f = append(f, make([]byte, 8)...)
	}
	for i := 0; i < n; i++ {
		f = append(f, byte(i*7))
	}
	return f
}

func TestFindL4(t *testing.T) {
	for _, c := range []struct {
		v6, vlan bool
		proto    uint8
		want     L4
	}{
		{false, false, 6, L4{Start: 34, CsumOff: 16, HdrLen: 54, Proto: 6}},
		{false, false, 17, L4{Start: 34, CsumOff: 6, HdrLen: 42, Proto: 17}},
		{true, false, 6, L4{Start: 54, CsumOff: 16, HdrLen: 74, Proto: 6, IPv6: true}},
		{true, true, 17, L4{Start: 58, CsumOff: 6, HdrLen: 66, Proto: 17, IPv6: true}},
	} {
		got, ok := FindL4(frame(c.v6, c.proto, c.vlan, 100))
		if !ok || got != c.want {
			t.Errorf("v6 %v vlan %v proto %d: %+v %v, want %+v", c.v6, c.vlan, c.proto, got, ok, c.want)
		}
	}
	f := frame(false, 6, false, 0)
	for n := 0; n < len(f); n++ {
		if _, ok := FindL4(f[:n]); ok {
			t.Errorf("a frame cut at %d bytes parsed", n)
		}
	}
}

// TestCompleteChecksum checks against an independent pseudo-header
// checksum computed 16 bits at a time.
func TestCompleteChecksum(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 999, 1400} {
		for _, v6 := range []bool{false, true} {
			f := frame(v6, 6, false, n)
			l4, _ := FindL4(f)
			seg := f[l4.Start:]
			// pseudo-header sum into the checksum field (partial)
			var ps uint32
			var src, dst []byte
			if v6 {
				src, dst = f[22:38], f[38:54]
			} else {
				src, dst = f[26:30], f[30:34]
			}
			for _, b := range [][]byte{src, dst} {
				for i := 0; i < len(b); i += 2 {
					ps += uint32(b[i])<<8 | uint32(b[i+1])
				}
			}
			ps += 6 + uint32(len(seg))
			for ps>>16 != 0 {
				ps = ps&0xffff + ps>>16
			}
			binary.BigEndian.PutUint16(seg[16:], uint16(ps))
			if !CompleteChecksum(f, l4.Start, l4.CsumOff) {
				t.Fatal("offsets refused")
			}
			// Verify: pseudo header + segment sums to 0xffff.
			sum := ps - ps // 0
			for _, b := range [][]byte{src, dst} {
				for i := 0; i < len(b); i += 2 {
					sum += uint32(b[i])<<8 | uint32(b[i+1])
				}
			}
			sum += 6 + uint32(len(seg))
			for i := 0; i+1 < len(seg); i += 2 {
				sum += uint32(seg[i])<<8 | uint32(seg[i+1])
			}
			if len(seg)%2 == 1 {
				sum += uint32(seg[len(seg)-1]) << 8
			}
			for sum>>16 != 0 {
				sum = sum&0xffff + sum>>16
			}
			if sum != 0xffff {
				t.Errorf("payload %d v6 %v: sum %#x after completion", n, v6, sum)
			}
		}
	}
	if CompleteChecksum(make([]byte, 10), 8, 6) {
		t.Error("a checksum field past the frame was accepted")
	}
}

func FuzzFindL4(f *testing.F) {
	f.Add(frame(false, 6, false, 10))
	f.Add(frame(true, 17, true, 3))
	f.Fuzz(func(t *testing.T, b []byte) {
		l4, ok := FindL4(b)
		if ok && (l4.Start+l4.CsumOff+2 > len(b) || l4.HdrLen > len(b)) {
			t.Fatalf("%+v outside a %d-byte frame", l4, len(b))
		}
		if ok {
			CompleteChecksum(b, l4.Start, l4.CsumOff)
		}
	})
}

func TestCreateWithoutTun(t *testing.T) {
	_, err := CreateAt(t.TempDir()+"/none", "xftest0", 1, Offloads{})
	if err == nil || !errorsIs(err) {
		t.Fatalf("err %v, want ErrNeedsNetAdmin", err)
	}
}

// TestCreate makes a real TAP: as many queue files as asked, with a vnet
// header exactly when an offload is on.
func TestCreate(t *testing.T) {
	testutil.NeedRoot(t, "CAP_NET_ADMIN to create a TAP device")
	testutil.NeedFile(t, TunPath, "TAP devices")
	name := fmt.Sprintf("xftap%d", os.Getpid()) // its own, if tests run side by side
	for _, off := range []Offloads{{}, {Csum: true, TSO4: true}} {
		d, err := Create(name, 3, off)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Queues) != 3 || d.VnetHdr != off.Any() {
			t.Errorf("%+v: %d queues, vnet %v", off, len(d.Queues), d.VnetHdr)
		}
		d.Close()
	}
}

func errorsIs(err error) bool { return errors.Is(err, ErrNeedsNetAdmin) }

// TestReserve: a reserved TAP exists with no queue, survives a rename,
// takes the queues CreateAt attaches (the first attach choosing the
// virtio-net header) and stays when they close; Reserve again takes it
// over; Release removes it, by index, even renamed.
func TestReserve(t *testing.T) {
	testutil.NeedRoot(t, "CAP_NET_ADMIN to create a TAP device")
	testutil.NeedFile(t, TunPath, "TAP devices")
	name := fmt.Sprintf("xfres%d", os.Getpid())
	idx, err := Reserve(TunPath, name)
	if err != nil {
		t.Fatal(err)
	}
	defer Release(idx)
	l, err := netlink.LinkByName(name)
	if err != nil || l.Attrs().Index != idx || l.Type() != "tuntap" {
		t.Fatalf("reserved %s: %v %v; want a tuntap with index %d", name, l, err, idx)
	}
	again, err := Reserve(TunPath, name)
	if err != nil || again != idx {
		t.Fatalf("reserving again: index %d, %v; want the same device %d", again, err, idx)
	}
	renamed := name + "r"
	if err := netlink.LinkSetName(l, renamed); err != nil {
		t.Fatal(err)
	}
	for _, off := range []Offloads{{Csum: true}, {}} {
		d, err := Create(renamed, 2, off)
		if err != nil {
			t.Fatalf("attaching to the reserved TAP (%+v): %v", off, err)
		}
		if len(d.Queues) != 2 {
			t.Fatalf("%d queues", len(d.Queues))
		}
		// The device's flags are the first attach's: a virtio-net
		// header exactly when an offload is on.
		var flags uint16
		rc, err := d.Queues[1].SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		rc.Control(func(fd uintptr) {
			ifr, _ := unix.NewIfreq(renamed)
			if err = unix.IoctlIfreq(int(fd), unix.TUNGETIFF, ifr); err == nil {
				flags = ifr.Uint16()
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := flags&unix.IFF_VNET_HDR != 0; got != off.Any() || flags&unix.IFF_MULTI_QUEUE == 0 {
			t.Errorf("%+v: device flags %#x: vnet header %v, want %v, multi-queue", off, flags, got, off.Any())
		}
		d.Close()
		if l, err := netlink.LinkByIndex(idx); err != nil || l.Attrs().Name != renamed {
			t.Fatalf("after the queues closed: %v %v; want %s still there", l, err, renamed)
		}
	}
	if err := Release(idx); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByIndex(idx); err == nil {
		t.Fatal("released TAP still there")
	}
	if err := Release(idx); err != nil {
		t.Errorf("releasing again: %v", err)
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := Release(lo.Attrs().Index); err == nil {
		t.Error("Release removed (or tried to) the loopback")
	}
}
