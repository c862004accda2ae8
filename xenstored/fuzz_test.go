package xenstored

import (
	"encoding/binary"
	"testing"

	"github.com/xfeat/xfeat/xswire"
)

// fuzzFrame encodes one request of a FuzzRequest input: a byte whose low
// 7 bits are the type and whose top bit picks the guest connection, a tx
// id byte, a 16-bit payload length, the payload.
func fuzzFrame(typ xswire.MsgType, guest bool, tx byte, p string) []byte {
	b := byte(typ) & 0x7f
	if guest {
		b |= 0x80
	}
	out := []byte{b, tx, 0, 0}
	binary.LittleEndian.PutUint16(out[2:], uint16(len(p)))
	return append(out, p...)
}

// FuzzRequest feeds a sequence of arbitrary requests to the request handler
// of a fresh daemon, through a privileged and a guest connection. It must
// never panic, and every request must be answered exactly once.
func FuzzRequest(f *testing.F) {
	seq := func(frames ...[]byte) []byte {
		var b []byte
		for _, fr := range frames {
			b = append(b, fr...)
		}
		return b
	}
	f.Add(seq(fuzzFrame(xswire.TypeWrite, false, 0, "/a/b\x00v"), fuzzFrame(xswire.TypeRead, true, 0, "/a/b\x00")))
	f.Add(seq(fuzzFrame(xswire.TypeTransactionStart, false, 0, "\x00"), fuzzFrame(xswire.TypeWrite, false, 1, "/x\x00v"),
		fuzzFrame(xswire.TypeWrite, false, 0, "/x\x00w"), fuzzFrame(xswire.TypeTransactionEnd, false, 1, "T\x00")))
	f.Add(seq(fuzzFrame(xswire.TypeWatch, true, 0, "rel\x00tok\x00"), fuzzFrame(xswire.TypeMkdir, true, 0, "rel/x\x00"),
		fuzzFrame(xswire.TypeRm, true, 0, "rel\x00"), fuzzFrame(xswire.TypeUnwatch, true, 0, "rel\x00tok\x00")))
	f.Add(seq(fuzzFrame(xswire.TypeSetPerms, false, 0, "/a\x00r5\x00b0x7\x00"), fuzzFrame(xswire.TypeGetPerms, true, 0, "/a\x00"),
		fuzzFrame(xswire.TypeDirectory, true, 0, "/\x00"), fuzzFrame(xswire.TypeDirectoryPart, false, 0, "/\x003\x00")))
	f.Add(seq(fuzzFrame(xswire.TypeIntroduce, false, 0, "9\x000\x001\x00"), fuzzFrame(xswire.TypeSetTarget, false, 0, "5\x009\x00"),
		fuzzFrame(xswire.TypeRelease, false, 0, "5\x00"), fuzzFrame(xswire.TypeWrite, true, 0, "x\x00y"),
		fuzzFrame(xswire.TypeResetWatches, true, 0, "\x00"), fuzzFrame(0x7f, false, 0, "\xff\xfe")))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Introduce(5, 0, 1); err != nil {
			t.Fatal(err)
		}
		priv := newConn(s, nil, 0, nil)
		s.st.Lock()
		guest := newConn(s, nil, 5, s.st.domains[5])
		s.st.Unlock()
		for n := 0; len(data) >= 4 && n < 64; n++ {
			typ, tx := xswire.MsgType(data[0]&0x7f), uint32(data[1])
			c := priv
			if data[0]&0x80 != 0 {
				c = guest
			}
			l := int(binary.LittleEndian.Uint16(data[2:]))
			data = data[4:]
			if l > len(data) {
				l = len(data)
			}
			p := data[:l]
			data = data[l:]
			if len(p) > xswire.PayloadMax {
				p = p[:xswire.PayloadMax]
			}
			c.out.Lock()
			c.out.pending, c.out.replies = c.out.pending[:0], 0
			clear(c.out.events)
			c.out.Unlock()
			c.handle(xswire.Header{Type: typ, ReqID: 7, TxID: tx, Len: uint32(len(p))}, p)
			c.hook = nil
			c.out.Lock()
			replies, out := 0, c.out.pending
			for len(out) >= xswire.HeaderSize {
				h, err := xswire.DecodeHeader(out)
				if err != nil {
					t.Fatalf("daemon produced a bad header: %v", err)
				}
				if h.Type != xswire.TypeWatchEvent {
					replies++
					if h.ReqID != 7 {
						t.Fatalf("reply with req_id %d", h.ReqID)
					}
				}
				out = out[xswire.HeaderSize+int(h.Len):]
			}
			c.out.Unlock()
			if replies != 1 && !c.gone {
				t.Fatalf("request %d (type %d): %d replies", n, typ, replies)
			}
		}
	})
}
