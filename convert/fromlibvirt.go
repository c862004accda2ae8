package convert

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/pv"
)

// stmt is one top-level setting to write.
type stmt struct {
	name  string
	value *parser.Value
}

// cfgOut is what a domain's XML gives in xl.cfg terms, before it is
// written: the settings of each group (groups), the device specs, and the
// settings kept in xfeat's metadata.
type cfgOut struct {
	groups      map[string][]stmt
	vifs, disks []string
	passthrough []stmt
	// meta, when set, has the <xfeat:written> records render applies.
	meta *meta
}

func str(s string) *parser.Value { return parser.StringValue(s) }
func num(n int64) *parser.Value  { return parser.NumberValue(strconv.FormatInt(n, 10)) }

// stmtsText renders settings as xl.cfg lines in canonical style: the form
// in which a group's settings are compared with a <xfeat:written> record.
func stmtsText(ss []stmt) string {
	var b strings.Builder
	for _, s := range ss {
		b.WriteString(s.name + " = " + s.value.String() + "\n")
	}
	return b.String()
}

// reader converts one domain.
type reader struct {
	filename string
	diags    parser.Diagnostics
	out      cfgOut
	meta     *meta
	hvm      bool
	// spelling: apply <xfeat:written> records (off while xfeat checks
	// what its own XML derives).
	spelling bool
}

func (r *reader) warn(at parser.Range, summary, detail string) {
	r.diags = append(r.diags, &parser.Diagnostic{Severity: parser.DiagWarning, Summary: summary, Detail: detail, Subject: at.Ptr()})
}

func (r *reader) errorf(at parser.Range, summary, detail string) {
	r.diags = append(r.diags, &parser.Diagnostic{Severity: parser.DiagError, Summary: summary, Detail: detail, Subject: at.Ptr()})
}

func (r *reader) set(group string, name string, v *parser.Value) {
	r.out.groups[group] = append(r.out.groups[group], stmt{name, v})
}

// FromLibvirt converts libvirt domain XML (src, named filename in
// messages) to xl.cfg text. Elements and attributes without an xl.cfg
// equivalent are reported as warnings (errors with Options.Strict) at
// their FILE:LINE:COL; libvirt's implicit devices (the PV console, the
// xen mouse and keyboard, the xen memballoon, an empty xenbus controller)
// and the default clock are taken silently. The result is nil when
// diagnostics has an error.
func FromLibvirt(filename string, src []byte, opts Options) ([]byte, parser.Diagnostics) {
	out, diags := readDomain(filename, src, true)
	if opts.Strict {
		diags = strict(diags)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	text, more := out.render(filename)
	diags = append(diags, more...)
	if diags.HasErrors() {
		return nil, diags
	}
	return text, diags
}

func strict(diags parser.Diagnostics) parser.Diagnostics {
	for _, d := range diags {
		if d.Severity == parser.DiagWarning {
			d.Severity = parser.DiagError
			d.Detail = strings.TrimSuffix(d.Detail+"; --strict", "; --strict")
			if d.Detail == "" {
				d.Detail = "--strict makes it an error"
			} else {
				d.Detail += " (--strict makes it an error)"
			}
		}
	}
	return diags
}

// readDomain reads the XML into xl.cfg terms.
func readDomain(filename string, src []byte, spelling bool) (*cfgOut, parser.Diagnostics) {
	root, err := parseXML(filename, src)
	if err != nil {
		return nil, parser.Diagnostics{{Severity: parser.DiagError, Summary: err.Error()}}
	}
	r := &reader{filename: filename, spelling: spelling, out: cfgOut{groups: map[string][]stmt{}}}
	if root.name != "domain" || root.space != "" {
		r.errorf(root.at, "the root element is <"+qname(root.space, root.name)+">, not <domain>", "give a libvirt domain description (virsh dumpxml)")
		return nil, r.diags
	}
	root.used = true
	if t, _ := root.attr("type"); t != "xen" {
		r.errorf(root.at, fmt.Sprintf("domain type=%q is not a Xen domain", t), "xl.cfg describes Xen domains: <domain type='xen'>")
		return nil, r.diags
	}
	root.attr("id") // a running domain's id: not configuration
	if md := root.child("metadata"); md != nil {
		for _, k := range md.kids {
			if k.space == Namespace && k.name == "xl" {
				k.used = true
				r.meta = readMeta(k, func(at parser.Range, msg string) { r.warn(at, msg, "the entry is ignored") })
				break
			}
		}
	}
	r.domain(root)
	if r.diags.HasErrors() {
		return nil, r.diags
	}
	r.metaSettings()
	if spelling {
		r.out.meta = r.meta
	}
	root.unused(func(at parser.Range, what string) {
		r.warn(at, what+" has no xl.cfg equivalent", "left out of the xl.cfg")
	})
	r.unmatchedMeta()
	sort.SliceStable(r.diags, func(i, j int) bool {
		a, b := r.diags[i].Subject, r.diags[j].Subject
		if a == nil || b == nil {
			return a == nil && b != nil
		}
		return a.Start.Byte < b.Start.Byte
	})
	return &r.out, r.diags
}

func (r *reader) domain(root *node) {
	name := root.child("name")
	if name == nil || name.text == "" {
		r.errorf(root.at, "the domain has no <name>", "xl needs name=")
		return
	}
	r.set("name", "name", str(name.text))
	if u := root.child("uuid"); u != nil {
		if !reUUID.MatchString(u.text) {
			r.errorf(u.at, fmt.Sprintf("uuid %q is not a UUID", u.text), "")
		} else {
			r.set("uuid", "uuid", str(u.text))
		}
	}
	r.os(root)
	r.memory(root)
	r.vcpus(root)
	r.features(root)
	for _, ev := range []string{"on_poweroff", "on_reboot", "on_crash"} {
		if n := root.child(ev); n != nil {
			v := strings.TrimSpace(n.text)
			if !contains(xlActions, v) {
				r.errorf(n.at, fmt.Sprintf("<%s>%s</%s> is not an xl action", ev, v, ev), "xl's actions: "+strings.Join(xlActions, ", "))
				continue
			}
			r.set(ev, ev, str(v))
		}
	}
	r.clock(root)
	if d := root.child("devices"); d != nil {
		r.devices(d)
	}
}

func (r *reader) os(root *node) {
	if b := root.child("bootloader"); b != nil && b.text != "" {
		r.set("bootloader", "bootloader", str(b.text))
	}
	os := root.child("os")
	if os == nil {
		r.set("type", "type", str("pv"))
		return
	}
	t := os.child("type")
	typ := "pv"
	if t != nil {
		t.attr("arch")
		t.attr("machine")
		switch strings.TrimSpace(t.text) {
		case "linux", "xen":
		case "xenpvh":
			typ = "pvh"
		case "hvm":
			typ = "hvm"
		default:
			r.errorf(t.at, fmt.Sprintf("os type %q is not a Xen guest type", strings.TrimSpace(t.text)), "Xen's are linux (PV), xenpvh (PVH) and hvm")
			return
		}
	}
	r.hvm = typ == "hvm"
	r.set("type", "type", str(typ))
	if k := os.child("kernel"); k != nil {
		r.set("kernel", "kernel", str(k.text))
	}
	if k := os.child("initrd"); k != nil {
		r.set("ramdisk", "ramdisk", str(k.text))
	}
	if k := os.child("cmdline"); k != nil {
		r.set("cmdline", "cmdline", str(k.text))
	}
	if !r.hvm {
		return
	}
	if l := os.child("loader"); l != nil {
		// libvirt's converter fills in the host's hvmloader: what xl uses
		// anyway. Another firmware has no plain xl.cfg equivalent here.
		if typ, _ := l.attr("type"); typ == "pflash" || !strings.HasSuffix(l.text, "/hvmloader") {
			l.used = false
		}
	}
	var boot strings.Builder
	for _, b := range os.children("", "boot") {
		dev, _ := b.attr("dev")
		c := map[string]byte{"fd": 'a', "hd": 'c', "cdrom": 'd', "network": 'n'}[dev]
		if c == 0 {
			r.warn(b.at, fmt.Sprintf("boot dev=%q has no xl boot letter", dev), "left out of boot=")
			continue
		}
		boot.WriteByte(c)
	}
	if boot.Len() == 0 {
		boot.WriteByte('c') // libvirt boots from the disk when no <boot> says otherwise
	}
	r.set("boot", "boot", str(boot.String()))
}

// scaled reads a libvirt scaledInteger (an element's text and unit=) in
// bytes.
func scaled(n *node) (uint64, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(n.text), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", n.text)
	}
	unit, _ := n.attr("unit")
	var mul uint64
	switch strings.ToLower(unit) {
	case "b", "byte", "bytes":
		mul = 1
	case "", "k", "kib":
		mul = 1 << 10
	case "kb":
		mul = 1000
	case "m", "mib":
		mul = 1 << 20
	case "mb":
		mul = 1000 * 1000
	case "g", "gib":
		mul = 1 << 30
	case "gb":
		mul = 1000 * 1000 * 1000
	case "t", "tib":
		mul = 1 << 40
	case "tb":
		mul = 1000 * 1000 * 1000 * 1000
	default:
		return 0, fmt.Errorf("unit %q is not one xfeat knows", unit)
	}
	if v > math.MaxUint64/mul {
		return 0, fmt.Errorf("%s %s is too large", n.text, unit)
	}
	return v * mul, nil
}

// mib rounds bytes up to MiB, as libvirt does for xl's memory keys.
func mib(b uint64) int64 { return int64((b + 1<<20 - 1) >> 20) }

func (r *reader) memory(root *node) {
	m, c := root.child("memory"), root.child("currentMemory")
	if m == nil {
		if c != nil {
			c.used = false
		}
		return
	}
	max, err := scaled(m)
	if err != nil {
		r.errorf(m.at, "<memory>: "+err.Error(), "")
		return
	}
	cur := max
	if c != nil {
		if cur, err = scaled(c); err != nil {
			r.errorf(c.at, "<currentMemory>: "+err.Error(), "")
			return
		}
		if cur > max {
			r.warn(c.at, "<currentMemory> is larger than <memory>", "memory = <memory>, as libvirt does")
			cur = max
		}
	}
	r.set("memory", "memory", num(mib(cur)))
	if mib(cur) != mib(max) {
		r.set("memory", "maxmem", num(mib(max)))
	}
}

func (r *reader) vcpus(root *node) {
	v := root.child("vcpu")
	if v == nil {
		return
	}
	v.attr("placement")
	max, err := strconv.ParseUint(strings.TrimSpace(v.text), 10, 31)
	if err != nil || max == 0 {
		r.errorf(v.at, fmt.Sprintf("<vcpu>%s</vcpu> is not a number of vCPUs", v.text), "")
		return
	}
	cur := max
	if s, ok := v.attr("current"); ok {
		if cur, err = strconv.ParseUint(s, 10, 31); err != nil || cur == 0 || cur > max {
			r.errorf(v.at, fmt.Sprintf("<vcpu current=%q> is not a number of vCPUs up to %d", s, max), "")
			return
		}
	}
	r.set("vcpus", "vcpus", num(int64(cur)))
	if cur != max {
		r.set("vcpus", "maxvcpus", num(int64(max)))
	}
}

// state reads a featurestate element: on unless state='off'.
func state(n *node) bool {
	s, ok := n.attr("state")
	return !ok || s == "on"
}

func (r *reader) features(root *node) {
	f := root.child("features")
	if f == nil {
		if r.hvm {
			for _, k := range []string{"pae", "acpi", "apic", "viridian"} {
				r.set(k, k, num(0))
			}
		}
		return
	}
	if r.hvm {
		for _, k := range []string{"pae", "acpi", "apic", "viridian"} {
			on := int64(0)
			if f.child(k) != nil {
				on = 1
			}
			r.set(k, k, num(on))
		}
		if h := f.child("hap"); h != nil && !state(h) {
			r.set("hap", "hap", num(0))
		}
		return
	}
	if x := f.child("xen"); x != nil {
		if e := x.child("e820_host"); e != nil {
			on := int64(0)
			if state(e) {
				on = 1
			}
			r.set("e820_host", "e820_host", num(on))
		}
	}
}

func (r *reader) clock(root *node) {
	c := root.child("clock")
	if c == nil {
		return
	}
	// What xl does without localtime= and rtc_timeoffset=; anything else
	// stays unused and is reported.
	off, _ := c.attr("offset")
	adj, hasAdj := c.attr("adjustment")
	basis, _ := c.attr("basis")
	switch {
	case off == "utc" && (!hasAdj || adj == "reset"):
	case off == "variable" && (!hasAdj || adj == "0") && (basis == "" || basis == "utc"):
	default:
		c.used = false
	}
}

func (r *reader) devices(d *node) {
	for _, e := range d.children("", "emulator") {
		e.used = false // device_model_override has no place here: reported
	}
	for _, disk := range d.children("", "disk") {
		r.disk(disk)
	}
	for _, c := range d.children("", "controller") {
		typ, _ := c.attr("type")
		c.attr("index")
		switch typ {
		case "xenbus":
			for _, a := range []struct{ attr, key string }{{"maxGrantFrames", "max_grant_frames"}, {"maxEventChannels", "max_event_channels"}} {
				if s, ok := c.attr(a.attr); ok {
					n, err := strconv.ParseUint(s, 10, 31)
					if err != nil {
						r.errorf(c.at, fmt.Sprintf("%s=%q is not a number", a.attr, s), "")
						continue
					}
					r.set(a.key, a.key, num(int64(n)))
				}
			}
		case "ide":
			// added by libvirt for IDE disks; xl derives it from vdev
		default:
			c.used = false
		}
	}
	for i, n := range d.children("", "interface") {
		r.iface(n, i)
	}
	r.serials(d)
	for _, c := range d.children("", "console") {
		t := c.child("target")
		typ, _ := c.attr("type")
		ttyp := ""
		if t != nil {
			ttyp, _ = t.attr("type")
			t.attr("port")
		}
		if typ != "pty" || ttyp != "xen" {
			c.used = false // xl's console is always the PV one
		}
	}
	for _, in := range d.children("", "input") {
		typ, _ := in.attr("type")
		bus, _ := in.attr("bus")
		if !(typ == "mouse" || typ == "keyboard") || !(bus == "xen" || bus == "ps2") {
			in.used = false // libvirt's implicit ones; others are reported
		}
	}
	for _, mb := range d.children("", "memballoon") {
		if m, _ := mb.attr("model"); m != "xen" {
			mb.used = false
		}
	}
	r.graphics(d)
}

// serials maps <serial> elements to serial= (HVM only, as in xl).
func (r *reader) serials(d *node) {
	ss := d.children("", "serial")
	if len(ss) == 0 {
		return
	}
	if !r.hvm {
		for _, s := range ss {
			s.used = false
		}
		return
	}
	byPort := map[int]string{}
	max := -1
	for _, s := range ss {
		port := 0
		if t := s.child("target"); t != nil {
			if p, ok := t.attr("port"); ok {
				n, err := strconv.Atoi(p)
				if err != nil || n < 0 || n > 255 {
					r.warn(t.at, fmt.Sprintf("serial port %q is not a port number", p), "left out of serial=")
					continue
				}
				port = n
			}
		}
		typ, _ := s.attr("type")
		var v string
		switch typ {
		case "pty", "null", "vc", "stdio":
			v = typ
		case "file", "pipe", "dev":
			src := s.child("source")
			path := ""
			if src != nil {
				path, _ = src.attr("path")
			}
			if path == "" {
				s.used = false
				continue
			}
			v = path
			if typ != "dev" {
				v = typ + ":" + path
			}
		default:
			s.used = false
			continue
		}
		byPort[port] = v
		if port > max {
			max = port
		}
	}
	if max < 0 {
		return
	}
	if max == 0 {
		r.set("serial", "serial", str(byPort[0]))
		return
	}
	var items []*parser.Value
	for p := 0; p <= max; p++ {
		v, ok := byPort[p]
		if !ok {
			v = "none"
		}
		items = append(items, str(v))
	}
	r.set("serial", "serial", parser.ListValue(items...))
}

// graphics maps the first vnc or sdl <graphics>, the one display libvirt's
// libxl driver starts, to xl's top-level keys for an HVM guest (no vnc one
// is vnc = 0: libvirt's libxl driver turns off the VNC that libxl would
// start) or to a vfb for a PV guest. Another display is reported: xl
// would start it too.
func (r *reader) graphics(d *node) {
	gs := d.children("", "graphics")
	var vnc, sdl *node
	for _, g := range gs {
		switch typ, _ := g.attr("type"); {
		case typ == "vnc" && vnc == nil && sdl == nil:
			vnc = g
		case typ == "sdl" && sdl == nil && vnc == nil:
			sdl = g
		default:
			g.used = false
		}
	}
	var kv [][2]string
	if vnc != nil {
		port, _ := vnc.attr("port")
		auto, _ := vnc.attr("autoport")
		listen, _ := vnc.attr("listen")
		for _, l := range vnc.children("", "listen") {
			lt, _ := l.attr("type")
			a, _ := l.attr("address")
			if lt == "address" && (listen == "" || a == listen) {
				listen = a
			} else {
				l.used = false
			}
		}
		kv = append(kv, [2]string{"vnc", "1"})
		if auto == "yes" || port == "" || port == "-1" {
			kv = append(kv, [2]string{"vncunused", "1"})
		} else if p, err := strconv.Atoi(port); err != nil || p < 5900 {
			r.warn(vnc.at, fmt.Sprintf("vnc port %q is below 5900", port), "xl's vncdisplay counts from 5900: left out")
		} else {
			kv = append(kv, [2]string{"vncunused", "0"}, [2]string{"vncdisplay", strconv.Itoa(p - 5900)})
		}
		if listen != "" {
			kv = append(kv, [2]string{"vnclisten", listen})
		}
		if pw, ok := vnc.attr("passwd"); ok {
			kv = append(kv, [2]string{"vncpasswd", pw})
		}
		if km, ok := vnc.attr("keymap"); ok {
			kv = append(kv, [2]string{"keymap", km})
		}
	} else if r.hvm {
		kv = append(kv, [2]string{"vnc", "0"})
	}
	if sdl != nil {
		kv = append(kv, [2]string{"sdl", "1"})
		if v, ok := sdl.attr("display"); ok {
			kv = append(kv, [2]string{"display", v})
		}
		if v, ok := sdl.attr("xauth"); ok {
			kv = append(kv, [2]string{"xauthority", v})
		}
	}
	if r.hvm {
		for _, p := range kv {
			switch p[0] {
			case "vnc", "sdl", "vncunused", "vncdisplay":
				n, _ := strconv.Atoi(p[1])
				r.set("graphics", p[0], num(int64(n)))
			default:
				r.set("graphics", p[0], str(p[1]))
			}
		}
		return
	}
	if len(kv) == 0 {
		return
	}
	// A PV guest's display is a vfb: the same keys in one spec.
	typ := "vnc"
	if sdl != nil {
		typ = "sdl"
	}
	parts := []string{"type=" + typ}
	for _, p := range kv[1:] {
		parts = append(parts, p[0]+"="+p[1])
	}
	r.set("graphics", "vfb", parser.ListValue(str(strings.Join(parts, ","))))
}

// iface maps the index-th <interface> to a vif spec.
func (r *reader) iface(n *node, index int) {
	typ, _ := n.attr("type")
	if typ != "bridge" && typ != "ethernet" {
		n.used = false
		return
	}
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	mac := ""
	if m := n.child("mac"); m != nil {
		mac, _ = m.attr("address")
		mac = strings.ToLower(mac)
	}
	add("mac", mac)
	if typ == "bridge" {
		if s := n.child("source"); s != nil {
			b, _ := s.attr("bridge")
			add("bridge", b)
		}
	}
	var ips []string
	for _, ip := range n.children("", "ip") {
		a, _ := ip.attr("address")
		ips = append(ips, a)
	}
	add("ip", strings.Join(ips, " "))
	if s := n.child("script"); s != nil {
		p, _ := s.attr("path")
		add("script", p)
	}
	if m := n.child("model"); m != nil {
		t, _ := m.attr("type")
		if t == "netfront" {
			add("type", "vif")
		} else {
			add("model", t)
		}
	}
	if t := n.child("target"); t != nil {
		dev, _ := t.attr("dev")
		add("vifname", dev)
	}
	if b := n.child("backenddomain"); b != nil {
		name, _ := b.attr("name")
		add("backend", name)
	}
	md := r.meta.iface(mac, index)
	rate := ""
	if bw := n.child("bandwidth"); bw != nil {
		if o := bw.child("outbound"); o != nil {
			if avg, ok := o.attr("average"); ok {
				a, err := strconv.ParseUint(avg, 10, 32)
				if err != nil || a == 0 {
					r.errorf(o.at, fmt.Sprintf("average=%q is not a rate in KiB/s", avg), "")
					return
				}
				rate = strconv.FormatUint(a*1024, 10) + "B/s"
				// A rate the XML cannot hold exactly (an interval, a
				// decimal unit) is kept in the device's keys while the
				// XML's average still stands for it.
				if md != nil {
					if kept, ok := keyValue(md.keys, "rate"); ok {
						if rr, err := devspec.ParseRate(kept); err == nil {
							if ka, _ := rateAverage(rr); ka == a {
								rate = kept
							}
						}
					}
				}
			}
		}
	}
	add("rate", rate)
	if m := n.child("mtu"); m != nil {
		s, _ := m.attr("size")
		add("mtu", s)
	}
	var feats []string
	if drv := n.child("driver"); drv != nil {
		if q, ok := drv.attr("queues"); ok {
			feats = append(feats, "features="+queuesFeature(pv.Vif)+":"+q)
		}
		if h := drv.child("host"); h != nil {
			for _, o := range offloads {
				if v, ok := h.attr(o.attr); ok {
					val := o.on
					if v != "on" {
						val = flip(o.on)
					}
					feats = append(feats, "features="+o.feature+":"+val)
				}
			}
		}
	}
	if md != nil {
		if k := dropKey(md.keys, "rate"); k != "" {
			parts = append(parts, k)
		}
		for _, f := range md.features {
			feats = append(feats, "features="+f.name+":"+f.value)
		}
	}
	spec := strings.Join(append(parts, feats...), ",")
	r.out.vifs = append(r.out.vifs, r.spelled("vif", spec))
}

func flip(v string) string {
	if v == "1" {
		return "0"
	}
	return "1"
}

// keyValue finds key=VALUE among the comma-separated items of keys.
func keyValue(keys, key string) (string, bool) {
	for _, it := range strings.Split(keys, ",") {
		if k, v, ok := strings.Cut(it, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// dropKey removes key=... from the items of keys.
func dropKey(keys, key string) string {
	var out []string
	for _, it := range strings.Split(keys, ",") {
		if k, _, _ := strings.Cut(it, "="); k != key && it != "" {
			out = append(out, it)
		}
	}
	return strings.Join(out, ",")
}

// spelled returns the source's spelling of a derived spec, if recorded.
func (r *reader) spelled(list, derived string) string {
	if r.spelling {
		if s, ok := r.meta.source(list, derived); ok {
			return s
		}
	}
	return derived
}

func (r *reader) disk(n *node) {
	typ, _ := n.attr("type")
	dev, _ := n.attr("device")
	if typ != "file" && typ != "block" || dev != "" && dev != "disk" && dev != "cdrom" {
		n.used = false
		return
	}
	t := n.child("target")
	if t == nil {
		n.used = false
		return
	}
	vdev, _ := t.attr("dev")
	t.attr("bus")
	if a := n.child("address"); a != nil && func() bool { at, _ := a.attr("type"); return at == "drive" }() {
		for _, k := range []string{"controller", "bus", "target", "unit"} {
			a.attr(k) // libvirt's IDE address: xl derives it from vdev
		}
	}
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	var feats []string
	backendtype, format := "", ""
	discard := ""
	if drv := n.child("driver"); drv != nil {
		name, _ := drv.attr("name")
		switch name {
		case "":
		case "qemu", "file":
			backendtype = "qdisk"
		case "tap", "phy":
			backendtype = name
		default:
			r.warn(drv.at, fmt.Sprintf("driver name=%q has no xl backendtype", name), "left out: libxl picks the backend")
		}
		if f, ok := drv.attr("type"); ok {
			switch f {
			case "raw", "qcow", "qcow2", "vhd", "qed":
				format = f
			case "aio":
				format = "raw"
			default:
				r.warn(drv.at, fmt.Sprintf("format %q has no xl equivalent", f), "left out: xl assumes raw")
			}
		}
		if q, ok := drv.attr("queues"); ok {
			feats = append(feats, "features="+queuesFeature(pv.Vbd)+":"+q)
		}
		if d, ok := drv.attr("discard"); ok {
			discard = map[string]string{"unmap": "discard", "ignore": "no-discard"}[d]
		}
	}
	add("format", format)
	add("vdev", vdev)
	if n.child("readonly") != nil || dev == "cdrom" {
		add("access", "ro")
	} else {
		add("access", "rw")
	}
	add("backendtype", backendtype)
	if dev == "cdrom" {
		add("devtype", "cdrom")
	}
	if b := n.child("backenddomain"); b != nil {
		name, _ := b.attr("name")
		add("backend", name)
	}
	if discard != "" {
		parts = append(parts, discard)
	}
	if md := r.meta.disk(vdev); md != nil {
		if md.keys != "" {
			parts = append(parts, md.keys)
		}
		for _, f := range md.features {
			feats = append(feats, "features="+f.name+":"+f.value)
		}
	}
	parts = append(parts, feats...)
	if s := n.child("source"); s != nil {
		attr := "file"
		if typ == "block" {
			attr = "dev"
		}
		if p, ok := s.attr(attr); ok {
			if strings.HasSuffix(p, ",") {
				p += "," // target= drops one trailing comma
			}
			parts = append(parts, "target="+p)
		}
	}
	r.out.disks = append(r.out.disks, r.spelled("disk", strings.Join(parts, ",")))
}

// metaSettings adds the settings kept in xfeat's metadata.
func (r *reader) metaSettings() {
	if r.meta == nil {
		return
	}
	for _, s := range r.meta.settings {
		// An empty vif or disk list has no element; a full one is the XML's.
		if g := groupOf(s.name); g != "" || s.name == "vif" && len(r.out.vifs) > 0 || s.name == "disk" && len(r.out.disks) > 0 {
			r.warn(s.at, "xfeat metadata sets "+s.name+", which the XML expresses", "the XML's value is used")
			continue
		}
		f, diags := parser.Parse("<xfeat:setting "+s.name+">", []byte(s.name+" = "+s.value+"\n"), parser.Options{})
		if diags.HasErrors() || len(f.Settings()) != 1 {
			r.warn(s.at, "xfeat metadata setting "+s.name+" is not an xl.cfg value", "left out")
			continue
		}
		r.out.passthrough = append(r.out.passthrough, stmt{s.name, f.Settings()[0].Value})
	}
}

func (r *reader) unmatchedMeta() {
	if r.meta == nil {
		return
	}
	for _, d := range r.meta.ifaces {
		if !d.matched {
			r.warn(d.at, "xfeat metadata for an interface the XML does not have", "its features and keys are left out")
		}
	}
	for _, d := range r.meta.disks {
		if !d.matched {
			r.warn(d.at, "xfeat metadata for disk "+d.dev+", which the XML does not have", "its features and keys are left out")
		}
	}
}

// render writes the settings as an xl.cfg file through parser's writer,
// with the source's spelling where it was recorded, and checks the result
// as xfeat validate would.
func (o *cfgOut) render(filename string) ([]byte, parser.Diagnostics) {
	f, diags := parser.Parse(filename+".cfg", []byte("# xl.cfg converted by xfeat convert from "+oneLine(filename)+"\n"), parser.Options{})
	if diags.HasErrors() {
		return nil, diags
	}
	setAll := func(ss []stmt) error {
		for _, s := range ss {
			if err := f.Set(s.name, s.value); err != nil {
				return err
			}
		}
		return nil
	}
	fail := func(err error) parser.Diagnostics {
		return parser.Diagnostics{{Severity: parser.DiagError, Summary: "cannot write the xl.cfg: " + err.Error()}}
	}
	for _, g := range groups {
		ss, err := o.groupStmts(g.name)
		if err != nil {
			return nil, fail(err)
		}
		if err := setAll(ss); err != nil {
			return nil, fail(err)
		}
	}
	for _, l := range []struct {
		name  string
		specs []string
	}{{"vif", o.vifs}, {"disk", o.disks}} {
		if len(l.specs) == 0 {
			continue
		}
		var items []*parser.Value
		for _, s := range l.specs {
			items = append(items, str(s))
		}
		if err := f.Set(l.name, parser.ListValue(items...)); err != nil {
			return nil, fail(err)
		}
	}
	if err := setAll(o.passthrough); err != nil {
		return nil, fail(err)
	}
	text, err := parser.Format(f)
	if err != nil {
		return nil, fail(err)
	}
	// What is written must be what xfeat validate accepts.
	out, d := parser.Parse(filename+".cfg", text, parser.Options{})
	if d.HasErrors() {
		return nil, d
	}
	if _, d := devspec.CheckFile(out); d.HasErrors() {
		for _, e := range d {
			e.Summary = "the XML gives an invalid xl.cfg: " + e.Summary
		}
		return nil, d.Errs()
	}
	return text, nil
}

// groupStmts returns the settings of a group: as derived, or as the
// source wrote them when a <xfeat:written> record says so.
func (o *cfgOut) groupStmts(group string) ([]stmt, error) {
	ss := o.groups[group]
	src, ok := o.meta.source("", stmtsText(ss))
	if !ok {
		return ss, nil
	}
	if src == "" {
		return nil, nil
	}
	f, diags := parser.Parse("<xfeat:written>", []byte(src), parser.Options{})
	if diags.HasErrors() {
		return ss, nil // a damaged record: the XML's values stand
	}
	var out []stmt
	for _, s := range f.Settings() {
		if groupOf(s.Name) != group {
			return ss, nil
		}
		out = append(out, stmt{s.Name, s.Value})
	}
	return out, nil
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
