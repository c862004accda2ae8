package host

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/internal/hostlog"
	"github.com/xfeat/xfeat/xsclient"
)

// One unprivileged guest of a detached host hammering its XenStore socket
// (thousands of connections past the per-domain limit: one log line each)
// grows RUNDIR/host.log by a bounded amount, not by a line per
// connection; the host reports how many lines it held back when it stops.
func TestDetachedHostLogBounded(t *testing.T) {
	bin := xfeatBinary(t)
	dir, err := os.MkdirTemp("", "xfl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	stop := func() { exec.Command(bin, "host", "stop", "--rundir", dir).Run() }
	defer stop()
	if out, err := exec.Command(bin, "host", "start", "--rundir", dir).CombinedOutput(); err != nil {
		t.Fatalf("host start: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	xs, err := xsclient.Dial(ctx, filepath.Join(dir, "socket"))
	if err != nil {
		t.Fatal(err)
	}
	defer xs.Close()
	if err := xs.Introduce(ctx, 5, 0, 1); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "domains", "5", "socket")
	logPath := filepath.Join(dir, "host.log")
	size := func() int64 {
		st, err := os.Stat(logPath)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	// The guest takes every connection it may have, then asks for more.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	refused := 0
	for deadline := time.Now().Add(30 * time.Second); refused == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the domain socket never refused a connection")
		}
		c, err := net.Dial("unix", sock)
		if err != nil {
			time.Sleep(10 * time.Millisecond) // not introduced yet
			continue
		}
		// Served connections answer; a refused one is closed at once.
		if _, err := xsclient.NewClient(c).GetDomainPath(ctx, 5); err != nil {
			refused++
			continue
		}
		held = append(held, c)
	}
	before := size()
	const flood = 3000
	for range flood {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("a connection past the limit was served")
		}
		c.Close()
		refused++
	}
	// A refused connection's line is some 80 bytes: unlimited, the flood
	// would add over 200 KiB; the limit lets DefaultBurst lines through,
	// then one a second.
	grown := size() - before
	if grown > 32<<10 {
		t.Errorf("%d refused connections grew host.log by %d bytes", flood, grown)
	}
	stop()
	log, _ := os.ReadFile(logPath)
	if !strings.Contains(string(log), "host: stopped") {
		t.Errorf("host.log does not show a clean stop")
	}
	var logged, summarised int
	for _, l := range strings.Split(string(log), "\n") {
		if !strings.Contains(l, "domain 5 already has ") {
			continue
		}
		if i := strings.LastIndex(l, " (repeated "); i >= 0 {
			var n int
			fmt.Sscanf(l[i:], " (repeated %d times)", &n)
			summarised += n
		} else {
			logged++
		}
	}
	if logged+summarised != refused || logged > hostlog.DefaultBurst+60 {
		t.Errorf("%d connections refused: %d lines logged, %d summarised", refused, logged, summarised)
	}
}
