package cfgcompat

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/tests/cfgcompat/cfggen"
)

// fromParser converts xfeat's value to the harness's form.
func fromParser(v *parser.Value) *Value {
	if v.Kind == parser.KindString {
		return &Value{Str: v.Str}
	}
	out := &Value{List: true, Items: []*Value{}}
	for _, it := range v.Items {
		out.Items = append(out.Items, fromParser(it))
	}
	return out
}

func settingsOf(f *parser.File) []Setting {
	var out []Setting
	for _, s := range f.Settings() {
		out = append(out, Setting{Name: s.Name, Op: s.Op, Line: s.Line, Value: fromParser(s.Value)})
	}
	return out
}

// diffSettings describes the first difference between two setting lists
// ("" if equal). Lines are compared only when withLines.
func diffSettings(want, got []Setting, withLines bool) string {
	for i := 0; i < len(want) || i < len(got); i++ {
		if i >= len(want) {
			return fmt.Sprintf("extra setting %s %s %s", got[i].Name, got[i].Op, got[i].Value)
		}
		if i >= len(got) {
			return fmt.Sprintf("missing setting %s %s %s", want[i].Name, want[i].Op, want[i].Value)
		}
		w, g := want[i], got[i]
		if w.Name != g.Name || w.Op != g.Op || w.Value.String() != g.Value.String() || withLines && w.Line != g.Line {
			return fmt.Sprintf("setting %d: libxlutil %s %s (line %d) %s, xfeat %s %s (line %d) %s",
				i, w.Name, w.Op, w.Line, w.Value, g.Name, g.Op, g.Line, g.Value)
		}
	}
	return ""
}

func hasLeniency(ds parser.Diagnostics) bool {
	for _, d := range ds {
		if strings.Contains(d.Detail, "xl would reject this") {
			return true
		}
	}
	return false
}

// check runs one input through libxlutil and xfeat and reports every
// difference: with Strict, xfeat accepts exactly what libxlutil accepts;
// without, it also accepts its leniencies (with a warning) and nothing else;
// an accepted file stores the same settings; the canonical format of an
// accepted file is accepted by libxlutil with the same settings again.
func check(t *testing.T, name string, src []byte) (accepted bool) {
	t.Helper()
	x, err := Read(name, src)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	strictF, strictD := parser.Parse(name, src, parser.Options{Strict: true})
	if (strictF != nil) != (x.Rc == 0) {
		t.Errorf("%s: strict accept=%v, libxlutil rc=%d\ninput: %q\nlibxlutil: %s\nxfeat: %s", name, strictF != nil, x.Rc, src, x.Report, strictD)
		return false
	}
	// A copy: the File keeps the buffer it parsed, and Bytes is checked
	// against src below.
	f, diags := parser.Parse(name, bytes.Clone(src), parser.Options{})
	if f == nil && x.Rc == 0 {
		t.Errorf("%s: lenient parse rejects what libxlutil accepts\ninput: %q\nxfeat: %s", name, src, diags)
		return false
	}
	if f != nil && x.Rc != 0 && !hasLeniency(diags) {
		t.Errorf("%s: xfeat accepts without a leniency warning what libxlutil rejects\ninput: %q\nlibxlutil: %s\nxfeat: %s", name, src, x.Report, diags)
		return false
	}
	if f == nil {
		if len(diags.Errs()) == 0 {
			t.Errorf("%s: rejected without an error", name)
		}
		return false
	}
	if x.Rc == 0 {
		if d := diffSettings(x.Settings, settingsOf(f), true); d != "" {
			t.Errorf("%s: %s\ninput: %q", name, d, src)
			return true
		}
	}
	if got := f.Bytes(); string(got) != string(src) {
		t.Errorf("%s: round trip differs\nin:  %q\nout: %q", name, src, got)
	}
	out, err := parser.Format(f)
	if err != nil {
		t.Errorf("%s: Format: %v", name, err)
		return true
	}
	xf, err := Read(name+" (formatted)", out)
	if err != nil {
		t.Fatal(err)
	}
	if xf.Rc != 0 {
		t.Errorf("%s: libxlutil rejects the formatted file\ninput: %q\nformatted: %q\n%s", name, src, out, xf.Report)
		return true
	}
	if d := diffSettings(settingsOf(f), xf.Settings, false); d != "" {
		t.Errorf("%s: formatted file differs: %s\ninput: %q\nformatted: %q", name, d, src, out)
	}
	f2, d2 := parser.Parse(name, out, parser.Options{Strict: true})
	if f2 == nil {
		t.Errorf("%s: formatted file rejected by xfeat --strict: %s", name, d2)
		return true
	}
	if out2, _ := parser.Format(f2); string(out2) != string(out) {
		t.Errorf("%s: Format not idempotent\nonce:  %q\ntwice: %q", name, out, out2)
	}
	return true
}

func TestCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/*.cfg")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 200 {
		t.Fatalf("corpus has %d files, want at least 200", len(files))
	}
	accepted, warned := 0, 0
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if check(t, filepath.Base(path), src) {
			accepted++
		}
		if _, ds := parser.Parse(path, src, parser.Options{}); len(ds) > 0 && !ds.HasErrors() {
			warned++
		}
		// Files named err-*.cfg must be rejected, ok-*.cfg accepted (by xl).
		base := filepath.Base(path)
		x, _ := Read(base, src)
		switch {
		case strings.HasPrefix(base, "err-") && x.Rc == 0:
			t.Errorf("%s: meant as an error case but libxlutil accepts it", base)
		case strings.HasPrefix(base, "ok-") && x.Rc != 0:
			t.Errorf("%s: meant as valid but libxlutil rejects it: %s", base, x.Report)
		}
	}
	t.Logf("%d files, %d accepted by xfeat, %d with warnings only", len(files), accepted, warned)
}

func TestGenerated(t *testing.T) {
	n := 4000
	if s := os.Getenv("CFGCOMPAT_N"); s != "" {
		fmt.Sscan(s, &n)
	}
	if testing.Short() {
		n = 500
	}
	seed := int64(20170314)
	if s := os.Getenv("CFGCOMPAT_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	r := rand.New(rand.NewSource(seed))
	accepted := 0
	for i := 0; i < n; i++ {
		src := cfggen.Input(r, i)
		if check(t, fmt.Sprintf("gen-%d", i), []byte(src)) {
			accepted++
		}
		if t.Failed() && i > 50 {
			t.Fatalf("stopping after failures")
		}
	}
	t.Logf("%d generated inputs, %d accepted by xfeat", n, accepted)
	if accepted < n/10 || accepted > n*9/10 {
		t.Errorf("generator is unbalanced: %d of %d accepted", accepted, n)
	}
}
