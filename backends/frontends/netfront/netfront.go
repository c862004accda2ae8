// Package netfront is the reference network frontend the sandbox guests
// run. Its control plane (Driver, a xenbus.FrontendDriver) negotiates over
// the guest's own unprivileged XenStore connection exactly as Linux's
// xen-netfront does: it reads what netback offers, allocates the tx and rx
// rings in guest memory (platform.Guest), grants them, allocates the event
// channels and writes the transport keys (top-level with one queue,
// queue-N/... with several; split event channels when offered), then goes
// Connected. Its data path (Tap, tap.go) puts the guest's end of the vif
// in a TAP device inside the guest's network namespace xfeat-<domain name>.
//
// Where a feature enters and leaves: netback's offer enters from the
// backend directory in Talk (multi-queue-max-queues, feature-split-event-
// channels, feature-sg, ...); the guest's choice leaves as the frontend's
// keys (multi-queue-num-queues, event-channel-tx, feature-sg, ...), which
// is what `xfeat show` reads as negotiated.
package netfront

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/xfeat/xfeat/backends/platform"
	"github.com/xfeat/xfeat/backends/ring"
	"github.com/xfeat/xfeat/backends/xenbus"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xsclient"
)

// readBackendUint reads a backend key, absent = def. A backend writing
// garbage is an error.
func readBackendUint(ctx context.Context, c *xsclient.Client, dev *xenbus.FrontDevice, key string, def uint64) (uint64, error) {
	v, ok, err := xenbus.ReadUint(ctx, c, dev.Backend+"/"+key, 32)
	if err != nil {
		return 0, err
	}
	if !ok {
		return def, nil
	}
	return v, nil
}

func b2s(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Driver is the network frontend driver.
type Driver struct {
	Platform platform.Guest
	// MaxQueues is the guest's wish; 0 means as many as the backend allows.
	MaxQueues int
	// DataPath, if set, moves packets once the backend is connected.
	DataPath DataPath

	devices xenbus.Registry[uint32, *Device] // by devid
}

// Kind implements xenbus.FrontendDriver.
func (n *Driver) Kind() pv.Kind { return pv.Vif }

// New implements xenbus.FrontendDriver.
func (n *Driver) New(dev *xenbus.FrontDevice) xenbus.FrontendHandler {
	return &Device{dev: *dev, drv: n}
}

// Queue is one tx/rx ring pair in guest memory and its event channel(s).
type Queue struct {
	Index            int
	Tx               *ring.NetifTxFront
	Rx               *ring.NetifRxFront
	TxRef, RxRef     uint32
	TxChannel        platform.Channel // also rx when not split
	RxChannel        platform.Channel // nil when not split
	txPages, rxPages platform.Pages
}

// Device is one netfront device.
type Device struct {
	dev    xenbus.FrontDevice
	drv    *Driver
	Queues []*Queue
	Split  bool
	// Features are the offload and sg features negotiated (what the
	// frontend wrote: feature-sg, feature-gso-tcpv4, ...).
	Features map[string]bool
	serving  bool
}

// Talk implements xenbus.FrontendHandler (Linux talk_to_netback).
func (d *Device) Talk(ctx context.Context, c *xsclient.Client) (pv.State, error) {
	d.Disconnect()
	maxQ, err := readBackendUint(ctx, c, &d.dev, pv.KeyMultiQueueMaxQueues, 1)
	if err != nil {
		return 0, err
	}
	_, mqErr := c.Read(ctx, d.dev.Backend+"/"+pv.KeyMultiQueueMaxQueues)
	hasMQ := mqErr == nil
	nq := int(maxQ)
	if d.drv.MaxQueues > 0 && d.drv.MaxQueues < nq {
		nq = d.drv.MaxQueues
	}
	if nq < 1 {
		nq = 1
	}
	split, err := readBackendUint(ctx, c, &d.dev, pv.KeyFeatureSplitEvtchns, 0)
	if err != nil {
		return 0, err
	}
	rxCopy, err := readBackendUint(ctx, c, &d.dev, pv.KeyFeatureRxCopy, 0)
	if err != nil {
		return 0, err
	}
	if rxCopy == 0 {
		return 0, errors.New("backend does not support rx copy (feature-rx-copy)")
	}
	offers := map[string]string{}
	for _, k := range []string{pv.KeyFeatureSG, pv.KeyFeatureGSOTCPv4, pv.KeyFeatureGSOTCPv6, pv.KeyFeatureIPv6CsumOffl, pv.KeyFeatureNoCsumOffload, pv.KeyFeatureMulticastCtl} {
		v, err := readBackendUint(ctx, c, &d.dev, k, 0)
		if err != nil {
			return 0, err
		}
		offers[k] = b2s(v != 0)
	}
	d.Split = split != 0
	d.Features = map[string]bool{}
	for k, v := range offers {
		d.Features[k] = v == "1"
	}
	p := d.drv.Platform
	for i := 0; i < nq; i++ {
		q := &Queue{Index: i}
		d.Queues = append(d.Queues, q)
		if q.txPages, err = p.AllocPages(1); err != nil {
			return 0, err
		}
		if q.Tx, err = ring.NewNetifTxFront(q.txPages.Bytes()); err != nil {
			return 0, err
		}
		if q.TxRef, err = q.txPages.Grant(0, d.dev.BackendID, false); err != nil {
			return 0, err
		}
		if q.rxPages, err = p.AllocPages(1); err != nil {
			return 0, err
		}
		if q.Rx, err = ring.NewNetifRxFront(q.rxPages.Bytes()); err != nil {
			return 0, err
		}
		if q.RxRef, err = q.rxPages.Grant(0, d.dev.BackendID, false); err != nil {
			return 0, err
		}
		if q.TxChannel, err = p.AllocUnbound(ctx, d.dev.BackendID); err != nil {
			return 0, err
		}
		if d.Split {
			if q.RxChannel, err = p.AllocUnbound(ctx, d.dev.BackendID); err != nil {
				return 0, err
			}
		}
	}
	fe := d.dev.Frontend
	err = c.Transact(ctx, func(tx *xsclient.Tx) error {
		w := func(k, v string) error { return tx.Write(ctx, fe+"/"+k, []byte(v)) }
		if hasMQ {
			if err := w(pv.KeyMultiQueueNumQueues, strconv.Itoa(nq)); err != nil {
				return err
			}
		}
		for _, q := range d.Queues {
			prefix := ""
			if nq > 1 {
				prefix = pv.QueueKey(q.Index) + "/"
			}
			kv := [][2]string{
				{pv.KeyTxRingRef, strconv.FormatUint(uint64(q.TxRef), 10)},
				{pv.KeyRxRingRef, strconv.FormatUint(uint64(q.RxRef), 10)},
			}
			if d.Split {
				kv = append(kv, [2]string{pv.KeyEventChannelTx, strconv.FormatUint(uint64(q.TxChannel.Port()), 10)},
					[2]string{pv.KeyEventChannelRx, strconv.FormatUint(uint64(q.RxChannel.Port()), 10)})
			} else {
				kv = append(kv, [2]string{pv.KeyEventChannel, strconv.FormatUint(uint64(q.TxChannel.Port()), 10)})
			}
			for _, e := range kv {
				if err := w(prefix+e[0], e[1]); err != nil {
					return err
				}
			}
		}
		for _, kv := range [][2]string{
			{pv.KeyRequestRxCopy, "1"},
			{pv.KeyFeatureRxNotify, "1"},
			{pv.KeyFeatureSG, offers[pv.KeyFeatureSG]},
			{pv.KeyFeatureGSOTCPv4, offers[pv.KeyFeatureGSOTCPv4]},
			{pv.KeyFeatureGSOTCPv6, offers[pv.KeyFeatureGSOTCPv6]},
			{pv.KeyFeatureIPv6CsumOffl, offers[pv.KeyFeatureIPv6CsumOffl]},
			{pv.KeyFeatureNoCsumOffload, offers[pv.KeyFeatureNoCsumOffload]},
		} {
			if err := w(kv[0], kv[1]); err != nil {
				return err
			}
		}
		if offers[pv.KeyFeatureMulticastCtl] == "1" {
			return w(pv.KeyRequestMulticastCtl, "1")
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("writing the transport keys: %v", err)
	}
	d.drv.devices.Put(d.dev.DevID, d)
	return pv.Connected, nil
}

// BackendConnected implements xenbus.FrontendHandler: the data path, if
// any, starts.
func (d *Device) BackendConnected(ctx context.Context, c *xsclient.Client) error {
	if dp := d.drv.DataPath; dp != nil && !d.serving {
		if err := dp.Start(ctx, c, d); err != nil {
			return fmt.Errorf("data path: %v", err)
		}
		d.serving = true
	}
	return nil
}

// Disconnect implements xenbus.FrontendHandler.
func (d *Device) Disconnect() {
	if d.serving {
		d.drv.DataPath.Stop(d)
		d.serving = false
	}
	for _, q := range d.Queues {
		for _, ch := range []platform.Channel{q.TxChannel, q.RxChannel} {
			if ch != nil {
				ch.Close()
			}
		}
		for _, pg := range []platform.Pages{q.txPages, q.rxPages} {
			if pg != nil {
				pg.Free()
			}
		}
	}
	d.Queues = nil
	d.drv.devices.Delete(d.dev.DevID)
}

// Device returns the connected netfront device devid, or nil.
func (n *Driver) Device(devid uint32) *Device {
	return n.devices.Get(devid)
}
