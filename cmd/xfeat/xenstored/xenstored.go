// Package xenstored is the `xfeat xenstored` command: the embedded XenStore
// daemon run in the foreground.
package xenstored

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/xenstored"
)

// Options are the command's dependencies and flags.
type Options struct {
	IO       *iostreams.IOStreams
	Rundir   string
	Restore  bool
	Quotas   xenstored.Quotas
	MaxOut   int
	MaxConns int
	Timeout  time.Duration
	Verbose  bool

	// signals delivers SIGTERM/SIGINT; tests replace it.
	signals func(context.Context) (context.Context, context.CancelFunc)
}

// NewCmdXenstored builds `xfeat xenstored`.
func NewCmdXenstored(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Quotas: xenstored.DefaultQuotas()}
	cmd := &cobra.Command{
		Use:   "xenstored",
		Short: "Run the embedded XenStore daemon in the foreground",
		Long: `Run a XenStore daemon speaking Xen's xs_wire protocol, in the foreground.

Domain 0 connects on <rundir>/socket (mode 0600): its connections are
privileged. XS_INTRODUCE creates <rundir>/domains/<domid>/socket, whose
connections act as that domain, unprivileged, as its xenbus ring would.
Any libxenstore client works against it:

    XENSTORED_PATH=<rundir>/socket xenstore-ls

Permissions, transactions, watches and quotas behave as in C xenstored;
quota defaults are C xenstored's. On SIGTERM or SIGINT the tree, its
permissions and the introduced domains are saved to <rundir>/xenstored.state;
--restore loads that file at the next start.`,
		Example: `  xfeat xenstored --rundir /run/xfeat/xenstored
  xfeat xenstored --rundir /run/xfeat/xenstored --restore --quota-nodes 5000`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Rundir == "" {
				return cmdutil.FlagErrorf("--rundir is required")
			}
			for name, v := range map[string]int{
				"quota-nodes": opts.Quotas.Nodes, "quota-watches": opts.Quotas.Watches,
				"quota-transactions": opts.Quotas.Transactions, "quota-outstanding": opts.Quotas.Outstanding,
				"quota-transaction-nodes": opts.Quotas.TransactionNodes, "quota-node-perms": opts.Quotas.NodePerms,
				"quota-node-size": opts.Quotas.NodeSize, "quota-path-max": opts.Quotas.PathMax,
				"quota-payload": opts.Quotas.Payload,
			} {
				if v <= 0 {
					return cmdutil.FlagErrorf("--%s must be positive, not %d", name, v)
				}
			}
			if opts.Quotas.Payload > 4096 {
				return cmdutil.FlagErrorf("--quota-payload cannot exceed the protocol's 4096 bytes")
			}
			if opts.Quotas.PathMax > 2048 {
				return cmdutil.FlagErrorf("--quota-path-max cannot exceed XENSTORE_REL_PATH_MAX (2048)")
			}
			if runF != nil {
				return runF(opts)
			}
			return xenstoredRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Rundir, "rundir", "", "directory for the sockets and the saved state (required)")
	fl.BoolVar(&opts.Restore, "restore", false, "load the state saved in <rundir>/xenstored.state")
	fl.IntVar(&opts.Quotas.Nodes, "quota-nodes", opts.Quotas.Nodes, "nodes a domain may own")
	fl.IntVar(&opts.Quotas.Watches, "quota-watches", opts.Quotas.Watches, "watches per domain")
	fl.IntVar(&opts.Quotas.Transactions, "quota-transactions", opts.Quotas.Transactions, "open transactions per domain")
	fl.IntVar(&opts.Quotas.Outstanding, "quota-outstanding", opts.Quotas.Outstanding, "unread replies per domain connection")
	fl.IntVar(&opts.Quotas.TransactionNodes, "quota-transaction-nodes", opts.Quotas.TransactionNodes, "nodes one transaction of a domain may touch")
	fl.IntVar(&opts.Quotas.NodePerms, "quota-node-perms", opts.Quotas.NodePerms, "permission entries per node set by a domain")
	fl.IntVar(&opts.Quotas.NodeSize, "quota-node-size", opts.Quotas.NodeSize, "bytes per node written by a domain")
	fl.IntVar(&opts.Quotas.PathMax, "quota-path-max", opts.Quotas.PathMax, "path length for a domain, below /local/domain/<id>/")
	fl.IntVar(&opts.Quotas.Payload, "quota-payload", opts.Quotas.Payload, "request payload bytes (at most 4096)")
	fl.IntVar(&opts.MaxOut, "max-conn-output", 1<<20, "bytes of unread output after which a client is disconnected")
	fl.IntVar(&opts.MaxConns, "max-domain-conns", 32, "connections at once on one domain's socket")
	fl.DurationVar(&opts.Timeout, "write-timeout", 20*time.Second, "time a client may leave its replies unread before it is disconnected")
	fl.BoolVarP(&opts.Verbose, "verbose", "v", false, "log connections dropped and domains introduced or released")
	return cmd
}

func xenstoredRun(opts *Options) error {
	cfg := xenstored.Config{
		Rundir:         opts.Rundir,
		Quotas:         opts.Quotas,
		MaxConnOutput:  opts.MaxOut,
		MaxDomainConns: opts.MaxConns,
		WriteTimeout:   opts.Timeout,
		Logf: func(format string, args ...any) {
			fmt.Fprintf(opts.IO.ErrOut, format+"\n", args...)
		},
	}
	if !opts.Verbose {
		cfg.Logf = nil
	}
	statePath := filepath.Join(opts.Rundir, xenstored.StateFileName)
	var srv *xenstored.Server
	var err error
	if opts.Restore {
		if _, serr := os.Stat(statePath); errors.Is(serr, os.ErrNotExist) {
			fmt.Fprintf(opts.IO.ErrOut, "xenstored: no saved state in %s: starting empty\n", statePath)
			srv, err = xenstored.New(cfg)
		} else {
			srv, err = xenstored.Restore(cfg, statePath)
		}
	} else {
		srv, err = xenstored.New(cfg)
	}
	if err != nil {
		return err
	}
	sig := opts.signals
	if sig == nil {
		sig = func(ctx context.Context) (context.Context, context.CancelFunc) {
			return signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
		}
	}
	ctx, stop := sig(context.Background())
	defer stop()
	fmt.Fprintf(opts.IO.ErrOut, "xenstored: listening on %s\n", srv.SocketPath())
	serr := srv.Serve(ctx)
	if err := srv.Save(statePath); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "xenstored: state saved to %s\n", statePath)
	return serr
}
