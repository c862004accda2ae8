package toolstack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/xfeat/xfeat/xsclient"
)

// StuckError is a wait that ran out of time: it names every device that did
// not get there and the state of both its ends.
type StuckError struct {
	Waited  time.Duration
	Target  string // "Connected", "Closed"
	Devices []DeviceState
	// Errors holds, per device name, the backend's xenbus error message.
	Errors map[string]string
}

func (e *StuckError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "timed out after %s waiting for %d device(s) to reach %s:", e.Waited.Round(time.Millisecond), len(e.Devices), e.Target)
	for _, d := range e.Devices {
		fmt.Fprintf(&b, "\n  %s: backend %s (%s), frontend %s (%s)", d.Name(), StateName(d.BackendState), d.BackendPath,
			StateName(d.FrontendState), d.FrontendPath)
		if msg := e.Errors[d.Name()]; msg != "" {
			fmt.Fprintf(&b, "; backend error: %s", msg)
		}
	}
	return b.String()
}

// DeviceFailedError is a device whose backend or frontend gave up
// (Closing or Closed) while it was being connected.
type DeviceFailedError struct {
	Device DeviceState
	// Message is the backend's xenbus error message, if it wrote one.
	Message string
}

func (e *DeviceFailedError) Error() string {
	d := e.Device
	s := fmt.Sprintf("%s failed to connect: backend %s, frontend %s", d.Name(), StateName(d.BackendState), StateName(d.FrontendState))
	if e.Message != "" {
		s += "; backend error: " + e.Message
	}
	return s
}

// backendError reads the xenbus error message of a device ("" when none).
func backendError(ctx context.Context, ops xsclient.Ops, ref DeviceRef) string {
	v, _, err := readOpt(ctx, ops, ErrorPath(ref.Backend, ref.Kind, ref.Frontend, ref.Devid)+"/error")
	if err != nil {
		return ""
	}
	return v
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
// or Closed, and with a *StuckError when ctx's deadline passes first.
func WaitConnected(ctx context.Context, c *xsclient.Client, refs []DeviceRef, progress func([]DeviceState)) ([]DeviceState, error) {
	start := time.Now()
	paths := make([]string, 0, 2*len(refs))
	for _, r := range refs {
		paths = append(paths, r.BackendPath+"/state", r.FrontendPath+"/state")
	}
	kick, stop, err := watchAll(ctx, c, paths)
	if err != nil {
		return nil, err
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
				return states, err
			}
			states[i] = st
			fmt.Fprintf(&sig, "%d/%d ", st.BackendState, st.FrontendState)
			if st.BackendState >= StateClosing || st.FrontendState >= StateClosing {
				return states, &DeviceFailedError{Device: st, Message: backendError(ctx, c, r)}
			}
			if st.BackendState != StateConnected || st.FrontendState != StateConnected {
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
			return states, stuck(ctx, c, start, "Connected", states, func(s DeviceState) bool {
				return s.BackendState == StateConnected && s.FrontendState == StateConnected
			})
		}
	}
}

func stuck(ctx context.Context, c *xsclient.Client, start time.Time, target string, states []DeviceState, ok func(DeviceState) bool) error {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ctx.Err()
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	e := &StuckError{Waited: time.Since(start), Target: target, Errors: map[string]string{}}
	for _, s := range states {
		if !ok(s) {
			e.Devices = append(e.Devices, s)
			if msg := backendError(rctx, c, s.DeviceRef); msg != "" {
				e.Errors[s.Name()] = msg
			}
		}
	}
	return e
}

// waitClosed waits until every backend is Closed or gone; it returns the
// devices that were not when ctx ended.
func waitClosed(ctx context.Context, c *xsclient.Client, refs []DeviceRef) ([]DeviceState, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	paths := make([]string, 0, len(refs))
	for _, r := range refs {
		paths = append(paths, r.BackendPath+"/state")
	}
	kick, stop, err := watchAll(ctx, c, paths)
	if err != nil {
		return nil, err
	}
	defer stop()
	for {
		var open []DeviceState
		for _, r := range refs {
			st, err := deviceState(ctx, c, r)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				return nil, err
			}
			if st.BackendState != StateClosed && st.BackendState != -1 {
				open = append(open, st)
			}
		}
		if len(open) == 0 {
			return nil, nil
		}
		select {
		case <-kick:
		case <-ctx.Done():
			return open, nil
		}
	}
}
