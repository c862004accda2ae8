package list

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
)

func TestNewCmdListFlags(t *testing.T) {
	for _, tc := range []struct {
		argv string
		out  cmdutil.Output
		err  string
	}{
		{argv: "", out: "table"},
		{argv: "-o json", out: "json"},
		{argv: "--output table --xenstore /x", out: "table"},
		{argv: "guest", err: `unknown command "guest"`},
		{argv: "-o xml", err: `unknown output format "xml"`},
	} {
		ios, _, _, _ := iostreams.Test()
		var got *ListOptions
		cmd := NewCmdList(&cmdutil.Factory{IO: ios}, func(o *ListOptions) error { got = o; return nil })
		cmd.SetArgs(strings.Fields(tc.argv))
		cmd.SetOut(ios.Out)
		cmd.SetErr(ios.ErrOut)
		cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &cmdutil.FlagError{Err: err} })
		err := cmd.Execute()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || cmdutil.ExitCodeOf(err) != cmdutil.ExitUsage {
				t.Errorf("%q: %v, want %q (exit 2)", tc.argv, err, tc.err)
			}
			continue
		}
		if err != nil || got.Output != tc.out {
			t.Errorf("%q: %v %+v", tc.argv, err, got)
		}
	}
}
