// Package io implements `xfeat io`: a block workload (like a small fio) on a
// sandbox guest's disk, run through the guest's blkfront, its rings, event
// channels and blkback, measured and reported.
package io

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/xfeat/xfeat/backends/frontends/blkload"
	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/sandbox"
	"github.com/xfeat/xfeat/toolstack"
	"github.com/xfeat/xfeat/xsclient"
)

// IOOptions are the inputs of `xfeat io`.
type IOOptions struct {
	IO     *iostreams.IOStreams
	Rundir string

	Disk     string // DOM/VDEV as given
	Domain   string
	Vdev     uint32
	Workload blkload.Workload
	Output   cmdutil.Output
}

// ParseSize reads a byte count: a number with an optional k, m or g
// suffix (powers of 1024, either case, optional trailing b/iB).
func ParseSize(s string) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "ib"), "b")
	mult := 1
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "m"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "g"):
		mult, t = 1<<30, t[:len(t)-1]
	}
	n, err := strconv.Atoi(t)
	if err != nil || n <= 0 || n > (1<<31)/mult {
		return 0, fmt.Errorf("%q is not a size (for example 4k, 1M, 512)", s)
	}
	return n * mult, nil
}

// ParseRuntime reads a Go duration (10s, 1m30s) or plain seconds, as fio.
func ParseRuntime(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil && n > 0 {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a duration (for example 10s, 500ms, or 10 for seconds)", s)
	}
	return d, nil
}

// NewCmdIO builds `xfeat io`.
func NewCmdIO(f *cmdutil.Factory, runF func(*IOOptions) error) *cobra.Command {
	opts := &IOOptions{IO: f.IO}
	var bs, runtime string
	cmd := &cobra.Command{
		Use:   "io DOM/VDEV",
		Short: "Run a block I/O workload on a sandbox guest's disk",
		Long: `Run a block I/O workload on a disk of a guest of the sandbox host and
report what it achieved: IOPS, MB/s and latency percentiles.

The workload runs inside the host, in the guest's own block frontend: every
request is a real blkif request on the device's shared ring, its data in
guest pages granted to the backend, announced over the event channel and
served by blkback (grant mapping, preadv/pwritev on the image) — the whole
path a guest's I/O takes. xfeat io talks to the host over its I/O socket,
RUNDIR/io.sock; RUNDIR is --rundir, else DIR when XENSTORED_PATH is
DIR/socket, else $XDG_RUNTIME_DIR/xfeat for a user other than root, else
/run/xfeat (as for xfeat host).

--rw is read or write (sequential), randread, randwrite or randrw (half and
half). --iodepth requests are kept in flight. With --verify every block
written carries its number and a write sequence number, and every read is
checked against the last write of its block (read workloads first fill the
disk; write workloads end by reading back every block written); a mismatch
fails the command.

DOM is a domain id or name (a number that is one domain's id and another's
name is refused); VDEV a virtual device (xvda) or its number.

While it runs, a progress line is shown on standard error when that is a
terminal. The result goes to standard output: a summary, or with -o json
{"iops", "mbps", "lat_p50_us", "lat_p99_us", "lat_max_us", "ops", "reads",
 "writes", "bytes", "elapsed_ns", "verified"}.

Exit status: 0 on success; 1 when the host, domain or disk cannot be found,
the backend answers an error, or verification fails; 2 on a usage error.`,
		Example: `  xfeat io guest/xvda --rw randread --bs 4k --iodepth 32 --runtime 10s
  xfeat io 3/xvdb --rw randrw --bs 64k --iodepth 8 --runtime 5s --verify -o json`,
		Args: cmdutil.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			dom, dev, ok := strings.Cut(args[0], "/")
			if !ok || dom == "" || dev == "" {
				return cmdutil.FlagErrorf("disk %q is not DOM/VDEV (for example guest/xvda or 3/51712)", args[0])
			}
			opts.Disk, opts.Domain = args[0], dom
			if n, err := strconv.ParseUint(dev, 10, 32); err == nil {
				opts.Vdev = uint32(n)
			} else if n, err := devspec.VdevNumber(dev); err == nil {
				opts.Vdev = n
			} else {
				return cmdutil.FlagErrorf("%q is not a virtual device (xvda, hdb, ...) nor a number", dev)
			}
			n, err := ParseSize(bs)
			if err != nil {
				return cmdutil.FlagErrorf("--bs: %v", err)
			}
			opts.Workload.BlockSize = n
			if opts.Workload.Runtime, err = ParseRuntime(runtime); err != nil {
				return cmdutil.FlagErrorf("--runtime: %v", err)
			}
			w := opts.Workload
			w.Size = 1 << 62 // checked against the disk by the host
			if err := w.Check(1 << 62); err != nil {
				return cmdutil.FlagErrorf("%v", err)
			}
			if runF != nil {
				return runF(opts)
			}
			return ioRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Rundir, "rundir", "", sandbox.RundirHelp)
	cmd.Flags().StringVar(&opts.Workload.RW, "rw", "randread", "read, write, randread, randwrite or randrw")
	cmd.Flags().StringVar(&bs, "bs", "4k", "block size (512 to 16M, a multiple of 512)")
	cmd.Flags().IntVar(&opts.Workload.IODepth, "iodepth", 1, "requests kept in flight")
	cmd.Flags().StringVar(&runtime, "runtime", "10s", "how long to run")
	cmd.Flags().BoolVar(&opts.Workload.Verify, "verify", false, "check every read against what was written")
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	return cmd
}

func ioRun(opts *IOOptions) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, from := sandbox.Rundir(opts.Rundir)
	xs, err := xsclient.Dial(ctx, filepath.Join(dir, sandbox.SocketName))
	if err != nil {
		return fmt.Errorf("no sandbox host in %s (%s; start one with xfeat host start): %w", dir, rundirFrom(from), err)
	}
	domid, _, err := toolstack.ResolveDomain(ctx, xs, opts.Domain)
	xs.Close()
	if err != nil {
		return err
	}
	live := opts.IO.IsStderrTTY()
	progress := func(p blkload.Progress) {
		if live {
			fmt.Fprintf(opts.IO.ErrOut, "\r%5.1fs  %10.0f IOPS  %9.1f MB/s  %d ops\x1b[K",
				p.Elapsed.Seconds(), p.IOPS, p.MBps, p.Ops)
		}
	}
	res, err := sandbox.RunIO(ctx, dir, sandbox.IORequest{Domid: domid, Devid: opts.Vdev, Workload: opts.Workload}, progress)
	if live {
		fmt.Fprint(opts.IO.ErrOut, "\r\x1b[K")
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return &cmdutil.SilentError{Code: cmdutil.ExitError}
		}
		return err
	}
	if opts.Output == cmdutil.OutputJSON {
		return cmdutil.WriteJSON(opts.IO.Out, res)
	}
	w := opts.Workload
	fmt.Fprintf(opts.IO.Out, "%s (domain %d, vbd %d): %s bs=%d iodepth=%d runtime=%v\n", opts.Disk, domid, opts.Vdev, w.RW, w.BlockSize, w.IODepth, w.Runtime)
	fmt.Fprintf(opts.IO.Out, "  IOPS %.0f  %.1f MB/s  (%d reads, %d writes in %.2fs)\n", res.IOPS, res.MBps, res.Reads, res.Writes, res.Elapsed.Seconds())
	fmt.Fprintf(opts.IO.Out, "  latency p50 %.1f us  p99 %.1f us  max %.1f us\n", res.LatP50us, res.LatP99us, res.LatMaxus)
	if w.Verify {
		fmt.Fprintf(opts.IO.Out, "  verified %d blocks\n", res.Verified)
	}
	return nil
}

// rundirFrom says where the run directory came from, for an error message.
func rundirFrom(from string) string {
	switch from {
	case sandbox.FromFlag:
		return "from --rundir"
	case sandbox.FromEnv:
		return "from XENSTORED_PATH"
	}
	return "the default run directory"
}
