//go:build xenhost

package xenhost_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/tests/internal/xenhost"
)

// TestXendevInDom0 runs backends/xendev's dom0 tests and benchmarks (build
// tag xenhost_dom0) in dom0: Go access to /dev/xen/gntdev, gntalloc and
// evtchn against Linux's drivers and Xen itself, dom0 being both ends.
// Every test the binary lists must pass (none skipped) and every benchmark
// must report. The figures are logged, with the same event-channel round
// trip through Xen's C libxenevtchn for reference: under TCG emulation,
// absolute times are far slower than on hardware.
func TestXendevInDom0(t *testing.T) {
	bin, err := xenhost.InstallTest(vm.Dir(), "./backends/xendev", "xendev", "xenhost_dom0")
	if err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(vm.Dir(), "bin", "evtchn_roundtrip")
	if out, err := exec.Command("gcc", "-O2", "-Wall", "-Werror", "-o", ref,
		filepath.Join(repoRoot, "backends/xendev/testdata/evtchn_roundtrip.c"), "-lxenevtchn", "-lpthread").CombinedOutput(); err != nil {
		t.Fatalf("gcc evtchn_roundtrip.c (libxen-dev: make deps): %v\n%s", err, out)
	}
	tests := list(t, bin, "-test.list", "^TestDom0")
	benches := list(t, bin, "-test.list", "^BenchmarkDom0")
	if len(tests) == 0 || len(benches) == 0 {
		t.Fatalf("the xenhost_dom0 build lists tests %v, benchmarks %v", tests, benches)
	}
	r := try(t, "xendev", `
xh_gotest xendev -test.run '^TestDom0' -test.bench '^BenchmarkDom0' -test.benchmem -test.benchtime 1s -test.timeout 8m || exit
"$XH_SHARE/bin/evtchn_roundtrip" 100`, nil, 10*time.Minute)
	out := r.Stdout
	if r.Exit != 0 {
		t.Fatalf("xendev tests failed in dom0:\n%s%s", r.Report(), vm.Tail(30))
	}
	for _, name := range tests {
		if !strings.Contains(out, "--- PASS: "+name+" ") {
			t.Errorf("%s did not pass in dom0", name)
		}
	}
	if strings.Contains(out, "--- SKIP") {
		t.Errorf("a dom0 test skipped")
	}
	figures := regexp.MustCompile(`(?m)^(BenchmarkDom0\S+)\s+\d+\s+.*ns/op.*$`).FindAllStringSubmatch(out, -1)
	for _, name := range benches {
		found := false
		for _, f := range figures {
			found = found || strings.HasPrefix(f[1], name+"/") || strings.HasPrefix(f[1], name+"-") || f[1] == name
		}
		if !found {
			t.Errorf("%s reported no figures", name)
		}
	}
	for _, f := range figures {
		t.Log(f[0])
	}
	if c := regexp.MustCompile(`(?m)^libxenevtchn round trip: .*$`).FindString(out); c != "" {
		t.Log("reference (C): " + c)
	} else {
		t.Error("the libxenevtchn reference printed no figure")
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, ".go:") && !strings.Contains(l, "--- ") {
			t.Log(strings.TrimSpace(l)) // what the dom0 tests logged
		}
	}
	if t.Failed() {
		t.Logf("dom0 output:\n%s", out)
	}
}

// list runs the test binary here (listing needs no Xen) and returns the
// names it prints.
func list(t *testing.T, bin string, args ...string) []string {
	t.Helper()
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	var names []string
	for _, l := range strings.Fields(string(out)) {
		if strings.HasPrefix(l, "Test") || strings.HasPrefix(l, "Benchmark") {
			names = append(names, l)
		}
	}
	return names
}
