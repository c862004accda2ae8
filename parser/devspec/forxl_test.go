package devspec

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/parser"
)

func TestForXlSpecs(t *testing.T) {
	for _, tc := range []struct {
		kind, spec, want string
		removed          []string
	}{
		{"vif", "bridge=br0,queues=2", "bridge=br0", []string{"queues=2"}},
		{"vif", "queues=2,bridge=br0", "bridge=br0", []string{"queues=2"}},
		{"vif", "bridge=br0,queues=2,tso4=off,mac=00:16:3e:00:00:01", "bridge=br0,mac=00:16:3e:00:00:01", []string{"queues=2", "tso4=off"}},
		{"vif", "queues=2,tso4=off,bridge=b", "bridge=b", []string{"queues=2", "tso4=off"}},
		{"vif", "a=1,queues=2,tso4=off", "a=1", []string{"queues=2", "tso4=off"}},
		{"vif", "queues=2", "", []string{"queues=2"}},
		{"vif", `bridge=br0,features=queues:2\;max-ring-page-order:0`, "bridge=br0", []string{`features=queues:2\;max-ring-page-order:0`}},
		{"vif", "bridge=br0, queues=2", "bridge=br0", []string{"queues=2"}}, // strtok leaves the blank in the token
		{"vif", "bridge=queues=2,ip=198.18.0.2", "bridge=queues=2,ip=198.18.0.2", nil},
		{"vif", "bridge=br0,,queues=2", "bridge=br0,", []string{"queues=2"}},
		{"disk", "/srv/g.img,raw,xvda,rw,queues=4,max-ring-page-order=2", "/srv/g.img,raw,xvda,rw", []string{"queues=4", "max-ring-page-order=2"}},
		{"disk", "format=raw, vdev=xvdb, persistent=off, access=ro, target=/x,queues=2", "format=raw, vdev=xvdb, access=ro, target=/x,queues=2", []string{"persistent=off"}},
		{"disk", "queues=2,format=raw,vdev=xvda,target=/x", "format=raw,vdev=xvda,target=/x", []string{"queues=2"}},
		{"disk", "max-indirect-segments=0,features=feature-discard:0,/x,raw,xvda", "/x,raw,xvda", []string{"max-indirect-segments=0", "features=feature-discard:0"}},
		{"disk", "/x,raw,xvda,discard=off,direct-io-safe", "/x,raw,xvda,direct-io-safe", []string{"discard=off"}},
	} {
		src := tc.kind + " = [ '" + strings.ReplaceAll(tc.spec, `\;`, `\\;`) + "' ] # kept\nname = \"g\"\n"
		f, diags := parser.Parse("t.cfg", []byte(src), parser.Options{})
		if diags.HasErrors() {
			t.Fatalf("%s: %v", tc.spec, diags)
		}
		removed, err := ForXl(f)
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		want := tc.kind + " = [ '" + tc.want + "' ] # kept\nname = \"g\"\n"
		if got := string(f.Bytes()); got != want {
			t.Errorf("%s:\n got %q\nwant %q", tc.spec, got, want)
		}
		var texts []string
		for _, r := range removed {
			texts = append(texts, r.Text)
			if r.Device != tc.kind+" #0" || r.Range.Start.Line != 1 {
				t.Errorf("%s: removed %+v", tc.spec, r)
			}
		}
		if !reflect.DeepEqual(texts, tc.removed) {
			t.Errorf("%s: removed %q, want %q", tc.spec, texts, tc.removed)
		}
	}
}

// TestForXlCorpus: on every corpus file CheckFile accepts, ForXl leaves a
// file that parses strictly (what xl accepts), whose devices are the same
// but for their feature requests, which are gone; comments and the other
// settings stay byte for byte (the edit only shortens spec strings).
func TestForXlCorpus(t *testing.T) {
	files, _ := filepath.Glob("../../tests/cfgcompat/testdata/*.cfg")
	ex, _ := filepath.Glob("../../examples/*.cfg")
	files = append(files, ex...)
	if len(files) < 200 {
		t.Fatalf("corpus: %d files", len(files))
	}
	stripped := 0
	for _, p := range files {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, diags := parser.Parse(p, src, parser.Options{Strict: true})
		if diags.HasErrors() {
			continue
		}
		before, cdiags := CheckFile(f)
		if cdiags.HasErrors() {
			continue
		}
		removed, err := ForXl(f)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if len(removed) > 0 {
			stripped++
		}
		out := f.Bytes()
		g, diags := parser.Parse(p, out, parser.Options{Strict: true})
		if diags.HasErrors() {
			t.Errorf("%s: the result does not parse strictly: %v\n%s", p, diags, out)
			continue
		}
		after, cdiags := CheckFile(g)
		if cdiags.HasErrors() {
			t.Errorf("%s: the result does not check: %v", p, cdiags)
			continue
		}
		if len(after.Vifs) != len(before.Vifs) || len(after.Disks) != len(before.Disks) {
			t.Errorf("%s: devices changed: %d/%d vifs, %d/%d disks", p, len(before.Vifs), len(after.Vifs), len(before.Disks), len(after.Disks))
			continue
		}
		for i := range after.Vifs {
			a, b := *after.Vifs[i], *before.Vifs[i]
			if len(a.Features) != 0 {
				t.Errorf("%s: vif #%d still requests %v", p, i, a.Features)
			}
			a.Features, b.Features, a.Range, b.Range = nil, nil, parser.Range{}, parser.Range{}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s: vif #%d changed:\n%+v\n%+v", p, i, b, a)
			}
		}
		for i := range after.Disks {
			a, b := *after.Disks[i], *before.Disks[i]
			if len(a.Features) != 0 {
				t.Errorf("%s: disk #%d still requests %v", p, i, a.Features)
			}
			a.Features, b.Features, a.Range, b.Range = nil, nil, parser.Range{}, parser.Range{}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s: disk #%d changed:\n%+v\n%+v", p, i, b, a)
			}
		}
		// Every other setting reads the same.
		for _, s := range f.Settings() {
			if s.Name == "vif" || s.Name == "disk" {
				continue
			}
			if o := g.Lookup(s.Name); o == nil || o.Value.String() != f.Lookup(s.Name).Value.String() {
				t.Errorf("%s: %s changed", p, s.Name)
			}
		}
	}
	if stripped < 50 {
		t.Errorf("only %d corpus files had xfeat keys to strip", stripped)
	}
}
