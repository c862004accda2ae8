package serve

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/xfeat/xfeat/backends/netback"
	"github.com/xfeat/xfeat/backends/tap"
	"github.com/xfeat/xfeat/backends/xenbus"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// vifDriver is netback with each vif's host interface reserved at probe
// (tap.Reserve), before the backend goes InitWait: xl's vif hotplug script
// runs then and needs it. The reservation is counted per device directory
// (a device probed again keeps its interface) and released when the last
// handler lets go of it: when the directory is gone, or when the server
// stops and the device was Closed. A device the server leaves InitWait
// keeps its interface, on its bridge, for the server's next run.
type vifDriver struct {
	*netback.Driver
	tunPath string
	logf    func(format string, args ...any)
	xs      *xsclient.Client
	// run is Run's context: once it is done, the server stops.
	run context.Context

	mu       sync.Mutex
	reserved map[string]*reservation // by backend directory
}

type reservation struct {
	name    string // as reserved; a hotplug script may rename it
	ifindex int
	refs    int
}

// Probe implements xenbus.BackendDriver: netback's probe, then the
// interface.
func (d *vifDriver) Probe(ctx context.Context, c *xsclient.Client, dev *xenbus.Device) (xenbus.DeviceHandler, []schema.Decision, error) {
	h, decisions, err := d.Driver.Probe(ctx, c, dev)
	if err != nil {
		return h, decisions, err
	}
	v := h.(*netback.Vif)
	if err := d.reserve(ctx, c, v); err != nil {
		return nil, decisions, fmt.Errorf("host interface: %v", err)
	}
	return &vifHandler{Vif: v, d: d}, decisions, nil
}

// reserve takes a reference to v's interface, reserving it first. A vif
// with a hotplug script gets vif<domid>.<devid>, the name the script
// expects (it renames it for vifname=); one without gets its final name.
// A reserved TAP already there (the server restarted) is taken over.
func (d *vifDriver) reserve(ctx context.Context, c *xsclient.Client, v *netback.Vif) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r := d.reserved[v.Device.Backend]; r != nil {
		r.refs++
		return nil
	}
	name := v.InterfaceName()
	if _, err := c.ReadString(ctx, v.Device.Backend+"/"+pv.KeyScript); err == nil {
		name = fmt.Sprintf("vif%d.%d", v.Device.FrontendID, v.Device.DevID)
		if v.Keys.VifName != "" {
			// Renamed by the script already, before a restart.
			if idx, err := tap.Reserve(d.tunPath, v.Keys.VifName); err == nil {
				return d.keep(v, v.Keys.VifName, idx)
			}
		}
	} else if !errors.Is(err, xswire.ErrNotFound) {
		return err
	}
	idx, err := tap.Reserve(d.tunPath, name)
	if err != nil {
		return err
	}
	return d.keep(v, name, idx)
}

func (d *vifDriver) keep(v *netback.Vif, name string, idx int) error {
	if d.reserved == nil {
		d.reserved = map[string]*reservation{}
	}
	d.reserved[v.Device.Backend] = &reservation{name: name, ifindex: idx, refs: 1}
	d.logf("%s: host interface %s (index %d)", &v.Device, name, idx)
	return nil
}

// release gives back a reference to dev's interface; the last removes it.
func (d *vifDriver) release(dev *xenbus.Device) {
	d.mu.Lock()
	r := d.reserved[dev.Backend]
	if r == nil {
		d.mu.Unlock()
		return
	}
	if r.refs--; r.refs > 0 {
		d.mu.Unlock()
		return
	}
	delete(d.reserved, dev.Backend)
	d.mu.Unlock()
	if d.run != nil && d.run.Err() != nil && !d.closed(dev) {
		d.logf("%s: host interface %s kept for the next run (the device waits for its frontend)", dev, r.name)
		return
	}
	if err := tap.Release(r.ifindex); err != nil {
		d.logf("%s: removing host interface %s: %v", dev, r.name, err)
	}
}

// closed says whether dev is Closed or gone (as the bus leaves a device it
// stopped serving), asked when the server stops.
func (d *vifDriver) closed(dev *xenbus.Device) bool {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownLimit)
	defer cancel()
	ok, err := d.xs.Exists(ctx, dev.Backend)
	if err != nil || !ok {
		return true
	}
	st, err := xenbus.ReadState(ctx, d.xs, dev.Backend)
	return err != nil || st == pv.Closed
}

// vifHandler is a vif's netback handler holding its interface.
type vifHandler struct {
	*netback.Vif
	d    *vifDriver
	once sync.Once
}

// Close gives the interface back, once; the bus calls it when the device
// is gone or probed again.
func (h *vifHandler) Close() error {
	h.once.Do(func() {
		h.Vif.Disconnect()
		h.d.release(&h.Vif.Device)
	})
	return nil
}
