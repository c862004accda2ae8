package xenhost

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// The scripts that run inside the machine: dom0's first stage (in the
// initramfs), dom0's init and scenario library (read from this machine's /
// over 9p, so they are used straight from the repository), and the guest's
// init (in the guest initramfs).
//
//go:embed initramfs-init.sh guest/init.sh
var scripts embed.FS

// Kernel is the Linux kernel dom0 and the guests boot, with its modules.
type Kernel struct {
	Image   string // /boot/vmlinuz-<version>
	Version string // the /lib/modules/<version> directory name
}

// FindKernel returns the newest Debian amd64 kernel installed on this
// machine that has its modules (linux-image-amd64).
func FindKernel() (Kernel, error) {
	imgs, _ := filepath.Glob("/boot/vmlinuz-*-amd64")
	sort.Strings(imgs)
	for i := len(imgs) - 1; i >= 0; i-- {
		v := strings.TrimPrefix(filepath.Base(imgs[i]), "vmlinuz-")
		if _, err := os.Stat(filepath.Join("/lib/modules", v, "modules.dep")); err == nil {
			return Kernel{Image: imgs[i], Version: v}, nil
		}
	}
	return Kernel{}, fmt.Errorf("no /boot/vmlinuz-*-amd64 with modules in /lib/modules: install linux-image-amd64 (make deps)")
}

// modules resolves names (as modprobe takes them, - and _ alike) to their
// .ko paths under /lib/modules/<version>, dependencies first, from
// modules.dep.
func (k Kernel) modules(names ...string) ([]string, error) {
	dir := filepath.Join("/lib/modules", k.Version)
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	deps := map[string][]string{} // module name -> its .ko and dependencies' .ko (relative)
	byName := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		ko, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n := modName(ko)
		byName[n] = ko
		deps[ko] = strings.Fields(rest)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	var visit func(ko string)
	visit = func(ko string) {
		if seen[ko] {
			return
		}
		seen[ko] = true
		// modules.dep lists every transitive dependency, the nearest
		// first: load them in reverse.
		d := deps[ko]
		for i := len(d) - 1; i >= 0; i-- {
			visit(d[i])
		}
		out = append(out, filepath.Join(dir, ko))
	}
	for _, n := range names {
		ko, ok := byName[strings.ReplaceAll(n, "-", "_")]
		if !ok {
			return nil, fmt.Errorf("kernel %s has no module %s", k.Version, n)
		}
		visit(ko)
	}
	return out, nil
}

func modName(ko string) string {
	b := path.Base(ko)
	b = b[:strings.Index(b, ".ko")]
	return strings.ReplaceAll(b, "-", "_")
}

// addModules puts the modules and their dependencies into a under
// /lib/modules and writes /lib/modules/load, the .ko files in load order.
func (k Kernel) addModules(a *archive, names ...string) error {
	kos, err := k.modules(names...)
	if err != nil {
		return err
	}
	var order strings.Builder
	for _, ko := range kos {
		b, err := os.ReadFile(ko)
		if err != nil {
			return err
		}
		dst := "lib/modules/" + filepath.Base(ko)
		a.file(dst, 0o644, b)
		fmt.Fprintf(&order, "/%s\n", dst)
	}
	a.file("lib/modules/load", 0o644, []byte(order.String()))
	return nil
}

// addBusybox installs the static busybox with a link per applet in /bin.
func addBusybox(a *archive) error {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return fmt.Errorf("busybox: %w (install busybox-static: make deps)", err)
	}
	if !bytes.HasPrefix(bb, []byte("\x7fELF")) {
		return fmt.Errorf("/bin/busybox is not an ELF binary")
	}
	a.file("bin/busybox", 0o755, bb)
	out, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet != "busybox" {
			a.symlink("bin/"+applet, "busybox")
		}
	}
	return nil
}

// addDynamic installs a dynamically linked program of this machine with the
// shared libraries ldd names, at the same paths.
func addDynamic(a *archive, prog string) error {
	b, err := os.ReadFile(prog)
	if err != nil {
		return err
	}
	a.file(prog, 0o755, b)
	out, err := exec.Command("ldd", prog).Output()
	if err != nil {
		return fmt.Errorf("ldd %s: %w", prog, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		// "libmnl.so.0 => /lib/.../libmnl.so.0 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
		f := strings.Fields(line)
		lib := ""
		switch {
		case len(f) >= 3 && f[1] == "=>":
			lib = f[2]
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			lib = f[0]
		}
		if lib == "" {
			continue
		}
		real, err := filepath.EvalSymlinks(lib)
		if err != nil {
			return err
		}
		lb, err := os.ReadFile(real)
		if err != nil {
			return err
		}
		a.file(real, 0o755, lb)
		if real != lib {
			a.symlink(lib, real)
		}
	}
	return nil
}

// dom0Modules are what dom0's first stage needs to mount this machine's /
// over virtio-9p with a tmpfs overlay; everything else dom0 loads from /.
var dom0Modules = []string{"virtio_pci", "9pnet_virtio", "9p", "overlay"}

// Dom0Initramfs builds dom0's first stage: busybox, the virtio, 9p and
// overlay modules, and an init that mounts this machine's / read-only with a
// tmpfs overlay and switch_roots into the script named by xenhost_init= on
// the kernel command line.
func Dom0Initramfs(k Kernel, out string) error {
	a := newArchive()
	if err := addBusybox(a); err != nil {
		return err
	}
	if err := k.addModules(a, dom0Modules...); err != nil {
		return err
	}
	initSh, err := scripts.ReadFile("initramfs-init.sh")
	if err != nil {
		return err
	}
	a.file("init", 0o755, initSh)
	for _, d := range []string{"proc", "sys", "dev", "host", "new", "upper"} {
		a.dir(d)
	}
	return writeArchive(a, out)
}

// guestModules are the Linux PV frontends a guest uses.
var guestModules = []string{"xen-netfront", "xen-blkfront"}

// GuestInitramfs builds the PV guests' initramfs: busybox, ethtool (to
// report offloads), the netfront and blkfront modules and guest/init.sh,
// which reports what the frontends negotiated on the console and runs the
// command given on its kernel command line (see guest/init.sh).
func GuestInitramfs(k Kernel, out string) error {
	a := newArchive()
	if err := addBusybox(a); err != nil {
		return err
	}
	if err := addDynamic(a, "/usr/sbin/ethtool"); err != nil {
		return fmt.Errorf("%w (install ethtool: make deps)", err)
	}
	if err := k.addModules(a, guestModules...); err != nil {
		return err
	}
	initSh, err := scripts.ReadFile("guest/init.sh")
	if err != nil {
		return err
	}
	a.file("init", 0o755, initSh)
	for _, d := range []string{"proc", "sys", "dev", "tmp", "mnt"} {
		a.dir(d)
	}
	return writeArchive(a, out)
}

func writeArchive(a *archive, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := a.writeTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
