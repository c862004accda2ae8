package grant

import (
	"bytes"
	"errors"
	"os"
	"runtime/debug"
	"sync"
	"testing"
)

const (
	guestID   DomID = 5
	backendID DomID = 0
	otherID   DomID = 7
)

func newGuest(t testing.TB, pages, frames int) *Domain {
	t.Helper()
	dir := t.TempDir()
	d, err := CreateDomain(dir, guestID, pages, frames)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestCreateOpenLayout(t *testing.T) {
	dir := t.TempDir()
	d, err := CreateDomain(dir, 3, 16, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Pages() != 16 || d.MaxGrantEntries() != 1024 || d.Table().Len() != 1024 {
		t.Fatal(d.Pages(), d.MaxGrantEntries())
	}
	if _, err := CreateDomain(dir, 3, 16, 2); err == nil {
		t.Fatal("created a domain twice")
	}
	ref, err := d.GrantAccess(9, 11, true)
	if err != nil || ref != NrReservedEntries {
		t.Fatal(ref, err)
	}
	// The file holds grant_entry_v1 in Xen's layout.
	_, tp, _ := Paths(dir, 3)
	raw, _ := os.ReadFile(tp)
	want := []byte{GTFPermitAccess | GTFReadonly, 0, 9, 0, 11, 0, 0, 0}
	if got := raw[int(ref)*8 : int(ref)*8+8]; !bytes.Equal(got, want) {
		t.Fatalf("entry bytes % x, want % x", got, want)
	}
	// A second opener (another process would do the same) sees it.
	d2, err := OpenDomain(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if e, ok := d2.Table().Entry(ref); !ok || e != (Entry{Flags: GTFPermitAccess | GTFReadonly, Domid: 9, Frame: 11}) {
		t.Fatal(e, ok)
	}
	p, _ := d.Page(3)
	p[100] = 0x5a
	p2, _ := d2.Page(3)
	if p2[100] != 0x5a {
		t.Fatal("memory not shared")
	}
	if _, err := d.Page(16); err == nil {
		t.Fatal("page past the end")
	}
	if _, err := OpenDomain(dir, 4); err == nil {
		t.Fatal("opened a missing domain")
	}
	if err := RemoveDomain(dir, 3); err != nil {
		t.Fatal(err)
	}
}

func TestMapPermissions(t *testing.T) {
	g := newGuest(t, 8, 1)
	m := NewMapper(backendID, g)
	rw, _ := g.GrantAccess(backendID, 1, false)
	ro, _ := g.GrantAccess(backendID, 2, true)
	other, _ := g.GrantAccess(otherID, 3, false)
	badFrame, _ := g.GrantAccess(backendID, 0, false)
	// Point the entry at a frame past guest memory behind the allocator's back.
	g.entry(badFrame).frame().Store(1000)

	cases := []struct {
		name     string
		ref      Ref
		readonly bool
		want     error
	}{
		{"not granted", 100, true, StatusBadGntref},
		{"out of range", 512, true, StatusBadGntref},
		{"huge ref", 1 << 31, false, StatusBadGntref},
		{"reserved, never granted", 0, false, StatusBadGntref},
		{"granted to another domain", other, true, StatusPermissionDenied},
		{"read-only granted, mapped writable", ro, false, StatusPermissionDenied},
		{"frame outside guest memory", badFrame, true, StatusBadPage},
	}
	for _, c := range cases {
		if _, err := m.Map(c.ref, c.readonly); !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
	if m.Mapped() != 0 {
		t.Fatal("failed maps counted")
	}
	if e, _ := g.Table().Entry(badFrame); e.Flags&(GTFReading|GTFWriting) != 0 {
		t.Fatal("failed map left GTF_reading set")
	}

	mw, err := m.Map(rw, false)
	if err != nil {
		t.Fatal(err)
	}
	mw.Page[7] = 0x77
	if p, _ := g.Page(1); p[7] != 0x77 {
		t.Fatal("writable mapping does not alias guest memory")
	}
	if e, _ := g.Table().Entry(rw); e.Flags != GTFPermitAccess|GTFReading|GTFWriting {
		t.Fatalf("flags %#x while mapped writable", e.Flags)
	}
	mr, err := m.Map(ro, true)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := g.Table().Entry(ro); e.Flags != GTFPermitAccess|GTFReadonly|GTFReading {
		t.Fatalf("flags %#x while mapped read-only", e.Flags)
	}
	gp, _ := g.Page(2)
	gp[9] = 0x99
	if mr.Page[9] != 0x99 || mr.Writable {
		t.Fatal("read-only mapping")
	}
	if !faults(func() { mr.Page[0] = 1 }) {
		t.Fatal("writing a read-only mapping did not fault")
	}

	// Ending access while mapped fails, as in Xen; the entry is unchanged.
	if err := g.EndAccess(rw); !errors.Is(err, ErrInUse) {
		t.Fatalf("EndAccess while mapped: %v", err)
	}
	if err := g.EndAccess(ro); !errors.Is(err, ErrInUse) {
		t.Fatalf("EndAccess while mapped: %v", err)
	}
	if m.Mapped() != 2 {
		t.Fatal("accounting", m.Mapped())
	}
	for _, h := range []Handle{mw.Handle, mr.Handle} {
		if err := m.Unmap(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Unmap(mw.Handle); !errors.Is(err, StatusBadHandle) {
		t.Fatalf("double unmap: %v", err)
	}
	if m.Mapped() != 0 {
		t.Fatal("leak", m.Mapped())
	}
	for _, r := range []Ref{rw, ro} {
		if err := g.EndAccess(r); err != nil {
			t.Fatal(err)
		}
		if e, _ := g.Table().Entry(r); e.Flags != 0 {
			t.Fatalf("flags %#x after end access", e.Flags)
		}
		if _, err := m.Map(r, true); !errors.Is(err, StatusBadGntref) {
			t.Fatalf("mapped a revoked grant: %v", err)
		}
	}
}

func faults(f func()) (faulted bool) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() { faulted = recover() != nil }()
	f()
	return false
}

// TestNestedPins maps one writable grant twice and read-only once: the bits
// go only when the last user goes.
func TestNestedPins(t *testing.T) {
	g := newGuest(t, 4, 1)
	m := NewMapper(backendID, g)
	ref, _ := g.GrantAccess(backendID, 1, false)
	a, _ := m.Map(ref, false)
	b, _ := m.Map(ref, false)
	c, _ := m.Map(ref, true)
	flags := func() uint16 { e, _ := g.Table().Entry(ref); return e.Flags }
	m.Unmap(a.Handle)
	if flags()&GTFWriting == 0 {
		t.Fatal("GTF_writing cleared with a writable mapping left")
	}
	m.Unmap(b.Handle)
	if flags() != GTFPermitAccess|GTFReading {
		t.Fatalf("flags %#x with one read-only mapping left", flags())
	}
	if err := g.EndAccess(ref); !errors.Is(err, ErrInUse) {
		t.Fatal(err)
	}
	m.Unmap(c.Handle)
	if flags() != GTFPermitAccess {
		t.Fatalf("flags %#x after last unmap", flags())
	}
}

func TestCopy(t *testing.T) {
	g := newGuest(t, 8, 1)
	m := NewMapper(backendID, g)
	src, _ := g.GrantAccess(backendID, 1, true)
	dst, _ := g.GrantAccess(backendID, 2, false)
	ro, _ := g.GrantAccess(backendID, 3, true)
	other, _ := g.GrantAccess(otherID, 4, false)
	p1, _ := g.Page(1)
	for i := range p1 {
		p1[i] = byte(i * 7)
	}
	local := make([]byte, 2*PageSize)
	for i := range local {
		local[i] = byte(i * 3)
	}
	out := make([]byte, PageSize)
	ops := []CopyOp{
		{Src: CopyPtr{Ref: src}, Dst: CopyPtr{Local: out}, Len: PageSize},                         // whole page in
		{Src: CopyPtr{Local: local, Offset: 100}, Dst: CopyPtr{Ref: dst, Offset: 512}, Len: 1024}, // out to the guest
		{Src: CopyPtr{Ref: src, Offset: 4000}, Dst: CopyPtr{Ref: dst, Offset: 0}, Len: 96},        // gref to gref
		{Src: CopyPtr{Local: local}, Dst: CopyPtr{Ref: ro}, Len: 8},                               // read-only dest
		{Src: CopyPtr{Ref: other}, Dst: CopyPtr{Local: out}, Len: 8},                              // other domain's grant
		{Src: CopyPtr{Ref: 300}, Dst: CopyPtr{Local: out}, Len: 8},                                // not granted
		{Src: CopyPtr{Ref: src, Offset: 4090}, Dst: CopyPtr{Local: out}, Len: 7},                  // crosses the page
		{Src: CopyPtr{Local: local}, Dst: CopyPtr{Ref: dst, Offset: 4095}, Len: 2},                // crosses the page
		{Src: CopyPtr{Local: local, Offset: 2*PageSize - 4}, Dst: CopyPtr{Ref: dst}, Len: 8},      // past the local buffer
		{Src: CopyPtr{Ref: src}, Dst: CopyPtr{Ref: 9999}, Len: 8},                                 // bad dest after good src
	}
	want := []Status{StatusOkay, StatusOkay, StatusOkay, StatusPermissionDenied, StatusPermissionDenied,
		StatusBadGntref, StatusBadCopyArg, StatusBadCopyArg, StatusBadCopyArg, StatusBadGntref}
	if failed := m.Copy(ops); failed != 7 {
		t.Errorf("failed = %d, want 7", failed)
	}
	for i := range ops {
		if ops[i].Status != want[i] {
			t.Errorf("op %d: %v, want %v", i, ops[i].Status, want[i])
		}
	}
	if !bytes.Equal(out, p1) {
		t.Error("page copied in wrong")
	}
	p2, _ := g.Page(2)
	if !bytes.Equal(p2[512:1536], local[100:1124]) || !bytes.Equal(p2[:96], p1[4000:4096]) {
		t.Error("copy out wrong")
	}
	p3, _ := g.Page(3)
	if p3[0] != 0 {
		t.Error("read-only page written")
	}
	for _, r := range []Ref{src, dst, ro, other} {
		if err := g.EndAccess(r); err != nil {
			t.Errorf("ref %d still in use after copy: %v", r, err)
		}
	}
}

func TestCopyAllocs(t *testing.T) {
	g := newGuest(t, 8, 1)
	m := NewMapper(backendID, g)
	src, _ := g.GrantAccess(backendID, 1, false)
	buf := make([]byte, PageSize)
	ops := []CopyOp{
		{Src: CopyPtr{Ref: src}, Dst: CopyPtr{Local: buf}, Len: PageSize},
		{Src: CopyPtr{Local: buf}, Dst: CopyPtr{Ref: src}, Len: PageSize},
		{Src: CopyPtr{Ref: 400}, Dst: CopyPtr{Local: buf}, Len: 1},
	}
	if a := testing.AllocsPerRun(1000, func() { m.Copy(ops) }); a != 0 {
		t.Fatalf("Copy allocates %v", a)
	}
	m.Unmap(mustMap(t, m, src).Handle) // warm the handle table
	if a := testing.AllocsPerRun(1000, func() {
		mp, _ := m.Map(src, false)
		m.Unmap(mp.Handle)
	}); a != 0 {
		t.Fatalf("Map/Unmap allocates %v", a)
	}
}

func mustMap(t testing.TB, m *Mapper, r Ref) Mapping {
	mp, err := m.Map(r, false)
	if err != nil {
		t.Fatal(err)
	}
	return mp
}

// TestConcurrentPinsAndRevoke races mappers, copiers and a guest revoking and
// re-granting: whatever interleaving happens, every map that succeeded saw a
// valid grant, and when all is done the entry carries no stale bits.
func TestConcurrentPinsAndRevoke(t *testing.T) {
	g := newGuest(t, 4, 1)
	ref, _ := g.GrantAccess(backendID, 1, false)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for w := 0; w < 2; w++ {
		m := NewMapper(backendID, g)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			ops := []CopyOp{{Src: CopyPtr{Ref: ref}, Dst: CopyPtr{Local: buf}, Len: 64}}
			for i := 0; i < n; i++ {
				if mp, err := m.Map(ref, i%3 == 0); err == nil {
					m.Unmap(mp.Handle)
				}
				m.Copy(ops)
			}
			if m.Mapped() != 0 {
				t.Error("leaked mappings")
			}
		}()
	}
	revoker := make(chan struct{})
	go func() {
		defer close(revoker)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if g.EndAccessRef(ref) == nil {
				g.GrantAccessRef(ref, backendID, 1, false)
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-revoker
	e, _ := g.Table().Entry(ref)
	if e.Flags&(GTFReading|GTFWriting) != 0 {
		t.Fatalf("stale bits %#x", e.Flags)
	}
	if c := g.pin(ref).counts().Load(); c != 0 {
		t.Fatalf("pin counts %#x", c)
	}
}

func TestGrantRefExhaustion(t *testing.T) {
	g := newGuest(t, 2, 1)
	var last Ref
	for i := 0; i < EntriesPerFrame-NrReservedEntries; i++ {
		r, err := g.GrantAccess(backendID, 0, true)
		if err != nil {
			t.Fatal(i, err)
		}
		last = r
	}
	if _, err := g.GrantAccess(backendID, 0, true); !errors.Is(err, ErrNoRefs) {
		t.Fatalf("max_grant_frames not enforced: %v", err)
	}
	g.EndAccess(last)
	if r, err := g.GrantAccess(backendID, 1, true); err != nil || r != last {
		t.Fatal(r, err)
	}
	if _, err := g.GrantAccess(backendID, 2, true); !errors.Is(err, StatusBadPage) {
		t.Fatal("granted a frame past guest memory")
	}
}

// TestMapRing maps a four-page ring whose frames are scattered and out of
// order: the backend sees the pages contiguously, in ref order.
func TestMapRing(t *testing.T) {
	g := newGuest(t, 16, 1)
	m := NewMapper(backendID, g)
	frames := []uint32{9, 2, 15, 4}
	var refs []Ref
	for i, fr := range frames {
		p, _ := g.Page(fr)
		p[0], p[PageSize-1] = byte(i+1), byte(0xf0+i)
		r, _ := g.GrantAccess(backendID, fr, false)
		refs = append(refs, r)
	}
	rm, err := m.MapRing(refs)
	if err != nil {
		t.Fatal(err)
	}
	if len(rm.Mem) != 4*PageSize || m.Mapped() != 4 {
		t.Fatal(len(rm.Mem), m.Mapped())
	}
	for i := range frames {
		if rm.Mem[i*PageSize] != byte(i+1) || rm.Mem[(i+1)*PageSize-1] != byte(0xf0+i) {
			t.Fatalf("page %d not in place", i)
		}
	}
	rm.Mem[2*PageSize+5] = 0x42
	if p, _ := g.Page(15); p[5] != 0x42 {
		t.Fatal("ring mapping does not alias guest memory")
	}
	if err := g.EndAccess(refs[0]); !errors.Is(err, ErrInUse) {
		t.Fatal("ring page revocable while mapped")
	}
	if err := m.UnmapRing(rm); err != nil {
		t.Fatal(err)
	}
	if m.Mapped() != 0 {
		t.Fatal("ring mapping leaked")
	}
	// A bad ref in the middle maps nothing.
	ro, _ := g.GrantAccess(backendID, 3, true)
	if _, err := m.MapRing([]Ref{refs[0], ro, refs[1]}); !errors.Is(err, StatusPermissionDenied) {
		t.Fatalf("read-only ring page: %v", err)
	}
	if m.Mapped() != 0 {
		t.Fatal("failed MapRing leaked")
	}
}
