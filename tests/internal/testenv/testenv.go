// Package testenv is the scaffolding shared by the end-to-end test packages
// under tests/ (blk, e2e, net): building the xfeat binary once per package,
// running it, starting a sandbox host in a temporary rundir with a dom0
// XenStore client, creating a domain's plan from xl.cfg text, writing cfg
// files and dumping the tree. Helpers that need none of xfeat (disk images,
// line diffs) are in internal/testutil.
//
// It holds no assertions of its own beyond failing the test when the
// scaffolding itself fails: what a test checks stays in the test. Every
// resource a helper makes (temporary directories, the host, the client) is
// released by a t.Cleanup the helper registers, in reverse order of
// creation.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/blkback"
	"github.com/xfeat/xfeat/backends/netback"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/sandbox"
	"github.com/xfeat/xfeat/toolstack"
	"github.com/xfeat/xfeat/xsclient"
)

// MainWithXfeat is a TestMain body: it builds cmd/xfeat into a new
// temporary directory (named from prefix, readable by every user so that
// tests may run the binary with fewer privileges), stores its path in *bin,
// runs the tests and exits with their status after removing the directory.
// A failed build exits 1 before any test runs.
func MainWithXfeat(m *testing.M, prefix string, bin *string) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755)
	*bin = filepath.Join(dir, "xfeat")
	build := exec.Command("go", "build", "-o", *bin, "github.com/xfeat/xfeat/cmd/xfeat")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building xfeat:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Result is what a run of the xfeat binary printed and its exit status.
type Result struct {
	Out, Err string
	Code     int
}

// RunXfeat runs the binary bin with args, NO_COLOR=1 and env added to this
// process's environment, for at most a minute. A binary that cannot be
// started (or is killed by the time limit without an exit status) fails the
// test; a non-zero exit is the caller's to check.
func RunXfeat(t testing.TB, bin string, env []string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
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
	return Result{out.String(), errb.String(), code}
}

// HostConfig is a sandbox configuration with the backends' default limits;
// StartHost fills in its rundir.
func HostConfig() sandbox.Config {
	return sandbox.Config{Netback: netback.DefaultLimits(), Blkback: blkback.DefaultLimits()}
}

// Host is a sandbox host running in the test process, with a dom0 client
// on its socket (the toolstack's view).
type Host struct {
	*sandbox.Host
	XS  *xsclient.Client
	Dir string // the rundir

	stop func()
}

// StartHost runs a sandbox host with cfg in a new temporary rundir named
// from prefix (short: unix socket paths are limited), waits up to 10s for
// it to answer and dials it. The host stops, and its run error other than
// cancellation fails the test, when the test ends or at Stop.
func StartHost(t testing.TB, prefix string, cfg sandbox.Config) *Host {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg.Rundir = dir
	h, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("host: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	if !WaitAnswers(ctx, h.Socket(), 10*time.Second) {
		t.Fatal("the sandbox host never answered")
	}
	xs, err := xsclient.Dial(ctx, h.Socket())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { xs.Close() })
	return &Host{Host: h, XS: xs, Dir: dir, stop: stop}
}

// Stop stops the host and waits for it to end; the test's cleanup does the
// same, and only the first call does anything.
func (h *Host) Stop() { h.stop() }

// WaitAnswers polls the XenStore socket sock until a daemon answers on it
// (true) or limit passes (false).
func WaitAnswers(ctx context.Context, sock string, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for !sandbox.Answers(ctx, sock) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// Plan parses xl.cfg text src (named filename in diagnostics), checks it
// and plans it against the schemas xs advertises, as `xfeat create` does
// before it writes anything. Any error fails the test.
func Plan(t testing.TB, xs *xsclient.Client, filename, src string) *toolstack.Plan {
	t.Helper()
	f, diags := parser.Parse(filename, []byte(src), parser.Options{})
	if diags.HasErrors() {
		t.Fatalf("parse %s: %v", filename, diags)
	}
	cfg, diags := devspec.CheckFile(f)
	if diags.HasErrors() {
		t.Fatalf("check %s: %v", filename, diags)
	}
	plan, diags, err := toolstack.NewPlan(context.Background(), xs, f, cfg)
	if err != nil || plan == nil {
		t.Fatalf("plan %s: %v %v", filename, err, diags)
	}
	return plan
}

// WriteCfg writes src to a file called name in a temporary directory and
// returns its path.
func WriteCfg(t testing.TB, name, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Dump is the whole XenStore tree with values and permissions, as
// toolstack.DumpTree prints it.
func Dump(t testing.TB, xs *xsclient.Client) string {
	t.Helper()
	s, err := toolstack.DumpTree(context.Background(), xs, "/")
	if err != nil {
		t.Fatal(err)
	}
	return s
}
