//go:build xenhost

package xenhost_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestManPagesIgnoreTheClock: the man page generator, run in dom0 with the
// wall clock set to two dates months apart (a machine of our own, so its
// clock is ours to set), writes pages identical to each other and to the
// committed man/ (cobra/doc stamps a page with the current month when it
// is given no date; xfeat gives it one from the source).
func TestManPagesIgnoreTheClock(t *testing.T) {
	bin := filepath.Join(vm.Dir(), "bin", "genman")
	build := exec.Command("go", "build", "-o", bin, "./cmd/xfeat/internal/genman")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build genman: %v\n%s", err, out)
	}
	r := scenario(t, "man-clock", `
now=$(date +%s)
for d in 2027-03-15 2031-11-02; do
	date -s "$d 12:00:00" >/dev/null || exit 1
	echo "clock $(date -u +%F)"
	env -u SOURCE_DATE_EPOCH /xenhost/bin/genman "$XH_OUT/$d" || exit 1
done
date -s "@$now" >/dev/null
`, nil, 5*time.Minute)
	for _, d := range []string{"2027-03-15", "2031-11-02"} {
		if !strings.Contains(r.Stdout, "clock "+d) {
			t.Fatalf("dom0's clock was not set to %s:\n%s", d, r.Report())
		}
		gen := filepath.Join(r.Dir, "out", d)
		names, _ := filepath.Glob(filepath.Join(repoRoot, "man", "xfeat*.1"))
		if len(names) == 0 {
			t.Fatal("no committed man pages")
		}
		for _, p := range names {
			want, _ := os.ReadFile(p)
			got, err := os.ReadFile(filepath.Join(gen, filepath.Base(p)))
			if err != nil || string(got) != string(want) {
				t.Errorf("clock at %s: %s differs from the committed page (%v)", d, filepath.Base(p), err)
			}
		}
	}
}
