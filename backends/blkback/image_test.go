package blkback

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xfeat/xfeat/internal/testutil"
	"github.com/xfeat/xfeat/internal/xstest"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xsclient"
)

// store is an in-process XenStore with one device directory.
func store(t *testing.T) (*xsclient.Client, string) {
	return xstest.Pipe(t), pv.BackendPath(0, pv.Vbd, 1, 51712)
}

// loopDevice attaches img to a free loop device (losetup) for the test.
func loopDevice(t *testing.T, img string) string {
	t.Helper()
	testutil.NeedRoot(t, "loop devices")
	testutil.NeedFile(t, "/dev/loop-control", "loop devices")
	losetup := testutil.NeedTool(t, "losetup", "mount")
	out, err := exec.Command(losetup, "-f", "--show", img).Output()
	if err != nil {
		t.Fatalf("losetup -f --show %s: %v", img, err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command(losetup, "-d", dev).Run() })
	return dev
}

// What a vbd serves: params names an image file or a block device; when
// it names neither, the block device physical-device names (major:minor
// in hex, as a hotplug script writes it). Anything else is an error
// naming the keys.
func TestOpenImage(t *testing.T) {
	img := testutil.Image(t, 1<<20)
	pattern := bytes.Repeat([]byte("xfeat-blk"), 100)
	if f, err := os.OpenFile(img, os.O_RDWR, 0); err != nil {
		t.Fatal(err)
	} else {
		f.WriteAt(pattern, 4096)
		f.Close()
	}
	loop := loopDevice(t, img)
	var st unix.Stat_t
	if err := unix.Stat(loop, &st); err != nil {
		t.Fatal(err)
	}
	mm := fmt.Sprintf("%x:%x", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	c, be := store(t)
	ctx := context.Background()
	set := func(kv ...string) {
		t.Helper()
		c.Rm(ctx, be)
		for i := 0; i+1 < len(kv); i += 2 {
			if err := c.WriteString(ctx, be+"/"+kv[i], kv[i+1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, ok := range []struct {
		name string
		kv   []string
	}{
		{"image file", []string{pv.KeyParams, img}},
		{"image file, physical-device beside it", []string{pv.KeyParams, img, pv.KeyPhysicalDevice, "ff:ff"}},
		{"block device", []string{pv.KeyParams, loop}},
		{"raw: prefix", []string{pv.KeyParams, "raw:" + loop}},
		{"a script's device", []string{pv.KeyParams, "iqn.2001-04.com.example:disk", pv.KeyPhysicalDevice, mm}},
	} {
		set(ok.kv...)
		f, err := openImage(ctx, c, be, true)
		if err != nil {
			t.Errorf("%s: %v", ok.name, err)
			continue
		}
		size, err := imageSize(f)
		got := make([]byte, len(pattern))
		f.ReadAt(got, 4096)
		f.Close()
		if err != nil || size != 1<<20 || !bytes.Equal(got, pattern) {
			t.Errorf("%s: size %d (%v), pattern read back %v; want 1 MiB and the image's data", ok.name, size, err, bytes.Equal(got, pattern))
		}
	}
	for _, bad := range []struct {
		name string
		kv   []string
		want []string
	}{
		{"a character device", []string{pv.KeyParams, "/dev/null"}, []string{"neither a regular file", "nor a block device"}},
		{"no device yet", []string{pv.KeyParams, "iqn.2001-04.com.example:disk"}, []string{"params", "only raw images"}},
		{"physical-device garbage", []string{pv.KeyParams, "nbd:x", pv.KeyPhysicalDevice, "sda"}, []string{"physical-device", "not major:minor in hex"}},
		{"physical-device of no device", []string{pv.KeyParams, "nbd:x", pv.KeyPhysicalDevice, "fff:fff"}, []string{"physical-device", "no block device 4095:4095"}},
		{"relative path", []string{pv.KeyParams, "vg/lv"}, []string{"not an absolute path"}},
	} {
		set(bad.kv...)
		f, err := openImage(ctx, c, be, true)
		if err == nil {
			f.Close()
			t.Errorf("%s: opened", bad.name)
			continue
		}
		for _, w := range bad.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", bad.name, err, w)
			}
		}
	}
}
