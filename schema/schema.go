package schema

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/xfeat/xfeat/pv"
)

// Type is the value type of a feature.
type Type string

const (
	Uint   Type = "uint"
	Int    Type = "int"
	Bool   Type = "bool"
	String Type = "string"
)

func (t Type) valid() bool {
	switch t {
	case Uint, Int, Bool, String:
		return true
	}
	return false
}

// Key suffixes of a feature's schema nodes.
const (
	SuffixType   = "-type"
	SuffixDefval = "-defval"
	SuffixDesc   = "-desc"
	SuffixMin    = "-min"
	SuffixMax    = "-max"
	SuffixValues = "-values"
)

// Feature is one controllable feature as a backend advertises it.
type Feature struct {
	Name   string
	Type   Type
	Defval string // canonical; "" when the backend gave none
	Desc   string
	// Min and Max bound uint and int features (inclusive); nil when absent.
	Min, Max *int64
	// Values lists the allowed strings of a string feature; empty means any.
	Values []string
	// AtConnect means the backend decides this feature only when it
	// connects, from what it finds then, after the toolstack's last word:
	// a request for anything but its default can be neither applied nor
	// checked beforehand (Decide: Unenforceable). A stock Linux blkback's
	// feature-persistent is one. Never advertised: a backend that
	// advertises a schema honours what it lists.
	AtConnect bool
}

// Schema is what one backend domain advertises for one device kind.
type Schema struct {
	Backend  uint32 // backend domain id
	Kind     pv.Kind
	Features map[string]*Feature
	// From says where the schema was read, for messages; "" means
	// advertised by the backend in Dir. A stock backend's description
	// (made by the toolstack from what it knows of the backend) says so.
	From string
}

// Dir returns the directory s is read from or written to (pv.SchemaDir).
func (s *Schema) Dir() string { return pv.SchemaDir(s.Backend, s.Kind) }

// Names returns the feature names in sorted order.
func (s *Schema) Names() []string {
	names := make([]string, 0, len(s.Features))
	for n := range s.Features {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the named feature or nil.
func (s *Schema) Lookup(name string) *Feature {
	if s == nil {
		return nil
	}
	return s.Features[name]
}

// Entries renders s as the nodes of its directory: key (relative to Dir) to
// value. Writing them all under Dir advertises s.
func (s *Schema) Entries() map[string]string {
	out := make(map[string]string, 4*len(s.Features))
	for _, f := range s.Features {
		out[f.Name+SuffixType] = string(f.Type)
		out[f.Name+SuffixDefval] = f.Defval
		out[f.Name+SuffixDesc] = f.Desc
		if f.Min != nil {
			out[f.Name+SuffixMin] = strconv.FormatInt(*f.Min, 10)
		}
		if f.Max != nil {
			out[f.Name+SuffixMax] = strconv.FormatInt(*f.Max, 10)
		}
		if len(f.Values) > 0 {
			out[f.Name+SuffixValues] = strings.Join(f.Values, ",")
		}
	}
	return out
}

// ParseError is a malformed schema node; it names the node so that a backend's
// author can find it.
type ParseError struct {
	Path string // full XenStore path of the node
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("schema node %s: %s", e.Path, e.Msg) }

// Parse builds the schema of backend/kind from its directory listing
// (node name relative to pv.SchemaDir, to value). Nodes that belong to no feature with
// a -type are reported; an unknown type, a bound that does not parse, a
// default outside the bounds, or min > max is an error naming the node.
func Parse(backend uint32, kind pv.Kind, entries map[string]string) (*Schema, error) {
	s := &Schema{Backend: backend, Kind: kind, Features: map[string]*Feature{}}
	dir := s.Dir()
	node := func(k string) string { return path.Join(dir, k) }
	for k, v := range entries {
		name, ok := strings.CutSuffix(k, SuffixType)
		if !ok {
			continue
		}
		t := Type(strings.TrimSpace(v))
		if !t.valid() {
			return nil, &ParseError{node(k), fmt.Sprintf("unknown type %q (want uint, int, bool or string)", v)}
		}
		if name == "" {
			return nil, &ParseError{node(k), "empty feature name"}
		}
		s.Features[name] = &Feature{Name: name, Type: t}
	}
	// Every other node must belong to a typed feature.
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := entries[k]
		if strings.HasSuffix(k, SuffixType) {
			continue
		}
		var f *Feature
		var suffix string
		for _, sfx := range []string{SuffixDefval, SuffixDesc, SuffixMin, SuffixMax, SuffixValues} {
			if name, ok := strings.CutSuffix(k, sfx); ok {
				if f = s.Features[name]; f != nil {
					suffix = sfx
					break
				}
			}
		}
		if f == nil {
			return nil, &ParseError{node(k), "no feature with a -type node owns this node"}
		}
		switch suffix {
		case SuffixDesc:
			f.Desc = v
		case SuffixDefval:
			f.Defval = v // checked below, once bounds are known
		case SuffixMin, SuffixMax:
			if f.Type != Uint && f.Type != Int {
				return nil, &ParseError{node(k), fmt.Sprintf("a bound on a %s feature", f.Type)}
			}
			n, err := parseInteger(f.Type, v)
			if err != nil {
				return nil, &ParseError{node(k), err.Error()}
			}
			if suffix == SuffixMin {
				f.Min = &n
			} else {
				f.Max = &n
			}
		case SuffixValues:
			if f.Type != String {
				return nil, &ParseError{node(k), fmt.Sprintf("a value list on a %s feature", f.Type)}
			}
			for _, x := range strings.Split(v, ",") {
				if x = strings.TrimSpace(x); x != "" {
					f.Values = append(f.Values, x)
				}
			}
		}
	}
	for _, name := range s.Names() {
		f := s.Features[name]
		if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
			return nil, &ParseError{node(name + SuffixMin), fmt.Sprintf("min %d is greater than max %d", *f.Min, *f.Max)}
		}
		if f.Defval != "" {
			c, err := f.Check(f.Defval)
			if err != nil {
				return nil, &ParseError{node(name + SuffixDefval), err.Error()}
			}
			f.Defval = c
		}
	}
	return s, nil
}

func parseInteger(t Type, v string) (int64, error) {
	v = strings.TrimSpace(v)
	if t == Uint {
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil {
			return 0, fmt.Errorf("%q is not an unsigned decimal integer", v)
		}
		return int64(n), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a decimal integer", v)
	}
	return n, nil
}
