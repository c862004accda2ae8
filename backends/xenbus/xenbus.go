// Package xenbus runs the XenBus protocol both ends of a PV device follow
// over XenStore, with the names package pv defines: reading, switching and
// waiting for a XenbusState, the error node a driver writes when it cannot
// go on, the backend's state machine (BackendBus: one driver, every device
// of its kind; backend.go) and the frontend's (FrontendBus; frontend.go),
// and the platform a driver stands on (platform.go).
//
// Where a feature enters and leaves: a device's config-<feature> requests
// enter here (ReadConfig) and go to the driver's Probe, which decides about
// each with schema.Decide; the bus records those decisions (the decision
// nodes and the error node, RecordDecisions) before the device goes
// InitWait. What the driver offers leaves through the keys it writes itself.
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

	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// ReadState reads <dir>/state. A missing node is Unknown (as Linux reads it);
// a value that is not a state is an error wrapping pv.ErrBadState.
func ReadState(ctx context.Context, ops xsclient.Ops, dir string) (pv.State, error) {
	v, err := ops.Read(ctx, dir+"/"+pv.KeyState)
	if errors.Is(err, xswire.ErrNotFound) {
		return pv.Unknown, nil
	}
	if err != nil {
		return pv.Unknown, err
	}
	return pv.ParseState(string(v))
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
func SwitchState(ctx context.Context, c *xsclient.Client, dir string, s pv.State) error {
	return c.Transact(ctx, func(tx *xsclient.Tx) error {
		if err := MustExist(ctx, tx, dir); err != nil {
			return err
		}
		return tx.Write(ctx, dir+"/"+pv.KeyState, []byte(s.Value()))
	})
}

// WriteError writes msg to the error node of the device at devPath, owned by
// dom (pv.ErrorNode).
func WriteError(ctx context.Context, ops xsclient.Ops, dom uint32, devPath, msg string) error {
	p := pv.ErrorNode(dom, devPath)
	if p == "" {
		return fmt.Errorf("xenbus: %s is not under domain %d's home", devPath, dom)
	}
	return ops.Write(ctx, p, []byte(msg))
}

// ClearError removes the error directory of the device at devPath: the error
// node and, for a backend, its decision nodes (pv.ErrorDir).
func ClearError(ctx context.Context, ops xsclient.Ops, dom uint32, devPath string) error {
	d := pv.ErrorDir(dom, devPath)
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
func WaitState(ctx context.Context, c *xsclient.Client, dir string, ok func(pv.State) bool) (pv.State, error) {
	w, err := c.Watch(ctx, dir+"/"+pv.KeyState, "")
	if err != nil {
		return pv.Unknown, err
	}
	defer w.Close(context.WithoutCancel(ctx))
	for {
		select {
		case <-ctx.Done():
			return pv.Unknown, ctx.Err()
		case _, open := <-w.C:
			if !open {
				return pv.Unknown, xsclient.ErrClosed
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
		name, ok := strings.CutPrefix(k, pv.ConfigPrefix)
		if !ok {
			continue
		}
		v, err := ops.Read(ctx, dir+"/"+k)
		if errors.Is(err, xswire.ErrNotFound) {
			continue // removed since the listing: no longer requested
		}
		if err != nil {
			return nil, err
		}
		out[name] = string(v)
	}
	return out, nil
}

// AppendError adds msg as a clause to the error node of a backend's device,
// keeping the clauses already there (the decisions' and earlier ones) and
// not repeating one.
func AppendError(ctx context.Context, c *xsclient.Client, dev *Device, msg string) error {
	return c.Transact(ctx, func(tx *xsclient.Tx) error {
		old, err := tx.ReadString(ctx, pv.ErrorNode(dev.BackendID, dev.Backend))
		if err != nil && !errors.Is(err, xswire.ErrNotFound) {
			return err
		}
		for _, clause := range strings.Split(old, "; ") {
			if clause == msg {
				return nil
			}
		}
		if old != "" {
			msg = old + "; " + msg
		}
		return WriteError(ctx, tx, dev.BackendID, dev.Backend, msg)
	})
}

// NoteUnavailable is what a data path does when its platform lacks an
// ability it needs (err wraps platform.ErrUnavailable): it does not start,
// the device stays connected, and its error node gets the clause
// "data path: <what does not work>: <err>" (AppendError), which is also
// returned for the log.
func NoteUnavailable(ctx context.Context, c *xsclient.Client, dev *Device, what string, err error) (string, error) {
	msg := "data path: " + what + ": " + err.Error()
	if c == nil {
		return msg, nil
	}
	return msg, AppendError(ctx, c, dev, msg)
}

// ReadUintOr is ReadUint with a default for an absent node: how an end
// reads what the other end may not have written (netif.h and blkif.h give
// each optional key's default).
func ReadUintOr(ctx context.Context, ops xsclient.Ops, path string, bits int, def uint64) (uint64, error) {
	v, ok, err := ReadUint(ctx, ops, path, bits)
	if err != nil || !ok {
		return def, err
	}
	return v, nil
}
