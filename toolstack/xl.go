package toolstack

// Creating and destroying a domain on a real Xen host, where xl builds
// domains (DetectHost: XenHost). xfeat never introduces a domain there;
// it has xl create it paused, hands each device its requests between the
// backend's probe and the guest's first run, and unpauses it:
//
//  1. xl create -p FILE, FILE being the config with xfeat's requests taken
//     out (devspec.XlFile): the domain exists, paused, its devices laid
//     out by libxl, each backend probed (InitWait, having written what it
//     offers), hotplug scripts run; no frontend has run.
//  2. Per device, once its backend is in InitWait, in one transaction
//     (XlNodes): config-<feature> (owned by the backend domain, readable
//     by it only, as on the sandbox); for a stock Linux backend (stock.go)
//     the keys its frontend reads rewritten to the decided value, or the
//     toolstack key it reads at connect, and the decision recorded where
//     a backend records its own (pv.DecisionNode), for xfeat show.
//  3. A backend that advertises a schema reads its config-* itself: the
//     guest stays paused until it has recorded a decision on every
//     request (it must watch config-* while in InitWait: xl created its
//     directory before xfeat could write them).
//  4. xl unpause, and the wait for every device to be Connected, as
//     Create waits.
//
// Any failure after step 1 (a timeout and an interrupt included): xl
// destroy, and what xfeat wrote outside the devices' directories (the
// decision records, under the backend's error directory) removed.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// XlOptions tune CreateWithXl.
type XlOptions struct {
	// Xl is the xl command (Host.Xl).
	Xl string
	// Wait bounds the wait for every device to be Connected (default
	// 10 s), and, before it, for the backends that advertise a schema to
	// decide.
	Wait time.Duration
	// Progress, if set, gets the device states whenever they change.
	Progress func([]DeviceState)
	// Created, if set, is called once xl has created the domain (paused).
	Created func(domid uint32)
}

// XlCommand is one command CreateWithXl or DestroyWithXl runs, for
// --dry-run: the xl arguments, DOMID standing for the domain's id.
type XlCommand []string

func (c XlCommand) String() string { return strings.Join(c, " ") }

// domidPlaceholder stands for the id xl will give the domain in a dry run's
// nodes (xl chooses it; Xen hands ids out in turn, not the lowest free).
const domidPlaceholder = "DOMID"

// placeholderID is a domain id no domain can have, put where
// domidPlaceholder goes.
const placeholderID = ^uint32(0)

// XlCommands are the xl commands CreateWithXl runs for the xl config file
// file.
func XlCommands(file string) []XlCommand {
	return []XlCommand{{"xl", "create", "-p", file}, {"xl", "unpause", domidPlaceholder}}
}

// XlNodes are the nodes CreateWithXl writes for domain domid once every
// backend is in InitWait, in order; for a dry run (domid unknown), pass
// DryRunDomid and render with DryRunPath.
func (pl *Plan) XlNodes(domid uint32) []Node {
	var out []Node
	for _, d := range pl.Devices {
		if d.schema == nil {
			continue // left to xl: nothing requested, nothing known
		}
		be := pv.BackendPath(d.Backend, d.Kind, domid, d.Devid)
		for _, f := range d.Features {
			out = append(out, Node{Path: be + "/" + pv.ConfigKey(f.Name), Value: f.Value,
				Perms: []xswire.Perm{{Domid: d.Backend, Access: 'n'}}, Explicit: true})
		}
		if d.stock == nil {
			continue // the backend decides, applies and records itself
		}
		for _, f := range d.Features {
			dec := d.decide(f.Name, f.Value)
			sf := stockFeatureOf(d.Kind, f.Name)
			switch {
			case dec.Action != schema.Apply && dec.Action != schema.Clamp:
			case sf.how == stockRewrite:
				out = append(out, Node{Path: be + "/" + f.Name, Value: dec.Value})
			case sf.how == stockViaKey:
				out = append(out, Node{Path: be + "/" + sf.key, Value: dec.Value})
			}
			out = append(out, Node{Path: pv.DecisionNode(d.Backend, be, f.Name), Value: dec.Record()})
		}
	}
	return out
}

// DryRunDomid is the domid to lay a dry run's xl nodes out for: none can
// have it; DryRunPath shows it as DOMID.
const DryRunDomid = placeholderID

// DryRunPath renders a path laid out for DryRunDomid with DOMID in its
// place.
func DryRunPath(p string) string {
	parts := strings.Split(p, "/")
	id := u(placeholderID)
	for i, s := range parts {
		if s == id {
			parts[i] = domidPlaceholder
		}
	}
	return strings.Join(parts, "/")
}

// XlError is xl failing: the command and what it printed.
type XlError struct {
	Command XlCommand
	Err     error
	Output  string
}

func (e *XlError) Error() string {
	out := strings.TrimSpace(e.Output)
	if out == "" {
		return fmt.Sprintf("%s: %v", e.Command, e.Err)
	}
	return fmt.Sprintf("%s: %v:\n%s", e.Command, e.Err, out)
}

func (e *XlError) Unwrap() error { return e.Err }

// runXl runs xl with args and returns its output; a failure is an
// *XlError.
func runXl(ctx context.Context, xl string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, xl, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), &XlError{Command: append(XlCommand{"xl"}, args...), Err: err, Output: out.String()}
	}
	return out.String(), nil
}

// CreateWithXl creates the planned domain on a real Xen host (see the top
// of this file): xlConfig is the config xl gets (devspec.XlFile), written
// to a temporary file that is removed whatever happens. On any failure
// after xl created the domain it is destroyed with xl and nothing xfeat
// wrote is left; a timeout is a *StuckError, a device that gave up a
// *DeviceFailedError, xl failing an *XlError.
func CreateWithXl(ctx context.Context, c *xsclient.Client, pl *Plan, xlConfig []byte, o XlOptions) (*Created, error) {
	if o.Wait <= 0 {
		o.Wait = 10 * time.Second
	}
	if o.Xl == "" {
		return nil, ErrNoXl
	}
	start := time.Now()
	if _, _, err := ResolveDomain(ctx, c, pl.Name); err == nil {
		return nil, fmt.Errorf("%w: %q", ErrNameTaken, pl.Name)
	} else if !errors.Is(err, ErrNoDomain) {
		return nil, err
	}
	tmp, err := os.CreateTemp("", "xfeat-xl-*.cfg")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(xlConfig)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("writing the xl config: %w", werr)
	}

	_, xerr := runXl(ctx, o.Xl, "create", "-p", tmp.Name())
	// Whatever xl said, a domain of this name is now ours.
	domid, _, rerr := ResolveDomain(context.WithoutCancel(ctx), c, pl.Name)
	switch {
	case rerr != nil && xerr != nil:
		return nil, xerr
	case rerr != nil:
		return nil, fmt.Errorf("xl created no domain named %q: %w", pl.Name, rerr)
	}
	refs := pl.Refs(domid)
	fail := func(err error) (*Created, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if cerr := destroyWithXl(cctx, c, o.Xl, domid, refs); cerr != nil {
			return nil, fmt.Errorf("%w (and destroying domain %d failed: %v)", err, domid, cerr)
		}
		return nil, err
	}
	if xerr != nil {
		return fail(xerr)
	}
	if o.Created != nil {
		o.Created(domid)
	}
	for _, r := range refs {
		got, err := LookupDevice(ctx, c, domid, r.Kind, r.Devid)
		if err != nil {
			return fail(fmt.Errorf("xl did not lay out %s as planned: %w", r.Name(), err))
		}
		if got.BackendPath != r.BackendPath {
			return fail(fmt.Errorf("xl laid %s out with backend %s, not %s", r.Name(), got.BackendPath, r.BackendPath))
		}
	}
	wctx, cancel := context.WithTimeout(ctx, o.Wait)
	defer cancel()
	if _, err := waitBackends(wctx, c, refs); err != nil {
		return fail(err)
	}
	nodes := pl.XlNodes(domid)
	err = c.Transact(ctx, func(tx *xsclient.Tx) error {
		// A decision recorded for an earlier domain of this id goes.
		for _, r := range refs {
			if err := tx.Rm(ctx, pv.DecisionDir(r.Backend, r.BackendPath)); err != nil && !errors.Is(err, xswire.ErrNotFound) {
				return err
			}
		}
		return writeNodes(ctx, tx, nodes)
	})
	if err != nil {
		return fail(fmt.Errorf("writing the requests of domain %d: %w", domid, err))
	}
	if err := waitDecided(wctx, c, pl, refs); err != nil {
		return fail(err)
	}
	if _, err := runXl(ctx, o.Xl, "unpause", u(domid)); err != nil {
		return fail(err)
	}
	states, err := WaitConnected(wctx, c, refs, o.Progress)
	if err != nil {
		return fail(err)
	}
	return &Created{Domid: domid, Name: pl.Name, Devices: states, Elapsed: time.Since(start)}, nil
}

// waitBackends waits until every backend of refs is in InitWait or
// later; one that gave up (Closing, Closed) is a *DeviceFailedError, the
// deadline a *StuckError.
func waitBackends(ctx context.Context, c *xsclient.Client, refs []DeviceRef) ([]DeviceState, error) {
	start := time.Now()
	probed := func(s DeviceState) bool { return s.BackendState >= pv.InitWait && s.BackendState <= pv.Connected }
	paths := make([]string, 0, len(refs))
	for _, r := range refs {
		paths = append(paths, r.BackendPath+"/"+pv.KeyState)
	}
	kick, stop, err := watchAll(ctx, c, paths)
	if err != nil {
		return timedOut(ctx, c, start, "InitWait", refs, probed, err)
	}
	defer stop()
	states := make([]DeviceState, len(refs))
	for {
		done := true
		for i, r := range refs {
			st, err := deviceState(ctx, c, r)
			if err != nil {
				return timedOut(ctx, c, start, "InitWait", refs, probed, err)
			}
			states[i] = st
			if st.BackendState >= pv.Closing {
				return states, &DeviceFailedError{Device: st, Reasons: reasons(ctx, c, r)}
			}
			done = done && probed(st)
		}
		if done {
			return states, nil
		}
		select {
		case <-kick:
		case <-ctx.Done():
			return timedOut(ctx, c, start, "InitWait", refs, probed, ctx.Err())
		}
	}
}

// UndecidedError is a backend that advertises a schema and recorded no
// decision on some requests before the deadline.
type UndecidedError struct {
	Waited time.Duration
	// Undecided lists, per device name, the requests with no decision.
	Undecided map[string][]string
	Devices   []DeviceRef
}

func (e *UndecidedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "timed out after %s waiting for backends to decide on their requests "+
		"(a backend that advertises a schema must watch its config-* nodes until its frontend connects):", e.Waited.Round(time.Millisecond))
	for _, d := range e.Devices {
		if names := e.Undecided[d.Name()]; len(names) > 0 {
			fmt.Fprintf(&b, "\n  %s: no decision on %s (%s)", d.Name(), strings.Join(names, ", "), pv.DecisionDir(d.Backend, d.BackendPath))
		}
	}
	return b.String()
}

// waitDecided waits until the backends that advertise a schema have
// recorded a decision on every request of their devices.
func waitDecided(ctx context.Context, c *xsclient.Client, pl *Plan, refs []DeviceRef) error {
	start := time.Now()
	var devs []DeviceRef
	var paths []string
	asked := map[string][]string{}
	for i, d := range pl.Devices {
		if d.schema == nil || d.stock != nil || len(d.Features) == 0 {
			continue
		}
		devs = append(devs, refs[i])
		paths = append(paths, pv.DecisionDir(refs[i].Backend, refs[i].BackendPath))
		for _, f := range d.Features {
			asked[refs[i].Name()] = append(asked[refs[i].Name()], f.Name)
		}
	}
	if len(devs) == 0 {
		return nil
	}
	// undecided lists, per device, the requests with no decision yet.
	undecided := func(ctx context.Context) (map[string][]string, []DeviceRef, error) {
		missing := map[string][]string{}
		var which []DeviceRef
		for _, r := range devs {
			for _, n := range asked[r.Name()] {
				_, ok, err := readOpt(ctx, c, pv.DecisionNode(r.Backend, r.BackendPath, n))
				if err != nil {
					return nil, nil, err
				}
				if !ok {
					if missing[r.Name()] == nil {
						which = append(which, r)
					}
					missing[r.Name()] = append(missing[r.Name()], n)
				}
			}
		}
		return missing, which, nil
	}
	kick, stop, err := watchAll(ctx, c, paths)
	if err != nil {
		return err
	}
	defer stop()
	for {
		missing, which, err := undecided(ctx)
		if err == nil && len(missing) == 0 {
			return nil
		}
		if err != nil && ctx.Err() == nil {
			return err
		}
		select {
		case <-kick:
			continue
		case <-ctx.Done():
		}
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return ctx.Err()
		}
		// Read once more, with a context of its own, as timedOut does.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		missing, which, err = undecided(rctx)
		cancel()
		if err != nil {
			return err
		}
		if len(missing) == 0 {
			return nil
		}
		return &UndecidedError{Waited: time.Since(start), Undecided: missing, Devices: which}
	}
}

// DestroyWithXl destroys domid on a real Xen host: xl destroy, then what
// xfeat (or a backend) recorded about its devices outside their
// directories (their error directories, decisions included) is removed.
// Domain 0 is refused; a domain xl does not know is an error from xl.
func DestroyWithXl(ctx context.Context, c *xsclient.Client, xl string, domid uint32) error {
	if domid == 0 {
		return ErrControlDomain
	}
	if xl == "" {
		return ErrNoXl
	}
	devs, err := Devices(ctx, c, domid)
	if err != nil {
		return err
	}
	refs := make([]DeviceRef, len(devs))
	for i, d := range devs {
		refs[i] = d.DeviceRef
	}
	return destroyWithXl(ctx, c, xl, domid, refs)
}

// XlDestroyPaths are the directories DestroyWithXl removes after xl
// destroy for a domain with devices refs (their backends' error
// directories for the domain; their parents go too once empty).
func XlDestroyPaths(domid uint32, refs []DeviceRef) []string {
	var out []string
	for _, r := range sortedKinds(refs) {
		out = append(out, pv.ErrorDir(r.Backend, pv.BackendGuestDir(r.Backend, r.Kind, domid)))
	}
	return out
}

func destroyWithXl(ctx context.Context, c *xsclient.Client, xl string, domid uint32, refs []DeviceRef) error {
	if _, err := runXl(ctx, xl, "destroy", u(domid)); err != nil {
		return err
	}
	for _, r := range sortedKinds(refs) {
		if err := pruneErrorDir(ctx, c, r.Backend, r.Kind, domid); err != nil {
			return fmt.Errorf("removing %s: %w", pv.ErrorDir(r.Backend, pv.BackendGuestDir(r.Backend, r.Kind, domid)), err)
		}
	}
	return nil
}
