// Package validate implements `xfeat validate`: check an xl.cfg file, its
// device specs, feature requests and domain keys, and list every problem.
package validate

import (
	"fmt"
	"os"
	"sort"

	"github.com/spf13/cobra"

	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/toolstack"
)

// ValidateOptions are the inputs of `xfeat validate`.
type ValidateOptions struct {
	IO *iostreams.IOStreams

	File   string
	Strict bool
	Output cmdutil.Output
}

// NewCmdValidate builds `xfeat validate`.
func NewCmdValidate(f *cmdutil.Factory, runF func(*ValidateOptions) error) *cobra.Command {
	opts := &ValidateOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check an xl.cfg file, its device specs and feature requests",
		Long: `Parse FILE as xl does, then every vif and disk spec in it, their feature
requests and the domain keys max_event_channels, max_grant_frames,
max_maptrack_frames and e820_host, and list every problem found.

A file without errors is then checked as a real Xen host would take it,
still on the file alone: xl's guests run Linux's netfront and blkfront,
dom0 Linux's stock netback and blkback.

    - A request for a feature stock blkback decides only when it connects
      (feature-persistent, feature-flush-cache, feature-barrier: persistent=
      and features=) is a warning, but for persistent=on (its default
      parameter's choice): served by it, the request cannot be enforced
      (xfeat create says so too, and xfeat show says "unenforceable").
    - The budget of xfeat-create(1), with Linux's frontends (the arithmetic
      is there) and the guest's vcpus and kernel command line (extra= or
      cmdline=: xen_netfront.max_queues, xen_blkfront.max_queues,
      max_ring_page_order and max_indirect_segments): with what the file
      requests and the protocol's minimum for the rest, the devices must fit
      in max_grant_frames and max_event_channels, or it is an error, as
      xfeat create would refuse the file. If they fit but what the frontends
      may take does not (the backends' offers are unknown here: up to the
      guest's own bounds, e.g. netfront's queues up to the vcpus), a warning
      at max_grant_frames (or max_event_channels, or the first device past
      the limit) gives the arithmetic per device: under plain xl the devices
      past the limit would fail to connect or connect with fewer queues.

Each problem is printed as FILE:LINE:COLUMN: message (on a terminal, followed
by the source line with a caret under the problem), the position pointing
inside the spec string for a device problem, with the device named as
"vif #N" or "disk #N" (N is the position in the list, counted from 0: the
vif's default devid). Warnings (what xfeat accepts but xl would not, or what
xl accepts but is likely a mistake) are printed with "warning:" and do not
fail the check, unless --strict makes the file's leniencies errors.

The problems are what validate prints: they go to standard output, as text
or with -o json, so that a script reads them as data (xfeat create and xfeat
parse print the same problems on standard error, their output being
something else). Nothing else goes to standard output. On a terminal a file
without errors is confirmed on standard error: FILE: valid (N vif, M disk).

With -o json the problems are printed as a JSON list of objects with the keys
file, line, column, severity ("error" or "warning"), message, device and
feature ("" where they do not apply); the list is empty for a clean file.

Exit status: 0 when there is no error, 1 when there is one (or FILE cannot be
read), 2 on a usage error.`,
		Example: `  xfeat validate /etc/xen/guest.cfg
  xfeat validate --strict -o json guest.cfg`,
		Args: cmdutil.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.File = args[0]
			if runF != nil {
				return runF(opts)
			}
			return validateRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Strict, "strict", false, "accept exactly what xl accepts: xfeat's leniencies in the file become errors")
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	return cmd
}

// Problem is one entry of `-o json`.
type Problem struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
	Device   string `json:"device"`
	Feature  string `json:"feature"`
}

func validateRun(opts *ValidateOptions) error {
	f, diags := parser.ParseFile(opts.File, parser.Options{Strict: opts.Strict})
	var origins map[*parser.Diagnostic]devspec.Origin
	var cfg *devspec.Config
	if f != nil {
		var more parser.Diagnostics
		cfg, more = devspec.CheckFile(f)
		origins = cfg.Origins
		diags = append(diags, more...)
		if !diags.HasErrors() {
			diags = append(diags, toolstack.CheckXenHost(f, cfg)...)
		}
	}
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		if a == nil || b == nil {
			return a == nil && b != nil
		}
		if a.Start.Line != b.Start.Line {
			return a.Start.Line < b.Start.Line
		}
		return a.Start.Column < b.Start.Column
	})
	if opts.Output == cmdutil.OutputJSON {
		list := make([]Problem, 0, len(diags))
		for _, d := range diags {
			p := Problem{File: opts.File, Severity: d.Severity.String(), Message: d.Summary}
			if d.Detail != "" {
				p.Message += ": " + d.Detail
			}
			if d.Subject != nil {
				p.File, p.Line, p.Column = d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column
			}
			if o, ok := origins[d]; ok {
				p.Device, p.Feature, p.Message = o.Device, o.Feature, o.Message
			}
			list = append(list, p)
		}
		if err := cmdutil.WriteJSON(opts.IO.Out, list); err != nil {
			return err
		}
	} else if opts.IO.IsStdoutTTY() {
		// For a person: each problem with its source line and a caret.
		src, _ := os.ReadFile(opts.File)
		if err := diags.Fprint(opts.IO.Out, src, opts.IO.ColorEnabled()); err != nil {
			return err
		}
		if !diags.HasErrors() && cfg != nil {
			fmt.Fprintf(opts.IO.ErrOut, "%s: valid (%d vif, %d disk)\n", opts.File, len(cfg.Vifs), len(cfg.Disks))
		}
	} else {
		for _, d := range diags {
			if d.Subject == nil {
				fmt.Fprintf(opts.IO.Out, "%s: %s\n", opts.File, d.Error())
			} else {
				fmt.Fprintln(opts.IO.Out, d.Error())
			}
		}
	}
	if diags.HasErrors() || f == nil {
		return cmdutil.ErrSilent
	}
	return nil
}
