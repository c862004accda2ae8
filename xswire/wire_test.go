package xswire

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"testing"
)

func TestHeaderLayout(t *testing.T) {
	// struct xsd_sockmsg: four little-endian uint32s, type, req_id, tx_id, len.
	b := AppendHeader(nil, Header{Type: TypeWrite, ReqID: 0x01020304, TxID: 0x0a0b0c0d, Len: 5})
	want := []byte{11, 0, 0, 0, 4, 3, 2, 1, 0x0d, 0x0c, 0x0b, 0x0a, 5, 0, 0, 0}
	if !bytes.Equal(b, want) {
		t.Fatalf("header % x, want % x", b, want)
	}
	var p [HeaderSize]byte
	PutHeader(p[:], Header{Type: TypeWrite, ReqID: 0x01020304, TxID: 0x0a0b0c0d, Len: 5})
	if !bytes.Equal(p[:], want) {
		t.Fatalf("PutHeader % x", p)
	}
	h, err := DecodeHeader(b)
	if err != nil || h != (Header{Type: TypeWrite, ReqID: 0x01020304, TxID: 0x0a0b0c0d, Len: 5}) {
		t.Fatalf("DecodeHeader = %+v, %v", h, err)
	}
	// Type numbers as in xs_wire.h.
	for typ, n := range map[MsgType]uint32{TypeControl: 0, TypeDirectory: 1, TypeWatchEvent: 15, TypeError: 16,
		TypeIsDomainIntroduced: 17, TypeResetWatches: 21, TypeDirectoryPart: 22, TypeCount: 23} {
		if uint32(typ) != n {
			t.Errorf("%s = %d, want %d", typ, uint32(typ), n)
		}
	}
}

func TestReadMessage(t *testing.T) {
	buf := make([]byte, MessageMax)
	msg := append(AppendHeader(nil, Header{Type: TypeRead, ReqID: 9, Len: 3}), "ab\x00"...)
	h, p, err := ReadMessage(bytes.NewReader(msg), buf)
	if err != nil || h.ReqID != 9 || string(p) != "ab\x00" {
		t.Fatalf("ReadMessage = %+v %q %v", h, p, err)
	}
	// Over 4096: refused before reading (or allocating) the payload.
	big := AppendHeader(nil, Header{Type: TypeRead, Len: PayloadMax + 1})
	if _, _, err := ReadMessage(bytes.NewReader(big), buf); !errors.Is(err, ErrPayloadTooLong) {
		t.Errorf("len 4097: %v", err)
	}
	max := append(AppendHeader(nil, Header{Type: TypeRead, Len: PayloadMax}), make([]byte, PayloadMax)...)
	if _, p, err := ReadMessage(bytes.NewReader(max), buf); err != nil || len(p) != PayloadMax {
		t.Errorf("len 4096: %d %v", len(p), err)
	}
	// Truncated.
	if _, _, err := ReadMessage(bytes.NewReader(msg[:10]), buf); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short header: %v", err)
	}
	if _, _, err := ReadMessage(bytes.NewReader(msg[:17]), buf); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short payload: %v", err)
	}
	if _, _, err := ReadMessage(bytes.NewReader(nil), buf); err != io.EOF {
		t.Errorf("empty: %v", err)
	}
}

func TestPerms(t *testing.T) {
	for in, want := range map[string]Perm{
		"n0": {Domid: 0, Access: 'n'}, "r5": {Domid: 5, Access: 'r'}, "w65535": {Domid: 65535, Access: 'w'},
		"b0x10": {Domid: 16, Access: 'b'}, "r010": {Domid: 8, Access: 'r'}, "r00": {Domid: 0, Access: 'r'},
	} {
		got, err := ParsePerm(in)
		if err != nil || got != want {
			t.Errorf("ParsePerm(%q) = %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "r", "x5", "r-1", "r+1", "r 1", "r65536", "r0x", "r1_0", "r08", "R1", "r5\x00"} {
		if p, err := ParsePerm(bad); err == nil {
			t.Errorf("ParsePerm(%q) = %+v, want error", bad, p)
		}
	}
	if s := (Perm{Domid: 7, Access: 'b'}).String(); s != "b7" {
		t.Errorf("String = %q", s)
	}
}

func TestErrors(t *testing.T) {
	e := &Error{Errno: "ENOENT", Op: "READ", Path: "/x"}
	if !errors.Is(e, ErrNotFound) || errors.Is(e, ErrPermission) || !errors.Is(e, fs.ErrNotExist) {
		t.Error("ENOENT matching")
	}
	if e.Error() != "xenstore READ /x: ENOENT (no such file or directory)" {
		t.Errorf("message %q", e.Error())
	}
	if !errors.Is(&Error{Errno: "EQUOTA"}, ErrQuota) || !errors.Is(&Error{Errno: "ENOSPC"}, ErrQuota) {
		t.Error("quota errors")
	}
	if !errors.Is(&Error{Errno: "EACCES"}, fs.ErrPermission) {
		t.Error("EACCES is fs.ErrPermission")
	}
	if (&Error{Errno: "EWHAT"}).Syscall() != 22 {
		t.Error("unknown errno is EINVAL, as in libxenstore")
	}
}

func TestSplitStrings(t *testing.T) {
	got := SplitStrings([]byte("a\x00bc\x00\x00tail"))
	if len(got) != 3 || got[0] != "a" || got[1] != "bc" || got[2] != "" {
		t.Errorf("SplitStrings = %q", got)
	}
}

// FuzzReadMessage: the frame decoder never panics, never returns a payload
// longer than 4096 bytes or than the input, and round-trips what it read.
func FuzzReadMessage(f *testing.F) {
	f.Add(append(AppendHeader(nil, Header{Type: TypeRead, ReqID: 1, Len: 3}), "/a\x00"...))
	f.Add(AppendHeader(nil, Header{Type: TypeWrite, Len: 4097}))
	f.Add([]byte{1, 2, 3})
	buf := make([]byte, MessageMax)
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		for {
			h, p, err := ReadMessage(r, buf)
			if err != nil {
				return
			}
			if len(p) > PayloadMax || int(h.Len) != len(p) {
				t.Fatalf("payload %d bytes for len %d", len(p), h.Len)
			}
			enc := append(AppendHeader(nil, h), p...)
			h2, p2, err := ReadMessage(bytes.NewReader(enc), make([]byte, MessageMax))
			if err != nil || h2 != h || !bytes.Equal(p2, p) {
				t.Fatalf("round trip: %+v %v", h2, err)
			}
		}
	})
}
