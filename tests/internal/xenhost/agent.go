package xenhost

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Result is what one scenario left: its exit status, its output and the
// files it wrote to $XH_OUT.
type Result struct {
	Name     string
	Dir      string // the request directory on this machine
	Exit     int
	Stdout   string
	Stderr   string
	Duration time.Duration
}

// File returns a file the scenario wrote to $XH_OUT.
func (r *Result) File(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(r.Dir, "out", name))
	return string(b), err
}

// Report formats the scenario's output for a failure message.
func (r *Result) Report() string {
	return fmt.Sprintf("--- scenario %s: exit %d after %v\n--- stdout:\n%s\n--- stderr:\n%s\n",
		r.Name, r.Exit, r.Duration.Round(time.Millisecond), r.Stdout, r.Stderr)
}

// Run runs script (bash, with dom0/lib.sh sourced first) in dom0 as the
// request name, with env as its environment on top of the harness's
// (XFEAT, the binary InstallBinary put in the share; GUEST_KERNEL and
// GUEST_INITRD, for xh_guest_cfg; XH_OUT), and waits for it at most
// timeout. An error means the scenario could not be run or did not finish;
// a scenario that ran and failed is a Result with a non-zero Exit.
func (vm *VM) Run(ctx context.Context, name, script string, env map[string]string, timeout time.Duration) (*Result, error) {
	vm.mu.Lock()
	vm.seq++
	id := fmt.Sprintf("%03d-%s", vm.seq, sanitize(name))
	vm.mu.Unlock()
	dir := filepath.Join(vm.cfg.Dir, "req", id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	all := map[string]string{
		"XFEAT":        "/xenhost/bin/xfeat",
		"GUEST_KERNEL": vm.Kernel.Image,
		"GUEST_INITRD": "/xenhost/guest-initrd.gz",
	}
	for k, v := range env {
		all[k] = v
	}
	var envText strings.Builder
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&envText, "%s=%s\n", k, shellQuote(all[k]))
	}
	files := map[string]string{
		"script":  script,
		"env":     envText.String(),
		"timeout": strconv.Itoa(int(timeout.Seconds())) + "\n",
	}
	for f, body := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		return nil, err
	}
	// dom0 kills the scenario at timeout; allow it the agent's polling,
	// the kill and the rc write on top.
	deadline := time.NewTimer(timeout + 30*time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "rc")); err == nil {
			r := &Result{Name: id, Dir: dir, Duration: time.Since(start)}
			r.Exit, err = strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				return nil, fmt.Errorf("scenario %s: rc %q", id, b)
			}
			so, _ := os.ReadFile(filepath.Join(dir, "stdout"))
			se, _ := os.ReadFile(filepath.Join(dir, "stderr"))
			r.Stdout, r.Stderr = string(so), string(se)
			return r, nil
		}
		select {
		case <-vm.exited:
			return nil, fmt.Errorf("scenario %s: the machine stopped (%v)\n%s", id, vm.exitErr, vm.Tail(40))
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, fmt.Errorf("scenario %s: no result after %v\n%s", id, timeout, vm.Tail(40))
		case <-tick.C:
		}
	}
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// InstallBinary copies the xfeat binary into the share, where scenarios
// find it as $XFEAT: the share is read live over 9p, so a binary
// rebuilt after boot is seen at once.
func InstallBinary(dir, bin string) error {
	b, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("xfeat binary: %w (make build)", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "bin", "xfeat"), b, 0o755)
}
