package tableprinter

import (
	"strings"
	"testing"

	"github.com/fatih/color"

	"github.com/xfeat/xfeat/internal/cli/iostreams"
)

func TestTSVOffATerminal(t *testing.T) {
	ios, _, out, _ := iostreams.Test()
	p := New(ios, "A", "B")
	p.Row("x", "y z")
	p.Row("tab\there", "esc\x1b[31mred")
	p.RowPainted("1", p.Paint("2", color.FgRed))
	if err := p.Render(); err != nil {
		t.Fatal(err)
	}
	want := "x\ty z\n\"tab\\there\"\t\"esc\\x1b[31mred\"\n1\t2\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestTableOnATerminal(t *testing.T) {
	ios, _, out, _ := iostreams.Test()
	ios.SetStdoutTTY(true)
	ios.SetColorEnabled(true)
	p := New(ios, "NAME", "VERDICT")
	p.RowPainted("multi-queue-max-queues", p.Paint("clamped", color.FgYellow))
	p.Row("sg", "applied")
	if err := p.Render(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "NAME") || !strings.Contains(lines[1], "\x1b[33mclamped\x1b[0m") {
		t.Fatalf("table:\n%s", out)
	}
	// Columns line up although the second row's cell has no escapes.
	if strings.Index(lines[2], "applied") != strings.Index(lines[1], "\x1b[33m") {
		t.Errorf("columns misaligned:\n%q\n%q", lines[1], lines[2])
	}
}
