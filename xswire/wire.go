package xswire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MsgType is the type field of a xenstore message (enum xsd_sockmsg_type in
// xen/io/xs_wire.h).
type MsgType uint32

// Message types, numbered as in xs_wire.h (Xen 4.17).
const (
	TypeControl            MsgType = 0
	TypeDirectory          MsgType = 1
	TypeRead               MsgType = 2
	TypeGetPerms           MsgType = 3
	TypeWatch              MsgType = 4
	TypeUnwatch            MsgType = 5
	TypeTransactionStart   MsgType = 6
	TypeTransactionEnd     MsgType = 7
	TypeIntroduce          MsgType = 8
	TypeRelease            MsgType = 9
	TypeGetDomainPath      MsgType = 10
	TypeWrite              MsgType = 11
	TypeMkdir              MsgType = 12
	TypeRm                 MsgType = 13
	TypeSetPerms           MsgType = 14
	TypeWatchEvent         MsgType = 15
	TypeError              MsgType = 16
	TypeIsDomainIntroduced MsgType = 17
	TypeResume             MsgType = 18
	TypeSetTarget          MsgType = 19
	TypeResetWatches       MsgType = 21 // 20 (XS_RESTRICT) was removed
	TypeDirectoryPart      MsgType = 22
	TypeCount              MsgType = 23 // XS_TYPE_COUNT: first invalid type
	TypeInvalid            MsgType = 0xffff
)

var typeNames = [...]string{
	"CONTROL", "DIRECTORY", "READ", "GET_PERMS", "WATCH", "UNWATCH",
	"TRANSACTION_START", "TRANSACTION_END", "INTRODUCE", "RELEASE",
	"GET_DOMAIN_PATH", "WRITE", "MKDIR", "RM", "SET_PERMS", "WATCH_EVENT",
	"ERROR", "IS_DOMAIN_INTRODUCED", "RESUME", "SET_TARGET", "RESTRICT",
	"RESET_WATCHES", "DIRECTORY_PART",
}

func (t MsgType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("TYPE_%d", uint32(t))
}

// Wire limits from xs_wire.h.
const (
	HeaderSize         = 16   // sizeof(struct xsd_sockmsg)
	PayloadMax         = 4096 // XENSTORE_PAYLOAD_MAX, both directions
	AbsPathMax         = 3072 // XENSTORE_ABS_PATH_MAX
	RelPathMax         = 2048 // XENSTORE_REL_PATH_MAX
	MessageMax         = HeaderSize + PayloadMax
	DomidSelf          = 0x7FF0 // DOMID_SELF
	DomidFirstReserved = 0x7FF0
)

// Header field offsets in struct xsd_sockmsg; every field is a uint32 in
// little-endian byte order (x86 and Arm hosts).
const (
	offType  = 0
	offReqID = 4
	offTxID  = 8
	offLen   = 12
)

// Header is a decoded struct xsd_sockmsg.
type Header struct {
	Type  MsgType
	ReqID uint32
	TxID  uint32
	Len   uint32
}

// ErrPayloadTooLong is returned by ReadHeader/DecodeHeader for a header whose
// len exceeds PayloadMax: the stream can no longer be trusted and must be
// closed (C xenstored drops such a connection too).
var ErrPayloadTooLong = errors.New("xenstore message payload exceeds 4096 bytes")

// DecodeHeader decodes the 16-byte header in b (len(b) >= HeaderSize) and
// checks the payload length against PayloadMax.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, io.ErrUnexpectedEOF
	}
	h := Header{
		Type:  MsgType(binary.LittleEndian.Uint32(b[offType:])),
		ReqID: binary.LittleEndian.Uint32(b[offReqID:]),
		TxID:  binary.LittleEndian.Uint32(b[offTxID:]),
		Len:   binary.LittleEndian.Uint32(b[offLen:]),
	}
	if h.Len > PayloadMax {
		return h, ErrPayloadTooLong
	}
	return h, nil
}

// PutHeader encodes h into b[:HeaderSize].
func PutHeader(b []byte, h Header) {
	_ = b[HeaderSize-1]
	binary.LittleEndian.PutUint32(b[offType:], uint32(h.Type))
	binary.LittleEndian.PutUint32(b[offReqID:], h.ReqID)
	binary.LittleEndian.PutUint32(b[offTxID:], h.TxID)
	binary.LittleEndian.PutUint32(b[offLen:], h.Len)
}

// AppendHeader appends the encoding of h to b.
func AppendHeader(b []byte, h Header) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(h.Type))
	b = binary.LittleEndian.AppendUint32(b, h.ReqID)
	b = binary.LittleEndian.AppendUint32(b, h.TxID)
	return binary.LittleEndian.AppendUint32(b, h.Len)
}

// ReadMessage reads one message from r into buf (which must hold at least
// MessageMax bytes) and returns the header and the payload, a sub-slice of
// buf valid until buf is reused. The length is checked before any payload is
// read, so a hostile peer cannot make the reader allocate or over-read.
func ReadMessage(r io.Reader, buf []byte) (Header, []byte, error) {
	if len(buf) < MessageMax {
		return Header{}, nil, errors.New("xswire: ReadMessage buffer too small")
	}
	if _, err := io.ReadFull(r, buf[:HeaderSize]); err != nil {
		return Header{}, nil, err
	}
	h, err := DecodeHeader(buf)
	if err != nil {
		return h, nil, err
	}
	p := buf[HeaderSize : HeaderSize+int(h.Len)]
	if _, err := io.ReadFull(r, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return h, nil, err
	}
	return h, p, nil
}

// SplitStrings splits a payload of NUL-terminated strings. Bytes after the
// last NUL are ignored, as xenstored's get_strings does.
func SplitStrings(p []byte) []string {
	var out []string
	for len(p) > 0 {
		i := indexByte(p, 0)
		if i < 0 {
			break
		}
		out = append(out, string(p[:i]))
		p = p[i+1:]
	}
	return out
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
