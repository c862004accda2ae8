package xenbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// FrontDevice names one PV device from the guest's side.
type FrontDevice struct {
	Kind      pv.Kind
	DomID     uint32 // the guest
	DevID     uint32
	Frontend  string // /local/domain/<domid>/device/<kind>/<devid>
	Backend   string // as the frontend dir's "backend" key says
	BackendID uint32
}

func (d *FrontDevice) String() string {
	return fmt.Sprintf("dom%d %s %d", d.DomID, d.Kind, d.DevID)
}

// FrontendDriver is one device class's frontend (netfront, blkfront).
type FrontendDriver interface {
	Kind() pv.Kind
	New(dev *FrontDevice) FrontendHandler
}

// FrontendHandler is one device's frontend instance. Its methods are called
// from one goroutine.
type FrontendHandler interface {
	// Talk runs when the backend is ready (InitWait, or later): it reads
	// what the backend offers, sets up rings and event channels, writes
	// the transport keys and returns the state to switch to (blkfront:
	// Initialised; netfront: Connected, as Linux's do).
	Talk(ctx context.Context, c *xsclient.Client) (pv.State, error)
	// BackendConnected runs when the backend is Connected after Talk; an
	// error fails the device.
	BackendConnected(ctx context.Context, c *xsclient.Client) error
	// Disconnect releases rings and event channels. Idempotent.
	Disconnect()
}

// FrontendBus runs the frontend half of the xenbus protocol for one guest and
// one driver, over the guest's own (unprivileged) XenStore connection.
type FrontendBus struct {
	Client *xsclient.Client
	DomID  uint32
	Driver FrontendDriver
	Logf   func(format string, args ...any)

	mu      sync.Mutex
	devices map[uint32]*frontDevice
	wg      sync.WaitGroup
}

type frontDevice struct {
	dev    FrontDevice
	cancel context.CancelFunc
	mu     sync.Mutex
	state  pv.State
	err    string
}

// FrontStatus is a snapshot of one frontend device.
type FrontStatus struct {
	FrontDevice
	State pv.State
	Error string
}

func (f *FrontendBus) logf(format string, args ...any) {
	if f.Logf != nil {
		f.Logf(format, args...)
	}
}

// Devices returns a snapshot of the guest's devices of this driver.
func (f *FrontendBus) Devices() []FrontStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []FrontStatus
	for _, d := range f.devices {
		d.mu.Lock()
		out = append(out, FrontStatus{FrontDevice: d.dev, State: d.state, Error: d.err})
		d.mu.Unlock()
	}
	return out
}

// Run watches the guest's device/<kind> directory and drives every device in
// it until ctx is done; then it releases every device and returns.
func (f *FrontendBus) Run(ctx context.Context) error {
	f.mu.Lock()
	f.devices = map[uint32]*frontDevice{}
	f.mu.Unlock()
	root := pv.FrontendRoot(f.DomID, f.Driver.Kind())
	w, err := f.Client.Watch(ctx, root, "")
	if err != nil {
		return err
	}
	defer func() {
		w.Close(context.WithoutCancel(ctx))
		f.mu.Lock()
		for _, d := range f.devices {
			d.cancel()
		}
		f.mu.Unlock()
		f.wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-w.C:
			if !ok {
				return nil // connection gone: the guest is being stopped
			}
		}
		ids, err := f.Client.Directory(ctx, root)
		if err != nil {
			continue
		}
		for _, s := range ids {
			f.consider(ctx, root, s)
		}
	}
}

// runDevice serves one frontend directory until it is gone or ctx is done;
// a directory written anew by the toolstack (state back to Initialising)
// before this goroutine saw it go is served again from the start.
// consider starts a goroutine for device s of root unless one runs.
func (f *FrontendBus) consider(ctx context.Context, root, s string) {
	id, ok := parseID(s)
	if !ok {
		return
	}
	f.mu.Lock()
	_, running := f.devices[id]
	f.mu.Unlock()
	if running {
		return
	}
	dir := root + "/" + s
	be, err := f.Client.ReadString(ctx, dir+"/"+pv.KeyBackend)
	if err != nil {
		return
	}
	beid, _, err := ReadUint(ctx, f.Client, dir+"/"+pv.KeyBackendID, 16)
	if err != nil {
		return
	}
	if st, err := ReadState(ctx, f.Client, dir); err == nil && st == pv.Closed {
		return
	}
	d := &frontDevice{dev: FrontDevice{Kind: f.Driver.Kind(), DomID: f.DomID, DevID: id,
		Frontend: dir, Backend: be, BackendID: uint32(beid)}}
	dctx, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	f.mu.Lock()
	if _, running := f.devices[id]; running {
		f.mu.Unlock()
		cancel()
		return
	}
	f.devices[id] = d
	f.wg.Add(1)
	f.mu.Unlock()
	go func() {
		defer f.wg.Done()
		f.runDevice(dctx, d)
		cancel()
		f.mu.Lock()
		if f.devices[id] == d {
			delete(f.devices, id)
		}
		f.mu.Unlock()
		// The directory may have been written anew while this
		// goroutine was leaving: look once more.
		if ctx.Err() == nil {
			f.consider(ctx, root, s)
		}
	}()
}

func (f *FrontendBus) runDevice(ctx context.Context, d *frontDevice) {
	for f.serveDevice(ctx, d) {
		be, err := f.Client.ReadString(ctx, d.dev.Frontend+"/"+pv.KeyBackend)
		if err != nil {
			return
		}
		beid, _, err := ReadUint(ctx, f.Client, d.dev.Frontend+"/"+pv.KeyBackendID, 16)
		if err != nil {
			return
		}
		d.mu.Lock()
		d.dev.Backend, d.dev.BackendID, d.state, d.err = be, uint32(beid), pv.Unknown, ""
		d.mu.Unlock()
	}
}

func (f *FrontendBus) serveDevice(ctx context.Context, d *frontDevice) (again bool) {
	dev := &d.dev
	c := f.Client
	h := f.Driver.New(dev)
	defer h.Disconnect()
	var (
		written             pv.State = pv.Unknown
		talked              bool
		sawBackendConnected bool
		failed              bool
	)
	setState := func(s pv.State) {
		if err := SwitchState(ctx, c, dev.Frontend, s); err != nil {
			f.logf("%s: switching to %s: %v", dev, s, err)
			return
		}
		written = s
		d.mu.Lock()
		d.state = s
		d.mu.Unlock()
	}
	fail := func(err error) {
		if ctx.Err() != nil || errors.Is(err, xsclient.ErrClosed) {
			return // the guest is stopping: not the device's fault
		}
		h.Disconnect()
		failed = true
		f.logf("%s: device failed: %v", dev, err)
		d.mu.Lock()
		d.err = err.Error()
		d.mu.Unlock()
		// The guest's error dir may not exist or be writable; the state
		// is what the backend and the toolstack act on.
		_ = WriteError(ctx, c, dev.DomID, dev.Frontend, err.Error())
		setState(pv.Closing)
	}
	if !strings.HasPrefix(dev.Backend, "/local/domain/") {
		fail(fmt.Errorf("backend: %q is not a backend path", dev.Backend))
	}
	w, err := watchDevice(ctx, c, dev.Backend+"/"+pv.KeyState, dev.Frontend)
	if err != nil {
		return false
	}
	defer w.close(ctx)
	for {
		if !w.wait(ctx) {
			return false
		}
		if ok, err := c.Exists(ctx, dev.Frontend); err == nil && !ok {
			return false
		}
		if own, err := ReadState(ctx, c, dev.Frontend); err == nil && own == pv.Initialising && written != pv.Unknown && written != pv.Initialising {
			return true // the toolstack wrote the device anew
		}
		if failed {
			continue
		}
		bs, err := ReadState(ctx, c, dev.Backend)
		if errors.Is(err, xswire.ErrPermission) || errors.Is(err, xswire.ErrNotFound) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return // the guest is stopping
			}
			fail(fmt.Errorf("backend state: %w", err))
			continue
		}
		switch bs {
		case pv.InitWait, pv.Initialised, pv.Connected:
			if written == pv.Closed || written == pv.Closing {
				continue
			}
			if !talked {
				next, err := h.Talk(ctx, c)
				if err != nil {
					fail(err)
					continue
				}
				talked = true
				setState(next)
			}
			if bs == pv.Connected && !sawBackendConnected {
				// netfront is Connected already (Linux's goes there
				// straight after talking); blkfront waits for this.
				if err := h.BackendConnected(ctx, c); err != nil {
					fail(err)
					continue
				}
				sawBackendConnected = true
				if written != pv.Connected {
					setState(pv.Connected)
				}
			}
		case pv.Closing, pv.Closed:
			h.Disconnect()
			if written != pv.Closed {
				setState(pv.Closed)
			}
		}
	}
}
