package xendev

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/internal/testutil"
)

// TestLayoutAgainstLinuxHeaders: every struct this package hands the
// kernel, and every ioctl number, is what gcc makes of the installed
// headers, so a request reaches the kernel as the kernel reads it.
func TestLayoutAgainstLinuxHeaders(t *testing.T) {
	// What gcc makes of testdata/layout.c: Linux's uapi
	// xen/{gntdev,gntalloc,evtchn}.h, Xen's public xen.h and grant_table.h.
	c := testutil.CFacts(t, "testdata/layout.c")
	var (
		gr  gntdevGrantRef
		mg  gntdevMapGrantRef
		ug  gntdevUnmapGrantRef
		seg gntdevCopySegment
		gc  gntdevGrantCopy
		ag  gntallocAllocGref
		dg  gntallocDeallocGref
		bi  evtchnBindInterdomain
	)
	want := map[string]uint64{
		"sizeof struct ioctl_gntdev_grant_ref":                      uint64(unsafe.Sizeof(gr)),
		"offsetof struct ioctl_gntdev_grant_ref.domid":              uint64(unsafe.Offsetof(gr.domid)),
		"offsetof struct ioctl_gntdev_grant_ref.ref":                uint64(unsafe.Offsetof(gr.ref)),
		"sizeof struct ioctl_gntdev_map_grant_ref":                  uint64(unsafe.Sizeof(mg) + unsafe.Sizeof(gr)),
		"offsetof struct ioctl_gntdev_map_grant_ref.count":          uint64(unsafe.Offsetof(mg.count)),
		"offsetof struct ioctl_gntdev_map_grant_ref.index":          uint64(unsafe.Offsetof(mg.index)),
		"offsetof struct ioctl_gntdev_map_grant_ref.refs":           uint64(unsafe.Sizeof(mg)),
		"sizeof struct ioctl_gntdev_unmap_grant_ref":                uint64(unsafe.Sizeof(ug)),
		"offsetof struct ioctl_gntdev_unmap_grant_ref.index":        uint64(unsafe.Offsetof(ug.index)),
		"offsetof struct ioctl_gntdev_unmap_grant_ref.count":        uint64(unsafe.Offsetof(ug.count)),
		"sizeof struct ioctl_gntdev_set_max_grants":                 uint64(unsafe.Sizeof(gntdevSetMaxGrants{})),
		"sizeof struct gntdev_grant_copy_segment":                   uint64(unsafe.Sizeof(seg)),
		"offsetof struct gntdev_grant_copy_segment.source":          uint64(unsafe.Offsetof(seg.source)),
		"offsetof struct gntdev_grant_copy_segment.dest":            uint64(unsafe.Offsetof(seg.dest)),
		"offsetof struct gntdev_grant_copy_segment.len":             uint64(unsafe.Offsetof(seg.len)),
		"offsetof struct gntdev_grant_copy_segment.flags":           uint64(unsafe.Offsetof(seg.flags)),
		"offsetof struct gntdev_grant_copy_segment.status":          uint64(unsafe.Offsetof(seg.status)),
		"sizeof struct ioctl_gntdev_grant_copy":                     uint64(unsafe.Sizeof(gc)),
		"offsetof struct ioctl_gntdev_grant_copy.count":             uint64(unsafe.Offsetof(gc.count)),
		"offsetof struct ioctl_gntdev_grant_copy.segments":          uint64(unsafe.Offsetof(gc.segments)),
		"sizeof struct ioctl_gntalloc_alloc_gref":                   uint64(alignUp(unsafe.Sizeof(ag)+4, 8)),
		"offsetof struct ioctl_gntalloc_alloc_gref.domid":           uint64(unsafe.Offsetof(ag.domid)),
		"offsetof struct ioctl_gntalloc_alloc_gref.flags":           uint64(unsafe.Offsetof(ag.flags)),
		"offsetof struct ioctl_gntalloc_alloc_gref.count":           uint64(unsafe.Offsetof(ag.count)),
		"offsetof struct ioctl_gntalloc_alloc_gref.index":           uint64(unsafe.Offsetof(ag.index)),
		"offsetof struct ioctl_gntalloc_alloc_gref.gref_ids":        uint64(unsafe.Sizeof(ag)),
		"sizeof struct ioctl_gntalloc_dealloc_gref":                 uint64(unsafe.Sizeof(dg)),
		"offsetof struct ioctl_gntalloc_dealloc_gref.index":         uint64(unsafe.Offsetof(dg.index)),
		"offsetof struct ioctl_gntalloc_dealloc_gref.count":         uint64(unsafe.Offsetof(dg.count)),
		"sizeof struct ioctl_evtchn_bind_interdomain":               uint64(unsafe.Sizeof(bi)),
		"offsetof struct ioctl_evtchn_bind_interdomain.remote_port": uint64(unsafe.Offsetof(bi.remotePort)),
		"sizeof struct ioctl_evtchn_bind_unbound_port":              uint64(unsafe.Sizeof(evtchnPortArg{})),
		"sizeof struct ioctl_evtchn_unbind":                         uint64(unsafe.Sizeof(evtchnPortArg{})),
		"sizeof struct ioctl_evtchn_notify":                         uint64(unsafe.Sizeof(evtchnPortArg{})),
		"IOCTL_GNTDEV_MAP_GRANT_REF":                                uint64(ioctlGntdevMapGrantRef),
		"IOCTL_GNTDEV_UNMAP_GRANT_REF":                              uint64(ioctlGntdevUnmapGrantRef),
		"IOCTL_GNTDEV_SET_MAX_GRANTS":                               uint64(ioctlGntdevSetMaxGrants),
		"IOCTL_GNTDEV_GRANT_COPY":                                   uint64(ioctlGntdevGrantCopy),
		"IOCTL_GNTALLOC_ALLOC_GREF":                                 uint64(ioctlGntallocAllocGref),
		"IOCTL_GNTALLOC_DEALLOC_GREF":                               uint64(ioctlGntallocDeallocGref),
		"IOCTL_EVTCHN_BIND_INTERDOMAIN":                             uint64(ioctlEvtchnBindInterdomain),
		"IOCTL_EVTCHN_BIND_UNBOUND_PORT":                            uint64(ioctlEvtchnBindUnboundPort),
		"IOCTL_EVTCHN_UNBIND":                                       uint64(ioctlEvtchnUnbind),
		"IOCTL_EVTCHN_NOTIFY":                                       uint64(ioctlEvtchnNotify),
		"IOCTL_EVTCHN_RESET":                                        uint64(ioctlEvtchnReset),
		"GNTCOPY_source_gref":                                       gntcopySourceGref,
		"GNTCOPY_dest_gref":                                         gntcopyDestGref,
		"GNTALLOC_FLAG_WRITABLE":                                    gntallocFlagWritable,
	}
	for name, w := range want {
		got, ok := c[name]
		if !ok {
			t.Errorf("%s: not printed by testdata/layout.c", name)
		} else if uint64(got) != w {
			t.Errorf("%s: C says %d, Go has %d", name, got, w)
		}
	}

	// The grant side of a segment: {ref, offset, domid} where C puts
	// them in the union.
	cp := &Copier{dom: 0x7ff1}
	v, ok := cp.side(&grant.CopyPtr{Ref: 0x01020304, Offset: 0x0506}, 8)
	if !ok {
		t.Fatal("a valid grant side refused")
	}
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], v)
	for _, f := range []struct {
		field string
		got   uint64
		want  uint64
	}{
		{"ref", uint64(binary.NativeEndian.Uint32(b[c["offsetof struct gntdev_grant_copy_segment.source.foreign.ref"]:])), 0x01020304},
		{"offset", uint64(binary.NativeEndian.Uint16(b[c["offsetof struct gntdev_grant_copy_segment.source.foreign.offset"]:])), 0x0506},
		{"domid", uint64(binary.NativeEndian.Uint16(b[c["offsetof struct gntdev_grant_copy_segment.source.foreign.domid"]:])), 0x7ff1},
	} {
		if f.got != f.want {
			t.Errorf("segment foreign.%s: %#x where C reads it, want %#x", f.field, f.got, f.want)
		}
	}
}
