package xenbus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

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
	// CloseOnStop: when Run's context ends, every device past InitWait is
	// disconnected and its state set to Closed (a backend process that
	// stops), rather than only disconnected (a sandbox host whose
	// XenStore goes too); one still InitWait is left for the next run.
	CloseOnStop bool

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
	state pv.State
	err   string
}

// DeviceStatus is a snapshot of one device as its backend sees it.
type DeviceStatus struct {
	Device
	State pv.State
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
	root := pv.BackendRoot(b.BackendID, b.Driver.Kind())
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
	dir := pv.BackendRoot(b.BackendID, b.Driver.Kind()) + "/" + key
	// The toolstack writes a device in one transaction; until its
	// frontend link is there the directory is not a device (yet).
	fpath, err := b.Client.ReadString(ctx, dir+"/"+pv.KeyFrontend)
	if err != nil {
		return
	}
	if st, err := ReadState(ctx, b.Client, dir); err == nil && st == pv.Closed {
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
		fpath, err := b.Client.ReadString(ctx, d.dev.Backend+"/"+pv.KeyFrontend)
		if err != nil {
			return
		}
		d.mu.Lock()
		d.dev.Frontend, d.state, d.err = fpath, pv.Unknown, ""
		d.mu.Unlock()
	}
}
