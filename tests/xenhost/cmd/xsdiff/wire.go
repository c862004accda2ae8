package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/xfeat/xfeat/xsclient"
)

// This file is the driver's only use of the project's xs_wire codec: the
// rest of the driver sees frames and the names below.

// Message types the driver sends or reads.
const (
	tControl     = uint32(xsclient.TypeControl)
	tDirectory   = uint32(xsclient.TypeDirectory)
	tRead        = uint32(xsclient.TypeRead)
	tGetPerms    = uint32(xsclient.TypeGetPerms)
	tWatch       = uint32(xsclient.TypeWatch)
	tUnwatch     = uint32(xsclient.TypeUnwatch)
	tTxStart     = uint32(xsclient.TypeTransactionStart)
	tTxEnd       = uint32(xsclient.TypeTransactionEnd)
	tIntroduce   = uint32(xsclient.TypeIntroduce)
	tRelease     = uint32(xsclient.TypeRelease)
	tGetDomPath  = uint32(xsclient.TypeGetDomainPath)
	tWrite       = uint32(xsclient.TypeWrite)
	tMkdir       = uint32(xsclient.TypeMkdir)
	tRm          = uint32(xsclient.TypeRm)
	tSetPerms    = uint32(xsclient.TypeSetPerms)
	tWatchEvent  = uint32(xsclient.TypeWatchEvent)
	tError       = uint32(xsclient.TypeError)
	tIsIntro     = uint32(xsclient.TypeIsDomainIntroduced)
	tResume      = uint32(xsclient.TypeResume)
	tSetTarget   = uint32(xsclient.TypeSetTarget)
	tResetWatch  = uint32(xsclient.TypeResetWatches)
	tDirPart     = uint32(xsclient.TypeDirectoryPart)
	headerSize   = xsclient.HeaderSize
	payloadMax   = xsclient.PayloadMax
	absPathMax   = xsclient.AbsPathMax
	messageMax   = xsclient.MessageMax
	domidSelf    = xsclient.DomidSelf
	noSuchLength = ^uint32(0)
)

// frame is one xs_wire message as it crossed the wire: its header fields
// and its payload. len is the header's length field, which for a frame the
// driver builds on purpose may disagree with the payload it carries.
type frame struct {
	Type, ReqID, TxID, Len uint32
	Payload                []byte
}

// newFrame is a well-formed request.
func newFrame(typ, reqID, txID uint32, payload []byte) frame {
	return frame{Type: typ, ReqID: reqID, TxID: txID, Len: uint32(len(payload)), Payload: payload}
}

// bytes encodes f: its header (with f.Len as given) and its payload.
func (f frame) bytes() []byte {
	b := make([]byte, 0, headerSize+len(f.Payload))
	b = xsclient.AppendHeader(b, xsclient.Header{Type: xsclient.MsgType(f.Type), ReqID: f.ReqID, TxID: f.TxID, Len: f.Len})
	return append(b, f.Payload...)
}

// readFrame reads one message a daemon sent; buf holds at least messageMax
// bytes. A daemon never sends more than payloadMax bytes of payload.
func readFrame(r io.Reader, buf []byte) (frame, error) {
	h, p, err := xsclient.ReadMessage(r, buf)
	if err != nil {
		return frame{}, err
	}
	return frame{Type: uint32(h.Type), ReqID: h.ReqID, TxID: h.TxID, Len: h.Len, Payload: append([]byte(nil), p...)}, nil
}

// decodeFrame decodes a whole message held in b (a ring's bytes); ok false
// when b holds less than its header announces.
func decodeFrame(b []byte) (f frame, n int, ok bool, err error) {
	if len(b) < headerSize {
		return frame{}, 0, false, nil
	}
	h, err := xsclient.DecodeHeader(b)
	if err != nil {
		return frame{}, 0, false, err
	}
	n = headerSize + int(h.Len)
	if len(b) < n {
		return frame{}, 0, false, nil
	}
	return frame{Type: uint32(h.Type), ReqID: h.ReqID, TxID: h.TxID, Len: h.Len, Payload: append([]byte(nil), b[headerSize:n]...)}, n, true, nil
}

func typeName(t uint32) string { return xsclient.MsgType(t).String() }

// strs is the payload of NUL-terminated strings (what libxenstore sends).
func strs(ss ...string) []byte {
	var b []byte
	for _, s := range ss {
		b = append(append(b, s...), 0)
	}
	return b
}

// splitStrings splits a payload of NUL-terminated strings.
func splitStrings(p []byte) []string { return xsclient.SplitStrings(p) }

// quote shows a payload readably in reports (NULs as \x00).
func quote(p []byte) string {
	s := strconv.Quote(string(p))
	return strings.ReplaceAll(s, `\x00`, `\0`)
}

func (f frame) String() string {
	p := f.Payload
	more := ""
	if len(p) > 120 {
		p, more = p[:120], fmt.Sprintf("...(%d bytes)", len(f.Payload))
	}
	return fmt.Sprintf("%s req=%d tx=%d len=%d %s%s", typeName(f.Type), f.ReqID, f.TxID, f.Len, quote(p), more)
}
