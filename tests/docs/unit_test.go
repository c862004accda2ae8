package docs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// unitFile is the systemd unit README.md and xfeat-backend-run(1) point to.
var unitFile = filepath.Join(top, "contrib", "systemd", "xfeat-backend.service")

// TestSystemdUnit: the unit of xfeat backend run is one systemd accepts
// (systemd-analyze verify, the binary path replaced by this run's xfeat),
// and its ExecStart is a command line xfeat accepts.
func TestSystemdUnit(t *testing.T) {
	src, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ExecStart=/usr/local/bin/xfeat (.*)$`).FindSubmatch(src)
	if m == nil {
		t.Fatalf("%s: no ExecStart=/usr/local/bin/xfeat ... (the path README.md says to install it to)", unitFile)
	}
	args := strings.Fields(string(m[1]))
	if len(args) < 2 || args[0] != "backend" || args[1] != "run" {
		t.Fatalf("%s: ExecStart runs xfeat %s, want xfeat backend run", unitFile, m[1])
	}
	// The flags given parse: --help after them exits 0 without starting.
	if out, err := exec.Command(xfeatBin, append(args, "--help")...).CombinedOutput(); err != nil {
		t.Errorf("xfeat %s --help: %v\n%s", m[1], err, out)
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze (package systemd: make deps): %v", err)
	}
	unit := filepath.Join(t.TempDir(), filepath.Base(unitFile))
	abs, err := filepath.Abs(xfeatBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(src), "/usr/local/bin/xfeat", abs)), 0o644); err != nil {
		t.Fatal(err)
	}
	// --man=no: the page is in man/, not installed where man(1) looks.
	if out, err := exec.Command(analyze, "verify", "--man=no", unit).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unitFile, err, out)
	}
	if !strings.Contains(string(src), "Documentation=man:xfeat-backend-run(1)") {
		t.Errorf("%s does not point to xfeat-backend-run(1)", unitFile)
	}
	// A start refused (the kernel's backends loaded) fails again at once:
	// the unit gives up after a few (StartLimit* in [Unit], where systemd
	// reads them), and README.md and the man page say after how many.
	unitSec := regexp.MustCompile(`(?s)\[Unit\]\n(.*?)(?:\n\[|$)`).FindSubmatch(src)
	burst := regexp.MustCompile(`(?m)^StartLimitBurst=(\d+)$`)
	interval := regexp.MustCompile(`(?m)^StartLimitIntervalSec=(\d+)$`)
	if unitSec == nil || burst.Find(unitSec[1]) == nil || interval.Find(unitSec[1]) == nil {
		t.Fatalf("%s: no StartLimitBurst= and StartLimitIntervalSec= (seconds) in [Unit]: a refused start would be retried forever", unitFile)
	}
	says := fmt.Sprintf("at most %s starts in %s s", burst.FindSubmatch(unitSec[1])[1], interval.FindSubmatch(unitSec[1])[1])
	for _, doc := range []string{filepath.Join(top, "README.md"), filepath.Join(top, "man", "xfeat-backend-run.1")} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(strings.Fields(string(b)), " "), says) {
			t.Errorf("%s does not say the unit gives up after %q", doc, says)
		}
	}
}
