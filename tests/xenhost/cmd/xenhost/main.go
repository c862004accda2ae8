// Command xenhost boots the real Xen host of the test suite by hand: a shell
// in dom0 (xenhost shell), or one scenario script run in dom0 with its output
// and files shown (xenhost run SCRIPT). See tests/xenhost/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/xfeat/xfeat/tests/internal/xenhost"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: xenhost [-dir DIR] [-xfeat BIN] shell | run SCRIPT...")
		flag.PrintDefaults()
	}
	dir := flag.String("dir", "", "share directory (dom0's /xenhost); default a new one under /tmp")
	bin := flag.String("xfeat", "bin/xfeat", "xfeat binary given to scenarios as $XFEAT")
	timeout := flag.Duration("timeout", 10*time.Minute, "bound on each scenario")
	flag.Parse()
	if flag.NArg() < 1 || (flag.Arg(0) != "shell" && flag.Arg(0) != "run") || (flag.Arg(0) == "run" && flag.NArg() < 2) {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*dir, *bin, *timeout, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "xenhost:", err)
		os.Exit(1)
	}
}

func run(dir, bin string, timeout time.Duration, args []string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "xenhost")
		if err != nil {
			return err
		}
		dir = d
	}
	fmt.Fprintf(os.Stderr, "xenhost: share %s\n", dir)
	if err := xenhost.InstallBinary(dir, bin); err != nil {
		return err
	}
	ctx := context.Background()
	if args[0] == "shell" {
		_, err := xenhost.Boot(ctx, xenhost.Config{Dir: dir, Shell: true, Console: os.Stdout})
		return err
	}
	vm, err := xenhost.Boot(ctx, xenhost.Config{Dir: dir})
	if err != nil {
		return err
	}
	defer vm.Close()
	fmt.Fprintf(os.Stderr, "xenhost: dom0 ready after %v\n", vm.BootTime.Round(time.Second))
	failed := false
	for _, script := range args[1:] {
		body, err := os.ReadFile(script)
		if err != nil {
			return err
		}
		r, err := vm.Run(ctx, filepath.Base(script), string(body), nil, timeout)
		if err != nil {
			return err
		}
		fmt.Print(r.Report())
		out, _ := exec.Command("ls", "-l", filepath.Join(r.Dir, "out")).Output()
		fmt.Printf("--- files in %s/out:\n%s", r.Dir, out)
		failed = failed || r.Exit != 0
	}
	if failed {
		return fmt.Errorf("a scenario failed")
	}
	return nil
}
