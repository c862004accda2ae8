package xenhost

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// InstallTest builds the test binary of package pkg (a path relative to the
// module root, e.g. ./backends/xendev) with the build tags given into the
// share as bin/NAME.test, where a scenario runs it in dom0 with
// `xh_gotest NAME [flags]` (dom0/lib.sh). It returns the binary's path on
// this machine (which can list the tests: -test.list). The share is read
// live over 9p, so a rebuilt binary is seen at once.
func InstallTest(dir, pkg, name string, tags ...string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "bin", name+".test")
	args := []string{"test", "-c", "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(append(args, pkg), " "), err, b)
	}
	if _, err := os.Stat(out); err != nil {
		// go test -c writes nothing for a package without tests.
		return "", fmt.Errorf("go test -c %s: no test binary (no tests with tags %v?)", pkg, tags)
	}
	return out, nil
}

// moduleRoot is the root of this source tree (three levels above this
// package).
func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the harness sources")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("module root %s: %w", root, err)
	}
	return root, nil
}
