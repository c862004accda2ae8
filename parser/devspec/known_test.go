package devspec

import (
	"strings"
	"testing"

	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/pv"
)

// A feature of the other device type is an error offline, pointing at the
// request; a name neither protocol defines is kept with a warning; every
// feature of the protocol rules of a type is accepted on that type.
func TestFeatureOfOtherDeviceType(t *testing.T) {
	for _, c := range []struct {
		disk bool
		spec string
		col  int // 1-based column of the NAME:VALUE item
		want string
	}{
		// README's headline example asked a vif for this before.
		{false, `bridge=br0,features=queues:2\;max-ring-page-order:0`, 31, `feature "max-ring-page-order" is a disk feature, not a vif one`},
		{false, "features=persistent:on", 10, `feature "persistent" is a disk feature, not a vif one`},
		{false, "features=feature-max-indirect-segments:8", 10, `is a disk feature, not a vif one`},
		{false, "features=feature-discard:1", 10, `is a disk feature, not a vif one`},
		{true, "/x,,xvda,features=feature-sg:1", 19, `feature "feature-sg" is a vif feature, not a disk one`},
		{true, "/x,,xvda,features=tso4:on", 19, `feature "tso4" is a vif feature, not a disk one`},
		{true, "/x,,xvda,features=feature-split-event-channels:1", 19, `is a vif feature, not a disk one`},
	} {
		var diags parser.Diagnostics
		var feats Features
		if c.disk {
			var d *Disk
			d, diags = ParseDisk([]string{c.spec}, 0, nil)
			feats = d.Features
		} else {
			var v *Vif
			v, diags = ParseVif(c.spec, 0, nil)
			feats = v.Features
		}
		if !diags.HasErrors() || !strings.Contains(errText(diags), c.want) {
			t.Errorf("%q: got %v, want an error containing %s", c.spec, diags, c.want)
			continue
		}
		var at *parser.Diagnostic
		for _, d := range diags {
			if d.Severity == parser.DiagError {
				at = d
			}
		}
		if at.Subject == nil || at.Subject.Start.Column != c.col {
			t.Errorf("%q: error at %v, want column %d", c.spec, at.Subject, c.col)
		}
		for _, f := range feats {
			if strings.Contains(c.want, quote(f.Spelling[len("features="):])) {
				t.Errorf("%q: the refused request was kept: %+v", c.spec, feats)
			}
		}
	}

	for _, typ := range []pv.Kind{pv.Vif, pv.Vbd} {
		for _, name := range ruleNames(typ) {
			spec := "features=" + name + ":1"
			var diags parser.Diagnostics
			if typ == pv.Vbd {
				_, diags = ParseDisk([]string{"/x,,xvda," + spec}, 0, nil)
			} else {
				_, diags = ParseVif(spec, 0, nil)
			}
			if len(diags) != 0 {
				t.Errorf("%s %s: %v", typ, spec, diags)
			}
		}
	}

	v, diags := ParseVif("features=feature-frobnicate:1", 0, nil)
	if diags.HasErrors() || len(diags) != 1 || !strings.Contains(errText(diags), `feature "feature-frobnicate" is not one xfeat knows for vif`) {
		t.Errorf("unknown name: %v", diags)
	}
	if v.Features.Map()["feature-frobnicate"] != "1" {
		t.Errorf("unknown name not passed on: %v", v.Features.Map())
	}
}
