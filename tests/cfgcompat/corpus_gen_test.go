package cfgcompat

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/{ok,lenient,err}-*.cfg from the generator")

// The corpus is generated once (go test -run TestCorpusIsGenerated -update-corpus)
// and committed, so that the files can be read and run by hand (xfeat parse,
// xfeat fmt, xl) and changes to them show in review. Hand-written files
// (hand-*.cfg) sit beside them.

func q(r *rand.Rand, s string) string {
	if r.Intn(3) == 0 && !strings.ContainsAny(s, `'\`) {
		return "'" + s + "'"
	}
	return `"` + s + `"`
}

func num(r *rand.Rand, n int) string {
	switch r.Intn(5) {
	case 0:
		return fmt.Sprintf("0x%x", n)
	case 1:
		return fmt.Sprintf("0%o", n)
	case 2:
		return `"` + fmt.Sprint(n) + `"`
	}
	return fmt.Sprint(n)
}

// list renders items in one of several layouts xl users write.
func list(r *rand.Rand, items []string) string {
	if len(items) == 0 {
		return []string{"[]", "[ ]", "[\n]"}[r.Intn(3)]
	}
	switch r.Intn(5) {
	case 0:
		return "[" + strings.Join(items, ",") + "]"
	case 1:
		return "[ " + strings.Join(items, ", ") + " ]"
	case 2:
		return "[\n    " + strings.Join(items, ",\n    ") + ",\n]"
	case 3:
		var b strings.Builder
		b.WriteString("[ # devices\n")
		for i, it := range items {
			fmt.Fprintf(&b, "\t%s", it)
			if i < len(items)-1 {
				b.WriteString(",")
			}
			if i == 0 {
				b.WriteString(" # first")
			}
			b.WriteString("\n")
		}
		b.WriteString("]")
		return b.String()
	}
	return "[" + strings.Join(items, ",\n       ") + "\n      ]"
}

var bridges = []string{"xenbr0", "br0", "br-lan", "virbr1"}
var features = []string{
	"queues=2", "features=queues:2\\\\;max-ring-page-order:0", "queues=4,max-ring-page-order=2",
	"features=feature-gso-tcpv4:0", "rate=10Mb/s@20ms", "mtu=9000", "vlan=10", "model=e1000",
}

func vifs(r *rand.Rand, hvm bool) []string {
	n := r.Intn(4)
	var out []string
	for i := 0; i < n; i++ {
		spec := fmt.Sprintf("bridge=%s,mac=00:16:3e:%02x:%02x:%02x", bridges[r.Intn(len(bridges))], r.Intn(128), r.Intn(256), r.Intn(256))
		if r.Intn(2) == 0 {
			spec += "," + features[r.Intn(len(features))]
		}
		if hvm && r.Intn(3) == 0 {
			spec += ",type=ioemu"
		}
		out = append(out, q(r, spec))
	}
	return out
}

func disks(r *rand.Rand, hvm bool) []string {
	n := 1 + r.Intn(3)
	var out []string
	for i := 0; i < n; i++ {
		var spec string
		switch r.Intn(4) {
		case 0:
			spec = fmt.Sprintf("/srv/xen/g%d.img,raw,xvd%c,rw", r.Intn(100), 'a'+i)
		case 1:
			spec = fmt.Sprintf("format=raw, vdev=xvd%c, access=rw, target=/dev/vg0/g%d", 'a'+i, r.Intn(100))
		case 2:
			spec = fmt.Sprintf("phy:/dev/vg0/disk%d,xvd%c,w", i, 'a'+i)
		default:
			spec = fmt.Sprintf("/srv/g.qcow2,qcow2,xvd%c,rw,queues=4,max-ring-page-order=2", 'a'+i)
		}
		if hvm && i == n-1 && r.Intn(3) == 0 {
			spec = "/srv/iso/install.iso,raw,hdc,ro,devtype=cdrom"
		}
		out = append(out, q(r, spec))
	}
	return out
}

// guest renders one guest configuration of the given type.
func guest(r *rand.Rand, typ string, i int) string {
	var lines []string
	add := func(s string) { lines = append(lines, s) }
	if r.Intn(2) == 0 {
		add(fmt.Sprintf("# %s guest %d\n#\n# generated for xfeat's libxlutil compatibility tests", strings.ToUpper(typ), i))
		add("")
	}
	eq := []string{" = ", "=", "\t= ", " =\t"}[r.Intn(4)]
	add("name" + eq + q(r, fmt.Sprintf("%s-guest-%d", typ, i)))
	if typ == "hvm" && r.Intn(3) == 0 {
		add("builder" + eq + q(r, "hvm"))
	} else {
		add("type" + eq + q(r, typ))
	}
	switch typ {
	case "pv", "pvh":
		if r.Intn(4) == 0 {
			add("bootloader" + eq + q(r, "pygrub"))
		} else {
			add("kernel" + eq + q(r, "/boot/vmlinuz-6.1.0-18-amd64"))
			add("ramdisk" + eq + q(r, "/boot/initrd.img-6.1.0-18-amd64"))
			add("extra" + eq + q(r, "root=/dev/xvda1 ro console=hvc0"))
			if r.Intn(3) == 0 {
				add("extra += " + q(r, " quiet"))
			}
		}
	case "hvm":
		add("boot" + eq + q(r, []string{"c", "d", "dc", "n"}[r.Intn(4)]))
		add("device_model_version" + eq + q(r, "qemu-xen"))
		add("serial" + eq + q(r, "pty"))
		add("vnc" + eq + num(r, r.Intn(2)))
		add("vnclisten" + eq + q(r, "127.0.0.1"))
		if r.Intn(2) == 0 {
			add("usbdevice" + eq + list(r, []string{q(r, "tablet")}))
		}
	}
	mem := []int{256, 512, 1024, 2048, 4096}[r.Intn(5)]
	stmt := "memory" + eq + num(r, mem)
	if r.Intn(4) == 0 {
		stmt += "; maxmem" + eq + num(r, mem*2)
	}
	if r.Intn(3) == 0 {
		stmt += " # MiB"
	}
	add(stmt)
	add("vcpus" + eq + num(r, 1+r.Intn(8)))
	if r.Intn(3) == 0 {
		add("cpus" + eq + list(r, []string{q(r, "0-3"), q(r, "4")}))
	}
	if r.Intn(4) == 0 {
		add("vcpu_soft_affinity" + eq + list(r, []string{list(r, []string{q(r, "0"), q(r, "1")}), q(r, "2-3"), "[]"}))
	}
	if r.Intn(2) == 0 {
		add("")
	}
	v := vifs(r, typ == "hvm")
	add("vif" + eq + list(r, v))
	if r.Intn(4) == 0 {
		add("vif += " + list(r, []string{q(r, "bridge=xenbr1")}))
	}
	add("disk" + eq + list(r, disks(r, typ == "hvm")))
	if r.Intn(3) == 0 {
		add("on_crash" + eq + q(r, "restart") + "; on_poweroff = " + q(r, "destroy"))
	}
	if r.Intn(4) == 0 {
		add("max_grant_frames" + eq + num(r, 64))
		add("max_event_channels" + eq + num(r, 1023))
	}
	if r.Intn(5) == 0 {
		add("cmdline" + eq + `"console=hvc0 \"quoted\" tab\there\\back"`)
	}
	if r.Intn(5) == 0 {
		add("# trailing comment")
	}
	sep := "\n"
	out := strings.Join(lines, sep)
	if r.Intn(6) != 0 || strings.HasPrefix(lines[len(lines)-1], "#") {
		out += "\n" // a last-line comment needs its newline (xl)
	}
	return out
}

// Snippets libxlutil rejects, each inserted into an otherwise valid guest.
var errorSnippets = []string{
	"memory = -1", "memory = 1.5", "Name = \"x\"", "_x = 1", "9a = 1", "a-b = 1",
	"memory =\n1024", "vif = [\"a\" \"b\"]", "vif = [\"a\",,\"b\"]", "vif = [,]",
	"vif = [\"a\"; \"b\"]", "a = 1 b = 2", "kernel = /boot/vmlinuz", "a = 0x1F",
	"a = \"unterminated", "a = 'unterminated", "a = \"multi\nline\"", "a = \"\\x41\"",
	"a = \"\\1\"", "a = \"\\12\"", "a = \"tail\\7\"", "a + = 1", "a == 1", "= 1", "a =",
	"vif = [\"a\"\nvcpus = 2", "a = [[1]", "a = ]", "a = [1]]", "a = \"x\"\na += [\"y\"]",
	"a = [\"x\"]\na += \"y\"", "a = (1, 2)", "a = {1: 2}", "a = 'x' + 'y'", "a = True",
	"import os", "def f(): pass", "a = 1,", "a = , 1", "a = [1] [2]", "a += ", "a = 'x'y",
	"a = \"x\"\"y\"", "\ta\t=\t@", "a = $x", "a = 1 ;; b = ;",
}

// Lenient cases: accepted by xfeat with a warning, rejected by xl.
var lenientSnippets = []struct{ name, text string }{
	{"unknown-escape", "vif = [\"bridge=br0,features=queues:2\\;max-ring-page-order:0\"]"},
	{"unknown-escape-q", "extra = \"a\\qb\""},
	{"unknown-escape-space", "extra = 'a\\ b'"},
	{"unknown-escape-8", "extra = \"\\8\\9\""},
}

// TestCorpusIsGenerated: the committed generated files are what the
// generator makes (so that a change to it, or a hand edit of a generated
// file, shows here); with -update-corpus it rewrites them instead.
func TestCorpusIsGenerated(t *testing.T) {
	files := generateCorpus()
	for name, text := range files {
		path := filepath.Join("testdata", name)
		if *updateCorpus {
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v (go test -run TestCorpusIsGenerated -update-corpus writes it)", err)
		} else if string(got) != text {
			t.Errorf("%s differs from the generator's output (go test -run TestCorpusIsGenerated -update-corpus rewrites it)", path)
		}
	}
	// Nothing generated is left over from an older generator (hand-written
	// files have "hand-" in their names).
	for _, pat := range []string{"ok-*.cfg", "err-*.cfg", "lenient-*.cfg"} {
		old, _ := filepath.Glob(filepath.Join("testdata", pat))
		for _, p := range old {
			if _, ok := files[filepath.Base(p)]; !ok && !strings.Contains(filepath.Base(p), "hand-") {
				t.Errorf("%s is not generated any more: remove it", p)
			}
		}
	}
	if len(files) < 230 {
		t.Errorf("the generator made only %d files", len(files))
	}
}

// generateCorpus returns the generated files of testdata by name.
func generateCorpus() map[string]string {
	files := map[string]string{}
	r := rand.New(rand.NewSource(42))
	write := func(name, text string) { files[name] = text }
	for _, typ := range []string{"pv", "pvh", "hvm"} {
		for i := 0; i < 60; i++ {
			write(fmt.Sprintf("ok-%s-%02d.cfg", typ, i), guest(r, typ, i))
		}
	}
	for i, sn := range errorSnippets {
		g := guest(r, []string{"pv", "pvh", "hvm"}[i%3], i)
		lines := strings.SplitAfter(g, "\n")
		at := 1 + r.Intn(len(lines)-1)
		if !strings.HasSuffix(g, "\n") {
			g += "\n"
			lines = strings.SplitAfter(g, "\n")
		}
		text := strings.Join(lines[:at], "") + sn + "\n" + strings.Join(lines[at:], "")
		write(fmt.Sprintf("err-%02d.cfg", i), text)
	}
	for i, sn := range lenientSnippets {
		g := guest(r, "pv", 100+i)
		if !strings.HasSuffix(g, "\n") {
			g += "\n"
		}
		write(fmt.Sprintf("lenient-%s.cfg", sn.name), g+sn.text+"\n")
	}
	g := guest(r, "hvm", 200)
	write("lenient-crlf.cfg", strings.ReplaceAll(strings.TrimSuffix(g, "\n")+"\n", "\n", "\r\n"))
	g = guest(r, "pvh", 201)
	write("lenient-last-comment.cfg", strings.TrimSuffix(g, "\n")+"\n# no newline at the end")
	return files
}
