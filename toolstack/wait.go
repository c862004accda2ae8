package toolstack

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xsclient"
)

// StuckError is a wait that ran out of time: it names every device that did
// not get there and the state of both its ends.
type StuckError struct {
	Waited  time.Duration
	Target  string // "Connected", "Closed"
	Devices []DeviceState
	// Reasons holds, per device name, what its ends wrote in their
	// xenbus error nodes (only devices with one).
	Reasons map[string]Reasons
}

func (e *StuckError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "timed out after %s waiting for %d device(s) to reach %s:", e.Waited.Round(time.Millisecond), len(e.Devices), e.Target)
	for _, d := range e.Devices {
		fmt.Fprintf(&b, "\n  %s: backend %s (%s), frontend %s (%s)%s", d.Name(), d.BackendState, d.BackendPath,
			d.FrontendState, d.FrontendPath, e.Reasons[d.Name()])
	}
	return b.String()
}

// DeviceFailedError is a device whose backend or frontend gave up
// (Closing or Closed) while it was being connected.
type DeviceFailedError struct {
	Device DeviceState
	// Reasons are what the two ends wrote in their xenbus error nodes.
	Reasons Reasons
}

func (e *DeviceFailedError) Error() string {
	d := e.Device
	return fmt.Sprintf("%s failed to connect: backend %s, frontend %s%s", d.Name(), d.BackendState, d.FrontendState, e.Reasons)
}

// Reasons are the messages a device's backend and frontend wrote in their
// xenbus error nodes ("" where none).
type Reasons struct {
	Backend, Frontend string
}

// maxReason bounds what of an error message is quoted: the frontend's is
// the guest's to write, up to a whole XenStore value.
const maxReason = 256

// String is "; backend error: "..."; frontend error: "..."", quoted (a
// guest's text never reaches a terminal raw), or "" when neither wrote one.
func (r Reasons) String() string {
	var b strings.Builder
	for _, e := range [][2]string{{"backend", r.Backend}, {"frontend", r.Frontend}} {
		if e[1] == "" {
			continue
		}
		msg := e[1]
		if len(msg) > maxReason {
			msg = msg[:maxReason] + "..."
		}
		fmt.Fprintf(&b, "; %s error: %s", e[0], strconv.Quote(msg))
	}
	return b.String()
}

// reasons reads the xenbus error nodes of a device's two ends.
func reasons(ctx context.Context, ops xsclient.Ops, ref DeviceRef) Reasons {
	read := func(path string) string {
		v, _, err := readOpt(ctx, ops, path)
		if err != nil {
			return ""
		}
		return v
	}
	return Reasons{Backend: read(pv.ErrorNode(ref.Backend, ref.BackendPath)),
		Frontend: read(pv.ErrorNode(ref.Frontend, ref.FrontendPath))}
}

// watchAll registers a watch on each path and returns a channel that
// receives (coalesced) when any of them fires, and a function closing them.
func watchAll(ctx context.Context, c *xsclient.Client, paths []string) (<-chan struct{}, func(), error) {
	kick := make(chan struct{}, 1)
	var ws []*xsclient.Watch
	stop := func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		for _, w := range ws {
			_ = w.Close(cctx)
		}
	}
	for _, p := range paths {
		w, err := c.Watch(ctx, p, "")
		if err != nil {
			stop()
			return nil, nil, err
		}
		ws = append(ws, w)
		go func() {
			for range w.C {
				select {
				case kick <- struct{}{}:
				default:
				}
			}
		}()
	}
	return kick, stop, nil
}

// WaitConnected waits until the backend and frontend of every device are
// Connected. progress, if set, is called with the states whenever they
// change. It fails early with a *DeviceFailedError when a side goes Closing
// or Closed, and with a *StuckError when ctx's deadline passes first,
// whatever it was doing then (setting its watches up, reading a state).
func WaitConnected(ctx context.Context, c *xsclient.Client, refs []DeviceRef, progress func([]DeviceState)) ([]DeviceState, error) {
	start := time.Now()
	connected := func(s DeviceState) bool {
		return s.BackendState == pv.Connected && s.FrontendState == pv.Connected
	}
	paths := make([]string, 0, 2*len(refs))
	for _, r := range refs {
		paths = append(paths, r.BackendPath+"/"+pv.KeyState, r.FrontendPath+"/"+pv.KeyState)
	}
	kick, stop, err := watchAll(ctx, c, paths)
	if err != nil {
		return timedOut(ctx, c, start, "Connected", refs, connected, err)
	}
	defer stop()
	states := make([]DeviceState, len(refs))
	var last string
	for {
		done := true
		var sig strings.Builder
		for i, r := range refs {
			st, err := deviceState(ctx, c, r)
			if err != nil {
				return timedOut(ctx, c, start, "Connected", refs, connected, err)
			}
			states[i] = st
			fmt.Fprintf(&sig, "%d/%d ", st.BackendState, st.FrontendState)
			if st.BackendState >= pv.Closing || st.FrontendState >= pv.Closing {
				return states, &DeviceFailedError{Device: st, Reasons: reasons(ctx, c, r)}
			}
			if !connected(st) {
				done = false
			}
		}
		if progress != nil && sig.String() != last {
			last = sig.String()
			progress(states)
		}
		if done {
			return states, nil
		}
		select {
		case <-kick:
		case <-ctx.Done():
			return timedOut(ctx, c, start, "Connected", refs, connected, ctx.Err())
		}
	}
}

// timedOut turns err, met while waiting for refs to reach target, into a
// *StuckError when ctx's deadline has passed: every device not there, read
// again with a context of its own so that both states and error nodes are
// what they are now. Any other err (cancellation included) is returned as
// it is. Should every device have got there after all, the error is nil.
// The states are those read last.
func timedOut(ctx context.Context, c *xsclient.Client, start time.Time, target string, refs []DeviceRef, ok func(DeviceState) bool, err error) ([]DeviceState, error) {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		if err == nil {
			err = ctx.Err()
		}
		return nil, err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	e := &StuckError{Waited: time.Since(start), Target: target, Reasons: map[string]Reasons{}}
	states := make([]DeviceState, len(refs))
	for i, r := range refs {
		st, rerr := deviceState(rctx, c, r)
		if rerr != nil {
			return nil, fmt.Errorf("reading the state of %s after waiting %s: %w", r.Name(), e.Waited.Round(time.Millisecond), rerr)
		}
		states[i] = st
		if ok(st) {
			continue
		}
		e.Devices = append(e.Devices, st)
		if why := reasons(rctx, c, r); why != (Reasons{}) {
			e.Reasons[st.Name()] = why
		}
	}
	if len(e.Devices) == 0 {
		return states, nil
	}
	return states, e
}

// waitClosed waits until every backend is Closed or gone; it returns the
// devices that were not when ctx's deadline passed (whatever it was doing
// then).
func waitClosed(ctx context.Context, c *xsclient.Client, refs []DeviceRef) ([]DeviceState, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	start := time.Now()
	closed := func(s DeviceState) bool { return s.BackendState == pv.Closed || s.BackendState == pv.Absent }
	open := func(err error) ([]DeviceState, error) {
		_, err = timedOut(ctx, c, start, "Closed", refs, closed, err)
		var stuck *StuckError
		if errors.As(err, &stuck) {
			return stuck.Devices, nil
		}
		return nil, err
	}
	paths := make([]string, 0, len(refs))
	for _, r := range refs {
		paths = append(paths, r.BackendPath+"/"+pv.KeyState)
	}
	kick, stop, err := watchAll(ctx, c, paths)
	if err != nil {
		return open(err)
	}
	defer stop()
	for {
		done := true
		for _, r := range refs {
			st, err := deviceState(ctx, c, r)
			if err != nil {
				return open(err)
			}
			done = done && closed(st)
		}
		if done {
			return nil, nil
		}
		select {
		case <-kick:
		case <-ctx.Done():
			return open(ctx.Err())
		}
	}
}
