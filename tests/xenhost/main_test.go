//go:build xenhost

// Package xenhost_test runs xfeat on a real Xen host: Xen 4.17 with a Debian
// PV dom0 under QEMU (tests/internal/xenhost), C xenstored, xl, Linux
// netback/blkback in dom0 and Linux PV guests whose netfront/blkfront
// negotiate with them. The machine boots once for the whole package; each
// test runs scenarios (bash scripts) in dom0 and asserts on what they leave.
//
// Run with `make test-xen` (build tag xenhost). A failing scenario's report
// carries its dom0 output and the tail of the Xen/dom0 console.
package xenhost_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/tests/internal/xenhost"
)

var vm *xenhost.VM

// xfeatBin is the xfeat binary built for this run (dom0 runs the same, as
// $XFEAT).
var xfeatBin string

// repoRoot is the module root (two levels up from this package).
var repoRoot, _ = filepath.Abs(filepath.Join("..", ".."))

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	start := time.Now()
	dir, err := os.MkdirTemp("", "xenhost")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bin := filepath.Join(dir, "xfeat.build")
	xfeatBin = bin
	build := exec.Command("go", "build", "-o", bin, "./cmd/xfeat")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/xfeat: %v\n%s", err, out)
		return 1
	}
	if err := xenhost.InstallBinary(dir, bin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	vm, err = xenhost.Boot(ctx, xenhost.Config{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "xenhost: boot:", err)
		return 1
	}
	fmt.Printf("xenhost: dom0 ready after %v (share %s)\n", vm.BootTime.Round(100*time.Millisecond), dir)
	code := m.Run()
	if err := vm.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "xenhost:", err)
		code = 1
	}
	fmt.Printf("xenhost: stage took %v (boot %v)\n", time.Since(start).Round(time.Second), vm.BootTime.Round(100*time.Millisecond))
	if code == 0 && os.Getenv("XENHOST_KEEP") == "" {
		os.RemoveAll(dir)
	}
	return code
}

// scenario runs script in dom0 and fails t, with the scenario's output and
// the console tail, unless it exits 0.
func scenario(t *testing.T, name, script string, env map[string]string, timeout time.Duration) *xenhost.Result {
	t.Helper()
	r := try(t, name, script, env, timeout)
	if r.Exit != 0 {
		t.Fatalf("scenario failed:\n%s%s", r.Report(), vm.Tail(30))
	}
	return r
}

// try runs script in dom0 and returns its result whatever its exit status;
// only a scenario that could not be run fails t.
func try(t *testing.T, name, script string, env map[string]string, timeout time.Duration) *xenhost.Result {
	t.Helper()
	r, err := vm.Run(context.Background(), name, script, env, timeout)
	if err != nil {
		t.Fatalf("scenario %s: %v", name, err)
	}
	t.Logf("scenario %s: exit %d in %v", r.Name, r.Exit, r.Duration.Round(time.Millisecond))
	return r
}

// file returns a file the scenario left, failing t when it is missing.
func file(t *testing.T, r *xenhost.Result, name string) string {
	t.Helper()
	s, err := r.File(name)
	if err != nil {
		t.Fatalf("scenario %s left no %s: %v\n%s", r.Name, name, err, r.Report())
	}
	return s
}

// guestReport is what guest/init.sh printed: device ("vif/0", "vbd/51712",
// "guest") to key to value. prefix is XG (at boot) or XG2 (after xg.run).
func guestReport(log, prefix string) map[string]map[string]string {
	out := map[string]map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 4)
		if len(f) != 4 || f[0] != prefix {
			continue
		}
		if out[f[1]] == nil {
			out[f[1]] = map[string]string{}
		}
		out[f[1]][f[2]] = f[3]
	}
	return out
}

var xsLine = regexp.MustCompile(`^(/\S*) = "(.*)"(?:\s+\((.*)\))?$`)

// xenstoreTree parses `xenstore-ls -fp`: path to value (permissions dropped).
func xenstoreTree(dump string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(dump, "\n") {
		if m := xsLine.FindStringSubmatch(line); m != nil {
			out[m[1]] = m[2]
		}
	}
	return out
}
