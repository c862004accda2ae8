package cmdutil

import (
	"context"

	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/xsclient"
)

// Factory carries the dependencies commands are built with. Fields that cost
// something to build (a XenStore connection) are added as lazy funcs so that a
// command that does not need them never opens them.
type Factory struct {
	IO *iostreams.IOStreams
	// Version is the build's version string, printed by --version.
	Version string
	// XenStore connects to XenStore the way the toolstack commands find it:
	// flag is the command's --xenstore value ("" to search); startSandbox
	// lets it start the sandbox host when nothing answers. Nil means the
	// default search (cmd/xfeat/internal/xsconn); tests set their own.
	XenStore func(ctx context.Context, flag string, startSandbox bool) (*xsclient.Client, error)
}
