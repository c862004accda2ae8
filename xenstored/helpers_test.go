package xenstored

import (
	"context"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// goroutineLeakCheck fails the test if goroutines started during it are
// still running a few seconds after it (and its cleanups) finished.
func goroutineLeakCheck(t testing.TB) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// waitConnsDropTo waits up to 5s for s to have want connections left, and
// fails the test naming who (the client that should have been dropped) if
// it does not.
func waitConnsDropTo(t testing.TB, s *Server, want int, who string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.st.Lock()
		n := len(s.st.conns)
		s.st.Unlock()
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still connected (%d connections)", who, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newTestServer starts a server without sockets; it is closed at cleanup.
// Register goroutineLeakCheck before calling it, so the close runs first.
func newTestServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// pipeConn connects an in-memory client end to s as domid.
func pipeConn(t testing.TB, s *Server, domid uint32) net.Conn {
	t.Helper()
	a, b := net.Pipe()
	errc := make(chan error, 1)
	go func() { errc <- s.ServeConn(a, domid) }()
	t.Cleanup(func() { b.Close() })
	// ServeConn fails fast for an unknown domain.
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("ServeConn(%d): %v", domid, err)
		}
	case <-time.After(20 * time.Millisecond):
	}
	return b
}

// client returns an xsclient.Client on an in-memory connection as domid.
func client(t testing.TB, s *Server, domid uint32) *xsclient.Client {
	t.Helper()
	c := xsclient.NewClient(pipeConn(t, s, domid))
	t.Cleanup(func() { c.Close() })
	return c
}

// raw speaks the wire protocol byte by byte, for malformed input.
type raw struct {
	t   testing.TB
	nc  net.Conn
	buf []byte
	id  uint32
}

func newRaw(t testing.TB, nc net.Conn) *raw {
	return &raw{t: t, nc: nc, buf: make([]byte, xswire.MessageMax)}
}

func (r *raw) sendBytes(b []byte) {
	r.t.Helper()
	r.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *raw) send(typ xswire.MsgType, tx uint32, payload string) uint32 {
	r.t.Helper()
	r.id++
	b := xswire.AppendHeader(nil, xswire.Header{Type: typ, ReqID: r.id, TxID: tx, Len: uint32(len(payload))})
	r.sendBytes(append(b, payload...))
	return r.id
}

func (r *raw) recv() (xswire.Header, string, error) {
	r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, p, err := xswire.ReadMessage(r.nc, r.buf)
	return h, string(p), err
}

// call sends a request and returns its reply, skipping watch events.
func (r *raw) call(typ xswire.MsgType, tx uint32, payload string) (xswire.Header, string) {
	r.t.Helper()
	id := r.send(typ, tx, payload)
	for {
		h, p, err := r.recv()
		if err != nil {
			r.t.Fatalf("%s %q: %v", typ, payload, err)
		}
		if h.Type == xswire.TypeWatchEvent {
			continue
		}
		if h.ReqID != id {
			r.t.Fatalf("%s: reply for req %d, want %d", typ, h.ReqID, id)
		}
		return h, p
	}
}

// wantErr checks that the request is answered with errno e.
func (r *raw) wantErr(typ xswire.MsgType, tx uint32, payload string, e string) {
	r.t.Helper()
	h, p := r.call(typ, tx, payload)
	if h.Type != xswire.TypeError || p != e+"\x00" {
		r.t.Errorf("%s %q: got %s %q, want ERROR %s", typ, payload, h.Type, p, e)
	}
}

func (r *raw) wantOK(typ xswire.MsgType, tx uint32, payload string) string {
	r.t.Helper()
	h, p := r.call(typ, tx, payload)
	if h.Type != typ {
		r.t.Errorf("%s %q: got %s %q", typ, payload, h.Type, p)
	}
	return p
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func nul(ss ...string) string { return strings.Join(ss, "\x00") + "\x00" }

var ci = os.Getenv("CI") == "true"
