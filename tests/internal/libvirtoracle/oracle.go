// Package libvirtoracle compares the domain XML of `xfeat convert --to
// libvirt` with what libvirt's own xen-xl converter (`virsh -c xen:///
// domxml-from-native xen-xl FILE`, libvirtd with the libxl driver in a Xen
// dom0) makes of the same xl.cfg: the oracle of the real-host test
// (tests/xenhost, TestLibvirtConverterAgrees).
//
// Both XMLs are reduced to facts, path -> value ("disk[xvda]/driver@type"
// -> "qcow2"): the elements and attributes both converters write for an
// xl.cfg without xfeat keys. Compare reports every fact on which they
// disagree, after the deliberate differences (Deliberate) are taken out.
// Elements only one side writes are not facts (OnlyIn lists them):
// libvirt's implicit devices (console, input, memballoon, video), <clock>,
// <os><loader> and IDE addresses on its side; <metadata>, <backenddomain>,
// <mtu>, <driver queues> and the like on xfeat's.
//
// libvirt does not read xl.cfg with Xen's parser but with a reader of its
// own (virconf.c), which takes less of the language and reads some of it
// otherwise. ReadConf reads a file as that reader does, so that each
// refusal is foreseen with libvirt's own message and line, and each
// setting it misreads (Misreadings) exempts the facts it feeds
// (SettingFacts); ConverterRefusal foresees the converter's own refusals
// (cpus as a list, a vif flag). Rendition writes a file's settings, as xl
// reads them, in the language both read alike, so that a file libvirt
// refuses or misreads is still compared. Judge puts it together for one
// file and one answer of libvirt's.
//
// testdata/hvmcaps.c is preloaded into libvirtd on the test host, whose
// Xen (under QEMU's TCG, without VMX) offers PV guests only: it adds the
// HVM guest capabilities to what libxl tells libvirt, so that libvirt's
// converter takes HVM and PVH files as on a host with VMX.
package libvirtoracle

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Deliberate lists xfeat's known differences from libvirt's converter.
// CompareAll takes the facts of the first nine out of both sides; the last
// three, how libvirt reads a file, are Judge's.
var Deliberate = []struct {
	Name, Why string
}{
	{"driver name of a disk without backendtype=", "libvirt writes name='qemu' (qdisk); xfeat writes none, so that libxl picks the backend as xl would"},
	{"bandwidth average", "libvirt reads rate= M/G as 1024/1024² and drops the interval; xfeat writes the KiB/s its libxl driver turns back into xl's bytes per second"},
	{"uuid when xl.cfg sets none", "libvirt makes up a random one; xfeat writes none"},
	{"memory and vcpus xl.cfg does not set", "libvirt writes its defaults; xfeat writes none, leaving them to libxl"},
	{"on_* actions xl.cfg does not set", "libvirt writes its defaults (on_crash restart, where xl's is destroy); xfeat writes none"},
	{"HVM display and boot when xl.cfg sets none", "libxl starts VNC and boots cda by default; libvirt's converter writes no graphics and boot hd"},
	{"MAC of a vif without mac=", "libvirt writes 00:00:00:00:00:00; xfeat writes none, so that a MAC is made up when the domain is created (xl) or defined (libvirt)"},
	{"bridge with a dot or colon", "libvirt reads BRIDGE.VLAN / BRIDGE:TRUNK as Open vSwitch; xfeat keeps the bridge name"},
	{"e820_host=0", "xfeat writes <e820_host state='off'/>, libvirt nothing"},
	{"xl.cfg libvirt's reader refuses", "hexadecimal numbers, +=, an escaped quote, a comment inside a list (ReadConf): libvirt converts nothing, xfeat reads the file as xl"},
	{"settings libvirt's reader misreads", "a number with a leading 0 (010: ten to libvirt, eight to xl), a string with escapes (taken as written), a key set twice (libvirt: the first, xl: the last); their facts are exempt (Misreadings)"},
	{"files libvirt's converter refuses", "cpus as a list, a vif item without '=' such as trusted (ConverterRefusal); xl and xfeat take them"},
}

type elem struct {
	name  string
	attrs map[string]string
	text  string
	kids  []*elem
}

func parse(src []byte) (*elem, error) {
	d := xml.NewDecoder(bytes.NewReader(src))
	var stack []*elem
	var root *elem
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			e := &elem{name: t.Name.Local, attrs: map[string]string{}}
			if t.Name.Space != "" {
				e.name = "{" + t.Name.Space + "}" + e.name
			}
			for _, a := range t.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			if len(stack) == 0 {
				root = e
			} else {
				stack[len(stack)-1].kids = append(stack[len(stack)-1].kids, e)
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			}
		}
	}
	if root == nil || root.name != "domain" {
		return nil, fmt.Errorf("not a <domain>")
	}
	return root, nil
}

func (e *elem) all(name string) []*elem {
	var out []*elem
	for _, k := range e.kids {
		if k.name == name {
			out = append(out, k)
		}
	}
	return out
}

func (e *elem) one(name string) *elem {
	if a := e.all(name); len(a) > 0 {
		return a[0]
	}
	return nil
}

// kib is a scaledInteger in KiB.
func kib(e *elem) string {
	n, err := strconv.ParseUint(strings.TrimSpace(e.text), 10, 64)
	if err != nil {
		return "bad " + e.text
	}
	mul := map[string]uint64{"": 1, "k": 1, "kib": 1, "m": 1024, "mib": 1024, "g": 1 << 20, "gib": 1 << 20, "b": 0, "bytes": 0}
	m, ok := mul[strings.ToLower(e.attrs["unit"])]
	if !ok {
		return "unit " + e.attrs["unit"]
	}
	if m == 0 {
		return strconv.FormatUint(n/1024, 10)
	}
	return strconv.FormatUint(n*m, 10)
}

// Facts reduces a domain to the facts Compare weighs.
func Facts(src []byte) (map[string]string, error) {
	dom, err := parse(src)
	if err != nil {
		return nil, err
	}
	f := map[string]string{}
	set := func(k string, e *elem, attr string) {
		if e == nil {
			return
		}
		if attr == "" {
			f[k] = strings.TrimSpace(e.text)
		} else if v, ok := e.attrs[attr]; ok {
			f[k+"@"+attr] = v
		}
	}
	set("name", dom.one("name"), "")
	set("uuid", dom.one("uuid"), "")
	if m := dom.one("memory"); m != nil {
		f["memory"] = kib(m)
	}
	if m := dom.one("currentMemory"); m != nil {
		f["currentMemory"] = kib(m)
	}
	if v := dom.one("vcpu"); v != nil {
		f["vcpu"] = strings.TrimSpace(v.text)
		f["vcpu@current"] = f["vcpu"]
		set("vcpu", v, "current")
	}
	set("bootloader", dom.one("bootloader"), "")
	if os := dom.one("os"); os != nil {
		t := os.one("type")
		set("os/type", t, "")
		set("os/type", t, "arch")
		set("os/type", t, "machine")
		set("os/kernel", os.one("kernel"), "")
		set("os/initrd", os.one("initrd"), "")
		set("os/cmdline", os.one("cmdline"), "")
		var boot []string
		for _, b := range os.all("boot") {
			boot = append(boot, b.attrs["dev"])
		}
		if len(boot) > 0 {
			f["os/boot"] = strings.Join(boot, ",")
		}
	}
	if ft := dom.one("features"); ft != nil {
		for _, k := range []string{"pae", "acpi", "apic", "viridian"} {
			if ft.one(k) != nil {
				f["features/"+k] = "on"
			}
		}
		set("features/hap", ft.one("hap"), "state")
		if x := ft.one("xen"); x != nil {
			set("features/xen/e820_host", x.one("e820_host"), "state")
		}
	}
	for _, k := range []string{"on_poweroff", "on_reboot", "on_crash"} {
		set(k, dom.one(k), "")
	}
	devs := dom.one("devices")
	if devs == nil {
		return f, nil
	}
	for _, d := range devs.all("disk") {
		t := d.one("target")
		if t == nil {
			continue
		}
		p := "disk[" + t.attrs["dev"] + "]"
		f[p] = "present"
		set(p, d, "type")
		set(p, d, "device")
		set(p+"/driver", d.one("driver"), "name")
		set(p+"/driver", d.one("driver"), "type")
		set(p+"/source", d.one("source"), "file")
		set(p+"/source", d.one("source"), "dev")
		set(p+"/target", t, "bus")
		if d.one("readonly") != nil {
			f[p+"/readonly"] = "yes"
		}
	}
	for _, c := range devs.all("controller") {
		if c.attrs["type"] == "xenbus" {
			set("controller[xenbus]", c, "maxGrantFrames")
			set("controller[xenbus]", c, "maxEventChannels")
		}
	}
	for i, n := range devs.all("interface") {
		p := fmt.Sprintf("interface[%d]", i)
		f[p+"@type"] = n.attrs["type"]
		set(p+"/mac", n.one("mac"), "address")
		set(p+"/source", n.one("source"), "bridge")
		set(p+"/script", n.one("script"), "path")
		set(p+"/model", n.one("model"), "type")
		set(p+"/target", n.one("target"), "dev")
		var ips []string
		for _, ip := range n.all("ip") {
			ips = append(ips, ip.attrs["address"])
		}
		if len(ips) > 0 {
			f[p+"/ip"] = strings.Join(ips, " ")
		}
		if bw := n.one("bandwidth"); bw != nil && bw.one("outbound") != nil {
			f[p+"/bandwidth"] = "present"
			set(p+"/bandwidth", bw.one("outbound"), "average")
		}
	}
	for _, g := range devs.all("graphics") {
		p := "graphics[" + g.attrs["type"] + "]"
		f[p] = "present"
		for _, a := range []string{"port", "autoport", "listen", "keymap", "display", "xauth"} {
			set(p, g, a)
		}
	}
	for _, s := range devs.all("serial") {
		port := "0"
		if t := s.one("target"); t != nil && t.attrs["port"] != "" {
			port = t.attrs["port"]
		}
		f["serial["+port+"]@type"] = s.attrs["type"]
	}
	return f, nil
}

// Compare returns the facts on which xfeat's XML (ours) and libvirt's
// (theirs) disagree, sorted by key. Facts of the deliberate differences
// are dropped first: a uuid, on_* action, boot order, memory, vcpus or
// display libvirt writes but xfeat does not, a disk driver name xfeat
// leaves to libxl, the zero MAC of a vif without mac=, bridges with a dot
// or colon, bandwidth averages, e820_host state='off'. libvirt's implicit
// devices are no facts at all.
func Compare(ours, theirs []byte) ([]Diff, error) {
	diffs, _, err := CompareAll(ours, theirs)
	return diffs, err
}

// CompareAll is Compare, also naming the deliberate differences
// (Deliberate's names) that took out a fact on which the two disagreed.
func CompareAll(ours, theirs []byte) (diffs []Diff, applied []string, err error) {
	a, err := Facts(ours)
	if err != nil {
		return nil, nil, fmt.Errorf("xfeat's XML: %w", err)
	}
	b, err := Facts(theirs)
	if err != nil {
		return nil, nil, fmt.Errorf("libvirt's XML: %w", err)
	}
	used := map[string]bool{}
	drop := func(rule, k string) {
		if a[k] != b[k] {
			used[rule] = true
		}
		delete(a, k)
		delete(b, k)
	}
	// What libvirt writes that the xl.cfg did not say.
	for k, rule := range map[string]string{
		"uuid": "uuid when xl.cfg sets none", "on_poweroff": "on_* actions xl.cfg does not set",
		"on_reboot": "on_* actions xl.cfg does not set", "on_crash": "on_* actions xl.cfg does not set",
		"os/boot": "HVM display and boot when xl.cfg sets none", "memory": "memory and vcpus xl.cfg does not set",
		"currentMemory": "memory and vcpus xl.cfg does not set", "vcpu": "memory and vcpus xl.cfg does not set",
		"vcpu@current": "memory and vcpus xl.cfg does not set",
	} {
		if _, ok := a[k]; !ok {
			drop(rule, k)
		}
	}
	if b["os/boot"] == "hd" && a["os/boot"] == "hd,cdrom,fd" {
		drop("HVM display and boot when xl.cfg sets none", "os/boot") // libxl's default cda against libvirt's c
	}
	if a["features/xen/e820_host@state"] == "off" {
		drop("e820_host=0", "features/xen/e820_host@state")
	}
	for k := range a {
		if strings.HasPrefix(k, "interface[") && strings.HasSuffix(k, "/source@bridge") && strings.ContainsAny(a[k], ".:") {
			drop("bridge with a dot or colon", k)
		}
		if strings.HasPrefix(k, "interface[") && strings.HasSuffix(k, "/bandwidth@average") {
			drop("bandwidth average", k)
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok && strings.HasPrefix(k, "interface[") && strings.HasSuffix(k, "/mac@address") && v == "00:00:00:00:00:00" {
			drop("MAC of a vif without mac=", k)
		}
		if _, ok := a[k]; !ok && strings.HasPrefix(k, "disk[") && strings.HasSuffix(k, "/driver@name") {
			drop("driver name of a disk without backendtype=", k) // libxl's choice, not qemu
		}
	}
	// libxl's default display of an HVM guest, which libvirt does not write.
	if !hasPrefixKey(b, "graphics[") && a["graphics[vnc]@autoport"] == "yes" && a["graphics[vnc]@listen"] == "" &&
		a["os/type"] == "hvm" && !hasPrefixKey(a, "graphics[sdl]") {
		for k := range a {
			if strings.HasPrefix(k, "graphics[") {
				drop("HVM display and boot when xl.cfg sets none", k)
			}
		}
	}
	if b["os/type@machine"] == "" {
		delete(a, "os/type@machine")
	}
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	for k := range keys {
		if a[k] != b[k] {
			diffs = append(diffs, Diff{Key: k, Ours: a[k], Theirs: b[k]})
		}
	}
	sort.Slice(diffs, func(i, j int) bool { return diffs[i].Key < diffs[j].Key })
	for r := range used {
		applied = append(applied, r)
	}
	sort.Strings(applied)
	return diffs, applied, nil
}

// Diff is one fact on which the two XMLs disagree ("" where one has none).
type Diff struct {
	Key, Ours, Theirs string
}

func (d Diff) String() string {
	return fmt.Sprintf("%s: xfeat %q, libvirt %q", d.Key, d.Ours, d.Theirs)
}

// OnlyIn returns the elements of a that b lacks, as paths from <domain>
// (devices/input[type=tablet]), sorted: what one converter writes and the
// other does not, beyond the facts Compare weighs.
func OnlyIn(a, b []byte) []string {
	x, err1 := parse(a)
	y, err2 := parse(b)
	if err1 != nil || err2 != nil {
		return nil
	}
	have := map[string]bool{}
	for _, p := range elemPaths(y, "") {
		have[p] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range elemPaths(x, "") {
		if !have[p] && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func elemPaths(e *elem, prefix string) []string {
	var out []string
	for _, k := range e.kids {
		p := prefix + k.name
		if t := k.attrs["type"]; t != "" {
			p += "[type=" + t + "]"
		}
		out = append(out, p)
		out = append(out, elemPaths(k, p+"/")...)
	}
	return out
}

func hasPrefixKey(m map[string]string, p string) bool {
	for k := range m {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}
