package convert_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/convert"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
)

// elem is a generic XML element, for comparing domains.
type elem struct {
	name  string
	attrs []string // name=value, sorted
	text  string
	kids  []*elem
}

func readElems(t *testing.T, src []byte) *elem {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(src))
	var stack []*elem
	var root *elem
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("XML: %v\n%s", err, src)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			e := &elem{name: tk.Name.Local}
			if tk.Name.Space != "" {
				e.name = "{" + tk.Name.Space + "}" + e.name
			}
			for _, a := range tk.Attr {
				if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
					continue
				}
				e.attrs = append(e.attrs, a.Name.Local+"="+a.Value)
			}
			sort.Strings(e.attrs)
			if len(stack) == 0 {
				root = e
			} else {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, e)
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(tk)
			}
		}
	}
	return root
}

func (e *elem) has(attr string) bool {
	for _, a := range e.attrs {
		if a == attr {
			return true
		}
	}
	return false
}

// implicit reports the elements libvirt adds on its own and xl implies:
// they are not written by xfeat, and taken silently when read.
func implicit(parent, e *elem) bool {
	switch {
	case parent.name == "domain" && e.name == "clock":
		return true
	case parent.name == "devices" && e.name == "console" && e.has("type=pty"):
		return true
	case parent.name == "devices" && e.name == "input":
		return true
	case parent.name == "devices" && e.name == "memballoon":
		return true
	case parent.name == "devices" && e.name == "controller" && e.has("type=ide"):
		return true
	case parent.name == "disk" && e.name == "address":
		return true
	case parent.name == "os" && e.name == "loader":
		return true
	}
	return false
}

// canon renders e without implicit elements, blank text and the order of
// differently named siblings (libvirt and xfeat order some differently).
func canon(e *elem) string {
	var b strings.Builder
	b.WriteString("<" + e.name)
	for _, a := range e.attrs {
		b.WriteString(" " + a)
	}
	b.WriteString(">")
	b.WriteString(strings.TrimSpace(e.text))
	var kids []*elem
	for _, k := range e.kids {
		if !implicit(e, k) {
			kids = append(kids, k)
		}
	}
	sort.SliceStable(kids, func(i, j int) bool { return kids[i].name < kids[j].name })
	for _, k := range kids {
		b.WriteString(canon(k))
	}
	b.WriteString("</" + e.name + ">")
	return b.String()
}

// TestXMLRoundTrip converts hand-written domain XML (in the form virsh
// dumpxml gives) to xl.cfg and back: the XML must come back the same but
// for libvirt's implicit devices, the xl.cfg must pass xfeat validate, and
// nothing may draw a warning.
func TestXMLRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("testdata/*-from-libvirt.xml")
	if len(files) < 2 {
		t.Fatalf("testdata has %d domain files", len(files))
	}
	dir := t.TempDir()
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, diags := convert.FromLibvirt(path, src, convert.Options{Strict: true})
		if cfg == nil {
			t.Errorf("%s: %v", path, diags)
			continue
		}
		f, d := parser.Parse(path+".cfg", cfg, parser.Options{Strict: true})
		if f == nil {
			t.Fatalf("%s: the xl.cfg does not parse: %v\n%s", path, d, cfg)
		}
		if _, d := devspec.CheckFile(f); len(d) != 0 {
			t.Errorf("%s: xfeat validate: %v\n%s", path, d, cfg)
		}
		x, d := convert.ToLibvirt(f, convert.Options{Strict: true})
		if x == nil {
			t.Errorf("%s: back to XML: %v\n%s", path, d, cfg)
			continue
		}
		if a, b := canon(readElems(t, src)), canon(readElems(t, x)); a != b {
			t.Errorf("%s: XML -> xl.cfg -> XML changes the domain\nsource: %s\nback:   %s\ncfg:\n%s", path, a, b, cfg)
		}
		out := filepath.Join(dir, filepath.Base(path))
		if err := os.WriteFile(out, x, 0o644); err != nil {
			t.Fatal(err)
		}
		virtXMLValidate(t, path, out)
	}
}

// find returns the elements at a path of names under e.
func find(e *elem, path ...string) []*elem {
	if len(path) == 0 {
		return []*elem{e}
	}
	var out []*elem
	for _, k := range e.kids {
		if k.name == path[0] {
			out = append(out, find(k, path[1:]...)...)
		}
	}
	return out
}

func toXML(t *testing.T, name, src string, opts convert.Options) ([]byte, parser.Diagnostics) {
	t.Helper()
	f, diags := parser.Parse(name, []byte(src), parser.Options{})
	if f == nil {
		t.Fatalf("%s does not parse: %v", name, diags)
	}
	return convert.ToLibvirt(f, opts)
}

const metaNS = "{" + convert.Namespace + "}"

// TestFeaturesInLibvirtElements: queues and the offloads are libvirt's own
// elements; every other request is in xfeat's metadata, by device.
func TestFeaturesInLibvirtElements(t *testing.T) {
	src, err := os.ReadFile("../examples/guest-features.cfg")
	if err != nil {
		t.Fatal(err)
	}
	x, diags := toXML(t, "guest-features.cfg", string(src), convert.Options{})
	if x == nil {
		t.Fatal(diags)
	}
	dom := readElems(t, x)
	ifs := find(dom, "devices", "interface")
	if len(ifs) != 2 {
		t.Fatalf("%d interfaces\n%s", len(ifs), x)
	}
	want := func(e []*elem, attrs ...string) {
		t.Helper()
		if len(e) != 1 {
			t.Errorf("want one element with %v, have %d\n%s", attrs, len(e), x)
			return
		}
		for _, a := range attrs {
			if !e[0].has(a) {
				t.Errorf("<%s %v> lacks %s\n%s", e[0].name, e[0].attrs, a, x)
			}
		}
	}
	want(find(ifs[0], "driver"), "queues=4")
	want(find(ifs[0], "driver", "host"), "tso4=on", "tso6=on")
	want(find(ifs[1], "driver"), "queues=2")
	want(find(ifs[1], "driver", "host"), "csum=off") // csum:off is feature-no-csum-offload=1
	want(find(ifs[1], "bandwidth", "outbound"), "average=12207")
	disks := find(dom, "devices", "disk")
	want(find(disks[0], "driver"), "queues=4", "type=raw")
	want(find(dom, "devices", "controller"), "type=xenbus", "maxGrantFrames=64", "maxEventChannels=2047")

	md := find(dom, "metadata", metaNS+"xl")
	if len(md) != 1 {
		t.Fatalf("no xfeat metadata\n%s", x)
	}
	mdIfs := find(md[0], metaNS+"interface")
	if len(mdIfs) != 2 || !mdIfs[0].has("mac=00:16:3e:10:20:30") || !mdIfs[1].has("index=1") {
		t.Fatalf("interface entries of the metadata: %v\n%s", mdIfs, x)
	}
	want(find(mdIfs[0], metaNS+"feature"), "name=feature-sg", "value=1")
	// rate=100Mb/s@20ms: libvirt has no interval; the exact rate is kept.
	if k := find(mdIfs[1], metaNS+"keys"); len(k) != 1 || k[0].text != "rate=100Mb/s@20ms" {
		t.Errorf("vif #1 keys in the metadata: %v\n%s", k, x)
	}
	var got []string
	for _, d := range find(md[0], metaNS+"disk") {
		for _, f := range find(d, metaNS+"feature") {
			got = append(got, strings.Join(d.attrs, ",")+" "+strings.Join(f.attrs, ","))
		}
	}
	wantDisk := []string{
		"dev=xvda name=max-ring-page-order,value=2",
		"dev=xvdb name=feature-persistent,value=1",
		"dev=xvdb name=feature-max-indirect-segments,value=128",
	}
	if strings.Join(got, "\n") != strings.Join(wantDisk, "\n") {
		t.Errorf("disk features in the metadata:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantDisk, "\n"))
	}
	// Each request without a libvirt element is a warning at its position.
	var warned []string
	for _, d := range diags {
		if d.Severity == parser.DiagWarning {
			warned = append(warned, d.Subject.String()+" "+d.Summary)
		}
	}
	for _, w := range []string{
		"guest-features.cfg:16:67 vif #0: feature feature-sg has no libvirt element",
		"guest-features.cfg:22:56 disk #0: feature max-ring-page-order has no libvirt element",
		"guest-features.cfg:23:39 disk #1: feature feature-persistent has no libvirt element",
		"guest-features.cfg:12:1 max_maptrack_frames has no libvirt element",
	} {
		found := false
		for _, g := range warned {
			found = found || g == w
		}
		if !found {
			t.Errorf("no warning %q in\n%s", w, strings.Join(warned, "\n"))
		}
	}
}

// TestEditedXMLWins: an edit of the XML is what comes back, not the
// spelling the metadata remembers.
func TestEditedXMLWins(t *testing.T) {
	src, _ := os.ReadFile("../examples/guest-features.cfg")
	x, diags := toXML(t, "guest-features.cfg", string(src), convert.Options{})
	if x == nil {
		t.Fatal(diags)
	}
	edited := strings.Replace(string(x), "<driver queues='4'>", "<driver queues='8'>", 1)
	edited = strings.Replace(edited, "<xfeat:feature name='feature-sg' value='1'/>", "<xfeat:feature name='feature-sg' value='0'/>", 1)
	edited = strings.Replace(edited, "<memory unit='KiB'>1048576</memory>", "<memory unit='GiB'>2</memory>", 1)
	if edited == string(x) {
		t.Fatal("the edits did not apply")
	}
	cfg, diags := convert.FromLibvirt("edited.xml", []byte(edited), convert.Options{})
	if cfg == nil {
		t.Fatal(diags)
	}
	f, _ := parser.Parse("back.cfg", cfg, parser.Options{})
	c, d := devspec.CheckFile(f)
	if d.HasErrors() {
		t.Fatal(d)
	}
	fs := c.Vifs[0].Features.Map()
	if fs["multi-queue-max-queues"] != "8" || fs["feature-sg"] != "0" || fs["feature-gso-tcpv4"] != "1" {
		t.Errorf("vif #0 features after the edit: %v\n%s", fs, cfg)
	}
	if v := f.Lookup("maxmem"); v == nil || v.Value.Str != "2048" {
		t.Errorf("maxmem after the edit: %v\n%s", v, cfg)
	}
	if v := f.Lookup("memory"); v == nil || v.Value.Str != "1024" {
		t.Errorf("memory after the edit: %v\n%s", v, cfg)
	}
	// The untouched second vif keeps the source's spelling.
	if got := c.Vifs[1].Range; !strings.Contains(string(cfg), `features=queues:2\\;csum:off`) {
		t.Errorf("vif #1 lost its spelling (%v):\n%s", got, cfg)
	}
}

// TestFromLibvirtWarnings: every element and attribute without an xl.cfg
// equivalent is reported at its line and column; --strict fails on them
// and prints nothing.
func TestFromLibvirtWarnings(t *testing.T) {
	const path = "testdata/warn-unsupported.xml"
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags := convert.FromLibvirt(path, src, convert.Options{})
	if cfg == nil {
		t.Fatal(diags)
	}
	var got []string
	for _, d := range diags {
		got = append(got, d.Error())
	}
	want := []string{
		path + ":3:3: warning: <title> has no xl.cfg equivalent: left out of the xl.cfg",
		path + ":5:5: warning: <{https://example.org/app/1}info> has no xl.cfg equivalent: left out of the xl.cfg",
		path + ":12:3: warning: <clock> has no xl.cfg equivalent: left out of the xl.cfg",
		path + ":14:5: warning: <emulator> has no xl.cfg equivalent: left out of the xl.cfg",
		path + ":15:5: warning: <interface type='network'> has no xl.cfg equivalent: left out of the xl.cfg",
		path + ":20:7: warning: <link> has no xl.cfg equivalent: left out of the xl.cfg",
		path + ":22:5: warning: <hostdev type='pci'> has no xl.cfg equivalent: left out of the xl.cfg",
		path + ":28:3: warning: <seclabel type='none'> has no xl.cfg equivalent: left out of the xl.cfg",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(string(cfg), `vif = ["bridge=xenbr0"]`) || !strings.Contains(string(cfg), "memory = 1024") {
		t.Errorf("what can be converted is:\n%s", cfg)
	}
	cfg, diags = convert.FromLibvirt(path, src, convert.Options{Strict: true})
	if cfg != nil || len(diags.Errs()) != len(want) {
		t.Errorf("--strict: output %q, diagnostics %v", cfg, diags)
	}
}

// TestFromLibvirtRefuses: XML that is not a Xen domain, or not sound, is
// an error with nothing printed.
func TestFromLibvirtRefuses(t *testing.T) {
	for _, c := range []struct{ name, xml, want string }{
		{"not XML", "name = 'x'", "x.xml: no XML element"},
		{"unclosed", "<domain type='xen'><name>x</name>", "unexpected EOF"},
		{"not a domain", "<network><name>x</name></network>", "x.xml:1:1: the root element is <network>, not <domain>"},
		{"kvm", "<domain type='kvm'><name>x</name></domain>", `domain type="kvm" is not a Xen domain`},
		{"no name", "<domain type='xen'><os><type>linux</type></os></domain>", "the domain has no <name>"},
		{"bad uuid", "<domain type='xen'><name>x</name><uuid>1234</uuid></domain>", `uuid "1234" is not a UUID`},
		{"doctype", "<!DOCTYPE domain [<!ENTITY x 'y'>]><domain type='xen'><name>&x;</name></domain>", "<!DOCTYPE> is not accepted"},
		{"os type", "<domain type='xen'><name>x</name><os><type>exe</type></os></domain>", `os type "exe" is not a Xen guest type`},
		{"vcpus", "<domain type='xen'><name>x</name><vcpu>many</vcpu></domain>", "is not a number of vCPUs"},
		{"memory unit", "<domain type='xen'><name>x</name><memory unit='parsec'>1</memory></domain>", `unit "parsec"`},
		{"action", "<domain type='xen'><name>x</name><on_crash>explode</on_crash></domain>", "is not an xl action"},
		{"deep", strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100), "nested more than 64 deep"},
		{"bad cfg", "<domain type='xen'><name>x</name><devices><interface type='bridge'><source bridge='a b'/></interface></devices></domain>", "the XML gives an invalid xl.cfg"},
	} {
		out, diags := convert.FromLibvirt("x.xml", []byte(c.xml), convert.Options{})
		if out != nil || !strings.Contains(diags.Error(), c.want) {
			t.Errorf("%s: output %q, diagnostics %q; want an error with %q", c.name, out, diags.Error(), c.want)
		}
	}
}

// TestToLibvirtRefuses: what cannot be written in libvirt's XML at all is
// an error at its position, with nothing printed.
func TestToLibvirtRefuses(t *testing.T) {
	for _, c := range []struct{ name, cfg, want string }{
		{"no name", "memory = 512\n", "x.cfg:1:1: the domain has no name"},
		{"relative disk", "name = \"x\"\ndisk = [\"img/x.img,raw,xvda,rw\"]\n", `x.cfg:2:9: disk #0: target "img/x.img" is not an absolute path`},
		{"multicast mac", "name = \"x\"\nvif = [\"mac=01:16:3e:00:00:01\"]\n", "x.cfg:2:8: vif #0: mac 01:16:3e:00:00:01 is a multicast address"},
		{"numeric vdev", "name = \"x\"\ndisk = [\"/x.img,raw,51712,rw\"]\n", `disk #0: vdev "51712" is not a libvirt disk target`},
		{"bad uuid", "name = \"x\"\nuuid = \"nope\"\n", `x.cfg:2:8: uuid "nope" is not a UUID`},
		{"maxmem", "name = \"x\"\nmemory = 1024\nmaxmem = 512\n", "x.cfg:3:10: maxmem 512 is less than memory 1024"},
		{"bad type", "name = \"x\"\ntype = \"kvm\"\n", `type "kvm" is not pv, pvh or hvm`},
		{"bad memory", "name = \"x\"\nmemory = \"lots\"\n", "memory is not a number as xl reads it"},
		{"bad action", "name = \"x\"\non_crash = \"explode\"\n", `on_crash "explode" is not an xl action`},
		{"xfeat validate", "name = \"x\"\nvif = [\"bridge=xenbr0,queus=2\"]\n", `unknown vif key "queus"`},
	} {
		out, diags := toXML(t, "x.cfg", c.cfg, convert.Options{})
		if out != nil || !strings.Contains(diags.Error(), c.want) {
			t.Errorf("%s: output %q, diagnostics %q; want an error with %q", c.name, out, diags.Error(), c.want)
		}
	}
}

// TestToLibvirtStrict: a warning (something libvirt cannot express) is an
// error with --strict.
func TestToLibvirtStrict(t *testing.T) {
	const cfg = "name = \"x\"\ncpus = \"0-3\"\nvif = [\"bridge=xenbr0,gatewaydev=eth1\"]\n"
	out, diags := toXML(t, "x.cfg", cfg, convert.Options{})
	if out == nil || len(diags) != 2 || diags.HasErrors() {
		t.Fatalf("output %q, diagnostics %v", out, diags)
	}
	if !bytes.Contains(out, []byte("<xfeat:setting name='cpus'>\"0-3\"</xfeat:setting>")) ||
		!bytes.Contains(out, []byte("<xfeat:keys>gatewaydev=eth1</xfeat:keys>")) {
		t.Errorf("the metadata does not keep them:\n%s", out)
	}
	out, diags = toXML(t, "x.cfg", cfg, convert.Options{Strict: true})
	if out != nil || len(diags.Errs()) != 2 || !strings.Contains(diags.Error(), "x.cfg:2:1: cpus has no libvirt element") {
		t.Errorf("--strict: output %q, diagnostics %v", out, diags)
	}
}

// TestHVMOneDisplay: libvirt starts one display for an HVM guest (its libxl
// driver takes the first <graphics>), where xl starts VNC and SDL together.
// The XML has the display libvirt's converter writes for the same file;
// the other is reported, and kept: --from libvirt gives the file's keys
// back. An XML with two displays gives the first (another one is
// reported).
func TestHVMOneDisplay(t *testing.T) {
	for _, c := range []struct {
		name, keys, want, warn string
	}{
		{"both", "vnc = 1\nsdl = 1\ndisplay = \":1\"\n", "vnc", "both.cfg:4:1 sdl=1 alongside vnc=1: libvirt starts one display for an HVM guest, the VNC one"},
		{"sdl", "sdl = 1\nxauthority = \"/root/.Xauthority\"\n", "sdl", "sdl.cfg:3:1 sdl=1 without vnc=: libvirt starts the SDL display alone, not libxl's default VNC one as well"},
		{"sdlonly", "vnc = 0\nsdl = 1\n", "sdl", ""},
		{"default", "", "vnc", ""},
	} {
		src := "name = \"g\"\ntype = \"hvm\"\n" + c.keys
		x, diags := toXML(t, c.name+".cfg", src, convert.Options{})
		if x == nil {
			t.Fatalf("%s: %v", c.name, diags)
		}
		gs := find(readElems(t, x), "devices", "graphics")
		if len(gs) != 1 || !gs[0].has("type="+c.want) {
			t.Errorf("%s: graphics %v, want one %s display\n%s", c.name, gs, c.want, x)
		}
		// No vnclisten, no address: libvirt's converter writes none
		// (libvirt then listens on 127.0.0.1, as libxl).
		for _, g := range gs {
			if len(find(g, "listen")) > 0 || strings.Contains(strings.Join(g.attrs, " "), "listen=") {
				t.Errorf("%s: a listen address no key asked for: %v\n%s", c.name, g.attrs, x)
			}
		}
		var warned []string
		for _, d := range diags {
			if d.Severity == parser.DiagWarning {
				warned = append(warned, d.Subject.String()+" "+d.Summary)
			}
		}
		if c.warn != "" && !strings.Contains(strings.Join(warned, "\n"), c.warn) {
			t.Errorf("%s: no warning %q in\n%s", c.name, c.warn, strings.Join(warned, "\n"))
		}
		if c.warn == "" && len(warned) > 0 {
			t.Errorf("%s: warnings %q", c.name, warned)
		}
		back, d := convert.FromLibvirt(c.name+".xml", x, convert.Options{})
		if back == nil {
			t.Fatalf("%s: %v", c.name, d)
		}
		// The source's settings come back, and no other display key.
		sf, _ := parser.Parse("src.cfg", []byte(src), parser.Options{})
		bf, _ := parser.Parse("back.cfg", back, parser.Options{})
		for _, k := range []string{"vnc", "sdl", "display", "xauthority", "vncunused", "vnclisten"} {
			a, b := sf.Lookup(k), bf.Lookup(k)
			if (a == nil) != (b == nil) || a != nil && a.Value.Str != b.Value.Str {
				t.Errorf("%s: %s is %v in the source, %v back from the XML:\n%s", c.name, k, a, b, back)
			}
		}
	}
	// Two displays in the XML of an HVM guest: the first is the one.
	const two = `<domain type='xen'>
  <name>g</name>
  <os><type arch='x86_64' machine='xenfv'>hvm</type></os>
  <devices>
    <graphics type='sdl' display=':0'/>
    <graphics type='vnc' port='-1' autoport='yes'/>
  </devices>
</domain>
`
	cfg, diags := convert.FromLibvirt("two.xml", []byte(two), convert.Options{})
	if cfg == nil {
		t.Fatal(diags)
	}
	f, _ := parser.Parse("two.cfg", cfg, parser.Options{})
	if v := f.Lookup("vnc"); v == nil || v.Value.Str != "0" || f.Lookup("sdl") == nil || f.Lookup("vncunused") != nil {
		t.Errorf("two displays: got\n%s", cfg)
	}
	found := false
	for _, d := range diags {
		found = found || d.Severity == parser.DiagWarning && d.Subject != nil && d.Subject.Start.Line == 6
	}
	if !found {
		t.Errorf("the second display is not reported: %v", diags)
	}
}

// TestPVDisplay: a PV guest's vfb is a <graphics> only when it starts a
// display libvirt can describe; vnc=0 (no display to xl) or a type xl does
// not know stays whole in the metadata, reported, and comes back.
func TestPVDisplay(t *testing.T) {
	for _, c := range []struct {
		vfb, want string
	}{
		{"vnc=1,vncunused=1", "vnc"},
		{"type=vnc,vncdisplay=1,vncunused=0", "vnc"},
		{"type=sdl,display=:0", "sdl"},
		{"vnc=0", ""},
		{"type=sdl,sdl=0", ""},
		{"type=spice", ""},
		{"vnc=1,sdl=1", ""},
	} {
		src := "name = \"g\"\nkernel = \"/k\"\nvfb = [ \"" + c.vfb + "\" ]\n"
		x, diags := toXML(t, "pv.cfg", src, convert.Options{})
		if x == nil {
			t.Fatalf("%s: %v", c.vfb, diags)
		}
		gs := find(readElems(t, x), "devices", "graphics")
		switch {
		case c.want == "" && len(gs) != 0:
			t.Errorf("%s: graphics %v, want none", c.vfb, gs)
		case c.want != "" && (len(gs) != 1 || !gs[0].has("type="+c.want)):
			t.Errorf("%s: graphics %v, want one %s", c.vfb, gs, c.want)
		}
		warned := false
		for _, d := range diags {
			warned = warned || d.Severity == parser.DiagWarning && strings.HasPrefix(d.Summary, "vfb ")
		}
		if warned != (c.want == "") {
			t.Errorf("%s: warned %v: %v", c.vfb, warned, diags)
		}
		back, d := convert.FromLibvirt("pv.xml", x, convert.Options{})
		if back == nil || !strings.Contains(string(back), c.vfb) {
			t.Errorf("%s: back to xl.cfg: %v\n%s", c.vfb, d, back)
		}
	}
}

// TestHVMPAE: libvirt's libxl driver turns PAE on for every x86_64 HVM
// guest, so pae=0 is <pae/> (as libvirt's converter writes it), reported,
// and kept: --from libvirt gives pae=0 back.
func TestHVMPAE(t *testing.T) {
	src := "name = \"g\"\ntype = \"hvm\"\npae = 0\nacpi = 0\n"
	x, diags := toXML(t, "pae.cfg", src, convert.Options{})
	if x == nil {
		t.Fatal(diags)
	}
	dom := readElems(t, x)
	if len(find(dom, "features", "pae")) != 1 || len(find(dom, "features", "acpi")) != 0 {
		t.Errorf("features: want pae and no acpi\n%s", x)
	}
	found := false
	for _, d := range diags {
		found = found || d.Severity == parser.DiagWarning && d.Subject.String() == "pae.cfg:3:1" &&
			d.Summary == "pae=0: libvirt turns PAE on for every x86_64 HVM guest"
	}
	if !found {
		t.Errorf("pae=0 not reported: %v", diags)
	}
	if _, d := toXML(t, "pae.cfg", src, convert.Options{Strict: true}); !d.HasErrors() {
		t.Error("--strict takes pae=0")
	}
	back, d := convert.FromLibvirt("pae.xml", x, convert.Options{})
	if back == nil {
		t.Fatal(d)
	}
	f, _ := parser.Parse("back.cfg", back, parser.Options{})
	if v := f.Lookup("pae"); v == nil || v.Value.Str != "0" {
		t.Errorf("pae back from the XML: %v\n%s", v, back)
	}
}
