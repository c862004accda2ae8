package cmdutil

import "github.com/xfeat/xfeat/internal/cli/iostreams"

// Factory carries the dependencies commands are built with. Fields that cost
// something to build (a XenStore connection) are added as lazy funcs so that a
// command that does not need them never opens them.
type Factory struct {
	IO *iostreams.IOStreams
	// Version is the build's version string, printed by --version.
	Version string
}
