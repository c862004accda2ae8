package parser

import (
	"fmt"
	"strings"

	"github.com/alecthomas/participle/v2/lexer"
)

// The canonical style, written by Format (xfeat fmt):
//
//   - one statement a line, `name = value` (or `name += value`: the operator
//     is kept, it changes what xl stores); `;` separators become newlines;
//   - strings in double quotes with only the escapes libxlutil accepts
//     (\\ \" \n \r \t \a \b \f \v); a lenient unknown escape such as `\;` is
//     written `\\;`, the value xfeat read; numbers stay bare, as written;
//   - a list with more than one item, a comment, or a multi-line list inside
//     is written one item a line, indented four spaces a level, each item
//     followed by a comma; other lists stay on one line: [], ["x"];
//   - comments are kept, a trailing comment after its statement or item with
//     one space before it, trailing blanks (and CRs) removed; blank lines
//     between statements are kept, at most one in a row, none at the start
//     or end of the file; the file ends with a newline.
//
// Only layout changes: Format's output parses to the same settings, and
// formatting it again gives the same bytes.

const indentUnit = "    "

// valueText renders v in canonical style; indent is the indentation of the
// line the value starts on.
func valueText(v *Value, indent string) string {
	var b strings.Builder
	writeValue(&b, v, indent)
	return b.String()
}

func valueMultiline(v *Value) bool {
	if v.Kind != KindList {
		return false
	}
	if len(v.Items) > 1 {
		return true
	}
	for _, it := range v.Items {
		if valueMultiline(it) {
			return true
		}
	}
	return false
}

func writeValue(b *strings.Builder, v *Value, indent string) {
	if v.Kind == KindString {
		if v.Number && isNumberToken(v.Str) {
			b.WriteString(v.Str)
		} else {
			b.WriteString(quoteString(v.Str))
		}
		return
	}
	if !valueMultiline(v) {
		b.WriteByte('[')
		for i, it := range v.Items {
			if i > 0 {
				b.WriteString(", ")
			}
			writeValue(b, it, indent)
		}
		b.WriteByte(']')
		return
	}
	inner := indent + indentUnit
	b.WriteString("[\n")
	for _, it := range v.Items {
		b.WriteString(inner)
		writeValue(b, it, inner)
		b.WriteString(",\n")
	}
	b.WriteString(indent)
	b.WriteByte(']')
}

// Format returns f's text in canonical style. f must be a parsed File (it
// has no errors).
func Format(f *File) ([]byte, error) {
	s := scan(f.Filename, f.src, f.opts)
	if s.diags.HasErrors() {
		return nil, s.diags.Errs()
	}
	w := &formatter{toks: s.toks}
	w.measureLists()
	if err := w.file(); err != nil {
		return nil, err
	}
	return []byte(w.b.String()), nil
}

type formatter struct {
	toks      []lexer.Token
	i         int
	b         strings.Builder
	multiline map[int]bool // index of `[` -> written one item a line
	lineOpen  bool         // the current output line has text and no newline yet
	blank     int          // blank lines seen since the last output line
}

// measureLists decides for every list whether it is written one item a line.
func (w *formatter) measureLists() {
	type open struct {
		at    int
		items int
		multi bool
	}
	w.multiline = map[int]bool{}
	var stack []open
	for i, t := range w.toks {
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			switch {
			case t.Type == tokString || t.Type == tokNumber || t.Type == tokPunct && t.Value == "[":
				top.items++
			case (t.Type == tokNewline || t.Type == tokListNewline) && strings.Contains(t.Value, "#"):
				top.multi = true
			}
		}
		if t.Type != tokPunct {
			continue
		}
		switch t.Value {
		case "[":
			stack = append(stack, open{at: i})
		case "]":
			if len(stack) == 0 {
				continue
			}
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			m := top.multi || top.items > 1
			w.multiline[top.at] = m
			if m && len(stack) > 0 {
				stack[len(stack)-1].multi = true
			}
		}
	}
}

func (w *formatter) peek() lexer.Token { return w.toks[w.i] }

func (w *formatter) endLine() {
	w.b.WriteByte('\n')
	w.lineOpen = false
}

// startLine begins an output line at indent, after at most one blank line.
func (w *formatter) startLine(indent string) {
	if w.lineOpen {
		w.endLine()
	}
	if w.blank > 0 && w.b.Len() > 0 {
		w.b.WriteByte('\n')
	}
	w.blank = 0
	w.b.WriteString(indent)
	w.lineOpen = true
}

// newlines writes a run of NEWLINE tokens: the comment on the current line,
// then comment lines at indent; blank lines are counted (keepBlank) or
// dropped.
func (w *formatter) newlines(t lexer.Token, indent string, keepBlank bool) {
	pieces := strings.Split(t.Value, "\n")
	for i, p := range pieces {
		p = strings.TrimRight(strings.TrimLeft(p, " \t"), " \t\r")
		last := i == len(pieces)-1
		switch {
		case p != "" && i == 0 && w.lineOpen:
			w.b.WriteString(" ")
			w.b.WriteString(p)
		case p != "":
			w.startLine(indent)
			w.b.WriteString(p)
		case i > 0 && !last && keepBlank:
			w.blank++
		}
		if !last && w.lineOpen {
			w.endLine()
		}
	}
}

func (w *formatter) file() error {
	for {
		t := w.peek()
		switch {
		case t.EOF():
			if w.lineOpen {
				w.endLine()
			}
			return nil
		case t.Type == tokNewline:
			w.newlines(t, "", true)
			w.i++
		case t.Type == tokPunct && t.Value == ";":
			w.i++
		case t.Type == tokIdent:
			w.startLine("")
			w.b.WriteString(t.Value)
			w.i++
			op := w.peek()
			w.b.WriteString(" " + op.Value + " ")
			w.i++
			if err := w.value(""); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s:%d:%d: unexpected %s", t.Pos.Filename, t.Pos.Line, t.Pos.Column, describeToken(t))
		}
	}
}

// value writes the value starting at the current token; indent is that of
// the line it starts on.
func (w *formatter) value(indent string) error {
	t := w.peek()
	switch t.Type {
	case tokNumber:
		w.b.WriteString(t.Value)
		w.i++
		return nil
	case tokString:
		str, _ := dequote(t.Value)
		w.b.WriteString(quoteString(str))
		w.i++
		return nil
	}
	if t.Type != tokPunct || t.Value != "[" {
		return fmt.Errorf("%s:%d:%d: unexpected %s", t.Pos.Filename, t.Pos.Line, t.Pos.Column, describeToken(t))
	}
	multi := w.multiline[w.i]
	w.i++
	w.b.WriteByte('[')
	inner := indent + indentUnit
	n := 0
	for {
		t := w.peek()
		switch {
		case t.EOF():
			return fmt.Errorf("%s:%d:%d: unexpected end of file in a list", t.Pos.Filename, t.Pos.Line, t.Pos.Column)
		case t.Type == tokPunct && t.Value == "]":
			w.i++
			if multi {
				w.startLine(indent)
			}
			w.b.WriteByte(']')
			return nil
		case t.Type == tokPunct && t.Value == ",":
			w.i++
		case t.Type == tokNewline || t.Type == tokListNewline:
			if multi {
				w.newlines(t, inner, false)
			}
			w.i++
		default:
			if multi {
				w.startLine(inner)
			} else if n > 0 {
				w.b.WriteString(", ")
			}
			if err := w.value(inner); err != nil {
				return err
			}
			if multi {
				w.b.WriteByte(',')
			}
			n++
		}
	}
}

// String renders v on one line in canonical style: "x", 1024, ["a", "b"].
func (v *Value) String() string {
	var b strings.Builder
	writeInline(&b, v)
	return b.String()
}

func writeInline(b *strings.Builder, v *Value) {
	if v.Kind == KindString {
		writeValue(b, v, "")
		return
	}
	b.WriteByte('[')
	for i, it := range v.Items {
		if i > 0 {
			b.WriteString(", ")
		}
		writeInline(b, it)
	}
	b.WriteByte(']')
}
