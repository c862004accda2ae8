// Package create implements `xfeat create`: check an xl.cfg file against the
// live backends, create the domain and its devices (on the sandbox host in
// XenStore itself, on a real Xen host through xl), and wait until every
// device is Connected.
package create

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/xfeat/xfeat/backends/frontends/footprint"
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
	// Host decides which host the XenStore is (nil: toolstack.DetectHost).
	Host func(ctx context.Context, ops xsclient.Ops) (toolstack.Host, error)

	File         string
	DryRun       bool
	Wait         time.Duration
	Output       cmdutil.Output
	XenStorePath string
	Strict       bool
}

// NewCmdCreate builds `xfeat create`.
func NewCmdCreate(f *cmdutil.Factory, runF func(*CreateOptions) error) *cobra.Command {
	opts := &CreateOptions{IO: f.IO, XenStore: xsconn.For(f), Host: detectHost}
	cmd := &cobra.Command{
		Use:   "create FILE",
		Short: "Create a domain and its devices from an xl.cfg file",
		Long: `Create the domain described by FILE (an xl.cfg file), with its vif and disk
devices and the features they request, and wait until every device is
Connected: on the sandbox host by writing it into XenStore, on a real Xen
host through xl (see "On a real Xen host" below).

Before anything is done FILE is parsed as xl parses it, every device spec
is checked, and every requested feature is checked against the schema its
backend domain advertises under /local/domain/BE/backend/TYPE/features
(a backend advertising no schema is an error, but for a real host's stock
Linux backends, below). A request for a maximum above what the backend
offers (queues, max-ring-page-order, max-indirect-segments) is accepted
with a warning: the backend clamps it. The domain's name must not be all
digits (destroy, show and io would read it as a domain id). Each problem is
printed as FILE:LINE:COLUMN: device: message, naming the feature, the
value, what is allowed and which backend domain said so.

Then the budget: what every device takes of the guest, through its
frontend, must fit in the domain's limits. Per device, for what its backend
offers (queues q, ring page order o, indirect segments s, split event
channels), as the reference frontends of the sandbox guests take it:

    vbd: per queue 2^o ring pages + d data pages + i indirect pages,
         each a page of guest memory and a grant entry, where
         d = max(min(R × 11, 2048), s') and i = R × ceil(s' / 512) with
         indirect descriptors (s > 11), else 0; R = 32 × 2^o requests
         the ring holds, s' = min(s, 256); 1 event channel per queue
    vif: per queue 2 ring pages + 512 buffers (grants and pages),
         1 event channel (2 with feature-split-event-channels)
    XenStore nodes the guest owns: per vbd 8 written by create and
         3 + q × (2^o + 1) by blkfront; per vif 7 written by create and
         8 + q × 3 by netfront (q × 4 with split event channels, +1 with
         feature-multicast-control); plus q queue-N directories when
         q > 1; and 11 for the domain itself

The limits: max_grant_frames × 512 grant entries less 8 reserved
(GNTTAB_NR_RESERVED_ENTRIES); a sandbox guest's memory of max_grant_frames
× 512 pages, at most 65536 (256 MiB); max_event_channels less 2 (xenstore
and console); 1000 XenStore nodes per domain (C xenstored's default quota).

On a real Xen host the guest runs Linux's netfront and blkfront (Linux
6.1), which take, for what the backend offers and what the guest allows
(its vcpus v, and the frontends' module parameters when its kernel command
line, extra= or cmdline=, sets them):

    vif: q = min(offered queues, xen_netfront.max_queues, default
         min(v, 8)); per queue a grant for each of the 256 slots of the tx
         ring and of the rx ring, taken when the queue is set up, and the
         2 ring pages: q × 514 grant entries; q event channels, 2q with
         split event channels. A queue that cannot get its grants is not
         set up; a vif left with none fails.
    vbd: q = min(offered queues, xen_blkfront.max_queues, default 4, at
         most v); o = min(offered order, xen_blkfront.max_ring_page_order,
         default 0); s = min(offered indirect segments,
         xen_blkfront.max_indirect_segments, default 32), no indirect
         descriptors when s <= 11 (11 segments a request); per ring 2^o
         ring pages, taken when the ring is set up, and for a full ring of
         R = 32 × 2^o requests R × (s + ceil(s / 512)) grants (R × 11
         without indirect descriptors), held for good with persistent
         grants: q × (2^o + R × g) grant entries, g the grants of one
         request; q event channels.

and the limits are max_grant_frames × 512 grant entries less 8 reserved,
and max_event_channels less 2 (xenstore and console) less 6 per vcpu (the
guest's timer and five IPIs); memory and XenStore nodes are not counted.
For example a 2-vcpu guest with three vifs on 2-queue backends may take
3 × 2 × 514 = 3084 grant entries: with max_grant_frames = 4 (2040) the
third vif would not connect under plain xl; with queues=1 on each they take
1542.

With the values the file requests and every feature it leaves open at its
protocol minimum (1 queue, ring page order 0, no indirect descriptors, no
split event channels), the devices must fit, or the file is refused: one
FILE:LINE:COLUMN error per limit broken (at max_grant_frames or
max_event_channels where the file sets it, else at the first device past
the limit), with the total, the limit and each device's share (on a real
host, with its frontend's arithmetic). If they fit but everything the
backends offer does not, the devices are lowered until it does: while a
limit is broken, the device taking most of it (the later one in the file
on a tie) gives up one step of the feature it left open that frees most of
it (one queue fewer, a ring half the size, no indirect descriptors, no
split event channels). What the file requests is never lowered. Each
lowered device is named in a warning, and its lowered values are written
as config-FEATURE requests like the file's own (xfeat show lists them as
requested); the backend then offers no more than that. A device on a real
host whose backend xfeat cannot describe (one that advertises nothing and
is not the local domain's stock backend) may request nothing, and counts
as taking all its frontend may.

On the sandbox host the domain id (the smallest free one from 1) is then
claimed under /libxl, the domain is introduced to XenStore, and one
transaction writes the domain directory and every device with libxl's
layout and permissions, plus one config-FEATURE node per request in the
device's backend directory, owned by the backend domain with no access for
anyone else (n0 for a dom0 backend): readable by the backend and dom0,
never by the guest. No hotplug script runs: hotplug-status is not written.
A disk's target is written to params as an absolute path (a relative one
is taken from the current directory).

On a real Xen host

xfeat decides which host it is on from the XenStore it reached (one
function, toolstack.DetectHost): the sandbox host writes
/tool/xfeat/sandbox when it starts, owned by domain 0; any other XenStore
(C xenstored's socket, /dev/xen/xenbus) is a real Xen host's, whose
domains xl builds, and xl must be installed. There xfeat never introduces
a domain itself. The local domain's stock Linux backends (xen-netback,
xen-blkback) advertise no schema: they are described by their module
parameters and the values the drivers fix (see xfeat-features(1)), and a
request one cannot honour is an error, but for a feature blkback decides
only when it connects (feature-persistent, feature-flush-cache,
feature-barrier): asked for anything but its own choice, that is a
warning that it cannot be enforced. Backends that advertise a schema keep
using it. Then:

    1. FILE as xl must get it (as xfeat fmt --for-xl prints it) is written
       to a temporary file, and xl create -p runs on it: the domain is
       created paused, libxl lays its devices out, each backend probes its
       device (InitWait, having written what it offers), hotplug scripts
       run (a disk's script= is passed on), no frontend has run.
    2. Once every backend is in InitWait, one transaction writes, per
       device, its config-FEATURE nodes (as on the sandbox); for a stock
       backend the keys its frontend reads before connecting, rewritten to
       the decided value (clamped to the module parameter; a boolean can
       only be turned off): multi-queue-max-queues, feature-sg,
       feature-gso-tcpv4, feature-gso-tcpv6, feature-ipv6-csum-offload,
       feature-split-event-channels, feature-multicast-control and
       feature-ctrl-ring of a vif, multi-queue-max-queues,
       max-ring-page-order and feature-max-indirect-segments of a disk;
       feature-discard through blkif.h's toolstack key discard-enable,
       which blkback reads when it connects; and the decision, where a
       backend records its own:
       /local/domain/BE/error/backend/TYPE/DOMID/DEVID/feature/FEATURE
       ("apply 1", "clamp 2", "unenforceable"), which xfeat show judges by.
       A backend that advertises a schema reads config-* itself: the guest
       stays paused until it has recorded a decision on every request
       (within --wait).
    3. xl unpause, and the wait for every device to be Connected, with the
       same progress, timeout and exit status as on the sandbox.

The temporary file is removed whatever happens. On any failure after
xl create -p (a device that fails, a timeout, an interrupt) the domain is
destroyed with xl and what xfeat wrote outside the devices' directories
(the decisions) is removed.

XenStore is found as libxenstore finds it (--xenstore, XENSTORED_PATH, the
xenstored socket, /dev/xen/xenbus), then the sandbox host's socket; if none
answers, the sandbox host is started (xfeat host start) and a line says so.

On any failure — an invalid file, a backend that refuses a device, a timeout,
an interrupt — nothing is left behind: every node written is removed and the
domain released (on a real host: destroyed with xl). With --dry-run nothing
is written: on the sandbox every node that would be written is printed with
its value and permissions; on a real host the config xl would get, the xl
commands and every node written between them (DOMID standing for the id xl
chooses).

Output: on a terminal a table of the devices; otherwise one tab-separated
line per device (domid, name, device, backend state, frontend state); with
-o json an object {"domid", "name", "elapsed_ms", "devices": [...]}, or with
--dry-run {"host": "sandbox"|"xen", "domid" (null on a real host), "name",
"xl_config" and "commands" (real host only), "nodes": [{"path", "value",
"perms"}], "budget": {"limits", "need", "may_use", "use", "domain_nodes",
"short"}, "devices": [{"device", "use", "takes"}]}, each figure an object
{"grants", "pages", "event_channels", "xenstore_nodes"} (the limits are
what the devices may take in all; on a real host pages and nodes are not
counted, 0), "takes" the frontend's arithmetic. A dry run prints the
warnings and errors create would, and on standard error what the devices
take of each limit, and each device's arithmetic.

Exit status: 0 when every device is Connected (or the dry run found no
problem); 1 on any failure, an invalid config included (and on a real
Xen host without xl); 2 on a usage error; 3 when the devices did not all
reach Connected within --wait, however short (each stuck device is named
with the state of both its ends), or a backend that advertises a schema
did not decide on its requests within it. A device that fails names what
its backend and its frontend wrote in their xenbus error nodes
(/local/domain/BE/error/backend/TYPE/DOMID/DEVID/error and
/local/domain/DOMID/error/device/TYPE/DEVID/error), the guest's quoted.`,
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
	if opts.Host == nil {
		opts.Host = detectHost
	}
	host, err := opts.Host(ctx, c)
	if err != nil {
		return err
	}
	if err := host.NeedXl(); err != nil {
		return fmt.Errorf("%s: %w", opts.File, err)
	}

	plan, more, err := toolstack.NewPlanFor(ctx, c, host, f, cfg)
	diags = append(diags, more...)
	printDiags(opts.IO, opts.File, diags)
	if err != nil {
		return err
	}
	if plan == nil {
		return cmdutil.ErrSilent
	}
	var xlConfig []byte
	if host.Kind == toolstack.XenHost {
		if xlConfig, _, err = devspec.XlFile(f); err != nil {
			return fmt.Errorf("%s: %w", opts.File, err)
		}
	}
	if opts.DryRun {
		if host.Kind == toolstack.XenHost {
			return dryRunXl(opts, plan, xlConfig)
		}
		return dryRun(ctx, opts, c, plan)
	}

	progress := func([]toolstack.DeviceState) {}
	if opts.IO.IsStderrTTY() {
		progress = func(states []toolstack.DeviceState) {
			var parts []string
			for _, s := range states {
				parts = append(parts, fmt.Sprintf("%s %s/%s", s.Name(), s.BackendState, s.FrontendState))
			}
			fmt.Fprintf(opts.IO.ErrOut, "\r\033[Kwaiting: %s", strings.Join(parts, ", "))
		}
	}
	var got *toolstack.Created
	if host.Kind == toolstack.XenHost {
		got, err = toolstack.CreateWithXl(ctx, c, plan, xlConfig, toolstack.XlOptions{Xl: host.Xl, Wait: opts.Wait, Progress: progress})
	} else {
		got, err = toolstack.Create(ctx, c, plan, toolstack.CreateOptions{Wait: opts.Wait, Progress: progress})
	}
	if opts.IO.IsStderrTTY() {
		fmt.Fprint(opts.IO.ErrOut, "\r\033[K")
	}
	if err != nil {
		var stuck *toolstack.StuckError
		var undecided *toolstack.UndecidedError
		if errors.As(err, &stuck) || errors.As(err, &undecided) {
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
		tp.Row(fmt.Sprint(got.Domid), got.Name, d.Name(), d.BackendState.String(), d.FrontendState.String())
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

// dryRunJSON is what create --dry-run -o json prints.
type dryRunJSON struct {
	Host toolstack.HostKind `json:"host"`
	// Domid is the id create would claim (null on a real Xen host, where
	// xl chooses it: DOMID in the nodes' paths).
	Domid *uint32 `json:"domid"`
	Name  string  `json:"name"`
	// XlConfig and Commands are what xl would get (real Xen host only).
	XlConfig string           `json:"xl_config,omitempty"`
	Commands []string         `json:"commands,omitempty"`
	Nodes    []nodeJSON       `json:"nodes"`
	Budget   toolstack.Budget `json:"budget"`
	Devices  []deviceJSON     `json:"devices"`
}

type nodeJSON struct {
	Path  string   `json:"path"`
	Value string   `json:"value"`
	Perms []string `json:"perms"`
}

type deviceJSON struct {
	Device string        `json:"device"`
	Use    footprint.Use `json:"use"`
	Takes  string        `json:"takes"`
}

func (j *dryRunJSON) fill(plan *toolstack.Plan, nodes []toolstack.Node, path func(string) string) {
	j.Name, j.Budget = plan.Name, plan.Budget
	j.Devices, j.Nodes = []deviceJSON{}, []nodeJSON{}
	for _, d := range plan.Devices {
		j.Devices = append(j.Devices, deviceJSON{d.Label, d.Use, d.Takes})
	}
	for _, n := range nodes {
		j.Nodes = append(j.Nodes, nodeJSON{path(n.Path), n.Value, n.PermStrings()})
	}
}

func dryRun(ctx context.Context, opts *CreateOptions, c *xsclient.Client, plan *toolstack.Plan) error {
	domid, err := plan.NextDomid(ctx, c)
	if err != nil {
		return fmt.Errorf("%s: %w", opts.File, err)
	}
	nodes := append(plan.ClaimNodes(domid), plan.DomainNodes(domid)...)
	if opts.Output == cmdutil.OutputJSON {
		out := dryRunJSON{Host: toolstack.SandboxHost, Domid: &domid}
		out.fill(plan, nodes, func(p string) string { return p })
		return cmdutil.WriteJSON(opts.IO.Out, out)
	}
	fmt.Fprintf(opts.IO.ErrOut, "dry run: would create domain %s as domid %d with %d device(s), writing %d nodes; nothing written\n",
		plan.Name, domid, len(plan.Devices), len(nodes))
	printBudget(opts, plan)
	tp := tableprinter.New(opts.IO, "PATH", "VALUE", "PERMS")
	for _, n := range nodes {
		tp.Row(n.Path, n.Value, strings.Join(n.PermStrings(), ","))
	}
	return tp.Render()
}

// printBudget says on stderr what the devices take of each limit, and
// what each takes.
func printBudget(opts *CreateOptions, plan *toolstack.Plan) {
	b := plan.Budget
	if plan.Guest != nil {
		fmt.Fprintf(opts.IO.ErrOut, "budget (Linux frontends, %d vcpu(s)): the devices take %d of %d grant entries, %d of %d event channels\n",
			plan.Guest.VCPUs, b.Use.Grants, b.Limits.Grants, b.Use.EventChannels, b.Limits.EventChannels)
	} else {
		fmt.Fprintf(opts.IO.ErrOut, "budget: the devices take %d of %d grant entries, %d of %d pages, %d of %d event channels, %d of %d XenStore nodes\n",
			b.Use.Grants, b.Limits.Grants, b.Use.Pages, b.Limits.Pages, b.Use.EventChannels, b.Limits.EventChannels, b.Use.Nodes, b.Limits.Nodes)
	}
	for _, d := range plan.Devices {
		fmt.Fprintf(opts.IO.ErrOut, "  %s: %s\n", d.Label, d.Takes)
	}
}

// dryRunXl prints what create would do on a real Xen host: the config xl
// would get, the xl commands, and the nodes written between them (DOMID
// for the id xl chooses).
func dryRunXl(opts *CreateOptions, plan *toolstack.Plan, xlConfig []byte) error {
	tmp := filepath.Join(os.TempDir(), "xfeat-xl-*.cfg")
	cmds := toolstack.XlCommands(tmp)
	nodes := plan.XlNodes(toolstack.DryRunDomid)
	if opts.Output == cmdutil.OutputJSON {
		out := dryRunJSON{Host: toolstack.XenHost, XlConfig: string(xlConfig)}
		for _, c := range cmds {
			out.Commands = append(out.Commands, c.String())
		}
		out.fill(plan, nodes, toolstack.DryRunPath)
		return cmdutil.WriteJSON(opts.IO.Out, out)
	}
	fmt.Fprintf(opts.IO.ErrOut, "dry run: on this Xen host xl would create domain %s (xl chooses its id: DOMID below) with %d device(s), "+
		"and xfeat would write %d nodes; nothing run, nothing written\n", plan.Name, len(plan.Devices), len(nodes))
	printBudget(opts, plan)
	fmt.Fprintf(opts.IO.Out, "# %s as xl gets it, in %s:\n%s", opts.File, tmp, xlConfig)
	if len(xlConfig) > 0 && xlConfig[len(xlConfig)-1] != '\n' {
		fmt.Fprintln(opts.IO.Out)
	}
	fmt.Fprintf(opts.IO.Out, "# then:\n%s\n# once every backend is in InitWait, in one transaction:\n", cmds[0])
	tp := tableprinter.New(opts.IO, "PATH", "VALUE", "PERMS")
	for _, n := range nodes {
		tp.Row(toolstack.DryRunPath(n.Path), n.Value, strings.Join(n.PermStrings(), ","))
	}
	if err := tp.Render(); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.Out, "# then:\n%s\n", cmds[1])
	return nil
}

func detectHost(ctx context.Context, ops xsclient.Ops) (toolstack.Host, error) {
	return toolstack.DetectHost(ctx, ops, toolstack.HostProbe{})
}
