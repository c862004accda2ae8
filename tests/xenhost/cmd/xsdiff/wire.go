package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/xfeat/xfeat/xswire"
)

// This file is the driver's only use of the project's xs_wire codec (package xswire): the
// rest of the driver sees frames and the names below.

// Message types the driver sends or reads.
const (
	tControl     = uint32(xswire.TypeControl)
	tDirectory   = uint32(xswire.TypeDirectory)
	tRead        = uint32(xswire.TypeRead)
	tGetPerms    = uint32(xswire.TypeGetPerms)
	tWatch       = uint32(xswire.TypeWatch)
	tUnwatch     = uint32(xswire.TypeUnwatch)
	tTxStart     = uint32(xswire.TypeTransactionStart)
	tTxEnd       = uint32(xswire.TypeTransactionEnd)
	tIntroduce   = uint32(xswire.TypeIntroduce)
	tRelease     = uint32(xswire.TypeRelease)
	tGetDomPath  = uint32(xswire.TypeGetDomainPath)
	tWrite       = uint32(xswire.TypeWrite)
	tMkdir       = uint32(xswire.TypeMkdir)
	tRm          = uint32(xswire.TypeRm)
	tSetPerms    = uint32(xswire.TypeSetPerms)
	tWatchEvent  = uint32(xswire.TypeWatchEvent)
	tError       = uint32(xswire.TypeError)
	tIsIntro     = uint32(xswire.TypeIsDomainIntroduced)
	tResume      = uint32(xswire.TypeResume)
	tSetTarget   = uint32(xswire.TypeSetTarget)
	tResetWatch  = uint32(xswire.TypeResetWatches)
	tDirPart     = uint32(xswire.TypeDirectoryPart)
	headerSize   = xswire.HeaderSize
	payloadMax   = xswire.PayloadMax
	absPathMax   = xswire.AbsPathMax
	messageMax   = xswire.MessageMax
	domidSelf    = xswire.DomidSelf
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
	b = xswire.AppendHeader(b, xswire.Header{Type: xswire.MsgType(f.Type), ReqID: f.ReqID, TxID: f.TxID, Len: f.Len})
	return append(b, f.Payload...)
}

// readFrame reads one message a daemon sent; buf holds at least messageMax
// bytes. A daemon never sends more than payloadMax bytes of payload.
func readFrame(r io.Reader, buf []byte) (frame, error) {
	h, p, err := xswire.ReadMessage(r, buf)
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
	h, err := xswire.DecodeHeader(b)
	if err != nil {
		return frame{}, 0, false, err
	}
	n = headerSize + int(h.Len)
	if len(b) < n {
		return frame{}, 0, false, nil
	}
	return frame{Type: uint32(h.Type), ReqID: h.ReqID, TxID: h.TxID, Len: h.Len, Payload: append([]byte(nil), b[headerSize:n]...)}, n, true, nil
}

func typeName(t uint32) string { return xswire.MsgType(t).String() }

// strs is the payload of NUL-terminated strings (what libxenstore sends).
func strs(ss ...string) []byte {
	var b []byte
	for _, s := range ss {
		b = append(append(b, s...), 0)
	}
	return b
}

// splitStrings splits a payload of NUL-terminated strings.
func splitStrings(p []byte) []string { return xswire.SplitStrings(p) }

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
