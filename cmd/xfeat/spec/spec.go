// Package spec implements `xfeat spec`: parse one device spec from the
// command line and print the device as JSON.
package spec

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
)

// SpecOptions are the inputs of `xfeat spec`.
type SpecOptions struct {
	IO *iostreams.IOStreams

	Type   string   // "disk" or "vif"
	Specs  []string // the spec strings
	XLOnly bool     // --xl
}

// NewCmdSpec builds `xfeat spec`.
func NewCmdSpec(f *cmdutil.Factory, runF func(*SpecOptions) error) *cobra.Command {
	opts := &SpecOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "spec {disk|vif} SPEC...",
		Short: "Parse a disk or vif spec and print the device as JSON",
		Long: `Parse a device spec exactly as xl does, with xfeat's feature requests, and
print the device as JSON on standard output.

A disk may be given as several SPEC arguments, each a collection of parameters
of the same disk, as xl block-attach takes them. A vif is one SPEC.

Fields are named after xl's keywords; fields not given are omitted (xl's and
libxl's defaults apply), except format, vdev, virtual-device, access and
devtype for a disk and devid for a vif (-1 when the toolstack picks it).
"features" maps xenstore feature names to the requested values. See
xfeat-requests(5).

A rejected spec prints every problem on standard error, as
spec:1:COLUMN: message (spec[N] for the Nth of several disk specs), and exits 1.`,
		Example: `  xfeat spec disk '/srv/guest.img,raw,xvda,rw,queues=4,max-ring-page-order=2'
  xfeat spec disk format=raw vdev=hda target=/dev/vg/guest-volume
  xfeat spec vif 'bridge=xenbr0,mac=00:16:3e:01:02:03,rate=10Mb/s@20ms,features=queues:2\;sg:on'`,
		Args: cmdutil.MinimumNArgs(2),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return []string{"disk", "vif"}, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Type, opts.Specs = args[0], args[1:]
			switch opts.Type {
			case "disk":
			case "vif":
				if len(opts.Specs) != 1 {
					return cmdutil.FlagErrorf("a vif is one SPEC argument, got %d", len(opts.Specs))
				}
			default:
				return cmdutil.FlagErrorf("unknown device type %q: use disk or vif", opts.Type)
			}
			if runF != nil {
				return runF(opts)
			}
			return specRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.XLOnly, "xl", false, "read the spec as xl does: no feature keys")
	return cmd
}

func specRun(opts *SpecOptions) error {
	popts := &devspec.Options{XLOnly: opts.XLOnly}
	var dev any
	var diags parser.Diagnostics
	if opts.Type == "disk" {
		dev, diags = devspec.ParseDisk(opts.Specs, -1, popts)
	} else {
		dev, diags = devspec.ParseVif(opts.Specs[0], -1, popts)
	}
	for _, d := range diags {
		fmt.Fprintln(opts.IO.ErrOut, d.Error())
	}
	if diags.HasErrors() {
		return cmdutil.ErrSilent
	}
	return cmdutil.WriteJSON(opts.IO.Out, dev)
}
