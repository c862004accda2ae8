// Package destroy implements `xfeat destroy`: close a domain's devices,
// remove the domain from XenStore and release it (on the sandbox host), or
// have xl destroy it and remove what xfeat wrote for it (on a real Xen
// host).
package destroy

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/xfeat/xfeat/cmd/xfeat/internal/xsconn"
	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/toolstack"
	"github.com/xfeat/xfeat/xsclient"
)

// DestroyOptions are the inputs of `xfeat destroy`.
type DestroyOptions struct {
	IO       *iostreams.IOStreams
	XenStore func(ctx context.Context, flag string, startSandbox bool) (*xsclient.Client, error)
	// Host decides which host the XenStore is (nil: toolstack.DetectHost).
	Host func(ctx context.Context, ops xsclient.Ops) (toolstack.Host, error)

	Domain       string
	Wait         time.Duration
	XenStorePath string
	DryRun       bool
}

// NewCmdDestroy builds `xfeat destroy`.
func NewCmdDestroy(f *cmdutil.Factory, runF func(*DestroyOptions) error) *cobra.Command {
	opts := &DestroyOptions{IO: f.IO, XenStore: xsconn.For(f), Host: detectHost}
	cmd := &cobra.Command{
		Use:   "destroy DOM",
		Short: "Tear a domain's devices down and remove the domain",
		Long: `Destroy domain DOM (an id or a name) as libxl does: every device's backend is
asked to close (online=0, state=Closing) and given up to --wait to reach
Closed; then the devices' frontend, backend, error and /libxl directories,
the domain's home and /libxl/DOMID are removed, and the domain is
released (XS_RELEASE, which stops the sandbox guest). A backend that did not
close in time is reported on stderr and its device removed anyway, so that
nothing is left behind.

On a real Xen host (a XenStore that is not the sandbox host's, see
xfeat-create(1)) xl built the domain and xl destroys it: xfeat runs
xl destroy DOMID (which closes and removes the devices, the domain and its
directories), then removes what xfeat and the backends recorded about the
domain's devices outside their directories: the backends' error
directories for it, /local/domain/BE/error/backend/TYPE/DOMID, decisions
included (their parents too once empty). --wait does not apply there (xl
waits as it does).

Destroying a domain that does not exist (already destroyed, or never
created) is an error saying so; domain 0 is never destroyed. A DOM that is
one domain's id and another domain's name is refused, naming both.

With --dry-run nothing is done: the commands (on a real Xen host) and the
directories that would be removed are printed, one a line.

Exit status: 0 when the domain is gone (a backend still open after --wait,
however short, is a warning); 1 when it does not exist, is ambiguous, is
domain 0, xl fails or XenStore fails; 2 on a usage error.`,
		Example: `  xfeat destroy guest
  xfeat destroy 5 --wait 2s
  xfeat destroy --dry-run guest`,
		Args: cmdutil.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Domain = args[0]
			if opts.Wait <= 0 {
				return cmdutil.FlagErrorf("--wait must be positive, not %s", opts.Wait)
			}
			if runF != nil {
				return runF(opts)
			}
			return destroyRun(opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Wait, "wait", 10*time.Second, "how long backends may take to reach Closed")
	cmd.Flags().BoolVarP(&opts.DryRun, "dry-run", "n", false, "print what would be run and removed; do nothing")
	cmd.Flags().StringVar(&opts.XenStorePath, "xenstore", "", "XenStore socket or device to use (default: search as xfeat create does)")
	return cmd
}

func destroyRun(opts *DestroyOptions) error {
	ctx := context.Background()
	c, err := opts.XenStore(ctx, opts.XenStorePath, false)
	if err != nil {
		return err
	}
	defer c.Close()
	domid, name, err := toolstack.ResolveDomain(ctx, c, opts.Domain)
	if err != nil {
		return err
	}
	if domid == 0 {
		return toolstack.ErrControlDomain
	}
	if opts.Host == nil {
		opts.Host = detectHost
	}
	host, err := opts.Host(ctx, c)
	if err != nil {
		return err
	}
	if opts.DryRun {
		return dryRun(ctx, opts, c, host, domid)
	}
	if host.Kind == toolstack.XenHost {
		if err := host.NeedXl(); err != nil {
			return err
		}
		if err := toolstack.DestroyWithXl(ctx, c, host.Xl, domid); err != nil {
			return fmt.Errorf("destroying domain %d: %w", domid, err)
		}
		if opts.IO.IsStderrTTY() {
			fmt.Fprintf(opts.IO.ErrOut, "Destroyed domain %s (domid %d) with xl\n", name, domid)
		}
		return nil
	}
	forced, err := toolstack.Destroy(ctx, c, domid, opts.Wait)
	for _, d := range forced {
		fmt.Fprintf(opts.IO.ErrOut, "xfeat: warning: %s: backend still %s after %s; removed anyway\n", d.Name(), d.BackendState, opts.Wait)
	}
	if err != nil {
		return fmt.Errorf("destroying domain %d: %w", domid, err)
	}
	if opts.IO.IsStderrTTY() {
		fmt.Fprintf(opts.IO.ErrOut, "Destroyed domain %s (domid %d)\n", name, domid)
	}
	return nil
}

// dryRun prints what destroying domid would run and remove.
func dryRun(ctx context.Context, opts *DestroyOptions, c *xsclient.Client, host toolstack.Host, domid uint32) error {
	devs, err := toolstack.Devices(ctx, c, domid)
	if err != nil {
		return err
	}
	refs := make([]toolstack.DeviceRef, len(devs))
	for i, d := range devs {
		refs[i] = d.DeviceRef
	}
	out := opts.IO.Out
	if host.Kind == toolstack.XenHost {
		fmt.Fprintf(opts.IO.ErrOut, "dry run: xl would destroy domain %d, then xfeat would remove what was recorded about its %d device(s); nothing done\n", domid, len(refs))
		fmt.Fprintf(out, "xl destroy %d\n", domid)
		for _, p := range toolstack.XlDestroyPaths(domid, refs) {
			fmt.Fprintln(out, p)
		}
		return nil
	}
	fmt.Fprintf(opts.IO.ErrOut, "dry run: would close %d device(s) (online=0, state=Closing), wait up to %s for Closed, remove these, release domain %d and remove %s; nothing done\n",
		len(refs), opts.Wait, domid, pv.LibxlPath(domid))
	for _, p := range toolstack.DestroyPaths(domid, refs) {
		fmt.Fprintln(out, p)
	}
	fmt.Fprintln(out, pv.LibxlPath(domid))
	return nil
}

func detectHost(ctx context.Context, ops xsclient.Ops) (toolstack.Host, error) {
	return toolstack.DetectHost(ctx, ops, toolstack.HostProbe{})
}
