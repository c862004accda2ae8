package devspec

import (
	"encoding/json"
	"strings"

	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
)

// FeatureRequest is one backend feature requested in a device spec.
type FeatureRequest struct {
	// Name is the xenstore feature name (multi-queue-max-queues, ...): the
	// toolstack writes `config-<Name>` and checks it against the schema
	// key `features/<Name>-type`.
	Name string
	// Value is the requested value as a string: booleans normalised to
	// "1"/"0", everything else verbatim (typed against the schema later).
	Value string
	// Spelling is how the request was written: the shorthand key
	// ("queues") or the name inside features= ("features=queues").
	Spelling string
	// Range is the request in the source (key through value).
	Range parser.Range
}

// Features are a device's feature requests in the order written; a name
// appears at most once.
type Features []FeatureRequest

// Lookup returns the request for the xenstore feature name.
func (fs Features) Lookup(name string) (FeatureRequest, bool) {
	for _, f := range fs {
		if f.Name == name {
			return f, true
		}
	}
	return FeatureRequest{}, false
}

// Map returns the requests as xenstore name -> value.
func (fs Features) Map() map[string]string {
	m := make(map[string]string, len(fs))
	for _, f := range fs {
		m[f.Name] = f.Value
	}
	return m
}

// MarshalJSON renders the requests as {"xenstore-name": "value", ...}.
func (fs Features) MarshalJSON() ([]byte, error) { return json.Marshal(fs.Map()) }

// featureKind says how a feature's value is checked here.
type featureKind int

const (
	featureString       featureKind = iota // kept verbatim
	featureBool                            // schema.ParseBool's spellings -> "1"/"0"
	featureBoolInverted                    // as featureBool, stored inverted (csum)
)

// shorthand maps a spec key to a xenstore feature.
type shorthand struct {
	key  string
	name string
	kind featureKind
}

// Shorthands lists, per device type, the spec keys that request a feature,
// with the xenstore name each stands for. csum is inverted: netif's key is
// feature-no-csum-offload, so csum=on requests feature-no-csum-offload=0.
var shorthands = map[pv.Kind][]shorthand{
	pv.Vif: {
		{"queues", pv.KeyMultiQueueMaxQueues, featureString},
		{"tso4", pv.KeyFeatureGSOTCPv4, featureBool},
		{"tso6", pv.KeyFeatureGSOTCPv6, featureBool},
		{"csum", pv.KeyFeatureNoCsumOffload, featureBoolInverted},
		{"sg", pv.KeyFeatureSG, featureBool},
	},
	pv.Vbd: {
		{"queues", pv.KeyMultiQueueMaxQueues, featureString},
		{pv.KeyMaxRingPageOrder, pv.KeyMaxRingPageOrder, featureString},
		{"persistent", pv.KeyFeaturePersistent, featureBool},
		{"max-indirect-segments", pv.KeyFeatureMaxIndirectSegs, featureString},
		{"discard", pv.KeyFeatureDiscard, featureBool},
	},
}

// isBool reports whether name is a boolean feature of device kind t (its
// protocol rule says so): a request for it by xenstore name is checked and
// normalised like the shorthand, so that validate refuses what create would.
func isBool(t pv.Kind, name string) bool {
	for _, r := range schema.Rules(t) {
		if r.Feature == name {
			return r.Type == schema.Bool
		}
	}
	return false
}

// Shorthand returns the xenstore name a shorthand key of device type t
// stands for.
func Shorthand(t pv.Kind, key string) (name string, ok bool) {
	for _, s := range shorthands[t] {
		if s.key == key {
			return s.name, true
		}
	}
	return "", false
}

// ShorthandKeys returns the shorthand keys of device type t, in table order.
func ShorthandKeys(t pv.Kind) []string {
	var out []string
	for _, s := range shorthands[t] {
		out = append(out, s.key)
	}
	return out
}

func knownFeatureNames(t pv.Kind) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range shorthands[t] {
		out = append(out, s.key, s.name)
		seen[s.name] = true
	}
	for _, r := range schema.Rules(t) {
		if r.Type == schema.Bool && !seen[r.Feature] {
			out = append(out, r.Feature)
		}
	}
	return out
}

// validFeatureName is a single xenstore path element: letters, digits, '-'
// and '_' (no '/', no '@').
func validFeatureName(n string) bool {
	if n == "" || len(n) > 128 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// featureSet collects one device's requests, rejecting duplicates.
type featureSet struct {
	t     pv.Kind
	list  Features
	diags parser.Diagnostics
	where func(start, end int) parser.Range
	label string
	// about maps each diagnostic to the feature (as written) it concerns.
	about map[*parser.Diagnostic]string
	cur   string // feature being added
}

func (fs *featureSet) note(d *parser.Diagnostic) {
	if fs.about == nil {
		fs.about = map[*parser.Diagnostic]string{}
	}
	fs.about[d] = fs.cur
	fs.diags = append(fs.diags, d)
}

func (fs *featureSet) errorf(r parser.Range, summary, detail string) {
	fs.note(diagError(r, fs.label+summary, detail))
}

func (fs *featureSet) warnf(r parser.Range, summary, detail string) {
	fs.note(diagWarning(r, fs.label+summary, detail))
}

// add records a request written as spelling (a shorthand key, or a name in
// features=) with value, located at [start,end) (whole request) and
// [vstart,vend) (value) of the spec.
func (fs *featureSet) add(spelling, nameAsWritten, value string, start, end, vstart, vend int, generic bool) {
	fs.cur = nameAsWritten
	r := fs.where(start, end)
	vr := fs.where(vstart, vend)
	name, kind := nameAsWritten, featureString
	isShort := false
	for _, s := range shorthands[fs.t] {
		if s.key == nameAsWritten {
			name, kind, isShort = s.name, s.kind, true
		}
	}
	if !isShort {
		if !validFeatureName(name) {
			fs.errorf(fs.where(start, vstart), "invalid feature name "+quote(name),
				"a feature name is a xenstore name: letters, digits, '-' and '_'")
			return
		}
		if isBool(fs.t, name) {
			kind = featureBool
		}
		if generic && !fs.checkKnown(name, r) {
			return
		}
	}
	if value == "" {
		fs.errorf(r, "feature "+quote(nameAsWritten)+" has an empty value", "write NAME:VALUE (or KEY=VALUE)")
		return
	}
	if strings.ContainsRune(value, ';') {
		fs.errorf(vr, "feature "+quote(nameAsWritten)+": value "+quote(value)+" contains ';'",
			"';' separates the items of features=; a value cannot contain it")
		return
	}
	switch kind {
	case featureBool, featureBoolInverted:
		b, ok := schema.ParseBool(value)
		if !ok {
			fs.errorf(vr, "feature "+quote(nameAsWritten)+": "+quote(value)+" is not a boolean",
				"use on or off (also 1/0, yes/no, true/false)")
			return
		}
		if kind == featureBoolInverted {
			b = !b
		}
		value = "0"
		if b {
			value = "1"
		}
	}
	for _, prev := range fs.list {
		if prev.Name == name {
			fs.errorf(r, "feature "+quote(name)+" requested twice",
				"first requested as "+quote(prev.Spelling)+" at "+prev.Range.String())
			return
		}
	}
	fs.list = append(fs.list, FeatureRequest{Name: name, Value: value, Spelling: spelling, Range: r})
}

// addGeneric parses the value of features=NAME:VALUE;NAME:VALUE (where ';'
// may be written "\;") found at offset base of the spec.
func (fs *featureSet) addGeneric(val string, base int) {
	fs.cur = ""
	if val == "" {
		fs.errorf(fs.where(base, base), "empty features=", "write features=NAME:VALUE;NAME:VALUE")
		return
	}
	i := 0
	for i <= len(val) {
		j := i
		for j < len(val) && val[j] != ';' && !(val[j] == '\\' && j+1 < len(val) && val[j+1] == ';') {
			j++
		}
		item := val[i:j]
		fs.cur, _, _ = strings.Cut(item, ":")
		if item == "" {
			fs.errorf(fs.where(base+i, base+j), "empty item in features=", "separate NAME:VALUE items with ';' (or \\;), without empty items")
		} else if name, v, ok := strings.Cut(item, ":"); !ok {
			fs.errorf(fs.where(base+i, base+j), "features= item "+quote(item)+" has no value", "write NAME:VALUE")
		} else if name == "" {
			fs.errorf(fs.where(base+i, base+j), "features= item "+quote(item)+" has no name", "write NAME:VALUE")
		} else {
			vs := base + i + len(name) + 1
			fs.add("features="+name, name, v, base+i, base+j, vs, base+j, true)
		}
		if j == len(val) {
			break
		}
		if val[j] == '\\' {
			j++
		}
		i = j + 1
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// suggest returns the candidate nearest to s when it is close enough to be
// a plausible misspelling, else "".
func suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := editDistance(s, c)
		if d < bestD || d == bestD && c < best {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(s) <= 3 {
		limit = 1
	}
	if bestD > 0 && bestD <= limit {
		return best
	}
	if len(s) >= 3 {
		for _, c := range candidates {
			if c != s && strings.HasPrefix(c, s) {
				return c
			}
		}
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
