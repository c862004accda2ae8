// Package cmdtest is test scaffolding for xfeat's commands: running a
// command's constructor on argv with test streams to see the options it
// parsed, checking that bad argv is a usage error, and running the whole
// program on test streams.
//
// A command is built here the way the root command wires it (output and
// errors to the factory's streams, flag errors turned into usage errors), so
// what a test sees is what `xfeat <command> argv` does. This package holds
// no expectations of its own: the tests say what must be parsed.
package cmdtest

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
)

// Parse builds the command newCmd makes, with test streams and a run
// function that records the options instead of acting on them, executes it
// with args and returns the recorded options (nil when parsing failed before
// the run function was reached) and the error Execute returned.
func Parse[O any](newCmd func(*cmdutil.Factory, func(*O) error) *cobra.Command, args []string) (*O, error) {
	ios, _, _, _ := iostreams.Test()
	var got *O
	cmd := newCmd(&cmdutil.Factory{IO: ios}, func(o *O) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(ios.Out)
	cmd.SetErr(ios.ErrOut)
	// As the root command does: a flag that does not parse is a usage error.
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &cmdutil.FlagError{Err: err} })
	err := cmd.Execute()
	return got, err
}

// CheckUsageError fails the test (t.Errorf, the caller goes on) unless err
// mentions want and exits with cmdutil.ExitUsage. label names the case in
// the message, e.g. the argv.
func CheckUsageError(t testing.TB, label string, err error, want string) {
	t.Helper()
	code := cmdutil.ExitCodeOf(err)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: error %v (exit %d), want one containing %q and exit %d", label, err, code, want, cmdutil.ExitUsage)
	} else if code != cmdutil.ExitUsage {
		t.Errorf("%s: error %v exits %d, want %d (usage)", label, err, code, cmdutil.ExitUsage)
	}
}

// Exec runs the program entry point run (root.Run) with args on test
// streams whose stdin holds stdin, and returns its exit code and what it
// wrote to stdout and stderr.
func Exec(run func(*cmdutil.Factory, []string) cmdutil.ExitCode, stdin string, args ...string) (code cmdutil.ExitCode, stdout, stderr string) {
	ios, in, out, errOut := iostreams.Test()
	in.WriteString(stdin)
	code = run(&cmdutil.Factory{IO: ios, Version: "test"}, args)
	return code, out.String(), errOut.String()
}
