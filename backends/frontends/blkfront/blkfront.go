// Package blkfront is the reference block frontend the sandbox guests run.
// Its control plane (Driver, a xenbus.FrontendDriver) negotiates as Linux's
// xen-blkfront does: it reads what blkback offers, allocates each queue's
// ring of 2^ring-page-order pages in guest memory, grants them, allocates
// the event channels and writes ring-ref or ring-refN, event-channel (per
// queue under queue-N with several), protocol and feature-persistent, goes
// Initialised, and on the backend's Connected reads the disk's size and
// properties. Its data path (io.go) makes a connected Device a block device
// (io.ReaderAt, io.WriterAt, Flush, Discard) over its rings; package
// blkload runs workloads on it.
//
// Where a feature enters and leaves: blkback's offer enters from the
// backend directory in Talk (multi-queue-max-queues, max-ring-page-order,
// feature-persistent; at connect feature-max-indirect-segments,
// feature-flush-cache, ...); the guest's choice leaves as the frontend's
// keys (multi-queue-num-queues, ring-page-order, feature-persistent).
package blkfront

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

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

// Driver is the block frontend driver.
type Driver struct {
	Platform platform.Guest
	// MaxQueues and MaxRingPageOrder are the guest's wishes; 0 queues
	// means as many as the backend allows; MaxRingPageOrder < 0 means the
	// backend's maximum.
	MaxQueues        int
	MaxRingPageOrder int
	// Logf, if set, gets what the data path degrades or fails on.
	Logf func(format string, args ...any)

	devices xenbus.Registry[uint32, *Device] // by devid
}

// Device returns the blkfront device devid once it has set its rings up, or
// nil.
func (b *Driver) Device(devid uint32) *Device {
	return b.devices.Get(devid)
}

// Kind implements xenbus.FrontendDriver.
func (b *Driver) Kind() pv.Kind { return pv.Vbd }

// New implements xenbus.FrontendDriver.
func (b *Driver) New(dev *xenbus.FrontDevice) xenbus.FrontendHandler {
	return &Device{dev: *dev, drv: b}
}

// Queue is one ring in guest memory and its event channel.
type Queue struct {
	Index   int
	Ring    *ring.BlkifFront
	Refs    []uint32
	Channel platform.Channel
	pages   platform.Pages
}

// Device is one blkfront device.
type Device struct {
	dev           xenbus.FrontDevice
	drv           *Driver
	Queues        []*Queue
	RingPageOrder int
	Persistent    bool

	// Disk properties the backend published at Connected.
	Sectors    uint64
	SectorSize uint32
	Info       uint32
	Features   Features

	ioMu sync.RWMutex // held shared by every I/O call, exclusively to stop
	io   *blkIO       // the data path (io.go), nil when not connected
}

// Talk implements xenbus.FrontendHandler (Linux talk_to_blkback).
func (d *Device) Talk(ctx context.Context, c *xsclient.Client) (pv.State, error) {
	d.Disconnect()
	maxQ, err := readBackendUint(ctx, c, &d.dev, pv.KeyMultiQueueMaxQueues, 1)
	if err != nil {
		return 0, err
	}
	_, mqErr := c.Read(ctx, d.dev.Backend+"/"+pv.KeyMultiQueueMaxQueues)
	hasMQ := mqErr == nil
	maxOrder, err := readBackendUint(ctx, c, &d.dev, pv.KeyMaxRingPageOrder, 0)
	if err != nil {
		return 0, err
	}
	pers, err := readBackendUint(ctx, c, &d.dev, pv.KeyFeaturePersistent, 0)
	if err != nil {
		return 0, err
	}
	nq := int(maxQ)
	if d.drv.MaxQueues > 0 && d.drv.MaxQueues < nq {
		nq = d.drv.MaxQueues
	}
	if nq < 1 {
		nq = 1
	}
	order := int(maxOrder)
	if order > ring.MaxPageOrder {
		order = ring.MaxPageOrder
	}
	if d.drv.MaxRingPageOrder >= 0 && d.drv.MaxRingPageOrder < order {
		order = d.drv.MaxRingPageOrder
	}
	d.RingPageOrder, d.Persistent = order, pers != 0
	p := d.drv.Platform
	for i := 0; i < nq; i++ {
		q := &Queue{Index: i}
		d.Queues = append(d.Queues, q)
		if q.pages, err = p.AllocPages(1 << order); err != nil {
			return 0, err
		}
		if q.Ring, err = ring.NewBlkifFront(q.pages.Bytes()); err != nil {
			return 0, err
		}
		for k := 0; k < 1<<order; k++ {
			ref, err := q.pages.Grant(k, d.dev.BackendID, false)
			if err != nil {
				return 0, err
			}
			q.Refs = append(q.Refs, ref)
		}
		if q.Channel, err = p.AllocUnbound(ctx, d.dev.BackendID); err != nil {
			return 0, err
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
		if err := w(pv.KeyRingPageOrder, strconv.Itoa(order)); err != nil {
			return err
		}
		for _, q := range d.Queues {
			prefix := ""
			if nq > 1 {
				prefix = pv.QueueKey(q.Index) + "/"
			}
			for k, ref := range q.Refs {
				key := pv.RingRefKey(uint32(order), k)
				if err := w(prefix+key, strconv.FormatUint(uint64(ref), 10)); err != nil {
					return err
				}
			}
			if err := w(prefix+pv.KeyEventChannel, strconv.FormatUint(uint64(q.Channel.Port()), 10)); err != nil {
				return err
			}
		}
		if err := w(pv.KeyProtocol, pv.ProtocolX8664); err != nil {
			return err
		}
		return w(pv.KeyFeaturePersistent, b2s(d.Persistent))
	})
	if err != nil {
		return 0, fmt.Errorf("writing the transport keys: %v", err)
	}
	d.drv.devices.Put(d.dev.DevID, d)
	return pv.Initialised, nil
}

// BackendConnected implements xenbus.FrontendHandler (Linux blkfront_connect):
// it reads the disk's size and properties.
func (d *Device) BackendConnected(ctx context.Context, c *xsclient.Client) error {
	v, ok, err := xenbus.ReadUint(ctx, c, d.dev.Backend+"/"+pv.KeySectors, 64)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("backend published no sectors")
	}
	d.Sectors = v
	ss, err := readBackendUint(ctx, c, &d.dev, pv.KeySectorSize, 512)
	if err != nil {
		return err
	}
	if ss < 512 || ss&(ss-1) != 0 {
		return fmt.Errorf("sector-size %d is not a power of two of at least 512", ss)
	}
	d.SectorSize = uint32(ss)
	info, err := readBackendUint(ctx, c, &d.dev, pv.KeyInfo, 0)
	if err != nil {
		return err
	}
	d.Info = uint32(info)
	return d.startIO(ctx, c)
}

// Disconnect implements xenbus.FrontendHandler.
func (d *Device) Disconnect() {
	d.stopIO()
	for _, q := range d.Queues {
		if q.Channel != nil {
			q.Channel.Close()
		}
		if q.pages != nil {
			q.pages.Free()
		}
	}
	d.Queues = nil
	d.drv.devices.Delete(d.dev.DevID)
}
