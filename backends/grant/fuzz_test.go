package grant

import (
	"encoding/binary"
	"testing"
)

// FuzzCopy feeds guest-controlled copy arguments (grefs, offsets, lengths,
// as a backend takes them from ring requests) to Mapper.Copy, against a
// table the input also scribbles on. Copy must never panic, must only
// succeed within page and buffer bounds on entries granted to the backend,
// and must leave no GTF_reading/GTF_writing bit or pin behind.
func FuzzCopy(f *testing.F) {
	f.Add([]byte{8, 0, 0, 0, 0, 0, 0, 16, 1})
	f.Add([]byte{9, 0, 0xf0, 0x0f, 0x20, 0, 1, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0xff})
	g := newGuest(f, 4, 1)
	m := NewMapper(backendID, g)
	f.Fuzz(func(t *testing.T, data []byte) {
		for r := Ref(0); r < 16; r++ {
			g.entry(r).word().Store(0)
		}
		g.GrantAccessRef(8, backendID, 1, false)
		g.GrantAccessRef(9, backendID, 2, true)
		g.GrantAccessRef(10, otherID, 3, false)
		local := make([]byte, 3000)
		var ops []CopyOp
		for len(data) >= 9 {
			if data[0] == 0xff && len(data) >= 13 { // scribble on an entry
				ref := Ref(data[1]) % 16
				g.entry(ref).word().Store(binary.LittleEndian.Uint32(data[2:]) &^ (GTFReading | GTFWriting))
				g.entry(ref).frame().Store(binary.LittleEndian.Uint32(data[6:]) % 8)
				data = data[13:]
				continue
			}
			op := CopyOp{Len: binary.LittleEndian.Uint16(data[7:])}
			src := CopyPtr{Ref: Ref(data[0]), Offset: binary.LittleEndian.Uint16(data[1:])}
			dst := CopyPtr{Ref: Ref(data[3]) | Ref(data[4])<<24, Offset: binary.LittleEndian.Uint16(data[5:])}
			if data[0]&1 == 1 {
				src.Local = local
			} else if data[3]&1 == 1 {
				dst.Local = local
			}
			op.Src, op.Dst = src, dst
			ops = append(ops, op)
			data = data[9:]
		}
		m.Copy(ops)
		for _, op := range ops {
			if op.Status != StatusOkay {
				continue
			}
			for _, p := range []CopyPtr{op.Src, op.Dst} {
				lim := PageSize
				if p.Local != nil {
					lim = len(p.Local)
				}
				if int(p.Offset)+int(op.Len) > lim {
					t.Fatalf("copy out of bounds succeeded: %+v", op)
				}
			}
			if op.Dst.Local == nil {
				e, _ := g.Table().Entry(op.Dst.Ref)
				if e.Domid != backendID || e.Flags&GTFReadonly != 0 {
					t.Fatalf("wrote a page not granted writable: %+v entry %+v", op, e)
				}
			}
		}
		for r := Ref(0); r < 16; r++ {
			if e, _ := g.Table().Entry(r); e.Flags&(GTFReading|GTFWriting) != 0 || g.pin(r).counts().Load() != 0 {
				t.Fatalf("ref %d left in use: %+v", r, e)
			}
		}
	})
}
