package grant

import "testing"

// BenchmarkMapUnmap is the cost of mapping and unmapping one granted 4 KiB
// page (GNTTABOP_map_grant_ref + unmap_grant_ref: checks, GTF bit updates,
// pin accounting, handle table).
func BenchmarkMapUnmap(b *testing.B) {
	for _, ro := range []bool{false, true} {
		name := "rw"
		if ro {
			name = "ro"
		}
		b.Run(name, func(b *testing.B) {
			g := newGuest(b, 4, 1)
			m := NewMapper(backendID, g)
			ref, _ := g.GrantAccess(backendID, 1, ro)
			b.ReportAllocs()
			b.SetBytes(PageSize)
			for b.Loop() {
				mp, err := m.Map(ref, ro)
				if err != nil {
					b.Fatal(err)
				}
				m.Unmap(mp.Handle)
			}
		})
	}
}

// BenchmarkCopyPage is the cost of one GNTTABOP_copy of a whole 4 KiB page
// between a grant and a local buffer, in batches of 11 (a blkif request's
// worth of segments); ns/op is per page.
func BenchmarkCopyPage(b *testing.B) {
	for _, dir := range []string{"from-guest", "to-guest"} {
		b.Run(dir, func(b *testing.B) {
			g := newGuest(b, 16, 1)
			m := NewMapper(backendID, g)
			local := make([]byte, 11*PageSize)
			ops := make([]CopyOp, 11)
			for i := range ops {
				ref, _ := g.GrantAccess(backendID, uint32(i+1), false)
				gp := CopyPtr{Ref: ref}
				lp := CopyPtr{Local: local[i*PageSize : (i+1)*PageSize]}
				if dir == "from-guest" {
					ops[i] = CopyOp{Src: gp, Dst: lp, Len: PageSize}
				} else {
					ops[i] = CopyOp{Src: lp, Dst: gp, Len: PageSize}
				}
			}
			b.ReportAllocs()
			b.SetBytes(PageSize)
			for i := 0; i < b.N; i += len(ops) {
				k := min(len(ops), b.N-i)
				if m.Copy(ops[:k]) != 0 {
					b.Fatal(ops[0].Status)
				}
			}
		})
	}
}
