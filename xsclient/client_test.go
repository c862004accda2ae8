package xsclient_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xfeat/xfeat/xenstored"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// daemon starts the embedded xenstored on a socket in a temporary rundir.
func daemon(t *testing.T) (*xenstored.Server, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := xenstored.New(xenstored.Config{Rundir: dir})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(context.Background()); close(done) }()
	t.Cleanup(func() { s.Close(); <-done })
	return s, s.SocketPath()
}

func dial(t *testing.T, path string) *xsclient.Client {
	t.Helper()
	c, err := xsclient.Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func perms(ss ...string) []xswire.Perm {
	p, err := xswire.ParsePerms(ss)
	if err != nil {
		panic(err)
	}
	return p
}

func TestEveryOp(t *testing.T) {
	_, sock := daemon(t)
	c := dial(t, sock)
	ctx := ctxT(t)

	must(t, c.Write(ctx, "/a/b", []byte("v\x00x")))
	if v, err := c.Read(ctx, "/a/b"); err != nil || string(v) != "v\x00x" {
		t.Fatalf("Read = %q %v", v, err)
	}
	must(t, c.Mkdir(ctx, "/a/d"))
	if l, err := c.Directory(ctx, "/a"); err != nil || !slices.Equal(l, []string{"b", "d"}) {
		t.Fatalf("Directory = %v %v", l, err)
	}
	must(t, c.SetPerms(ctx, "/a/d", perms("n3", "r0")))
	if p, err := c.GetPerms(ctx, "/a/d"); err != nil || !slices.Equal(p, perms("n3", "r0")) {
		t.Fatalf("GetPerms = %v %v", p, err)
	}
	if ok, err := c.Exists(ctx, "/a/d"); !ok || err != nil {
		t.Fatalf("Exists = %v %v", ok, err)
	}
	if ok, err := c.Exists(ctx, "/a/zz"); ok || err != nil {
		t.Fatalf("Exists(missing) = %v %v", ok, err)
	}
	must(t, c.Rm(ctx, "/a"))
	_, err := c.Read(ctx, "/a/b")
	var xe *xswire.Error
	if !errors.As(err, &xe) || xe.Errno != "ENOENT" || xe.Op != "READ" || xe.Path != "/a/b" || !errors.Is(err, xswire.ErrNotFound) {
		t.Fatalf("Read of removed node: %#v", err)
	}
	if err := c.SetPerms(ctx, "/tool", nil); !errors.Is(err, xswire.ErrInvalid) {
		t.Errorf("SetPerms(nil): %v", err)
	}
	// Payloads over 4096 bytes are refused locally, as by libxenstore.
	if err := c.Write(ctx, "/big", make([]byte, 5000)); !errors.Is(err, xswire.ErrTooBig) {
		t.Errorf("Write 5000 bytes: %v", err)
	}
	// Domains.
	must(t, c.Introduce(ctx, 12, 0xfeed, 3))
	if ok, err := c.IsDomainIntroduced(ctx, 12); !ok || err != nil {
		t.Errorf("IsDomainIntroduced = %v %v", ok, err)
	}
	if p, err := c.GetDomainPath(ctx, 12); p != "/local/domain/12" || err != nil {
		t.Errorf("GetDomainPath = %q %v", p, err)
	}
	must(t, c.Resume(ctx, 12))
	must(t, c.Introduce(ctx, 13, 0, 3))
	must(t, c.SetTarget(ctx, 13, 12))
	must(t, c.Release(ctx, 13))
	must(t, c.Release(ctx, 12))
	if err := c.Release(ctx, 12); !errors.Is(err, xswire.ErrNotFound) {
		t.Errorf("second Release: %v", err)
	}
	// Watches, ResetWatches.
	w, err := c.Watch(ctx, "/w", "")
	must(t, err)
	if e := <-w.C; e.Path != "/w" || e.Token != w.Token {
		t.Errorf("initial event %+v", e)
	}
	must(t, c.ResetWatches(ctx))
	if _, ok := <-w.C; ok {
		t.Error("watch channel open after ResetWatches")
	}
	// Transactions.
	tx, err := c.Begin(ctx)
	must(t, err)
	must(t, tx.WriteString(ctx, "/t", "1"))
	must(t, tx.Commit(ctx))
	if err := tx.Commit(ctx); !errors.Is(err, xswire.ErrNotFound) {
		t.Errorf("second Commit: %v", err)
	}
	// Large directories go through DIRECTORY_PART.
	var want []string
	for i := 0; i < 400; i++ {
		n := fmt.Sprintf("a-rather-long-child-name-%03d", i)
		want = append(want, n)
		must(t, c.Mkdir(ctx, "/many/"+n))
	}
	if l, err := c.Directory(ctx, "/many"); err != nil || !slices.Equal(l, want) {
		t.Errorf("big Directory: %d entries, %v", len(l), err)
	}
}

func TestConcurrentCallers(t *testing.T) {
	_, sock := daemon(t)
	c := dial(t, sock)
	ctx := ctxT(t)
	for i := 0; i < 16; i++ {
		must(t, c.WriteString(ctx, "/k/"+strconv.Itoa(i), strconv.Itoa(i*i)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				i := (g + j) % 16
				v, err := c.ReadString(ctx, "/k/"+strconv.Itoa(i))
				if err != nil || v != strconv.Itoa(i*i) {
					errs <- fmt.Errorf("read %d = %q %v", i, v, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// fakeDaemon answers requests as told, to test the client's side alone.
func fakeDaemon(t *testing.T, answer func(h xswire.Header, p []byte) (reply []byte, ok bool)) *xsclient.Client {
	a, b := net.Pipe()
	go func() {
		buf := make([]byte, xswire.MessageMax)
		for {
			h, p, err := xswire.ReadMessage(a, buf)
			if err != nil {
				a.Close()
				return
			}
			if r, ok := answer(h, p); ok {
				out := xswire.AppendHeader(nil, xswire.Header{Type: h.Type, ReqID: h.ReqID, Len: uint32(len(r))})
				if _, err := a.Write(append(out, r...)); err != nil {
					return
				}
			}
		}
	}()
	c := xsclient.NewClient(b)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestContextCancellation(t *testing.T) {
	var mu sync.Mutex
	var held []xswire.Header
	c := fakeDaemon(t, func(h xswire.Header, p []byte) ([]byte, bool) {
		if strings.HasPrefix(string(p), "/slow") {
			mu.Lock()
			held = append(held, h)
			mu.Unlock()
			return nil, false // never answered
		}
		return []byte("fast"), true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Read(ctx, "/slow"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read past deadline: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancelled call took %v", d)
	}
	// The connection is still good for other calls.
	if v, err := c.ReadString(context.Background(), "/fast"); err != nil || v != "fast" {
		t.Fatalf("after a cancelled call: %q %v", v, err)
	}
	// A cancelled context fails before sending.
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, err := c.Read(cctx, "/fast"); !errors.Is(err, context.Canceled) {
		t.Errorf("Read with cancelled ctx: %v", err)
	}
}

func TestClosedClient(t *testing.T) {
	_, sock := daemon(t)
	c := dial(t, sock)
	ctx := ctxT(t)
	w, err := c.Watch(ctx, "/x", "")
	must(t, err)
	<-w.C
	must(t, c.Close())
	if _, err := c.Read(ctx, "/x"); !errors.Is(err, xsclient.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	select {
	case _, ok := <-w.C:
		if ok {
			t.Error("event after Close")
		}
	case <-time.After(2 * time.Second):
		t.Error("watch channel not closed by Close")
	}
	// The daemon going away fails pending and later calls too.
	s2, sock2 := daemon(t)
	c2 := dial(t, sock2)
	must(t, c2.WriteString(ctx, "/y", "1"))
	s2.Close()
	select {
	case <-c2.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client did not notice the daemon closing")
	}
	if _, err := c2.Read(ctx, "/y"); !errors.Is(err, xsclient.ErrClosed) {
		t.Errorf("Read after daemon exit: %v", err)
	}
}

func TestWatchChannel(t *testing.T) {
	_, sock := daemon(t)
	c := dial(t, sock)
	other := dial(t, sock)
	ctx := ctxT(t)
	w, err := c.Watch(ctx, "/dev", "mytoken")
	must(t, err)
	if e := <-w.C; e != (xsclient.WatchEvent{Path: "/dev", Token: "mytoken"}) {
		t.Fatalf("initial event %+v", e)
	}
	// A slow receiver: changes to the same path merge while unread, and the
	// connection keeps working meanwhile.
	for i := 0; i < 200; i++ {
		must(t, other.WriteString(ctx, "/dev/state", strconv.Itoa(i)))
	}
	must(t, other.WriteString(ctx, "/dev/other", "x"))
	if v, err := c.ReadString(ctx, "/dev/state"); err != nil || v != "199" {
		t.Fatalf("read while events pending: %q %v", v, err)
	}
	seen := map[string]int{}
	timeout := time.After(5 * time.Second)
	for seen["/dev/other"] == 0 {
		select {
		case e := <-w.C:
			seen[e.Path]++
		case <-timeout:
			t.Fatalf("events seen %v", seen)
		}
	}
	if seen["/dev/state"] == 0 || seen["/dev/state"] > 200 {
		t.Errorf("events for /dev/state: %d", seen["/dev/state"])
	}
	must(t, w.Close(ctx))
	for range w.C {
	}
	// Two watches on one client get their own events.
	w1, err := c.Watch(ctx, "/p1", "")
	must(t, err)
	w2, err := c.Watch(ctx, "/p2", "")
	must(t, err)
	next := func(w *xsclient.Watch) xsclient.WatchEvent {
		t.Helper()
		select {
		case e := <-w.C:
			return e
		case <-time.After(5 * time.Second):
			t.Fatalf("no event on %s in 5 s", w.Path)
			return xsclient.WatchEvent{}
		}
	}
	if e := next(w1); e.Path != "/p1" {
		t.Errorf("w1 initial event %+v", e)
	}
	if e := next(w2); e.Path != "/p2" {
		t.Errorf("w2 initial event %+v", e)
	}
	must(t, other.WriteString(ctx, "/p2/x", ""))
	if e := next(w2); e.Path != "/p2/x" {
		t.Errorf("w2 event %+v", e)
	}
	// w1's next event is its own next change: /p2/x's, had it been
	// routed to w1, would have come first.
	must(t, other.WriteString(ctx, "/p1/y", ""))
	if e := next(w1); e.Path != "/p1/y" {
		t.Errorf("w1 got %+v, want only /p1/y", e)
	}
}

func TestTransactRetries(t *testing.T) {
	_, sock := daemon(t)
	c := dial(t, sock)
	other := dial(t, sock)
	ctx := ctxT(t)
	must(t, c.WriteString(ctx, "/n", "1"))
	attempts := 0
	err := c.Transact(ctx, func(tx *xsclient.Tx) error {
		attempts++
		v, err := tx.ReadString(ctx, "/n")
		if err != nil {
			return err
		}
		if attempts == 1 { // someone else changes what we read: conflict
			must(t, other.WriteString(ctx, "/n", "10"))
		}
		n, _ := strconv.Atoi(v)
		return tx.WriteString(ctx, "/n", strconv.Itoa(n+1))
	})
	must(t, err)
	if attempts != 2 {
		t.Errorf("attempts = %d, want 2", attempts)
	}
	if v, _ := c.ReadString(ctx, "/n"); v != "11" {
		t.Errorf("value %q, want 11 (the retry saw the other write)", v)
	}
	// Bounded.
	c.MaxTxAttempts = 3
	attempts = 0
	err = c.Transact(ctx, func(tx *xsclient.Tx) error {
		attempts++
		if _, err := tx.Read(ctx, "/n"); err != nil {
			return err
		}
		return other.WriteString(ctx, "/n", strconv.Itoa(attempts))
	})
	if !errors.Is(err, xswire.ErrAgain) || attempts != 3 {
		t.Errorf("always-conflicting Transact: %v after %d attempts", err, attempts)
	}
	// An error from fn aborts and is returned as is.
	boom := errors.New("boom")
	if err := c.Transact(ctx, func(tx *xsclient.Tx) error {
		must(t, tx.WriteString(ctx, "/aborted", "1"))
		return boom
	}); err != boom {
		t.Errorf("Transact error: %v", err)
	}
	if ok, _ := c.Exists(ctx, "/aborted"); ok {
		t.Error("aborted transaction applied")
	}
}

func TestOpenDiscovery(t *testing.T) {
	_, sock := daemon(t)
	t.Setenv("XENSTORED_PATH", sock)
	if got := xsclient.Candidates(); !slices.Equal(got, []string{sock}) {
		t.Errorf("Candidates with XENSTORED_PATH = %v", got)
	}
	c, err := xsclient.Open(context.Background())
	must(t, err)
	must(t, c.Close())
	t.Setenv("XENSTORED_PATH", "")
	t.Setenv("XENSTORED_RUNDIR", filepath.Dir(sock))
	if got := xsclient.Candidates(); got[0] != sock || got[1] != "/dev/xen/xenbus" {
		t.Errorf("Candidates with XENSTORED_RUNDIR = %v", got)
	}
	c, err = xsclient.Open(context.Background())
	must(t, err)
	must(t, c.Close())
	t.Setenv("XENSTORED_RUNDIR", "")
	if got := xsclient.Candidates(); got[0] != "/var/run/xenstored/socket" {
		t.Errorf("default Candidates = %v", got)
	}
	t.Setenv("XENSTORED_PATH", filepath.Join(t.TempDir(), "none"))
	if _, err := xsclient.Open(context.Background()); err == nil {
		t.Error("Open of a missing path succeeded")
	}
}

// A path that is not a socket is opened read-write as the xenbus device is,
// with the same framing. A FIFO loops our own request back to us, which
// the reader then takes for its reply (same type and req_id): enough to
// show the device transport carries whole messages both ways.
func TestDialDevice(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "xenbus")
	must(t, syscall.Mkfifo(fifo, 0o600))
	c, err := xsclient.Dial(context.Background(), fifo)
	must(t, err)
	defer c.Close()
	v, err := c.Read(ctxT(t), "/loop/back")
	if err != nil || string(v) != "/loop/back\x00" {
		t.Fatalf("Read over the device transport = %q, %v", v, err)
	}
}

// TestBeginWaitsForOwnTransactions: goroutines sharing an unprivileged
// connection with WaitTxQuota open more transactions at once than the
// domain's quota; each Begin refused for the quota waits for one of the
// connection's own to end and every transaction commits. Before, the ones
// past the quota failed with ENOSPC (a guest with 26 disks lost most of
// them). Without WaitTxQuota the refusal is returned.
func TestBeginWaitsForOwnTransactions(t *testing.T) {
	dir := t.TempDir()
	s, err := xenstored.New(xenstored.Config{Rundir: dir, Quotas: xenstored.Quotas{Transactions: 2}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(context.Background()); close(done) }()
	t.Cleanup(func() { s.Close(); <-done })
	ctx := ctxT(t)
	dom0 := dial(t, s.SocketPath())
	must(t, dom0.Introduce(ctx, 5, 0, 1))
	must(t, dom0.WriteString(ctx, "/local/domain/5", ""))
	must(t, dom0.SetPerms(ctx, "/local/domain/5", perms("n5")))
	guest, err := xsclient.Dial(ctx, filepath.Join(dir, "domains", "5", "socket"))
	must(t, err)
	guest.WaitTxQuota = true
	t.Cleanup(func() { guest.Close() })
	// One transaction held open on another connection of the domain is
	// not this connection's to wait for: past the quota, Begin fails.
	other := dial(t, filepath.Join(dir, "domains", "5", "socket"))
	held, err := other.Begin(ctx)
	must(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- guest.Transact(ctx, func(tx *xsclient.Tx) error {
				if err := tx.WriteString(ctx, fmt.Sprintf("/local/domain/5/k%d", i), "v"); err != nil {
					return err
				}
				time.Sleep(time.Millisecond) // keep it open while others start
				return nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	names, err := dom0.Directory(ctx, "/local/domain/5")
	if err != nil || len(names) != 20 {
		t.Errorf("%d keys written (%v)", len(names), err)
	}
	must(t, held.Abort(ctx))
	// With nothing of its own open, a refusal is returned at once. The
	// domain may hold one more than the quota, as with C xenstored.
	a, err := other.Begin(ctx)
	must(t, err)
	b, err := other.Begin(ctx)
	must(t, err)
	c, err := other.Begin(ctx)
	must(t, err)
	if _, err := guest.Begin(ctx); !errors.Is(err, xswire.ErrQuota) {
		t.Errorf("Begin past the quota with none of its own open: %v, want ENOSPC", err)
	}
	must(t, a.Abort(ctx))
	must(t, b.Abort(ctx))
	must(t, c.Abort(ctx))
	// Without WaitTxQuota, past the quota is a refusal even with
	// transactions of its own open.
	a, err = other.Begin(ctx)
	must(t, err)
	b, err = other.Begin(ctx)
	must(t, err)
	c, err = other.Begin(ctx)
	must(t, err)
	if _, err := other.Begin(ctx); !errors.Is(err, xswire.ErrQuota) {
		t.Errorf("Begin past the quota without WaitTxQuota: %v, want ENOSPC", err)
	}
	must(t, a.Abort(ctx))
	must(t, b.Abort(ctx))
	must(t, c.Abort(ctx))
}
