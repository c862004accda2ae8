// Package parse implements `xfeat parse`: read an xl.cfg file exactly as xl
// does and print the settings libxlutil would store.
package parse

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/parser"
)

// ParseOptions are the inputs of `xfeat parse`.
type ParseOptions struct {
	IO *iostreams.IOStreams

	File   string // "-" reads standard input
	Output cmdutil.Output
	Strict bool
}

// NewCmdParse builds `xfeat parse`.
func NewCmdParse(f *cmdutil.Factory, runF func(*ParseOptions) error) *cobra.Command {
	opts := &ParseOptions{IO: f.IO}
	var jsonAlias bool
	var cmd *cobra.Command
	cmd = &cobra.Command{
		Use:   "parse FILE",
		Short: "Parse an xl.cfg file as xl does and print its settings",
		Long: `Parse FILE (- for standard input) with the same tokens, grammar, escapes and
+= rules as xl's libxlutil, and print every setting it stores, in file order.

Without -o json each setting is printed as one line, NAME = VALUE or
NAME += VALUE, the value in canonical xl.cfg syntax on one line.

With -o json (or --json, its older spelling) the output is a JSON array with
one object per setting:
{"name": NAME, "op": "=" or "+=", "line": N, "value": V}. V is a string or a
(nested) array of strings exactly as libxlutil stores them: numbers as written
(0x1f stays "0x1f"), strings after escape processing, a += joined with the
earlier value. "line" is the line libxlutil records, that of the value's first
token. Shadowed settings are included: xl uses the last one of each name. (As
in libxlutil, a list extended by a later += is left empty in the earlier
setting: its items moved to the later one.)

Every problem of the file is printed to standard error as
FILE:LINE:COLUMN: message, with the source line and a caret. xfeat accepts, with
a warning saying how to write it for xl, three things xl rejects: an unknown
escape such as \; in a string (kept as written), CRLF line ends, and a comment
on the last line without a newline. --strict makes these errors.

Exit status: 0 when the file is accepted, 1 when it is rejected (or cannot be
read), 2 on a usage error.`,
		Example: `  xfeat parse /etc/xen/guest.cfg
  xfeat parse -o json guest.cfg | jq -r '.[] | select(.name == "vif") | .value[]'
  echo 'memory = 0x400' | xfeat parse --strict -`,
		Args: cmdutil.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.File = args[0]
			if jsonAlias {
				if cmd.Flags().Changed("output") && opts.Output != cmdutil.OutputJSON {
					return cmdutil.FlagErrorf("--json and -o %s disagree: --json is -o json", opts.Output)
				}
				opts.Output = cmdutil.OutputJSON
			}
			if runF != nil {
				return runF(opts)
			}
			return parseRun(opts)
		},
	}
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	cmd.Flags().BoolVar(&jsonAlias, "json", false, "the same as -o json (kept for scripts that use it)")
	cmd.Flags().BoolVar(&opts.Strict, "strict", false, "accept exactly what xl accepts: xfeat's leniencies become errors")
	return cmd
}

// ReadInput reads FILE, or standard input for "-", and returns the name to
// use in messages.
func ReadInput(ios *iostreams.IOStreams, file string) (name string, src []byte, err error) {
	if file == "-" {
		src, err = io.ReadAll(ios.In)
		return "<stdin>", src, err
	}
	src, err = os.ReadFile(file)
	return file, src, err
}

// jsonSetting is one element of -o json output; the keys are relied on by
// scripts.
type jsonSetting struct {
	Name  string `json:"name"`
	Op    string `json:"op"`
	Line  int    `json:"line"`
	Value any    `json:"value"`
}

// JSONValue converts a value to what -o json prints: a string or a nested
// []any of strings.
func JSONValue(v *parser.Value) any {
	if v.Kind == parser.KindString {
		return v.Str
	}
	out := make([]any, 0, len(v.Items))
	for _, it := range v.Items {
		out = append(out, JSONValue(it))
	}
	return out
}

func parseRun(opts *ParseOptions) error {
	name, src, err := ReadInput(opts.IO, opts.File)
	if err != nil {
		return err
	}
	f, diags := parser.Parse(name, src, parser.Options{Strict: opts.Strict})
	if err := diags.Fprint(opts.IO.ErrOut, src, opts.IO.ErrColorEnabled()); err != nil {
		return err
	}
	if f == nil {
		return cmdutil.ErrSilent
	}
	if opts.Output == cmdutil.OutputJSON {
		out := make([]jsonSetting, 0, len(f.Settings()))
		for _, s := range f.Settings() {
			out = append(out, jsonSetting{Name: s.Name, Op: s.Op, Line: s.Line, Value: JSONValue(s.Value)})
		}
		return cmdutil.WriteJSON(opts.IO.Out, out)
	}
	for _, s := range f.Settings() {
		if _, err := fmt.Fprintf(opts.IO.Out, "%s %s %s\n", s.Name, s.Op, s.Value); err != nil {
			return err
		}
	}
	return nil
}
