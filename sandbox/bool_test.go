package sandbox

import (
	"testing"

	"github.com/xfeat/xfeat/backends/blkback"
	"github.com/xfeat/xfeat/backends/netback"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/schema"
)

// A boolean feature is one kind of value wherever it is requested: for
// every boolean the host's backends advertise, a device spec (xfeat
// validate) and the backend's schema (xfeat create, and the backend
// reading config-*) accept the same spellings and store the same 1 or 0.
// (features=feature-sg:y was refused by the spec parser while
// feature-split-event-channels:y passed it and the schema stored 1.)
func TestBoolSpellingsAgree(t *testing.T) {
	spellings := []string{"1", "0", "on", "OFF", "yes", "No", "true", "False", "TRUE",
		"y", "n", "Y", "2", "01", "", " 1", "on ", "enabled", "oui"}
	for _, s := range []*schema.Schema{netback.DefaultLimits().Schema(0), blkback.DefaultLimits().Schema(0)} {
		nbool := 0
		for _, name := range s.Names() {
			f := s.Lookup(name)
			if f.Type != schema.Bool {
				continue
			}
			nbool++
			for _, v := range spellings {
				canon, err := f.Check(v)
				var got devspec.Features
				var diags parser.Diagnostics
				if s.Kind == "vif" {
					var vif *devspec.Vif
					vif, diags = devspec.ParseVif("bridge=xenbr0,features="+name+":"+v, 0, nil)
					got = vif.Features
				} else {
					var d *devspec.Disk
					d, diags = devspec.ParseDisk([]string{"/img,raw,xvda,rw,features=" + name + ":" + v}, 0, nil)
					got = d.Features
				}
				req, ok := got.Lookup(name)
				switch {
				case (err == nil) != !diags.HasErrors():
					t.Errorf("%s %s:%q: schema says %v, spec parser %v", s.Kind, name, v, err, diags)
				case err == nil && (!ok || req.Value != canon):
					t.Errorf("%s %s:%q: schema stores %q, spec parser %q", s.Kind, name, v, canon, req.Value)
				}
			}
		}
		if nbool < 4 {
			t.Errorf("%s: only %d boolean features advertised", s.Kind, nbool)
		}
	}
	for _, c := range []struct {
		v       string
		val, ok bool
	}{{"on", true, true}, {"False", false, true}, {"YES", true, true}, {"0", false, true}, {"y", false, false}, {"n", false, false}, {" 1", false, false}, {"2", false, false}} {
		if val, ok := schema.ParseBool(c.v); val != c.val || ok != c.ok {
			t.Errorf("ParseBool(%q) = %v, %v; want %v, %v", c.v, val, ok, c.val, c.ok)
		}
	}
}
