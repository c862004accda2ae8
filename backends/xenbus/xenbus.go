// Package xenbus holds the XenBus conventions both ends of a PV device follow
// over XenStore: the device paths libxl lays out, the XenbusState values of
// xen/include/public/io/xenbus.h and the helpers to read, switch and wait for
// them, and the error node a driver writes when it cannot go on.
//
// Invariants: states are written as decimal strings, exactly as Linux's
// xenbus_switch_state does; a state node holding anything else is reported as
// an error (a hostile peer's garbage), never as some state. Every helper takes
// an xsclient.Ops or *xsclient.Client and a context, so a caller decides
// whether it runs inside a transaction and how long it may block.
package xenbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// State is a XenbusState (xenbus.h).
type State int

// XenbusState values.
const (
	Unknown       State = 0
	Initialising  State = 1
	InitWait      State = 2
	Initialised   State = 3
	Connected     State = 4
	Closing       State = 5
	Closed        State = 6
	Reconfiguring State = 7
	Reconfigured  State = 8
)

var stateNames = [...]string{"Unknown", "Initialising", "InitWait", "Initialised", "Connected", "Closing", "Closed", "Reconfiguring", "Reconfigured"}

// String returns the name xenbus.h gives s (XenbusStateX without the prefix).
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Valid reports whether s is one of the values xenbus.h defines.
func (s State) Valid() bool { return s >= Unknown && s <= Reconfigured }

// ErrBadState is wrapped by errors about a state node whose value is not a
// XenbusState.
var ErrBadState = errors.New("not a xenbus state")

// ParseState reads the value of a state node. Leading and trailing spaces are
// not accepted, as Linux's xenbus_read_driver_state (sscanf "%d") would read
// only a prefix; a peer that writes anything but a plain decimal state is
// misbehaving and gets an error.
func ParseState(v string) (State, error) {
	n, err := strconv.Atoi(v)
	if err != nil || !State(n).Valid() || strconv.Itoa(n) != v {
		return Unknown, fmt.Errorf("%w: %q", ErrBadState, v)
	}
	return State(n), nil
}

// Kind names a PV device class as it appears in XenStore paths.
const (
	KindVif = "vif"
	KindVbd = "vbd"
)

// DomainPath is the home of a domain.
func DomainPath(domid uint32) string { return "/local/domain/" + strconv.FormatUint(uint64(domid), 10) }

// FrontendPath is the frontend directory of a device:
// /local/domain/<fe>/device/<kind>/<devid>.
func FrontendPath(fe uint32, kind string, devid uint32) string {
	return DomainPath(fe) + "/device/" + kind + "/" + strconv.FormatUint(uint64(devid), 10)
}

// BackendRoot is where a backend domain's devices of one kind live:
// /local/domain/<be>/backend/<kind>.
func BackendRoot(be uint32, kind string) string { return DomainPath(be) + "/backend/" + kind }

// BackendPath is the backend directory of a device:
// /local/domain/<be>/backend/<kind>/<fe>/<devid>.
func BackendPath(be uint32, kind string, fe, devid uint32) string {
	return BackendRoot(be, kind) + "/" + strconv.FormatUint(uint64(fe), 10) + "/" + strconv.FormatUint(uint64(devid), 10)
}

// ErrorPath is the node a driver of domain dom writes its error message to for
// the device whose directory is devPath (a path under dom's home), as Linux's
// xenbus_dev_error does: /local/domain/<dom>/error/<devPath relative to the
// home>/error. devPath outside the home yields "".
func ErrorPath(dom uint32, devPath string) string {
	home := DomainPath(dom) + "/"
	if !strings.HasPrefix(devPath, home) {
		return ""
	}
	return home + "error/" + strings.TrimPrefix(devPath, home) + "/error"
}

// ErrorDir is the directory holding ErrorPath's node; removing it clears the
// error.
func ErrorDir(dom uint32, devPath string) string {
	p := ErrorPath(dom, devPath)
	return strings.TrimSuffix(p, "/error")
}

// ReadState reads <dir>/state. A missing node is Unknown (as Linux reads it);
// a value that is not a state is an error wrapping ErrBadState.
func ReadState(ctx context.Context, ops xsclient.Ops, dir string) (State, error) {
	v, err := ops.Read(ctx, dir+"/state")
	if errors.Is(err, xswire.ErrNotFound) {
		return Unknown, nil
	}
	if err != nil {
		return Unknown, err
	}
	return ParseState(string(v))
}

// ErrGone is returned when a device directory no longer exists.
var ErrGone = errors.New("device directory is gone")

// MustExist fails with ErrGone when dir does not exist. Called first in a
// transaction that writes below dir, it keeps a driver that has not yet
// seen its device removed from creating the directory again, with wrong
// permissions, under a toolstack about to write it anew.
func MustExist(ctx context.Context, ops xsclient.Ops, dir string) error {
	ok, err := ops.Exists(ctx, dir)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: %w", dir, ErrGone)
	}
	return nil
}

// SwitchState writes s to <dir>/state, if dir still exists.
func SwitchState(ctx context.Context, c *xsclient.Client, dir string, s State) error {
	return c.Transact(ctx, func(tx *xsclient.Tx) error {
		if err := MustExist(ctx, tx, dir); err != nil {
			return err
		}
		return tx.Write(ctx, dir+"/state", []byte(strconv.Itoa(int(s))))
	})
}

// WriteError writes msg to the error node of the device at devPath, owned by
// dom (see ErrorPath).
func WriteError(ctx context.Context, ops xsclient.Ops, dom uint32, devPath, msg string) error {
	p := ErrorPath(dom, devPath)
	if p == "" {
		return fmt.Errorf("xenbus: %s is not under domain %d's home", devPath, dom)
	}
	return ops.Write(ctx, p, []byte(msg))
}

// ClearError removes the error node of the device at devPath.
func ClearError(ctx context.Context, ops xsclient.Ops, dom uint32, devPath string) error {
	d := ErrorDir(dom, devPath)
	if d == "" {
		return nil
	}
	err := ops.Rm(ctx, d)
	if errors.Is(err, xswire.ErrNotFound) {
		return nil
	}
	return err
}

// WaitState watches <dir>/state until ok accepts the state and returns it.
// A state node holding garbage is returned as an error at once: the caller
// decides what the peer's misbehaviour costs it.
func WaitState(ctx context.Context, c *xsclient.Client, dir string, ok func(State) bool) (State, error) {
	w, err := c.Watch(ctx, dir+"/state", "")
	if err != nil {
		return Unknown, err
	}
	defer w.Close(context.WithoutCancel(ctx))
	for {
		select {
		case <-ctx.Done():
			return Unknown, ctx.Err()
		case _, open := <-w.C:
			if !open {
				return Unknown, xsclient.ErrClosed
			}
		}
		s, err := ReadState(ctx, c, dir)
		if err != nil {
			return s, err
		}
		if ok(s) {
			return s, nil
		}
	}
}

// ReadUint reads a decimal unsigned integer node of at most bits bits.
// Absent is (0, false, nil); anything but a plain decimal is an error naming
// the node.
func ReadUint(ctx context.Context, ops xsclient.Ops, path string, bits int) (uint64, bool, error) {
	v, err := ops.Read(ctx, path)
	if errors.Is(err, xswire.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	n, err := strconv.ParseUint(string(v), 10, bits)
	if err != nil {
		return 0, true, fmt.Errorf("%s: %q is not an unsigned %d-bit decimal", path, v, bits)
	}
	return n, true, nil
}

// ReadBool reads a 0/1 node; absent is def.
func ReadBool(ctx context.Context, ops xsclient.Ops, path string, def bool) (bool, error) {
	n, ok, err := ReadUint(ctx, ops, path, 32)
	if err != nil || !ok {
		return def, err
	}
	return n != 0, nil
}

// ReadConfig returns the config-<name> requests in a device's backend
// directory, by feature name (the prefix stripped).
func ReadConfig(ctx context.Context, ops xsclient.Ops, dir string) (map[string]string, error) {
	keys, err := ops.Directory(ctx, dir)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, k := range keys {
		name, ok := strings.CutPrefix(k, "config-")
		if !ok {
			continue
		}
		v, err := ops.Read(ctx, dir+"/"+k)
		if err != nil {
			return nil, err
		}
		out[name] = string(v)
	}
	return out, nil
}
