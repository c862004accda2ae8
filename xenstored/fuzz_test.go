package xenstored

import (
	"encoding/binary"
	"testing"

	T "github.com/xfeat/xfeat/xsclient"
)

// fuzzFrame encodes one request of a FuzzRequest input: a byte whose low
// 7 bits are the type and whose top bit picks the guest connection, a tx
// id byte, a 16-bit payload length, the payload.
func fuzzFrame(typ T.MsgType, guest bool, tx byte, p string) []byte {
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
	f.Add(seq(fuzzFrame(T.TypeWrite, false, 0, "/a/b\x00v"), fuzzFrame(T.TypeRead, true, 0, "/a/b\x00")))
	f.Add(seq(fuzzFrame(T.TypeTransactionStart, false, 0, "\x00"), fuzzFrame(T.TypeWrite, false, 1, "/x\x00v"),
		fuzzFrame(T.TypeWrite, false, 0, "/x\x00w"), fuzzFrame(T.TypeTransactionEnd, false, 1, "T\x00")))
	f.Add(seq(fuzzFrame(T.TypeWatch, true, 0, "rel\x00tok\x00"), fuzzFrame(T.TypeMkdir, true, 0, "rel/x\x00"),
		fuzzFrame(T.TypeRm, true, 0, "rel\x00"), fuzzFrame(T.TypeUnwatch, true, 0, "rel\x00tok\x00")))
	f.Add(seq(fuzzFrame(T.TypeSetPerms, false, 0, "/a\x00r5\x00b0x7\x00"), fuzzFrame(T.TypeGetPerms, true, 0, "/a\x00"),
		fuzzFrame(T.TypeDirectory, true, 0, "/\x00"), fuzzFrame(T.TypeDirectoryPart, false, 0, "/\x003\x00")))
	f.Add(seq(fuzzFrame(T.TypeIntroduce, false, 0, "9\x000\x001\x00"), fuzzFrame(T.TypeSetTarget, false, 0, "5\x009\x00"),
		fuzzFrame(T.TypeRelease, false, 0, "5\x00"), fuzzFrame(T.TypeWrite, true, 0, "x\x00y"),
		fuzzFrame(T.TypeResetWatches, true, 0, "\x00"), fuzzFrame(0x7f, false, 0, "\xff\xfe")))
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
			typ, tx := T.MsgType(data[0]&0x7f), uint32(data[1])
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
			if len(p) > T.PayloadMax {
				p = p[:T.PayloadMax]
			}
			c.out.Lock()
			c.out.pending, c.out.replies = c.out.pending[:0], 0
			clear(c.out.events)
			c.out.Unlock()
			c.handle(T.Header{Type: typ, ReqID: 7, TxID: tx, Len: uint32(len(p))}, p)
			c.hook = nil
			c.out.Lock()
			replies, out := 0, c.out.pending
			for len(out) >= T.HeaderSize {
				h, err := T.DecodeHeader(out)
				if err != nil {
					t.Fatalf("daemon produced a bad header: %v", err)
				}
				if h.Type != T.TypeWatchEvent {
					replies++
					if h.ReqID != 7 {
						t.Fatalf("reply with req_id %d", h.ReqID)
					}
				}
				out = out[T.HeaderSize+int(h.Len):]
			}
			c.out.Unlock()
			if replies != 1 && !c.gone {
				t.Fatalf("request %d (type %d): %d replies", n, typ, replies)
			}
		}
	})
}
