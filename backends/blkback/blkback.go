// Package blkback is the block backend (vbd) of the sandbox host and of
// `xfeat backend run`, control plane: it advertises its feature schema,
// opens the raw image or block device named by the device's params key
// (or, for a device only a hotplug script makes, by physical-device),
// reads config-* requests and checks them against its
// own limits, seeds the keys blkfront reads, and on the frontend's
// Initialised maps every queue's ring (2^ring-page-order grant pages) and
// binds its event channel, publishes sectors, sector-size and info, and goes
// Connected.
//
// Where a feature enters and leaves: a device's config-* requests enter in
// Probe (xenbus.ReadConfig); schema.Decide decides about each with what
// blkback cannot turn on for this device (unsupported, discard-enable 0, a
// read-only disk); the decisions are applied to the vbd's Settings and
// returned for the bus to record; the offer leaves as the keys blkfront
// reads (multi-queue-max-queues, max-ring-page-order, feature-*), the
// disk's properties at Connect. A missing image, or a frontend writing
// garbage, fails that device only (Closing + error node).
//
// The data path (serving requests) hangs on a connected Vbd: its Image file
// and one Queue (ring.BlkifBack + event channel) per queue. Server
// (datapath.go) is blkback's own: one worker per queue, I/O with
// preadv/pwritev straight on the granted pages, persistent grants, indirect
// requests, flush/barrier (fdatasync) and discard (hole punching); see its
// invariants there.
package blkback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/platform"
	"github.com/xfeat/xfeat/backends/ring"
	"github.com/xfeat/xfeat/backends/xenbus"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// Hard bounds advertised in the schema (-min/-max): the toolstack rejects
// requests outside them; requests above the backend's own maximum (-defval)
// are clamped by the backend.
const (
	HardMaxQueues           = 16
	HardMaxRingPageOrder    = ring.MaxPageOrder
	HardMaxIndirectSegments = 4096
)

// Limits are what this backend offers.
type Limits struct {
	MaxQueues           uint32
	MaxRingPageOrder    uint32
	MaxIndirectSegments uint32 // 0: no indirect descriptors
	// Disabled bool features are unsupported: advertised with default 0,
	// a request for 1 is refused.
	Disabled []string
}

// DefaultLimits are what blkback advertises unless xfeat host's flags say
// otherwise (docs/design.md, "Defaults of the reference backends").
func DefaultLimits() Limits {
	return Limits{MaxQueues: 4, MaxRingPageOrder: 4, MaxIndirectSegments: 256}
}

type boolFeature struct{ name, desc string }

var boolFeatures = []boolFeature{
	{pv.KeyFeaturePersistent, "persistent grants: the backend keeps the frontend's pages mapped"},
	{pv.KeyFeatureFlushCache, "BLKIF_OP_FLUSH_DISKCACHE"},
	{pv.KeyFeatureBarrier, "BLKIF_OP_WRITE_BARRIER"},
	{pv.KeyFeatureDiscard, "BLKIF_OP_DISCARD (also needs discard-enable)"},
}

// Check reports limits that make no sense.
func (l Limits) Check() error {
	switch {
	case l.MaxQueues < 1 || l.MaxQueues > HardMaxQueues:
		return fmt.Errorf("vbd maximum queues must be from 1 to %d, not %d", HardMaxQueues, l.MaxQueues)
	case l.MaxRingPageOrder > HardMaxRingPageOrder:
		return fmt.Errorf("vbd maximum ring page order must be from 0 to %d, not %d", HardMaxRingPageOrder, l.MaxRingPageOrder)
	case l.MaxIndirectSegments > HardMaxIndirectSegments:
		return fmt.Errorf("vbd maximum indirect segments must be from 0 to %d, not %d", HardMaxIndirectSegments, l.MaxIndirectSegments)
	}
	for _, d := range l.Disabled {
		if !slices.ContainsFunc(boolFeatures, func(f boolFeature) bool { return f.name == d }) {
			return fmt.Errorf("vbd has no feature %q to disable", d)
		}
	}
	return nil
}

func (l Limits) supports(name string) bool { return !slices.Contains(l.Disabled, name) }

func u(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// Schema is the feature schema blkback advertises for backend domain be.
func (l Limits) Schema(be uint32) *schema.Schema {
	i := func(n int64) *int64 { return &n }
	s := &schema.Schema{Backend: be, Kind: pv.Vbd, Features: map[string]*schema.Feature{
		pv.KeyMultiQueueMaxQueues: {Name: pv.KeyMultiQueueMaxQueues, Type: schema.Uint, Defval: u(l.MaxQueues),
			Desc: "maximum number of rings (hardware queues) the frontend may use", Min: i(1), Max: i(HardMaxQueues)},
		pv.KeyMaxRingPageOrder: {Name: pv.KeyMaxRingPageOrder, Type: schema.Uint, Defval: u(l.MaxRingPageOrder),
			Desc: "maximum ring size, as log2 of its pages", Min: i(0), Max: i(HardMaxRingPageOrder)},
		pv.KeyFeatureMaxIndirectSegs: {Name: pv.KeyFeatureMaxIndirectSegs, Type: schema.Uint, Defval: u(l.MaxIndirectSegments),
			Desc: "maximum segments of an indirect request (0: no indirect descriptors)", Min: i(0), Max: i(HardMaxIndirectSegments)},
	}}
	for _, f := range boolFeatures {
		s.Features[f.name] = &schema.Feature{Name: f.name, Type: schema.Bool, Defval: pv.Bool(l.supports(f.name)), Desc: f.desc}
	}
	return s
}

// DataPath serves a connected vbd's queues (block I/O on its Image). Start
// runs once the rings are mapped and the channels bound, before the backend
// says Connected; an error fails the device. Stop must return only when
// nothing touches the rings, channels or image any more: they are released
// right after.
type DataPath interface {
	Start(v *Vbd) error
	Stop(v *Vbd)
}

// Driver is blkback as a xenbus.BackendDriver.
type Driver struct {
	Limits   Limits
	Platform platform.Backend
	Logf     func(format string, args ...any)
	// DataPath, if set, is started on every connected vbd.
	DataPath DataPath

	// connected holds the devices between Connect and Disconnect.
	connected xenbus.Registry[*Vbd, *Vbd]
}

// Kind implements xenbus.BackendDriver.
func (d *Driver) Kind() pv.Kind { return pv.Vbd }

// Schema implements xenbus.BackendDriver.
func (d *Driver) Schema(be uint32) *schema.Schema { return d.Limits.Schema(be) }

// Settings are the values in effect for one vbd after Probe.
type Settings struct {
	MaxQueues           uint32
	MaxRingPageOrder    uint32
	MaxIndirectSegments uint32
	Persistent          bool
	FlushCache          bool
	Barrier             bool
	Discard             bool
	ReadOnly            bool
	CDROM, Removable    bool
	DirectIO            bool // direct-io-safe: the data path may use O_DIRECT
}

// cannot says why blkback cannot turn feature name on for a device with
// settings set and the toolstack's discard-enable ("" when it can).
func (l Limits) cannot(name string, set Settings, discardEnable bool) string {
	switch {
	case !l.supports(name):
		return "not supported by this backend"
	case name == pv.KeyFeatureDiscard && !discardEnable:
		return pv.KeyDiscardEnable + " is 0"
	case set.ReadOnly && (name == pv.KeyFeatureBarrier || name == pv.KeyFeatureFlushCache || name == pv.KeyFeatureDiscard):
		return "the disk is read-only"
	}
	return ""
}

// apply puts a decided value into effect.
func (set *Settings) apply(d schema.Decision) {
	if d.Action != schema.Apply && d.Action != schema.Clamp {
		return // the default stays
	}
	n64, _ := strconv.ParseUint(d.Value, 10, 32)
	on := d.Value == "1"
	switch d.Feature {
	case pv.KeyMultiQueueMaxQueues:
		set.MaxQueues = uint32(n64)
	case pv.KeyMaxRingPageOrder:
		set.MaxRingPageOrder = uint32(n64)
	case pv.KeyFeatureMaxIndirectSegs:
		set.MaxIndirectSegments = uint32(n64)
	case pv.KeyFeaturePersistent:
		set.Persistent = on
	case pv.KeyFeatureFlushCache:
		set.FlushCache = on
	case pv.KeyFeatureBarrier:
		set.Barrier = on
	case pv.KeyFeatureDiscard:
		set.Discard = on
	}
}

// Probe implements xenbus.BackendDriver: it reads the toolstack's keys,
// decides about each config-* request (schema.Decide), applies the
// decisions, opens the image and writes the keys blkfront reads.
func (d *Driver) Probe(ctx context.Context, c *xsclient.Client, dev *xenbus.Device) (xenbus.DeviceHandler, []schema.Decision, error) {
	be := dev.Backend
	cfg, err := xenbus.ReadConfig(ctx, c, be)
	if err != nil {
		return nil, nil, fmt.Errorf("reading config: %v", err)
	}
	l := d.Limits
	var set Settings
	mode, _ := c.ReadString(ctx, be+"/"+pv.KeyMode)
	set.ReadOnly = mode != "w"
	dt, _ := c.ReadString(ctx, be+"/"+pv.KeyDeviceType)
	set.CDROM = dt == "cdrom"
	set.Removable, _ = xenbus.ReadBool(ctx, c, be+"/"+pv.KeyRemovable, false)
	set.DirectIO, _ = xenbus.ReadBool(ctx, c, be+"/"+pv.KeyDirectIOSafe, false)
	// The toolstack says whether discard may be offered at all.
	discardEnable, err := xenbus.ReadBool(ctx, c, be+"/"+pv.KeyDiscardEnable, true)
	if err != nil {
		discardEnable = true // as before: only a 0 turns discard off
	}
	// The backend's own defaults: what it supports and the disk allows.
	set.MaxQueues, set.MaxRingPageOrder, set.MaxIndirectSegments = l.MaxQueues, l.MaxRingPageOrder, l.MaxIndirectSegments
	def := func(name string) bool { return l.cannot(name, set, discardEnable) == "" }
	set.Persistent, set.FlushCache = def(pv.KeyFeaturePersistent), def(pv.KeyFeatureFlushCache)
	set.Barrier, set.Discard = def(pv.KeyFeatureBarrier), def(pv.KeyFeatureDiscard)

	sch := l.Schema(dev.BackendID)
	var decisions []schema.Decision
	for _, name := range sortedKeys(cfg) {
		dec := sch.Decide(name, cfg[name], l.cannot(name, set, discardEnable))
		set.apply(dec)
		decisions = append(decisions, dec)
	}
	img, err := openImage(ctx, c, be, set.ReadOnly)
	if err != nil {
		return nil, decisions, err
	}
	err = c.Transact(ctx, func(tx *xsclient.Tx) error {
		if err := xenbus.MustExist(ctx, tx, be); err != nil {
			return err
		}
		w := func(k, v string) error { return tx.Write(ctx, be+"/"+k, []byte(v)) }
		rm := func(k string) error {
			if err := tx.Rm(ctx, be+"/"+k); err != nil && !errors.Is(err, xswire.ErrNotFound) {
				return err
			}
			return nil
		}
		for _, kv := range [][2]string{
			{pv.KeyMultiQueueMaxQueues, u(set.MaxQueues)},
			{pv.KeyMaxRingPageOrder, u(set.MaxRingPageOrder)},
			{pv.KeyFeaturePersistent, pv.Bool(set.Persistent)},
			{pv.KeyFeatureFlushCache, pv.Bool(set.FlushCache)},
			{pv.KeyFeatureBarrier, pv.Bool(set.Barrier)},
			{pv.KeyFeatureDiscard, pv.Bool(set.Discard)},
		} {
			if err := w(kv[0], kv[1]); err != nil {
				return err
			}
		}
		if set.Discard {
			// Holes are punched in file system blocks: smaller
			// discards only zero.
			if err := w(pv.KeyDiscardGranularity, u(discardGranularity(img))); err != nil {
				return err
			}
			if err := w(pv.KeyDiscardAlignment, "0"); err != nil {
				return err
			}
			if err := w(pv.KeyDiscardSecure, "0"); err != nil {
				return err
			}
		}
		// blkif.h: must not be written when indirect is unsupported.
		if set.MaxIndirectSegments == 0 {
			return rm(pv.KeyFeatureMaxIndirectSegs)
		}
		return w(pv.KeyFeatureMaxIndirectSegs, u(set.MaxIndirectSegments))
	})
	if err != nil {
		img.Close()
		return nil, decisions, fmt.Errorf("seeding the backend keys: %v", err)
	}
	return &Vbd{Device: *dev, Settings: set, Image: img, driver: d}, decisions, nil
}

// openImage opens what the device serves: the raw image file or block
// device params names (phy and standalone: the path itself; tap/qdisk
// style "<fmt>:<path>" with fmt raw or aio) or, when params names
// neither, the block device physical-device names (major:minor in hex, as
// a hotplug script writes it once it has made the device). For an image
// file the block script's loop device is not used: it holds the same data.
func openImage(ctx context.Context, c *xsclient.Client, be string, readOnly bool) (*os.File, error) {
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	f, perr := openParams(ctx, c, be, flag)
	if perr == nil {
		return f, nil
	}
	phys, err := c.ReadString(ctx, be+"/"+pv.KeyPhysicalDevice)
	if errors.Is(err, xswire.ErrNotFound) {
		return nil, perr
	}
	if err != nil {
		return nil, fmt.Errorf("%v; %s: %v", perr, pv.KeyPhysicalDevice, err)
	}
	f, err = openDevice(phys, flag)
	if err != nil {
		return nil, fmt.Errorf("%v; %s: %v", perr, pv.KeyPhysicalDevice, err)
	}
	return f, nil
}

// openParams opens the image file or block device params names.
func openParams(ctx context.Context, c *xsclient.Client, be string, flag int) (*os.File, error) {
	params, err := c.ReadString(ctx, be+"/"+pv.KeyParams)
	if err != nil {
		return nil, fmt.Errorf("params: %v", err)
	}
	path := params
	if f, p, ok := strings.Cut(params, ":"); ok && !strings.HasPrefix(params, "/") {
		if f != "aio" && f != "raw" {
			return nil, fmt.Errorf("params: %q: only raw images are served", params)
		}
		path = p
	}
	if path == "" {
		return nil, fmt.Errorf("params: empty (no medium)")
	}
	// The host runs detached, from "/": a relative path would name some
	// other file than the administrator meant.
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("params: %q is not an absolute path", path)
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("params: %v", err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() && st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0 {
		f.Close()
		return nil, fmt.Errorf("params: %s is neither a regular file (raw image) nor a block device", path)
	}
	return f, nil
}

// openDevice opens the block device of a physical-device value,
// "major:minor" in hex, through its node in /dev as sysfs names it.
func openDevice(mm string, flag int) (*os.File, error) {
	maj, min, ok := strings.Cut(mm, ":")
	ma, err1 := strconv.ParseUint(maj, 16, 32)
	mi, err2 := strconv.ParseUint(min, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%q is not major:minor in hex", mm)
	}
	uevent, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/uevent", ma, mi))
	if err != nil {
		return nil, fmt.Errorf("%s: no block device %d:%d", mm, ma, mi)
	}
	var name string
	for _, l := range strings.Split(string(uevent), "\n") {
		if v, ok := strings.CutPrefix(l, "DEVNAME="); ok {
			name = v
		}
	}
	if name == "" || strings.Contains(name, "..") {
		return nil, fmt.Errorf("%s: sysfs names no device node", mm)
	}
	path := "/dev/" + name
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK || uint64(unix.Major(st.Rdev)) != ma || uint64(unix.Minor(st.Rdev)) != mi {
		f.Close()
		return nil, fmt.Errorf("%s: %s is not block device %d:%d", mm, path, ma, mi)
	}
	return f, nil
}

// imageSize is the size of an image file or block device in bytes.
func imageSize(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if st.Mode().IsRegular() {
		return st.Size(), nil
	}
	// A block device: its end (preadv and pwritev do not use the offset).
	return f.Seek(0, io.SeekEnd)
}

// discardGranularity is the image file system's block size (512 if
// unknown).
func discardGranularity(f *os.File) uint32 {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Blksize < 512 || st.Blksize&(st.Blksize-1) != 0 || st.Blksize > 1<<20 {
		return 512
	}
	return uint32(st.Blksize)
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Queue is one connected ring and its event channel.
type Queue struct {
	Index    int
	RingRefs []uint32
	Ring     *ring.BlkifBack
	Channel  platform.Channel
	mapping  platform.Mapping
}

// Negotiated is what the frontend chose.
type Negotiated struct {
	Queues        int
	RingPageOrder uint32
	Persistent    bool // both ends
	Protocol      string
}

// Vbd is one blkback device.
type Vbd struct {
	Device     xenbus.Device
	Settings   Settings
	Negotiated Negotiated
	Image      *os.File
	Sectors    uint64 // 512-byte sectors
	Queues     []*Queue

	driver  *Driver
	grants  platform.GrantMapper // the guest's, between Connect and Disconnect
	closed  bool
	serving bool // the data path was started
}

// Connect implements xenbus.DeviceHandler.
func (v *Vbd) Connect(ctx context.Context, c *xsclient.Client) error {
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
	order, _, err := xenbus.ReadUint(ctx, c, fe+"/"+pv.KeyRingPageOrder, 32)
	if err != nil {
		return err
	}
	if order > uint64(v.Settings.MaxRingPageOrder) {
		return fmt.Errorf("ring-page-order: %d exceeds max-ring-page-order %d", order, v.Settings.MaxRingPageOrder)
	}
	proto, err := c.ReadString(ctx, fe+"/"+pv.KeyProtocol)
	if errors.Is(err, xswire.ErrNotFound) {
		proto, err = pv.ProtocolX8664, nil
	}
	if err != nil {
		return err
	}
	if proto != pv.ProtocolX8664 {
		return fmt.Errorf("protocol: %q is not supported (x86_64-abi only)", proto)
	}
	pers, err := xenbus.ReadBool(ctx, c, fe+"/"+pv.KeyFeaturePersistent, false)
	if err != nil {
		return err
	}
	neg := Negotiated{Queues: int(n), RingPageOrder: uint32(order), Persistent: pers && v.Settings.Persistent, Protocol: proto}
	if err := checkLayout(ctx, c, fe, int(n)); err != nil {
		return err
	}
	size, err := imageSize(v.Image)
	if err != nil {
		return fmt.Errorf("params: %v", err)
	}
	v.Sectors = uint64(size) / 512

	if v.grants, err = v.driver.Platform.MapGrants(v.Device.FrontendID); err != nil {
		return fmt.Errorf("the guest's grants: %v", err)
	}
	var queues []*Queue
	fail := func(err error) error {
		for _, q := range queues {
			q.release()
		}
		v.closeGrants()
		return err
	}
	for i := 0; i < int(n); i++ {
		dir := pv.QueueDir(fe, i, int(n))
		q, err := v.connectQueue(ctx, c, dir, i, uint32(order))
		if err != nil {
			return fail(err)
		}
		queues = append(queues, q)
	}
	var info uint32
	if v.Settings.CDROM {
		info |= ring.VdiskCDROM
	}
	if v.Settings.Removable {
		info |= ring.VdiskRemovable
	}
	if v.Settings.ReadOnly {
		info |= ring.VdiskReadonly
	}
	be := v.Device.Backend
	err = c.Transact(ctx, func(tx *xsclient.Tx) error {
		if err := xenbus.MustExist(ctx, tx, be); err != nil {
			return err
		}
		for _, kv := range [][2]string{
			{pv.KeySectors, strconv.FormatUint(v.Sectors, 10)},
			{pv.KeySectorSize, "512"},
			{pv.KeyPhysicalSectorSize, "512"},
			{pv.KeyInfo, u(info)},
			{pv.KeyMode, map[bool]string{true: "r", false: "w"}[v.Settings.ReadOnly]},
			{pv.KeyFeaturePersistent, pv.Bool(v.Settings.Persistent)},
		} {
			if err := tx.Write(ctx, be+"/"+kv[0], []byte(kv[1])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fail(fmt.Errorf("publishing the disk properties: %v", err))
	}
	v.Negotiated, v.Queues = neg, queues
	if dp := v.driver.DataPath; dp != nil {
		if err := dp.Start(v); err != nil {
			v.Queues = nil
			return fail(fmt.Errorf("data path: %v", err))
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

var transportKey = func(k string) bool {
	return k == pv.KeyEventChannel || k == pv.KeyRingRef || strings.HasPrefix(k, pv.KeyRingRef)
}

// checkLayout: with several queues, transport keys only in queue-N, and no
// queue-N beyond the count.
func checkLayout(ctx context.Context, c *xsclient.Client, fe string, n int) error {
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
		if n > 1 && transportKey(k) {
			return fmt.Errorf("%s: a top-level transport key with multi-queue-num-queues %d", k, n)
		}
	}
	return nil
}

func (v *Vbd) connectQueue(ctx context.Context, c *xsclient.Client, dir string, i int, order uint32) (q *Queue, err error) {
	fe := v.Device.Frontend
	q = &Queue{Index: i}
	defer func() {
		if err != nil {
			q.release()
		}
	}()
	pages := 1 << order
	for k := 0; k < pages; k++ {
		key := pv.RingRefKey(order, k)
		ref, ok, err := xenbus.ReadUint(ctx, c, dir+"/"+key, 32)
		if err != nil {
			return q, err
		}
		if !ok {
			return q, fmt.Errorf("%s/%s: missing", rel(fe, dir), key)
		}
		q.RingRefs = append(q.RingRefs, uint32(ref))
	}
	port, ok, err := xenbus.ReadUint(ctx, c, dir+"/"+pv.KeyEventChannel, 32)
	if err != nil {
		return q, err
	}
	if !ok {
		return q, fmt.Errorf("%s/event-channel: missing", rel(fe, dir))
	}
	refs := make([]grant.Ref, len(q.RingRefs))
	for i, r := range q.RingRefs {
		refs[i] = grant.Ref(r)
	}
	if q.mapping, err = v.grants.MapRing(refs); err != nil {
		return q, fmt.Errorf("%s ring refs %v: %v", rel(fe, dir), q.RingRefs, err)
	}
	if q.Ring, err = ring.NewBlkifBack(q.mapping.Bytes()); err != nil {
		return q, fmt.Errorf("%s ring: %v", rel(fe, dir), err)
	}
	if q.Channel, err = v.driver.Platform.BindInterdomain(ctx, v.Device.FrontendID, uint32(port)); err != nil {
		return q, fmt.Errorf("%s/event-channel %d: %v", rel(fe, dir), port, err)
	}
	return q, nil
}

func (q *Queue) release() {
	if q.Channel != nil {
		q.Channel.Close()
		q.Channel = nil
	}
	q.Ring = nil
	if q.mapping != nil {
		q.mapping.Unmap()
		q.mapping = nil
	}
}

// Disconnect implements xenbus.DeviceHandler: it releases the rings and
// channels, and the image once the device is done with.
func (v *Vbd) Disconnect() {
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

func (v *Vbd) closeGrants() {
	if v.grants != nil {
		v.grants.Close()
		v.grants = nil
	}
}

// Close releases the image file; the bus calls it when the device is gone.
func (v *Vbd) Close() error {
	v.Disconnect()
	if v.closed {
		return nil
	}
	v.closed = true
	return v.Image.Close()
}

// Connected returns the vbds currently connected.
func (d *Driver) Connected() []*Vbd {
	return d.connected.All()
}
