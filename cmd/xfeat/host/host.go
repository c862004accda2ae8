// Package host is the `xfeat host` command: the sandbox host (embedded
// xenstored, dom0 backends and the guests' frontends in one process), run in
// the foreground or detached, its status, and stopping it.
package host

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/xfeat/xfeat/backends/blkback"
	"github.com/xfeat/xfeat/backends/netback"
	"github.com/xfeat/xfeat/cmd/xfeat/internal/limits"
	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/internal/hostlog"
	"github.com/xfeat/xfeat/sandbox"
)

// Options are the dependencies and flags of the host subcommands.
type Options struct {
	IO      *iostreams.IOStreams
	Rundir  string
	Netback netback.Limits
	Blkback blkback.Limits
	Timeout time.Duration
	Output  cmdutil.Output
	Exe     string // start: binary to run ("" = this one)
	NetData bool   // --net-data: TAP devices, bridges, guest namespaces
	LogFile string // run: --log-file (bounded, hostlog.File)

	// signals delivers SIGTERM/SIGINT to run; tests replace it.
	signals func(context.Context) (context.Context, context.CancelFunc)
}

// NewCmdHost builds `xfeat host` and its subcommands. runF, if set, replaces
// what each subcommand does (flag tests); it gets the subcommand's name.
func NewCmdHost(f *cmdutil.Factory, runF func(string, *Options) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "host <command>",
		Short: "Run, start, stop or query the sandbox host",
		Long: `The sandbox host plays the privileged domain of a Xen host in one user-space
process: the embedded XenStore daemon (domain 0 on RUNDIR/socket, each
introduced domain on RUNDIR/domains/ID/socket), the domain 0 backends
(netback for vif, blkback for vbd: feature schema, config-* checks, xenbus
states, rings mapped through grant tables, event channels), and for every
domain introduced with XS_INTRODUCE a guest running the reference netfront
and blkfront over its own, unprivileged XenStore connection. XS_RELEASE stops
the guest and removes its memory, grant-table and event-channel files.

The run directory RUNDIR is --rundir, else DIR when XENSTORED_PATH is
DIR/socket (so that the commands of a shell pointed at a host all find it),
else $XDG_RUNTIME_DIR/xfeat for a user other than root with a runtime
directory, else /run/xfeat. A detached host writes its pid to
RUNDIR/host.pid and its log to RUNDIR/host.log. A guest's memory, grant table
and event channels are RUNDIR/domains/domID.{mem,gnttab,gntpin,evtchn}
(dom0.evtchn for the backends). The domain's limits come from
/libxl/ID/sandbox/max-grant-frames and max-event-channels (defaults 64 and
1023), written by the toolstack before XS_INTRODUCE. Any libxenstore client
works against the host:

    XENSTORED_PATH=RUNDIR/socket xenstore-ls

` + logHelp + `

Backend limits (flags of run and start) set what each backend advertises as
its own maximum (the schema's -defval) and which features it supports at all;
a device asking for more is clamped, one asking for a disabled feature is
refused. Each backend records what it did with every request in
/local/domain/0/error/backend/TYPE/DOMID/DEVID/feature/NAME ("apply VALUE",
"clamp VALUE", "refuse" or "ignore"; what xfeat show's verdict reads), and
names what it did not apply as asked in the device's xenbus error node (the
"error" key beside it, one "config-NAME: reason" clause per feature) and in
the log. A guest that writes
garbage (bad ring references, a queue layout that does not add up, missing
keys) makes only its own device fail: Closing, with the reason in that node.

Features netback advertises (vif): multi-queue-max-queues (1-16, default 4),
feature-sg, feature-gso-tcpv4, feature-gso-tcpv6, feature-ipv6-csum-offload,
feature-split-event-channels (default on), feature-no-csum-offload,
feature-multicast-control (default off). Features blkback advertises (vbd):
multi-queue-max-queues (1-16, default 4), max-ring-page-order (0-4, default 4),
feature-max-indirect-segments (0-4096, default 256), feature-persistent,
feature-flush-cache, feature-barrier, feature-discard (default on). blkback
serves the raw image or block device named by the backend's params key (or
the block device physical-device names, when params names neither); a
missing image fails the device.`,
		Args: cmdutil.NoArgs,
	}
	cmd.AddCommand(newCmdRun(f, runF), newCmdStart(f, runF), newCmdStop(f, runF), newCmdStatus(f, runF))
	return cmd
}

// logHelp says how the log is bounded, from the numbers the code uses.
var logHelp = fmt.Sprintf(`The log of a detached host is RUNDIR/host.log (run's --log-file). It is
bounded: a line that would take it past %d MiB first renames it to
RUNDIR/host.log.1 (replacing an older one) and starts a new RUNDIR/host.log,
so the log never takes more than %d MiB. Lines a guest can cause again and
again (a XenStore connection refused past the per-domain limit, a message
too long, a client that stops reading, a device failing or reconnecting) are
limited per domain: %d at once, then one every %v; what is held back is
counted and reported every %v as the last such line followed by
"(repeated N times)".`, hostlog.DefaultMaxSize>>20, 2*hostlog.DefaultMaxSize>>20,
	hostlog.DefaultBurst, hostlog.DefaultInterval, hostlog.DefaultSummaryEvery)

func newOptions(f *cmdutil.Factory) *Options {
	return &Options{IO: f.IO, Netback: netback.DefaultLimits(), Blkback: blkback.DefaultLimits()}
}

func addRundir(cmd *cobra.Command, o *Options) {
	cmd.Flags().StringVar(&o.Rundir, "rundir", "", sandbox.RundirHelp)
}

func addLimits(cmd *cobra.Command, o *Options) {
	limits.AddFlags(cmd.Flags(), &o.Netback, &o.Blkback)
	cmd.Flags().BoolVar(&o.NetData, "net-data", false, "move packets: each vif gets a TAP vif<domid>.<devid> on its bridge (created if missing) and each guest a network namespace xfeat-<name> holding its end (needs CAP_NET_ADMIN)")
}

func checkLimits(o *Options) error { return limits.Check(o.Netback, o.Blkback) }

// limitArgs renders the limits as `host run` flags, for a detached start.
func limitArgs(o *Options) []string {
	args := limits.Args(o.Netback, o.Blkback)
	if o.NetData {
		args = append(args, "--net-data")
	}
	return args
}

func rundir(o *Options) string {
	dir, _ := sandbox.Rundir(o.Rundir)
	return dir
}

func newCmdRun(f *cmdutil.Factory, runF func(string, *Options) error) *cobra.Command {
	o := newOptions(f)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the sandbox host in the foreground",
		Long: `Run the sandbox host in the foreground until SIGTERM or SIGINT; then every
guest is stopped, every device closed, and the sockets removed. The log goes
to standard error.

With --net-data (root, or CAP_NET_ADMIN) packets move: netback serves each
vif with a multi-queue TAP device vif<domid>.<devid> (or vifname=), a port of
the vif's bridge, which the host creates when it is missing (and removes when
it stops); each guest with vifs gets a network namespace xfeat-<name> holding
its end, eth<devid>, with the vif's mac, mtu and ip=ADDR/PREFIX, so that
ip netns exec xfeat-<name> ping, iperf3 or ethtool run as the guest, and
ethtool -k and -l show what it negotiated. Without CAP_NET_ADMIN vifs still
connect and their error node says what the data path needs.`,
		Example: `  xfeat host run --rundir /tmp/xf
  xfeat host run --vif-max-queues 2 --vbd-disable feature-discard
  xfeat host run --net-data`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkLimits(o); err != nil {
				return err
			}
			if runF != nil {
				return runF("run", o)
			}
			return runRun(o)
		},
	}
	addRundir(cmd, o)
	addLimits(cmd, o)
	cmd.Flags().StringVar(&o.LogFile, "log-file", "", "write the log, and whatever the process itself prints (a crash), to this file instead of standard error, bounded and rotated as RUNDIR/host.log is (start uses RUNDIR/host.log)")
	return cmd
}

func runRun(o *Options) error {
	dir := rundir(o)
	logf, closeLog, err := hostlog.Stamped(o.LogFile, o.IO.ErrOut)
	if err != nil {
		return err
	}
	defer closeLog()
	h, err := sandbox.New(sandbox.Config{Rundir: dir, Netback: o.Netback, Blkback: o.Blkback, NetData: o.NetData, Logf: logf})
	if err != nil {
		return err
	}
	removePid, err := sandbox.WritePidFile(dir)
	if err != nil {
		return err
	}
	defer removePid()
	sig := o.signals
	if sig == nil {
		sig = func(ctx context.Context) (context.Context, context.CancelFunc) {
			return signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
		}
	}
	ctx, stop := sig(context.Background())
	defer stop()
	logf("host: xenstore on %s", h.Socket())
	err = h.Run(ctx)
	logf("host: stopped")
	return err
}

func newCmdStart(f *cmdutil.Factory, runF func(string, *Options) error) *cobra.Command {
	o := newOptions(f)
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Start the sandbox host detached and wait until it answers",
		Long: `Start ` + "`xfeat host run`" + ` detached from the terminal (its own session, log in
RUNDIR/host.log) and wait until its XenStore socket answers; then print the
socket. If a XenStore already answers in the run directory, nothing is
started and its socket is printed.`,
		Example: `  xfeat host start
  XENSTORED_PATH=$(xfeat host start --rundir /tmp/xf) xenstore-ls`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkLimits(o); err != nil {
				return err
			}
			if o.Timeout <= 0 {
				return cmdutil.FlagErrorf("--timeout must be positive")
			}
			if runF != nil {
				return runF("start", o)
			}
			return runStart(o)
		},
	}
	addRundir(cmd, o)
	addLimits(cmd, o)
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 10*time.Second, "how long to wait for the socket to answer")
	return cmd
}

func runStart(o *Options) error {
	sock, err := sandbox.Start(context.Background(), sandbox.Options{Rundir: o.Rundir, Exe: o.Exe, Args: limitArgs(o), Timeout: o.Timeout})
	if err != nil {
		return err
	}
	fmt.Fprintln(o.IO.Out, sock)
	return nil
}

func newCmdStop(f *cmdutil.Factory, runF func(string, *Options) error) *cobra.Command {
	o := newOptions(f)
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop a detached sandbox host",
		Long: `Send SIGTERM to the host recorded in RUNDIR/host.pid and wait until it has
exited (its guests stopped, its devices closed). A host that is not running is
reported on standard error; that is not an error.`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Timeout <= 0 {
				return cmdutil.FlagErrorf("--timeout must be positive")
			}
			if runF != nil {
				return runF("stop", o)
			}
			return runStop(o)
		},
	}
	addRundir(cmd, o)
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 20*time.Second, "how long to wait for the host to exit")
	return cmd
}

func runStop(o *Options) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	err := sandbox.Stop(ctx, o.Rundir)
	if errors.Is(err, sandbox.ErrNotRunning) {
		fmt.Fprintf(o.IO.ErrOut, "xfeat host: not running (rundir %s)\n", rundir(o))
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &cmdutil.TimeoutError{Err: err}
	}
	return err
}

func newCmdStatus(f *cmdutil.Factory, runF func(string, *Options) error) *cobra.Command {
	o := newOptions(f)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Say whether the sandbox host is running",
		Long: `Say whether a sandbox host runs in the run directory, with its pid, run
directory, socket and the domains in its XenStore. Exits 0 when it runs, 1
when it does not.`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF("status", o)
			}
			return runStatus(o)
		},
	}
	addRundir(cmd, o)
	cmdutil.AddOutputFlag(cmd, &o.Output)
	return cmd
}

type statusJSON struct {
	Running bool     `json:"running"`
	PID     int      `json:"pid,omitempty"`
	Rundir  string   `json:"rundir"`
	Socket  string   `json:"socket"`
	Domains []uint32 `json:"domains"`
}

func runStatus(o *Options) error {
	st, err := sandbox.Status(context.Background(), o.Rundir)
	if err != nil {
		return err
	}
	if o.Output == cmdutil.OutputJSON {
		doms := st.Domains
		if doms == nil {
			doms = []uint32{}
		}
		if err := cmdutil.WriteJSON(o.IO.Out, statusJSON{st.Running, st.PID, st.Rundir, st.Socket, doms}); err != nil {
			return err
		}
	} else {
		state := "not running"
		if st.Running {
			state = "running"
		}
		fmt.Fprintf(o.IO.Out, "host:    %s\n", state)
		if st.PID != 0 {
			fmt.Fprintf(o.IO.Out, "pid:     %d\n", st.PID)
		}
		fmt.Fprintf(o.IO.Out, "rundir:  %s\nsocket:  %s\n", st.Rundir, st.Socket)
		if st.Running {
			ids := make([]string, len(st.Domains))
			for i, d := range st.Domains {
				ids[i] = strconv.FormatUint(uint64(d), 10)
			}
			fmt.Fprintf(o.IO.Out, "domains: %s\n", strings.Join(ids, " "))
		}
	}
	if !st.Running {
		return cmdutil.ErrSilent
	}
	return nil
}
