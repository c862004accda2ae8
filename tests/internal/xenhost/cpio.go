package xenhost

import (
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"sort"
)

// archive is an initramfs under construction: the "newc" cpio format the
// Linux kernel unpacks (Documentation/driver-api/early-userspace/
// buffer-format.rst), gzip-compressed. Entries are kept by path so that a
// file added twice (a library two binaries need) is written once, and every
// parent directory exists before its children.
type archive struct {
	entries map[string]entry
}

type entry struct {
	mode uint32 // file type and permission bits, as in stat(2)
	data []byte // file contents, or a symlink's target
}

const (
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
)

func newArchive() *archive { return &archive{entries: map[string]entry{}} }

// file adds a regular file with permission bits perm.
func (a *archive) file(name string, perm uint32, data []byte) {
	a.parents(name)
	a.entries[clean(name)] = entry{mode: modeRegular | perm, data: data}
}

// symlink adds name pointing at target.
func (a *archive) symlink(name, target string) {
	a.parents(name)
	a.entries[clean(name)] = entry{mode: modeSymlink | 0o777, data: []byte(target)}
}

// dir adds an empty directory.
func (a *archive) dir(name string) {
	a.parents(name)
	if _, ok := a.entries[clean(name)]; !ok {
		a.entries[clean(name)] = entry{mode: modeDir | 0o755}
	}
}

func (a *archive) parents(name string) {
	for d := path.Dir(clean(name)); d != "." && d != "/" && d != ""; d = path.Dir(d) {
		if _, ok := a.entries[d]; !ok {
			a.entries[d] = entry{mode: modeDir | 0o755}
		}
	}
}

func clean(name string) string {
	c := path.Clean("/" + name)
	return c[1:]
}

// writeTo writes the gzip-compressed archive, parents first.
func (a *archive) writeTo(w io.Writer) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(a.entries))
	for n := range a.entries {
		names = append(names, n)
	}
	sort.Strings(names) // a parent sorts before its children
	ino := uint32(1)
	for _, n := range names {
		e := a.entries[n]
		if err := writeRecord(zw, ino, n, e.mode, e.data); err != nil {
			return err
		}
		ino++
	}
	if err := writeRecord(zw, 0, "TRAILER!!!", 0, nil); err != nil {
		return err
	}
	return zw.Close()
}

// writeRecord writes one newc header, the NUL-terminated name and the data,
// each padded to a multiple of 4 bytes.
func writeRecord(w io.Writer, ino uint32, name string, mode uint32, data []byte) error {
	nlink := uint32(1)
	if mode&0o170000 == modeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	var buf []byte
	buf = append(buf, hdr...)
	buf = append(buf, name...)
	buf = append(buf, 0)
	buf = pad4(buf)
	buf = append(buf, data...)
	buf = pad4(buf)
	_, err := w.Write(buf)
	return err
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
