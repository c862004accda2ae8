// Package frontends holds the reference PV frontends the sandbox guests run:
// netfront and blkfront, control plane. They negotiate over the guest's own
// unprivileged XenStore connection exactly as Linux's xen-netfront and
// xen-blkfront do: read what the backend offers, allocate rings in guest
// memory, grant their pages to the backend, allocate event channels, write
// the transport keys (single-queue top-level keys or queue-N/..., ring-ref or
// ring-refN, split event channels), and follow the xenbus states.
//
// Rings are initialised by the frontend (SHARED_RING_INIT, via
// backends/ring). blkfront's data path (blkio.go) makes a connected
// BlkDevice a block device (io.ReaderAt, io.WriterAt, Flush, Discard) over
// its rings; blkload.go runs workloads on it (what `xfeat io` measures).
// Netfront's data path, when set (NetTap, netdata.go), puts the guest's end
// of each vif in a TAP device inside the guest's network namespace
// xfeat-<domain name>.
package frontends

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

// Netfront is the network frontend driver.
type Netfront struct {
	Platform platform.Guest
	// MaxQueues is the guest's wish; 0 means as many as the backend allows.
	MaxQueues int
	// DataPath, if set, moves packets once the backend is connected.
	DataPath NetDataPath

	devices xenbus.Registry[uint32, *NetDevice] // by devid
}

// Kind implements xenbus.FrontendDriver.
func (n *Netfront) Kind() pv.Kind { return pv.Vif }

// New implements xenbus.FrontendDriver.
func (n *Netfront) New(dev *xenbus.FrontDevice) xenbus.FrontendHandler {
	return &NetDevice{dev: *dev, drv: n}
}

// NetQueue is one tx/rx ring pair in guest memory and its event channel(s).
type NetQueue struct {
	Index            int
	Tx               *ring.NetifTxFront
	Rx               *ring.NetifRxFront
	TxRef, RxRef     uint32
	TxChannel        platform.Channel // also rx when not split
	RxChannel        platform.Channel // nil when not split
	txPages, rxPages platform.Pages
}

// NetDevice is one netfront device.
type NetDevice struct {
	dev    xenbus.FrontDevice
	drv    *Netfront
	Queues []*NetQueue
	Split  bool
	// Features are the offload and sg features negotiated (what the
	// frontend wrote: feature-sg, feature-gso-tcpv4, ...).
	Features map[string]bool
	serving  bool
}

// Talk implements xenbus.FrontendHandler (Linux talk_to_netback).
func (d *NetDevice) Talk(ctx context.Context, c *xsclient.Client) (pv.State, error) {
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
		q := &NetQueue{Index: i}
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
func (d *NetDevice) BackendConnected(ctx context.Context, c *xsclient.Client) error {
	if dp := d.drv.DataPath; dp != nil && !d.serving {
		if err := dp.Start(ctx, c, d); err != nil {
			return fmt.Errorf("data path: %v", err)
		}
		d.serving = true
	}
	return nil
}

// Disconnect implements xenbus.FrontendHandler.
func (d *NetDevice) Disconnect() {
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
func (n *Netfront) Device(devid uint32) *NetDevice {
	return n.devices.Get(devid)
}

// Blkfront is the block frontend driver.
type Blkfront struct {
	Platform platform.Guest
	// MaxQueues and MaxRingPageOrder are the guest's wishes; 0 queues
	// means as many as the backend allows; MaxRingPageOrder < 0 means the
	// backend's maximum.
	MaxQueues        int
	MaxRingPageOrder int
	// Logf, if set, gets what the data path degrades or fails on.
	Logf func(format string, args ...any)

	devices xenbus.Registry[uint32, *BlkDevice] // by devid
}

// Device returns the blkfront device devid once it has set its rings up, or
// nil.
func (b *Blkfront) Device(devid uint32) *BlkDevice {
	return b.devices.Get(devid)
}

// Kind implements xenbus.FrontendDriver.
func (b *Blkfront) Kind() pv.Kind { return pv.Vbd }

// New implements xenbus.FrontendDriver.
func (b *Blkfront) New(dev *xenbus.FrontDevice) xenbus.FrontendHandler {
	return &BlkDevice{dev: *dev, drv: b}
}

// BlkQueue is one ring in guest memory and its event channel.
type BlkQueue struct {
	Index   int
	Ring    *ring.BlkifFront
	Refs    []uint32
	Channel platform.Channel
	pages   platform.Pages
}

// BlkDevice is one blkfront device.
type BlkDevice struct {
	dev           xenbus.FrontDevice
	drv           *Blkfront
	Queues        []*BlkQueue
	RingPageOrder int
	Persistent    bool

	// Disk properties the backend published at Connected.
	Sectors    uint64
	SectorSize uint32
	Info       uint32
	Features   BlkFeatures

	ioMu sync.RWMutex // held shared by every I/O call, exclusively to stop
	io   *blkIO       // the data path (blkio.go), nil when not connected
}

// Talk implements xenbus.FrontendHandler (Linux talk_to_blkback).
func (d *BlkDevice) Talk(ctx context.Context, c *xsclient.Client) (pv.State, error) {
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
		q := &BlkQueue{Index: i}
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
func (d *BlkDevice) BackendConnected(ctx context.Context, c *xsclient.Client) error {
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
func (d *BlkDevice) Disconnect() {
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
