package ring

import (
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzBackHostile lets the input play a hostile frontend against a Back: it
// writes any value to any shared index, rewrites slots, and interleaves the
// backend's calls. The Back must never panic, never hand out more requests
// than a ring holds without responses, never answer more than it consumed,
// and once broken stay broken.
func FuzzBackHostile(f *testing.F) {
	f.Add([]byte{0, 5, 2, 2, 3, 4, 0, 40, 2})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 2, 6, 6, 6})
	f.Add([]byte{0, 32, 2, 2, 2, 0, 1, 2, 5, 7, 3, 3, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := make([]byte, 4096)
		if _, err := NewBlkifFront(mem); err != nil {
			t.Fatal(err)
		}
		b, err := NewBlkifBack(mem)
		if err != nil {
			t.Fatal(err)
		}
		var req BlkifRequest
		consumed, responded := uint32(0), uint32(0)
		var broken error
		for len(data) > 0 {
			op := data[0] % 8
			data = data[1:]
			arg := uint32(0)
			if len(data) >= 1 {
				arg = uint32(data[0])
				data = data[1:]
			}
			switch op {
			case 0: // frontend advances req_prod by arg (maybe past the ring)
				b.reqProd.Store(b.reqProd.Load() + arg)
			case 1: // frontend writes a raw 32-bit value to an index
				if len(data) >= 4 {
					v := binary.LittleEndian.Uint32(data)
					data = data[4:]
					word(mem, int(arg%4)*4).Store(v)
				}
			case 2:
				ok, err := b.NextRequest(&req)
				if ok {
					consumed++
					if consumed-responded > b.Size() {
						t.Fatalf("%d requests outstanding on a %d-entry ring", consumed-responded, b.Size())
					}
				}
				if err != nil && !errors.Is(err, ErrBroken) {
					t.Fatal(err)
				}
			case 3:
				if err := b.PutResponse(&BlkifResponse{ID: req.ID}); err == nil {
					responded++
				}
				if responded > consumed {
					t.Fatal("responded to more than was consumed")
				}
			case 4:
				b.PushResponses()
			case 5:
				b.FinalCheckForRequests()
			case 6:
				for i := uint32(0); i <= arg*8; i++ {
					b.Notified()
				}
			case 7: // rewrite a slot
				s := mem[HeaderSize+int(arg%32)*BlkifEntrySize:]
				for i := 0; i < BlkifEntrySize && i < len(data); i++ {
					s[i] = data[i]
				}
			}
			if n, err := b.Unconsumed(); err == nil && n > b.Size() {
				t.Fatalf("unconsumed %d > ring size", n)
			}
			if broken != nil && b.Err() == nil {
				t.Fatal("ring repaired itself")
			}
			broken = b.Err()
			if broken != nil {
				if ok, err := b.NextRequest(&req); ok || err == nil {
					t.Fatal("broken ring served a request")
				}
			}
		}
	})
}
