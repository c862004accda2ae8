package parser

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/tests/cfgcompat/cfggen"
)

// describeValue renders everything a Value holds, for failure messages.
func describeValue(b *strings.Builder, v *Value, indent string) {
	if v == nil {
		b.WriteString(indent + "<nil>\n")
		return
	}
	fmt.Fprintf(b, "%s%s %q raw=%q number=%v range=%v items-nil=%v\n", indent, v.Kind, v.Str, v.Raw, v.Number, v.Range, v.Items == nil)
	for _, it := range v.Items {
		describeValue(b, it, indent+"  ")
	}
	for _, pt := range partsOf(v) {
		if pt != v {
			describeValue(b, pt, indent+"  part ")
		}
	}
}

// describeFile renders every field of a File, unexported ones included.
func describeFile(f *File) string {
	if f == nil {
		return "<nil file>\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "file %q strayAt=%d opts=%+v\n", f.Filename, f.strayAt, f.opts)
	for _, s := range f.settings {
		fmt.Fprintf(&b, "%s %s line=%d name=%+v op=%+v range=%+v\n", s.Name, s.Op, s.Line, s.NameRange, s.OpRange, s.Range)
		describeValue(&b, s.Value, "  ")
		describeValue(&b, s.own, "  own ")
	}
	return b.String()
}

// checkFastPath runs both parse paths on src and fails unless the fast path
// handles exactly the inputs the participle path accepts without a
// diagnostic, and gives an identical File for them: every field of every
// Setting and Value (ranges, raw text, `+=` parts, edit spans), the bytes
// written back and the canonical format. It reports whether the fast path
// handled src.
func checkFastPath(t testing.TB, name string, src []byte, opts Options) bool {
	t.Helper()
	fast := parseFast(name, bytes.Clone(src), opts) // a copy: Bytes is checked against src
	slow, diags := parseSlow(name, src, opts)
	clean := slow != nil && len(diags) == 0
	if (fast != nil) != clean {
		t.Fatalf("%s: fast path handled=%v, participle path accepted=%v with %d diagnostics\ninput: %q\n%s",
			name, fast != nil, slow != nil, len(diags), src, diags)
	}
	// Parse must give what the participle path gives, diagnostics included.
	pub, pubDiags := Parse(name, src, opts)
	if !reflect.DeepEqual(pubDiags, diags) && !(len(pubDiags) == 0 && len(diags) == 0) {
		t.Fatalf("%s: Parse diagnostics differ from the participle path's\ninput: %q\nParse:\n%s\nparticiple:\n%s", name, src, pubDiags, diags)
	}
	if (pub == nil) != (slow == nil) {
		t.Fatalf("%s: Parse accepted=%v, participle path accepted=%v\ninput: %q", name, pub != nil, slow != nil, src)
	}
	if fast == nil {
		return false
	}
	if !reflect.DeepEqual(fast, slow) || !reflect.DeepEqual(pub, slow) {
		t.Fatalf("%s: the paths build different Files\ninput: %q\nfast:\n%s\nparticiple:\n%s", name, src, describeFile(fast), describeFile(slow))
	}
	if !bytes.Equal(fast.Bytes(), slow.Bytes()) || !bytes.Equal(fast.Bytes(), src) {
		t.Fatalf("%s: Bytes() differ\ninput: %q", name, src)
	}
	if back, err := rebuild(fast, src); err != nil || !bytes.Equal(back, src) {
		t.Fatalf("%s: the settings' ranges and text do not give the input back (%v)\ninput: %q", name, err, src)
	}
	fo, ferr := Format(fast)
	so, serr := Format(slow)
	if !bytes.Equal(fo, so) || (ferr == nil) != (serr == nil) {
		t.Fatalf("%s: Format differs\ninput: %q\nfast: %q %v\nparticiple: %q %v", name, src, fo, ferr, so, serr)
	}
	return true
}

// fastPathInputs are hand-picked inputs at the edges of what the fast path
// handles.
var fastPathInputs = []string{
	"", "\n", ";", "a=1", "a = 1 ", "a = 1\t;\t", "a = 1;b=2", "a = 1 b = 2", "a = 1\nb", "a=\n1",
	"a = [\n]\n", "a = [ ]", "a = [,]", "a = [1,]", "a = [1,,2]", "a = [1 2]", "a = [1\n,\n2\n,\n]",
	"a = [ # c\n 1 # d\n , # e\n]\n", "a = [ # c", "a = [1] # c", "a = [1] # c\n", "a = [[[]]]",
	"a = 1g\n", "a = 1b\n", "a = 1'x'\n", "a = 'x''y'\n", "a = 'x'1\n", "a = 0x\n", "a = [1][2]\n",
	"a = 'it''s'\n", "a = \"\\\\\"\n", "a = \"\\\"\"\n", "a = '\\''\n", "a = \"\\n\\t\\r\\a\\b\\f\\v\"\n",
	"a = \"x\\;\"\n", "a = \"\\x41\"\n", "a = \"A\\101B\"\n", "a = \"\\1\"\n", "a = \"x\\", "a = \"x\\\n\"",
	"a = \"x\x00\"\n", "a = \"x\\\x00\"\n", "a = 'é\xff'\n", "a = 'x\ry'\n", "a = 'x\r\ny'\n",
	"a = 1\r\n", "a = 1\r", "a = 1\rb = 2\n", "a = 1\n# c", "a = 1\n#", "a = 1 #", "a = 1\n@",
	"a += 1\n", "a = 1\na += 2\na += 'x'\n", "a = [1]\na += [2]\na += []\n", "a = []\na += []\n",
	"a = 1\na += [2]\n", "a = [1]\na += 2\n", "b = 1\na = [1]\nb += 1\na += [[2]]\n",
	"A = 1\n", "_a = 1\n", "a.b_c9 = 1\n", "aB = 1\n", "a + = 1\n", "a += = 1\n", "a == 1\n", "= 1\n",
	"a =\t'x'\t#\tc\n\n\n;;\n", "\t\n \n", "a = 1;;;\n;b = 2;", "a = [\n\n# c\n\n]\n",
	"a = " + strings.Repeat("[", maxNesting) + strings.Repeat("]", maxNesting) + "\n",
	"a = " + strings.Repeat("[", maxNesting+1) + strings.Repeat("]", maxNesting+1) + "\n",
	"a = [" + strings.Repeat("'x',\n", 5000) + "]\n",
}

// manyPlusEquals has enough `+=` to switch the fast path's name lookup from
// linear searches to its map.
func manyPlusEquals() string {
	var b strings.Builder
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&b, "s%d = 'v'\nl%d = [%d]\n", i%40, i%30, i)
	}
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&b, "s%d += '%d'\nl%d += [%d, []]\nn%d += %d\n", i%37, i, i%29, i, i%5, i)
	}
	return b.String()
}

func fastPathCorpus(t testing.TB) map[string][]byte {
	inputs := corpus(t)
	for i, s := range fastPathInputs {
		inputs[fmt.Sprintf("edge-%d", i)] = []byte(s)
	}
	inputs["plus-equals"] = []byte(manyPlusEquals())
	// The fuzzers' saved inputs, in `go test fuzz v1` form.
	files, _ := filepath.Glob("testdata/fuzz/*/*")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if src, ok := fuzzCorpusBytes(b); ok {
			inputs[p] = src
		}
	}
	return inputs
}

// fuzzCorpusBytes decodes a saved fuzz input holding one []byte.
func fuzzCorpusBytes(b []byte) ([]byte, bool) {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "[]byte(") {
		return nil, false
	}
	var s string
	if _, err := fmt.Sscanf(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"), "%q", &s); err != nil {
		return nil, false
	}
	return []byte(s), true
}

func TestFastPathEquivalence(t *testing.T) {
	handled, total := 0, 0
	run := func(name string, src []byte) {
		for _, opts := range []Options{{}, {Strict: true}} {
			total++
			if checkFastPath(t, name, src, opts) {
				handled++
			}
		}
	}
	for name, src := range fastPathCorpus(t) {
		run(name, src)
	}
	// The seeded generator of the libxlutil differential tests.
	n := 6000
	if testing.Short() {
		n = 1000
	}
	r := rand.New(rand.NewSource(20170314))
	for i := 0; i < n; i++ {
		run(fmt.Sprintf("gen-%d", i), []byte(cfggen.Input(r, i)))
	}
	t.Logf("fast path handled %d of %d parses", handled, total)
	if handled < total/10 {
		t.Errorf("fast path handled only %d of %d parses: the inputs no longer exercise it", handled, total)
	}
}

// FuzzFastPathEquivalence checks, for any input, that the fast path handles
// it exactly when the participle path accepts it without a diagnostic, and
// then builds the same File.
func FuzzFastPathEquivalence(f *testing.F) {
	addSeeds(f)
	for _, s := range fastPathInputs {
		if len(s) < 4096 { // the fuzzer mutates small inputs well, big ones slowly
			f.Add([]byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		checkFastPath(t, "fuzz.cfg", src, Options{})
		checkFastPath(t, "fuzz.cfg", src, Options{Strict: true})
	})
}

// TestEditsAfterFastParse edits a file the fast path parsed, and checks each
// result against the same edit on a file the participle path parsed.
func TestEditsAfterFastParse(t *testing.T) {
	src := []byte("# g\nname = 'g'\nvif = [\n    'bridge=br0', # one\n    'bridge=br1',\n]\nextra = 'a'\nextra += 'b'\nl = [1]\nl += [2]\nmemory = 512 ; vcpus = 2\n")
	edits := []func(f *File) error{
		func(f *File) error { return f.Set("memory", NumberValue("1024")) },
		func(f *File) error { return f.Set("extra", StringValue("q\"uiet")) },
		func(f *File) error { return f.ReplaceListItem("vif", 1, "bridge=br2") },
		func(f *File) error { return f.AppendItem("vif", StringValue("bridge=br3")) },
		func(f *File) error { return f.AppendItem("l", ListValue(StringValue("x"))) },
		func(f *File) error { _, err := f.Remove("vcpus"); return err },
		func(f *File) error { return f.Set("new.key", ListValue()) },
		func(f *File) error { _, err := f.Remove("name"); return err },
	}
	fast := parseFast("t.cfg", src, Options{})
	slow, diags := parseSlow("t.cfg", src, Options{})
	if fast == nil || slow == nil {
		t.Fatalf("not accepted by both paths: %s", diags)
	}
	for i, edit := range edits {
		if err := edit(fast); err != nil {
			t.Fatalf("edit %d on the fast-path file: %v", i, err)
		}
		if err := edit(slow); err != nil {
			t.Fatalf("edit %d on the participle-path file: %v", i, err)
		}
		if !bytes.Equal(fast.Bytes(), slow.Bytes()) {
			t.Fatalf("edit %d: texts differ\nfast:\n%s\nparticiple:\n%s", i, fast.Bytes(), slow.Bytes())
		}
		// The edited text is re-parsed by Parse (the fast path): it must be
		// what the participle path reads from the same text.
		checkFastPath(t, fmt.Sprintf("edit-%d", i), fast.Bytes(), Options{})
	}
	want := "# g\nvif = [\n    'bridge=br0', # one\n    \"bridge=br2\",\n    \"bridge=br3\",\n]\nextra = 'a'\nextra = \"q\\\"uiet\"\nl = [1]\nl += [2, [\"x\"]]\nmemory = 1024 ;\nnew.key = []\n"
	if got := string(fast.Bytes()); got != want {
		t.Errorf("after edits:\n%s\nwant:\n%s", got, want)
	}
	if got := fast.Lookup("l").Value.String(); got != `[1, 2, ["x"]]` {
		t.Errorf("l = %s after AppendItem over +=", got)
	}
}

// benchInputs are the inputs of make bench-parser: those of the comparison
// with libxlutil (tests/cfgcompat) and a corpus file.
func benchInputs(b *testing.B) []struct {
	name string
	src  []byte
} {
	return []struct {
		name string
		src  []byte
	}{
		{"typical", []byte(cfggen.Typical)},
		{"corpus-hvm", corpus(b)["ok-hvm-03.cfg"]},
		{"1MB", cfggen.Big(1 << 20)},
	}
}

// BenchmarkParse is Parse as callers see it: the fast path on these inputs.
func BenchmarkParse(b *testing.B) {
	for _, in := range benchInputs(b) {
		b.Run(in.name, func(b *testing.B) {
			if f, diags := Parse("bench.cfg", in.src, Options{}); f == nil || len(diags) > 0 {
				b.Fatalf("not a clean input: %s", diags)
			}
			b.SetBytes(int64(len(in.src)))
			b.ReportAllocs()
			for b.Loop() {
				Parse("bench.cfg", in.src, Options{})
			}
		})
	}
}

// BenchmarkParseParticiple is the participle path alone on the same inputs,
// what Parse costs for a file with a diagnostic.
func BenchmarkParseParticiple(b *testing.B) {
	for _, in := range benchInputs(b) {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.src)))
			b.ReportAllocs()
			for b.Loop() {
				parseSlow("bench.cfg", in.src, Options{})
			}
		})
	}
}

// TestParseConcurrent parses different files at once: the fast path's
// pooled scratch must not leak from one parse into another (run with -race
// as well).
func TestParseConcurrent(t *testing.T) {
	var inputs [][]byte
	var want []string
	for _, src := range corpus(t) {
		if f, _ := Parse("c.cfg", src, Options{}); f != nil {
			inputs = append(inputs, src)
			want = append(want, describeFile(f))
		}
	}
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := range inputs {
				k := (i*7 + g*13) % len(inputs)
				if f, _ := Parse("c.cfg", inputs[k], Options{}); f == nil || describeFile(f) != want[k] {
					errs <- fmt.Sprintf("input %d parsed differently when parsed concurrently", k)
					return
				}
			}
			errs <- ""
		}()
	}
	for g := 0; g < 4; g++ {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}

// TestFastPathAllocations checks the allocation discipline of the fast
// path: a fixed number of allocations per file, whatever its size (no
// allocation per setting or value), for files without `+=`.
func TestFastPathAllocations(t *testing.T) {
	// A collection would empty the pool of scratch records between runs,
	// which a long-running caller does only now and then.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	small := []byte("name = 'g'\nmemory = 512\nvif = ['bridge=br0', \"a\\tb\"]\n")
	var big strings.Builder
	for i := 0; big.Len() < 64<<10; i++ {
		fmt.Fprintf(&big, "# %d\nname%d = 'g%d' ; mem%d = %d\nvif%d = [\n  'bridge=br0', # c\n  \"a\\tb\", [1, []],\n]\n", i, i, i, i, i, i)
	}
	for _, tt := range []struct {
		name string
		src  []byte
	}{{"small", small}, {"64KiB", []byte(big.String())}} {
		if parseFast("a.cfg", tt.src, Options{}) == nil {
			t.Fatalf("%s: not handled by the fast path", tt.name)
		}
		n := testing.AllocsPerRun(50, func() { parseFast("a.cfg", tt.src, Options{}) })
		// The source and escaped strings, Values, list item pointers,
		// Settings, the settings slice and the File.
		if n > 6 {
			t.Errorf("%s: %v allocations per parse, want at most 6", tt.name, n)
		}
	}
}
