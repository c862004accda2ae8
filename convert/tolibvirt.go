package convert

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/pv"
)

// writer converts one parsed xl.cfg.
type writer struct {
	f     *parser.File
	cfg   *devspec.Config
	diags parser.Diagnostics
	used  map[string]bool // top-level keys expressed in libvirt's elements
	meta  meta
	hvm   bool
}

func (w *writer) errorf(at parser.Range, summary, detail string) {
	w.diags = append(w.diags, &parser.Diagnostic{Severity: parser.DiagError, Summary: summary, Detail: detail, Subject: at.Ptr()})
}

func (w *writer) warn(at parser.Range, summary, detail string) {
	w.diags = append(w.diags, &parser.Diagnostic{Severity: parser.DiagWarning, Summary: summary, Detail: detail, Subject: at.Ptr()})
}

// keptDetail is the detail of every "libvirt cannot express it" warning.
const keptDetail = "kept in xfeat's <metadata> (xfeat convert --from libvirt gives it back); libvirt does not apply it"

// get returns the setting xl uses for key and marks key as expressed.
func (w *writer) get(key string) *parser.Setting {
	s := w.f.Lookup(key)
	if s != nil {
		w.used[key] = true
	}
	return s
}

// str returns a string setting's value (ok false, with an error, for a
// list).
func (w *writer) str(key string) (string, *parser.Setting) {
	s := w.get(key)
	if s == nil {
		return "", nil
	}
	if s.Value.Kind != parser.KindString {
		w.errorf(s.Value.Range, key+" is a list but should be a single value", "xl reads it as a string")
		return "", nil
	}
	if !xmlText(s.Value.Str) {
		w.errorf(s.Value.Range, key+" holds a character XML cannot carry", "a control character other than tab, newline or CR")
		return "", nil
	}
	return s.Value.Str, s
}

// number returns a numeric setting as xl reads it.
func (w *writer) number(key string, min int64) (int64, *parser.Setting) {
	s := w.get(key)
	if s == nil {
		return 0, nil
	}
	n, ok := xlNumber(s.Value)
	if !ok {
		w.errorf(s.Value.Range, fmt.Sprintf("%s is not a number as xl reads it", key), "a number is decimal, 0x hexadecimal or 0 octal")
		return 0, nil
	}
	if n < min {
		w.errorf(s.Value.Range, fmt.Sprintf("%s %d is below %d", key, n, min), "")
		return 0, nil
	}
	return n, s
}

// ToLibvirt converts a parsed xl.cfg file to libvirt domain XML. Parts of
// xl.cfg that libvirt has no element for are kept in xfeat's <metadata>
// element and reported as warnings (errors with Options.Strict); what
// cannot be written at all (no name, a relative disk path, a multicast
// MAC, ...) is an error. The file's device specs and domain keys are
// checked as xfeat validate checks them: an error there is an error here.
// The result is nil when diagnostics has an error.
func ToLibvirt(f *parser.File, opts Options) ([]byte, parser.Diagnostics) {
	cfg, diags := devspec.CheckFile(f)
	if diags.HasErrors() {
		return nil, diags
	}
	w := &writer{f: f, cfg: cfg, used: map[string]bool{}, diags: diags}
	dom := w.domain()
	if w.diags.HasErrors() {
		return nil, w.diags
	}
	w.passthrough()
	// What the XML gives back, without spelling records: where the source
	// wrote the same thing differently, record its spelling.
	first := w.render(dom)
	back, d := readDomain(f.Filename+".xml", first, false)
	if d.HasErrors() {
		// xfeat wrote XML it cannot read: a bug, reported as such.
		return nil, append(w.diags, &parser.Diagnostic{Severity: parser.DiagError,
			Summary: "internal error: xfeat cannot read back the XML it wrote: " + d.Errs().Error()})
	}
	w.spellings(back)
	out := w.render(dom)
	if opts.Strict {
		w.diags = strict(w.diags)
	}
	sort.SliceStable(w.diags, func(i, j int) bool {
		a, b := w.diags[i].Subject, w.diags[j].Subject
		if a == nil || b == nil {
			return a == nil && b != nil
		}
		return a.Start.Byte < b.Start.Byte
	})
	if w.diags.HasErrors() {
		return nil, w.diags
	}
	return out, w.diags
}

// render writes dom with the metadata as it stands.
func (w *writer) render(dom *node) []byte {
	out := *dom
	out.kids = nil
	for _, k := range dom.kids {
		if k.name == "metadata" {
			// libvirt's place for it: after name and uuid.
			if x := w.meta.node(); x != nil {
				out.add(el("metadata").add(x))
			}
			continue
		}
		out.add(k)
	}
	var b strings.Builder
	out.write(&b, "", "")
	return []byte(b.String())
}

func (w *writer) domain() *node {
	dom := el("domain", "type", "xen")
	// devspec.CheckFile, which accepted the file, made sure of the name:
	// present, text, not a number (str marks the key as mapped).
	name, _ := w.str("name")
	dom.add(el("name").withText(name))
	if u, us := w.str("uuid"); us != nil {
		if !reUUID.MatchString(u) {
			w.errorf(us.Value.Range, fmt.Sprintf("uuid %q is not a UUID", u), "write 8-4-4-4-12 hexadecimal digits")
		}
		dom.add(el("uuid").withText(u))
	}
	dom.add(el("metadata"))
	dom.add(w.memory()...)
	dom.add(w.vcpus())
	dom.add(w.os()...)
	dom.add(w.features())
	for _, ev := range []struct {
		key     string
		allowed []string
	}{{"on_poweroff", offActions}, {"on_reboot", offActions}, {"on_crash", crashActions}} {
		v, s := w.str(ev.key)
		if s == nil {
			continue
		}
		switch {
		case !contains(xlActions, v):
			w.errorf(s.Value.Range, fmt.Sprintf("%s %q is not an xl action", ev.key, v), "xl's actions: "+strings.Join(xlActions, ", "))
		case !contains(ev.allowed, v):
			w.used[ev.key] = false
		default:
			dom.add(el(ev.key).withText(v))
		}
	}
	dom.add(w.devices())
	return dom
}

func (w *writer) memory() []*node {
	mem, ms := w.number("memory", 1)
	max, xs := w.number("maxmem", 1)
	if ms == nil && xs == nil {
		return nil
	}
	if ms != nil && xs != nil && max < mem {
		w.errorf(xs.Value.Range, fmt.Sprintf("maxmem %d is less than memory %d", max, mem), "xl refuses it")
		return nil
	}
	kib := func(n int64) string { return strconv.FormatInt(n*1024, 10) }
	if xs == nil {
		max = mem
	}
	out := []*node{el("memory", "unit", "KiB").withText(kib(max))}
	if ms != nil {
		out = append(out, el("currentMemory", "unit", "KiB").withText(kib(mem)))
	}
	return out
}

func (w *writer) vcpus() *node {
	cur, cs := w.number("vcpus", 1)
	max, ms := w.number("maxvcpus", 1)
	switch {
	case cs == nil && ms == nil:
		return nil
	case ms == nil:
		return el("vcpu", "placement", "static").withText(strconv.FormatInt(cur, 10))
	case cs == nil:
		return el("vcpu", "placement", "static").withText(strconv.FormatInt(max, 10))
	case cur > max:
		w.errorf(cs.Value.Range, fmt.Sprintf("vcpus %d is more than maxvcpus %d", cur, max), "")
		return nil
	case cur == max:
		return el("vcpu", "placement", "static").withText(strconv.FormatInt(max, 10))
	}
	return el("vcpu", "placement", "static", "current", strconv.FormatInt(cur, 10)).withText(strconv.FormatInt(max, 10))
}

// os returns <bootloader> and <os>.
func (w *writer) os() []*node {
	typ := "pv"
	if t, ts := w.str("type"); ts != nil {
		switch t {
		case "pv", "pvh", "hvm":
			typ = t
		default:
			w.errorf(ts.Value.Range, fmt.Sprintf("type %q is not pv, pvh or hvm", t), "")
		}
		w.used["builder"] = w.f.Lookup("builder") != nil
	} else if b, bs := w.str("builder"); bs != nil && b == "hvm" {
		typ = "hvm"
	}
	w.hvm = typ == "hvm"
	ostype := map[string]*node{
		"pv":  el("type", "arch", "x86_64", "machine", "xenpv").withText("linux"),
		"pvh": el("type", "arch", "x86_64", "machine", "xenpvh").withText("xenpvh"),
		"hvm": el("type", "arch", "x86_64", "machine", "xenfv").withText("hvm"),
	}[typ]
	os := el("os").add(ostype)
	var out []*node
	if b, bs := w.str("bootloader"); bs != nil && !w.hvm {
		out = append(out, el("bootloader").withText(b))
	} else if bs != nil {
		w.used["bootloader"] = false
	}
	for _, k := range []struct{ key, elem string }{{"kernel", "kernel"}, {"ramdisk", "initrd"}} {
		p, ps := w.str(k.key)
		if ps == nil {
			continue
		}
		if !reAbsPath.MatchString(p) {
			w.used[k.key] = false // libvirt takes absolute paths only
			continue
		}
		os.add(el(k.elem).withText(p))
	}
	// cmdline, else root= and extra= as libvirt joins them.
	cmdline, cs := w.str("cmdline")
	root, rs := w.str("root")
	extra, es := w.str("extra")
	switch {
	case cs != nil:
		if rs != nil || es != nil {
			w.warn(cs.NameRange, "cmdline is set: xl ignores root and extra", "they are left out, as xl leaves them out")
		}
	case rs != nil && es != nil:
		cmdline = "root=" + root + " " + extra
	case rs != nil:
		cmdline = "root=" + root
	case es != nil:
		cmdline = extra
	}
	if cs != nil || rs != nil || es != nil {
		os.add(el("cmdline").withText(cmdline))
	}
	if w.hvm {
		b, bs := w.str("boot")
		if bs == nil {
			b = "cda" // libxl's default, where libvirt's converter assumes c
		}
		{
			ok := b != ""
			for i := 0; i < len(b); i++ {
				ok = ok && strings.IndexByte("acdn", b[i]) >= 0
			}
			if ok {
				for i := 0; i < len(b); i++ {
					os.add(el("boot", "dev", map[byte]string{'a': "fd", 'c': "hd", 'd': "cdrom", 'n': "network"}[b[i]]))
				}
			} else {
				w.used["boot"] = false
			}
		}
	}
	return append(out, os)
}

func (w *writer) features() *node {
	f := el("features")
	if w.hvm {
		// xl's defaults: pae, acpi and apic on, hap on, viridian off. An
		// absent libvirt element means off, so the defaults are written.
		for _, k := range []struct {
			key string
			def bool
		}{{"pae", true}, {"acpi", true}, {"apic", true}, {"viridian", false}} {
			on := k.def
			s := w.get(k.key)
			if s != nil {
				b, ok := xlBool(s.Value)
				if !ok {
					w.errorf(s.Value.Range, k.key+" is not a number as xl reads it", "write 1 or 0")
					continue
				}
				on = b
			}
			if k.key == "pae" && !on {
				// libvirt's libxl driver turns PAE on for every x86_64
				// HVM guest, and every HVM guest of libvirt's is x86_64.
				w.warn(s.NameRange, "pae=0: libvirt turns PAE on for every x86_64 HVM guest", keptDetail)
				on = true
			}
			if on {
				f.add(el(k.key))
			}
		}
		if s := w.get("hap"); s != nil {
			b, ok := xlBool(s.Value)
			if !ok {
				w.errorf(s.Value.Range, "hap is not a number as xl reads it", "write 1 or 0")
			} else if !b {
				f.add(el("hap", "state", "off"))
			}
		}
	} else if e := w.cfg.Domain.E820Host; e != nil {
		w.used["e820_host"] = true
		st := "off"
		if *e {
			st = "on"
		}
		f.add(el("xen").add(el("e820_host", "state", st)))
	}
	if len(f.kids) == 0 {
		return nil
	}
	return f
}

func (w *writer) devices() *node {
	d := el("devices")
	for _, disk := range w.cfg.Disks {
		d.add(w.disk(disk))
	}
	if len(w.cfg.Disks) > 0 {
		w.used["disk"] = true
	}
	ctl := el("controller", "type", "xenbus", "index", "0")
	if g := w.cfg.Domain.MaxGrantFrames; g != nil {
		w.used["max_grant_frames"] = true
		ctl.attrs = append(ctl.attrs, attr{name: "maxGrantFrames", value: strconv.FormatUint(uint64(*g), 10)})
	}
	if e := w.cfg.Domain.MaxEventChannels; e != nil {
		w.used["max_event_channels"] = true
		if *e > 0 { // 0 is libxl's default, as when unset
			ctl.attrs = append(ctl.attrs, attr{name: "maxEventChannels", value: strconv.FormatUint(uint64(*e), 10)})
		}
	}
	if len(ctl.attrs) > 2 {
		d.add(ctl)
	}
	for i, v := range w.cfg.Vifs {
		d.add(w.vif(v, i))
	}
	if len(w.cfg.Vifs) > 0 {
		w.used["vif"] = true
	}
	if w.hvm {
		d.add(w.serial()...)
	}
	d.add(w.graphics()...)
	return d
}

// serial maps serial= (HVM) to <serial> elements, as libvirt reads it.
func (w *writer) serial() []*node {
	s := w.get("serial")
	if s == nil {
		return nil
	}
	var items []string
	if s.Value.Kind == parser.KindString {
		items = []string{s.Value.Str}
	} else {
		items = s.Value.Strings()
		if len(items) != len(s.Value.Items) {
			w.used["serial"] = false
			return nil
		}
	}
	var out []*node
	for port, it := range items {
		var n *node
		switch {
		case it == "none":
			continue
		case it == "pty" || it == "null" || it == "vc" || it == "stdio":
			n = el("serial", "type", it)
		case strings.HasPrefix(it, "/") && xmlText(it):
			n = el("serial", "type", "dev").add(el("source", "path", it))
		case (strings.HasPrefix(it, "file:/") || strings.HasPrefix(it, "pipe:/")) && xmlText(it):
			typ, path, _ := strings.Cut(it, ":")
			n = el("serial", "type", typ).add(el("source", "path", path))
		default:
			w.used["serial"] = false
			return nil
		}
		out = append(out, n.add(el("target", "port", strconv.Itoa(port))))
	}
	return out
}

// graphics maps an HVM guest's vnc and sdl keys, or a PV guest's single
// vfb, to <graphics>: one display, as libvirt starts one. An HVM guest has
// VNC unless vnc=0 or only sdl=1 is set: libxl's default (on the first
// free display, on 127.0.0.1 as libvirt's libxl driver too listens when
// no address is given), which libvirt's converter does not write.
func (w *writer) graphics() []*node {
	if w.hvm {
		var out []*node
		vncOn, vncSet := true, false
		if vnc, vs := w.number("vnc", 0); vs != nil {
			vncOn, vncSet = vnc != 0, true
		}
		sdl, ss := w.number("sdl", 0)
		sdlOn := ss != nil && sdl != 0
		// xl starts VNC and SDL together; libvirt's libxl driver starts
		// one display for an HVM guest (its first <graphics>), and its
		// converter writes VNC when vnc= is on, else SDL when sdl= is.
		switch {
		case sdlOn && vncOn && vncSet:
			w.get("display")
			w.get("xauthority")
			w.warn(ss.NameRange, "sdl=1 alongside vnc=1: libvirt starts one display for an HVM guest, the VNC one", keptDetail)
			sdlOn = false
		case sdlOn && !vncSet:
			w.warn(ss.NameRange, "sdl=1 without vnc=: libvirt starts the SDL display alone, not libxl's default VNC one as well",
				"<graphics type='sdl'> alone, as libvirt's converter writes it")
			vncOn = false
		}
		if vncOn {
			g := el("graphics", "type", "vnc")
			unused := int64(1)
			if n, us := w.number("vncunused", 0); us != nil {
				unused = n
			}
			if unused != 0 {
				g.attrs = append(g.attrs, attr{name: "port", value: "-1"}, attr{name: "autoport", value: "yes"})
			} else {
				disp, _ := w.number("vncdisplay", 0)
				g.attrs = append(g.attrs, attr{name: "port", value: strconv.FormatInt(disp+5900, 10)}, attr{name: "autoport", value: "no"})
			}
			// No vnclisten: no address, as libvirt's converter writes it;
			// libvirt's libxl driver then listens on 127.0.0.1, as libxl.
			listen := ""
			if l, ls := w.str("vnclisten"); ls != nil {
				if ipAddr(l) || reDNSName.MatchString(l) {
					listen = l
				} else {
					w.used["vnclisten"] = false
				}
			}
			if listen != "" {
				g.attrs = append(g.attrs, attr{name: "listen", value: listen})
			}
			if pw, ps := w.str("vncpasswd"); ps != nil {
				g.attrs = append(g.attrs, attr{name: "passwd", value: pw})
			}
			if km, ks := w.str("keymap"); ks != nil {
				g.attrs = append(g.attrs, attr{name: "keymap", value: km})
			}
			if listen != "" {
				g.add(el("listen", "type", "address", "address", listen))
			}
			out = append(out, g)
		}
		if sdlOn {
			g := el("graphics", "type", "sdl")
			if d, ds := w.str("display"); ds != nil {
				g.attrs = append(g.attrs, attr{name: "display", value: d})
			}
			if x, xs := w.str("xauthority"); xs != nil {
				g.attrs = append(g.attrs, attr{name: "xauth", value: x})
			}
			out = append(out, g)
		}
		return out
	}
	s := w.f.Lookup("vfb")
	if s == nil || s.Value.Kind != parser.KindList || len(s.Value.Items) != 1 || s.Value.Items[0].Kind != parser.KindString {
		return nil
	}
	if g := w.vfb(s.Value.Items[0].Str); g != nil {
		w.used["vfb"] = true
		return []*node{g}
	}
	return nil
}

// vfb maps a PV guest's vfb spec (nil when libvirt would lose part of it).
func (w *writer) vfb(spec string) *node {
	typ := "vnc"
	if strings.Contains(spec, "type=sdl") {
		typ = "sdl"
	}
	g := el("graphics", "type", typ)
	kv := map[string]string{}
	for _, it := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimLeft(it, " \t"), "=")
		if !ok || !xmlText(v) {
			return nil
		}
		kv[k] = v
	}
	for k := range kv {
		known := map[string][]string{"vnc": {"type", "vnc", "vncunused", "vncdisplay", "vnclisten", "vncpasswd", "keymap"}, "sdl": {"type", "sdl", "display", "xauthority"}}[typ]
		if !contains(known, k) {
			return nil // keys libvirt drops: the vfb stays whole in the metadata
		}
	}
	// A display turned off (vnc=0: xl starts none) or a type xl does not
	// know has no <graphics>: the vfb stays whole in the metadata.
	if t, ok := kv["type"]; ok && t != typ || kv[typ] != "" && kv[typ] != "1" {
		return nil
	}
	if typ == "vnc" {
		if kv["vncunused"] == "0" {
			d, err := strconv.Atoi(kv["vncdisplay"])
			if err != nil || d < 0 {
				return nil
			}
			g.attrs = append(g.attrs, attr{name: "port", value: strconv.Itoa(d + 5900)}, attr{name: "autoport", value: "no"})
		} else if kv["vncunused"] == "1" || kv["vncunused"] == "" {
			g.attrs = append(g.attrs, attr{name: "port", value: "-1"}, attr{name: "autoport", value: "yes"})
		} else {
			return nil
		}
		if l := kv["vnclisten"]; l != "" {
			if !ipAddr(l) && !reDNSName.MatchString(l) {
				return nil
			}
			g.attrs = append(g.attrs, attr{name: "listen", value: l})
		}
		if km := kv["keymap"]; km != "" {
			g.attrs = append(g.attrs, attr{name: "keymap", value: km})
		}
		if pw, ok := kv["vncpasswd"]; ok {
			g.attrs = append(g.attrs, attr{name: "passwd", value: pw})
		}
		if l := kv["vnclisten"]; l != "" {
			g.add(el("listen", "type", "address", "address", l))
		}
	} else {
		if d := kv["display"]; d != "" {
			g.attrs = append(g.attrs, attr{name: "display", value: d})
		}
		if x := kv["xauthority"]; x != "" {
			g.attrs = append(g.attrs, attr{name: "xauth", value: x})
		}
	}
	return g
}

// vif maps one vif spec to an <interface>.
func (w *writer) vif(v *devspec.Vif, index int) *node {
	label := fmt.Sprintf("vif #%d: ", index)
	at := v.Range
	md := &metaDev{index: strconv.Itoa(index)}
	var keys []string
	keep := func(item string) {
		keys = append(keys, item)
		w.warn(at, label+item+" has no libvirt element", keptDetail)
	}
	typ := "ethernet"
	if v.Bridge != "" || v.Script == "vif-bridge" || v.Script == "vif-vnic" {
		typ = "bridge"
	}
	n := el("interface", "type", typ)
	if mac := v.MACString(); mac != "" {
		if !reUniMAC.MatchString(mac) {
			w.errorf(at, label+"mac "+mac+" is a multicast address", "libvirt accepts only unicast MACs (the first octet even)")
		}
		n.add(el("mac", "address", mac))
		md.mac, md.index = mac, ""
	}
	if typ == "bridge" && v.Bridge != "" {
		if reBridge.MatchString(v.Bridge) {
			n.add(el("source", "bridge", v.Bridge))
		} else {
			w.errorf(at, label+"bridge "+strconv.Quote(v.Bridge)+" is not a name libvirt accepts", "")
		}
	}
	if v.IP != "" {
		ips := strings.Split(v.IP, " ")
		ok := true
		for _, ip := range ips {
			ok = ok && ipAddr(ip)
		}
		if ok {
			for _, ip := range ips {
				n.add(el("ip", "address", ip))
			}
		} else {
			keep("ip=" + v.IP)
		}
	}
	if v.Script != "" {
		if xmlText(v.Script) {
			n.add(el("script", "path", v.Script))
		} else {
			keep("script=" + v.Script)
		}
	}
	switch {
	case v.Model != "" && reNetModel.MatchString(v.Model) && (v.Type == "" || v.Type == "ioemu"):
		n.add(el("model", "type", v.Model))
		if v.Type != "" {
			keep("type=" + v.Type)
		}
	case v.Model == "" && v.Type == "vif":
		n.add(el("model", "type", "netfront"))
	default:
		if v.Model != "" {
			keep("model=" + v.Model)
		}
		if v.Type != "" {
			keep("type=" + v.Type)
		}
	}
	if v.Vifname != "" {
		n.add(el("target", "dev", v.Vifname))
	}
	if v.Backend != "" {
		n.add(el("backenddomain", "name", v.Backend))
	}
	if v.Rate != nil {
		avg, exact := rateAverage(*v.Rate)
		n.add(el("bandwidth").add(el("outbound", "average", strconv.FormatUint(avg, 10))))
		if !exact {
			keys = append(keys, "rate="+v.RateText)
			w.warn(at, label+"rate="+v.RateText+" is <outbound average='"+strconv.FormatUint(avg, 10)+"'/> in libvirt",
				"libvirt counts KiB/s in 50 ms slices; the exact rate is kept in xfeat's <metadata> (xfeat convert --from libvirt gives it back)")
		}
	}
	if v.MTU != 0 {
		n.add(el("mtu", "size", strconv.Itoa(v.MTU)))
	}
	for _, k := range []struct{ key, val string }{{"gatewaydev", v.Gatewaydev}, {"forwarddev", v.Forwarddev}, {"vlan", v.Vlan}} {
		if k.val != "" {
			keep(k.key + "=" + k.val)
		}
	}
	if v.Devid != v.Index {
		keep("devid=" + strconv.Itoa(v.Devid))
	}
	colo := make([]string, 0, len(v.Colo))
	for k := range v.Colo {
		colo = append(colo, k)
	}
	sort.Strings(colo)
	for _, k := range colo {
		keep(k + "=" + v.Colo[k])
	}
	if v.Trusted != nil {
		if *v.Trusted {
			keep("trusted")
		} else {
			keep("untrusted")
		}
	}
	md.keys = strings.Join(keys, ",")
	drv, host := el("driver"), el("host")
	for _, fr := range v.Features {
		switch {
		case fr.Name == queuesFeature(pv.Vif) && positive(fr.Value):
			drv.attrs = append(drv.attrs, attr{name: "queues", value: fr.Value})
			continue
		default:
			if o := offloadFor(fr.Name); o != nil && (fr.Value == "0" || fr.Value == "1") {
				st := "off"
				if fr.Value == o.on {
					st = "on"
				}
				host.attrs = append(host.attrs, attr{name: o.attr, value: st})
				continue
			}
		}
		md.features = append(md.features, metaFeature{fr.Name, fr.Value})
		w.warn(fr.Range, label+"feature "+fr.Name+" has no libvirt element", keptDetail)
	}
	if len(host.attrs) > 0 {
		sortAttrs(host, hostOffloads)
		drv.add(host)
	}
	if len(drv.attrs) > 0 || len(drv.kids) > 0 {
		n.add(drv)
	}
	w.meta.ifaces = append(w.meta.ifaces, md)
	return n
}

func offloadFor(feature string) *offload {
	for i := range offloads {
		if offloads[i].feature == feature {
			return &offloads[i]
		}
	}
	return nil
}

// sortAttrs orders n's attributes as order lists them (libvirt's order).
func sortAttrs(n *node, order []string) {
	idx := func(name string) int {
		for i, o := range order {
			if o == name {
				return i
			}
		}
		return len(order)
	}
	sort.SliceStable(n.attrs, func(i, j int) bool { return idx(n.attrs[i].name) < idx(n.attrs[j].name) })
}

// disk maps one disk spec to a <disk>, as libvirt's converter does (except
// that a disk without backendtype= gets no driver name: libxl picks the
// backend, where libvirt would force qdisk).
func (w *writer) disk(d *devspec.Disk) *node {
	label := fmt.Sprintf("disk #%d: ", d.Index)
	at := d.Range
	md := &metaDev{dev: d.Vdev}
	var keys []string
	keep := func(item string) {
		keys = append(keys, item)
		w.warn(at, label+item+" has no libvirt element", keptDetail)
	}
	if !reDiskTarget.MatchString(d.Vdev) {
		w.errorf(at, label+"vdev "+strconv.Quote(d.Vdev)+" is not a libvirt disk target", "libvirt takes xvdX, hdX, sdX (not d<N>p<M> or numbers)")
		return nil
	}
	typ, driverName := "file", ""
	switch d.BackendType {
	case "phy":
		typ, driverName = "block", "phy"
	case "tap":
		driverName = "tap"
	case "qdisk":
		driverName = "qemu"
	case "standalone":
		keep("backendtype=standalone")
	}
	device := "disk"
	if d.Devtype == "cdrom" {
		device = "cdrom"
	}
	n := el("disk", "type", typ, "device", device)
	drv := el("driver", "name", driverName)
	switch d.Format {
	case "raw", "qcow", "qcow2", "vhd", "qed":
		drv.attrs = append(drv.attrs, attr{name: "type", value: d.Format})
	}
	switch {
	case d.Discard == nil:
	case *d.Discard:
		drv.attrs = append(drv.attrs, attr{name: "discard", value: "unmap"})
	default:
		drv.attrs = append(drv.attrs, attr{name: "discard", value: "ignore"})
	}
	for _, fr := range d.Features {
		if fr.Name == queuesFeature(pv.Vbd) && positive(fr.Value) {
			drv.attrs = append(drv.attrs, attr{name: "queues", value: fr.Value})
			continue
		}
		md.features = append(md.features, metaFeature{fr.Name, fr.Value})
		w.warn(fr.Range, label+"feature "+fr.Name+" has no libvirt element", keptDetail)
	}
	if len(drv.attrs) > 0 {
		n.add(drv)
	}
	if d.Target != nil && *d.Target != "" {
		t := *d.Target
		attrName := "file"
		if typ == "block" {
			attrName = "dev"
		}
		if !reAbsPath.MatchString(t) || !xmlText(t) {
			w.errorf(at, label+"target "+strconv.Quote(t)+" is not an absolute path", "libvirt's <source> takes absolute paths only")
			return nil
		}
		n.add(el("source", attrName, t))
	}
	bus := "xen"
	if w.hvm && !strings.HasPrefix(d.Vdev, "xvd") {
		bus = "ide"
		if strings.HasPrefix(d.Vdev, "sd") {
			bus = "scsi"
		}
	}
	n.add(el("target", "dev", d.Vdev, "bus", bus))
	if d.Backend != "" {
		n.add(el("backenddomain", "name", d.Backend))
	}
	if d.Access == "ro" {
		n.add(el("readonly"))
	}
	for _, k := range []struct{ key, val string }{{"script", d.Script}, {"specification", d.Specification}} {
		if k.val != "" {
			keep(k.key + "=" + k.val)
		}
	}
	if d.DirectIOSafe {
		keep("direct-io-safe")
	}
	flag := func(b *bool, on, off string) {
		if b != nil {
			if *b {
				keep(on)
			} else {
				keep(off)
			}
		}
	}
	flag(d.Trusted, "trusted", "untrusted")
	flag(d.GrantUsage, "grant_usage=1", "grant_usage=0")
	flag(d.Colo, "colo", "no-colo")
	for _, k := range []struct{ key, val string }{{"colo-host", d.ColoHost}, {"colo-export", d.ColoExport}, {"active-disk", d.ActiveDisk}, {"hidden-disk", d.HiddenDisk}} {
		if k.val != "" {
			keep(k.key + "=" + k.val)
		}
	}
	if d.ColoPort != 0 {
		keep("colo-port=" + strconv.Itoa(d.ColoPort))
	}
	md.keys = strings.Join(keys, ",")
	w.meta.disks = append(w.meta.disks, md)
	return n
}

// passthrough keeps every top-level key libvirt's elements do not express
// in the metadata, and reports it.
func (w *writer) passthrough() {
	seen := map[string]bool{}
	ss := w.f.Settings()
	for i := len(ss) - 1; i >= 0; i-- {
		s := ss[i]
		if seen[s.Name] || w.used[s.Name] {
			continue
		}
		seen[s.Name] = true
		w.warn(s.NameRange, s.Name+" has no libvirt element", keptDetail)
		if groupOf(s.Name) != "" {
			continue // its group's <xfeat:written> record keeps it
		}
		w.meta.settings = append(w.meta.settings, metaSetting{name: s.Name, value: s.Value.String()})
	}
	// In file order, as a reader expects.
	for i, j := 0, len(w.meta.settings)-1; i < j; i, j = i+1, j-1 {
		w.meta.settings[i], w.meta.settings[j] = w.meta.settings[j], w.meta.settings[i]
	}
}

// spellings records how the source wrote what the XML expresses wherever
// reading the XML back gives it differently (see metadata.go).
func (w *writer) spellings(back *cfgOut) {
	for _, g := range groups {
		var src []stmt
		for _, k := range g.keys {
			if s := w.f.Lookup(k); s != nil {
				src = append(src, stmt{k, s.Value})
			}
		}
		derived, source := stmtsText(back.groups[g.name]), stmtsText(src)
		if derived != source {
			w.meta.written = append(w.meta.written, written{derived: derived, source: source})
		}
	}
	for _, l := range []struct {
		list    string
		derived []string
		source  *parser.Setting
	}{{"vif", back.vifs, w.f.Lookup("vif")}, {"disk", back.disks, w.f.Lookup("disk")}} {
		if l.source == nil || l.source.Value.Kind != parser.KindList {
			continue
		}
		for i, it := range l.source.Value.Items {
			if i < len(l.derived) && l.derived[i] != it.Str {
				w.meta.written = append(w.meta.written, written{list: l.list, derived: l.derived[i], source: it.Str})
			}
		}
	}
}
