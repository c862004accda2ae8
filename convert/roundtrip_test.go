package convert_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/convert"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
)

// corpus returns the xl.cfg files of the repository's corpus: the
// generated and hand-written files of tests/cfgcompat, the examples and
// this package's own (written for the comparison with libvirt's converter
// in tests/xenhost).
func corpus(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, g := range []string{"../tests/cfgcompat/testdata/*.cfg", "../examples/*.cfg", "testdata/*.cfg"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 200 {
		t.Fatalf("corpus has %d files; expected the cfgcompat corpus and the examples", len(files))
	}
	return files
}

// settings is what `xfeat parse -o json` says of a file, as xl uses it:
// the last value of each name.
func settings(t *testing.T, name string, src []byte) map[string]any {
	t.Helper()
	f, diags := parser.Parse(name, src, parser.Options{})
	if f == nil {
		t.Fatalf("%s does not parse: %v", name, diags)
	}
	out := map[string]any{}
	for _, s := range f.Settings() {
		out[s.Name] = jsonValue(s.Value)
	}
	return out
}

func jsonValue(v *parser.Value) any {
	if v.Kind == parser.KindString {
		return v.Str
	}
	out := []any{}
	for _, it := range v.Items {
		out = append(out, jsonValue(it))
	}
	return out
}

// virtXMLValidate checks files against libvirt's own RNG schema with
// Debian's virt-xml-validate (libvirt-clients; it runs xmllint, from
// libxml2-utils).
func virtXMLValidate(t *testing.T, files ...string) {
	t.Helper()
	if _, err := exec.LookPath("virt-xml-validate"); err != nil {
		t.Fatal("virt-xml-validate not found: apt-get install libvirt-clients libxml2-utils (make deps)")
	}
	for _, f := range files {
		out, err := exec.Command("virt-xml-validate", f, "domain").CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("validates")) {
			src, _ := os.ReadFile(f)
			t.Errorf("virt-xml-validate %s: %v\n%s\n%s", f, err, out, src)
		}
	}
}

// withName gives a corpus fragment without name= one, so that every file
// exercises the converter (a domain needs a name).
func withName(src []byte, base string) []byte {
	f, _ := parser.Parse("x", src, parser.Options{})
	if f != nil && f.Lookup("name") != nil {
		return src
	}
	return append([]byte(`name = "`+strings.TrimSuffix(base, ".cfg")+"\"\n"), src...)
}

var writtenRE = regexp.MustCompile(`(?s)\s*<xfeat:written [^>]*?(/>|>.*?</xfeat:written>)`)

// TestCorpusRoundTrip converts every corpus file xfeat validate accepts to
// domain XML and back. The XML must pass libvirt's schema; the xl.cfg it
// gives back must have exactly the settings of the source (parse -o json
// values); XML -> xl.cfg -> XML must give the same XML; and without the
// spelling records of the metadata, the xl.cfg must still mean the same
// to xl: the same devices and feature requests (devspec), the same values
// of the keys libvirt expresses.
func TestCorpusRoundTrip(t *testing.T) {
	dir := t.TempDir()
	var xmls []string
	converted, refused := 0, 0
	for _, path := range corpus(t) {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(path)
		src = withName(src, base)
		f, diags := parser.Parse(path, src, parser.Options{})
		if f == nil {
			continue // rejected by xl: nothing to convert
		}
		if _, d := devspec.CheckFile(f); d.HasErrors() {
			// xfeat validate refuses it: so does convert, with the same errors.
			if out, cd := convert.ToLibvirt(f, convert.Options{}); out != nil || cd.Errs().Error() != d.Errs().Error() {
				t.Errorf("%s: xfeat validate refuses it, convert gives %v / %q", path, cd, out)
			}
			refused++
			continue
		}
		_ = diags
		x, d := convert.ToLibvirt(f, convert.Options{})
		if x == nil {
			t.Errorf("%s: %v", path, d)
			continue
		}
		converted++
		xf := filepath.Join(dir, base+".xml")
		if err := os.WriteFile(xf, x, 0o644); err != nil {
			t.Fatal(err)
		}
		xmls = append(xmls, xf)

		back, d := convert.FromLibvirt(xf, x, convert.Options{})
		if back == nil {
			t.Errorf("%s: back from XML: %v", path, d)
			continue
		}
		if len(d) != 0 {
			t.Errorf("%s: xfeat's own XML draws diagnostics going back: %v", path, d)
		}
		want, got := settings(t, path, src), settings(t, xf+".cfg", back)
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s: settings differ after the round trip\nsource: %v\nback:   %v\nXML:\n%s\ncfg:\n%s", path, want, got, x, back)
		}
		fb, _ := parser.Parse(xf+".cfg", back, parser.Options{})
		x2, d := convert.ToLibvirt(fb, convert.Options{})
		if !bytes.Equal(x, x2) {
			t.Errorf("%s: XML -> xl.cfg -> XML changes the XML (%v)\nfirst:\n%s\nsecond:\n%s", path, d, x, x2)
		}

		// The mapping itself, without the source's spellings.
		plain := writtenRE.ReplaceAll(x, nil)
		back2, d := convert.FromLibvirt(xf, plain, convert.Options{})
		if back2 == nil {
			t.Errorf("%s: back from XML without spellings: %v", path, d)
			continue
		}
		sameMeaning(t, path, src, back2)
	}
	t.Logf("%d corpus files converted to XML and back; %d refused as xfeat validate refuses them", converted, refused)
	if converted < 170 {
		t.Errorf("only %d corpus files converted", converted)
	}
	virtXMLValidate(t, xmls...)
}

// sameMeaning checks that xl reads the same domain from a and b: devices
// and feature requests as devspec reads them, the keys libvirt expresses
// by what xl makes of them (defaults included), every other key exactly.
func sameMeaning(t *testing.T, name string, a, b []byte) {
	t.Helper()
	fa, _ := parser.Parse(name, a, parser.Options{})
	fb, _ := parser.Parse(name+".back", b, parser.Options{})
	ca, _ := devspec.CheckFile(fa)
	cb, _ := devspec.CheckFile(fb)
	for i := range ca.Vifs {
		if i >= len(cb.Vifs) {
			t.Errorf("%s: vif #%d lost", name, i)
			break
		}
		ja, _ := json.Marshal(ca.Vifs[i])
		jb, _ := json.Marshal(cb.Vifs[i])
		if !bytes.Equal(ja, jb) {
			t.Errorf("%s: vif #%d differs:\n%s\n%s\n%s", name, i, ja, jb, b)
		}
	}
	for i := range ca.Disks {
		if i >= len(cb.Disks) {
			t.Errorf("%s: disk #%d lost", name, i)
			break
		}
		// An empty drive written `target=` or without a target: libxl
		// sees no path either way, and libvirt has one form for both.
		da, db := *ca.Disks[i], *cb.Disks[i]
		for _, d := range []*devspec.Disk{&da, &db} {
			if d.Target != nil && *d.Target == "" {
				d.Target = nil
			}
		}
		ja, _ := json.Marshal(da)
		jb, _ := json.Marshal(db)
		if !bytes.Equal(ja, jb) {
			t.Errorf("%s: disk #%d differs:\n%s\n%s\n%s", name, i, ja, jb, b)
		}
	}
	if len(ca.Vifs) != len(cb.Vifs) || len(ca.Disks) != len(cb.Disks) {
		t.Errorf("%s: %d/%d vifs and %d/%d disks", name, len(ca.Vifs), len(cb.Vifs), len(ca.Disks), len(cb.Disks))
	}
	ma, mb := xlMeaning(fa), xlMeaning(fb)
	if !reflect.DeepEqual(ma, mb) {
		var diff []string
		for k := range ma {
			if ma[k] != mb[k] {
				diff = append(diff, fmt.Sprintf("%s: %q -> %q", k, ma[k], mb[k]))
			}
		}
		for k := range mb {
			if _, ok := ma[k]; !ok {
				diff = append(diff, fmt.Sprintf("%s: added %q", k, mb[k]))
			}
		}
		sort.Strings(diff)
		t.Errorf("%s: xl reads a different domain back:\n%s\n%s", name, strings.Join(diff, "\n"), b)
	}
}

// xlMeaning is what xl makes of a file's top-level keys: the keys of the
// converter's groups as xl interprets them, with xl's defaults; every
// other key by its value.
func xlMeaning(f *parser.File) map[string]string {
	m := map[string]string{}
	for _, s := range f.Settings() {
		if s.Name == "vif" || s.Name == "disk" {
			continue
		}
		m[s.Name] = s.Value.String()
	}
	str := func(k string) (string, bool) {
		s := f.Lookup(k)
		if s == nil || s.Value.Kind != parser.KindString {
			return "", false
		}
		return s.Value.Str, true
	}
	num := func(k string, def int64) string {
		s, ok := str(k)
		if !ok {
			return strconv.FormatInt(def, 10)
		}
		n, ok := cNum(s)
		if !ok {
			return "bad " + s
		}
		return strconv.FormatInt(n, 10)
	}
	for _, k := range []string{"type", "builder", "memory", "maxmem", "vcpus", "maxvcpus", "cmdline", "root", "extra",
		"pae", "acpi", "apic", "hap", "viridian", "max_event_channels", "max_grant_frames", "e820_host", "boot",
		"vnc", "vncunused", "vncdisplay", "vnclisten", "vncpasswd", "keymap", "sdl", "display", "xauthority"} {
		delete(m, k)
	}
	typ, ok := str("type")
	if !ok {
		typ = "pv"
		if b, _ := str("builder"); b == "hvm" {
			typ = "hvm"
		}
	}
	m["(type)"] = typ
	if _, ok := str("memory"); ok {
		m["(memory)"] = num("memory", 0)
		m["(maxmem)"] = num("maxmem", mustNum(num("memory", 0)))
	} else if _, ok := str("maxmem"); ok {
		m["(maxmem)"] = num("maxmem", 0)
	}
	if _, ok := str("vcpus"); ok {
		m["(vcpus)"] = num("vcpus", 0)
		m["(maxvcpus)"] = num("maxvcpus", mustNum(num("vcpus", 0)))
	} else if _, ok := str("maxvcpus"); ok {
		m["(vcpus)"] = num("maxvcpus", 0) // all of them online
		m["(maxvcpus)"] = num("maxvcpus", 0)
	}
	if c, ok := str("cmdline"); ok {
		m["(cmdline)"] = c
	} else {
		r, rok := str("root")
		e, eok := str("extra")
		switch {
		case rok && eok:
			m["(cmdline)"] = "root=" + r + " " + e
		case rok:
			m["(cmdline)"] = "root=" + r
		case eok:
			m["(cmdline)"] = e
		}
	}
	if typ == "hvm" {
		// libvirt turns PAE on for every x86_64 HVM guest: pae=0 is kept
		// by the spelling record only.
		m["(pae)"] = "1"
		m["(acpi)"] = bool01(num("acpi", 1))
		m["(apic)"] = bool01(num("apic", 1))
		m["(hap)"] = bool01(num("hap", 1))
		m["(viridian)"] = bool01(num("viridian", 0))
		b, ok := str("boot")
		if !ok {
			b = "cda" // libxl's default
		}
		m["(boot)"] = b
		// The one display libvirt starts for an HVM guest, where xl starts
		// VNC and SDL together (the spelling record keeps the other):
		// VNC when vnc= is on, libxl's default when neither is set (on a
		// free display, on 127.0.0.1), else SDL.
		_, vncSet := str("vnc")
		vnc, sdl := bool01(num("vnc", 1)), bool01(num("sdl", 0))
		switch {
		case vnc == "1" && vncSet:
			sdl = "0"
		case sdl == "1":
			vnc = "0"
		}
		if m["(vnc)"] = vnc; m["(vnc)"] == "1" {
			if m["(vncunused)"] = bool01(num("vncunused", 1)); m["(vncunused)"] == "0" {
				m["(vncdisplay)"] = num("vncdisplay", 0)
			}
			m["(vnclisten)"], ok = str("vnclisten")
			if !ok {
				m["(vnclisten)"] = "127.0.0.1"
			}
			for _, k := range []string{"vncpasswd", "keymap"} {
				if v, ok := str(k); ok {
					m["("+k+")"] = v
				}
			}
		}
		if m["(sdl)"] = sdl; m["(sdl)"] == "1" {
			for _, k := range []string{"display", "xauthority"} {
				if v, ok := str(k); ok {
					m["("+k+")"] = v
				}
			}
		}
	} else {
		// xl reads boot and the top-level display keys of HVM guests only.
		for _, k := range []string{"boot", "vnc", "vncunused", "vncdisplay", "vnclisten", "vncpasswd", "keymap", "sdl", "display", "xauthority"} {
			if s := f.Lookup(k); s != nil {
				m[k] = s.Value.String()
			}
		}
	}
	if s := f.Lookup("vfb"); s != nil && typ != "hvm" {
		m["vfb"] = vfbMeaning(s.Value)
	}
	for _, k := range []string{"max_grant_frames", "max_event_channels"} {
		if _, ok := str(k); ok && num(k, 0) != "0" {
			m["("+k+")"] = num(k, 0)
		}
	}
	if _, ok := str("e820_host"); ok && typ == "pv" {
		m["(e820_host)"] = bool01(num("e820_host", 0))
	} else if s := f.Lookup("e820_host"); s != nil {
		m["e820_host"] = s.Value.String()
	}
	return m
}

// vfbMeaning is what xl makes of a single vfb spec: its keys, type=vnc
// or type=sdl as the vnc and sdl keys it sets, with xl's defaults (VNC on,
// SDL off).
func vfbMeaning(v *parser.Value) string {
	if v.Kind != parser.KindList || len(v.Items) != 1 || v.Items[0].Kind != parser.KindString {
		return v.String()
	}
	kv := map[string]string{"vnc": "1", "sdl": "0"}
	for _, it := range strings.Split(v.Items[0].Str, ",") {
		k, val, _ := strings.Cut(strings.TrimLeft(it, " \t"), "=")
		switch {
		case k == "type" && val == "vnc":
			kv["vnc"], kv["sdl"] = "1", "0"
		case k == "type" && val == "sdl":
			kv["vnc"], kv["sdl"] = "0", "1"
		default:
			kv[k] = val
		}
	}
	var parts []string
	for k, val := range kv {
		parts = append(parts, k+"="+val)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func bool01(s string) string {
	if s == "0" {
		return "0"
	}
	return "1"
}

func mustNum(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// cNum is strtol base 0 over the whole string, as xl reads numbers.
func cNum(s string) (int64, bool) {
	t := s
	neg := strings.HasPrefix(t, "-")
	t = strings.TrimLeft(t, "+-")
	base := 10
	switch {
	case strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X"):
		base, t = 16, t[2:]
	case len(t) > 1 && t[0] == '0':
		base, t = 8, t[1:]
	}
	n, err := strconv.ParseInt(t, base, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}
