package xenhost

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config describes one boot of the real host.
type Config struct {
	// Dir is the share: a directory of this machine that dom0 sees
	// read-write at /xenhost. It must exist and contain no comma (QEMU's
	// option syntax); Boot puts the initramfs images and logs there.
	Dir string
	// Shell boots into an interactive shell on the console (stdin/stdout
	// of this process) instead of the agent.
	Shell bool
	// MemoryMiB is the machine's memory (default 3072); Dom0MiB dom0's
	// share of it (default 1536); the rest is for guests.
	MemoryMiB, Dom0MiB int
	// BootTimeout bounds the time to dom0's ready (default 6 min: about 35 s
	// on an idle 2-CPU machine under TCG, far more under load).
	BootTimeout time.Duration
	// Console, when set, also receives everything on the serial console.
	Console io.Writer
}

// VM is a running real host: Xen 4.17 with a Debian PV dom0 under
// qemu-system-x86_64, dom0's root being this machine's / (read-only, with a
// tmpfs overlay), so dom0 runs exactly the tools and binaries built here.
type VM struct {
	cfg      Config
	cmd      *exec.Cmd
	console  *tail
	exited   chan struct{}
	exitErr  error
	seq      int
	mu       sync.Mutex
	BootTime time.Duration // from QEMU's start to dom0's ready
	Kernel   Kernel
}

// CPU model: -cpu max crashes a PV dom0 early and plain qemu64 lacks the
// SSSE3 that busybox and glibc use; qemu64 with SSSE3 and SSE4 added boots,
// but libvirt's libxl driver cannot match its CPUID to a model ("Cannot
// find suitable CPU model for given data") and refuses to start. Nehalem
// has all of it and is a model libvirt knows. KVM cannot be used: it stops
// at Xen's first CET instruction (an emulation failure on rdsspq), so TCG.
const qemuCPU = "Nehalem"

// Boot starts the machine and waits until dom0 is ready (or, with Shell,
// until QEMU exits).
func Boot(ctx context.Context, cfg Config) (*VM, error) {
	if cfg.MemoryMiB == 0 {
		cfg.MemoryMiB = 3072
	}
	if cfg.Dom0MiB == 0 {
		cfg.Dom0MiB = 1536
	}
	if cfg.BootTimeout == 0 {
		cfg.BootTimeout = 6 * time.Minute
	}
	if strings.ContainsAny(cfg.Dir, ", ") {
		return nil, fmt.Errorf("share %q: no comma or space allowed", cfg.Dir)
	}
	k, err := FindKernel()
	if err != nil {
		return nil, err
	}
	xen, err := xenImage(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if err := Dom0Initramfs(k, filepath.Join(cfg.Dir, "dom0-initrd.gz")); err != nil {
		return nil, fmt.Errorf("dom0 initramfs: %w", err)
	}
	if err := GuestInitramfs(k, filepath.Join(cfg.Dir, "guest-initrd.gz")); err != nil {
		return nil, fmt.Errorf("guest initramfs: %w", err)
	}
	mode := "agent"
	if cfg.Shell {
		mode = "shell"
	}
	for _, name := range []string{"ready", "poweroff", "dom0.log"} {
		os.Remove(filepath.Join(cfg.Dir, name))
	}
	if err := os.WriteFile(filepath.Join(cfg.Dir, "mode"), []byte(mode+"\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "req"), 0o755); err != nil {
		return nil, err
	}
	init, err := dom0Init()
	if err != nil {
		return nil, err
	}
	args := []string{
		"-accel", "tcg", "-cpu", cpuModel(),
		"-m", strconv.Itoa(cfg.MemoryMiB), "-smp", "2", "-no-reboot", "-nic", "none",
		"-kernel", xen,
		"-append", fmt.Sprintf("console=com1 com1=115200,8n1 dom0_mem=%dM,max:%dM dom0_max_vcpus=2 noreboot", cfg.Dom0MiB, cfg.Dom0MiB),
		// QEMU's multiboot loader takes modules separated by commas, each
		// "file args": dom0's kernel with its command line, then its initramfs.
		"-initrd", fmt.Sprintf("%s console=hvc0 xenhost_init=%s,%s", k.Image, init, filepath.Join(cfg.Dir, "dom0-initrd.gz")),
		"-virtfs", "local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap",
		"-virtfs", "local,path=" + cfg.Dir + ",mount_tag=xenhostshare,security_model=passthrough",
	}
	if cfg.Shell {
		args = append(args, "-nographic")
	} else {
		args = append(args, "-display", "none", "-monitor", "none", "-serial", "stdio")
	}
	vm := &VM{cfg: cfg, console: newTail(256 << 10), exited: make(chan struct{}), Kernel: k}
	vm.cmd = exec.Command("qemu-system-x86_64", args...)
	// The machine dies with the process that booted it (a test binary
	// killed by its -timeout leaves no QEMU behind).
	vm.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(filepath.Join(cfg.Dir, "console.log"))
	if err != nil {
		return nil, err
	}
	outs := []io.Writer{logf, vm.console}
	if cfg.Console != nil {
		outs = append(outs, cfg.Console)
	}
	vm.cmd.Stdout = io.MultiWriter(outs...)
	vm.cmd.Stderr = vm.cmd.Stdout
	if cfg.Shell {
		vm.cmd.Stdin = os.Stdin
	}
	start := time.Now()
	if err := vm.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("qemu-system-x86_64: %w (install qemu-system-x86: make deps)", err)
	}
	go func() {
		vm.exitErr = vm.cmd.Wait()
		logf.Close()
		close(vm.exited)
	}()
	if cfg.Shell {
		<-vm.exited
		return vm, vm.exitErr
	}
	deadline := time.NewTimer(cfg.BootTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(filepath.Join(cfg.Dir, "ready")); err == nil {
			vm.BootTime = time.Since(start)
			return vm, nil
		}
		select {
		case <-vm.exited:
			return nil, fmt.Errorf("the machine stopped before dom0 was ready (%v)\n%s", vm.exitErr, vm.Tail(40))
		case <-ctx.Done():
			vm.kill()
			return nil, fmt.Errorf("boot: %w\n%s", ctx.Err(), vm.Tail(40))
		case <-deadline.C:
			vm.kill()
			return nil, fmt.Errorf("dom0 not ready after %v\n%s", cfg.BootTimeout, vm.Tail(40))
		case <-tick.C:
		}
	}
}

// xenImage unpacks the hypervisor (QEMU's multiboot loader takes no gzip).
func xenImage(dir string) (string, error) {
	zs, _ := filepath.Glob("/boot/xen-4.17*-amd64.gz")
	if len(zs) == 0 {
		return "", errors.New("no /boot/xen-4.17*-amd64.gz: install xen-hypervisor-4.17-amd64 (make deps)")
	}
	f, err := os.Open(zs[len(zs)-1])
	if err != nil {
		return "", err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "xen")
	return out, os.WriteFile(out, b, 0o644)
}

// dom0Init is the absolute path of dom0/init in this source tree; dom0 sees
// the same path, since its / is this machine's.
func dom0Init() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the harness sources")
	}
	p := filepath.Join(filepath.Dir(file), "dom0", "init")
	if strings.ContainsAny(p, ", ") {
		return "", fmt.Errorf("%s: the source tree's path must have no comma or space", p)
	}
	return p, nil
}

// Tail returns the last n lines of the serial console (Xen and dom0's
// kernel) followed by the last n lines of dom0's agent log.
func (vm *VM) Tail(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- serial console (Xen, dom0 kernel), last %d lines:\n%s", n, lastLines(vm.console.Bytes(), n))
	if log, err := os.ReadFile(filepath.Join(vm.cfg.Dir, "dom0.log")); err == nil {
		fmt.Fprintf(&b, "--- dom0 agent log, last %d lines:\n%s", n, lastLines(log, n))
	}
	return b.String()
}

// Dir is the share directory (dom0's /xenhost).
func (vm *VM) Dir() string { return vm.cfg.Dir }

// Close asks dom0 to destroy its guests and power off, and waits at most a
// minute before killing QEMU.
func (vm *VM) Close() error {
	select {
	case <-vm.exited:
		return nil
	default:
	}
	os.WriteFile(filepath.Join(vm.cfg.Dir, "poweroff"), nil, 0o644)
	select {
	case <-vm.exited:
		return nil
	case <-time.After(time.Minute):
		vm.kill()
		return errors.New("the machine did not power off within a minute: killed")
	}
}

func (vm *VM) kill() {
	if vm.cmd.Process != nil {
		vm.cmd.Process.Kill()
	}
	<-vm.exited
}

func lastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n"))) + "\n"
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.buf...)
}

// cpuModel is qemuCPU, or XENHOST_CPU when set (for trying another model).
func cpuModel() string {
	if m := os.Getenv("XENHOST_CPU"); m != "" {
		return m
	}
	return qemuCPU
}
