package toolstack

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"

	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xsclient"
)

// HostKind says who builds domains on the host whose XenStore xfeat reached.
type HostKind string

const (
	// SandboxHost is xfeat's sandbox host: xfeat create claims, introduces
	// and writes a domain itself (Create).
	SandboxHost HostKind = "sandbox"
	// XenHost is a real Xen host: xl builds a domain, xfeat hands each of
	// its devices the requests (CreateWithXl); its stock Linux backends
	// are described by their module parameters (stock.go).
	XenHost HostKind = "xen"
)

// Host is the host DetectHost found.
type Host struct {
	Kind HostKind `json:"kind"`
	// Rundir is the sandbox host's run directory (SandboxHost), as its
	// marker node says.
	Rundir string `json:"rundir,omitempty"`
	// Xl is the path of xl (XenHost); "" when xl is not installed, which
	// only the commands that build or destroy domains need.
	Xl string `json:"xl,omitempty"`
	// Local is the domain xfeat runs in (XenStore's answer for the
	// relative path "domid"; 0 when there is none): the domain whose
	// stock backends the module parameters in Sysfs describe.
	Local uint32 `json:"local"`
	// Sysfs is where module parameters are read (/sys).
	Sysfs string `json:"-"`
}

// HostProbe is how DetectHost looks at this machine; the zero value looks
// at the real one.
type HostProbe struct {
	// LookPath finds a command (default exec.LookPath).
	LookPath func(string) (string, error)
	// Sysfs is sysfs's mount point (default /sys).
	Sysfs string
}

// ErrNoXl means a command that builds or destroys domains on a real Xen
// host found no xl to do it with.
var ErrNoXl = errors.New("xl is not installed (not found in PATH)")

// DetectHost decides which host the XenStore reached through ops belongs
// to, the one place that does:
//
//   - the sandbox host writes pv.SandboxMarker when it starts serving
//     (owned by domain 0, under /tool, which nobody else may write): a
//     XenStore holding it is the sandbox host's;
//   - any other XenStore (C xenstored's socket, /dev/xen/xenbus) is a real
//     Xen host's, whose domains xl builds: Xl is where xl is ("" when it
//     is not installed), Local the domain xfeat runs in.
//
// Only a failure to read XenStore is an error.
func DetectHost(ctx context.Context, ops xsclient.Ops, probe HostProbe) (Host, error) {
	if probe.LookPath == nil {
		probe.LookPath = exec.LookPath
	}
	if probe.Sysfs == "" {
		probe.Sysfs = "/sys"
	}
	rundir, marked, err := readOpt(ctx, ops, pv.SandboxMarker)
	if err != nil {
		return Host{}, fmt.Errorf("reading %s: %w", pv.SandboxMarker, err)
	}
	if marked {
		return Host{Kind: SandboxHost, Rundir: rundir, Sysfs: probe.Sysfs}, nil
	}
	h := Host{Kind: XenHost, Sysfs: probe.Sysfs}
	if p, err := probe.LookPath("xl"); err == nil {
		h.Xl = p
	}
	// A relative path is the connection's own domain's (xenstore.txt):
	// dom0's toolstack reads /local/domain/0/domid.
	if v, ok, err := readOpt(ctx, ops, "domid"); err == nil && ok {
		if id, perr := strconv.ParseUint(v, 10, 32); perr == nil && id <= MaxDomid {
			h.Local = uint32(id)
		}
	}
	return h, nil
}

// NeedXl is nil when h can build and destroy domains: a sandbox host, or
// a real Xen host with xl; else an error wrapping ErrNoXl that says why
// xl is needed.
func (h Host) NeedXl() error {
	if h.Kind == XenHost && h.Xl == "" {
		return fmt.Errorf("this XenStore is not the sandbox host's (it has no %s), so it is a real Xen host's, "+
			"whose domains xl builds: %w", pv.SandboxMarker, ErrNoXl)
	}
	return nil
}
