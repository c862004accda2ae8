// Package xsclient is a XenStore client speaking the xs_wire protocol
// (xen/io/xs_wire.h) over a unix socket (xenstored's, or our embedded one)
// or the /dev/xen/xenbus device of a real dom0.
//
// One Client is one connection, shared by any number of goroutines: every
// request carries a fresh req_id and one reader goroutine routes each reply
// to the caller waiting on that id, and each watch event, by token, to the
// Watch that registered it. Contexts bound every call; a call abandoned by
// its context leaves the request executed or not, as the daemon decides (a
// TRANSACTION_START abandoned this way stays open until the connection
// closes).
//
// The wire format itself (header, message types, errno names, permission
// form) is package xswire's. Error replies become *xswire.Error values
// ("ENOENT", "EACCES", "EAGAIN", ...) that match the sentinels
// xswire.ErrNotFound, ErrPermission, ErrAgain, ... with errors.Is. Transact runs a function in a transaction and retries it,
// bounded and with jitter, when the commit reports a conflict (EAGAIN).
//
// Close rules: after Close, or when the connection fails, every pending and
// later call returns ErrClosed (wrapping the cause) and every Watch channel
// is closed. Watch channels are also closed by Watch.Close.
package xsclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xfeat/xfeat/xswire"
)

// ErrClosed is returned by calls on a closed or failed connection.
var ErrClosed = errors.New("xenstore connection closed")

// DefaultMaxTxAttempts bounds Transact's retries after conflicts.
const DefaultMaxTxAttempts = 100

// Client is a connection to xenstored. Its methods are safe for concurrent
// use. The embedded Ops methods run outside any transaction.
type Client struct {
	ops

	rw io.ReadWriteCloser

	// MaxTxAttempts bounds how often Transact runs its function; set it
	// before sharing the Client. Zero means DefaultMaxTxAttempts.
	MaxTxAttempts int

	// WaitTxQuota makes Begin, refused for the domain's transaction quota
	// (ENOSPC or EQUOTA) while this connection has transactions of its
	// own open, wait for one of them to end and ask again (until its ctx
	// ends), rather than fail: for a guest's one connection shared by its
	// drivers, which take turns as they would on a single xenbus ring.
	// Set it before sharing the Client.
	WaitTxQuota bool

	nextReq atomic.Uint32

	wmu sync.Mutex // serialises writes of whole messages to rw

	calls struct {
		sync.Mutex
		m   map[uint32]chan reply // Must hold calls.Mutex
		err error                 // set once the reader stopped; Must hold calls.Mutex
	}

	watches struct {
		sync.Mutex
		m   map[string]*Watch // by token; Must hold watches.Mutex
		seq uint64
	}

	// txs counts this connection's open transactions, so that Begin can
	// wait for one of them to end rather than fail on the daemon's
	// per-domain transaction quota.
	txs txCount

	closeOnce sync.Once
	done      chan struct{} // closed when the reader goroutine has exited
}

// txCount is a connection's open transactions (begun or being begun).
type txCount struct {
	sync.Mutex
	open int           // Must hold the Mutex
	gen  uint64        // counts ends; Must hold the Mutex
	wake chan struct{} // closed at the next end; Must hold the Mutex
}

type reply struct {
	typ  xswire.MsgType
	data []byte
}

// NewClient runs the protocol over rw, which must deliver the byte stream of
// a xenstored connection (a socket, the xenbus device, a net.Pipe).
func NewClient(rw io.ReadWriteCloser) *Client {
	c := &Client{rw: rw, done: make(chan struct{})}
	c.ops = ops{c: c}
	c.calls.m = make(map[uint32]chan reply)
	c.watches.m = make(map[string]*Watch)
	go c.readLoop()
	return c
}

// Dial connects to the xenstore at path: a unix socket if path is one (as
// libxenstore decides with stat), otherwise the xenbus device opened
// read-write.
func Dial(ctx context.Context, path string) (*Client, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("xenstore %s: %w", path, err)
	}
	if st.Mode()&os.ModeSocket != 0 {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "unix", path)
		if err != nil {
			return nil, fmt.Errorf("xenstore: %w", err)
		}
		return NewClient(nc), nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("xenstore: %w", err)
	}
	return NewClient(f), nil
}

// DefaultRundir is libxenstore's default XENSTORED_RUNDIR on Debian.
const DefaultRundir = "/var/run/xenstored"

// Candidates returns the paths Open tries, in order, as libxenstore's
// xs_open does: $XENSTORED_PATH alone if set; otherwise the daemon socket
// ($XENSTORED_RUNDIR/socket, default /var/run/xenstored/socket), then the
// kernel device (/dev/xen/xenbus, else /proc/xen/xenbus).
func Candidates() []string {
	if p := os.Getenv("XENSTORED_PATH"); p != "" {
		return []string{p}
	}
	rundir := os.Getenv("XENSTORED_RUNDIR")
	if rundir == "" {
		rundir = DefaultRundir
	}
	return []string{rundir + "/socket", "/dev/xen/xenbus", "/proc/xen/xenbus"}
}

// Open connects to the first of Candidates() that answers.
func Open(ctx context.Context) (*Client, error) {
	var errs []error
	for _, p := range Candidates() {
		c, err := Dial(ctx, p)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no xenstore found: %w", errors.Join(errs...))
}

// Close closes the connection; pending calls fail with ErrClosed and watch
// channels are closed. It waits for the reader goroutine to exit.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.rw.Close() })
	<-c.done
	return err
}

// Done is closed when the connection has ended (Close or a failure).
func (c *Client) Done() <-chan struct{} { return c.done }

func (c *Client) readLoop() {
	buf := make([]byte, xswire.MessageMax)
	var err error
	for {
		var h xswire.Header
		var p []byte
		h, p, err = xswire.ReadMessage(c.rw, buf)
		if err != nil {
			break
		}
		if h.Type == xswire.TypeWatchEvent {
			c.routeEvent(p)
			continue
		}
		c.calls.Lock()
		ch, ok := c.calls.m[h.ReqID]
		delete(c.calls.m, h.ReqID)
		c.calls.Unlock()
		if ok {
			ch <- reply{typ: h.Type, data: append([]byte(nil), p...)} // cap 1: never blocks
		}
	}
	c.closeOnce.Do(func() { c.rw.Close() })
	c.calls.Lock()
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
		c.calls.err = ErrClosed
	} else {
		c.calls.err = fmt.Errorf("%w: %v", ErrClosed, err)
	}
	pending := c.calls.m
	c.calls.m = nil
	c.calls.Unlock()
	for _, ch := range pending {
		close(ch)
	}
	c.watches.Lock()
	ws := c.watches.m
	c.watches.m = nil
	c.watches.Unlock()
	for _, w := range ws {
		w.stop()
	}
	close(c.done)
}

// replyChans recycles the channels replies are handed over on. A channel is
// returned only after its reply was received; one abandoned by a cancelled
// call may still get a late reply and is left to the garbage collector.
var replyChans = sync.Pool{New: func() any { return make(chan reply, 1) }}

var msgPool = sync.Pool{New: func() any { b := make([]byte, 0, xswire.MessageMax); return &b }}

// request sends one message and waits for its reply. args are sent as
// NUL-terminated strings, then raw unterminated (WRITE's value).
func (c *Client) request(ctx context.Context, typ xswire.MsgType, tx uint32, args []string, raw []byte) ([]byte, error) {
	n := len(raw)
	for _, a := range args {
		n += len(a) + 1
	}
	op, path := typ.String(), ""
	if len(args) > 0 && typ != xswire.TypeTransactionStart && typ != xswire.TypeTransactionEnd {
		path = args[0]
	}
	if n > xswire.PayloadMax {
		// libxenstore refuses locally too: the daemon would drop the connection.
		return nil, &xswire.Error{Errno: xswire.E2BIG, Op: op, Path: path}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id := c.nextReq.Add(1)
	ch := replyChans.Get().(chan reply)
	c.calls.Lock()
	if c.calls.m == nil {
		err := c.calls.err
		c.calls.Unlock()
		return nil, err
	}
	c.calls.m[id] = ch
	c.calls.Unlock()

	bp := msgPool.Get().(*[]byte)
	b := xswire.AppendHeader((*bp)[:0], xswire.Header{Type: typ, ReqID: id, TxID: tx, Len: uint32(n)})
	for _, a := range args {
		b = append(b, a...)
		b = append(b, 0)
	}
	b = append(b, raw...)
	c.wmu.Lock()
	_, werr := c.rw.Write(b)
	c.wmu.Unlock()
	*bp = b[:0]
	msgPool.Put(bp)
	if werr != nil {
		c.forget(id)
		c.closeOnce.Do(func() { c.rw.Close() })
		return nil, fmt.Errorf("%w: %v", ErrClosed, werr)
	}

	select {
	case r, ok := <-ch:
		if ok {
			// Exactly one reply per id was sent: the channel is empty
			// and nobody else holds it, so it can be reused.
			replyChans.Put(ch)
		}
		if !ok {
			c.calls.Lock()
			err := c.calls.err
			c.calls.Unlock()
			return nil, err
		}
		if r.typ == xswire.TypeError {
			return nil, &xswire.Error{Errno: trimNUL(r.data), Op: op, Path: path}
		}
		if r.typ != typ {
			return nil, fmt.Errorf("xenstore %s: reply of type %s", op, r.typ)
		}
		return r.data, nil
	case <-ctx.Done():
		c.forget(id)
		return nil, ctx.Err()
	}
}

func (c *Client) forget(id uint32) {
	c.calls.Lock()
	if c.calls.m != nil {
		delete(c.calls.m, id)
	}
	c.calls.Unlock()
}

func trimNUL(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// ops carries the node operations shared by Client (tx 0) and Tx.
type ops struct {
	c  *Client
	tx uint32
}

// Ops is what both *Client and *Tx offer, so that code can run inside or
// outside a transaction.
type Ops interface {
	Read(ctx context.Context, path string) ([]byte, error)
	Write(ctx context.Context, path string, value []byte) error
	Mkdir(ctx context.Context, path string) error
	Rm(ctx context.Context, path string) error
	Directory(ctx context.Context, path string) ([]string, error)
	GetPerms(ctx context.Context, path string) ([]xswire.Perm, error)
	SetPerms(ctx context.Context, path string, perms []xswire.Perm) error
	Exists(ctx context.Context, path string) (bool, error)
	ReadString(ctx context.Context, path string) (string, error)
	WriteString(ctx context.Context, path, value string) error
}

var (
	_ Ops = (*Client)(nil)
	_ Ops = (*Tx)(nil)
)

// Read returns the value of path.
func (o ops) Read(ctx context.Context, path string) ([]byte, error) {
	return o.c.request(ctx, xswire.TypeRead, o.tx, []string{path}, nil)
}

// Write sets the value of path, creating it and missing parents.
func (o ops) Write(ctx context.Context, path string, value []byte) error {
	_, err := o.c.request(ctx, xswire.TypeWrite, o.tx, []string{path}, value)
	return err
}

// WriteString is Write with a string value.
func (o ops) WriteString(ctx context.Context, path, value string) error {
	_, err := o.c.request(ctx, xswire.TypeWrite, o.tx, []string{path}, []byte(value))
	return err
}

// ReadString is Read returning a string.
func (o ops) ReadString(ctx context.Context, path string) (string, error) {
	b, err := o.Read(ctx, path)
	return string(b), err
}

// Exists reports whether path exists (and is readable); a missing node is
// (false, nil), any other error is returned.
func (o ops) Exists(ctx context.Context, path string) (bool, error) {
	_, err := o.Read(ctx, path)
	if errors.Is(err, xswire.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Mkdir creates path (and parents) with an empty value; an existing node is
// fine.
func (o ops) Mkdir(ctx context.Context, path string) error {
	_, err := o.c.request(ctx, xswire.TypeMkdir, o.tx, []string{path}, nil)
	return err
}

// Rm removes path and everything below it. A missing node is fine if its
// parent exists.
func (o ops) Rm(ctx context.Context, path string) error {
	_, err := o.c.request(ctx, xswire.TypeRm, o.tx, []string{path}, nil)
	return err
}

// Directory lists the children of path, in the daemon's order. Listings too
// big for one reply are fetched with DIRECTORY_PART, as libxenstore does.
func (o ops) Directory(ctx context.Context, path string) ([]string, error) {
	b, err := o.c.request(ctx, xswire.TypeDirectory, o.tx, []string{path}, nil)
	if errors.Is(err, xswire.ErrTooBig) {
		return o.directoryPart(ctx, path)
	}
	if err != nil {
		return nil, err
	}
	return xswire.SplitStrings(b), nil
}

func (o ops) directoryPart(ctx context.Context, path string) ([]string, error) {
restart:
	for attempt := 0; attempt < 16; attempt++ {
		var out []string
		gen := ""
		off := 0
		for {
			b, err := o.c.request(ctx, xswire.TypeDirectoryPart, o.tx, []string{path, strconv.Itoa(off)}, nil)
			if err != nil {
				return nil, err
			}
			ss := xswire.SplitStrings(b)
			if len(ss) == 0 {
				return nil, fmt.Errorf("xenstore DIRECTORY_PART %s: empty reply", path)
			}
			if gen == "" {
				gen = ss[0]
			} else if gen != ss[0] {
				continue restart // the directory changed between chunks
			}
			last := false
			for _, s := range ss[1:] {
				if s == "" {
					last = true
					break
				}
				out = append(out, s)
				off += len(s) + 1
			}
			if last {
				return out, nil
			}
			if len(ss) == 1 {
				return nil, fmt.Errorf("xenstore DIRECTORY_PART %s: no progress", path)
			}
		}
	}
	return nil, &xswire.Error{Errno: xswire.EAGAIN, Op: "DIRECTORY_PART", Path: path}
}

// GetPerms returns the permission list of path.
func (o ops) GetPerms(ctx context.Context, path string) ([]xswire.Perm, error) {
	b, err := o.c.request(ctx, xswire.TypeGetPerms, o.tx, []string{path}, nil)
	if err != nil {
		return nil, err
	}
	ps, err := xswire.ParsePerms(xswire.SplitStrings(b))
	if err != nil {
		return nil, fmt.Errorf("xenstore GET_PERMS %s: %w", path, err)
	}
	return ps, nil
}

// SetPerms replaces the permission list of path (at least one entry; the
// first names the owner).
func (o ops) SetPerms(ctx context.Context, path string, perms []xswire.Perm) error {
	if len(perms) == 0 {
		return &xswire.Error{Errno: xswire.EINVAL, Op: "SET_PERMS", Path: path}
	}
	args := make([]string, 0, len(perms)+1)
	args = append(args, path)
	args = append(args, xswire.FormatPerms(perms)...)
	_, err := o.c.request(ctx, xswire.TypeSetPerms, o.tx, args, nil)
	return err
}

// Tx is an open transaction. Its Ops see the transaction's view; Commit or
// Abort ends it. A Tx is not meant for concurrent use.
type Tx struct {
	ops
	ended bool
}

// ID is the transaction id the daemon assigned.
func (t *Tx) ID() uint32 { return t.tx }

// Begin starts a transaction (see WaitTxQuota for what it does when the
// domain's transaction quota is reached).
func (c *Client) Begin(ctx context.Context) (*Tx, error) {
	for {
		// Counted before asking: a transaction the daemon has started
		// but whose reply has not arrived yet is one of ours too.
		c.txs.Lock()
		gen := c.txs.gen
		c.txs.open++
		c.txs.Unlock()
		b, err := c.request(ctx, xswire.TypeTransactionStart, 0, []string{""}, nil)
		if err == nil {
			id, perr := strconv.ParseUint(trimNUL(b), 10, 32)
			if perr == nil && id != 0 {
				return &Tx{ops: ops{c: c, tx: uint32(id)}}, nil
			}
			err = fmt.Errorf("xenstore TRANSACTION_START: bad id %q", trimNUL(b))
		}
		c.txs.Lock()
		c.txs.open--
		switch {
		case !errors.Is(err, xswire.ErrQuota) || !c.WaitTxQuota || (c.txs.gen == gen && c.txs.open == 0):
			c.txs.wakeLocked() // a Begin may have waited for this one
			c.txs.Unlock()
			return nil, err
		case c.txs.gen != gen: // one of ours ended meanwhile: ask again
			c.txs.Unlock()
			continue
		}
		// Some of ours are open: ask again once one has ended.
		if c.txs.wake == nil {
			c.txs.wake = make(chan struct{})
		}
		wake := c.txs.wake
		c.txs.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// wakeLocked records that one of the connection's transactions ended (or
// a Begin gave up) and wakes the Begins waiting for that. Must hold txs.
func (t *txCount) wakeLocked() {
	t.gen++
	if t.wake != nil {
		close(t.wake)
		t.wake = nil
	}
}

// Commit ends the transaction, applying it. errors.Is(err, ErrAgain) means
// it conflicted with another change and must be redone from the start.
func (t *Tx) Commit(ctx context.Context) error { return t.end(ctx, "T") }

// Abort ends the transaction, discarding it.
func (t *Tx) Abort(ctx context.Context) error { return t.end(ctx, "F") }

func (t *Tx) end(ctx context.Context, how string) error {
	if t.ended {
		return &xswire.Error{Errno: xswire.ENOENT, Op: "TRANSACTION_END"}
	}
	t.ended = true
	_, err := t.c.request(ctx, xswire.TypeTransactionEnd, t.tx, []string{how}, nil)
	t.c.txs.Lock()
	t.c.txs.open--
	t.c.txs.wakeLocked()
	t.c.txs.Unlock()
	return err
}

// Transact runs fn in a transaction and commits it. When the commit (or an
// operation inside fn) reports EAGAIN, the whole of fn runs again in a new
// transaction after a randomised, growing pause, up to MaxTxAttempts times.
// Any other error from fn aborts the transaction and is returned as is.
func (c *Client) Transact(ctx context.Context, fn func(tx *Tx) error) error {
	max := c.MaxTxAttempts
	if max <= 0 {
		max = DefaultMaxTxAttempts
	}
	backoff := 500 * time.Microsecond
	for attempt := 1; ; attempt++ {
		tx, err := c.Begin(ctx)
		if err != nil {
			return err
		}
		if err = fn(tx); err != nil {
			if !tx.ended {
				_ = tx.Abort(context.WithoutCancel(ctx))
			}
		} else if !tx.ended {
			err = tx.Commit(ctx)
		}
		if err == nil || !errors.Is(err, xswire.ErrAgain) {
			return err
		}
		if attempt >= max {
			return fmt.Errorf("xenstore transaction still conflicting after %d attempts: %w", attempt, err)
		}
		pause := backoff/2 + rand.N(backoff)
		if backoff < 64*time.Millisecond {
			backoff *= 2
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// Introduce tells xenstored about a new domain (XS_INTRODUCE domid, guest
// frame of its xenstore ring, event channel). Privileged.
func (c *Client) Introduce(ctx context.Context, domid uint32, gfn uint64, evtchn uint32) error {
	_, err := c.request(ctx, xswire.TypeIntroduce, 0, []string{
		strconv.FormatUint(uint64(domid), 10),
		strconv.FormatUint(gfn, 10),
		strconv.FormatUint(uint64(evtchn), 10),
	}, nil)
	return err
}

// Release tells xenstored a domain is gone (fires @releaseDomain). Privileged.
func (c *Client) Release(ctx context.Context, domid uint32) error {
	_, err := c.request(ctx, xswire.TypeRelease, 0, []string{strconv.FormatUint(uint64(domid), 10)}, nil)
	return err
}

// Resume clears a domain's shutdown state. Privileged.
func (c *Client) Resume(ctx context.Context, domid uint32) error {
	_, err := c.request(ctx, xswire.TypeResume, 0, []string{strconv.FormatUint(uint64(domid), 10)}, nil)
	return err
}

// SetTarget lets domid act with the permissions of target (device model
// stub domains). Privileged.
func (c *Client) SetTarget(ctx context.Context, domid, target uint32) error {
	_, err := c.request(ctx, xswire.TypeSetTarget, 0, []string{
		strconv.FormatUint(uint64(domid), 10), strconv.FormatUint(uint64(target), 10)}, nil)
	return err
}

// IsDomainIntroduced reports whether domid is known to xenstored.
func (c *Client) IsDomainIntroduced(ctx context.Context, domid uint32) (bool, error) {
	b, err := c.request(ctx, xswire.TypeIsDomainIntroduced, 0, []string{strconv.FormatUint(uint64(domid), 10)}, nil)
	if err != nil {
		return false, err
	}
	switch trimNUL(b) {
	case "T":
		return true, nil
	case "F":
		return false, nil
	}
	return false, fmt.Errorf("xenstore IS_DOMAIN_INTRODUCED: bad reply %q", b)
}

// GetDomainPath returns the home path of domid ("/local/domain/<domid>").
func (c *Client) GetDomainPath(ctx context.Context, domid uint32) (string, error) {
	b, err := c.request(ctx, xswire.TypeGetDomainPath, 0, []string{strconv.FormatUint(uint64(domid), 10)}, nil)
	if err != nil {
		return "", err
	}
	return trimNUL(b), nil
}

// ResetWatches removes every watch and transaction of this connection on
// the daemon side. Local Watch values are closed.
func (c *Client) ResetWatches(ctx context.Context) error {
	_, err := c.request(ctx, xswire.TypeResetWatches, 0, []string{""}, nil)
	if err != nil {
		return err
	}
	c.watches.Lock()
	ws := c.watches.m
	if ws != nil {
		c.watches.m = make(map[string]*Watch)
	}
	c.watches.Unlock()
	for _, w := range ws {
		w.stop()
	}
	return nil
}
