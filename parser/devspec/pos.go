package devspec

import (
	"sort"

	"github.com/xfeat/xfeat/parser"
)

// Options tune ParseVif and ParseDisk.
type Options struct {
	// Where maps bytes [start,end) of spec number spec (0 for a vif) to the
	// source. Nil reports positions inside the spec itself: file SpecName,
	// line 1, column = byte offset + 1.
	Where func(spec, start, end int) parser.Range
	// SpecName names the spec in positions when Where is nil ("spec" if
	// empty; multi-spec disks use "spec[N]" with N counted from 1).
	SpecName string
	// Label prefixes every message, e.g. "vif #0: ".
	Label string
	// XLOnly reads the specs as xl does: no feature keys, so queues= or
	// features= are unknown keys. (Errors stay errors: see package doc.)
	XLOnly bool
}

func (o *Options) where(nspecs int) func(spec, start, end int) parser.Range {
	if o != nil && o.Where != nil {
		return o.Where
	}
	name := "spec"
	if o != nil && o.SpecName != "" {
		name = o.SpecName
	}
	return func(spec, start, end int) parser.Range {
		n := name
		if nspecs > 1 {
			n = name + "[" + itoa(spec+1) + "]"
		}
		return parser.Range{
			Filename: n,
			Start:    parser.Pos{Line: 1, Column: start + 1, Byte: start},
			End:      parser.Pos{Line: 1, Column: end + 1, Byte: end},
		}
	}
}

func (o *Options) label() string {
	if o == nil {
		return ""
	}
	return o.Label
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	neg := i < 0
	if neg {
		i = -i
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	if neg {
		n--
		b[n] = '-'
	}
	return string(b[n:])
}

func diagError(r parser.Range, summary, detail string) *parser.Diagnostic {
	return &parser.Diagnostic{Severity: parser.DiagError, Summary: summary, Detail: detail, Subject: r.Ptr()}
}

func diagWarning(r parser.Range, summary, detail string) *parser.Diagnostic {
	return &parser.Diagnostic{Severity: parser.DiagWarning, Summary: summary, Detail: detail, Subject: r.Ptr()}
}

// sortDiags orders diagnostics by where they point (stable), so that a
// spec's problems read left to right.
func sortDiags(ds parser.Diagnostics) {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i].Subject, ds[j].Subject
		if a == nil || b == nil {
			return a != nil
		}
		if a.Filename != b.Filename {
			return false
		}
		return a.Start.Byte < b.Start.Byte
	})
}
