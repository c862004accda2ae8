package destroy

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
)

func TestNewCmdDestroyFlags(t *testing.T) {
	for _, tc := range []struct {
		argv string
		dom  string
		wait time.Duration
		err  string
	}{
		{argv: "guest", dom: "guest", wait: 10 * time.Second},
		{argv: "5 --wait 1s --xenstore /x", dom: "5", wait: time.Second},
		{argv: "", err: "accepts 1 arg(s), received 0"},
		{argv: "a b", err: "accepts 1 arg(s), received 2"},
		{argv: "a --wait 0", err: "--wait must be positive"},
	} {
		ios, _, _, _ := iostreams.Test()
		var got *DestroyOptions
		cmd := NewCmdDestroy(&cmdutil.Factory{IO: ios}, func(o *DestroyOptions) error { got = o; return nil })
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
		if err != nil || got.Domain != tc.dom || got.Wait != tc.wait {
			t.Errorf("%q: %v %+v", tc.argv, err, got)
		}
	}
}
