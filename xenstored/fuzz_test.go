package xenstored

import (
	"encoding/binary"
	"testing"

	T "github.com/xfeat/xfeat/xsclient"
)

// FuzzRequest feeds arbitrary requests (type, tx id, payload) to the request
// handler of a privileged and of a guest connection. It must never panic,
// and every request must queue exactly one reply.
func FuzzRequest(f *testing.F) {
	seeds := []struct {
		typ uint32
		tx  uint32
		p   string
	}{
		{uint32(T.TypeWrite), 0, "/a/b\x00v"},
		{uint32(T.TypeRead), 0, "/a/b\x00"},
		{uint32(T.TypeDirectory), 0, "/\x00"},
		{uint32(T.TypeDirectoryPart), 0, "/\x003\x00"},
		{uint32(T.TypeSetPerms), 0, "/a\x00r5\x00b0x7\x00"},
		{uint32(T.TypeGetPerms), 0, "@introduceDomain\x00"},
		{uint32(T.TypeWatch), 0, "rel\x00tok\x00"},
		{uint32(T.TypeUnwatch), 0, "rel\x00tok\x00"},
		{uint32(T.TypeTransactionStart), 0, "\x00"},
		{uint32(T.TypeTransactionEnd), 1, "T\x00"},
		{uint32(T.TypeMkdir), 1, "x/y\x00"},
		{uint32(T.TypeRm), 0, "/a\x00"},
		{uint32(T.TypeIntroduce), 0, "9\x000\x001\x00"},
		{uint32(T.TypeRelease), 0, "9\x00"},
		{uint32(T.TypeSetTarget), 0, "9\x005\x00"},
		{uint32(T.TypeResetWatches), 0, "\x00"},
		{0xffff, 0, "\xff\xfe"},
	}
	for _, s := range seeds {
		f.Add(s.typ, s.tx, []byte(s.p))
	}
	s, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	if err := s.Introduce(5, 0, 1); err != nil {
		f.Fatal(err)
	}
	priv := newConn(s, nil, 0, nil)
	s.st.Lock()
	guest := newConn(s, nil, 5, s.st.domains[5])
	s.st.Unlock()
	f.Fuzz(func(t *testing.T, typ, tx uint32, p []byte) {
		if len(p) > T.PayloadMax {
			p = p[:T.PayloadMax]
		}
		for _, c := range []*conn{priv, guest} {
			c.out.Lock()
			c.out.pending, c.out.replies = c.out.pending[:0], 0
			c.out.Unlock()
			c.handle(T.Header{Type: T.MsgType(typ), ReqID: 7, TxID: tx, Len: uint32(len(p))}, p)
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
				out = out[T.HeaderSize+int(binary.LittleEndian.Uint32(out[12:])):]
			}
			c.out.Unlock()
			if replies != 1 {
				t.Fatalf("type %d: %d replies", typ, replies)
			}
		}
	})
}
