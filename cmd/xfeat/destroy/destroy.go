// Package destroy implements `xfeat destroy`: close a domain's devices,
// remove the domain from XenStore and release it.
package destroy

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/xfeat/xfeat/cmd/xfeat/internal/xsconn"
	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/toolstack"
	"github.com/xfeat/xfeat/xsclient"
)

// DestroyOptions are the inputs of `xfeat destroy`.
type DestroyOptions struct {
	IO       *iostreams.IOStreams
	XenStore func(ctx context.Context, flag string, startSandbox bool) (*xsclient.Client, error)

	Domain       string
	Wait         time.Duration
	XenStorePath string
}

// NewCmdDestroy builds `xfeat destroy`.
func NewCmdDestroy(f *cmdutil.Factory, runF func(*DestroyOptions) error) *cobra.Command {
	opts := &DestroyOptions{IO: f.IO, XenStore: xsconn.For(f)}
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

Destroying a domain that does not exist (already destroyed, or never
created) is an error saying so; domain 0 is never destroyed. A DOM that is
one domain's id and another domain's name is refused, naming both.

Exit status: 0 when the domain is gone (a backend still open after --wait,
however short, is a warning); 1 when it does not exist, is ambiguous, is
domain 0, or XenStore fails; 2 on a usage error.`,
		Example: `  xfeat destroy guest
  xfeat destroy 5 --wait 2s`,
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
