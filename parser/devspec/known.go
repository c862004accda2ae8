package devspec

import (
	"slices"

	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
)

// Which features exist for which device type, known offline. A backend's
// schema in XenStore has the last word (xfeat create checks it), but the
// protocols fix the families: netif.h's features belong to vifs, blkif.h's
// to vbds. A request for the other family's feature can never be honoured,
// so it is an error here already; a name neither protocol defines may be a
// backend's own extension and only draws a warning.

// otherType is the device type whose features a request on t must not use.
func otherType(t pv.Kind) pv.Kind {
	if t == pv.Vif {
		return pv.Vbd
	}
	return pv.Vif
}

// typeNoun names a device type as a spec list does (vif, disk).
func typeNoun(t pv.Kind) string {
	if t == pv.Vbd {
		return "disk"
	}
	return string(t)
}

// knownFor reports whether name (a shorthand key or a xenstore feature name)
// is a feature of device type t: one of its shorthands, a boolean xfeat
// normalises, or a feature of the protocol rules (schema.Rules).
func knownFor(t pv.Kind, name string) bool {
	if slices.Contains(knownFeatureNames(t), name) {
		return true
	}
	return slices.Contains(ruleNames(t), name)
}

// checkKnown judges a name requested in features= for the device type of fs
// and reports what it finds at r (the whole NAME:VALUE item): an error for a
// feature of the other device type, a warning (with the nearest known name,
// if one is close) for a name xfeat does not know. It returns false after
// an error: the request is not kept.
func (fs *featureSet) checkKnown(name string, r parser.Range) bool {
	if knownFor(fs.t, name) {
		return true
	}
	other := otherType(fs.t)
	if knownFor(other, name) {
		fs.errorf(r, "feature "+quote(name)+" is a "+typeNoun(other)+" feature, not a "+typeNoun(fs.t)+" one",
			"no "+typeNoun(fs.t)+" backend offers it (xfeat create would refuse it); the "+typeNoun(fs.t)+" features are in xfeat-requests(5)")
		return false
	}
	detail := "only a backend that advertises it in its schema accepts it (xfeat create checks)"
	if s := suggest(name, knownFeatureNames(fs.t)); s != "" {
		detail = "did you mean " + quote(s) + "? (an unknown name is passed to the backend, which decides)"
	}
	fs.warnf(r, "feature "+quote(name)+" is not one xfeat knows for "+string(fs.t), detail)
	return true
}

// ruleNames lists the features of the protocol rules of t.
func ruleNames(t pv.Kind) []string {
	var out []string
	for _, r := range schema.Rules(t) {
		out = append(out, r.Feature)
	}
	return out
}
