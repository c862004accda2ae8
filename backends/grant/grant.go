package grant

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// Layout and flag constants (xen/include/public/grant_table.h).
const (
	PageSize        = 4096
	EntrySize       = 8 // grant_entry_v1
	EntriesPerFrame = PageSize / EntrySize

	// NrReservedEntries are the refs Xen reserves for the toolstack
	// (GNTTAB_NR_RESERVED_ENTRIES: console, xenstore); GrantAccess never
	// hands them out.
	NrReservedEntries = 8

	GTFInvalid        = 0
	GTFPermitAccess   = 1
	GTFAcceptTransfer = 2
	GTFTransitive     = 3
	GTFTypeMask       = 3
	GTFReadonly       = 1 << 2
	GTFReading        = 1 << 3
	GTFWriting        = 1 << 4
	GTFSubPage        = 1 << 8

	offFlags = 0
	offDomid = 2
	offFrame = 4

	pinSize = 8 // lock u32, readers u16, writers u16
)

// DomID is a Xen domain id (domid_t).
type DomID uint16

// Ref is a grant reference: an index into a domain's grant table.
type Ref uint32

// Status is a GNTST_* code.
type Status int16

// Xen's GNTST_* statuses.
const (
	StatusOkay             Status = 0
	StatusGeneralError     Status = -1
	StatusBadDomain        Status = -2
	StatusBadGntref        Status = -3
	StatusBadHandle        Status = -4
	StatusBadVirtAddr      Status = -5
	StatusBadDevAddr       Status = -6
	StatusNoDeviceSpace    Status = -7
	StatusPermissionDenied Status = -8
	StatusBadPage          Status = -9
	StatusBadCopyArg       Status = -10
	StatusAddressTooBig    Status = -11
	StatusEagain           Status = -12
	StatusNoSpace          Status = -13
)

var statusNames = [...]string{
	"okay", "undefined error", "unrecognised domain id", "unrecognised or inappropriate gntref",
	"invalid mapping handle", "invalid virtual address", "invalid device address",
	"no spare translation slot in the I/O MMU", "permission denied", "bad page",
	"copy arguments cross page boundary", "page address size too large", "operation not done; try again",
	"out of space",
}

func (s Status) String() string {
	if s <= 0 && int(-s) < len(statusNames) {
		return fmt.Sprintf("GNTST %d (%s)", int16(s), statusNames[-s])
	}
	return fmt.Sprintf("GNTST %d", int16(s))
}

// Error makes a Status usable as an error; Err returns preallocated values so
// failing calls on hot paths allocate nothing.
func (s Status) Error() string { return s.String() }

var statusErrs = func() (e [14]error) {
	for i := range e {
		e[i] = Status(-i)
	}
	return
}()

// Err returns nil for StatusOkay and the Status as an error otherwise.
func (s Status) Err() error {
	if s == StatusOkay {
		return nil
	}
	if s < 0 && int(-s) < len(statusErrs) {
		return statusErrs[-s]
	}
	return s
}

var (
	// ErrInUse is returned by EndAccess while a backend maps or copies the page.
	ErrInUse = errors.New("grant: entry still in use (GTF_reading/GTF_writing set)")
	// ErrNoRefs is returned by GrantAccess when the table is full.
	ErrNoRefs = errors.New("grant: no free grant reference (max_grant_frames reached)")
)

// Domain is one guest's memory and grant table, mapped into this process.
// Its guest-side methods (GrantAccess, EndAccess) are what a frontend calls;
// a backend reads the same files through a Mapper. Safe for concurrent use.
type Domain struct {
	ID    DomID
	mem   []byte   // read-write mapping of guest memory
	memRO []byte   // read-only mapping of the same file
	table []byte   // grant entries
	pins  []byte   // active entries
	n     uint32   // number of grant entries
	memF  *os.File // kept open to map rings contiguously (MapRing)

	mu   sync.Mutex // guards next and free
	next Ref
	free []Ref
}

// Paths returns the memory, grant-table and pin files of domain id in dir.
func Paths(dir string, id DomID) (mem, table, pins string) {
	base := filepath.Join(dir, fmt.Sprintf("dom%d", id))
	return base + ".mem", base + ".gnttab", base + ".gntpin"
}

// CreateDomain creates the files of domain id in dir, with pages of guest
// memory and maxGrantFrames frames of grant table (xl.cfg
// max_grant_frames), and maps them. Existing files are an error.
func CreateDomain(dir string, id DomID, pages, maxGrantFrames int) (*Domain, error) {
	if pages <= 0 || maxGrantFrames <= 0 || maxGrantFrames > 1<<16 || pages > 1<<24 {
		return nil, fmt.Errorf("grant: domain %d: bad size (%d pages, %d grant frames)", id, pages, maxGrantFrames)
	}
	mp, tp, pp := Paths(dir, id)
	sizes := []int{pages * PageSize, maxGrantFrames * PageSize, maxGrantFrames * EntriesPerFrame * pinSize}
	for i, p := range []string{mp, tp, pp} {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			for _, q := range []string{mp, tp, pp}[:i] {
				os.Remove(q)
			}
			return nil, fmt.Errorf("grant: create domain %d: %w", id, err)
		}
		err = f.Truncate(int64(sizes[i]))
		f.Close()
		if err != nil {
			RemoveDomain(dir, id)
			return nil, fmt.Errorf("grant: create domain %d: %w", id, err)
		}
	}
	d, err := OpenDomain(dir, id)
	if err != nil {
		RemoveDomain(dir, id)
	}
	return d, err
}

// RemoveDomain deletes the files of domain id (mappings stay valid until
// Close).
func RemoveDomain(dir string, id DomID) error {
	var first error
	mp, tp, pp := Paths(dir, id)
	for _, p := range []string{mp, tp, pp} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = err
		}
	}
	return first
}

// OpenDomain maps the files of an existing domain.
func OpenDomain(dir string, id DomID) (*Domain, error) {
	mp, tp, pp := Paths(dir, id)
	d := &Domain{ID: id, next: NrReservedEntries}
	var err error
	if d.mem, err = mapFile(mp, unix.PROT_READ|unix.PROT_WRITE, PageSize); err != nil {
		return nil, err
	}
	if d.memRO, err = mapFile(mp, unix.PROT_READ, PageSize); err != nil {
		d.Close()
		return nil, err
	}
	if d.table, err = mapFile(tp, unix.PROT_READ|unix.PROT_WRITE, PageSize); err != nil {
		d.Close()
		return nil, err
	}
	if d.pins, err = mapFile(pp, unix.PROT_READ|unix.PROT_WRITE, pinSize); err != nil {
		d.Close()
		return nil, err
	}
	if d.memF, err = os.OpenFile(mp, os.O_RDWR, 0); err != nil {
		d.Close()
		return nil, fmt.Errorf("grant: %w", err)
	}
	d.n = uint32(len(d.table) / EntrySize)
	if len(d.pins) != int(d.n)*pinSize || len(d.memRO) != len(d.mem) {
		d.Close()
		return nil, fmt.Errorf("grant: domain %d: grant table and pin files disagree", id)
	}
	return d, nil
}

func mapFile(path string, prot int, unit int) ([]byte, error) {
	flag := os.O_RDWR
	if prot&unix.PROT_WRITE == 0 {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("grant: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("grant: %w", err)
	}
	if st.Size() == 0 || st.Size()%int64(unit) != 0 {
		return nil, fmt.Errorf("grant: %s: size %d is not a positive multiple of %d", path, st.Size(), unit)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), prot, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("grant: mmap %s: %w", path, err)
	}
	return b, nil
}

// Close unmaps the domain's files. Pages and mappings obtained from it must
// no longer be used.
func (d *Domain) Close() error {
	var first error
	for _, b := range []*[]byte{&d.mem, &d.memRO, &d.table, &d.pins} {
		if *b != nil {
			if err := unix.Munmap(*b); err != nil && first == nil {
				first = err
			}
			*b = nil
		}
	}
	if d.memF != nil {
		d.memF.Close()
		d.memF = nil
	}
	return first
}

// Pages returns the number of guest pages.
func (d *Domain) Pages() int { return len(d.mem) / PageSize }

// MaxGrantEntries returns the number of grant entries (max_grant_frames*512).
func (d *Domain) MaxGrantEntries() int { return int(d.n) }

// Page returns guest page frame (the guest's own view of its memory).
func (d *Domain) Page(frame uint32) ([]byte, error) {
	if uint64(frame) >= uint64(d.Pages()) {
		return nil, StatusBadPage.Err()
	}
	o := int(frame) * PageSize
	return d.mem[o : o+PageSize : o+PageSize], nil
}

// Frames returns n contiguous guest pages from frame first (the guest's
// own view, for a frontend that puts a multi-page ring in consecutive frames).
func (d *Domain) Frames(first uint32, n int) ([]byte, error) {
	if n <= 0 || uint64(first)+uint64(n) > uint64(d.Pages()) {
		return nil, StatusBadPage.Err()
	}
	o := int(first) * PageSize
	return d.mem[o : o+n*PageSize : o+n*PageSize], nil
}

// Table returns the grant table view.
func (d *Domain) Table() Table { return Table{d.table} }

// GrantAccess grants frame to domain remote (gnttab_grant_foreign_access)
// and returns the reference to pass to it.
func (d *Domain) GrantAccess(remote DomID, frame uint32, readonly bool) (Ref, error) {
	if uint64(frame) >= uint64(d.Pages()) {
		return 0, StatusBadPage.Err()
	}
	d.mu.Lock()
	var ref Ref
	switch {
	case len(d.free) > 0:
		ref = d.free[len(d.free)-1]
		d.free = d.free[:len(d.free)-1]
	case uint32(d.next) < d.n:
		ref = d.next
		d.next++
	default:
		d.mu.Unlock()
		return 0, ErrNoRefs
	}
	d.mu.Unlock()
	if err := d.GrantAccessRef(ref, remote, frame, readonly); err != nil {
		d.putRef(ref)
		return 0, err
	}
	return ref, nil
}

func (d *Domain) putRef(ref Ref) {
	if ref < NrReservedEntries {
		return
	}
	d.mu.Lock()
	d.free = append(d.free, ref)
	d.mu.Unlock()
}

// GrantAccessRef fills a specific entry (gnttab_grant_foreign_access_ref):
// frame and domid first, then flags, so a backend never sees a valid flag
// with a stale frame.
func (d *Domain) GrantAccessRef(ref Ref, remote DomID, frame uint32, readonly bool) error {
	if uint32(ref) >= d.n {
		return StatusBadGntref.Err()
	}
	e := d.entry(ref)
	if e.load()&(GTFReading|GTFWriting) != 0 {
		return ErrInUse
	}
	flags := uint32(GTFPermitAccess)
	if readonly {
		flags |= GTFReadonly
	}
	e.frame().Store(frame)
	e.word().Store(flags | uint32(remote)<<16) // flags and domid in one store
	return nil
}

// EndAccess revokes a grant made with GrantAccess
// (gnttab_end_foreign_access_ref) and frees the reference. It fails with
// ErrInUse while a backend has the page mapped or is copying it.
func (d *Domain) EndAccess(ref Ref) error {
	if err := d.EndAccessRef(ref); err != nil {
		return err
	}
	d.putRef(ref)
	return nil
}

// EndAccessRef revokes an entry without returning it to the allocator.
func (d *Domain) EndAccessRef(ref Ref) error {
	if uint32(ref) >= d.n {
		return StatusBadGntref.Err()
	}
	w := d.entry(ref).word()
	for {
		old := w.Load()
		if old&(GTFReading|GTFWriting) != 0 {
			return ErrInUse
		}
		if w.CompareAndSwap(old, old&^0xffff) {
			return nil
		}
	}
}

// Table is a view of a grant table (grant_entry_v1 array).
type Table struct{ b []byte }

// Len returns the number of entries.
func (t Table) Len() int { return len(t.b) / EntrySize }

// Entry reads entry ref. ok is false when ref is out of range.
func (t Table) Entry(ref Ref) (e Entry, ok bool) {
	if uint64(ref) >= uint64(t.Len()) {
		return Entry{}, false
	}
	x := entryAt(t.b, ref)
	w := x.load()
	return Entry{Flags: uint16(w), Domid: DomID(w >> 16), Frame: x.frame().Load()}, true
}

// Entry is a decoded grant_entry_v1.
type Entry struct {
	Flags uint16
	Domid DomID
	Frame uint32
}
