package parser

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// ANSI colours used by Fprint when asked to colour.
const (
	colorReset  = "\x1b[0m"
	colorBold   = "\x1b[1m"
	colorRed    = "\x1b[1;31m"
	colorYellow = "\x1b[1;33m"
	colorCyan   = "\x1b[36m"
)

// Fprint writes every diagnostic to w: a first line `file:line:col: summary`
// (warnings say so), the source line with a caret under the offending text
// when src (the file's contents) is given, and the detail. Colour only when
// color is true: callers pass iostreams' ColorEnabled, so it is off for
// NO_COLOR and when w is not a terminal.
func (ds Diagnostics) Fprint(w io.Writer, src []byte, color bool) error {
	for _, d := range ds {
		if err := d.Fprint(w, src, color); err != nil {
			return err
		}
	}
	return nil
}

// Fprint writes one diagnostic; see Diagnostics.Fprint.
func (d *Diagnostic) Fprint(w io.Writer, src []byte, color bool) error {
	paint := func(c, s string) string {
		if !color {
			return s
		}
		return c + s + colorReset
	}
	var b strings.Builder
	if d.Subject != nil {
		b.WriteString(paint(colorBold, d.Subject.String()+":"))
		b.WriteByte(' ')
	}
	if d.Severity == DiagWarning {
		b.WriteString(paint(colorYellow, "warning:"))
	} else {
		b.WriteString(paint(colorRed, "error:"))
	}
	b.WriteByte(' ')
	b.WriteString(d.Summary)
	b.WriteByte('\n')
	if d.Subject != nil && src != nil {
		if line, ok := sourceLine(src, d.Subject.Start); ok {
			col := d.Subject.Start.Column
			if col < 1 {
				col = 1
			}
			// A long line is shown around the column only.
			const window = 80
			prefix := ""
			if col > window+1 {
				cut := col - window - 1
				line = line[cut:]
				col -= cut
				prefix = "..."
				col += len(prefix)
				line = prefix + line
			}
			if len(line) > col+window {
				line = line[:col+window] + "..."
			}
			b.WriteString("    ")
			b.WriteString(visible(line))
			b.WriteByte('\n')
			width := 1
			if d.Subject.End.Line == d.Subject.Start.Line && d.Subject.End.Column > col {
				width = d.Subject.End.Column - col
			}
			if max := len(line) - col + 1; width > max && max > 0 {
				width = max
			}
			// Keep TABs in the padding so the caret lines up under them.
			pad := make([]byte, 0, col-1)
			for i := 0; i < col-1 && i < len(line); i++ {
				if line[i] == '\t' {
					pad = append(pad, '\t')
				} else {
					pad = append(pad, ' ')
				}
			}
			b.WriteString("    ")
			b.Write(pad)
			b.WriteString(paint(colorCyan, "^"+strings.Repeat("~", width-1)))
			b.WriteByte('\n')
		}
	}
	if d.Detail != "" {
		b.WriteString("    ")
		b.WriteString(d.Detail)
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// sourceLine returns the text of the line p is on, without its line end.
func sourceLine(src []byte, p Pos) (string, bool) {
	if p.Byte < 0 || p.Byte > len(src) {
		return "", false
	}
	start := bytes.LastIndexByte(src[:p.Byte], '\n') + 1
	end := bytes.IndexByte(src[p.Byte:], '\n')
	if end < 0 {
		end = len(src)
	} else {
		end += p.Byte
	}
	return strings.TrimSuffix(string(src[start:end]), "\r"), true
}

// visible replaces control characters (other than TAB) so that a snippet
// cannot drive the terminal; one byte each, so the caret stays aligned.
func visible(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// String formats a diagnostic list without source snippets, one a line.
func (ds Diagnostics) String() string {
	var b bytes.Buffer
	_ = ds.Fprint(&b, nil, false)
	return b.String()
}

var _ fmt.Stringer = Diagnostics(nil)
