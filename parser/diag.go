package parser

import (
	"fmt"
	"strings"
)

// Pos is a position in a source: Line and Column are 1-based (Column counts
// bytes), Byte is the 0-based byte offset.
type Pos struct {
	Line   int
	Column int
	Byte   int
}

// Range is a span of a source: Start inclusive, End exclusive.
type Range struct {
	Filename string
	Start    Pos
	End      Pos
}

// String formats the start of r as FILE:LINE:COL.
func (r Range) String() string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// Ptr returns a pointer to a copy of r (for Diagnostic.Subject).
func (r Range) Ptr() *Range { return &r }

// Severity says whether a diagnostic rejects the input.
type Severity int

const (
	// DiagError rejects the input.
	DiagError Severity = iota + 1
	// DiagWarning accepts the input; used for xfeat's deliberate leniencies
	// (what xl would reject), which --strict turns into errors.
	DiagWarning
)

func (s Severity) String() string {
	switch s {
	case DiagError:
		return "error"
	case DiagWarning:
		return "warning"
	}
	return "unknown"
}

// Diagnostic is one problem found in an input. Summary is terse; Detail says
// what to do about it. Subject points at exactly the offending text.
type Diagnostic struct {
	Severity Severity
	Summary  string
	Detail   string
	Subject  *Range
}

// Error formats d as `FILE:LINE:COL: summary` (plus `: detail` when present).
func (d *Diagnostic) Error() string {
	var b strings.Builder
	if d.Subject != nil {
		b.WriteString(d.Subject.String())
		b.WriteString(": ")
	}
	if d.Severity == DiagWarning {
		b.WriteString("warning: ")
	}
	b.WriteString(d.Summary)
	if d.Detail != "" {
		b.WriteString(": ")
		b.WriteString(d.Detail)
	}
	return b.String()
}

// Diagnostics is a list of problems; as an error it is every message, one a
// line. A nil or warnings-only Diagnostics is not a failure: test HasErrors.
type Diagnostics []*Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == DiagError {
			return true
		}
	}
	return false
}

// Errs returns only the errors of ds.
func (ds Diagnostics) Errs() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == DiagError {
			out = append(out, d)
		}
	}
	return out
}

// Append adds d and returns the list.
func (ds Diagnostics) Append(d *Diagnostic) Diagnostics { return append(ds, d) }

// Extend adds every diagnostic of more and returns the list.
func (ds Diagnostics) Extend(more Diagnostics) Diagnostics { return append(ds, more...) }

// Error implements error.
func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.Error()
	}
	return strings.Join(lines, "\n")
}
