// Package root assembles the xfeat command tree and maps what a command returns
// to the process exit status (see cmdutil.ExitCode).
package root

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	backendcmd "github.com/xfeat/xfeat/cmd/xfeat/backend"
	convertcmd "github.com/xfeat/xfeat/cmd/xfeat/convert"
	createcmd "github.com/xfeat/xfeat/cmd/xfeat/create"
	destroycmd "github.com/xfeat/xfeat/cmd/xfeat/destroy"
	featurescmd "github.com/xfeat/xfeat/cmd/xfeat/features"
	fmtcmd "github.com/xfeat/xfeat/cmd/xfeat/fmt"
	hostcmd "github.com/xfeat/xfeat/cmd/xfeat/host"
	iocmd "github.com/xfeat/xfeat/cmd/xfeat/io"
	listcmd "github.com/xfeat/xfeat/cmd/xfeat/list"
	parsecmd "github.com/xfeat/xfeat/cmd/xfeat/parse"
	showcmd "github.com/xfeat/xfeat/cmd/xfeat/show"
	speccmd "github.com/xfeat/xfeat/cmd/xfeat/spec"
	validatecmd "github.com/xfeat/xfeat/cmd/xfeat/validate"
	xenstoredcmd "github.com/xfeat/xfeat/cmd/xfeat/xenstored"
	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
)

// version is set at link time (-ldflags "-X .../root.version=v1.2.3"); otherwise
// it comes from the module build info.
var version = ""

// Version returns the build's version string.
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// NewCmdRoot builds the whole command tree on f.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "xfeat <command>",
		Short: "Per-device feature control for Xen PV devices",
		Long: `xfeat gives a Xen administrator per-device control over the features of PV
network and block backends. It reads xl.cfg files exactly as xl does, checks each
requested feature against the schema the backend advertises in XenStore, writes
config-<name> entries readable only by the backend at device creation, and shows,
per device, what was requested against what was negotiated.`,
		Version:       f.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		CompletionOptions: cobra.CompletionOptions{
			HiddenDefaultCmd: false,
		},
	}
	cmd.SetOut(f.IO.Out)
	cmd.SetErr(f.IO.ErrOut)
	cmd.SetIn(f.IO.In)
	cmd.SetVersionTemplate("xfeat {{.Version}}\n")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &cmdutil.FlagError{Err: err}
	})
	cmd.Args = cmdutil.NoArgs

	for _, add := range subcommands {
		cmd.AddCommand(add(f))
	}
	return cmd
}

// subcommands lists the constructors of the top-level commands, in help order.
var subcommands = []func(*cmdutil.Factory) *cobra.Command{
	func(f *cmdutil.Factory) *cobra.Command { return createcmd.NewCmdCreate(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return showcmd.NewCmdShow(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return listcmd.NewCmdList(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return destroycmd.NewCmdDestroy(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return featurescmd.NewCmdFeatures(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return parsecmd.NewCmdParse(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return fmtcmd.NewCmdFmt(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return speccmd.NewCmdSpec(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return validatecmd.NewCmdValidate(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return convertcmd.NewCmdConvert(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return xenstoredcmd.NewCmdXenstored(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return hostcmd.NewCmdHost(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return backendcmd.NewCmdBackend(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return iocmd.NewCmdIO(f, nil) },
}

// Main runs xfeat with args on the process's streams and returns the exit code.
func Main(args []string) cmdutil.ExitCode {
	return Run(&cmdutil.Factory{IO: iostreams.System(), Version: Version()}, args)
}

// Run executes args on f and prints the error, if any, to f.IO.ErrOut.
func Run(f *cmdutil.Factory, args []string) cmdutil.ExitCode {
	cmd := NewCmdRoot(f)
	cmd.SetArgs(args)
	c, err := cmd.ExecuteC()
	if err == nil {
		return cmdutil.ExitOK
	}
	var silent *cmdutil.SilentError
	if !errors.As(err, &silent) {
		fmt.Fprintf(f.IO.ErrOut, "xfeat: %s\n", err)
	}
	code := cmdutil.ExitCodeOf(err)
	if code == cmdutil.ExitOK {
		code = cmdutil.ExitError
	}
	// cobra reports an unknown subcommand as a plain error: it is a usage error.
	if strings.HasPrefix(err.Error(), "unknown command ") {
		code = cmdutil.ExitUsage
	}
	if code == cmdutil.ExitUsage && c != nil {
		fmt.Fprintf(f.IO.ErrOut, "Run '%s --help' for usage.\n", c.CommandPath())
	}
	return code
}
