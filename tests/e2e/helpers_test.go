// Package e2e runs the xfeat binary — create, show, list, destroy, features
// — against a real sandbox host (embedded xenstored, netback, blkback and
// the guests' reference frontends), and checks what the guest may do with
// Debian's own XenStore clients (xenstore-read, xenstore-write).
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/blkback"
	"github.com/xfeat/xfeat/backends/netback"
	"github.com/xfeat/xfeat/sandbox"
	"github.com/xfeat/xfeat/toolstack"
	"github.com/xfeat/xfeat/xsclient"
)

// xfeatBin is the binary under test, built once by TestMain.
var xfeatBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "xfeat-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755)
	xfeatBin = filepath.Join(dir, "xfeat")
	build := exec.Command("go", "build", "-o", xfeatBin, "github.com/xfeat/xfeat/cmd/xfeat")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building xfeat:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// host is a sandbox host running in the test process.
type host struct {
	*sandbox.Host
	xs  *xsclient.Client
	dir string
}

func startHost(t testing.TB, mod func(*sandbox.Config)) *host {
	t.Helper()
	dir, err := os.MkdirTemp("", "xfe2e") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := sandbox.Config{Rundir: dir, Netback: netback.DefaultLimits(), Blkback: blkback.DefaultLimits()}
	if mod != nil {
		mod(&cfg)
	}
	h, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("host: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !sandbox.Answers(ctx, h.Socket()) {
		if time.Now().After(deadline) {
			t.Fatal("the sandbox host never answered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	xs, err := xsclient.Dial(ctx, h.Socket())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { xs.Close() })
	return &host{Host: h, xs: xs, dir: dir}
}

type result struct {
	out, err string
	code     int
}

// xfeat runs the binary with --xenstore pointing at h (when the command
// takes it) and returns what it printed and its exit status.
func (h *host) xfeat(t testing.TB, args ...string) result {
	t.Helper()
	return runXfeat(t, nil, append(args, "--xenstore", h.Socket())...)
}

func runXfeat(t testing.TB, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, xfeatBin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running xfeat %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

// dump is the whole tree with values and permissions.
func (h *host) dump(t testing.TB) string {
	t.Helper()
	s, err := toolstack.DumpTree(context.Background(), h.xs, "/")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// images makes n raw disk images of size bytes in a temporary directory.
func images(t testing.TB, n int, size int64) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("disk%d.img", i))
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		f.Close()
		paths = append(paths, p)
	}
	return paths
}

// writeCfg writes an xl.cfg file and returns its path.
func writeCfg(t testing.TB, name, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// guestCfg is examples/guest.cfg with its disk images at imgs.
func guestCfg(t testing.TB, imgs []string) string {
	t.Helper()
	src, err := os.ReadFile("../../examples/guest.cfg")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(src), "/tmp/xfeat-demo/root.img", imgs[0])
	s = strings.ReplaceAll(s, "/tmp/xfeat-demo/data.img", imgs[1])
	return writeCfg(t, "guest.cfg", s)
}

func diffLines(a, b string) string {
	in, out := map[string]bool{}, map[string]bool{}
	for _, l := range strings.Split(a, "\n") {
		in[l] = true
	}
	for _, l := range strings.Split(b, "\n") {
		out[l] = true
	}
	var d []string
	for _, l := range strings.Split(a, "\n") {
		if !out[l] {
			d = append(d, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !in[l] {
			d = append(d, "+ "+l)
		}
	}
	return strings.Join(d, "\n")
}
