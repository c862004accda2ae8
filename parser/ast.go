package parser

// Options tune Parse.
type Options struct {
	// Strict turns xfeat's deliberate leniencies (an unknown escape such as
	// `\;`, CRLF line ends, a last-line comment without a newline) from
	// warnings into errors, so that exactly what xl accepts is accepted.
	Strict bool
}

// ValueKind says whether a Value is a string or a list. libxlutil has only
// these two: a number is a string holding its source text.
type ValueKind int

const (
	// KindString is a quoted string or a number.
	KindString ValueKind = iota
	// KindList is a bracketed list of values (which may nest).
	KindList
)

func (k ValueKind) String() string {
	if k == KindList {
		return "list"
	}
	return "string"
}

// Value is a setting's value as libxlutil stores it.
type Value struct {
	Kind ValueKind
	// Str is the string after escape processing; a number is its source text.
	Str string
	// Items are the elements of a list; each keeps its own source Range.
	Items []*Value
	// Range is where the value is written: the whole string token with its
	// quotes, the number, or the list from `[` to `]`. A value built with
	// StringValue, NumberValue or ListValue has a zero Range until it is written and the
	// file parsed again; a string joined by `+=` has the Range of its last
	// part (use PosOf to map an offset into the right part).
	Range Range
	// Raw is the token as written (quotes and escapes included) for a string
	// or number read from a file; empty for lists and constructed values.
	Raw string
	// Number is true when the value was written as an unquoted number.
	Number bool

	// parts are the source atoms a `+=`-joined string is made of, in order
	// (nil for any other value: a pointer keeps every Value small).
	parts *[]*Value
}

// StringValue returns a string value for an edit (written double-quoted).
func StringValue(s string) *Value { return &Value{Kind: KindString, Str: s} }

// NumberValue returns a value written as a bare number (for example "1024" or
// "0x1f"). It must match libxlutil's NUMBER token, [0-9][0-9a-fx]*; Format and
// the edit methods quote it otherwise.
func NumberValue(s string) *Value { return &Value{Kind: KindString, Str: s, Number: isNumberToken(s)} }

// ListValue returns a list value for an edit.
func ListValue(items ...*Value) *Value { return &Value{Kind: KindList, Items: items} }

// Strings returns the string items of a list, stopping at the first item
// that is not a string: that is what xl's device loops (vif, disk, ...) see,
// since libxlutil's xlu_cfg_get_listitem returns NULL for a nested list.
func (v *Value) Strings() []string {
	var out []string
	for _, it := range v.Items {
		if it.Kind != KindString {
			break
		}
		out = append(out, it.Str)
	}
	return out
}

// PosOf returns the source position of byte i of v.Str: the position of the
// first source byte that produced it (for an escape such as `\\`, the
// backslash). i == len(v.Str) gives the position of the closing quote. For a
// value without source (constructed, or a list) it returns v.Range.Start.
//
// Use it to point a diagnostic into a spec string: for a vif spec whose
// field starts at offset k of the string, PosOf(k) is its line and column.
func (v *Value) PosOf(i int) Pos {
	if v.parts != nil {
		parts := *v.parts
		for _, p := range parts {
			if i < len(p.Str) {
				return p.PosOf(i)
			}
			i -= len(p.Str)
		}
		last := parts[len(parts)-1]
		return last.PosOf(len(last.Str) + i)
	}
	if v.Kind != KindString || v.Raw == "" {
		return v.Range.Start
	}
	off := rawOffset(v.Raw, v.Number, i)
	p := v.Range.Start
	p.Column += off
	p.Byte += off
	return p
}

// RangeOf returns the source range of v.Str[i:j], for a diagnostic's
// Subject. Both ends are mapped with PosOf.
func (v *Value) RangeOf(i, j int) Range {
	r := Range{Filename: v.Range.Filename, Start: v.PosOf(i), End: v.PosOf(j)}
	if r.End.Byte < r.Start.Byte {
		r.End = r.Start
	}
	return r
}

// rawOffset maps byte i of the dequoted string to an offset in raw (the token
// with its quotes).
func rawOffset(raw string, number bool, i int) int {
	if number {
		if i > len(raw) {
			return len(raw)
		}
		return i
	}
	out := 0 // bytes of output produced so far
	j := 1
	for j < len(raw)-1 {
		if out >= i {
			return j
		}
		c := raw[j]
		if c != '\\' {
			out++
			j++
			continue
		}
		n, w := escapeWidth(raw, j)
		out += n
		j += w
	}
	return len(raw) - 1 + (i - out)
}

// Setting is one assignment as libxlutil stores it.
type Setting struct {
	Name string
	// Op is "=" or "+=".
	Op string
	// Line is libxlutil's recorded line: the line of the value's first token.
	Line int
	// Value is the stored value: for `+=` the previous value joined with this
	// one (string concatenation, or list items followed by the new ones).
	// Like libxlutil, a list that was extended by a later `+=` is left empty
	// in the earlier setting: its items moved to the later one.
	Value *Value
	// NameRange is the setting's name; Range the whole assignment (name to
	// the end of the value, without the terminator); OpRange the operator.
	NameRange, OpRange, Range Range

	// own is the value as written (before `+=` joins); its Range and the
	// setting's say where the assignment sits, for edits.
	own *Value
}

// stmtSpan is where an assignment sits in the source, for edits.
type stmtSpan struct {
	start, end int // name .. end of value (bytes)
	valStart   int
	valEnd     int
	own        *Value // the value as written (before += merging)
}

func (s *Setting) span() stmtSpan {
	return stmtSpan{start: s.NameRange.Start.Byte, end: s.Range.End.Byte,
		valStart: s.own.Range.Start.Byte, valEnd: s.own.Range.End.Byte, own: s.own}
}

// File is a parsed xl.cfg file: its source and its settings. A File is not
// safe for concurrent edits.
type File struct {
	Filename string
	src      []byte
	opts     Options
	settings []*Setting
	strayAt  int // offset of an ignored bad last byte, or -1
}

// Settings returns every assignment in file order, with the values libxlutil
// stores for it (see Setting.Value). Shadowed settings are included.
func (f *File) Settings() []*Setting { return f.settings }

// Lookup returns the setting libxlutil's getters return for name: the last
// assignment. It is nil if name is not set.
func (f *File) Lookup(name string) *Setting {
	for i := len(f.settings) - 1; i >= 0; i-- {
		if f.settings[i].Name == name {
			return f.settings[i]
		}
	}
	return nil
}

// Source returns the file's text as parsed (before edits; see Bytes).
func (f *File) Source() []byte { return f.src }
