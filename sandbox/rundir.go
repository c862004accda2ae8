package sandbox

import (
	"os"
	"path/filepath"
)

// Where the sandbox host's run directory comes from, as Rundir reports it.
const (
	FromFlag    = "--rundir"
	FromEnv     = "XENSTORED_PATH"
	FromDefault = "default"
)

// RundirHelp describes what Rundir does with an empty flag, for the help of
// every command that takes --rundir.
const RundirHelp = "the sandbox host's run directory (default: DIR when XENSTORED_PATH is DIR/socket, else $XDG_RUNTIME_DIR/xfeat, or /run/xfeat for root)"

// Rundir is the one answer every command gives to "which sandbox host?":
// flag (--rundir) when given; else, when $XENSTORED_PATH names a socket
// DIR/socket (as it does for every client of a host started with --rundir
// DIR), DIR; else DefaultRundir. from says which it was (FromFlag, FromEnv,
// FromDefault), for messages. The XenStore commands reach the same host,
// since they dial $XENSTORED_PATH itself (toolstack.Endpoints).
func Rundir(flag string) (dir, from string) {
	if flag != "" {
		return flag, FromFlag
	}
	if p := os.Getenv("XENSTORED_PATH"); p != "" && filepath.Base(p) == SocketName {
		return filepath.Dir(p), FromEnv
	}
	return DefaultRundir(), FromDefault
}
