// Package netback is the sandbox host's network backend (vif), control plane:
// it advertises its feature schema, reads each device's config-* requests,
// checks them against its own limits, seeds the keys netfront reads, and on
// the frontend's go maps every queue's tx and rx rings (grant pages of the
// guest) and binds its event channels, then goes Connected.
//
// Where a feature enters and leaves: a device's config-* requests enter in
// Probe (xenbus.ReadConfig); schema.Decide decides about each with what
// netback cannot turn on (Limits.Disabled); the decisions are applied to
// the vif's Settings and returned, for the bus to record (decision nodes,
// and the error node naming what was not applied as asked); the offer
// leaves as the keys netfront reads (multi-queue-max-queues, feature-*). At
// Connect, what the guest chose enters from the frontend's keys
// (Negotiated). A frontend that writes garbage (bad ring refs, a queue
// layout that does not add up, missing keys) fails its own device only:
// the device goes Closing with an error node.
//
// The data path (moving packets) hangs on the Queue values a connected Vif
// holds: one tx and one rx ring (ring.NetifTxBack/NetifRxBack) and their
// event channels per queue. TapPath (datapath.go) is the real one: packets
// go by grant copy between the rings and a multi-queue TAP device on the
// vif's bridge, offloads in a virtio-net header; see its file comment. What
// both need of the host is package platform's (grant mapping and copy,
// event channels, TAP devices).
package netback

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/platform"
	"github.com/xfeat/xfeat/backends/ring"
	"github.com/xfeat/xfeat/backends/xenbus"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/xsclient"
)

// HardMaxQueues is the upper bound the schema advertises for
// multi-queue-max-queues: requests above it are rejected by the toolstack.
const HardMaxQueues = 16

// Limits are what this backend offers. A bool feature in Disabled is not
// supported at all: it is advertised with default 0 and a request for 1 is
// refused.
type Limits struct {
	MaxQueues uint32 // the backend's own maximum (schema -defval)
	Disabled  []string
}

// DefaultLimits are what netback advertises unless xfeat host's flags say
// otherwise (docs/design.md, "Defaults of the reference backends").
func DefaultLimits() Limits { return Limits{MaxQueues: 4} }

type boolFeature struct {
	name, desc string
	def        bool
}

// boolFeatures are the bool features, in netif.h's order, with their
// defaults when enabled.
var boolFeatures = []boolFeature{
	{pv.KeyFeatureSG, "scatter-gather: packets spanning several slots", true},
	{pv.KeyFeatureGSOTCPv4, "TCP segmentation offload for IPv4", true},
	{pv.KeyFeatureGSOTCPv6, "TCP segmentation offload for IPv6", true},
	{pv.KeyFeatureIPv6CsumOffl, "IPv6 TCP/UDP checksum offload", true},
	{pv.KeyFeatureNoCsumOffload, "turn IPv4 TCP/UDP checksum offload off", false},
	{pv.KeyFeatureSplitEvtchns, "separate tx and rx event channels", true},
	{pv.KeyFeatureMulticastCtl, "multicast filtering controlled by the frontend", false},
}

// Check reports limits that make no sense.
func (l Limits) Check() error {
	if l.MaxQueues < 1 || l.MaxQueues > HardMaxQueues {
		return fmt.Errorf("vif maximum queues must be from 1 to %d, not %d", HardMaxQueues, l.MaxQueues)
	}
	for _, d := range l.Disabled {
		if !slices.ContainsFunc(boolFeatures, func(f boolFeature) bool { return f.name == d }) {
			return fmt.Errorf("vif has no feature %q to disable", d)
		}
	}
	return nil
}

func (l Limits) supports(name string) bool { return !slices.Contains(l.Disabled, name) }

// Schema is the feature schema netback advertises for backend domain be.
func (l Limits) Schema(be uint32) *schema.Schema {
	one, hard := int64(1), int64(HardMaxQueues)
	s := &schema.Schema{Backend: be, Kind: pv.Vif, Features: map[string]*schema.Feature{
		pv.KeyMultiQueueMaxQueues: {Name: pv.KeyMultiQueueMaxQueues, Type: schema.Uint,
			Defval: strconv.FormatUint(uint64(l.MaxQueues), 10),
			Desc:   "maximum number of tx/rx queue pairs the frontend may use",
			Min:    &one, Max: &hard},
	}}
	for _, f := range boolFeatures {
		def := f.def && l.supports(f.name)
		s.Features[f.name] = &schema.Feature{Name: f.name, Type: schema.Bool, Defval: b2s(def), Desc: f.desc}
	}
	return s
}

func b2s(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// DataPath serves a connected vif's queues (moving packets). Start runs
// once the rings are mapped and the channels bound, before the backend says
// Connected; an error fails the device. Stop must return only when nothing
// touches the rings or channels any more: they are unmapped and closed
// right after.
type DataPath interface {
	Start(v *Vif) error
	Stop(v *Vif)
}

// Driver is netback as a xenbus.BackendDriver.
type Driver struct {
	Limits   Limits
	Platform platform.Backend
	Logf     func(format string, args ...any)
	// DataPath, if set, is started on every connected vif.
	DataPath DataPath

	// connected holds the devices between Connect and Disconnect.
	connected xenbus.Registry[*Vif, *Vif]
}

// Kind implements xenbus.BackendDriver.
func (d *Driver) Kind() pv.Kind { return pv.Vif }

// Schema implements xenbus.BackendDriver.
func (d *Driver) Schema(be uint32) *schema.Schema { return d.Limits.Schema(be) }

// Settings are the values in effect for one vif after Probe.
type Settings struct {
	MaxQueues uint32
	Features  map[string]bool // bool features as offered to the frontend
}

// cannot says why netback cannot turn feature name on ("" when it can).
func (l Limits) cannot(name string) string {
	if !l.supports(name) {
		return "not supported by this backend"
	}
	return ""
}

// settings are the backend's own defaults, before any request.
func (l Limits) settings() Settings {
	set := Settings{MaxQueues: l.MaxQueues, Features: map[string]bool{}}
	for _, f := range boolFeatures {
		set.Features[f.name] = f.def && l.supports(f.name)
	}
	return set
}

// apply puts a decided value into effect.
func (set *Settings) apply(d schema.Decision) {
	if d.Action != schema.Apply && d.Action != schema.Clamp {
		return // the default stays
	}
	if d.Feature == pv.KeyMultiQueueMaxQueues {
		n, _ := strconv.ParseUint(d.Value, 10, 32)
		set.MaxQueues = uint32(n)
		return
	}
	set.Features[d.Feature] = d.Value == "1"
}

// Probe implements xenbus.BackendDriver: it decides about each config-*
// request (schema.Decide), applies the decisions and writes the keys
// netfront reads.
func (d *Driver) Probe(ctx context.Context, c *xsclient.Client, dev *xenbus.Device) (xenbus.DeviceHandler, []schema.Decision, error) {
	cfg, err := xenbus.ReadConfig(ctx, c, dev.Backend)
	if err != nil {
		return nil, nil, fmt.Errorf("reading config: %v", err)
	}
	sch := d.Limits.Schema(dev.BackendID)
	set := d.Limits.settings()
	var decisions []schema.Decision
	for _, name := range sortedKeys(cfg) {
		dec := sch.Decide(name, cfg[name], d.Limits.cannot(name))
		set.apply(dec)
		decisions = append(decisions, dec)
	}
	err = c.Transact(ctx, func(tx *xsclient.Tx) error {
		if err := xenbus.MustExist(ctx, tx, dev.Backend); err != nil {
			return err
		}
		w := func(k, v string) error { return tx.Write(ctx, dev.Backend+"/"+k, []byte(v)) }
		for _, f := range boolFeatures {
			if err := w(f.name, b2s(set.Features[f.name])); err != nil {
				return err
			}
		}
		if err := w(pv.KeyFeatureDynMulticast, b2s(set.Features[pv.KeyFeatureMulticastCtl])); err != nil {
			return err
		}
		if err := w(pv.KeyFeatureRxCopy, "1"); err != nil {
			return err
		}
		if err := w(pv.KeyFeatureRxFlip, "0"); err != nil {
			return err
		}
		return w(pv.KeyMultiQueueMaxQueues, strconv.FormatUint(uint64(set.MaxQueues), 10))
	})
	if err != nil {
		return nil, decisions, fmt.Errorf("seeding the backend keys: %v", err)
	}
	keys, err := readVifKeys(ctx, c, dev.Backend)
	if err != nil {
		return nil, decisions, err
	}
	v := &Vif{Device: *dev, Settings: set, Keys: keys, driver: d}
	return v, decisions, nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Queue is one connected tx/rx queue pair: the rings mapped from the guest
// and their event channels (Rx is nil when the channel is not split, and
// TxChannel serves both).
type Queue struct {
	Index                int
	TxRingRef            uint32
	RxRingRef            uint32
	Tx                   *ring.NetifTxBack
	Rx                   *ring.NetifRxBack
	TxChannel            platform.Channel
	RxChannel            platform.Channel
	txMapping, rxMapping platform.Mapping
	// Stats count what the data path moved through this queue.
	Stats QueueStats
}

// Negotiated is what the frontend chose.
type Negotiated struct {
	Queues           int
	Split            bool
	RxCopy           bool
	SG               bool
	GSOTCPv4         bool
	GSOTCPv6         bool
	IPv6CsumOffload  bool
	NoCsumOffload    bool
	MulticastControl bool
}

// Vif is one netback device.
type Vif struct {
	Device     xenbus.Device
	Settings   Settings
	Keys       VifKeys // mac, bridge, mtu, rate, vifname, ip
	Negotiated Negotiated
	Queues     []*Queue

	driver  *Driver
	grants  platform.GrantMapper // the guest's, between Connect and Disconnect
	serving bool                 // the data path was started
}

// Connect implements xenbus.DeviceHandler.
func (v *Vif) Connect(ctx context.Context, c *xsclient.Client) error {
	fe := v.Device.Frontend
	n, present, err := xenbus.ReadUint(ctx, c, fe+"/"+pv.KeyMultiQueueNumQueues, 32)
	if err != nil {
		return err
	}
	if !present {
		n = 1
	}
	if n < 1 || n > uint64(v.Settings.MaxQueues) {
		return fmt.Errorf("multi-queue-num-queues: %d is outside 1..%d (multi-queue-max-queues)", n, v.Settings.MaxQueues)
	}
	rxCopy, err := xenbus.ReadBool(ctx, c, fe+"/"+pv.KeyRequestRxCopy, false)
	if err != nil {
		return err
	}
	if !rxCopy {
		return fmt.Errorf("request-rx-copy: the frontend must use rx copy (receive-flip is not supported)")
	}
	neg := Negotiated{Queues: int(n), RxCopy: true}
	for _, p := range []struct {
		key string
		dst *bool
	}{
		{pv.KeyFeatureSG, &neg.SG}, {pv.KeyFeatureGSOTCPv4, &neg.GSOTCPv4}, {pv.KeyFeatureGSOTCPv6, &neg.GSOTCPv6},
		{pv.KeyFeatureIPv6CsumOffl, &neg.IPv6CsumOffload}, {pv.KeyFeatureNoCsumOffload, &neg.NoCsumOffload},
		{pv.KeyRequestMulticastCtl, &neg.MulticastControl},
	} {
		if *p.dst, err = xenbus.ReadBool(ctx, c, fe+"/"+p.key, false); err != nil {
			return err
		}
	}
	// A frontend may only use what the backend offered.
	neg.SG = neg.SG && v.Settings.Features[pv.KeyFeatureSG]
	neg.GSOTCPv4 = neg.GSOTCPv4 && v.Settings.Features[pv.KeyFeatureGSOTCPv4]
	neg.GSOTCPv6 = neg.GSOTCPv6 && v.Settings.Features[pv.KeyFeatureGSOTCPv6]
	neg.IPv6CsumOffload = neg.IPv6CsumOffload && v.Settings.Features[pv.KeyFeatureIPv6CsumOffl]
	neg.NoCsumOffload = neg.NoCsumOffload || v.Settings.Features[pv.KeyFeatureNoCsumOffload]
	neg.MulticastControl = neg.MulticastControl && v.Settings.Features[pv.KeyFeatureMulticastCtl]

	if err := checkLayout(ctx, c, fe, int(n), []string{pv.KeyTxRingRef, pv.KeyRxRingRef, pv.KeyEventChannel, pv.KeyEventChannelTx, pv.KeyEventChannelRx}); err != nil {
		return err
	}
	if v.grants, err = v.driver.Platform.MapGrants(v.Device.FrontendID); err != nil {
		return fmt.Errorf("the guest's grants: %v", err)
	}
	var queues []*Queue
	release := func() {
		for _, q := range queues {
			q.release()
		}
		v.closeGrants()
	}
	for i := 0; i < int(n); i++ {
		dir := pv.QueueDir(fe, i, int(n))
		q, split, err := v.connectQueue(ctx, c, dir, i)
		if err != nil {
			release()
			return err
		}
		if i == 0 {
			neg.Split = split
		} else if split != neg.Split {
			q.release()
			release()
			return fmt.Errorf("%s: queues disagree on split event channels", rel(fe, dir))
		}
		queues = append(queues, q)
	}
	v.Negotiated, v.Queues = neg, queues
	if dp := v.driver.DataPath; dp != nil {
		if err := dp.Start(v); err != nil {
			release()
			v.Queues = nil
			return fmt.Errorf("data path: %v", err)
		}
		v.serving = true
	}
	v.driver.connected.Put(v, v)
	return nil
}

func rel(fe, dir string) string {
	if dir == fe {
		return pv.KeyFrontend
	}
	return strings.TrimPrefix(dir, fe+"/")
}

// checkLayout enforces netif.h's rule that with several queues the
// transport keys live only in queue-N, and that no queue beyond the count
// exists.
func checkLayout(ctx context.Context, c *xsclient.Client, fe string, n int, keys []string) error {
	names, err := c.Directory(ctx, fe)
	if err != nil {
		return err
	}
	for _, k := range names {
		if q, ok := strings.CutPrefix(k, pv.QueuePrefix); ok {
			i, err := strconv.Atoi(q)
			if err != nil || i < 0 || i >= n || n == 1 {
				return fmt.Errorf("%s: queue layout does not match multi-queue-num-queues %d", k, n)
			}
			continue
		}
		if n > 1 && slices.Contains(keys, k) {
			return fmt.Errorf("%s: a top-level transport key with multi-queue-num-queues %d", k, n)
		}
	}
	return nil
}

func readRef(ctx context.Context, c *xsclient.Client, fe, dir, key string) (uint32, error) {
	v, ok, err := xenbus.ReadUint(ctx, c, dir+"/"+key, 32)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("%s/%s: missing", rel(fe, dir), key)
	}
	return uint32(v), nil
}

func (v *Vif) connectQueue(ctx context.Context, c *xsclient.Client, dir string, i int) (q *Queue, split bool, err error) {
	fe := v.Device.Frontend
	q = &Queue{Index: i}
	defer func() {
		if err != nil {
			q.release()
		}
	}()
	if q.TxRingRef, err = readRef(ctx, c, fe, dir, pv.KeyTxRingRef); err != nil {
		return q, false, err
	}
	if q.RxRingRef, err = readRef(ctx, c, fe, dir, pv.KeyRxRingRef); err != nil {
		return q, false, err
	}
	p := v.driver.Platform
	dom := v.Device.FrontendID
	if q.txMapping, err = v.grants.MapRing([]grant.Ref{grant.Ref(q.TxRingRef)}); err != nil {
		return q, false, fmt.Errorf("%s/tx-ring-ref %d: %v", rel(fe, dir), q.TxRingRef, err)
	}
	if q.Tx, err = ring.NewNetifTxBack(q.txMapping.Bytes()); err != nil {
		return q, false, fmt.Errorf("%s/tx-ring-ref: %v", rel(fe, dir), err)
	}
	if q.rxMapping, err = v.grants.MapRing([]grant.Ref{grant.Ref(q.RxRingRef)}); err != nil {
		return q, false, fmt.Errorf("%s/rx-ring-ref %d: %v", rel(fe, dir), q.RxRingRef, err)
	}
	if q.Rx, err = ring.NewNetifRxBack(q.rxMapping.Bytes()); err != nil {
		return q, false, fmt.Errorf("%s/rx-ring-ref: %v", rel(fe, dir), err)
	}
	txPort, hasTx, err := xenbus.ReadUint(ctx, c, dir+"/"+pv.KeyEventChannelTx, 32)
	if err != nil {
		return q, false, err
	}
	if hasTx {
		if !v.Settings.Features[pv.KeyFeatureSplitEvtchns] {
			return q, false, fmt.Errorf("%s/event-channel-tx: split event channels were not offered", rel(fe, dir))
		}
		rxPort, err := readRef(ctx, c, fe, dir, pv.KeyEventChannelRx)
		if err != nil {
			return q, false, err
		}
		if q.TxChannel, err = p.BindInterdomain(ctx, dom, uint32(txPort)); err != nil {
			return q, false, fmt.Errorf("%s/event-channel-tx %d: %v", rel(fe, dir), txPort, err)
		}
		if q.RxChannel, err = p.BindInterdomain(ctx, dom, rxPort); err != nil {
			return q, false, fmt.Errorf("%s/event-channel-rx %d: %v", rel(fe, dir), rxPort, err)
		}
		return q, true, nil
	}
	port, err := readRef(ctx, c, fe, dir, pv.KeyEventChannel)
	if err != nil {
		return q, false, err
	}
	if q.TxChannel, err = p.BindInterdomain(ctx, dom, port); err != nil {
		return q, false, fmt.Errorf("%s/event-channel %d: %v", rel(fe, dir), port, err)
	}
	return q, false, nil
}

func (q *Queue) release() {
	if q.TxChannel != nil {
		q.TxChannel.Close()
		q.TxChannel = nil
	}
	if q.RxChannel != nil {
		q.RxChannel.Close()
		q.RxChannel = nil
	}
	q.Tx, q.Rx = nil, nil
	if q.txMapping != nil {
		q.txMapping.Unmap()
		q.txMapping = nil
	}
	if q.rxMapping != nil {
		q.rxMapping.Unmap()
		q.rxMapping = nil
	}
}

// Disconnect implements xenbus.DeviceHandler: the data path stops before
// the rings go.
func (v *Vif) Disconnect() {
	if v.serving {
		v.driver.DataPath.Stop(v)
		v.serving = false
	}
	for _, q := range v.Queues {
		q.release()
	}
	v.Queues = nil
	v.closeGrants()
	v.driver.connected.Delete(v)
}

func (v *Vif) closeGrants() {
	if v.grants != nil {
		v.grants.Close()
		v.grants = nil
	}
}

// Connected returns the vifs currently connected.
func (d *Driver) Connected() []*Vif {
	return d.connected.All()
}
