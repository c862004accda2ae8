package xenstored

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xfeat/xfeat/internal/hostlog"
	T "github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

func TestBasicOps(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	r := newRaw(t, pipeConn(t, s, 0))

	r.wantOK(xswire.TypeWrite, 0, "/a/b/c\x00hello\x00world") // values are binary: NULs kept
	if got := r.wantOK(xswire.TypeRead, 0, nul("/a/b/c")); got != "hello\x00world" {
		t.Errorf("READ = %q", got)
	}
	if got := r.wantOK(xswire.TypeRead, 0, nul("/a/b")); got != "" {
		t.Errorf("READ of created parent = %q, want empty", got)
	}
	r.wantOK(xswire.TypeWrite, 0, "/a/d\x00x")
	if got := r.wantOK(xswire.TypeDirectory, 0, nul("/a")); got != nul("b", "d") {
		t.Errorf("DIRECTORY = %q", got)
	}
	r.wantOK(xswire.TypeMkdir, 0, nul("/a/e"))
	r.wantOK(xswire.TypeMkdir, 0, nul("/a/e")) // existing: fine
	if got := r.wantOK(xswire.TypeGetPerms, 0, nul("/a/e")); got != nul("n0") {
		t.Errorf("GET_PERMS = %q", got)
	}
	r.wantOK(xswire.TypeSetPerms, 0, nul("/a/e", "n5", "r7", "b0x10"))
	if got := r.wantOK(xswire.TypeGetPerms, 0, nul("/a/e")); got != nul("n5", "r7", "b16") {
		t.Errorf("GET_PERMS after SET_PERMS = %q", got)
	}
	r.wantOK(xswire.TypeRm, 0, nul("/a/b"))
	r.wantErr(xswire.TypeRead, 0, nul("/a/b/c"), "ENOENT")
	r.wantOK(xswire.TypeRm, 0, nul("/a/b"))            // absent, parent exists: fine
	r.wantErr(xswire.TypeRm, 0, nul("/x/y"), "ENOENT") // absent parent
	r.wantErr(xswire.TypeRm, 0, nul("/"), "EINVAL")
	if got := r.wantOK(xswire.TypeGetDomainPath, 0, nul("7")); got != nul("/local/domain/7") {
		t.Errorf("GET_DOMAIN_PATH = %q", got)
	}
	// Relative paths of domain 0's socket are below /local/domain/0.
	r.wantOK(xswire.TypeWrite, 0, "rel/x\x001")
	if got := r.wantOK(xswire.TypeRead, 0, nul("/local/domain/0/rel/x")); got != "1" {
		t.Errorf("relative write landed elsewhere: %q", got)
	}
	if got := r.wantOK(xswire.TypeIsDomainIntroduced, 0, nul("0")); got != nul("T") {
		t.Errorf("IS_DOMAIN_INTRODUCED 0 = %q", got)
	}
	if got := r.wantOK(xswire.TypeIsDomainIntroduced, 0, nul("9")); got != nul("F") {
		t.Errorf("IS_DOMAIN_INTRODUCED 9 = %q", got)
	}
}

func TestBadInput(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	r := newRaw(t, pipeConn(t, s, 0))
	r.wantErr(xswire.MsgType(99), 0, "", "ENOSYS")
	r.wantErr(xswire.TypeWatchEvent, 0, nul("/a", "t"), "ENOSYS")
	r.wantErr(xswire.TypeError, 0, nul("EINVAL"), "ENOSYS")
	r.wantErr(xswire.MsgType(20), 0, "", "ENOSYS")          // RESTRICT, removed
	r.wantErr(xswire.TypeRead, 0, "/a", "EINVAL")           // no NUL
	r.wantErr(xswire.TypeRead, 0, "", "EINVAL")             // empty
	r.wantErr(xswire.TypeRead, 0, "/a\x00/b\x00", "EINVAL") // two args
	r.wantErr(xswire.TypeWrite, 0, "/a", "EINVAL")          // no NUL at all
	for _, bad := range []string{"/a//b", "/a/", "/a b", "/a\xff", "@x", "/a/./b"} {
		r.wantErr(xswire.TypeRead, 0, nul(bad), "EINVAL")
	}
	r.wantErr(xswire.TypeRead, 0, nul("/"+strings.Repeat("a", 3072)), "EINVAL")
	r.wantErr(xswire.TypeRead, 0, nul("/nope"), "ENOENT")
	r.wantErr(xswire.TypeSetPerms, 0, nul("/tool"), "EINVAL")
	r.wantErr(xswire.TypeSetPerms, 0, nul("/tool", "x0"), "EINVAL")
	r.wantErr(xswire.TypeSetPerms, 0, nul("/tool", "r"), "EINVAL")
	r.wantErr(xswire.TypeSetPerms, 0, nul("/tool", "r5x"), "EINVAL")
	// Well-formed for C 4.17 (strtol, 32 bits) but no domain can own a
	// node: ENOENT, as C answers.
	r.wantErr(xswire.TypeSetPerms, 0, nul("/tool", "r-1"), "ENOENT")
	r.wantErr(xswire.TypeSetPerms, 0, nul("/tool", "r70000"), "ENOENT")
	r.wantErr(xswire.TypeWatch, 0, nul("/a"), "EINVAL")
	r.wantErr(xswire.TypeTransactionEnd, 0, nul("T"), "ENOENT")
	r.wantErr(xswire.TypeTransactionEnd, 0, nul("X"), "EINVAL")
	r.wantErr(xswire.TypeRead, 77, nul("/tool"), "ENOENT") // unknown transaction
	r.wantErr(xswire.TypeIntroduce, 0, nul("5", "0"), "EINVAL")
	r.wantErr(xswire.TypeIntroduce, 0, nul("5", "0", "0"), "EINVAL")
	r.wantErr(xswire.TypeIntroduce, 0, nul("0", "0", "1"), "EINVAL")
	r.wantErr(xswire.TypeIntroduce, 0, nul("abc", "0", "1"), "EINVAL")
	r.wantErr(xswire.TypeRelease, 0, nul("6"), "ENOENT")
	r.wantErr(xswire.TypeRelease, 0, nul("0"), "EINVAL")
	r.wantErr(xswire.TypeGetDomainPath, 0, "", "EINVAL")            // no argument at all
	r.wantErr(xswire.TypeGetDomainPath, 0, "7", "EINVAL")           // no NUL
	r.wantErr(xswire.TypeGetDomainPath, 0, nul("7", "8"), "EINVAL") // two arguments
	r.wantErr(xswire.TypeDirectoryPart, 0, nul("/"), "EINVAL")
	// A payload over the limit set below 4096 is refused but the stream stays usable.
	r.wantOK(xswire.TypeRead, 0, nul("/tool"))

	// Garbage after a valid header of an unknown type still gets a reply,
	// and the connection stays in sync.
	r.wantErr(xswire.MsgType(0xdeadbeef), 0, "garbage\xff\x00\x01", "ENOSYS")
	r.wantOK(xswire.TypeRead, 0, nul("/tool"))

	// A header announcing more than 4096 bytes closes the connection...
	hdr := xswire.AppendHeader(nil, xswire.Header{Type: xswire.TypeWrite, ReqID: 1, Len: 4097})
	r.sendBytes(hdr)
	if _, _, err := r.recv(); err == nil {
		t.Fatal("connection survived a 4097-byte payload header")
	}
	// ...and nobody else is disturbed.
	r2 := newRaw(t, pipeConn(t, s, 0))
	r2.wantOK(xswire.TypeRead, 0, nul("/tool"))
}

func TestPayloadQuota(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{Quotas: Quotas{Payload: 100}})
	r := newRaw(t, pipeConn(t, s, 0))
	r.wantErr(xswire.TypeWrite, 0, "/a\x00"+strings.Repeat("x", 200), "E2BIG")
	r.wantOK(xswire.TypeWrite, 0, "/a\x00"+strings.Repeat("x", 50))
}

// A guest connects through its domain's socket exactly as through its ring.
func TestGuestPermissions(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	c := ctx(t)
	dom0 := client(t, s, 0)
	if err := dom0.Introduce(c, 5, 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := dom0.Introduce(c, 6, 0, 1); err != nil {
		t.Fatal(err)
	}
	g5 := client(t, s, 5)

	// Introduce made /local/domain/5 owned by domain 5.
	got, err := dom0.GetPerms(c, "/local/domain/5")
	if err != nil || !slices.Equal(got, perms("n5")) {
		t.Fatalf("home perms = %v, %v", got, err)
	}
	// Relative paths are the guest's home.
	if err := g5.WriteString(c, "data/x", "1"); err != nil {
		t.Fatal(err)
	}
	if v, err := dom0.ReadString(c, "/local/domain/5/data/x"); err != nil || v != "1" {
		t.Fatalf("guest relative write: %q %v", v, err)
	}
	// A node it creates is its own, inheriting the rest of the parent's list.
	if ps, _ := dom0.GetPerms(c, "/local/domain/5/data/x"); !slices.Equal(ps, []xswire.Perm{{Domid: 5, Access: 'n'}}) {
		t.Errorf("created node perms = %v", ps)
	}

	// n0: unreadable by the guest.
	must(t, dom0.WriteString(c, "/secret", "s"))
	if _, err := g5.Read(c, "/secret"); !errors.Is(err, xswire.ErrPermission) {
		t.Errorf("guest read of n0 node: %v, want EACCES", err)
	}
	// Masking: a missing node under an unreadable parent is eACCES too.
	if _, err := g5.Read(c, "/secret/none"); !errors.Is(err, xswire.ErrPermission) {
		t.Errorf("guest read below unreadable: %v, want EACCES", err)
	}
	// Under a readable parent, missing is eNOENT.
	if _, err := g5.Read(c, "/local/domain/5/none"); !errors.Is(err, xswire.ErrNotFound) {
		t.Errorf("guest read of own missing node: %v, want ENOENT", err)
	}
	// Another domain's nodes: not writable, not creatable.
	must(t, dom0.WriteString(c, "/local/domain/6/x", "6"))
	if err := g5.WriteString(c, "/local/domain/6/x", "evil"); !errors.Is(err, xswire.ErrPermission) {
		t.Errorf("guest write to domain 6 node: %v", err)
	}
	if err := g5.WriteString(c, "/local/domain/6/new", "evil"); !errors.Is(err, xswire.ErrPermission) {
		t.Errorf("guest create under domain 6: %v", err)
	}
	if err := g5.Rm(c, "/local/domain/6"); !errors.Is(err, xswire.ErrPermission) {
		t.Errorf("guest rm of domain 6: %v", err)
	}
	if v, _ := dom0.ReadString(c, "/local/domain/6/x"); v != "6" {
		t.Errorf("domain 6 node changed to %q", v)
	}
	// ACL: r5 lets it read, not write; w5 lets it write.
	must(t, dom0.WriteString(c, "/shared", "v"))
	must(t, dom0.SetPerms(c, "/shared", perms("n0", "r5")))
	if v, err := g5.ReadString(c, "/shared"); err != nil || v != "v" {
		t.Errorf("read with r5: %q %v", v, err)
	}
	if err := g5.WriteString(c, "/shared", "x"); !errors.Is(err, xswire.ErrPermission) {
		t.Errorf("write with r5: %v", err)
	}
	// The owner's letter is everybody else's access.
	must(t, dom0.SetPerms(c, "/shared", perms("r0")))
	if _, err := g5.Read(c, "/shared"); err != nil {
		t.Errorf("read with r0 default: %v", err)
	}
	// Only the owner (or privileged) sets permissions; the owner may not
	// give the node away.
	must(t, dom0.WriteString(c, "/local/domain/5/own", ""))
	must(t, dom0.SetPerms(c, "/local/domain/5/own", perms("n5")))
	if err := g5.SetPerms(c, "/local/domain/5/own", perms("n5", "r6")); err != nil {
		t.Errorf("owner SET_PERMS: %v", err)
	}
	if err := g5.SetPerms(c, "/local/domain/5/own", perms("n6")); !errors.Is(err, xswire.ErrNotPermitted) {
		t.Errorf("owner giving node away: %v, want EPERM", err)
	}
	if err := g5.SetPerms(c, "/shared", perms("b5")); !errors.Is(err, xswire.ErrPermission) {
		t.Errorf("non-owner SET_PERMS: %v, want EACCES", err)
	}
	// Privileged operations are refused to guests.
	if err := g5.Introduce(c, 9, 0, 1); !errors.Is(err, xswire.ErrPermission) {
		t.Errorf("guest INTRODUCE: %v", err)
	}
	if _, err := g5.IsDomainIntroduced(c, 5); !errors.Is(err, xswire.ErrPermission) {
		t.Errorf("guest IS_DOMAIN_INTRODUCED: %v", err)
	}
	if p, err := g5.GetDomainPath(c, 5); err != nil || p != "/local/domain/5" {
		t.Errorf("guest GET_DOMAIN_PATH: %q %v", p, err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func nextEvent(t testing.TB, w *T.Watch) T.WatchEvent {
	t.Helper()
	select {
	case e, ok := <-w.C:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event")
	}
	return T.WatchEvent{}
}

func noEvent(t testing.TB, w *T.Watch, d time.Duration) {
	t.Helper()
	select {
	case e := <-w.C:
		t.Fatalf("unexpected event %+v", e)
	case <-time.After(d):
	}
}

func TestWatches(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	c := ctx(t)
	dom0 := client(t, s, 0)
	w, err := dom0.Watch(c, "/w", "tok")
	must(t, err)
	if e := nextEvent(t, w); e.Path != "/w" || e.Token != "tok" {
		t.Fatalf("initial event %+v", e)
	}
	must(t, dom0.WriteString(c, "/w/a/b", "1"))
	if e := nextEvent(t, w); e.Path != "/w/a/b" {
		t.Errorf("event %+v", e)
	}
	must(t, dom0.WriteString(c, "/other", "1")) // not below /w
	must(t, dom0.SetPerms(c, "/w/a", perms("r0")))
	if e := nextEvent(t, w); e.Path != "/w/a" {
		t.Errorf("perm change event %+v", e)
	}
	// A watch on a node removed with its ancestor fires with its own path.
	w2, err := dom0.Watch(c, "/w/a/b", "deep")
	must(t, err)
	nextEvent(t, w2)
	must(t, dom0.Rm(c, "/w"))
	if e := nextEvent(t, w2); e.Path != "/w/a/b" {
		t.Errorf("ancestor removal event %+v", e)
	}
	// The removed subtree's root reports once to watches at or above it;
	// descendants only to watches exactly on them (C's delnode_sub).
	if e := nextEvent(t, w); e.Path != "/w" {
		t.Errorf("rm event %+v", e)
	}
	// A later change is the next event: none for the descendants came
	// before it (a connection's events arrive in order).
	must(t, dom0.WriteString(c, "/w", ""))
	if e := nextEvent(t, w); e.Path != "/w" {
		t.Errorf("event %+v after the removal's, want the next write's", e)
	}
	// Transactions fire at commit only: a write outside it (to a node it
	// does not touch) is the next event.
	must(t, dom0.WriteString(c, "/w/outside", "1"))
	nextEvent(t, w)
	tx, err := dom0.Begin(c)
	must(t, err)
	must(t, tx.WriteString(c, "/w/t", "1"))
	must(t, dom0.WriteString(c, "/w/outside", "2"))
	if e := nextEvent(t, w); e.Path != "/w/outside" {
		t.Errorf("event %+v before the commit, want the write outside the transaction's", e)
	}
	must(t, tx.Commit(c))
	if e := nextEvent(t, w); e.Path != "/w/t" {
		t.Errorf("commit event %+v", e)
	}
	// Unwatch stops events; the channel closes.
	must(t, w.Close(c))
	must(t, dom0.WriteString(c, "/w/t", "2"))
	for range w.C {
	}
	// Duplicate watch: eEXIST.
	_, err = dom0.Watch(c, "/w/a/b", "deep")
	if !errors.Is(err, xswire.ErrExist) {
		t.Errorf("duplicate watch: %v", err)
	}
}

func TestGuestWatchesRespectPermissions(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	c := ctx(t)
	dom0 := client(t, s, 0)
	must(t, dom0.Introduce(c, 5, 0, 1))
	g5 := client(t, s, 5)
	must(t, dom0.WriteString(c, "/pub/x", ""))
	must(t, dom0.SetPerms(c, "/pub", perms("r0")))
	w, err := g5.Watch(c, "/", "all")
	must(t, err)
	nextEvent(t, w)
	// Relative watch: events come relative.
	wr, err := g5.Watch(c, "dev", "rel")
	must(t, err)
	if e := nextEvent(t, wr); e.Path != "dev" {
		t.Errorf("relative initial event %+v", e)
	}
	must(t, dom0.WriteString(c, "/secret/x", "1"))             // n0 below n0: invisible
	must(t, dom0.WriteString(c, "/pub/y", "1"))                // readable (r0 inherited)
	must(t, dom0.WriteString(c, "/local/domain/5/dev/z", "1")) // guest's own
	if e := nextEvent(t, w); e.Path != "/pub/y" {
		t.Errorf("first visible event %+v, want /pub/y (the secret one must not be sent)", e)
	}
	if e := nextEvent(t, w); e.Path != "/local/domain/5/dev/z" {
		t.Errorf("event %+v", e)
	}
	if e := nextEvent(t, wr); e.Path != "dev/z" {
		t.Errorf("relative event %+v", e)
	}
	// Special watches need permission on the special node.
	wi, err := g5.Watch(c, "@introduceDomain", "intro")
	must(t, err)
	if e := nextEvent(t, wi); e.Path != "@introduceDomain" {
		t.Errorf("initial special event %+v", e)
	}
	d0i, err := dom0.Watch(c, "@introduceDomain", "intro0")
	must(t, err)
	nextEvent(t, d0i)
	d0r, err := dom0.Watch(c, "@releaseDomain", "rel0")
	must(t, err)
	nextEvent(t, d0r)
	must(t, dom0.Introduce(c, 7, 0, 1))
	if e := nextEvent(t, d0i); e.Path != "@introduceDomain" {
		t.Errorf("dom0 @introduceDomain event %+v", e)
	}
	// Whatever the daemon sent g5 for the introduction came before the
	// reply to this read; what is left is the client handing it on.
	if _, err := g5.Read(c, "dev/z"); err != nil {
		t.Fatal(err)
	}
	noEvent(t, wi, 50*time.Millisecond)
	must(t, dom0.Release(c, 7))
	if e := nextEvent(t, d0r); e.Path != "@releaseDomain" {
		t.Errorf("@releaseDomain event %+v", e)
	}
}

func TestTransactions(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	c := ctx(t)
	a := client(t, s, 0)
	b := client(t, s, 0)
	must(t, a.WriteString(c, "/t/x", "a"))

	// Isolation: writes inside are invisible outside until commit, and
	// outside writes are invisible inside.
	tx, err := a.Begin(c)
	must(t, err)
	if v, _ := tx.ReadString(c, "/t/x"); v != "a" {
		t.Fatalf("tx read %q", v)
	}
	must(t, tx.WriteString(c, "/t/y", "in"))
	if _, err := b.Read(c, "/t/y"); !errors.Is(err, xswire.ErrNotFound) {
		t.Errorf("uncommitted node visible: %v", err)
	}
	must(t, b.WriteString(c, "/t/x", "b"))
	if v, _ := tx.ReadString(c, "/t/x"); v != "a" {
		t.Errorf("outside write visible in tx: %q", v)
	}
	// It read /t/x, which changed: eAGAIN, and nothing applied.
	if err := tx.Commit(c); !errors.Is(err, xswire.ErrAgain) {
		t.Fatalf("conflicting commit: %v", err)
	}
	if _, err := b.Read(c, "/t/y"); !errors.Is(err, xswire.ErrNotFound) {
		t.Errorf("failed transaction applied: %v", err)
	}
	// Without a conflict it applies.
	tx, err = a.Begin(c)
	must(t, err)
	must(t, tx.WriteString(c, "/t/y", "in"))
	must(t, tx.Rm(c, "/t/x"))
	must(t, b.WriteString(c, "/u", "unrelated"))
	must(t, tx.Commit(c))
	if v, _ := b.ReadString(c, "/t/y"); v != "in" {
		t.Errorf("committed value %q", v)
	}
	if ok, _ := b.Exists(c, "/t/x"); ok {
		t.Error("removed node still there")
	}
	// Abort discards; the id is gone afterwards.
	tx, err = a.Begin(c)
	must(t, err)
	must(t, tx.WriteString(c, "/t/z", "1"))
	must(t, tx.Abort(c))
	if ok, _ := b.Exists(c, "/t/z"); ok {
		t.Error("aborted write applied")
	}
	r := newRaw(t, pipeConn(t, s, 0))
	id := strings.TrimSuffix(r.wantOK(xswire.TypeTransactionStart, 0, nul("")), "\x00")
	n, _ := strconv.Atoi(id)
	r.wantErr(xswire.TypeTransactionStart, uint32(n), nul(""), "EBUSY")
	r.wantOK(xswire.TypeTransactionEnd, uint32(n), nul("F"))
	r.wantErr(xswire.TypeTransactionEnd, uint32(n), nul("F"), "ENOENT")
	// Creating the same new node in two transactions conflicts.
	t1, _ := a.Begin(c)
	t2, _ := b.Begin(c)
	must(t, t1.WriteString(c, "/new/n", "1"))
	must(t, t2.WriteString(c, "/new/n", "2"))
	must(t, t1.Commit(c))
	if err := t2.Commit(c); !errors.Is(err, xswire.ErrAgain) {
		t.Errorf("second creator commit: %v", err)
	}
}

// 64 clients increment counters on overlapping nodes in transactions; every
// increment must be there at the end.
func TestConcurrentIncrements(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	c := ctx(t)
	const clients, iters, counters = 64, 20, 4
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		cl := client(t, s, 0)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < iters; j++ {
				// Each transaction bumps two counters, overlapping others'.
				a, b := fmt.Sprintf("/cnt/%d", (i+j)%counters), fmt.Sprintf("/cnt/%d", (i+j+1)%counters)
				err := cl.Transact(c, func(tx *T.Tx) error {
					for _, p := range []string{a, b} {
						v, err := tx.ReadString(c, p)
						if errors.Is(err, xswire.ErrNotFound) {
							v, err = "0", nil
						}
						if err != nil {
							return err
						}
						n, _ := strconv.Atoi(v)
						if err := tx.WriteString(c, p, strconv.Itoa(n+1)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	dom0 := client(t, s, 0)
	total := 0
	for k := 0; k < counters; k++ {
		v, err := dom0.ReadString(c, fmt.Sprintf("/cnt/%d", k))
		must(t, err)
		n, _ := strconv.Atoi(v)
		total += n
	}
	if total != clients*iters*2 {
		t.Errorf("sum of counters %d, want %d", total, clients*iters*2)
	}
}

func TestQuotas(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{Quotas: Quotas{Nodes: 10, Watches: 3, Transactions: 2, NodePerms: 2, NodeSize: 200, PathMax: 30, TransactionNodes: 8}})
	c := ctx(t)
	dom0 := client(t, s, 0)
	must(t, dom0.Introduce(c, 5, 0, 1))
	g := client(t, s, 5)
	// Home node counts: 1 owned already.
	for i := 0; i < 9; i++ {
		must(t, g.WriteString(c, fmt.Sprintf("n%d", i), ""))
	}
	if err := g.WriteString(c, "n9", ""); !errors.Is(err, xswire.ErrQuota) {
		t.Errorf("node quota: %v, want ENOSPC", err)
	}
	must(t, g.Rm(c, "n0"))
	must(t, g.WriteString(c, "n9", "")) // room again
	// The privileged domain is not limited.
	for i := 0; i < 20; i++ {
		must(t, dom0.WriteString(c, fmt.Sprintf("/d0/%d", i), ""))
	}
	// Node size.
	if err := g.WriteString(c, "n1", strings.Repeat("x", 300)); !errors.Is(err, xswire.ErrQuota) {
		t.Errorf("node size quota: %v", err)
	}
	// Permissions per node.
	if err := g.SetPerms(c, "n1", perms("n5", "r1", "r2")); !errors.Is(err, xswire.ErrQuota) {
		t.Errorf("node perms quota: %v", err)
	}
	// Path length below the home: eINVAL, as C.
	if _, err := g.Read(c, strings.Repeat("p", 31)); !errors.Is(err, xswire.ErrInvalid) {
		t.Errorf("path quota: %v", err)
	}
	if _, err := g.Read(c, strings.Repeat("p", 30)); !errors.Is(err, xswire.ErrNotFound) {
		t.Errorf("path at quota: %v", err)
	}
	// Watches: E2BIG, as C, which lets a domain reach one more than the
	// quota (it refuses a watch only once the count is above it).
	for i := 0; i < 4; i++ {
		_, err := g.Watch(c, "n1", "")
		must(t, err)
	}
	if _, err := g.Watch(c, "n1", ""); !errors.Is(err, xswire.ErrTooBig) {
		t.Errorf("watch quota: %v", err)
	}
	// Transactions: as watches, one more than the quota.
	t1, err := g.Begin(c)
	must(t, err)
	for i := 0; i < 2; i++ {
		_, err = g.Begin(c)
		must(t, err)
	}
	if _, err := g.Begin(c); !errors.Is(err, xswire.ErrQuota) {
		t.Errorf("transaction quota: %v", err)
	}
	// Nodes touched by one transaction.
	var terr error
	for i := 0; i < 10 && terr == nil; i++ {
		_, terr = t1.Read(c, fmt.Sprintf("n%d", i))
		if errors.Is(terr, xswire.ErrNotFound) {
			terr = nil
		}
	}
	if !errors.Is(terr, xswire.ErrQuota) {
		t.Errorf("transaction-nodes quota: %v", terr)
	}
}

// A client that stops reading is disconnected; the others keep going.
func TestStuckReaderDisconnected(t *testing.T) {
	goroutineLeakCheck(t)
	// The output bound, not the write timeout, must catch it.
	s := newTestServer(t, Config{MaxConnOutput: 16 << 10, WriteTimeout: time.Minute})
	c := ctx(t)
	stuck := newRaw(t, pipeConn(t, s, 0))
	stuck.send(xswire.TypeWatch, 0, nul("/flood", "t")) // and never read
	dom0 := client(t, s, 0)
	// Were this client held up by the stuck one, it would wait for the
	// one-minute write timeout and run out of its 20 s context.
	for i := 0; i < 500; i++ {
		must(t, dom0.WriteString(c, "/flood/"+strings.Repeat("n", 60)+strconv.Itoa(i), "v"))
	}
	waitConnsDropTo(t, s, 1, "stuck client")
}

// A client that sends requests without ever reading replies blocks only
// itself, and is dropped after WriteTimeout.
func TestFloodWithoutReading(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{WriteTimeout: 500 * time.Millisecond})
	c := ctx(t)
	flood := pipeConn(t, s, 0)
	req := xswire.AppendHeader(nil, xswire.Header{Type: xswire.TypeRead, ReqID: 1, Len: 6})
	req = append(req, "/tool\x00"...)
	go func() {
		for {
			if _, err := flood.Write(req); err != nil {
				return // the daemon dropped us
			}
		}
	}()
	dom0 := client(t, s, 0)
	for i := 0; i < 100; i++ {
		must(t, dom0.WriteString(c, "/ok", strconv.Itoa(i)))
	}
	waitConnsDropTo(t, s, 1, "flooding client")
	must(t, dom0.WriteString(c, "/ok", "still fine"))
}

// A guest pipelining many requests through its socket, with a small
// outstanding quota, gets every reply, in order; one connection more than
// MaxDomainConns on its socket is refused.
func TestGuestPipelining(t *testing.T) {
	goroutineLeakCheck(t)
	dir := t.TempDir()
	s, err := New(Config{Rundir: dir, Quotas: Quotas{Outstanding: 4}, MaxDomainConns: 2})
	must(t, err)
	defer s.Close()
	must(t, s.Introduce(5, 0, 1))
	nc, err := net.Dial("unix", s.DomainSocketPath(5))
	must(t, err)
	defer nc.Close()
	var batch []byte
	for i := 1; i <= 200; i++ {
		p := nul("/local/domain/5")
		batch = append(batch, xswire.AppendHeader(nil, xswire.Header{Type: xswire.TypeGetPerms, ReqID: uint32(i), Len: uint32(len(p))})...)
		batch = append(batch, p...)
	}
	go nc.Write(batch)
	r := newRaw(t, nc)
	for i := 1; i <= 200; i++ {
		h, p, err := r.recv()
		if err != nil || h.ReqID != uint32(i) || p != nul("n5") {
			t.Fatalf("reply %d: %+v %q %v", i, h, p, err)
		}
	}
	// The connection limit per domain socket.
	extra := make([]*T.Client, 0, 2)
	for i := 0; i < 2; i++ {
		c, err := T.Dial(ctx(t), s.DomainSocketPath(5))
		must(t, err)
		defer c.Close()
		extra = append(extra, c)
	}
	if _, err := extra[0].Read(ctx(t), "x"); !errors.Is(err, xswire.ErrNotFound) {
		t.Errorf("second connection: %v", err)
	}
	if _, err := extra[1].Read(ctx(t), "x"); !errors.Is(err, T.ErrClosed) {
		t.Errorf("connection over the limit: %v, want it closed", err)
	}
}

// TestOutstandingQuotaStopsReading: a guest that pipelines requests and
// reads none of the replies has exactly Quotas.Outstanding of them queued,
// no more: the daemon stops reading its requests, as C xenstored stops
// reading a guest's ring. Over a net.Pipe every write of the daemon blocks
// until the guest reads, and only the connection's reader writes here, so
// once a write is under way the reader is stuck in it and the queue cannot
// change: what the test sees does not depend on how fast the daemon is.
func TestOutstandingQuotaStopsReading(t *testing.T) {
	goroutineLeakCheck(t)
	const quota, n = 4, 200
	s := newTestServer(t, Config{Quotas: Quotas{Outstanding: quota}})
	must(t, s.Introduce(5, 0, 1))
	nc := pipeConn(t, s, 5)
	var batch []byte
	for i := 1; i <= n; i++ {
		p := nul("/local/domain/5")
		batch = append(batch, xswire.AppendHeader(nil, xswire.Header{Type: xswire.TypeGetPerms, ReqID: uint32(i), Len: uint32(len(p))})...)
		batch = append(batch, p...)
	}
	// One write: the daemon's first read takes all of it (its buffer is
	// larger), so what it handles is limited by the quota alone.
	go nc.Write(batch)
	queued := -1
	for deadline := time.Now().Add(10 * time.Second); queued < 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the daemon never wrote a reply in 10 s")
		}
		s.st.Lock()
		for c := range s.st.conns {
			if c.domid != 5 {
				continue
			}
			c.out.Lock()
			if c.out.writing {
				queued = c.out.replies + c.out.inWrite
			}
			c.out.Unlock()
		}
		s.st.Unlock()
	}
	if queued != quota {
		t.Errorf("%d replies queued for a guest that reads none, want the quota (%d) and the daemon reading no further", queued, quota)
	}
	// Reading lets it go on: every reply comes, in order.
	r := newRaw(t, nc)
	for i := 1; i <= n; i++ {
		h, p, err := r.recv()
		if err != nil || h.ReqID != uint32(i) || p != nul("n5") {
			t.Fatalf("reply %d: %+v %q %v", i, h, p, err)
		}
	}
}

func TestDomainSocketsAndRelease(t *testing.T) {
	goroutineLeakCheck(t)
	dir := t.TempDir()
	var mu sync.Mutex
	var events []string
	s, err := New(Config{Rundir: dir,
		OnIntroduce: func(d Domain) {
			mu.Lock()
			events = append(events, fmt.Sprintf("intro %d %d %d", d.ID, d.GFN, d.Evtchn))
			mu.Unlock()
		},
		OnRelease: func(d Domain) { mu.Lock(); events = append(events, fmt.Sprintf("release %d", d.ID)); mu.Unlock() },
	})
	must(t, err)
	done := make(chan error)
	go func() { done <- s.Serve(t.Context()) }()
	defer func() { s.Close(); <-done }()
	st, err := os.Stat(filepath.Join(dir, "socket"))
	must(t, err)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v", st.Mode().Perm())
	}
	c := ctx(t)
	dom0, err := T.Dial(c, filepath.Join(dir, "socket"))
	must(t, err)
	defer dom0.Close()
	must(t, dom0.Introduce(c, 3, 1234, 9))
	if ok, _ := dom0.IsDomainIntroduced(c, 3); !ok {
		t.Error("not introduced")
	}
	sock := s.DomainSocketPath(3)
	g, err := T.Dial(c, sock)
	must(t, err)
	must(t, g.WriteString(c, "guest-owned", "1"))
	if _, err := g.Read(c, "/tool"); !errors.Is(err, xswire.ErrPermission) {
		t.Errorf("guest socket is privileged: %v", err)
	}
	must(t, dom0.WriteString(c, "/shared", ""))
	must(t, dom0.SetPerms(c, "/shared", perms("n0", "r3")))
	must(t, dom0.Release(c, 3))
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("domain socket survives release: %v", err)
	}
	// Its connection is gone, its nodes too, and its grants.
	if _, err := g.Read(c, "guest-owned"); !errors.Is(err, T.ErrClosed) {
		t.Errorf("released domain's connection: %v", err)
	}
	g.Close()
	if ok, _ := dom0.Exists(c, "/local/domain/3/guest-owned"); ok {
		t.Error("released domain's nodes remain")
	}
	if ps, _ := dom0.GetPerms(c, "/shared"); !slices.Equal(ps, perms("n0")) {
		t.Errorf("released domain still in ACL: %v", ps)
	}
	if ok, _ := dom0.IsDomainIntroduced(c, 3); ok {
		t.Error("still introduced")
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(events, []string{"intro 3 1234 9", "release 3"}) {
		t.Errorf("hooks %v", events)
	}
}

func TestSaveRestore(t *testing.T) {
	goroutineLeakCheck(t)
	dir := t.TempDir()
	s, err := New(Config{Rundir: dir})
	must(t, err)
	c := ctx(t)
	dom0 := client(t, s, 0)
	must(t, dom0.Introduce(c, 4, 0, 2))
	must(t, dom0.WriteString(c, "/a/b", "bin\x00ary"))
	must(t, dom0.WriteString(c, "/a/c", "2"))
	must(t, dom0.SetPerms(c, "/a/c", perms("r4", "w0")))
	must(t, dom0.SetPerms(c, "@releaseDomain", perms("n0", "r4")))
	dom0.Close()
	must(t, s.Close())
	state := filepath.Join(dir, StateFileName)
	must(t, s.Save(state))

	s2, err := Restore(Config{Rundir: dir}, state)
	must(t, err)
	defer s2.Close()
	d := client(t, s2, 0)
	if v, _ := d.ReadString(c, "/a/b"); v != "bin\x00ary" {
		t.Errorf("restored value %q", v)
	}
	if l, _ := d.Directory(c, "/a"); !slices.Equal(l, []string{"b", "c"}) {
		t.Errorf("restored children %v", l)
	}
	if ps, _ := d.GetPerms(c, "/a/c"); !slices.Equal(ps, perms("r4", "w0")) {
		t.Errorf("restored perms %v", ps)
	}
	// A special node's permissions cannot be read by a client (C answers
	// GET_PERMS on it with EINVAL): look inside.
	s2.st.Lock()
	sp := s2.st.special["@releaseDomain"]
	s2.st.Unlock()
	if !slices.Equal(sp, perms("n0", "r4")) {
		t.Errorf("restored special perms %v", sp)
	}
	if ok, _ := d.IsDomainIntroduced(c, 4); !ok {
		t.Error("domain not restored")
	}
	g, err := T.Dial(c, s2.DomainSocketPath(4))
	must(t, err)
	defer g.Close()
	if v, err := g.ReadString(c, "/a/c"); err != nil || v != "2" {
		t.Errorf("restored domain reads its node: %q %v", v, err)
	}

	// A damaged state file is refused.
	for _, bad := range []string{`{`, `{"version":2}`, `{"version":1,"nodes":[{"path":"/x","perms":["n0"]}]}`,
		`{"version":1,"nodes":[{"path":"/","perms":["q0"]}]}`,
		`{"version":1,"nodes":[{"path":"/","perms":["n0"]},{"path":"/a/b","perms":["n0"]}]}`} {
		p := filepath.Join(t.TempDir(), "bad")
		must(t, os.WriteFile(p, []byte(bad), 0o600))
		if _, err := Restore(Config{}, p); err == nil {
			t.Errorf("Restore accepted %s", bad)
		}
	}
}

func TestDirectoryPart(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	c := ctx(t)
	d := client(t, s, 0)
	var want []string
	for i := 0; i < 600; i++ {
		n := fmt.Sprintf("child-with-long-name-%04d", i)
		want = append(want, n)
		must(t, d.WriteString(c, "/big/"+n, ""))
	}
	r := newRaw(t, pipeConn(t, s, 0))
	r.wantErr(xswire.TypeDirectory, 0, nul("/big"), "E2BIG")
	got, err := d.Directory(c, "/big")
	must(t, err)
	if !slices.Equal(got, want) {
		t.Errorf("DIRECTORY_PART listing: %d entries, want %d", len(got), len(want))
	}
}

// Every domain id argument is read as C xenstored reads it, with atoi into
// an unsigned int (tools/xenstore/xenstored_domain.c, Xen 4.17): an empty
// or non-numeric id is domain 0, text after the digits is ignored, white
// space and a sign may lead, and the value keeps the low 32 bits of
// strtol's (saturated) result. The real daemon cannot be run here to
// compare (Debian's xenstored exits without a hypervisor, and with
// --no-domain-init crashes on the first request of a socket client), so
// the expected answers are atoi's, worked out by hand.
func TestDomidArgsReadAsAtoi(t *testing.T) {
	goroutineLeakCheck(t)
	s := newTestServer(t, Config{})
	r := newRaw(t, pipeConn(t, s, 0))
	for _, c := range []struct{ arg, path string }{
		{"", "/local/domain/0"},
		{"abc", "/local/domain/0"},
		{"12abc", "/local/domain/12"},
		{" 7", "/local/domain/7"},
		{"\t\n8", "/local/domain/8"},
		{"+5", "/local/domain/5"},
		{"-1", "/local/domain/4294967295"},
		{"- 1", "/local/domain/0"},
		{"0x10", "/local/domain/0"},
		{"99999999999", "/local/domain/1215752191"},          // 0x174876E7FF: low 32 bits
		{"99999999999999999999", "/local/domain/4294967295"}, // LONG_MAX, as int: -1
		{"-99999999999999999999", "/local/domain/0"},         // LONG_MIN, as int: 0
		{"4294967297", "/local/domain/1"},
	} {
		if got := r.wantOK(xswire.TypeGetDomainPath, 0, nul(c.arg)); got != nul(c.path) {
			t.Errorf("GET_DOMAIN_PATH %q = %q, want %q", c.arg, got, nul(c.path))
		}
	}

	// INTRODUCE: domain id and port by atoi, the frame number by strtoull.
	r.wantOK(xswire.TypeIntroduce, 0, nul("6junk", "x", "7abc"))
	if d := s.Domains(); len(d) != 1 || d[0].ID != 6 || d[0].GFN != 0 || d[0].Evtchn != 7 {
		t.Errorf("INTRODUCE 6junk x 7abc: domains %+v", d)
	}
	r.wantErr(xswire.TypeIntroduce, 0, nul("", "0", "1"), "EINVAL")  // domain 0
	r.wantErr(xswire.TypeIntroduce, 0, nul("9", "0", "x"), "EINVAL") // port 0
	for _, c := range []struct{ arg, want string }{
		{"6", "T"}, {" 6xyz", "T"}, {"", "T"}, {"abc", "T"}, {"32752", "T"}, {"7", "F"}, {"-1", "F"},
	} {
		if got := r.wantOK(xswire.TypeIsDomainIntroduced, 0, nul(c.arg)); got != nul(c.want) {
			t.Errorf("IS_DOMAIN_INTRODUCED %q = %q, want %s", c.arg, got, c.want)
		}
	}
	r.wantOK(xswire.TypeResume, 0, nul("6."))
	r.wantErr(xswire.TypeResume, 0, nul("x"), "EINVAL") // domain 0
	r.wantOK(xswire.TypeIntroduce, 0, nul("8", "0", "1"))
	r.wantOK(xswire.TypeSetTarget, 0, nul("6a", "+8"))
	r.wantErr(xswire.TypeSetTarget, 0, nul("6", "9"), "ENOENT")
	r.wantErr(xswire.TypeRelease, 0, nul(""), "EINVAL") // domain 0
	r.wantOK(xswire.TypeRelease, 0, nul("8 "))
	r.wantOK(xswire.TypeRelease, 0, nul("06"))
	if d := s.Domains(); len(d) != 0 {
		t.Errorf("after RELEASE: %+v", d)
	}

	// DIRECTORY_PART's offset too: "-1" is far past the end.
	must(t, client(t, s, 0).WriteString(ctx(t), "/dp/a", ""))
	_, p := r.call(xswire.TypeDirectoryPart, 0, nul("/dp", "-1"))
	if _, rest, _ := strings.Cut(p, "\x00"); rest != "\x00" {
		t.Errorf("DIRECTORY_PART offset -1 = %q, want an empty list", p)
	}
	_, p = r.call(xswire.TypeDirectoryPart, 0, nul("/dp", ""))
	if _, rest, _ := strings.Cut(p, "\x00"); rest != "a\x00\x00" {
		t.Errorf("DIRECTORY_PART offset \"\" = %q, want the whole list", p)
	}
}

// The hot paths allocate nothing per request.
func TestNoAllocs(t *testing.T) {
	s := newTestServer(t, Config{})
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := newConn(s, a, 0, nil)
	c.out.closed = true // replies are dropped: measure handling only
	must(t, s.Introduce(5, 0, 1))
	c.s.st.Lock()
	c.s.st.Unlock()
	write := func(p string) {
		c.handle(xswire.Header{Type: xswire.TypeWrite, ReqID: 1, Len: uint32(len(p))}, []byte(p))
	}
	write("/local/domain/0/x\x00value1")
	read := []byte(nul("x"))
	wr := []byte("/local/domain/0/x\x00value2")
	if n := testing.AllocsPerRun(1000, func() {
		c.handle(xswire.Header{Type: xswire.TypeRead, ReqID: 2, Len: uint32(len(read))}, read)
	}); n != 0 {
		t.Errorf("READ allocates %v per request", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		c.handle(xswire.Header{Type: xswire.TypeWrite, ReqID: 3, Len: uint32(len(wr))}, wr)
	}); n != 0 {
		t.Errorf("WRITE of an existing node allocates %v per request", n)
	}
	dir := []byte(nul("/local/domain"))
	if n := testing.AllocsPerRun(1000, func() {
		c.handle(xswire.Header{Type: xswire.TypeDirectory, ReqID: 4, Len: uint32(len(dir))}, dir)
	}); n != 0 {
		t.Errorf("DIRECTORY allocates %v per request", n)
	}
}

var _ = xswire.PayloadMax

// ps parses wire-form permissions.
func perms(ss ...string) []xswire.Perm {
	out, err := xswire.ParsePerms(ss)
	if err != nil {
		panic(err)
	}
	return out
}

// One unprivileged guest cannot grow the log at will: the lines its
// connections cause (refused past the connection limit, closed for an
// over-long message) are limited per domain, and what was held back is
// summarised with its count when the daemon stops. Another domain's lines
// and domain 0's are not held back.
func TestGuestCannotFloodTheLog(t *testing.T) {
	goroutineLeakCheck(t)
	var mu sync.Mutex
	var lines []string
	logf := func(format string, args ...any) {
		mu.Lock()
		lines = append(lines, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	s, err := New(Config{Rundir: t.TempDir(), MaxDomainConns: 1, Logf: logf})
	must(t, err)
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	must(t, s.Introduce(5, 0, 1))
	must(t, s.Introduce(6, 0, 1))
	hold, err := net.Dial("unix", s.DomainSocketPath(5)) // the one it may have
	must(t, err)
	defer hold.Close()
	newRaw(t, hold).wantOK(xswire.TypeGetDomainPath, 0, nul("5"))

	start := time.Now()
	const refused, tooLong = 300, 100
	for i := 0; i < refused; i++ {
		nc, err := net.Dial("unix", s.DomainSocketPath(5))
		must(t, err)
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Read(make([]byte, 1)); err == nil {
			t.Fatal("a connection past the limit was served")
		}
		nc.Close()
	}
	hold.Close()
	waitConnsDropTo(t, s, 0, "domain 5's connection")
	for i := 0; i < tooLong; i++ {
		nc, err := net.Dial("unix", s.DomainSocketPath(5))
		must(t, err)
		nc.Write(xswire.AppendHeader(nil, xswire.Header{Type: xswire.TypeWrite, Len: 5000}))
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Read(make([]byte, 1)); err == nil {
			t.Fatal("an over-long message was answered")
		}
		nc.Close()
		waitConnsDropTo(t, s, 0, "the over-long message's connection")
	}
	elapsed := time.Since(start)
	// Domain 6 and domain 0 are heard.
	nc, err := net.Dial("unix", s.DomainSocketPath(6))
	must(t, err)
	nc.Write(xswire.AppendHeader(nil, xswire.Header{Type: xswire.TypeWrite, Len: 5000}))
	nc.Read(make([]byte, 1))
	nc.Close()
	waitConnsDropTo(t, s, 0, "domain 6's connection")
	must(t, s.Close())
	closed = true

	mu.Lock()
	defer mu.Unlock()
	logged, held := 0, 0
	heard6 := false
	for _, l := range lines {
		switch {
		case strings.Contains(l, "domain 6 sent a message longer"):
			heard6 = true
		case !strings.Contains(l, "domain 5 ") || !strings.Contains(l, "connection refused") && !strings.Contains(l, "longer than"):
		case strings.Contains(l, " times)"):
			var n int
			if i := strings.LastIndex(l, "(repeated "); i < 0 {
				t.Errorf("odd summary %q", l)
			} else if _, err := fmt.Sscanf(l[i:], "(repeated %d times)", &n); err != nil {
				t.Errorf("summary %q: %v", l, err)
			}
			held += n
		default:
			logged++
		}
	}
	// The burst, plus one line per second of the test.
	if max := hostlog.DefaultBurst + 1 + int(elapsed/hostlog.DefaultInterval); logged > max {
		t.Errorf("domain 5 got %d lines into the log (at most %d allowed)", logged, max)
	}
	if logged+held != refused+tooLong {
		t.Errorf("%d lines logged and %d summarised, want %d in all", logged, held, refused+tooLong)
	}
	if !heard6 {
		t.Error("domain 6's line was held back too")
	}
}
