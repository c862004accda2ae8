// Package create implements `xfeat create`: check an xl.cfg file against the
// live backends, create the domain and its devices in XenStore, and wait
// until every device is Connected.
package create

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/xfeat/xfeat/cmd/xfeat/internal/xsconn"
	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/internal/cli/tableprinter"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/toolstack"
	"github.com/xfeat/xfeat/xsclient"
)

// CreateOptions are the inputs of `xfeat create`.
type CreateOptions struct {
	IO       *iostreams.IOStreams
	XenStore func(ctx context.Context, flag string, startSandbox bool) (*xsclient.Client, error)

	File         string
	DryRun       bool
	Wait         time.Duration
	Output       cmdutil.Output
	XenStorePath string
	Strict       bool
}

// NewCmdCreate builds `xfeat create`.
func NewCmdCreate(f *cmdutil.Factory, runF func(*CreateOptions) error) *cobra.Command {
	opts := &CreateOptions{IO: f.IO, XenStore: xsconn.For(f)}
	cmd := &cobra.Command{
		Use:   "create FILE",
		Short: "Create a domain and its devices from an xl.cfg file",
		Long: `Create the domain described by FILE (an xl.cfg file) in XenStore, with its vif
and disk devices and the features they request, and wait until every device
is Connected.

Before anything is written FILE is parsed as xl parses it, every device spec
is checked, and every requested feature is checked against the schema its
backend domain advertises under /local/domain/BE/backend/TYPE/features
(a backend advertising no schema is an error). A request for a maximum above
what the backend offers (queues, max-ring-page-order, max-indirect-segments)
is accepted with a warning: the backend clamps it. Then the grant and event
channel budget is checked: the devices need, with the values requested and
every feature nobody requested at its protocol minimum (1 queue, one ring
page, no indirect descriptors, one event channel per queue),

    vif: per queue 514 grants (2 ring pages, 256 rx and 256 tx buffers),
         1 event channel (2 with feature-split-event-channels)
    vbd: per queue 2^order ring pages + (32 << order) requests × segments,
         where segments = 11 without indirect descriptors, else
         max-indirect-segments + ceil(max-indirect-segments / 512);
         1 event channel
    plus 2 event channels and 2 grants for xenstore and the console;

which must fit in max_grant_frames × 512 grants and max_event_channels.
A guest that takes everything its backends offer may want more than that;
a frontend then uses less, as Linux's blkfront does with its own defaults.
Each problem is printed as FILE:LINE:COLUMN: device: message, naming the
feature, the value, what is allowed and which backend domain said so.

Then the domain id (the smallest free one from 1) is claimed under /libxl,
the domain is introduced to XenStore, and one transaction writes the domain
directory and every device with libxl's layout and permissions, plus one
config-FEATURE node per request in the device's backend directory, owned by
the backend domain with no access for anyone else (n0 for a dom0 backend):
readable by the backend and dom0, never by the guest. No hotplug script runs:
hotplug-status is not written. A disk's target is written to params as an
absolute path (a relative one is taken from the current directory).

XenStore is found as libxenstore finds it (--xenstore, XENSTORED_PATH, the
xenstored socket, /dev/xen/xenbus), then the sandbox host's socket; if none
answers, the sandbox host is started (xfeat host start) and a line says so.

On any failure — an invalid file, a backend that refuses a device, a timeout,
an interrupt — nothing is left behind: every node written is removed and the
domain released. With --dry-run nothing is written: every node that would be
written is printed with its value and permissions.

Output: on a terminal a table of the devices; otherwise one tab-separated
line per device (domid, name, device, backend state, frontend state); with
-o json an object {"domid", "name", "elapsed_ms", "devices": [...]}, or with
--dry-run {"domid", "name", "nodes": [{"path", "value", "perms"}]}.

Exit status: 0 when every device is Connected (or the dry run found no
problem); 1 on any failure, an invalid config included; 2 on a usage error;
3 when the devices did not all reach Connected within --wait (each stuck
device is named with the state of both its ends).`,
		Example: `  xfeat create examples/guest.cfg
  xfeat create --dry-run guest.cfg
  xfeat create --wait 30s -o json guest.cfg`,
		Args: cmdutil.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.File = args[0]
			if opts.Wait <= 0 {
				return cmdutil.FlagErrorf("--wait must be positive, not %s", opts.Wait)
			}
			if runF != nil {
				return runF(opts)
			}
			return createRun(opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.DryRun, "dry-run", "n", false, "check and print the nodes that would be written; write nothing")
	cmd.Flags().DurationVar(&opts.Wait, "wait", 10*time.Second, "how long to wait for every device to be Connected")
	cmd.Flags().StringVar(&opts.XenStorePath, "xenstore", "", "XenStore socket or device to use (default: search, see above)")
	cmd.Flags().BoolVar(&opts.Strict, "strict", false, "accept exactly what xl accepts: xfeat's leniencies in the file become errors")
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	return cmd
}

// printDiags prints diagnostics in file order, those without a position first.
func printDiags(ios *iostreams.IOStreams, file string, diags parser.Diagnostics) {
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
	for _, d := range diags {
		if d.Subject == nil {
			fmt.Fprintf(ios.ErrOut, "%s: %s\n", file, d.Error())
		} else {
			fmt.Fprintln(ios.ErrOut, d.Error())
		}
	}
}

func createRun(opts *CreateOptions) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	f, diags := parser.ParseFile(opts.File, parser.Options{Strict: opts.Strict})
	var cfg *devspec.Config
	if f != nil {
		var more parser.Diagnostics
		cfg, more = devspec.CheckFile(f)
		diags = append(diags, more...)
	}
	if f == nil || diags.HasErrors() {
		printDiags(opts.IO, opts.File, diags)
		return cmdutil.ErrSilent
	}

	c, err := opts.XenStore(ctx, opts.XenStorePath, !opts.DryRun)
	if err != nil {
		return err
	}
	defer c.Close()
	c.MaxTxAttempts = 1000 // concurrent creators all conflict on /libxl

	plan, more, err := toolstack.NewPlan(ctx, c, f, cfg)
	diags = append(diags, more...)
	printDiags(opts.IO, opts.File, diags)
	if err != nil {
		return err
	}
	if plan == nil {
		return cmdutil.ErrSilent
	}
	if opts.DryRun {
		return dryRun(ctx, opts, c, plan)
	}

	progress := func([]toolstack.DeviceState) {}
	if opts.IO.IsStderrTTY() {
		progress = func(states []toolstack.DeviceState) {
			var parts []string
			for _, s := range states {
				parts = append(parts, fmt.Sprintf("%s %s/%s", s.Name(), toolstack.StateName(s.BackendState), toolstack.StateName(s.FrontendState)))
			}
			fmt.Fprintf(opts.IO.ErrOut, "\r\033[Kwaiting: %s", strings.Join(parts, ", "))
		}
	}
	got, err := toolstack.Create(ctx, c, plan, toolstack.CreateOptions{Wait: opts.Wait, Progress: progress})
	if opts.IO.IsStderrTTY() {
		fmt.Fprint(opts.IO.ErrOut, "\r\033[K")
	}
	if err != nil {
		var stuck *toolstack.StuckError
		if errors.As(err, &stuck) {
			return &cmdutil.TimeoutError{Err: fmt.Errorf("%s: %w; nothing was left behind", opts.File, err)}
		}
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("%s: interrupted; nothing was left behind", opts.File)
		}
		return fmt.Errorf("%s: %w", opts.File, err)
	}
	if opts.Output == cmdutil.OutputJSON {
		return cmdutil.WriteJSON(opts.IO.Out, struct {
			Domid     uint32                  `json:"domid"`
			Name      string                  `json:"name"`
			ElapsedMS float64                 `json:"elapsed_ms"`
			Devices   []toolstack.DeviceState `json:"devices"`
		}{got.Domid, got.Name, float64(got.Elapsed.Microseconds()) / 1000, nonNil(got.Devices)})
	}
	if opts.IO.IsStderrTTY() {
		fmt.Fprintf(opts.IO.ErrOut, "Created domain %s (domid %d): %d device(s) connected in %s\n",
			got.Name, got.Domid, len(got.Devices), got.Elapsed.Round(time.Millisecond))
	}
	tp := tableprinter.New(opts.IO, "DOMID", "NAME", "DEVICE", "BACKEND", "FRONTEND")
	for _, d := range got.Devices {
		tp.Row(fmt.Sprint(got.Domid), got.Name, d.Name(), toolstack.StateName(d.BackendState), toolstack.StateName(d.FrontendState))
	}
	if len(got.Devices) == 0 {
		tp.Row(fmt.Sprint(got.Domid), got.Name, "-", "-", "-")
	}
	return tp.Render()
}

func nonNil(d []toolstack.DeviceState) []toolstack.DeviceState {
	if d == nil {
		return []toolstack.DeviceState{}
	}
	return d
}

func dryRun(ctx context.Context, opts *CreateOptions, c *xsclient.Client, plan *toolstack.Plan) error {
	domid, err := plan.NextDomid(ctx, c)
	if err != nil {
		return fmt.Errorf("%s: %w", opts.File, err)
	}
	nodes := append(plan.ClaimNodes(domid), plan.DomainNodes(domid)...)
	if opts.Output == cmdutil.OutputJSON {
		type node struct {
			Path  string   `json:"path"`
			Value string   `json:"value"`
			Perms []string `json:"perms"`
		}
		out := struct {
			Domid uint32 `json:"domid"`
			Name  string `json:"name"`
			Nodes []node `json:"nodes"`
		}{Domid: domid, Name: plan.Name}
		for _, n := range nodes {
			out.Nodes = append(out.Nodes, node{n.Path, n.Value, n.PermStrings()})
		}
		return cmdutil.WriteJSON(opts.IO.Out, out)
	}
	fmt.Fprintf(opts.IO.ErrOut, "dry run: would create domain %s as domid %d with %d device(s), writing %d nodes; nothing written\n",
		plan.Name, domid, len(plan.Devices), len(nodes))
	tp := tableprinter.New(opts.IO, "PATH", "VALUE", "PERMS")
	for _, n := range nodes {
		tp.Row(n.Path, n.Value, strings.Join(n.PermStrings(), ","))
	}
	return tp.Render()
}
