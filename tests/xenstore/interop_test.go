// Package xenstore_test runs Debian's real XenStore clients (xenstore-utils,
// linked with libxenstore 4.17, and Xen's test-xenstore) against the
// embedded xenstored through XENSTORED_PATH, and compares what they print
// with what they print against C xenstored.
package xenstore_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/internal/testutil"
	"github.com/xfeat/xfeat/xenstored"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

const testXenstore = "/usr/lib/xen-4.17/bin/test-xenstore"

// needTool returns the path of a XenStore client (see testutil.NeedTool).
func needTool(t *testing.T, name string) string {
	t.Helper()
	pkg := "xenstore-utils"
	if name == testXenstore {
		pkg = "xen-utils-4.17"
	}
	return testutil.NeedTool(t, name, pkg)
}

// startDaemon runs the daemon in-process on a socket in a temporary rundir.
func startDaemon(t *testing.T) *xenstored.Server {
	t.Helper()
	s, err := xenstored.New(xenstored.Config{Rundir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(context.Background()); close(done) }()
	t.Cleanup(func() { s.Close(); <-done })
	return s
}

type result struct {
	out, err string
	code     int
}

// run runs a tool against the socket and returns stdout, stderr, exit code.
func run(t *testing.T, sock string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, needTool(t, name), args...)
	cmd.Env = append(os.Environ(), "XENSTORED_PATH="+sock)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return result{out.String(), errb.String(), code}
}

func want(t *testing.T, r result, out string, code int) {
	t.Helper()
	if r.out != out || r.code != code {
		t.Errorf("got exit %d, stdout:\n%s\nstderr: %s\nwant exit %d, stdout:\n%s", r.code, r.out, r.err, code, out)
	}
}

func TestXenstoreUtils(t *testing.T) {
	s := startDaemon(t)
	sock := s.SocketPath()

	want(t, run(t, sock, "xenstore-write", "/vm/a", "1", "/vm/b", "two words", "/vm/c/d", ""), "", 0)
	want(t, run(t, sock, "xenstore-write", "/vm/e", "tab\there"), "", 0)
	want(t, run(t, sock, "xenstore-read", "/vm/a", "/vm/b"), "1\ntwo words\n", 0)
	want(t, run(t, sock, "xenstore-read", "-p", "/vm/a"), "/vm/a: 1\n", 0)
	want(t, run(t, sock, "xenstore-read", "/vm/e"), "tab\\there\n", 0)
	r := run(t, sock, "xenstore-read", "/vm/nope")
	want(t, r, "", 1)
	if !strings.Contains(r.err, "couldn't read path /vm/nope") {
		t.Errorf("xenstore-read stderr %q", r.err)
	}

	want(t, run(t, sock, "xenstore-ls", "/vm"), `a = "1"
b = "two words"
c = ""
 d = ""
e = "tab\there"
`, 0)
	want(t, run(t, sock, "xenstore-ls", "-f", "/vm"), `/vm/a = "1"
/vm/b = "two words"
/vm/c = ""
/vm/c/d = ""
/vm/e = "tab\there"
`, 0)
	want(t, run(t, sock, "xenstore-list", "/vm"), "a\nb\nc\ne\n", 0)
	want(t, run(t, sock, "xenstore-list", "-p", "/vm"), "/vm/a\n/vm/b\n/vm/c\n/vm/e\n", 0)
	want(t, run(t, sock, "xenstore-exists", "/vm/a"), "", 0)
	want(t, run(t, sock, "xenstore-exists", "/vm/zz"), "", 1)

	want(t, run(t, sock, "xenstore-chmod", "/vm/c", "n0", "r5"), "", 0)
	want(t, run(t, sock, "xenstore-chmod", "-r", "/vm/b", "w3"), "", 0)
	want(t, run(t, sock, "xenstore-ls", "-fp", "/vm"), `/vm/a = "1"   (n0)
/vm/b = "two words"   (w3)
/vm/c = ""   (n0,r5)
/vm/c/d = ""   (n0)
/vm/e = "tab\there"   (n0)
`, 0)
	want(t, run(t, sock, "xenstore-chmod", "-r", "/vm/c", "b7"), "", 0)
	want(t, run(t, sock, "xenstore-ls", "-fp", "/vm/c"), `/vm/c/d = ""   (b7)
`, 0)

	want(t, run(t, sock, "xenstore-rm", "/vm/c/d"), "", 0)
	want(t, run(t, sock, "xenstore-rm", "/vm/nope"), "", 0) // absent, parent present
	r = run(t, sock, "xenstore-rm", "/nope/nope")
	want(t, r, "", 1)
	want(t, run(t, sock, "xenstore-write", "/t/x/y/z", "1", "/t/keep", "k"), "", 0)
	want(t, run(t, sock, "xenstore-rm", "-t", "/t/x/y/z"), "", 0) // removes empty parents too
	want(t, run(t, sock, "xenstore-ls", "-f", "/t"), "/t/keep = \"k\"\n", 0)
	r = run(t, sock, "xenstore-ls", "/t/x")
	if r.code != 1 || !strings.Contains(r.err, "No such file or directory") {
		t.Errorf("xenstore-ls of removed dir: %+v", r)
	}
	// A value over 4096 bytes is refused; one of 3000 round-trips.
	want(t, run(t, sock, "xenstore-write", "/big", strings.Repeat("a", 5000)), "", 1)
	want(t, run(t, sock, "xenstore-write", "/big", strings.Repeat("a", 3000)), "", 0)
	want(t, run(t, sock, "xenstore-read", "/big"), strings.Repeat("a", 3000)+"\n", 0)

	// A directory too big for one reply: libxenstore falls back to
	// DIRECTORY_PART.
	c, err := xsclient.Dial(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var names strings.Builder
	for i := 0; i < 300; i++ {
		n := "entry-with-a-long-name-" + strings.Repeat("x", 3) + "-" + itoa(i)
		if err := c.Mkdir(context.Background(), "/many/"+n); err != nil {
			t.Fatal(err)
		}
		names.WriteString(n + "\n")
	}
	want(t, run(t, sock, "xenstore-list", "/many"), names.String(), 0)

	// The initial tree, as C xenstored makes it.
	r = run(t, sock, "xenstore-ls", "-p", "/tool")
	want(t, r, "xenstored = \"\" . . . . . . . . . . . . . . . . . . . . . . .  (n0)\n", 0)
}

func itoa(i int) string {
	if i < 10 {
		return "00" + string(rune('0'+i))
	}
	if i < 100 {
		return "0" + itoaPlain(i)
	}
	return itoaPlain(i)
}

func itoaPlain(i int) string {
	var b []byte
	for i > 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	return string(b)
}

func TestXenstoreWatch(t *testing.T) {
	s := startDaemon(t)
	sock := s.SocketPath()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, needTool(t, "xenstore-watch"), "-n", "3", "/w")
	cmd.Env = append(os.Environ(), "XENSTORED_PATH="+sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := xsclient.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// The first line is the event sent when the watch is set.
	if l := <-lines; l != "/w" {
		t.Fatalf("first xenstore-watch line %q", l)
	}
	for _, step := range []func() error{
		func() error { return c.WriteString(ctx, "/w/a", "1") },
		func() error { return c.WriteString(ctx, "/elsewhere", "1") },
		func() error { return c.Rm(ctx, "/w") },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("xenstore-watch: %v", err)
	}
	var got []string
	for l := range lines {
		got = append(got, l)
	}
	if strings.Join(got, "\n") != "/w/a\n/w" {
		t.Errorf("xenstore-watch printed %q", got)
	}
}

// As a guest, through its domain socket: permission checks as for a ring.
func TestGuestThroughDomainSocket(t *testing.T) {
	s := startDaemon(t)
	sock := s.SocketPath()
	ctx := context.Background()
	dom0, err := xsclient.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer dom0.Close()
	if err := dom0.Introduce(ctx, 5, 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := dom0.Introduce(ctx, 6, 0, 1); err != nil {
		t.Fatal(err)
	}
	guest := s.DomainSocketPath(5)
	if _, err := os.Stat(guest); err != nil {
		t.Fatal(err)
	}
	want(t, run(t, sock, "xenstore-write", "/secret/key", "s3cret", "/local/domain/6/x", "6", "/pub/y", "p"), "", 0)
	want(t, run(t, sock, "xenstore-chmod", "-r", "/pub", "r0"), "", 0)
	want(t, run(t, sock, "xenstore-chmod", "/local/domain/6/x", "n6"), "", 0)

	// n0: the guest cannot read it, and learns it is denied, nothing more.
	r := run(t, guest, "xenstore-read", "/secret/key")
	want(t, r, "", 1)
	if !strings.Contains(r.err, "couldn't read path /secret/key") {
		t.Errorf("guest xenstore-read stderr %q", r.err)
	}
	// xenstore-read does not print the errno; the reply it got is EACCES.
	g, err := xsclient.Dial(ctx, guest)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.Read(ctx, "/secret/key"); !errors.Is(err, xswire.ErrPermission) {
		t.Errorf("guest READ of an n0 node: %v, want EACCES", err)
	}
	r = run(t, guest, "xenstore-ls", "/secret")
	if r.code != 1 || !strings.Contains(r.err, "Permission denied") {
		t.Errorf("guest xenstore-ls of n0 node: %+v", r)
	}
	want(t, run(t, guest, "xenstore-read", "/pub/y"), "p\n", 0)
	// Its own home, relative paths.
	want(t, run(t, guest, "xenstore-write", "data/v", "mine"), "", 0)
	want(t, run(t, sock, "xenstore-ls", "-fp", "/local/domain/5"), `/local/domain/5/data = ""   (n5)
/local/domain/5/data/v = "mine"   (n5)
`, 0)
	// Another domain's node: no write, no create, no remove.
	want(t, run(t, guest, "xenstore-write", "/local/domain/6/x", "evil"), "", 1)
	want(t, run(t, guest, "xenstore-write", "/local/domain/6/new", "evil"), "", 1)
	want(t, run(t, guest, "xenstore-rm", "/local/domain/6/x"), "", 1)
	want(t, run(t, guest, "xenstore-chmod", "/local/domain/6/x", "b5"), "", 1)
	want(t, run(t, sock, "xenstore-ls", "-fp", "/local/domain/6"), `/local/domain/6/x = "6"   (n6)
`, 0)

	// Watch events respect read permission (XSA-115): the guest watching
	// "/" sees /pub/y change and its own node, never /secret.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(wctx, needTool(t, "xenstore-watch"), "-n", "3", "/")
	cmd.Env = append(os.Environ(), "XENSTORED_PATH="+guest)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var got []string
	if sc.Scan() { // the event sent when the watch is set
		got = append(got, sc.Text())
	}
	for _, kv := range [][2]string{{"/secret/key", "changed"}, {"/pub/y", "q"}, {"/local/domain/5/data/v", "x"}} {
		if err := dom0.WriteString(ctx, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("guest xenstore-watch: %v", err)
	}
	if strings.Join(got, "\n") != "/\n/pub/y\n/local/domain/5/data/v" {
		t.Errorf("guest watch printed %q", got)
	}

	// Release removes the guest's socket.
	if err := dom0.Release(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(guest); !os.IsNotExist(err) {
		t.Errorf("guest socket after release: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(guest)); !os.IsNotExist(err) {
		t.Errorf("guest socket dir after release: %v", err)
	}
}

// Xen's own XenStore test suite, through libxenstore.
func TestXenTestXenstore(t *testing.T) {
	s := startDaemon(t)
	sock := s.SocketPath()
	needTool(t, testXenstore)
	r := run(t, sock, testXenstore)
	if r.code != 0 {
		t.Fatalf("test-xenstore failed (exit %d):\n%s%s", r.code, r.out, r.err)
	}
	for _, name := range []string{"read 1", "read 2000", "write 1", "write 2000", "dir", "rm node", "rm dir",
		"ta empty", "ta empty x", "ta rmw", "ta rmw x", "ta err"} {
		if !strings.Contains(r.out, name) {
			t.Errorf("test %q did not run:\n%s", name, r.out)
		}
	}
	if strings.Contains(r.out, "failed") {
		t.Errorf("test-xenstore:\n%s", r.out)
	}
	// The same as an unprivileged guest through its domain socket: relative
	// paths below its home, its quotas, its transactions.
	c, err := xsclient.Dial(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Introduce(context.Background(), 5, 0, 1); err != nil {
		t.Fatal(err)
	}
	if r := run(t, s.DomainSocketPath(5), testXenstore); r.code != 0 || strings.Contains(r.out, "failed") {
		t.Fatalf("test-xenstore as domain 5 failed (exit %d):\n%s%s", r.code, r.out, r.err)
	}
	// Random mode: 30 s in CI, shorter locally.
	secs := "5"
	if os.Getenv("CI") == "true" {
		secs = "30"
	}
	r = run(t, sock, testXenstore, "--random", secs)
	if r.code != 0 {
		t.Fatalf("test-xenstore --random %s failed (exit %d):\n%s%s", secs, r.code, r.out, r.err)
	}
	if strings.Contains(r.out, "failed") || strings.Contains(r.out, "Exhaustive") {
		t.Errorf("test-xenstore --random:\n%s", r.out)
	}
}
