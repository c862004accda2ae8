package toolstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/xfeat/xfeat/xsclient"
)

// Endpoint is a place XenStore may answer, and why it is tried.
type Endpoint struct {
	Path string
	// From says where the path came from: "--xenstore", "XENSTORED_PATH",
	// "default socket", "xenbus device", "sandbox".
	From string
}

// DiscoverOptions say where to look for XenStore.
type DiscoverOptions struct {
	// Flag is the --xenstore value; when set it is the only endpoint tried.
	Flag string
	// SandboxSocket is the sandbox host's socket, tried last ("" to skip).
	SandboxSocket string
	// Probe bounds how long one endpoint may take to answer (default 2 s).
	Probe time.Duration
}

// ErrNoXenStore means no endpoint answered.
var ErrNoXenStore = errors.New("no XenStore answered")

// Endpoints returns the endpoints Connect tries, in order: the flag alone
// if given; else $XENSTORED_PATH alone if set (as libxenstore does); else
// libxenstore's own candidates (the xenstored socket, then the xenbus device)
// followed by the sandbox host's socket.
func Endpoints(o DiscoverOptions) []Endpoint {
	if o.Flag != "" {
		return []Endpoint{{o.Flag, "--xenstore"}}
	}
	if p := os.Getenv("XENSTORED_PATH"); p != "" {
		return []Endpoint{{p, "XENSTORED_PATH"}}
	}
	var eps []Endpoint
	for i, p := range xsclient.Candidates() {
		from := "xenbus device"
		if i == 0 {
			from = "default socket"
		}
		eps = append(eps, Endpoint{p, from})
	}
	if o.SandboxSocket != "" {
		eps = append(eps, Endpoint{o.SandboxSocket, "sandbox"})
	}
	return eps
}

// Connect returns a client on the first endpoint that answers a request (a
// socket that accepts but never replies does not count). When none does, the
// error wraps ErrNoXenStore and lists what was tried.
func Connect(ctx context.Context, o DiscoverOptions) (*xsclient.Client, Endpoint, error) {
	probe := o.Probe
	if probe <= 0 {
		probe = 2 * time.Second
	}
	var errs []error
	for _, ep := range Endpoints(o) {
		c, err := Probe(ctx, ep.Path, probe)
		if err == nil {
			return c, ep, nil
		}
		errs = append(errs, fmt.Errorf("%s (%s): %w", ep.Path, ep.From, err))
	}
	return nil, Endpoint{}, fmt.Errorf("%w: %w", ErrNoXenStore, errors.Join(errs...))
}

// Probe dials path and checks that the daemon answers within d (default 2 s).
func Probe(ctx context.Context, path string, d time.Duration) (*xsclient.Client, error) {
	if d <= 0 {
		d = 2 * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	c, err := xsclient.Dial(pctx, path)
	if err != nil {
		return nil, err
	}
	if _, err := c.GetDomainPath(pctx, 0); err != nil {
		c.Close()
		return nil, fmt.Errorf("does not answer: %w", err)
	}
	return c, nil
}
