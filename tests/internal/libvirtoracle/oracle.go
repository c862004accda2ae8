// Package libvirtoracle compares the domain XML of `xfeat convert --to
// libvirt` with what libvirt's own xen-xl converter (`virsh -c xen:///
// domxml-from-native xen-xl FILE`, libvirtd with the libxl driver in a Xen
// dom0) makes of the same xl.cfg: the oracle of the real-host test.
//
// Both XMLs are reduced to facts, path -> value ("disk[xvda]/driver@type"
// -> "qcow2"): the elements and attributes both converters write for an
// xl.cfg without xfeat keys. Compare reports every fact on which they
// disagree, after the deliberate differences (Deliberate) are taken out.
// Elements only one side writes are not facts: libvirt's implicit devices
// (console, input, memballoon), <clock>, <os><loader> and IDE addresses on
// its side; <metadata>, <backenddomain>, <mtu>, <driver queues> and the
// like on xfeat's.
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

// Deliberate lists xfeat's known differences from libvirt's converter, by
// the facts they concern; Compare drops those facts from both sides.
var Deliberate = []struct {
	Name, Why string
}{
	{"driver name of a disk without backendtype=", "libvirt writes name='qemu' (qdisk); xfeat writes none, so that libxl picks the backend as xl would"},
	{"bandwidth average", "libvirt reads rate= M/G as 1024/1024² and drops the interval; xfeat writes the KiB/s its libxl driver turns back into xl's bytes per second"},
	{"uuid when xl.cfg sets none", "libvirt makes up a random one; xfeat writes none"},
	{"on_* actions xl.cfg does not set", "libvirt writes its defaults (on_crash restart, where xl's is destroy); xfeat writes none"},
	{"HVM display and boot when xl.cfg sets none", "libxl starts VNC and boots cda by default; libvirt's converter writes no graphics and boot hd"},
	{"bridge with a dot or colon", "libvirt reads BRIDGE.VLAN / BRIDGE:TRUNK as Open vSwitch; xfeat keeps the bridge name"},
	{"e820_host=0", "xfeat writes <e820_host state='off'/>, libvirt nothing"},
	{"numbers with a leading 0", "xl reads 010 as 8 (strtol base 0), libvirt as 10"},
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
// (theirs) disagree, as "KEY: ours X, libvirt Y", sorted. Facts of the
// deliberate differences are dropped first: a uuid, on_* action, boot
// order or display libvirt writes but xfeat does not, a disk driver name
// xfeat leaves to libxl, bridges with a dot or colon, bandwidth averages,
// e820_host state='off'. libvirt's implicit devices are no facts at all.
func Compare(ours, theirs []byte) ([]string, error) {
	a, err := Facts(ours)
	if err != nil {
		return nil, fmt.Errorf("xfeat's XML: %w", err)
	}
	b, err := Facts(theirs)
	if err != nil {
		return nil, fmt.Errorf("libvirt's XML: %w", err)
	}
	drop := func(k string) { delete(a, k); delete(b, k) }
	// What libvirt writes that the xl.cfg did not say.
	for _, k := range []string{"uuid", "on_poweroff", "on_reboot", "on_crash", "os/boot"} {
		if _, ok := a[k]; !ok {
			delete(b, k)
		}
	}
	if _, ok := a["os/boot"]; ok && b["os/boot"] == "hd" && a["os/boot"] == "hd,cdrom,fd" {
		drop("os/boot") // libxl's default cda against libvirt's c
	}
	if a["features/xen/e820_host@state"] == "off" {
		drop("features/xen/e820_host@state")
	}
	// Memory and vcpus xfeat writes only when set; libvirt always.
	for _, k := range []string{"memory", "currentMemory", "vcpu", "vcpu@current"} {
		if _, ok := a[k]; !ok {
			delete(b, k)
		}
	}
	for k := range a {
		if strings.HasPrefix(k, "interface[") && strings.HasSuffix(k, "/source@bridge") && strings.ContainsAny(a[k], ".:") {
			drop(k)
		}
	}
	for k := range b {
		if strings.HasPrefix(k, "disk[") && strings.HasSuffix(k, "/driver@name") {
			if _, ok := a[k]; !ok {
				drop(k) // no backendtype=: libxl's choice, not qemu
			}
		}
	}
	// libxl's default display of an HVM guest, which libvirt does not write.
	if !hasPrefixKey(b, "graphics[") && a["graphics[vnc]@autoport"] == "yes" && a["graphics[vnc]@listen"] == "127.0.0.1" &&
		a["os/type"] == "hvm" && !hasPrefixKey(a, "graphics[sdl]") {
		for k := range a {
			if strings.HasPrefix(k, "graphics[") {
				delete(a, k)
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
	var diffs []string
	for k := range keys {
		if a[k] != b[k] {
			diffs = append(diffs, fmt.Sprintf("%s: xfeat %q, libvirt %q", k, a[k], b[k]))
		}
	}
	sort.Strings(diffs)
	return diffs, nil
}

func hasPrefixKey(m map[string]string, p string) bool {
	for k := range m {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}
