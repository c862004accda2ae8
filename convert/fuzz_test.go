package convert_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/xfeat/xfeat/convert"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
)

// FuzzFromLibvirt: any input is an error or an xl.cfg xfeat validate
// accepts; never a panic.
func FuzzFromLibvirt(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.xml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		out, diags := convert.FromLibvirt("f.xml", src, convert.Options{})
		if out == nil {
			if !diags.HasErrors() {
				t.Fatalf("no output and no error")
			}
			return
		}
		cf, d := parser.Parse("f.cfg", out, parser.Options{})
		if cf == nil {
			t.Fatalf("the xl.cfg does not parse: %v\n%s", d, out)
		}
		if _, d := devspec.CheckFile(cf); d.HasErrors() {
			t.Fatalf("the xl.cfg does not validate: %v\n%s", d, out)
		}
	})
}

// FuzzToLibvirt: any xl.cfg is an error or XML that converts back; never a
// panic.
func FuzzToLibvirt(f *testing.F) {
	for _, g := range []string{"../examples/*.cfg", "../tests/cfgcompat/testdata/ok-p*-0*.cfg"} {
		files, _ := filepath.Glob(g)
		for _, p := range files {
			b, _ := os.ReadFile(p)
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		cf, _ := parser.Parse("f.cfg", src, parser.Options{})
		if cf == nil {
			return
		}
		x, diags := convert.ToLibvirt(cf, convert.Options{})
		if x == nil {
			if !diags.HasErrors() {
				t.Fatalf("no output and no error")
			}
			return
		}
		if back, d := convert.FromLibvirt("f.xml", x, convert.Options{}); back == nil {
			t.Fatalf("xfeat's XML does not convert back: %v\n%s", d, x)
		}
	})
}
