package parser

import (
	"bytes"
	"fmt"
	"strings"
)

// Bytes returns the file's text with every edit applied. Without edits it is
// the parsed source, byte for byte. Edits rewrite only the bytes of what they
// change (a value, an operator, a list item, a removed statement), so every
// comment and the layout of untouched lines stay as they were. The returned
// slice must not be modified.
func (f *File) Bytes() []byte { return f.src }

// edit replaces src[start:end] with text.
type edit struct {
	start, end int
	text       string
}

// apply applies edits (non-overlapping, any order) and parses the result
// again, so that positions, settings and later edits see the new text. On
// failure the File is unchanged.
func (f *File) apply(edits ...edit) error {
	// Apply from the back so that earlier offsets stay valid.
	for i := 1; i < len(edits); i++ {
		for j := i; j > 0 && edits[j].start > edits[j-1].start; j-- {
			edits[j], edits[j-1] = edits[j-1], edits[j]
		}
	}
	src := append([]byte(nil), f.src...)
	for _, e := range edits {
		src = append(src[:e.start], append([]byte(e.text), src[e.end:]...)...)
	}
	nf, diags := Parse(f.Filename, src, f.opts)
	if diags.HasErrors() {
		return fmt.Errorf("edit would make the file invalid: %w", diags.Errs())
	}
	*f = *nf
	return nil
}

// ValidName reports whether name is a valid setting name: libxlutil's IDENT,
// [a-z][._0-9a-z]*.
func ValidName(name string) bool {
	if name == "" || !isIdentStart(name[0]) {
		return false
	}
	for i := 1; i < len(name); i++ {
		if !isIdentChar(name[i]) {
			return false
		}
	}
	return true
}

func checkValue(v *Value) error {
	if v == nil {
		return fmt.Errorf("nil value")
	}
	if v.Kind == KindString {
		if strings.IndexByte(v.Str, 0) >= 0 {
			return fmt.Errorf("a string cannot hold a NUL byte")
		}
		return nil
	}
	for _, it := range v.Items {
		if err := checkValue(it); err != nil {
			return err
		}
	}
	return nil
}

// lineIndent returns the blanks that start the line holding src[off].
func lineIndent(src []byte, off int) string {
	start := bytes.LastIndexByte(src[:off], '\n') + 1
	end := start
	for end < len(src) && (src[end] == ' ' || src[end] == '\t') {
		end++
	}
	return string(src[start:end])
}

// Set makes name's value v. If name is set, the last assignment of it (the
// one xl uses) gets the new value in place and its operator becomes `=`;
// earlier, shadowed assignments are left alone. Otherwise `name = value` is
// appended to the end of the file. Values are written in canonical style.
func (f *File) Set(name string, v *Value) error {
	if !ValidName(name) {
		return fmt.Errorf("invalid setting name %q: names match [a-z][._0-9a-z]*", name)
	}
	if err := checkValue(v); err != nil {
		return err
	}
	last := f.Lookup(name)
	if last == nil {
		return f.appendStmt(name + " = " + valueText(v, ""))
	}
	st := last.span()
	edits := []edit{{st.valStart, st.valEnd, valueText(v, lineIndent(f.src, st.start))}}
	if last.Op == "+=" {
		edits = append(edits, edit{last.OpRange.Start.Byte, last.OpRange.End.Byte, "="})
	}
	return f.apply(edits...)
}

// appendStmt adds a statement as the file's last line.
func (f *File) appendStmt(stmt string) error {
	at := len(f.src)
	if f.strayAt >= 0 {
		// A bad last byte is only harmless as the last byte: drop it.
		at = f.strayAt
	}
	prefix := ""
	if at > 0 && f.src[at-1] != '\n' {
		prefix = "\n"
	}
	return f.apply(edit{at, len(f.src), prefix + stmt + "\n"})
}

// Remove deletes every assignment of name (the statement and its
// terminator; a whole line when the statement is alone on it, its trailing
// comment included). It reports whether anything was removed.
func (f *File) Remove(name string) (bool, error) {
	var edits []edit
	for _, s := range f.settings {
		if s.Name != name {
			continue
		}
		edits = append(edits, f.stmtExtent(s.span()))
	}
	if len(edits) == 0 {
		return false, nil
	}
	return true, f.apply(edits...)
}

// stmtExtent returns the bytes to delete to remove a statement.
func (f *File) stmtExtent(st stmtSpan) edit {
	src := f.src
	start, end := st.start, st.end
	// Blanks, then the terminator: `;` or a newline (with a comment).
	j := end
	for j < len(src) && (src[j] == ' ' || src[j] == '\t') {
		j++
	}
	lineStart := bytes.LastIndexByte(src[:start], '\n') + 1
	first := strings.Trim(string(src[lineStart:start]), " \t") == ""
	switch {
	case j < len(src) && src[j] == ';':
		end = j + 1
		for end < len(src) && (src[end] == ' ' || src[end] == '\t') {
			end++
		}
		if first {
			start = lineStart
		}
	case first && j < len(src) && (src[j] == '#' || src[j] == '\n' || src[j] == '\r'):
		// Alone on its line: the whole line goes, its comment included.
		nl := bytes.IndexByte(src[j:], '\n')
		if nl < 0 {
			end = len(src)
		} else {
			end = j + nl + 1
		}
		start = lineStart
	default:
		// After another statement on its line: keep the line end (and
		// comment), drop the blanks before the statement.
		end = j
		if j < len(src) && src[j] != ';' {
			end = st.end
		}
		for start > lineStart && (src[start-1] == ' ' || src[start-1] == '\t') {
			start--
		}
	}
	return edit{start, end, ""}
}

// AppendItem appends v to the list name (xl's vif, disk, ...), keeping the
// list's layout: on a new line with the indentation of the last item when the
// list is written one item a line, after the last item otherwise. If name is
// not set, `name = [v]` is appended to the file. It is an error if name is a
// string.
func (f *File) AppendItem(name string, v *Value) error {
	if err := checkValue(v); err != nil {
		return err
	}
	last := f.Lookup(name)
	if last == nil {
		if !ValidName(name) {
			return fmt.Errorf("invalid setting name %q: names match [a-z][._0-9a-z]*", name)
		}
		return f.appendStmt(name + " = [" + valueText(v, "") + "]")
	}
	own := last.own
	if own.Kind != KindList {
		return fmt.Errorf("%s: %s is a string, not a list", last.NameRange, name)
	}
	src := f.src
	closeAt := own.Range.End.Byte - 1 // the `]`
	if len(own.Items) == 0 {
		// Right after `[`: whatever is between stays after the new item.
		openAt := own.Range.Start.Byte
		return f.apply(edit{openAt + 1, openAt + 1, valueText(v, lineIndent(src, openAt))})
	}
	lastItem := own.Items[len(own.Items)-1]
	afterItem := lastItem.Range.End.Byte
	// Is there a trailing comma after the last item?
	comma := -1
	for j := afterItem; j < closeAt; j++ {
		if src[j] == ',' {
			comma = j
			break
		}
	}
	multiline := lastItem.Range.Start.Line != own.Range.End.Line || lastItem.Range.Start.Line != own.Range.Start.Line
	closeLineStart := bytes.LastIndexByte(src[:closeAt], '\n') + 1
	closeAlone := strings.Trim(string(src[closeLineStart:closeAt]), " \t") == ""
	if multiline && closeAlone {
		indent := lineIndent(src, lastItem.Range.Start.Byte)
		item := indent + valueText(v, indent)
		if comma >= 0 {
			return f.apply(edit{closeLineStart, closeLineStart, item + ",\n"})
		}
		return f.apply(edit{afterItem, afterItem, ","}, edit{closeLineStart, closeLineStart, item + "\n"})
	}
	text := valueText(v, lineIndent(src, own.Range.Start.Byte))
	if comma >= 0 {
		return f.apply(edit{comma + 1, comma + 1, " " + text + ","})
	}
	return f.apply(edit{afterItem, afterItem, ", " + text})
}

// ReplaceListItem replaces item index of the list name (as xl sees it, after
// `+=` joins) with the string s, in place: the rest of the list and its
// comments stay as they are. Use it to change one device spec of vif or disk.
func (f *File) ReplaceListItem(name string, index int, s string) error {
	return f.ReplaceListValue(name, index, StringValue(s))
}

// ReplaceListValue is ReplaceListItem for any value.
func (f *File) ReplaceListValue(name string, index int, v *Value) error {
	if err := checkValue(v); err != nil {
		return err
	}
	last := f.Lookup(name)
	if last == nil {
		return fmt.Errorf("%s is not set", name)
	}
	if last.Value.Kind != KindList {
		return fmt.Errorf("%s: %s is a string, not a list", last.NameRange, name)
	}
	items := last.Value.Items
	if index < 0 || index >= len(items) {
		return fmt.Errorf("%s: %s has %d items, no item %d", last.NameRange, name, len(items), index)
	}
	it := items[index]
	return f.apply(edit{it.Range.Start.Byte, it.Range.End.Byte, valueText(v, lineIndent(f.src, it.Range.Start.Byte))})
}

// StringCut is a span [Start, End) of the dequoted text of a string value
// read from the file (Value.Str offsets).
type StringCut struct {
	Value      *Value
	Start, End int
}

// CutStrings removes the spans from their strings in place: the quotes and
// escapes of what stays, and everything around the strings, are kept as
// written. Spans must not overlap; each must lie in a value of this file's
// current parse that is a quoted string, not joined by `+=` from parts. On
// failure the File is unchanged.
func (f *File) CutStrings(cuts []StringCut) error {
	edits := make([]edit, 0, len(cuts))
	for _, c := range cuts {
		v := c.Value
		if v == nil || v.Kind != KindString || v.Raw == "" || v.Number || v.parts != nil {
			return fmt.Errorf("cut: not a quoted string read from the file")
		}
		if c.Start < 0 || c.End > len(v.Str) || c.Start > c.End {
			return fmt.Errorf("%s: cut [%d, %d) outside a string of %d bytes", v.Range, c.Start, c.End, len(v.Str))
		}
		start, end := v.PosOf(c.Start).Byte, v.PosOf(c.End).Byte
		if start < v.Range.Start.Byte || end > v.Range.End.Byte || end > len(f.src) || !bytes.Equal(f.src[v.Range.Start.Byte:v.Range.End.Byte], []byte(v.Raw)) {
			return fmt.Errorf("%s: the value is not from this file's current text", v.Range)
		}
		edits = append(edits, edit{start, end, ""})
	}
	for i := range edits {
		for j := range edits {
			if i != j && edits[i].start < edits[j].end && edits[j].start < edits[i].end {
				return fmt.Errorf("cut: overlapping spans")
			}
		}
	}
	return f.apply(edits...)
}
