package xendev

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xfeat/xfeat/backends/grant"
)

// TestMissingDeviceIsErrNoDevice: opening a device node that is not there
// (no Xen, or its module not loaded) is ErrNoDevice, and the message names
// the device and the module to load; another open failure is not.
func TestMissingDeviceIsErrNoDevice(t *testing.T) {
	missing := t.TempDir() + "/xen/"
	for _, c := range []struct {
		name, module string
		open         func(string) error
	}{
		{"gntdev", "xen-gntdev", func(p string) error { _, err := openGntDev(p); return err }},
		{"gntalloc", "xen-gntalloc", func(p string) error { _, err := openGntAlloc(p); return err }},
		{"evtchn", "xen-evtchn", func(p string) error { _, err := openEvtchn(p); return err }},
	} {
		err := c.open(missing + c.name)
		if !errors.Is(err, ErrNoDevice) {
			t.Errorf("%s: %v; want ErrNoDevice", c.name, err)
			continue
		}
		var de *DeviceError
		if !errors.As(err, &de) || de.Module != c.module {
			t.Errorf("%s: %#v; want a DeviceError naming module %s", c.name, err, c.module)
		}
		for _, want := range []string{missing + c.name, "open", "no such file", "modprobe " + c.module} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q lacks %q", c.name, err, want)
			}
		}
		// A directory opens with EISDIR: present, but not a device.
		err = c.open(t.TempDir())
		if err == nil || errors.Is(err, ErrNoDevice) || !errors.Is(err, unix.EISDIR) {
			t.Errorf("%s on a directory: %v; want EISDIR, not ErrNoDevice", c.name, err)
		}
	}
}

// closedGntDev is a GntDev whose descriptor is gone: what reaches the
// kernel fails with ErrDeviceClosed, so a test sees what did not.
func closedGntDev() *GntDev { return &GntDev{path: GntDevPath, fd: -1} }

// TestCopyRefusesBadOpsAlone: the kernel fails a whole
// IOCTL_GNTDEV_GRANT_COPY for one segment that crosses a page or has two
// local sides; Copy gives such ops StatusBadCopyArg without sending them,
// so they cannot fail the others (here the others reach a closed device,
// which proves they were sent).
func TestCopyRefusesBadOpsAlone(t *testing.T) {
	buf := make([]byte, 100)
	bad := []grant.CopyOp{
		{Src: grant.CopyPtr{Ref: 8, Offset: 4000}, Dst: grant.CopyPtr{Local: make([]byte, 200)}, Len: 200}, // gref crosses its page
		{Src: grant.CopyPtr{Local: buf}, Dst: grant.CopyPtr{Ref: 8, Offset: 4095}, Len: 2},                 // gref crosses its page
		{Src: grant.CopyPtr{Local: buf}, Dst: grant.CopyPtr{Local: buf}, Len: 1},                           // local to local
		{Src: grant.CopyPtr{Ref: 8}, Dst: grant.CopyPtr{Local: buf, Offset: 50}, Len: 51},                  // beyond the local buffer
		{Src: grant.CopyPtr{Local: buf[:0]}, Dst: grant.CopyPtr{Ref: 8}, Len: 1},                           // empty local buffer
		{Src: grant.CopyPtr{Local: buf, Offset: 101}, Dst: grant.CopyPtr{Ref: 8}, Len: 0},                  // offset past the buffer
	}
	c := closedGntDev().NewCopier(1, 1)
	ops := append([]grant.CopyOp(nil), bad...)
	failed, err := c.CopyOps(ops)
	if failed != len(bad) || err != nil {
		t.Fatalf("all-bad batch: failed %d, err %v; want %d, nil (nothing sent)", failed, err, len(bad))
	}
	for i, op := range ops {
		if op.Status != grant.StatusBadCopyArg {
			t.Errorf("op %d: %v, want StatusBadCopyArg", i, op.Status)
		}
	}

	good := grant.CopyOp{Src: grant.CopyPtr{Ref: 8, Offset: 4000}, Dst: grant.CopyPtr{Local: buf}, Len: 96}
	ops = append([]grant.CopyOp{good}, bad...)
	ops = append(ops, good)
	failed, err = c.CopyOps(ops)
	if failed != len(ops) || !errors.Is(err, ErrDeviceClosed) {
		t.Fatalf("failed %d, err %v; want %d and ErrDeviceClosed", failed, err, len(ops))
	}
	if !strings.Contains(err.Error(), GntDevPath+": IOCTL_GNTDEV_GRANT_COPY") {
		t.Errorf("error %q does not name the device and ioctl", err)
	}
	for i, op := range ops {
		want := grant.StatusBadCopyArg
		if i == 0 || i == len(ops)-1 {
			want = grant.StatusGeneralError // sent, and the call failed
		}
		if op.Status != want {
			t.Errorf("op %d: %v, want %v", i, op.Status, want)
		}
	}
}

// TestCopySplitsLongBatches: a Copy longer than one ioctl's batch is split,
// each op's status set (every call fails here, on a closed device).
func TestCopySplitsLongBatches(t *testing.T) {
	buf := make([]byte, grant.PageSize)
	ops := make([]grant.CopyOp, 3*copyBatchSize+5)
	for i := range ops {
		ops[i] = grant.CopyOp{Src: grant.CopyPtr{Ref: grant.Ref(i)}, Dst: grant.CopyPtr{Local: buf}, Len: 16}
		ops[i].Status = 1 // not a GNTST value: Copy must overwrite it
	}
	ops[copyBatchSize].Len = grant.PageSize + 1
	failed := closedGntDev().NewCopier(1, 0).Copy(ops)
	if failed != len(ops) {
		t.Fatalf("failed %d, want %d", failed, len(ops))
	}
	for i, op := range ops {
		want := grant.StatusGeneralError
		if i == copyBatchSize {
			want = grant.StatusBadCopyArg
		}
		if op.Status != want {
			t.Fatalf("op %d: %v, want %v", i, op.Status, want)
		}
	}
}

// TestMapRefusesBadRequests: an empty or oversized batch, and a Mapping
// still in use, are refused before the kernel is asked.
func TestMapRefusesBadRequests(t *testing.T) {
	d := closedGntDev()
	var m Mapping
	if err := d.Map(&m, 1, nil, false); err == nil || !strings.Contains(err.Error(), "0 refs") {
		t.Errorf("empty batch: %v", err)
	}
	if err := d.Map(&m, 1, make([]grant.Ref, MaxMapRefs+1), false); err == nil || !errors.Is(err, unix.EINVAL) {
		t.Errorf("oversized batch: %v", err)
	}
	if err := d.Map(&m, 1, []grant.Ref{8}, false); !errors.Is(err, ErrDeviceClosed) {
		t.Errorf("closed device: %v", err)
	}
	if m.Mapped() {
		t.Error("a failed Map left the Mapping in use")
	}
	if err := m.Unmap(); err == nil {
		t.Error("Unmap of an empty Mapping succeeded")
	}
	m.dev = d // as after a successful Map
	if err := d.Map(&m, 1, []grant.Ref{8}, false); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("Mapping in use: %v", err)
	}
}
