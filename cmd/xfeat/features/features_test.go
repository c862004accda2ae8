package features

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
)

func TestNewCmdFeaturesFlags(t *testing.T) {
	for _, tc := range []struct {
		argv, kind, backend string
		out                 cmdutil.Output
		err                 string
	}{
		{argv: "vif", kind: "vif", backend: "0", out: "table"},
		{argv: "disk --backend drv -o json", kind: "vbd", backend: "drv", out: "json"},
		{argv: "vbd", kind: "vbd", backend: "0", out: "table"},
		{argv: "pci", err: `unknown device type "pci"`},
		{argv: "", err: "accepts 1 arg(s)"},
	} {
		ios, _, _, _ := iostreams.Test()
		var got *FeaturesOptions
		cmd := NewCmdFeatures(&cmdutil.Factory{IO: ios}, func(o *FeaturesOptions) error { got = o; return nil })
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
		if err != nil || got.Kind != tc.kind || got.Backend != tc.backend || got.Output != tc.out {
			t.Errorf("%q: %v %+v", tc.argv, err, got)
		}
	}
}
