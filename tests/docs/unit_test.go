package docs

import (
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
}
