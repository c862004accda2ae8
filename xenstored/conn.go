package xenstored

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/maphash"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/xfeat/xfeat/xswire"
)

// conn is one client connection. Requests are read and handled, one at a
// time, by the connection's reader goroutine; replies and watch events are
// appended to out.pending and written by whoever flushes first: the reader
// (when no further request is already buffered, so pipelined requests get
// their replies in one write) or the connection's writer goroutine (kicked
// when another connection's request queued a watch event here).
//
//	reader:  read msg -> lock st -> handle -> append reply -> unlock st -> flush?
//	other:   lock st -> ... -> append event to our out -> kick writer
//	writer:  kick -> flush
type conn struct {
	s      *Server
	nc     net.Conn
	domid  uint32
	priv   bool
	dom    *domain // nil for privileged connections
	prefix string  // "/local/domain/<domid>": relative paths start here

	// Owned by the reader goroutine.
	br      *bufio.Reader
	buf     [xswire.MessageMax]byte
	pathBuf []byte // canonical path of a relative request path
	outBuf  []byte // reply payload under construction
	dirBuf  []byte // DIRECTORY_PART's view of the child list
	hook    func() // run after the request, with no lock held

	// Must hold s.st.
	kickQueued bool // in Server.st.kicks
	watches    []*watch
	txs        map[uint32]*txn
	nextTx     uint32
	gone       bool // removed from the server's tables

	out struct {
		sync.Mutex
		cond    sync.Cond
		pending []byte // messages not yet handed to a write
		spare   []byte
		replies int // replies in pending: outstanding requests
		// events indexes the watch events in pending by a hash of
		// their payload, to the offset of their header: an event
		// identical to one still pending is dropped, as C 4.17 does
		// (XSA-326). Emptied when pending is handed to a write.
		events  map[uint64]int
		evHash  maphash.Hash
		inWrite int // replies in the write under way
		writing bool
		closed  bool
		// held: events are being queued by a request (or in-process
		// call) not yet done; pending is not handed to a write until
		// Server.kickLocked clears it, so that a write under way cannot
		// take half of them and let the rest escape coalescing.
		held bool
	}
	writeStart atomic.Int64 // Server.now when the current write began; 0: none
	kick       chan struct{}
	quit       chan struct{} // closed once the reader is done: stops the writer
	quitOnce   sync.Once
}

func newConn(s *Server, nc net.Conn, domid uint32, dom *domain) *conn {
	c := &conn{
		s: s, nc: nc, domid: domid, priv: dom == nil, dom: dom,
		prefix: "/local/domain/" + strconv.FormatUint(uint64(domid), 10),
		br:     bufio.NewReaderSize(nc, 16<<10),
		txs:    make(map[uint32]*txn),
		nextTx: 1,
		kick:   make(chan struct{}, 1),
		quit:   make(chan struct{}),
	}
	c.out.cond.L = &c.out.Mutex
	return c
}

// targetLocked returns the domain whose permissions this connection also
// has (SET_TARGET). Must hold s.st.
func (c *conn) targetLocked() (bool, uint32) {
	if c.dom == nil {
		return false, 0
	}
	return c.dom.hasTarget, c.dom.target
}

// serve runs the connection until the peer goes away or the server closes.
func (c *conn) serve() {
	go c.writer()
	var err error
	for {
		var h xswire.Header
		var p []byte
		h, p, err = xswire.ReadMessage(c.br, c.buf[:])
		if err != nil {
			break
		}
		if !c.priv && c.s.q.Outstanding > 0 {
			c.waitOutstanding()
		}
		if int(h.Len) > c.s.q.Payload {
			c.replyErr(h, e2BIG)
		} else {
			c.handle(h, p)
		}
		if c.hook != nil {
			hook := c.hook
			c.hook = nil
			hook()
		}
		if !c.nextBuffered() {
			c.flush()
		}
	}
	if errors.Is(err, xswire.ErrPayloadTooLong) {
		c.s.domLogf(c.domid, "xenstored: domain %d sent a message longer than %d bytes: connection closed", c.domid, xswire.PayloadMax)
	} else if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, os.ErrDeadlineExceeded) {
		c.s.domLogf(c.domid, "xenstored: domain %d: %v", c.domid, err)
	}
	c.close()
	c.s.st.Lock()
	c.s.dropConnLocked(c)
	c.s.st.Unlock()
}

// nextBuffered reports whether a whole further request is already buffered,
// so that its reply can share a write with this one.
func (c *conn) nextBuffered() bool {
	n := c.br.Buffered()
	if n < xswire.HeaderSize {
		return false
	}
	hdr, err := c.br.Peek(xswire.HeaderSize)
	if err != nil {
		return false
	}
	l := int(binary.LittleEndian.Uint32(hdr[12:]))
	if l > xswire.PayloadMax || n < xswire.HeaderSize+l {
		return false
	}
	c.out.Lock()
	big := len(c.out.pending) >= 64<<10
	c.out.Unlock()
	return !big
}

func (c *conn) close() {
	c.out.Lock()
	c.out.closed = true
	c.out.cond.Broadcast()
	c.out.Unlock()
	c.nc.Close()
	c.quitOnce.Do(func() { close(c.quit) })
}

func (c *conn) writer() {
	for {
		select {
		case <-c.kick:
			c.flush()
		case <-c.quit:
			return
		}
	}
}

// waitOutstanding blocks while the connection has Outstanding replies its
// client has not read (C xenstored stops reading a domain's ring then).
func (c *conn) waitOutstanding() {
	c.out.Lock()
	for !c.out.closed && c.out.replies+c.out.inWrite >= c.s.q.Outstanding {
		if !c.out.writing && !c.out.held {
			c.drainLocked()
			continue
		}
		c.out.cond.Wait()
	}
	c.out.Unlock()
}

// flush writes everything pending unless another goroutine is already
// writing (it will write what we queued too).
func (c *conn) flush() {
	c.out.Lock()
	if !c.out.writing {
		c.drainLocked()
	}
	c.out.Unlock()
}

// drainLocked writes pending output until there is none. Must hold c.out;
// it is released during each write.
func (c *conn) drainLocked() {
	c.out.writing = true
	for len(c.out.pending) > 0 && !c.out.closed && !c.out.held {
		buf := c.out.pending
		c.out.pending, c.out.spare = c.out.spare[:0], nil
		clear(c.out.events)
		c.out.inWrite, c.out.replies = c.out.replies, 0
		c.out.Unlock()
		// The janitor closes the connection if this write takes longer
		// than WriteTimeout (cheaper than a deadline per write).
		c.writeStart.Store(c.s.now.Load())
		_, err := c.nc.Write(buf)
		c.writeStart.Store(0)
		c.out.Lock()
		c.out.inWrite = 0
		if cap(buf) <= 256<<10 {
			c.out.spare = buf[:0]
		}
		if err != nil {
			c.out.closed = true
			c.nc.Close()
		}
	}
	c.out.writing = false
	c.out.cond.Broadcast()
}

// queue appends one message; a connection whose queue would exceed
// MaxConnOutput is closed instead. a and b are the payload, in two parts.
func (c *conn) queue(h xswire.Header, a []byte, b string, reply bool) bool {
	h.Len = uint32(len(a) + len(b))
	c.out.Lock()
	defer c.out.Unlock()
	if c.out.closed {
		return false
	}
	if len(c.out.pending)+xswire.HeaderSize+int(h.Len) > c.s.cfg.MaxConnOutput {
		c.out.closed = true
		c.out.cond.Broadcast()
		c.s.domLogf(c.domid, "xenstored: domain %d has %d bytes of unread output: connection closed", c.domid, len(c.out.pending))
		c.nc.Close()
		return false
	}
	c.out.pending = xswire.AppendHeader(c.out.pending, h)
	c.out.pending = append(c.out.pending, a...)
	c.out.pending = append(c.out.pending, b...)
	if reply {
		c.out.replies++
	}
	return true
}

func (c *conn) reply(req xswire.Header, data []byte) {
	c.queue(xswire.Header{Type: req.Type, ReqID: req.ReqID, TxID: req.TxID}, data, "", true)
}

func (c *conn) replyString(req xswire.Header, s string) {
	c.queue(xswire.Header{Type: req.Type, ReqID: req.ReqID, TxID: req.TxID}, nil, s, true)
}

func (c *conn) replyOK(req xswire.Header) { c.replyString(req, "OK\x00") }

var errnoPayload = map[errno]string{}

func init() {
	for _, e := range []errno{eINVAL, eACCES, eEXIST, eNOENT, eNOMEM, eNOSPC, eNOSYS, eBUSY, eAGAIN, e2BIG, ePERM, eIO} {
		errnoPayload[e] = string(e) + "\x00"
	}
}

func (c *conn) replyErr(req xswire.Header, e errno) {
	s, ok := errnoPayload[e]
	if !ok {
		s = string(e) + "\x00"
	}
	c.queue(xswire.Header{Type: xswire.TypeError, ReqID: req.ReqID, TxID: req.TxID}, nil, s, true)
}

// event queues a watch event; the connection's writer is woken once the
// request (or in-process call) that caused it is done (Server.kickLocked),
// so that every event it causes is queued, and identical ones coalesced,
// before any is written. Must hold Server.st; called from any connection's
// goroutine.
// An event identical to one not yet handed to a write is dropped, as C
// xenstored 4.17 drops it (a change seen by several watches with the same
// token is told once); @introduceDomain and @releaseDomain never are.
func (c *conn) event(path, token string) {
	if len(path)+len(token)+2 > xswire.PayloadMax {
		return // C xenstored drops over-long events too
	}
	c.out.Lock()
	if c.out.closed || len(c.out.pending)+xswire.HeaderSize+len(path)+len(token)+2 > c.s.cfg.MaxConnOutput {
		closed := c.out.closed
		c.out.closed = true
		c.out.cond.Broadcast()
		c.out.Unlock()
		if !closed {
			c.s.domLogf(c.domid, "xenstored: domain %d does not read its watch events: connection closed", c.domid)
			c.nc.Close()
		}
		return
	}
	var key uint64
	dedup := len(path) > 0 && path[0] != '@'
	if dedup {
		c.out.evHash.Reset()
		c.out.evHash.WriteString(path)
		c.out.evHash.WriteByte(0)
		c.out.evHash.WriteString(token)
		key = c.out.evHash.Sum64()
		if off, ok := c.out.events[key]; ok && off < len(c.out.pending) && pendingEvent(c.out.pending[off:], path, token) {
			c.out.Unlock()
			return
		}
		if c.out.events == nil {
			c.out.events = make(map[uint64]int)
		}
		c.out.events[key] = len(c.out.pending)
	}
	h := xswire.Header{Type: xswire.TypeWatchEvent, Len: uint32(len(path) + len(token) + 2)}
	c.out.pending = xswire.AppendHeader(c.out.pending, h)
	c.out.pending = append(c.out.pending, path...)
	c.out.pending = append(c.out.pending, 0)
	c.out.pending = append(c.out.pending, token...)
	c.out.pending = append(c.out.pending, 0)
	c.out.held = true
	c.out.Unlock()
	if !c.kickQueued {
		c.kickQueued = true
		c.s.st.kicks = append(c.s.st.kicks, c)
	}
}

// pendingEvent: b starts with the watch event path, token.
func pendingEvent(b []byte, path, token string) bool {
	n := xswire.HeaderSize + len(path) + len(token) + 2
	if len(b) < n {
		return false
	}
	h, err := xswire.DecodeHeader(b)
	if err != nil || h.Type != xswire.TypeWatchEvent || int(h.Len) != len(path)+len(token)+2 {
		return false
	}
	p := b[xswire.HeaderSize:n]
	return string(p[:len(path)]) == path && p[len(path)] == 0 &&
		string(p[len(path)+1:len(path)+1+len(token)]) == token && p[n-xswire.HeaderSize-1] == 0
}
