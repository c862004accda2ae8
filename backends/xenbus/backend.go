package xenbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/xsclient"
)

// Device names one PV device from the backend's side.
type Device struct {
	Kind       pv.Kind
	BackendID  uint32
	FrontendID uint32
	DevID      uint32
	Backend    string // backend directory
	Frontend   string // frontend directory, as the backend dir's "frontend" key says
}

func (d *Device) String() string {
	return fmt.Sprintf("%s %d/%d", d.Kind, d.FrontendID, d.DevID)
}

// BackendDriver is one device class's backend (netback, blkback). The
// state machine (BackendBus) calls it from one goroutine per device.
type BackendDriver interface {
	// Kind is the backend directory's device kind (vif, vbd).
	Kind() pv.Kind
	// Schema is what the driver advertises under backend/<kind>/features.
	Schema(backend uint32) *schema.Schema
	// Probe reads the device's backend keys and its config-* requests
	// (ReadConfig), decides about each request with schema.Decide,
	// applies the decisions and writes the keys the frontend sees. It
	// returns the decisions, one per request, which the bus records
	// (RecordDecisions) whether or not the device goes on; a non-nil
	// error fails the device.
	Probe(ctx context.Context, c *xsclient.Client, dev *Device) (h DeviceHandler, decisions []schema.Decision, err error)
}

// DeviceHandler is one device's driver instance.
type DeviceHandler interface {
	// Connect reads the frontend's transport keys, maps the rings, binds
	// the event channels and publishes what the frontend reads at connect.
	// An error fails the device (the handler must have released whatever it
	// acquired before returning it).
	Connect(ctx context.Context, c *xsclient.Client) error
	// Disconnect unmaps and unbinds everything Connect acquired. It is
	// idempotent.
	Disconnect()
}

// The backend's state machine, one goroutine per device (serveDevice).
//
// First the device is probed: its frontend path checked against libxl's
// layout, its requests decided by the driver and recorded, and InitWait
// written (a failed probe writes Closing instead, with the error node
// saying why). From then on, every time a watch fires (the backend
// directory or the frontend's state), the device is read once
// (readDevice) and what was read becomes one event (classify, first match
// wins); the row of backendTable for that event and the state this backend
// last wrote says what to do and which state to write:
//
//	event             when                                           last written         action      writes
//	gone              the backend directory was removed              any                  stop        -
//	rewritten         its state is Initialising again, not by us     not Unknown, Init.   again       -
//	teardown          teardownRequested, our state not yet Closed    any                  disconnect  Closed
//	closedAsAsked     teardownRequested, Closed already              any                  -           -
//	frontendGone      the frontend directory was removed             not Closed           disconnect  Closed
//	readFailed        a node could not be read (not: was absent)     not Closed           fail        Closing
//	requestsChanged   config-* differ from what the probe read, the  InitWait             probe       -
//	                  frontend not started (Initialising, Unknown)
//	frontendReady     the frontend is Initialised or Connected       InitWait, Closing    connect     Connected
//	frontendRestarts  the frontend is Initialising                   Closing, Closed      -           InitWait
//	frontendClosing   the frontend is Closing                        not Closing, Closed  disconnect  Closing
//	frontendClosed    the frontend is Closed                         not Closed           disconnect  Closed
//
// Any other combination does nothing. Once the device has failed (fail:
// the error node says why, the device is disconnected and Closing is
// written), only the first five rows apply: a failed device waits for the
// toolstack to tear it down or write it anew. "stop" ends the goroutine
// (the device is gone); "again" serves the directory from the start (the
// toolstack wrote the device anew before this goroutine saw it go);
// "probe" probes the device again: on a real host xl writes the device and
// the toolstack its config-* requests afterwards, while the domain is
// paused, so requests that come before the frontend starts are decided,
// recorded and offered as if they had been there from the start.
//
// When the bus stops (its context ends) with CloseOnStop set, every device
// that got past InitWait is disconnected and Closed is written, as Linux's
// backend drivers do when they are unloaded: the frontend sees its backend
// go. A device still InitWait is left so, for a backend started again.

// event is what one look at a device found (classify).
type event int

const (
	evNone event = iota
	evGone
	evRewritten
	evTeardown
	evClosedAsAsked
	evFrontendGone
	evReadFailed
	evRequestsChanged
	evFrontendReady
	evFrontendRestarts
	evFrontendClosing
	evFrontendClosed
)

// action is what a row of backendTable does before writing its state.
type action int

const (
	actNothing    action = iota
	actStop              // the device is gone: clear its error directory and return
	actAgain             // the directory was written anew: release and serve it again
	actDisconnect        // unmap and unbind what Connect acquired
	actConnect           // the handler's Connect; failing it fails the device
	actFail              // the device fails (error node, Closing)
	actProbe             // probe again: decide, record and offer the requests now there
)

// transition is one row of backendTable.
type transition struct {
	on     event
	from   func(last pv.State) bool // the state this backend last wrote
	do     action
	writes pv.State // pv.Absent: writes nothing
}

func anyState(pv.State) bool { return true }

func in(states ...pv.State) func(pv.State) bool {
	return func(s pv.State) bool { return slices.Contains(states, s) }
}

func notIn(states ...pv.State) func(pv.State) bool {
	return func(s pv.State) bool { return !slices.Contains(states, s) }
}

var backendTable = []transition{
	{evGone, anyState, actStop, pv.Absent},
	{evRewritten, notIn(pv.Unknown, pv.Initialising), actAgain, pv.Absent},
	{evTeardown, anyState, actDisconnect, pv.Closed},
	{evClosedAsAsked, anyState, actNothing, pv.Absent},
	{evFrontendGone, notIn(pv.Closed), actDisconnect, pv.Closed},
	{evReadFailed, notIn(pv.Closed), actFail, pv.Closing},
	{evRequestsChanged, in(pv.InitWait), actProbe, pv.Absent},
	{evFrontendReady, in(pv.InitWait, pv.Closing), actConnect, pv.Connected},
	{evFrontendRestarts, in(pv.Closing, pv.Closed), actNothing, pv.InitWait},
	{evFrontendClosing, notIn(pv.Closing, pv.Closed), actDisconnect, pv.Closing},
	{evFrontendClosed, notIn(pv.Closed), actDisconnect, pv.Closed},
}

// afterFailure is how many rows of backendTable apply to a failed device.
const afterFailure = 5

// lookup returns the row for ev when this backend last wrote last.
func lookup(ev event, last pv.State, failed bool) (transition, bool) {
	rows := backendTable
	if failed {
		rows = rows[:afterFailure]
	}
	for _, t := range rows {
		if t.on == ev && t.from(last) {
			return t, true
		}
	}
	return transition{}, false
}

// teardownRequested is the toolstack asking the backend to close the
// device, as libxl's device removal does: online = 0, or a Closing this
// backend did not write, or a Closed it did not write (another toolstack
// might write Closed directly).
func teardownRequested(online bool, own, last pv.State) bool {
	return !online || (own == pv.Closing && own != last) || (own == pv.Closed && last != pv.Closed)
}

// deviceView is what one look at a device read.
type deviceView struct {
	dirGone bool
	online  bool
	own     pv.State // the backend's state node
	// backendErr is a read of the backend directory that failed (not: a
	// node that is absent); nothing after it was read.
	backendErr   error
	frontendGone bool
	front        pv.State
	frontendErr  error // the same for the frontend directory
	// requestsChanged: the config-* requests differ from those the last
	// probe read (looked at only while this backend last wrote InitWait).
	requestsChanged bool
}

// readDevice reads what classify needs. An absent online node is online
// (libxl always writes it); an online or state node holding garbage is a
// failed read, never a value.
func readDevice(ctx context.Context, c *xsclient.Client, dev *Device) (v deviceView) {
	ok, err := c.Exists(ctx, dev.Backend)
	if err != nil {
		v.backendErr = err
		return v
	}
	if v.dirGone = !ok; v.dirGone {
		return v
	}
	if v.online, err = ReadBool(ctx, c, dev.Backend+"/"+pv.KeyOnline, true); err != nil {
		v.backendErr = err
		return v
	}
	if v.own, err = ReadState(ctx, c, dev.Backend); err != nil {
		v.backendErr = fmt.Errorf("own state: %w", err)
		return v
	}
	if ok, err = c.Exists(ctx, dev.Frontend); err != nil {
		v.frontendErr = err
		return v
	}
	if v.frontendGone = !ok; v.frontendGone {
		return v
	}
	if v.front, err = ReadState(ctx, c, dev.Frontend); err != nil {
		v.frontendErr = fmt.Errorf("frontend state: %v", err)
	}
	return v
}

// err is the failed read of v, if any.
func (v deviceView) err() error {
	if v.backendErr != nil {
		return v.backendErr
	}
	return v.frontendErr
}

// classify turns a look at the device into the event of backendTable it
// is: the first that applies, in the table's order (a failed read of the
// backend directory first: nothing else was read).
func classify(v deviceView, last pv.State) event {
	teardown := v.backendErr == nil && teardownRequested(v.online, v.own, last)
	switch {
	case v.backendErr != nil:
		return evReadFailed
	case v.dirGone:
		return evGone
	case v.own == pv.Initialising && last != pv.Unknown && last != pv.Initialising:
		return evRewritten
	case teardown && !(last == pv.Closed && v.own == pv.Closed):
		return evTeardown
	case teardown:
		return evClosedAsAsked
	case v.frontendGone:
		return evFrontendGone
	case v.frontendErr != nil:
		return evReadFailed
	}
	if v.requestsChanged && last == pv.InitWait && (v.front == pv.Initialising || v.front == pv.Unknown) {
		return evRequestsChanged
	}
	switch v.front {
	case pv.Initialised, pv.Connected:
		return evFrontendReady
	case pv.Initialising:
		return evFrontendRestarts
	case pv.Closing:
		return evFrontendClosing
	case pv.Closed:
		return evFrontendClosed
	}
	return evNone
}

// serveDevice runs the state machine of one device. It returns when the
// backend directory is gone or ctx is done (false), or when the directory
// was written anew (true), having released everything.
func (b *BackendBus) serveDevice(ctx context.Context, d *backendDevice) (again bool) {
	dev := &d.dev
	c := b.Client
	var (
		h         DeviceHandler
		last      = pv.Unknown // what this backend last wrote to its state
		connected bool
		failed    bool
		notes     []string // the error node's clauses
	)
	setState := func(s pv.State) {
		if err := SwitchState(ctx, c, dev.Backend, s); err != nil {
			b.logf("%s: switching to %s: %v", dev, s, err)
			return
		}
		last = s
		d.mu.Lock()
		d.state = s
		d.mu.Unlock()
	}
	disconnect := func() {
		if h != nil && connected {
			h.Disconnect()
		}
		connected = false
	}
	fail := func(err error) {
		if ctx.Err() != nil || errors.Is(err, xsclient.ErrClosed) {
			return // the host is stopping: not the device's fault
		}
		disconnect()
		failed = true
		notes = append(notes, err.Error())
		b.logf("%s: device failed: %v", dev, err)
		b.publishError(ctx, d, notes)
		setState(pv.Closing)
	}
	defer func() {
		disconnect()
		// A handler holding more than its connection (blkback's image)
		// lets go of it once the device is gone.
		if cl, ok := h.(io.Closer); ok {
			cl.Close()
		}
	}()

	// probe asks the driver, records its decisions and returns the
	// driver's error; probed is what config-* held just before.
	var probed map[string]string
	probe := func() error {
		ClearError(ctx, c, dev.BackendID, dev.Backend)
		probed, _ = ReadConfig(ctx, c, dev.Backend)
		nh, decisions, err := b.Driver.Probe(ctx, c, dev)
		// A handler probed again takes over from the old one, which lets
		// go of what it held (blkback's image) after: what both hold
		// (a vif's host interface) is kept.
		if cl, ok := h.(io.Closer); ok {
			cl.Close()
		}
		h = nh
		notes = ErrorNotes(decisions)
		for _, n := range notes {
			b.logf("%s: %s", dev, n)
		}
		if rerr := RecordDecisions(ctx, c, dev, decisions); rerr != nil {
			b.logf("%s: recording the decisions: %v", dev, rerr)
		}
		d.mu.Lock()
		d.err = strings.Join(notes, "; ")
		d.mu.Unlock()
		return err
	}

	// Probe. A frontend path that is not the one libxl lays out for this
	// device would let one guest's device point at another's directory.
	if want := pv.FrontendPath(dev.FrontendID, dev.Kind, dev.DevID); dev.Frontend != want {
		fail(fmt.Errorf("frontend: %q is not %s", dev.Frontend, want))
	} else if err := probe(); err != nil {
		fail(err)
	} else {
		setState(pv.InitWait)
	}

	w, err := watchDevice(ctx, c, dev.Backend, dev.Frontend+"/"+pv.KeyState)
	if err != nil {
		return false
	}
	defer w.close(ctx)
	for w.wait(ctx) {
		view := readDevice(ctx, c, dev)
		if err := view.err(); err != nil && (ctx.Err() != nil || errors.Is(err, xsclient.ErrClosed)) {
			break
		}
		if last == pv.InitWait && !failed && view.err() == nil && !view.dirGone {
			reqs, err := ReadConfig(ctx, c, dev.Backend)
			if err != nil {
				view.backendErr = fmt.Errorf("config: %w", err)
			} else {
				view.requestsChanged = !maps.Equal(reqs, probed)
			}
		}
		ev := classify(view, last)
		t, ok := lookup(ev, last, failed)
		if !ok {
			continue
		}
		switch t.do {
		case actStop:
			// The toolstack removed the device: its error
			// directory goes with it.
			ClearError(ctx, c, dev.BackendID, dev.Backend)
			return false
		case actAgain:
			b.logf("%s: written anew by the toolstack", dev)
			return true
		case actDisconnect:
			disconnect()
		case actFail:
			fail(view.err())
			continue // fail wrote Closing
		case actProbe:
			b.logf("%s: requests changed before the frontend started: probing again", dev)
			if err := probe(); err != nil {
				fail(err)
			}
			continue
		case actConnect:
			if connected || h == nil {
				continue
			}
			if err := h.Connect(ctx, c); err != nil {
				fail(err)
				continue
			}
			connected = true
		}
		if t.writes != pv.Absent {
			setState(t.writes)
			switch ev {
			case evTeardown:
				b.logf("%s: closed", dev)
			case evFrontendGone:
				b.logf("%s: frontend gone: closed", dev)
			case evFrontendReady:
				b.logf("%s: connected", dev)
			}
		}
	}
	if ctx.Err() != nil && b.CloseOnStop && last != pv.Unknown && last != pv.InitWait && last != pv.Closed {
		// The bus stops: nothing serves the device any more. One still
		// waiting for its frontend (InitWait) holds nothing: left so, a
		// backend started again serves it.
		disconnect()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeOnStopLimit)
		defer cancel()
		if err := SwitchState(sctx, c, dev.Backend, pv.Closed); err != nil {
			b.logf("%s: closing as the backend stops: %v", dev, err)
		} else {
			b.logf("%s: closed (the backend stops)", dev)
		}
	}
	return false
}

// closeOnStopLimit bounds writing Closed for a device when the bus stops.
const closeOnStopLimit = 5 * time.Second

// ErrorNotes are the error node's clauses for decisions: one
// schema.ErrorNote for each request not applied as asked.
func ErrorNotes(decisions []schema.Decision) []string {
	var notes []string
	for _, dec := range decisions {
		if dec.Action != schema.Apply {
			notes = append(notes, schema.ErrorNote(dec.Feature, dec.Reason))
		}
	}
	return notes
}

// RecordDecisions records what the backend decided about each of a
// device's requests, in one transaction: a decision node per request
// (pv.DecisionNode, schema.Decision.Record) and, when any was not applied
// as asked, the error node naming them for people (ErrorNotes). The
// toolstack reads the decision nodes for its verdict (never the message);
// the guest can neither read nor write them (they are below the backend's
// home, as its requests are [n<backend>]).
func RecordDecisions(ctx context.Context, c *xsclient.Client, dev *Device, decisions []schema.Decision) error {
	if len(decisions) == 0 {
		return nil
	}
	notes := ErrorNotes(decisions)
	return c.Transact(ctx, func(tx *xsclient.Tx) error {
		if err := MustExist(ctx, tx, dev.Backend); err != nil {
			return err
		}
		for _, dec := range decisions {
			p := pv.DecisionNode(dev.BackendID, dev.Backend, dec.Feature)
			if p == "" {
				return fmt.Errorf("xenbus: %s is not under domain %d's home", dev.Backend, dev.BackendID)
			}
			if err := tx.Write(ctx, p, []byte(dec.Record())); err != nil {
				return err
			}
		}
		if len(notes) == 0 {
			return nil
		}
		return WriteError(ctx, tx, dev.BackendID, dev.Backend, strings.Join(notes, "; "))
	})
}

// publishError writes notes to the device's error node (failures after the
// probe: the decisions stay recorded).
func (b *BackendBus) publishError(ctx context.Context, d *backendDevice, notes []string) {
	msg := strings.Join(notes, "; ")
	d.mu.Lock()
	d.err = msg
	d.mu.Unlock()
	if err := WriteError(ctx, b.Client, d.dev.BackendID, d.dev.Backend, msg); err != nil {
		b.logf("%s: writing the error node: %v", &d.dev, err)
	}
}
