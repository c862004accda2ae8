// Package xsconn connects the toolstack commands to XenStore: the endpoints
// libxenstore would use, then the sandbox host's socket, and — for the
// commands that create domains — the sandbox host itself, started when
// nothing answers.
package xsconn

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/sandbox"
	"github.com/xfeat/xfeat/toolstack"
	"github.com/xfeat/xfeat/xsclient"
)

// For returns f's XenStore constructor, or the default one printing its
// notices on ios.ErrOut.
func For(f *cmdutil.Factory) func(ctx context.Context, flag string, startSandbox bool) (*xsclient.Client, error) {
	if f.XenStore != nil {
		return f.XenStore
	}
	return func(ctx context.Context, flag string, start bool) (*xsclient.Client, error) {
		return Connect(ctx, f.IO, flag, start)
	}
}

// Connect finds XenStore (toolstack.Endpoints with the sandbox socket last).
// When none answers and start is set (and no endpoint was named with
// --xenstore or XENSTORED_PATH), it starts the sandbox host and says so.
func Connect(ctx context.Context, ios *iostreams.IOStreams, flag string, start bool) (*xsclient.Client, error) {
	rundir, _ := sandbox.Rundir("")
	o := toolstack.DiscoverOptions{Flag: flag, SandboxSocket: filepath.Join(rundir, sandbox.SocketName)}
	c, _, err := toolstack.Connect(ctx, o)
	if err == nil {
		return c, nil
	}
	named := len(toolstack.Endpoints(o)) == 1
	if !start || named || !errors.Is(err, toolstack.ErrNoXenStore) {
		return nil, err
	}
	sock, serr := sandbox.Start(ctx, sandbox.Options{Rundir: rundir})
	if serr != nil {
		return nil, fmt.Errorf("%w; starting the sandbox host failed: %w", err, serr)
	}
	fmt.Fprintf(ios.ErrOut, "xfeat: no XenStore answered; started the sandbox host (rundir %s)\n", rundir)
	c, err = toolstack.Probe(ctx, sock, 0)
	if err != nil {
		return nil, fmt.Errorf("the sandbox host started but %s does not answer: %w", sock, err)
	}
	return c, nil
}
