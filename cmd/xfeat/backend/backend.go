// Package backend is the `xfeat backend` command: the bundled backends
// (netback, blkback) run on a real Xen host, in dom0 or a driver domain.
// The logic is package serve's; this is its command line.
package backend

import (
	"context"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/xfeat/xfeat/backends/blkback"
	"github.com/xfeat/xfeat/backends/netback"
	"github.com/xfeat/xfeat/backends/serve"
	"github.com/xfeat/xfeat/cmd/xfeat/internal/limits"
	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/internal/hostlog"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/toolstack"
	"github.com/xfeat/xfeat/xsclient"
)

// RunOptions are the inputs of `xfeat backend run`.
type RunOptions struct {
	IO           *iostreams.IOStreams
	XenStore     func(ctx context.Context, flag string, startSandbox bool) (*xsclient.Client, error)
	Types        []pv.Kind
	Netback      netback.Limits
	Blkback      blkback.Limits
	XenStorePath string
	LogFile      string

	// signals delivers SIGTERM/SIGINT to run; tests replace it, and the
	// lock files' directory ("" is serve.DefaultLockDir).
	signals func(context.Context) (context.Context, context.CancelFunc)
	lockDir string
}

// NewCmdBackend builds `xfeat backend` and its subcommand run. runF, if
// set, replaces what run does (flag tests).
func NewCmdBackend(f *cmdutil.Factory, runF func(*RunOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backend <command>",
		Short: "Run the bundled backends on a real Xen host",
		Long: `The backends bundled with xfeat, netback (vif) and blkback (vbd), honour the
config-* requests xfeat create writes; Linux's xen-netback and xen-blkback
never will. ` + "`xfeat backend run`" + ` runs them in the domain it is started in (dom0 or a
driver domain) against that host's XenStore and Xen devices.`,
		Args: cmdutil.NoArgs,
	}
	cmd.AddCommand(newCmdRun(f, runF))
	return cmd
}

func newCmdRun(f *cmdutil.Factory, runF func(*RunOptions) error) *cobra.Command {
	o := &RunOptions{IO: f.IO, XenStore: f.XenStore, Netback: netback.DefaultLimits(), Blkback: blkback.DefaultLimits()}
	var types []string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Serve vifs and disks of this domain with the bundled backends",
		Long: `Serve the devices of the given types (vif, vbd; both by default) that xl, or
xfeat create, gives this domain to back, until SIGTERM or SIGINT, with
xfeat's netback and blkback: Xen's grant tables and event channels through
/dev/xen/gntdev and /dev/xen/evtchn (modules xen-gntdev, xen-evtchn), a TAP
device per vif (/dev/net/tun), the image file or block device per disk.

It advertises each type's feature schema under
/local/domain/SELF/backend/TYPE/features (removed when it stops), serves
every device written under /local/domain/SELF/backend/TYPE, decides about
each config-* request (apply, clamp, refuse, ignore), records the decision
in /local/domain/SELF/error/backend/TYPE/DOMID/DEVID/feature/NAME and the
requests not applied as asked in the device's error node, and follows the
xenbus states, a guest's reconnection and the toolstack's teardown (xl
destroy, xl network-detach, block-detach) included. xl writes a device
before xfeat create writes its requests, while the domain is paused:
requests that arrive before the guest's frontend starts are applied as if
they had been there from the start.

It does not start where the kernel's backend for one of its types is
loaded (/sys/bus/xen-backend/drivers/TYPE: both would serve every device
of the type): unload it (rmmod xen-netback, rmmod xen-blkback) or leave the
type to it with --types. Nor where another xfeat backend serves one of its
types (lock file /run/xfeat/backend-TYPE.lock).

xl's hotplug scripts: a disk's script (block) runs once the backend is
InitWait and makes a loop device of an image file; blkback serves the file
params names directly (or the block device it names; physical-device,
major:minor in hex, when params names neither). A vif's script (vif-bridge)
runs at the same point and needs the interface: each vif's TAP,
vif<domid>.<devid>, exists from then on, without queues; the script puts it
on the vif's bridge (renaming it for vifname=), the guest's queues attach
when it connects, and the TAP goes when the toolstack removes the device.

On SIGTERM or SIGINT every device is disconnected (nothing mapped, no port
bound, its TAP removed) and set Closed: its guest sees the backend go (a
Linux blkfront fails the disk's I/O, a netfront closes the interface).
After a restart, devices closed that way are not served again: detach and
attach them again (xl network-detach and network-attach, block-detach and
block-attach) or restart the guest. A device not yet connected when the
backend stopped is served again. A backend killed without SIGTERM leaves
its guests' devices connected to nothing: detach and attach them. A guest
created while it is stopped is not created (libxl waits 10 s for the
backend). A guest rebooted with xl reboot is rebuilt by xl from its own
config, which holds none of xfeat's requests: the new domain's devices
connect with the backend's defaults (a disk keeps its data), the old
domain's are closed with nothing of them left mapped or bound, and the
other guests are served throughout. The defaults are the backend's
maximums: Linux's blkfront then takes 16-page rings and persistent grants
and allocates about 70 MB per queue as it connects, which the guest must
have to spare; or give a lower --vbd-max-ring-page-order or
--vbd-max-queues.

As a service: the unit contrib/systemd/xfeat-backend.service of xfeat's
repository runs it under systemd, after xenstored and before xendomains,
loading xen-gntdev, xen-evtchn and tun and unloading the kernel's
backends if they serve nothing first; systemctl stop and restart send
SIGTERM, with the effect on guests above. A start that fails (the kernel's
backend still loaded) is retried twice, 5 s apart, then systemd gives up
and leaves the unit failed (start-limit-hit: at most 3 starts in 60 s):
fix the cause, then systemctl reset-failed xfeat-backend and start it
again.

` + "`xfeat backend run`" + ` needs root (the Xen devices, TAP devices and XenStore's
privileged socket). The log goes to standard error; lines about a guest's
devices are rate-limited per guest as the sandbox host's are.

Exit status: 0 once stopped by a signal; 1 when it cannot start (the
kernel's backend loaded, no Xen devices, no XenStore) or a backend fails;
2 on a usage error.`,
		Example: `  xfeat backend run
  xfeat backend run --types vbd --vbd-max-queues 2
  xfeat backend run --vif-max-queues 1 --vif-disable feature-gso-tcpv6`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.Types, err = serve.ParseTypes(types); err != nil {
				return cmdutil.FlagErrorf("--types: %v", err)
			}
			if err := limits.Check(o.Netback, o.Blkback); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return run(o)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&types, "types", []string{string(pv.Vif), string(pv.Vbd)}, "device types to serve (vif, vbd; comma-separated)")
	limits.AddFlags(fl, &o.Netback, &o.Blkback)
	fl.StringVar(&o.XenStorePath, "xenstore", "", "XenStore socket or device to use (default: xenstored's socket, then /dev/xen/xenbus)")
	fl.StringVar(&o.LogFile, "log-file", "", "write the log, and whatever the process itself prints (a crash), to this file instead of standard error, bounded and rotated")
	return cmd
}

func run(o *RunOptions) error {
	logf, closeLog, err := hostlog.Stamped(o.LogFile, o.IO.ErrOut)
	if err != nil {
		return err
	}
	defer closeLog()
	sig := o.signals
	if sig == nil {
		sig = func(ctx context.Context) (context.Context, context.CancelFunc) {
			return signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
		}
	}
	ctx, stop := sig(context.Background())
	defer stop()
	xs, err := connect(ctx, o)
	if err != nil {
		return err
	}
	defer xs.Close()
	s, err := serve.New(ctx, serve.Config{XenStore: xs, Types: o.Types, Netback: o.Netback, Blkback: o.Blkback, Logf: logf, LockDir: o.lockDir})
	if err != nil {
		return err
	}
	logf("backend: serving %v for domain %d", o.Types, s.Self())
	err = s.Run(ctx)
	logf("backend: stopped")
	return err
}

// connect finds XenStore as libxenstore does (never the sandbox host's).
func connect(ctx context.Context, o *RunOptions) (*xsclient.Client, error) {
	if o.XenStore != nil {
		return o.XenStore(ctx, o.XenStorePath, false)
	}
	c, _, err := toolstack.Connect(ctx, toolstack.DiscoverOptions{Flag: o.XenStorePath})
	return c, err
}
