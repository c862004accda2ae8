// Package show implements `xfeat show`: one device's features, requested
// against advertised, effective and negotiated, with a verdict each. The
// device enters as TYPE DOM/DEVID; everything shown comes from
// toolstack.Show (the verdicts from schema.Rule.Judge) and leaves as a
// table, TSV or JSON: this package only prints.
package show

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/fatih/color"
	"github.com/spf13/cobra"

	"github.com/xfeat/xfeat/cmd/xfeat/internal/xsconn"
	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/internal/cli/tableprinter"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/toolstack"
	"github.com/xfeat/xfeat/xsclient"
)

// ShowOptions are the inputs of `xfeat show`.
type ShowOptions struct {
	IO       *iostreams.IOStreams
	XenStore func(ctx context.Context, flag string, startSandbox bool) (*xsclient.Client, error)

	Kind         pv.Kind
	Domain       string // id or name
	Devid        uint32
	Output       cmdutil.Output
	XenStorePath string
}

// ParseKind accepts vif, vbd and disk (an alias of vbd).
func ParseKind(s string) (pv.Kind, error) {
	switch s {
	case "vif":
		return pv.Vif, nil
	case "vbd", "disk":
		return pv.Vbd, nil
	}
	return "", cmdutil.FlagErrorf("unknown device type %q: use vif, vbd or disk", s)
}

// ParseDevice splits DOM/DEVID. A vbd's DEVID may be its vdev (xvda).
func ParseDevice(kind pv.Kind, s string) (string, uint32, error) {
	dom, dev, ok := strings.Cut(s, "/")
	if !ok || dom == "" || dev == "" {
		return "", 0, cmdutil.FlagErrorf("device %q is not DOM/DEVID (for example 5/0, or guest/xvda for a disk)", s)
	}
	if n, err := strconv.ParseUint(dev, 10, 32); err == nil {
		return dom, uint32(n), nil
	}
	if kind == pv.Vbd {
		if n, err := devspec.VdevNumber(dev); err == nil {
			return dom, n, nil
		}
	}
	return "", 0, cmdutil.FlagErrorf("device id %q is not a number (nor, for a disk, a virtual device name such as xvda)", dev)
}

// NewCmdShow builds `xfeat show`.
func NewCmdShow(f *cmdutil.Factory, runF func(*ShowOptions) error) *cobra.Command {
	opts := &ShowOptions{IO: f.IO, XenStore: xsconn.For(f)}
	cmd := &cobra.Command{
		Use:   "show TYPE DOM/DEVID",
		Short: "Show what became of each feature of one device",
		Long: `Show, for one device, every feature the protocol defines for its type
(netif.h, blkif.h), its backend advertises, or was requested for it, side
by side:

    REQUESTED   the config-FEATURE node written at creation
    ADVERTISED  the backend's advertised default (for a maximum: its own)
    EFFECTIVE   what the backend put into effect (its key in the backend dir)
    NEGOTIATED  what the guest chose (its key in the frontend dir; for
                feature-persistent, which both ends write, 1 only when
                both do)
    VERDICT     applied, clamped (a maximum the backend lowered), refused
                (the backend did not honour it: so it recorded, or so its
                keys show), unenforceable (the backend decides it only when
                it connects, and the request was not its own choice),
                default (nothing requested), pending (the backend or the
                guest has not got that far)

TYPE is vif, vbd or disk (an alias of vbd). DOM is a domain id or name (a
number that is one domain's id and another's name is refused); DEVID the device id (a disk's may be given as its vdev, e.g. xvda). The
backend is located through the toolstack's own record under /libxl, not the
guest-writable frontend directory. The verdict follows what the backend
recorded it decided (/local/domain/BE/error/backend/TYPE/DOMID/DEVID/feature/),
else the values. On a real Xen host the local domain's stock Linux
backends advertise no schema: they are described by their module
parameters (see xfeat-features(1)), ADVERTISED is what those say, and
"schema" is "stock"; xfeat create recorded the decision for them. Another
backend that advertises no schema shows what it offers in its own keys as
EFFECTIVE, and "schema" is "none".

Output: on a terminal a table (coloured unless NO_COLOR is set), headed by
the device and the states of its ends; otherwise one tab-separated line per
feature (name, requested, advertised, effective, negotiated, verdict; "-"
for an absent value). With -o json:
{"device": "vif 8/0", "backend": PATH, "frontend": PATH,
 "schema": "advertised"|"stock"|"none", "state": {"backend": N, "frontend": N},
 "features": [{"name", "requested", "advertised", "effective",
               "negotiated", "verdict"}]}
with null where a value or state is absent.

Exit status: 0 on success; 1 when the domain or device does not exist or
XenStore cannot be read; 2 on a usage error.`,
		Example: `  xfeat show vif 5/0
  xfeat show disk guest/xvda -o json`,
		Args: cmdutil.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			kind, err := ParseKind(args[0])
			if err != nil {
				return err
			}
			opts.Kind = kind
			if opts.Domain, opts.Devid, err = ParseDevice(kind, args[1]); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return showRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.XenStorePath, "xenstore", "", "XenStore socket or device to use (default: search as xfeat create does)")
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	return cmd
}

func showRun(opts *ShowOptions) error {
	ctx := context.Background()
	c, err := opts.XenStore(ctx, opts.XenStorePath, false)
	if err != nil {
		return err
	}
	defer c.Close()
	domid, _, err := toolstack.ResolveDomain(ctx, c, opts.Domain)
	if err != nil {
		return err
	}
	ref, err := toolstack.LookupDevice(ctx, c, domid, opts.Kind, opts.Devid)
	if err != nil {
		return err
	}
	host, err := toolstack.DetectHost(ctx, c, toolstack.HostProbe{})
	if err != nil {
		return err
	}
	rep, err := toolstack.ShowFor(ctx, c, host, ref)
	if err != nil {
		return err
	}
	if opts.Output == cmdutil.OutputJSON {
		return cmdutil.WriteJSON(opts.IO.Out, rep)
	}
	tp := tableprinter.New(opts.IO, "FEATURE", "REQUESTED", "ADVERTISED", "EFFECTIVE", "NEGOTIATED", "VERDICT")
	if tp.IsTTY() {
		fmt.Fprintf(opts.IO.Out, "%s  backend %s (%s)  frontend %s (%s)\n", rep.Device,
			rep.Backend, stateName(rep.State.Backend), rep.Frontend, stateName(rep.State.Frontend))
		switch rep.Schema {
		case toolstack.SchemaNone:
			fmt.Fprintln(opts.IO.Out, "the backend advertises no feature schema: EFFECTIVE is what it offers in its own keys")
		case toolstack.SchemaStock:
			fmt.Fprintln(opts.IO.Out, "a stock Linux backend: ADVERTISED is what its module parameters say")
		}
		if rep.Error != "" {
			fmt.Fprintf(opts.IO.Out, "backend error: %s\n", tableprinter.Safe(rep.Error))
		}
	}
	for _, r := range rep.Features {
		tp.RowPainted(tableprinter.Safe(r.Name), cell(r.Requested), cell(r.Advertised), cell(r.Effective), cell(r.Negotiated),
			tp.Paint(string(r.Verdict), verdictColour(r.Verdict)...))
	}
	return tp.Render()
}

func stateName(s *pv.State) string {
	if s == nil {
		return pv.Absent.String()
	}
	return s.String()
}

// Cell renders an optional value: "-" when absent.
func cell(v *string) string {
	if v == nil {
		return "-"
	}
	return tableprinter.Safe(*v)
}

func verdictColour(v schema.Verdict) []color.Attribute {
	switch v {
	case schema.Applied:
		return []color.Attribute{color.FgGreen}
	case schema.Clamped:
		return []color.Attribute{color.FgYellow}
	case schema.Refused:
		return []color.Attribute{color.FgRed, color.Bold}
	case schema.Pending:
		return []color.Attribute{color.FgCyan}
	case schema.Unenforced:
		return []color.Attribute{color.FgMagenta}
	}
	return nil
}
