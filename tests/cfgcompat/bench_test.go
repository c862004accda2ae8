package cfgcompat

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/parser"
)

// typicalConfig is a realistic guest configuration (about 1 KiB).
const typicalConfig = `# HVM guest with two NICs and two disks
name = "web01"
type = "hvm"
memory = 4096
maxmem = 8192
vcpus = 4
cpus = ["0-3"]
boot = "c"
device_model_version = "qemu-xen"
serial = "pty"
vnc = 1
vnclisten = "127.0.0.1"
on_poweroff = "destroy"
on_reboot = "restart"
on_crash = "restart"
max_grant_frames = 64
max_event_channels = 1023

vif = [
    "bridge=xenbr0,mac=00:16:3e:11:22:33,features=queues:4\\;max-ring-page-order:2",
    "bridge=br-lan,mac=00:16:3e:11:22:34,queues=2", # backup network
]
disk = [
    "format=raw, vdev=xvda, access=rw, target=/dev/vg0/web01-root",
    "/srv/xen/web01-data.img,raw,xvdb,rw,queues=4,max-ring-page-order=2",
]
usbdevice = ["tablet"]
extra = "console=hvc0 root=/dev/xvda1 ro"
extra += " quiet"
`

// bigConfig returns a config of at least size bytes: many settings of every
// kind (numbers, strings with escapes, lists over several lines, comments).
func bigConfig(size int) []byte {
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "# block %d\n", i)
		fmt.Fprintf(&b, "memory%d = %d\n", i, 1024+i)
		fmt.Fprintf(&b, "name%d = 'guest-%d' ; kernel%d = \"/boot/vmlinuz\\t%d\"\n", i, i, i, i)
		fmt.Fprintf(&b, "vif%d = [\n    \"bridge=br%d,features=queues:2\\\\;max-ring-page-order:0\",\n    'bridge=xenbr0', # second\n]\n", i, i%8)
		fmt.Fprintf(&b, "disk%d = [\"/srv/g%d.img,raw,xvda,rw\", [\"nested\", 0x%x]]\n", i, i, i)
	}
	return []byte(b.String())
}

func benchBoth(b *testing.B, src []byte) {
	xl := NewBench(src)
	defer xl.Close()
	if rc := xl.ParseOnce(); rc != 0 {
		b.Fatalf("libxlutil rejects the input: %d", rc)
	}
	if f, diags := parser.Parse("bench.cfg", src, parser.Options{}); f == nil {
		b.Fatalf("xfeat rejects the input: %s", diags)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	b.ResetTimer()
	var tx, tl time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		parser.Parse("bench.cfg", src, parser.Options{})
		t1 := time.Now()
		xl.ParseOnce()
		tl += time.Since(t1)
		tx += t1.Sub(t0)
	}
	b.ReportMetric(float64(tx.Nanoseconds())/float64(b.N), "xfeat-ns/op")
	b.ReportMetric(float64(tl.Nanoseconds())/float64(b.N), "libxlutil-ns/op")
	// >1: xfeat is faster than libxlutil by that factor.
	b.ReportMetric(float64(tl)/float64(tx), "xfeat-speedup")
}

// BenchmarkParseVsLibxlutil parses the same input with xfeat and with
// libxlutil in one loop; ns/op is their sum, the metrics split it.
func BenchmarkParseVsLibxlutil(b *testing.B) {
	b.Run("typical", func(b *testing.B) { benchBoth(b, []byte(typicalConfig)) })
	b.Run("1MB", func(b *testing.B) { benchBoth(b, bigConfig(1<<20)) })
}

func TestBigConfigAgrees(t *testing.T) {
	if os.Getenv("CI") != "" && testing.Short() {
		t.Skip()
	}
	check(t, "big", bigConfig(64<<10))
	check(t, "typical", []byte(typicalConfig))
}
