package xenhost

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestArchiveUnpacks: busybox's cpio (the same newc reader as the kernel's
// initramfs unpacker, as far as the format goes) extracts what the archive
// holds: files with their modes and contents, symlinks, parents created
// implicitly, an empty directory, and a file added twice written once.
func TestArchiveUnpacks(t *testing.T) {
	a := newArchive()
	a.file("bin/busybox", 0o755, []byte("not really busybox"))
	a.symlink("bin/sh", "busybox")
	a.file("lib/modules/load", 0o644, []byte("/lib/modules/a.ko\n"))
	a.file("lib/modules/load", 0o644, []byte("/lib/modules/b.ko\n")) // the later one wins
	a.file("odd", 0o600, []byte("12345"))                            // a length that needs padding
	a.dir("proc")
	var gz bytes.Buffer
	if err := a.writeTo(&gz); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", "gzip -dc | busybox cpio -i -d -m")
	cmd.Dir = dir
	cmd.Stdin = &gz
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("busybox cpio: %v\n%s", err, out)
	}
	for name, want := range map[string]string{"bin/busybox": "not really busybox", "lib/modules/load": "/lib/modules/b.ko\n", "odd": "12345"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "bin/busybox")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/busybox mode: %v, %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "odd")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("odd mode: %v, %v", fi, err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "bin/sh")); err != nil || target != "busybox" {
		t.Errorf("bin/sh -> %q, %v", target, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "proc")); err != nil || !fi.IsDir() {
		t.Errorf("proc: %v, %v", fi, err)
	}
}

// TestKernelModulesResolveDependencies: a module's dependencies come
// before it (9p needs 9pnet, netfs and fscache), each once.
func TestKernelModulesResolveDependencies(t *testing.T) {
	k, err := FindKernel()
	if err != nil {
		t.Fatal(err)
	}
	kos, err := k.modules("9p", "9pnet_virtio")
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, ko := range kos {
		if _, dup := pos[modName(ko)]; dup {
			t.Errorf("%s listed twice", ko)
		}
		pos[modName(ko)] = i
	}
	for _, dep := range []string{"9pnet", "netfs", "fscache"} {
		if p, ok := pos[dep]; !ok || p > pos["9p"] {
			t.Errorf("%s at %d (present %v), 9p at %d: a dependency must load first; order %v", dep, p, ok, pos["9p"], kos)
		}
	}
	if pos["9pnet"] > pos["9pnet_virtio"] {
		t.Errorf("9pnet after 9pnet_virtio: %v", kos)
	}
	if _, err := k.modules("no_such_module"); err == nil {
		t.Error("an unknown module resolved")
	}
}
