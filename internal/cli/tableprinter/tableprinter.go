// Package tableprinter prints rows of data the way every xfeat command does:
// on a terminal an aligned table with a header and optional colour; off a
// terminal tab-separated rows without a header, for scripts (cut, awk).
//
// Cells are data from XenStore, some of it written by guests: a cell holding
// control characters (a tab, a newline, an escape sequence) is printed
// quoted, so it can neither break the columns nor drive the terminal.
package tableprinter

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/fatih/color"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/xfeat/xfeat/internal/cli/iostreams"
)

// Printer collects rows and prints them on Render.
type Printer struct {
	out     io.Writer
	tty     bool
	colour  bool
	headers []string
	rows    [][]string
}

// New returns a printer for io.Out with the given column headers.
func New(ios *iostreams.IOStreams, headers ...string) *Printer {
	return &Printer{out: ios.Out, tty: ios.IsStdoutTTY(), colour: ios.ColorEnabled(), headers: headers}
}

// Row adds a row; cells are made safe to print (see the package doc).
// Colour a cell with Paint after this sanitising, never before.
func (p *Printer) Row(cells ...string) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = Safe(c)
	}
	p.rows = append(p.rows, row)
}

// RowPainted adds a row whose cells were already sanitised (Safe) and
// possibly painted.
func (p *Printer) RowPainted(cells ...string) { p.rows = append(p.rows, cells) }

// Safe returns s, quoted when it holds a control character.
func Safe(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// Paint colours s with attrs when colour is enabled (a terminal without
// NO_COLOR); otherwise s is returned as is.
func (p *Printer) Paint(s string, attrs ...color.Attribute) string {
	if !p.colour || len(attrs) == 0 {
		return s
	}
	c := color.New(attrs...)
	c.EnableColor()
	return c.Sprint(s)
}

// IsTTY reports whether the printer prints a table (else TSV).
func (p *Printer) IsTTY() bool { return p.tty }

// Render prints the rows.
func (p *Printer) Render() error {
	if !p.tty {
		for _, r := range p.rows {
			if _, err := fmt.Fprintln(p.out, strings.Join(r, "\t")); err != nil {
				return err
			}
		}
		return nil
	}
	t := tablewriter.NewTable(p.out,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenColumns: tw.Off, BetweenRows: tw.Off},
				Lines:      tw.Lines{ShowHeaderLine: tw.Off},
			},
		})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	)
	headers := make([]any, len(p.headers))
	for i, h := range p.headers {
		headers[i] = p.Paint(h, color.Bold)
	}
	t.Header(headers...)
	for _, r := range p.rows {
		if err := t.Append(r); err != nil {
			return err
		}
	}
	return t.Render()
}
