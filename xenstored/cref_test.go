package xenstored

import (
	"strconv"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/xswire"
)

// Behaviours found by the differential test against C xenstored 4.17 on a
// real Xen host (tests/xenhost/xsdiff_test.go), where C's answer is the
// reference: each test here failed before the daemon was changed to match.

// replies sends one request and returns what came back up to and
// including its reply: the watch events first, then the reply.
func (r *raw) replies(typ xswire.MsgType, tx uint32, payload string) (events []string, h xswire.Header, reply string) {
	r.t.Helper()
	id := r.send(typ, tx, payload)
	for {
		hh, p, err := r.recv()
		if err != nil {
			r.t.Fatalf("%s %q: %v", typ, payload, err)
		}
		if hh.Type == xswire.TypeWatchEvent {
			events = append(events, p)
			continue
		}
		if hh.ReqID != id {
			r.t.Fatalf("%s: reply for req %d, want %d", typ, hh.ReqID, id)
		}
		return events, hh, p
	}
}

// A SET_PERMS on a special node keeps it: the node's name was once taken
// from the connection's request buffer, so that connection's next request
// overwrote it and the node was lost to everyone (ENOENT).
func TestSpecialNodePermsKept(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	a := newRaw(t, pipeConn(t, s, 0))
	b := newRaw(t, pipeConn(t, s, 0))
	for _, name := range []string{"@releaseDomain", "@introduceDomain"} {
		a.wantOK(xswire.TypeSetPerms, 0, nul(name, "n0", "r5"))
		a.wantOK(xswire.TypeWrite, 0, "/overwrite/the/buffer\x00with a long enough value")
		b.wantOK(xswire.TypeSetPerms, 0, nul(name, "n0"))
	}
}

// Special nodes' permissions can be set, not read; only the two exist.
func TestSpecialNodePermsAsC(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	r := newRaw(t, pipeConn(t, s, 0))
	r.wantErr(xswire.TypeGetPerms, 0, nul("@releaseDomain"), "EINVAL")
	r.wantErr(xswire.TypeGetPerms, 0, nul("@foo"), "EINVAL")
	r.wantErr(xswire.TypeSetPerms, 0, nul("@foo", "n0"), "EINVAL")
	r.wantOK(xswire.TypeWatch, 0, nul("@"+strings.Repeat("l", 2047), "t"))
	r.recv() // its first event
	r.wantErr(xswire.TypeWatch, 0, nul("@"+strings.Repeat("l", 2048), "t"), "EINVAL")
}

// UNWATCH does not check its path: one no watch can have is not found.
func TestUnwatchPathUncheckedAsC(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	r := newRaw(t, pipeConn(t, s, 0))
	for _, p := range []string{"/a b", "a b", "", "/x/", "//x", "@foo", "@" + strings.Repeat("l", 2048), "/" + strings.Repeat("l", 3100)} {
		r.wantErr(xswire.TypeUnwatch, 0, nul(p, "t"), "ENOENT")
	}
	r.wantOK(xswire.TypeWatch, 0, nul("w", "t"))
	r.recv()
	r.wantOK(xswire.TypeUnwatch, 0, nul("/local/domain/0/w", "t"))
}

// Permission entries are read as C reads them: strtol with base 0, kept
// in 32 bits, written back signed.
func TestPermStringsAsC(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	r := newRaw(t, pipeConn(t, s, 0))
	r.wantOK(xswire.TypeWrite, 0, nul("/p"))
	for _, c := range []struct{ set, get string }{
		{nul("/p", "b4294967297"), nul("b1")},
		{nul("/p", "n0", "r-1"), nul("n0", "r-1")},
		{nul("/p", "n0", "r0x2", "r010", "r 5", "r+6"), nul("n0", "r2", "r8", "r5", "r6")},
		{nul("/p", "n0", "r65536"), nul("n0", "r65536")},
		{nul("/p", "n0", "r99999999999999999999"), nul("n0", "r-1")},
	} {
		r.wantOK(xswire.TypeSetPerms, 0, c.set)
		if got := r.wantOK(xswire.TypeGetPerms, 0, nul("/p")); got != c.get {
			t.Errorf("SET_PERMS %q: GET_PERMS %q, want %q", c.set, got, c.get)
		}
	}
	for _, bad := range []string{"R0", "r", "", "r5x", "r0x", "x7", "r 0x"} {
		r.wantErr(xswire.TypeSetPerms, 0, nul("/p", "n0", bad), "EINVAL")
	}
}

// The owner must be a domain that can exist: ENOENT, checked after the
// entries' syntax and before the path.
func TestSetPermsOwnerAsC(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	r := newRaw(t, pipeConn(t, s, 0))
	r.wantOK(xswire.TypeWrite, 0, nul("/p"))
	r.wantErr(xswire.TypeSetPerms, 0, nul("/p", "n65537"), "ENOENT")
	r.wantErr(xswire.TypeSetPerms, 0, nul("/p", "n32752"), "ENOENT")
	r.wantErr(xswire.TypeSetPerms, 0, nul("/a b", "n65537"), "ENOENT")
	r.wantErr(xswire.TypeSetPerms, 0, nul("/a b", "x7"), "EINVAL")
	r.wantErr(xswire.TypeSetPerms, 0, nul("@releaseDomain", "n65537"), "ENOENT")
	r.wantOK(xswire.TypeSetPerms, 0, nul("/p", "n0", "r65537"))
}

// A change seen by several watches of one connection with the same token
// is told once: C drops an event identical to one still queued.
func TestIdenticalEventsCoalescedAsC(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	r := newRaw(t, pipeConn(t, s, 0))
	for _, w := range []string{nul("/w", "T"), nul("/", "T"), nul("/w/x", "T"), nul("/w", "U")} {
		if ev, _, _ := r.replies(xswire.TypeWatch, 0, w); len(ev) != 0 {
			t.Fatalf("events before WATCH's reply: %q", ev)
		}
		r.recv() // the watch's first event
	}
	ev, h, _ := r.replies(xswire.TypeWrite, 0, nul("/w/x"))
	if h.Type != xswire.TypeWrite || strings.Join(ev, "|") != nul("/w/x", "T")+"|"+nul("/w/x", "U") {
		t.Errorf("WRITE: events %q, want one per token", ev)
	}
}

// A guest's node may not reach 2048 bytes as C counts them: a 24-byte
// header, 8 bytes a permission, the value, the children's names.
func TestNodeSizeQuotaAsC(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	must(t, s.Introduce(5, 0, 1))
	g := newRaw(t, pipeConn(t, s, 5))
	g.wantOK(xswire.TypeWrite, 0, "big\x00"+strings.Repeat("s", 2048-24-8-1))
	g.wantErr(xswire.TypeWrite, 0, "big\x00"+strings.Repeat("s", 2048-24-8), "ENOSPC")
	g.wantErr(xswire.TypeWrite, 0, "new\x00"+strings.Repeat("s", 2048-24-8), "ENOSPC")
	g.wantOK(xswire.TypeWrite, 0, "new\x00"+strings.Repeat("s", 2048-24-8-1))
}

// C limits every connection's paths, dom0's too, to 2048 bytes below
// /local/domain/<id>/ or in all elsewhere.
func TestPathLengthAsC(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	r := newRaw(t, pipeConn(t, s, 0))
	long := func(prefix string, n int) string { return prefix + strings.Repeat("l", n-len(prefix)) }
	r.wantOK(xswire.TypeWrite, 0, nul(long("/x/", 2048)))
	r.wantErr(xswire.TypeWrite, 0, nul(long("/x/", 2049)), "EINVAL")
	r.wantOK(xswire.TypeWrite, 0, nul("/local/domain/0/"+long("x/", 2048)))
	r.wantErr(xswire.TypeWrite, 0, nul("/local/domain/0/"+long("x/", 2049)), "EINVAL")
}

// A domain may hold one watch and one transaction more than the quotas:
// C refuses only once the count is above them.
func TestWatchAndTransactionQuotasAsC(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	must(t, s.Introduce(5, 0, 1))
	g := newRaw(t, pipeConn(t, s, 5))
	for i := 0; i < 129; i++ {
		g.wantOK(xswire.TypeWatch, 0, nul("data", "w"+strings.Repeat("x", i)))
		g.recv() // its first event
	}
	g.wantErr(xswire.TypeWatch, 0, nul("data", "one too many"), "E2BIG")
	for i := 0; i < 11; i++ {
		g.wantOK(xswire.TypeTransactionStart, 0, nul(""))
	}
	g.wantErr(xswire.TypeTransactionStart, 0, nul(""), "ENOSPC")
}

// XS_CONTROL (xenstore-control's debugging commands) is privileged; this
// daemon has none of C's commands and answers as C does an unknown one.
func TestControlAsC(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	must(t, s.Introduce(5, 0, 1))
	newRaw(t, pipeConn(t, s, 5)).wantErr(xswire.TypeControl, 0, nul("help"), "EACCES")
	r := newRaw(t, pipeConn(t, s, 0))
	r.wantErr(xswire.TypeControl, 0, nul("no-such-command"), "EINVAL")
	r.wantErr(xswire.TypeControl, 0, "", "EINVAL")
}

// The same holds for a connection other than the writer's: its events are
// all queued before its writer is woken (it once woke at the first, wrote
// it, and the duplicates that followed were no longer pending; or a write
// under way took the first of them). Whether that shows depends on when the
// writer goroutine runs (about one change in seven with 1000 watches):
// fifty changes make it show on practically every run.
func TestIdenticalEventsCoalescedOtherConnAsC(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	w := newRaw(t, pipeConn(t, s, 0))
	b := newRaw(t, pipeConn(t, s, 0))
	path := ""
	const watches = 1000 // "/d" each: the path stays below 2048 bytes
	for i := 0; i < watches; i++ {
		path += "/d"
		w.wantOK(xswire.TypeWatch, 0, nul(path, "T"))
		w.recv()
	}
	for i := 0; i < 50; i++ {
		leaf := path + "/x" + strconv.Itoa(i)
		b.wantOK(xswire.TypeWrite, 0, nul(leaf))
		// The events are queued before b's reply: read the first (the
		// in-memory pipe does not buffer, so a request would wait
		// for it), then a round trip brings any other before its reply.
		if h, p, err := w.recv(); err != nil || h.Type != xswire.TypeWatchEvent || p != nul(leaf, "T") {
			t.Fatalf("change %d: %v %q %v, want the event", i, h.Type, p, err)
		}
		if ev, _, _ := w.replies(xswire.TypeGetDomainPath, 0, nul("0")); len(ev) != 0 {
			t.Fatalf("change %d: %d more events for one change seen by %d watches with one token, want none", i, len(ev), watches)
		}
	}
}

// A transaction removing a subtree whose parent it copied, after another
// connection removed a child of it: C answers EIO (its walk finds a child
// the copy lists and the store no longer has); the commit fails with
// EAGAIN either way.
func TestRmStaleChildInTransactionAsC(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	a := newRaw(t, pipeConn(t, s, 0))
	b := newRaw(t, pipeConn(t, s, 0))
	a.wantOK(xswire.TypeWrite, 0, "/t/a/x\x00v")
	tx := a.wantOK(xswire.TypeTransactionStart, 0, nul(""))
	id := uint32(0)
	for _, d := range strings.TrimSuffix(tx, "\x00") {
		id = id*10 + uint32(d-'0')
	}
	a.wantOK(xswire.TypeWrite, id, "/t/a\x00w")
	b.wantOK(xswire.TypeRm, 0, nul("/t/a/x"))
	a.wantErr(xswire.TypeRm, id, nul("/t"), "EIO")
	a.wantErr(xswire.TypeTransactionEnd, id, nul("T"), "EAGAIN")
}

// RM in a transaction of a node it wrote, whose parent (not read by the
// transaction) another connection removed since: C 4.17 reads the parent
// first, finds none and answers EINVAL (seen on the real host).
func TestRmParentGoneInTransactionAsC(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	a := newRaw(t, pipeConn(t, s, 0))
	b := newRaw(t, pipeConn(t, s, 0))
	a.wantOK(xswire.TypeWrite, 0, "/r/p/b\x00v")
	id := txID(t, a.wantOK(xswire.TypeTransactionStart, 0, nul("")))
	a.wantOK(xswire.TypeWrite, id, "/r/p/b\x00w")
	b.wantOK(xswire.TypeRm, 0, nul("/r/p"))
	a.wantErr(xswire.TypeRm, id, nul("/r/p/b"), "EINVAL")
	a.wantErr(xswire.TypeTransactionEnd, id, nul("T"), "EAGAIN")
}

// txID is a TRANSACTION_START reply's id.
func txID(t *testing.T, reply string) uint32 {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimSuffix(reply, "\x00"), 10, 32)
	if err != nil {
		t.Fatalf("TRANSACTION_START reply %q", reply)
	}
	return uint32(v)
}

// RM in a transaction of a node another connection made after the
// transaction read its parent: the transaction's parent does not list it.
// C 4.17 removes the node, then cannot find it in the parent's list and
// answers EIO (seen on the real host, a guest's RM).
func TestRmNodeUnlistedInTransactionAsC(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	a := newRaw(t, pipeConn(t, s, 0))
	b := newRaw(t, pipeConn(t, s, 0))
	a.wantOK(xswire.TypeWrite, 0, nul("/t"))
	id := txID(t, a.wantOK(xswire.TypeTransactionStart, 0, nul("")))
	a.wantOK(xswire.TypeDirectory, id, nul("/t"))
	b.wantOK(xswire.TypeWrite, 0, "/t/a\x00v")
	a.wantOK(xswire.TypeRead, id, nul("/t/a"))
	a.wantErr(xswire.TypeRm, id, nul("/t/a"), "EIO")
	a.wantErr(xswire.TypeTransactionEnd, id, nul("T"), "EAGAIN")
}
