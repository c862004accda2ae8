package libvirtoracle_test

import (
	"strings"
	"testing"

	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/tests/internal/libvirtoracle"
)

// TestReadConfRefuses: what libvirt's reader refuses of xl's language, with
// libvirt's message and line (tests/xenhost checks these predictions
// against libvirt itself for the whole corpus).
func TestReadConfRefuses(t *testing.T) {
	for _, c := range []struct {
		src, msg, why string
		line          int
	}{
		{"name = \"a\"\nmemory = 0x100\n", "expecting a separator", "a hexadecimal number", 2},
		{"name = \"a\"\nextra += \" quiet\"\n", "expecting an assignment", "+= (libvirt's reader knows only =)", 2},
		{"disk = [ # devices\n  \"/x,raw,xvda,rw\"\n]\n", "expecting a value", "a comment inside a list", 1},
		{"disk = [ \"/x,raw,xvda,rw\", # first\n]\n", "expecting a value", "a comment inside a list", 1},
		{"disk = [ \"/x,raw,xvda,rw\" # first\n]\n", "expecting a separator in list", "a comment inside a list", 1},
		{"\n\ncmdline = \"a \\\"q\\\" b\"\n", "expecting a separator", "an escaped quote in a string (libvirt's reader has no escapes)", 3},
		{"x.y = 1\n", "expecting an assignment", "a name with a dot", 1},
		{"name = \"a\nb\"\n", "unterminated string", "unterminated string at \"\"", 1},
		{"vif = [ \"a\"\n", "list is not closed with ]", "list is not closed with ] at \"\"", 2},
		{"a = 12ab\n", "expecting a separator", "a number with letters", 1},
	} {
		_, err := libvirtoracle.ReadConf([]byte(c.src))
		if err == nil {
			t.Errorf("%q: read; libvirt refuses it", c.src)
			continue
		}
		if err.Line != c.line || err.Msg != c.msg || err.Why != c.why {
			t.Errorf("%q: line %d %q (%s); want line %d %q (%s)", c.src, err.Line, err.Msg, err.Why, c.line, c.msg, c.why)
		}
		want := "configuration file syntax error: memory conf:"
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: %s", c.src, err)
		}
	}
}

// TestReadConfReads: what libvirt's reader takes, and how it stores it.
func TestReadConfReads(t *testing.T) {
	src := "# c\nname = 'a' # trailing\r\nmemory = 0400; vcpus = -2\nvif = [ \"x\",\n  'y', ]\nempty = []\nnested = [[\"a\"], \"b\"]\nname = \"b\"\ncmd = \"\"\"q\"\"\"\n"
	es, err := libvirtoracle.ReadConf([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Name+"="+e.Value.String())
	}
	want := `name="a" memory=400 vcpus=-2 vif=["x", "y"] empty=[] nested=[["a"], "b"] name="b" cmd="q"`
	if strings.Join(got, " ") != want {
		t.Errorf("read %s\nwant %s", strings.Join(got, " "), want)
	}
}

func parse(t *testing.T, src string) *parser.File {
	t.Helper()
	f, d := parser.Parse("t.cfg", []byte(src), parser.Options{})
	if d.HasErrors() {
		t.Fatal(d.Errs())
	}
	return f
}

// TestMisreadings: settings libvirt's reader takes otherwise than xl.
func TestMisreadings(t *testing.T) {
	src := "name = \"a\"\nmemory = 0400\nvcpus = 07\nmaxmem = 1024\nextra = \"tab\\there\"\nkernel = \"/k\"\nkernel = \"/k2\"\nroot = \"/dev/xvda\"\n"
	f := parse(t, src)
	es, err := libvirtoracle.ReadConf([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	m := libvirtoracle.Misreadings(f, es)
	for _, k := range []string{"memory", "extra", "kernel"} {
		if m[k] == "" {
			t.Errorf("%s not reported misread: %v", k, m)
		}
	}
	if !strings.Contains(m["kernel"], "set 2 times") {
		t.Errorf("kernel: %s", m["kernel"])
	}
	for _, k := range []string{"name", "vcpus", "maxmem", "root"} {
		if m[k] != "" {
			t.Errorf("%s reported misread (%s); 07 is 7 either way", k, m[k])
		}
	}
}

// TestRendition: a file libvirt refuses, written so that both read it
// alike; what cannot be written alike is named.
func TestRendition(t *testing.T) {
	f := parse(t, "name = \"a\" # n\nmemory = 0x100\nextra = \"q\"\nextra += ' \"x\"'\nvif = [ # v\n  'bridge=xenbr0', ]\nvif += [ \"bridge=xenbr1\" ]\ncmdline = \"back\\\\slash\"\n")
	out, omitted, why, err := libvirtoracle.Rendition(f)
	if err != nil || why != "" || omitted != nil {
		t.Fatal(omitted, why, err)
	}
	want := "name = \"a\"\nmemory = 256\nextra = 'q \"x\"'\nvif = [ \"bridge=xenbr0\", \"bridge=xenbr1\" ]\ncmdline = \"back\\\\slash\"\n"
	if string(out) != want {
		t.Errorf("rendition:\n%s\nwant:\n%s", out, want)
	}
	es, cerr := libvirtoracle.ReadConf(out)
	if cerr != nil {
		t.Fatal(cerr)
	}
	m := libvirtoracle.Misreadings(parse(t, string(out)), es)
	if len(m) != 1 || m["cmdline"] == "" {
		t.Errorf("misreadings of the rendition: %v; want cmdline only (a backslash)", m)
	}
	// cpus as a list, which libvirt's converter refuses and no fact
	// needs, is left out.
	out, omitted, why, err = libvirtoracle.Rendition(parse(t, "name = \"a\"\ncpus = [ \"0-3\", \"4\" ]\nvcpus = 2\n"))
	if err != nil || why != "" || string(out) != "name = \"a\"\nvcpus = 2\n" || len(omitted) != 1 || omitted[0] != "cpus" {
		t.Errorf("cpus list: %q %v %q %v", out, omitted, why, err)
	}
	for _, c := range []struct{ src, why string }{
		{"name = \"a\"\nextra = \"'\\\"\"\n", "both quote characters"},
		{"a.b = 1\n", "name a.b"},
		{"name = \"a\"\nvif = [ \"bridge=xenbr0,trusted\" ]\n", `a vif item without '=' ("trusted")`},
	} {
		out, _, why, err := libvirtoracle.Rendition(parse(t, c.src))
		if err != nil || out != nil || !strings.Contains(why, c.why) {
			t.Errorf("%q: %q %q %v; want no rendition because of %s", c.src, out, why, err, c.why)
		}
	}
}

// TestJudge: libvirt's refusals are predicted, anything else unforeseen is
// an error, and misread settings exempt only their own facts.
func TestJudge(t *testing.T) {
	ours := ours(t)
	f := parse(t, cfg)
	if v, err := libvirtoracle.Judge(ours, f, []byte(cfg), libvirtoracle.Result{XML: []byte(libvirtXML)}); err != nil || len(v.Diffs) != 0 || v.Refused != "" {
		t.Errorf("plain file: %+v %v", v, err)
	}
	// Refused as predicted, and otherwise.
	hex := strings.Replace(cfg, "vcpus = 2", "vcpus = 0x2", 1)
	fh := parse(t, hex)
	v, err := libvirtoracle.Judge(ours, fh, []byte(hex), libvirtoracle.Result{Err: "configuration file syntax error: memory conf:5: expecting a separator"})
	if err != nil || v.Refused != "libvirt's reader refuses a hexadecimal number" {
		t.Errorf("hex: %+v %v", v, err)
	}
	if _, err := libvirtoracle.Judge(ours, fh, []byte(hex), libvirtoracle.Result{Err: "configuration file syntax error: memory conf:6: expecting a separator"}); err == nil {
		t.Error("a refusal at another line than foreseen is no error")
	}
	if _, err := libvirtoracle.Judge(ours, f, []byte(cfg), libvirtoracle.Result{Err: "internal error: something"}); err == nil {
		t.Error("an unforeseen refusal is no error")
	}
	cpus := cfg + "cpus = [ \"0-3\", \"4\" ]\n"
	if v, err := libvirtoracle.Judge(ours, parse(t, cpus), []byte(cpus), libvirtoracle.Result{Err: "internal error: memory conf: expected a string for 'cpus' parameter"}); err != nil || !strings.HasPrefix(v.Refused, "cpus as a list") {
		t.Errorf("cpus list: %+v %v", v, err)
	}
	flag := strings.Replace(cfg, "rate=10MB/s", "rate=10MB/s,trusted", 1)
	if v, err := libvirtoracle.Judge(ours, parse(t, flag), []byte(flag), libvirtoracle.Result{Err: "An error occurred, but the cause is unknown"}); err != nil || !strings.Contains(v.Refused, `"trusted"`) {
		t.Errorf("vif flag: %+v %v", v, err)
	}
	// 0400 MiB is 256 MiB to xl, 400 to libvirt: memory facts exempt, the
	// others still weighed.
	oct := strings.Replace(cfg, "memory = 512", "memory = 01000", 1)
	theirs := strings.Replace(strings.Replace(libvirtXML, "524288", "1024000", 1), "00:16:3e:01:02:03", "00:16:3e:01:02:04", 1)
	v, err = libvirtoracle.Judge(ours, parse(t, oct), []byte(oct), libvirtoracle.Result{XML: []byte(theirs)})
	if err != nil || v.Misread["memory"] == "" || len(v.Exempt) != 1 || v.Exempt[0].Key != "currentMemory" ||
		len(v.Diffs) != 1 || v.Diffs[0].Key != "interface[0]/mac@address" {
		t.Errorf("octal memory: %+v %v", v, err)
	}
}
