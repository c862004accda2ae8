package xenbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// Device names one PV device from the backend's side.
type Device struct {
	Kind       string // vif, vbd
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
	Kind() string
	// Schema is what the driver advertises under backend/<kind>/features.
	Schema(backend uint32) *schema.Schema
	// Probe reads the device's backend keys and config-*, checks them
	// against the driver's limits and writes the keys the frontend sees.
	// notes are schema.ErrorNote clauses for requests it clamped or
	// refused; the device still goes on. A non-nil error fails the device.
	Probe(ctx context.Context, c *xsclient.Client, dev *Device) (h DeviceHandler, notes []string, err error)
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

// BackendBus runs the backend half of the xenbus protocol for one driver:
// it advertises the schema, watches for devices, and drives each device
// through InitWait, Connected, Closing and Closed. A device that fails
// (bad config, a misbehaving frontend) is switched to Closing with an
// error node; nothing it does reaches another device.
type BackendBus struct {
	Client    *xsclient.Client
	BackendID uint32
	Driver    BackendDriver
	Logf      func(format string, args ...any)

	advertised atomic.Bool
	mu         sync.Mutex
	devices    map[string]*backendDevice // by "<fe>/<devid>"
	wg         sync.WaitGroup
}

type backendDevice struct {
	dev    Device
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	state State
	err   string
}

// DeviceStatus is a snapshot of one device as its backend sees it.
type DeviceStatus struct {
	Device
	State State
	Error string // the error node's message, "" if none
}

func (b *BackendBus) logf(format string, args ...any) {
	if b.Logf != nil {
		b.Logf(format, args...)
	}
}

// Advertise writes the driver's schema under backend/<kind>/features.
func (b *BackendBus) Advertise(ctx context.Context) error {
	s := b.Driver.Schema(b.BackendID)
	err := b.Client.Transact(ctx, func(tx *xsclient.Tx) error {
		if err := tx.Rm(ctx, s.Dir()); err != nil && !errors.Is(err, xswire.ErrNotFound) {
			return err
		}
		for k, v := range s.Entries() {
			if err := tx.Write(ctx, s.Dir()+"/"+k, []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		b.advertised.Store(true)
	}
	return err
}

// Run advertises the schema and serves devices until ctx is done; then every
// device is disconnected and Run returns.
func (b *BackendBus) Run(ctx context.Context) error {
	b.mu.Lock()
	b.devices = map[string]*backendDevice{}
	b.mu.Unlock()
	if !b.advertised.Load() {
		if err := b.Advertise(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%s backend: advertising the schema: %w", b.Driver.Kind(), err)
		}
	}
	root := BackendRoot(b.BackendID, b.Driver.Kind())
	w, err := b.Client.Watch(ctx, root, "")
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer func() {
		w.Close(context.WithoutCancel(ctx))
		b.mu.Lock()
		for _, d := range b.devices {
			d.cancel()
		}
		b.mu.Unlock()
		b.wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.C:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("%s backend: xenstore connection lost", b.Driver.Kind())
			}
			b.scan(ctx, root, ev.Path)
		}
	}
}

// scan starts a goroutine for every device directory below root that has
// none. An event below one device only looks at that device.
func (b *BackendBus) scan(ctx context.Context, root, evPath string) {
	rel := strings.TrimPrefix(strings.TrimPrefix(evPath, root), "/")
	parts := strings.SplitN(rel, "/", 3)
	if len(parts) >= 2 {
		b.consider(ctx, parts[0], parts[1])
		return
	}
	fes, err := b.Client.Directory(ctx, root)
	if err != nil {
		return
	}
	for _, fe := range fes {
		if len(parts) == 1 && parts[0] != "" && parts[0] != fe {
			continue
		}
		devs, err := b.Client.Directory(ctx, root+"/"+fe)
		if err != nil {
			continue
		}
		for _, d := range devs {
			b.consider(ctx, fe, d)
		}
	}
}

func parseID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || strconv.FormatUint(n, 10) != s {
		return 0, false
	}
	return uint32(n), true
}

func (b *BackendBus) consider(ctx context.Context, feS, devS string) {
	fe, ok1 := parseID(feS)
	devid, ok2 := parseID(devS)
	if !ok1 || !ok2 {
		return // "features" and anything else that is not a device
	}
	key := feS + "/" + devS
	b.mu.Lock()
	_, running := b.devices[key]
	b.mu.Unlock()
	if running {
		return
	}
	dir := BackendRoot(b.BackendID, b.Driver.Kind()) + "/" + key
	// The toolstack writes a device in one transaction; until its
	// frontend link is there the directory is not a device (yet).
	fpath, err := b.Client.ReadString(ctx, dir+"/frontend")
	if err != nil {
		return
	}
	if st, err := ReadState(ctx, b.Client, dir); err == nil && st == Closed {
		return // a device we (or a previous host) already closed
	}
	dctx, cancel := context.WithCancel(ctx)
	d := &backendDevice{
		dev: Device{Kind: b.Driver.Kind(), BackendID: b.BackendID, FrontendID: fe, DevID: devid,
			Backend: dir, Frontend: fpath},
		cancel: cancel, done: make(chan struct{}),
	}
	b.mu.Lock()
	if _, running := b.devices[key]; running {
		b.mu.Unlock()
		cancel()
		return
	}
	b.devices[key] = d
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		defer close(d.done)
		b.runDevice(dctx, d)
		cancel()
		b.mu.Lock()
		if b.devices[key] == d {
			delete(b.devices, key)
		}
		b.mu.Unlock()
		// The toolstack may have written the directory anew while
		// this goroutine was leaving (the watch event that said so
		// found it still registered): look once more.
		if ctx.Err() == nil {
			b.consider(ctx, feS, devS)
		}
	}()
}

// Devices returns a snapshot of the devices being served, sorted.
func (b *BackendBus) Devices() []DeviceStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []DeviceStatus
	for _, k := range slices.Sorted(maps.Keys(b.devices)) {
		d := b.devices[k]
		d.mu.Lock()
		out = append(out, DeviceStatus{Device: d.dev, State: d.state, Error: d.err})
		d.mu.Unlock()
	}
	return out
}

// runDevice serves one device directory until it is gone or ctx is done.
// A directory the toolstack removed and wrote again (state back to
// Initialising) before this goroutine saw it go is a new device: it is
// served again from the start.
func (b *BackendBus) runDevice(ctx context.Context, d *backendDevice) {
	for b.serveDevice(ctx, d) {
		fpath, err := b.Client.ReadString(ctx, d.dev.Backend+"/frontend")
		if err != nil {
			return
		}
		d.mu.Lock()
		d.dev.Frontend, d.state, d.err = fpath, Unknown, ""
		d.mu.Unlock()
	}
}

// serveDevice is one device's state machine. It returns when the backend
// directory is gone or ctx is done (false), or when the directory was
// written anew (true), having released everything.
func (b *BackendBus) serveDevice(ctx context.Context, d *backendDevice) (again bool) {
	dev := &d.dev
	c := b.Client
	var (
		h         DeviceHandler
		written   State = Unknown // what this backend last wrote to its state
		connected bool
		failed    bool
		notes     []string
	)
	setState := func(s State) {
		if err := SwitchState(ctx, c, dev.Backend, s); err != nil {
			b.logf("%s: switching to %s: %v", dev, s, err)
			return
		}
		written = s
		d.mu.Lock()
		d.state = s
		d.mu.Unlock()
	}
	publishError := func() {
		msg := strings.Join(notes, "; ")
		d.mu.Lock()
		d.err = msg
		d.mu.Unlock()
		if msg == "" {
			ClearError(ctx, c, dev.BackendID, dev.Backend)
			return
		}
		if err := WriteError(ctx, c, dev.BackendID, dev.Backend, msg); err != nil {
			b.logf("%s: writing the error node: %v", dev, err)
		}
	}
	disconnect := func() {
		if h != nil && connected {
			h.Disconnect()
		}
		connected = false
	}
	fail := func(err error) {
		if ctx.Err() != nil {
			return // the host is stopping: not the device's fault
		}
		disconnect()
		failed = true
		notes = append(notes, err.Error())
		b.logf("%s: device failed: %v", dev, err)
		publishError()
		setState(Closing)
	}
	defer func() {
		disconnect()
		// A handler holding more than its connection (blkback's image)
		// lets go of it once the device is gone.
		if cl, ok := h.(io.Closer); ok {
			cl.Close()
		}
	}()

	// A frontend path that is not the one libxl lays out for this device
	// would let one guest's device point at another's directory.
	if want := FrontendPath(dev.FrontendID, dev.Kind, dev.DevID); dev.Frontend != want {
		fail(fmt.Errorf("frontend: %q is not %s", dev.Frontend, want))
	} else {
		ClearError(ctx, c, dev.BackendID, dev.Backend)
		var err error
		h, notes, err = b.Driver.Probe(ctx, c, dev)
		for _, n := range notes {
			b.logf("%s: %s", dev, n)
		}
		if err != nil {
			fail(err)
		} else {
			publishError()
			setState(InitWait)
		}
	}

	w, err := watchDevice(ctx, c, dev.Backend, dev.Frontend+"/state")
	if err != nil {
		return false
	}
	defer w.close(ctx)

	for {
		if !w.wait(ctx) {
			return false
		}
		if ok, err := c.Exists(ctx, dev.Backend); err == nil && !ok {
			// The toolstack removed the device: its error node
			// goes with it.
			ClearError(ctx, c, dev.BackendID, dev.Backend)
			return false
		}
		// Teardown requested by the toolstack: online=0, or a state we
		// did not write ourselves (libxl writes Closing).
		online, _ := ReadBool(ctx, c, dev.Backend+"/online", true)
		own, ownErr := ReadState(ctx, c, dev.Backend)
		if ownErr == nil && own == Initialising && written != Unknown && written != Initialising {
			b.logf("%s: written anew by the toolstack", dev)
			return true
		}
		if !online || (ownErr == nil && own != written && own == Closing) || (ownErr == nil && own == Closed && written != Closed) {
			// Closed even if the toolstack wrote Closing over our
			// Closed (libxl would not, another toolstack might).
			if written != Closed || own != Closed {
				disconnect()
				setState(Closed)
				b.logf("%s: closed", dev)
			}
			continue
		}
		// The frontend's directory is gone (its domain was released,
		// perhaps in the middle of connecting): nothing is left to
		// serve, failed or not.
		if ok, err := c.Exists(ctx, dev.Frontend); err == nil && !ok {
			if written != Closed {
				disconnect()
				setState(Closed)
				b.logf("%s: frontend gone: closed", dev)
			}
			continue
		}
		if failed {
			continue
		}
		fs, err := ReadState(ctx, c, dev.Frontend)
		if written == Closed {
			// Done with this frontend; only a driver coming back
			// (Initialising, below) reopens the device.
			if err != nil || fs != Initialising {
				continue
			}
		}
		if err != nil {
			fail(fmt.Errorf("frontend state: %v", err))
			continue
		}
		switch fs {
		case Initialised, Connected:
			if connected || h == nil {
				continue
			}
			if err := h.Connect(ctx, c); err != nil {
				fail(err)
				continue
			}
			connected = true
			setState(Connected)
			b.logf("%s: connected", dev)
		case Initialising:
			// A frontend coming back after closing (a guest
			// reloading its driver): offer the device again.
			if written == Closed || written == Closing {
				setState(InitWait)
			}
		case Closing:
			if written != Closing {
				disconnect()
				setState(Closing)
			}
		case Closed:
			disconnect()
			if written != Closed {
				setState(Closed)
			}
		}
	}
}
