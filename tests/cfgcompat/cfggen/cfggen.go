// Package cfggen generates random xl.cfg inputs from a seeded source, for
// the differential tests against libxlutil (tests/cfgcompat) and for the
// parser's own tests (the fast path against the participle path). The same
// seed gives the same inputs on every machine.
package cfggen

import (
	"fmt"
	"math/rand"
	"strings"
)

// Input returns the i-th input of a run: alternately Soup and Structured.
func Input(r *rand.Rand, i int) string {
	if i%2 == 0 {
		return Soup(r)
	}
	return Structured(r)
}

// Pieces are the tokens Soup is made of: every token kind of the grammar,
// the interesting escapes and numbers, and the characters that put
// libxlutil's scanner into its error state.
var Pieces = []string{
	"a", "b", "vif", "disk", "x.y", "a_b", "memory", "z9",
	"0", "1", "010", "0x1f", "9abc", "0x1x2", "1e5", "08",
	`"x"`, `'y'`, `""`, `''`, `"a b"`, `"it's"`, `'say "hi"'`,
	`"\\"`, `"\""`, `'\''`, `"\n\t\r\a\b\f\v"`, `"\;"`, `"a\;b"`, `"\q"`, `"\8"`,
	`"\x41"`, `"\x"`, `"A\101B"`, `"A\1 5B"`, `"A\1B"`, `"A\12345B"`, `"\0+1"`, `"\7  "`, `"\3--1"`,
	`"bridge=br0,features=queues:2\\;max-ring-page-order:0"`, `"é"`, `"tab	in"`,
	"=", "=", "+=", ";", "[", "]", ",", ",", "[", "]",
	"\n", "\n", "\n", "# comment\n", "#\n", "#c\r\n",
	" ", " ", "\t",
	"@", "-", "+", "(", ")", ":", ".", "F", "_x", "\r", "\r\n", "#", `"open`, "+ =",
	"\f", "\v", "\xff", // no NUL: in a string it can abort libxlutil (an assert)
	"'", `"`, "\\", "[\n", "\n]", ",\n", "\n,",
}

// Soup returns a random sequence of Pieces (mostly rejected inputs).
func Soup(r *rand.Rand) string {
	var b strings.Builder
	n := 1 + r.Intn(12)
	for i := 0; i < n; i++ {
		b.WriteString(Pieces[r.Intn(len(Pieces))])
		if r.Intn(3) == 0 {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// Structured returns a config that is valid more often than not: a few
// assignments with random values, separators and comments, then with
// probability 1/3 one random piece inserted somewhere.
func Structured(r *rand.Rand) string {
	names := []string{"a", "b", "vif", "disk", "x.y"}
	var b strings.Builder
	n := 1 + r.Intn(5)
	for i := 0; i < n; i++ {
		if r.Intn(4) == 0 {
			b.WriteString([]string{"\n", "# c\n", "\t\n", ";"}[r.Intn(4)])
		}
		b.WriteString(names[r.Intn(len(names))])
		b.WriteString([]string{" = ", "=", " += ", "\t=\t"}[r.Intn(4)])
		value(r, &b, 0)
		if r.Intn(4) == 0 {
			b.WriteString(" # trailing")
		}
		if i < n-1 || r.Intn(2) == 0 {
			b.WriteString([]string{"\n", "\n", ";", "; ", "\n\n"}[r.Intn(5)])
		}
	}
	s := b.String()
	if r.Intn(3) == 0 {
		at := r.Intn(len(s) + 1)
		s = s[:at] + Pieces[r.Intn(len(Pieces))] + s[at:]
	}
	return s
}

func value(r *rand.Rand, b *strings.Builder, depth int) {
	if depth < 3 && r.Intn(3) == 0 {
		b.WriteString("[")
		if r.Intn(3) == 0 {
			b.WriteString("\n")
		}
		k := r.Intn(4)
		for i := 0; i < k; i++ {
			if i > 0 {
				b.WriteString([]string{",", ", ", ",\n", " ,\n  # c\n  ", "\n,", "\n\n,\n\n", "# c\n,"}[r.Intn(7)])
			}
			value(r, b, depth+1)
		}
		if k > 0 && r.Intn(3) == 0 {
			b.WriteString(",")
		}
		if r.Intn(3) == 0 {
			b.WriteString("\n")
		}
		b.WriteString("]")
		return
	}
	atoms := []string{"1", "0x1f", "010", "9abc", `"x"`, `'y'`, `"a\\b"`, `"q\"q"`, `"br=0,\\;"`, `"\;"`, `"A\101B"`, `""`}
	b.WriteString(atoms[r.Intn(len(atoms))])
}

// Typical is a realistic guest configuration (about 1 KiB), for benchmarks.
const Typical = `# HVM guest with two NICs and two disks
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

// Big returns a config of at least size bytes: many settings of every
// kind (numbers, strings with escapes, lists over several lines, comments).
func Big(size int) []byte {
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
