package cmdutil

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Output is the value of the -o flag shared by every command that prints data.
type Output string

const (
	OutputTable Output = "table"
	OutputJSON  Output = "json"
)

// AddOutputFlag adds `-o, --output table|json` to cmd and validates it before
// the command runs.
func AddOutputFlag(cmd *cobra.Command, o *Output) {
	*o = OutputTable
	cmd.Flags().VarP((*outputValue)(o), "output", "o", "output format: table or json")
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp
	})
}

type outputValue Output

func (v *outputValue) String() string { return string(*v) }
func (v *outputValue) Type() string   { return "format" }
func (v *outputValue) Set(s string) error {
	switch Output(s) {
	case OutputTable, OutputJSON:
		*v = outputValue(s)
		return nil
	}
	return fmt.Errorf("unknown output format %q: use table or json", s)
}

// WriteJSON writes v as indented JSON followed by a newline: the stable,
// script-facing form of every command's output.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
