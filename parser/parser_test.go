package parser

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dump renders settings compactly: name op value, one a line.
func dump(f *File) string {
	var b strings.Builder
	for _, s := range f.Settings() {
		b.WriteString(s.Name + " " + s.Op + " " + s.Value.String() + "\n")
	}
	return b.String()
}

func mustParse(t *testing.T, src string) *File {
	t.Helper()
	f, diags := Parse("t.cfg", []byte(src), Options{})
	if f == nil {
		t.Fatalf("Parse(%q): %s", src, diags)
	}
	return f
}

func TestValues(t *testing.T) {
	tests := []struct{ src, want string }{
		{"a = 1\n", "a = 1\n"},
		{"a=0x1f", "a = 0x1f\n"},           // number text kept, no terminator at EOF
		{"a = 9abc\n", "a = 9abc\n"},       // NUMBER is [0-9][0-9a-fx]*, not validated
		{"a = 010\n", "a = 010\n"},         // kept as text: xl's getter reads it as octal
		{"a = '1024'\n", "a = \"1024\"\n"}, // quoted and bare numbers are both strings
		{`a = "it's"` + "\n", `a = "it's"` + "\n"},
		{`a = 'say "hi"'` + "\n", `a = "say \"hi\""` + "\n"},
		{`a = "\"\'\\\a\b\f\n\r\t\v"` + "\n", `a = "\"'\\\a\b\f\n\r\t\v"` + "\n"},
		{`a = "A\101B"` + "\n", `a = "AB"` + "\n"},    // libxlutil's octal bug: escape dropped
		{`a = "A\12345B"` + "\n", `a = "A5B"` + "\n"}, // takes 3 chars after the digit
		{`a = "A\1 5B"` + "\n", `a = "AB"` + "\n"},    // strtoul skips the blank
		{`a = "x\;y"` + "\n", `a = "x\\;y"` + "\n"},   // lenient: kept as written
		{"a = [1, \"x\", [2, []], ]\n", "a = [1, \"x\", [2, []]]\n"},
		{"a = [\n # c\n 1\n ,\n 2 # d\n ,\n]\n", "a = [1, 2]\n"},
		{"a = []\n", "a = []\n"},
		{"a=1;b=2 ; c = 3;\n", "a = 1\nb = 2\nc = 3\n"},
		{"a = 1\na = 2\n", "a = 1\na = 2\n"},
		{"x.y = 1\nvif.default.script = 'a'\n", "x.y = 1\nvif.default.script = \"a\"\n"},
		// += joins with the previous value of the same name; a list's items
		// move to the later setting (libxlutil empties the earlier list).
		{"a = 'x'\na += 'y'\n", "a = \"x\"\na += \"xy\"\n"},
		{"l = [1]\nl += [2]\nl += [[3]]\n", "l = []\nl += []\nl += [1, 2, [3]]\n"},
		{"n += 'fresh'\n", "n += \"fresh\"\n"},
		{"\n\n;;\n# only\n", ""},
		{"a = 1\n@", "a = 1\n"},        // libxlutil ignores a bad last byte
		{"a = 1 #", "a = 1\n"},         // a lone # as the last byte too
		{"#c\r\na = 1\n", "a = 1\n"},   // a comment may end in CRLF (`.` matches CR)
		{"# \x00\na = 1\n", "a = 1\n"}, // a comment may hold anything
	}
	for _, tt := range tests {
		f := mustParse(t, tt.src)
		if got := dump(f); got != tt.want {
			t.Errorf("Parse(%q):\n got %q\nwant %q", tt.src, got, tt.want)
		}
	}
}

func TestLookupLastWins(t *testing.T) {
	f := mustParse(t, "a = 1\nb = [2]\na = 'three'\n")
	if s := f.Lookup("a"); s == nil || s.Value.Str != "three" || s.Line != 3 {
		t.Errorf("Lookup(a) = %+v", s)
	}
	if f.Lookup("c") != nil {
		t.Error("Lookup(c) found a setting")
	}
}

func TestLineIsValueLine(t *testing.T) {
	f := mustParse(t, "\n\na = [\n1]\nb = 2\n")
	if got := f.Lookup("a").Line; got != 3 {
		t.Errorf("a: line %d, want 3 (the `[`)", got)
	}
	if got := f.Lookup("b").Line; got != 5 {
		t.Errorf("b: line %d, want 5", got)
	}
}

func TestRejects(t *testing.T) {
	for _, src := range []string{
		"A = 1\n", "_a = 1\n", "1a = 1\n", "a-b = 1\n", "a = -1\n", "a = 0x1F\n", "a = 1.5\n",
		"a =\n1\n", "a = [1 2]\n", "a = [1,,2]\n", "a = [,]\n", "a = [1;2]\n", "a = 1 b = 2\n",
		"a + = 1\n", "a == 1\n", "= 1\n", "a = \n", "a = [1\n", "a = ]\n", "a = \"x\n", "a = 'x\"\n",
		"a = \"x\"\na += [\"y\"]\n", "a = [1]\na += \"y\"\n", "a = \"\\x41\"\n", "a = \"\\1\"\n",
		"a = \"\\12\"\n", "a = \"x\\7\"\n", "a = 1\n@x", "a = 1\rb = 2\n", "a = \"x\x00\"\n",
		"a = yes\n", "a = (1)\n", "a = \"\\\x00\"\n", "a = \x00\n",
	} {
		if f, diags := Parse("t.cfg", []byte(src), Options{}); f != nil || !diags.HasErrors() {
			t.Errorf("Parse(%q) accepted: %s", src, dump(f))
		}
	}
}

func TestCRAtEOFIgnored(t *testing.T) {
	// The CR is the last byte: libxlutil's scanner reaches EOF before it
	// reports the bad character.
	f, diags := Parse("t.cfg", []byte("a = 1\r"), Options{Strict: true})
	if f == nil {
		t.Fatalf("rejected: %s", diags)
	}
	if len(diags) != 1 || diags[0].Severity != DiagWarning {
		t.Errorf("diags = %s, want one warning", diags)
	}
}

func TestEveryErrorReported(t *testing.T) {
	src := "a = 1\nb = 2 c = 3\nd = [1 2]\nE = 4\nf = \"\\x41\"\nh =\n5\ni = [1,,2]\nj = 1\nk = 'x'\nk += [1]\n"
	_, diags := Parse("guest.cfg", []byte(src), Options{})
	var got []string
	for _, d := range diags {
		got = append(got, d.Subject.String()+" "+d.Severity.String())
	}
	want := []string{
		"guest.cfg:2:7 error",  // c: missing terminator
		"guest.cfg:3:8 error",  // 2: missing comma
		"guest.cfg:4:1 error",  // E: lexical
		"guest.cfg:5:6 error",  // \x
		"guest.cfg:6:4 error",  // newline after =
		"guest.cfg:7:1 error",  // 5 on its own
		"guest.cfg:8:8 error",  // second comma
		"guest.cfg:11:3 error", // += type mismatch, at the operator
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("diagnostics:\n%s\nwant:\n%s\nfull:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), diags)
	}
	for _, d := range diags {
		if !strings.HasPrefix(d.Error(), "guest.cfg:") {
			t.Errorf("Error() = %q, want FILE:LINE:COL: prefix", d.Error())
		}
	}
}

func TestLeniencies(t *testing.T) {
	for _, tt := range []struct{ name, src, how string }{
		{"unknown escape", "vif = [\"features=queues:2\\;max-ring-page-order:0\"]\n", `\\;`},
		{"CRLF", "a = 1\r\nb = 2\r\n", "LF"},
		{"last-line comment", "a = 1\n# no newline", "newline"},
	} {
		f, diags := Parse("t.cfg", []byte(tt.src), Options{})
		if f == nil {
			t.Errorf("%s: rejected: %s", tt.name, diags)
			continue
		}
		if len(diags) == 0 {
			t.Errorf("%s: no warning", tt.name)
		}
		for _, d := range diags {
			if d.Severity != DiagWarning || !strings.Contains(d.Detail, "xl would reject this") || !strings.Contains(d.Detail, tt.how) {
				t.Errorf("%s: diagnostic %q: want a warning saying xl would reject this and how (%s)", tt.name, d.Error(), tt.how)
			}
		}
		if f, diags := Parse("t.cfg", []byte(tt.src), Options{Strict: true}); f != nil || !diags.HasErrors() {
			t.Errorf("%s: accepted with Strict", tt.name)
		}
	}
	f := mustParse(t, "v = \"a\\;b\"\n")
	if got := f.Lookup("v").Value.Str; got != `a\;b` {
		t.Errorf("unknown escape kept as %q, want the backslash and the character", got)
	}
}

func TestPositions(t *testing.T) {
	src := "# head\nvif = [ 'bridge=br0',\n\t\"a\\\\b\\tc=1\" ]\nmemory\t=  512\n"
	f := mustParse(t, src)
	vif := f.Lookup("vif")
	if r := vif.NameRange; r.Start != (Pos{2, 1, 7}) || r.End != (Pos{2, 4, 10}) {
		t.Errorf("vif NameRange = %#v", r)
	}
	if r := vif.Value.Range; r.Start != (Pos{2, 7, 13}) || r.End.Line != 3 {
		t.Errorf("vif Value.Range = %+v", r)
	}
	it := vif.Value.Items[1]
	if it.Range.Start != (Pos{3, 2, 30}) {
		t.Errorf("item 1 starts at %+v", it.Range.Start)
	}
	// PosOf maps an offset in the dequoted string to the source: `a\\b\tc=1`
	// is a, \, b, TAB, c...; the TAB comes from the 2-byte escape at column 7.
	for i, col := range []int{3, 4, 6, 7, 9, 10, 11} {
		if got := it.PosOf(i); got.Column != col || got.Line != 3 || src[got.Byte] == 0 {
			t.Errorf("PosOf(%d) = %+v, want column %d", i, got, col)
		}
	}
	if got := it.PosOf(len(it.Str)); src[got.Byte] != '"' {
		t.Errorf("PosOf(len) = %+v, want the closing quote", got)
	}
	mem := f.Lookup("memory")
	if r := mem.Value.Range; r.Start.Column != 11 || r.End.Column != 14 || mem.OpRange.Start.Column != 8 {
		t.Errorf("memory ranges: value %+v op %+v", r, mem.OpRange)
	}
	// A string joined by += maps offsets into its parts.
	f = mustParse(t, "e = 'ab'\ne += \"cd\"\n")
	e := f.Lookup("e").Value
	if p := e.PosOf(1); p.Line != 1 || p.Column != 7 {
		t.Errorf("joined PosOf(1) = %+v", p)
	}
	if p := e.PosOf(3); p.Line != 2 || p.Column != 8 {
		t.Errorf("joined PosOf(3) = %+v", p)
	}
}

func corpus(t testing.TB) map[string][]byte {
	files, _ := filepath.Glob("../tests/cfgcompat/testdata/*.cfg")
	if len(files) == 0 {
		t.Fatal("no corpus")
	}
	out := map[string][]byte{}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// rebuild writes a parsed file back from what the parser recorded: each
// setting's name, operator and value (each string or number as its Raw
// text, each list as brackets around its items) placed at the byte offsets
// recorded for them, and between them the source bytes those offsets skip
// (blanks, comments, commas, separators). It is the source again exactly
// when every range is where its text is and every Raw is that text: what
// the lossless writer relies on to edit a file in place.
func rebuild(f *File, src []byte) ([]byte, error) {
	var b bytes.Buffer
	off := 0
	gap := func(to int) error {
		if to < off || to > len(src) {
			return fmt.Errorf("range at byte %d overlaps the text before it (up to %d) or leaves the file", to, off)
		}
		b.Write(src[off:to])
		off = to
		return nil
	}
	piece := func(r Range, text string) error {
		if err := gap(r.Start.Byte); err != nil {
			return err
		}
		b.WriteString(text)
		off = r.End.Byte
		return nil
	}
	var value func(v *Value) error
	value = func(v *Value) error {
		if v.Kind != KindList {
			return piece(v.Range, v.Raw)
		}
		if err := piece(Range{Start: v.Range.Start, End: Pos{Byte: v.Range.Start.Byte + 1}}, "["); err != nil {
			return err
		}
		for _, it := range v.Items {
			if err := value(it); err != nil {
				return err
			}
		}
		return piece(Range{Start: Pos{Byte: v.Range.End.Byte - 1}, End: v.Range.End}, "]")
	}
	for _, s := range f.Settings() {
		if err := piece(s.NameRange, s.Name); err != nil {
			return nil, err
		}
		if err := piece(s.OpRange, s.Op); err != nil {
			return nil, err
		}
		if err := value(s.own); err != nil {
			return nil, err
		}
		if s.Range.End.Byte != off {
			return nil, fmt.Errorf("%s: the assignment ends at byte %d, its value at %d", s.Name, s.Range.End.Byte, off)
		}
	}
	if err := gap(len(src)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// firstDiff shows where a and b part.
func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-20)
	return fmt.Sprintf("at byte %d: input %q, rebuilt %q", i, a[from:min(len(a), i+20)], b[from:min(len(b), i+20)])
}

// TestRoundTripCorpus: every file of the corpus xl accepts comes back byte
// for byte, from Bytes and from the parsed settings themselves (rebuild);
// each assignment's own text parses alone to the same value; and Format's
// output is read by xl (a strict parse) as the same settings, and is its own
// format.
func TestRoundTripCorpus(t *testing.T) {
	n := 0
	for name, src := range corpus(t) {
		// Parse a copy: Bytes must give the input back even if the
		// parser changed the buffer it was handed.
		f, _ := Parse(name, bytes.Clone(src), Options{})
		if f == nil {
			continue
		}
		n++
		if !bytes.Equal(f.Bytes(), src) {
			t.Errorf("%s: Bytes() differs from the input", name)
		}
		if back, err := rebuild(f, src); err != nil {
			t.Errorf("%s: rebuilding from the settings: %v", name, err)
		} else if !bytes.Equal(back, src) {
			t.Errorf("%s: the settings' ranges and text do not give the input back: %s", name, firstDiff(src, back))
		}
		for _, s := range f.Settings() {
			text := src[s.NameRange.Start.Byte:s.Range.End.Byte]
			alone, diags := Parse(name, append(bytes.Clone(text), '\n'), Options{})
			if alone == nil || len(alone.Settings()) != 1 {
				t.Errorf("%s:%d: %q does not parse alone: %s", name, s.Line, text, diags)
				continue
			}
			if got, want := alone.Settings()[0], s; got.Name != want.Name || got.Op != want.Op || got.Value.String() != want.own.String() {
				t.Errorf("%s:%d: %q alone is %s %s %s, in the file %s %s %s", name, s.Line, text,
					got.Name, got.Op, got.Value, want.Name, want.Op, want.own)
			}
		}
		out, err := Format(f)
		if err != nil {
			t.Errorf("%s: Format: %v", name, err)
			continue
		}
		f2, diags := Parse(name, out, Options{Strict: true})
		if f2 == nil {
			t.Errorf("%s: formatted output rejected: %s\n%s", name, diags, out)
			continue
		}
		if dump(f2) != dump(f) {
			t.Errorf("%s: formatting changed the settings", name)
		}
		if out2, _ := Format(f2); !bytes.Equal(out, out2) {
			t.Errorf("%s: Format is not idempotent", name)
		}
	}
	if n < 150 {
		t.Errorf("only %d corpus files accepted", n)
	}
}

func TestFormat(t *testing.T) {
	src := "\n\n# head\n\n\nname='g' # the name\nmemory=1024;vcpus = 2\nvif=['bridge=br0,features=queues:2\\;max-ring-page-order:0', \"bridge=br1\",]\r\n" +
		"disk = [ # disks\n  'a',\n\n # second\n  'b' ]\nusb=[\"tablet\"]\nnest=[[1,2]]\nextra += 'x'\n\n\n# tail\n\n"
	f := mustParse(t, src)
	got, err := Format(f)
	if err != nil {
		t.Fatal(err)
	}
	want := `# head

name = "g" # the name
memory = 1024
vcpus = 2
vif = [
    "bridge=br0,features=queues:2\\;max-ring-page-order:0",
    "bridge=br1",
]
disk = [ # disks
    "a",
    # second
    "b",
]
usb = ["tablet"]
nest = [
    [
        1,
        2,
    ],
]
extra += "x"

# tail
`
	if string(got) != want {
		t.Errorf("Format:\n%s\nwant:\n%s", got, want)
	}
}

func TestEditsKeepLayout(t *testing.T) {
	src := `# guest
name = "g"   # keep me
memory = 512 ; vcpus = 2
vif = [
	# first nic
	"bridge=br0",   # comment
	"bridge=br1",
]
disk = ["a.img,raw,xvda,rw"]
extra = "x"
extra += "y"
`
	f := mustParse(t, src)
	if err := f.Set("memory", NumberValue("1024")); err != nil {
		t.Fatal(err)
	}
	if err := f.Set("extra", StringValue("quiet")); err != nil {
		t.Fatal(err)
	}
	if err := f.Set("on_crash", StringValue("restart")); err != nil {
		t.Fatal(err)
	}
	if err := f.ReplaceListItem("vif", 1, "bridge=br2,queues=2"); err != nil {
		t.Fatal(err)
	}
	if err := f.AppendItem("vif", StringValue("bridge=br3")); err != nil {
		t.Fatal(err)
	}
	if err := f.AppendItem("disk", StringValue("b.img,raw,xvdb,rw")); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Remove("vcpus"); !ok || err != nil {
		t.Fatalf("Remove(vcpus) = %v, %v", ok, err)
	}
	if ok, err := f.Remove("name"); !ok || err != nil {
		t.Fatalf("Remove(name) = %v, %v", ok, err)
	}
	want := `# guest
memory = 1024 ;
vif = [
	# first nic
	"bridge=br0",   # comment
	"bridge=br2,queues=2",
	"bridge=br3",
]
disk = ["a.img,raw,xvda,rw", "b.img,raw,xvdb,rw"]
extra = "x"
extra = "quiet"
on_crash = "restart"
`
	if got := string(f.Bytes()); got != want {
		t.Errorf("after edits:\n%s\nwant:\n%s", got, want)
	}
	if got := f.Lookup("extra").Value.Str; got != "quiet" {
		t.Errorf("extra = %q after Set over +=", got)
	}
	if err := f.AppendItem("extra", StringValue("x")); err == nil {
		t.Error("AppendItem on a string succeeded")
	}
	if err := f.Set("Bad", StringValue("x")); err == nil {
		t.Error("Set with an invalid name succeeded")
	}
	if err := f.ReplaceListItem("vif", 9, "x"); err == nil {
		t.Error("ReplaceListItem out of range succeeded")
	}
	if ok, _ := f.Remove("absent"); ok {
		t.Error("Remove(absent) reported a removal")
	}
}

func TestAppendItemLayouts(t *testing.T) {
	for _, tt := range []struct{ src, want string }{
		{"v = []\n", "v = [\"n\"]\n"},
		{"v = [\n]\n", "v = [\"n\"\n]\n"},
		{"v = ['a']\n", "v = ['a', \"n\"]\n"},
		{"v = ['a',]\n", "v = ['a', \"n\",]\n"},
		{"v = [\n  'a'\n]\n", "v = [\n  'a',\n  \"n\"\n]\n"},
		{"v = [\n  'a',\n]\n", "v = [\n  'a',\n  \"n\",\n]\n"},
		{"x = 1\n", "x = 1\nv = [\"n\"]\n"},
		{"x = 1", "x = 1\nv = [\"n\"]\n"},
	} {
		f := mustParse(t, tt.src)
		if err := f.AppendItem("v", StringValue("n")); err != nil {
			t.Errorf("%q: %v", tt.src, err)
			continue
		}
		if got := string(f.Bytes()); got != tt.want {
			t.Errorf("AppendItem on %q:\n got %q\nwant %q", tt.src, got, tt.want)
		}
	}
}

func TestFprint(t *testing.T) {
	src := []byte("a = 1\nb =\tE\n")
	_, diags := Parse("t.cfg", src, Options{})
	var plain, colour bytes.Buffer
	if err := diags.Fprint(&plain, src, false); err != nil {
		t.Fatal(err)
	}
	want := "t.cfg:2:5: error: unexpected `E`\n    b =\tE\n       \t^\n    names are lower case; values other than numbers must be quoted\n"
	if !strings.HasPrefix(plain.String(), want) {
		t.Errorf("Fprint:\n%q\nwant prefix\n%q", plain.String(), want)
	}
	if strings.Contains(plain.String(), "\x1b[") {
		t.Error("colour without asking")
	}
	_ = diags.Fprint(&colour, src, true)
	if !strings.Contains(colour.String(), "\x1b[") {
		t.Error("no colour when asked")
	}
}

func TestDeepNestingRejected(t *testing.T) {
	src := "a = " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n"
	if f, diags := Parse("t.cfg", []byte(src), Options{}); f != nil || !diags.HasErrors() {
		t.Error("5000-deep list accepted")
	}
	src = "a = " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n"
	mustParse(t, src)
}

func TestLongListIterative(t *testing.T) {
	// A long flat list must not recurse per item.
	src := "a = [" + strings.Repeat("\"x\",\n", 200000) + "]\n"
	f := mustParse(t, src)
	if n := len(f.Lookup("a").Value.Items); n != 200000 {
		t.Errorf("%d items", n)
	}
}
