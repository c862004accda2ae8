// Package iostreams carries the standard streams a command writes to, and what
// is known about them (terminal or not, colour allowed or not), so that every
// command can be run in tests against buffers with the terminal state forced.
//
// Data goes to Out; progress, warnings and errors go to ErrOut.
package iostreams

import (
	"bytes"
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// IOStreams is the set of streams handed to a command.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdoutTTY  bool
	stderrTTY  bool
	colorForce *bool
}

// System returns the process's own streams, with terminal detection.
func System() *IOStreams {
	return &IOStreams{
		In:        os.Stdin,
		Out:       os.Stdout,
		ErrOut:    os.Stderr,
		stdoutTTY: isTerminal(os.Stdout),
		stderrTTY: isTerminal(os.Stderr),
	}
}

// Test returns streams backed by buffers (stdin, stdout, stderr), not terminals.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// IsStdoutTTY reports whether Out is a terminal (tables with headers, colour).
func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }

// IsStderrTTY reports whether ErrOut is a terminal (live progress lines).
func (s *IOStreams) IsStderrTTY() bool { return s.stderrTTY }

// SetStdoutTTY forces the terminal state of Out (tests).
func (s *IOStreams) SetStdoutTTY(v bool) { s.stdoutTTY = v }

// SetStderrTTY forces the terminal state of ErrOut (tests).
func (s *IOStreams) SetStderrTTY(v bool) { s.stderrTTY = v }

// SetColorEnabled forces colour on or off regardless of terminal and NO_COLOR.
func (s *IOStreams) SetColorEnabled(v bool) { s.colorForce = &v }

// ColorEnabled reports whether output on Out may be coloured: only on a
// terminal, and never when NO_COLOR is set (https://no-color.org).
func (s *IOStreams) ColorEnabled() bool {
	if s.colorForce != nil {
		return *s.colorForce
	}
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		return false
	}
	return s.stdoutTTY
}

// ErrColorEnabled is ColorEnabled for ErrOut.
func (s *IOStreams) ErrColorEnabled() bool {
	if s.colorForce != nil {
		return *s.colorForce
	}
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		return false
	}
	return s.stderrTTY
}
