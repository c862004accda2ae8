package xendev

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/backends/grant"
)

// TestPlatformWithoutXen: off Xen, opening the platform fails naming the
// device and the module to load (ErrNoDevice), for either device.
func TestPlatformWithoutXen(t *testing.T) {
	dir := t.TempDir()
	if _, err := openPlatform(filepath.Join(dir, "gntdev"), filepath.Join(dir, "evtchn")); !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), "modprobe xen-gntdev") {
		t.Errorf("no gntdev: %v; want ErrNoDevice naming xen-gntdev", err)
	}
	// gntdev there (any file opens read-write), evtchn missing: the
	// first device opened is closed again.
	fake := filepath.Join(dir, "fake")
	if err := os.WriteFile(fake, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openPlatform(fake, filepath.Join(dir, "evtchn")); !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), "modprobe xen-evtchn") {
		t.Errorf("no evtchn: %v; want ErrNoDevice naming xen-evtchn", err)
	}
}

// TestPlatformRefusesReservedDomains: a frontend id from DOMID_FIRST_RESERVED
// up is refused before any device is touched (a Platform with no devices
// would fail otherwise).
func TestPlatformRefusesReservedDomains(t *testing.T) {
	p := &Platform{gntdev: filepath.Join(t.TempDir(), "none")}
	for _, d := range []uint32{0x7ff0, 0x7ff2, 0xffff, 1 << 20} {
		if _, err := p.MapGrants(d); err == nil || !strings.Contains(err.Error(), "not a domain id") {
			t.Errorf("MapGrants(%#x): %v", d, err)
		}
		if _, err := p.CopyGrants(d); err == nil || !strings.Contains(err.Error(), "not a domain id") {
			t.Errorf("CopyGrants(%#x): %v", d, err)
		}
		if _, err := p.BindInterdomain(context.Background(), d, 1); err == nil || !strings.Contains(err.Error(), "not a domain id") {
			t.Errorf("BindInterdomain(%#x): %v", d, err)
		}
	}
}

// TestGrantMapperBookkeeping: without Xen, what Map refuses before the
// kernel (slices that do not match, too many refs) and what Unmap refuses
// (handles never mapped) leave the slot table as it was; a Map the kernel
// fails (here: a closed device) gives its slot back.
func TestGrantMapperBookkeeping(t *testing.T) {
	g := &grantMapper{p: &Platform{}, dev: closedGntDev(), dom: 3}
	refs := []grant.Ref{1, 2}
	for _, c := range []struct {
		refs    []grant.Ref
		pages   int
		handles int
	}{
		{nil, 0, 0}, {refs, 1, 2}, {refs, 2, 1}, {make([]grant.Ref, MaxMapRefs+1), MaxMapRefs + 1, MaxMapRefs + 1},
	} {
		if err := g.Map(c.refs, false, make([][]byte, c.pages), make([]grant.Handle, c.handles)); err == nil {
			t.Errorf("Map of %d refs into %d pages, %d handles succeeded", len(c.refs), c.pages, c.handles)
		}
	}
	if len(g.slots) != 0 {
		t.Fatalf("refused batches took %d slots", len(g.slots))
	}
	if err := g.Map(refs, false, make([][]byte, 2), make([]grant.Handle, 2)); !errors.Is(err, ErrDeviceClosed) {
		t.Fatalf("Map on a closed device: %v", err)
	}
	if len(g.free) != len(g.slots) || len(g.slots) == 0 {
		t.Fatalf("after a failed Map: %d slots, %d free; want every slot free", len(g.slots), len(g.free))
	}
	if err := g.Unmap([]grant.Handle{0, 5, 1 << 31}); err == nil || !strings.Contains(err.Error(), "not mapped") {
		t.Errorf("Unmap of handles never mapped: %v", err)
	}
	if g.p.Mapped() != 0 {
		t.Errorf("%d mappings counted", g.p.Mapped())
	}
}
