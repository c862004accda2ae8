package toolstack

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/xsclient"
)

// Limits are a domain's grant-table and event-channel limits (xl.cfg
// max_grant_frames and max_event_channels).
type Limits struct {
	GrantFrames   uint32 `json:"max_grant_frames"`
	EventChannels uint32 `json:"max_event_channels"`
}

// Grant-table arithmetic (xen/include/public/grant_table.h, io/ring.h).
const (
	grantsPerFrame   = 4096 / 8 // grant_entry_v1 is 8 bytes
	reservedGrants   = 2        // xenstore and console pages
	reservedEvtchns  = 2        // xenstore and console channels
	netQueueGrants   = 2 + 256 + 256
	blkDirectSegs    = 11  // BLKIF_MAX_SEGMENTS_PER_REQUEST
	blkSegsPerIndir  = 512 // blkif_request_segment entries in one page
	blkEntriesPerPg  = 32  // __RING_SIZE of blkif in one page
	maxBudgetedOrder = 20  // beyond this the shift overflows; schemas stop at 4
)

// Grants is the number of grant entries the limits make available to
// devices: max_grant_frames × 512, less the two xenstore/console entries.
func (l Limits) Grants() int64 { return int64(l.GrantFrames)*grantsPerFrame - reservedGrants }

// Need is what a device (or a domain) uses of the limits.
type Need struct {
	Grants        int64  `json:"grants"`
	EventChannels int64  `json:"event_channels"`
	Why           string `json:"why,omitempty"`
}

// Feature is one checked feature request of a device.
type Feature struct {
	Name     string `json:"name"`
	Value    string `json:"value"` // canonical (schema.Feature.Check)
	Spelling string `json:"spelling"`
	// Clamp is the backend's maximum when Value exceeds it (the backend will
	// lower the value); "" otherwise.
	Clamp string       `json:"clamp,omitempty"`
	Range parser.Range `json:"-"`
}

// Device is one planned device.
type Device struct {
	Kind    string `json:"type"`  // vif or vbd
	Label   string `json:"label"` // "vif #0", "disk #1": as the config file counts
	Devid   uint32 `json:"devid"`
	Backend uint32 `json:"backend-id"`
	// Features are the requests, in the order written.
	Features []Feature `json:"features"`
	// Need is what the device needs with its requested values, counting a
	// feature nobody asked for at its protocol minimum (1 queue, one ring
	// page, no indirect descriptors, one event channel): this must fit.
	Need Need `json:"need"`
	// MayUse is what the guest may use if it takes everything the backend
	// offers. It may exceed the limits: a frontend then uses less, as
	// Linux's blkfront does with its own defaults.
	MayUse Need `json:"may_use"`

	schema       *schema.Schema
	frontendKeys []kv // written in the frontend dir, inheriting its perms
	readOnlyKeys []kv // frontend keys owned by the backend ([n<be>, r<fe>])
	backendKeys  []kv // written in the backend dir after frontend/frontend-id/online/state
	rng          parser.Range
}

type kv struct{ k, v string }

// Plan is a checked domain, ready to be created.
type Plan struct {
	File    string    `json:"file"`
	Name    string    `json:"name"`
	Limits  Limits    `json:"limits"`
	Devices []*Device `json:"devices"`
	Need    Need      `json:"need"`
	MayUse  Need      `json:"may_use"`
}

// NewPlan checks cfg (a file devspec.CheckFile accepted) against what the
// backends advertise in XenStore, only reading: every requested feature must
// be in its backend's schema and pass its checks, and the devices must fit
// in the domain's grant and event-channel limits. Every problem is a
// diagnostic pointing into the file; warnings (a maximum above what the
// backend offers, which it will clamp) come back too. The plan is nil when
// there is an error.
func NewPlan(ctx context.Context, ops xsclient.Ops, f *parser.File, cfg *devspec.Config) (*Plan, parser.Diagnostics, error) {
	p := &Plan{File: f.Filename, Limits: Limits{GrantFrames: cfg.Domain.GrantFrames(), EventChannels: cfg.Domain.EventChannels()}}
	var diags parser.Diagnostics
	errAt := func(r parser.Range, summary, detail string) {
		diags = append(diags, &parser.Diagnostic{Severity: parser.DiagError, Summary: summary, Detail: detail, Subject: r.Ptr()})
	}
	fileRange := parser.Range{Filename: f.Filename, Start: parser.Pos{Line: 1, Column: 1}, End: parser.Pos{Line: 1, Column: 1}}
	if s := f.Lookup("name"); s == nil || s.Value == nil || s.Value.Kind != parser.KindString || s.Value.Str == "" {
		errAt(fileRange, "the domain has no name", `set name = "..." (xl requires it; xfeat show and destroy accept it)`)
	} else {
		p.Name = s.Value.Str
	}

	schemas := map[string]*schema.Schema{}
	schemaErrs := map[string]error{}
	getSchema := func(be uint32, kind string) (*schema.Schema, error) {
		key := u(be) + "/" + kind
		if s, ok := schemas[key]; ok {
			return s, nil
		}
		if err, ok := schemaErrs[key]; ok {
			return nil, err
		}
		s, err := ReadSchema(ctx, ops, be, kind)
		if err != nil {
			schemaErrs[key] = err
			return nil, err
		}
		schemas[key] = s
		return s, nil
	}
	resolveBackend := func(label, name string, r parser.Range) (uint32, bool) {
		if name == "" {
			return 0, true
		}
		id, _, err := ResolveDomain(ctx, ops, name)
		if err != nil {
			errAt(r, label+": backend domain "+strconv.Quote(name)+" not found", err.Error())
			return 0, false
		}
		return id, true
	}

	seen := map[string]string{}
	addDevice := func(d *Device, backendName string, feats devspec.Features) error {
		key := d.Kind + "/" + u(d.Devid)
		if other, dup := seen[key]; dup {
			errAt(d.rng, fmt.Sprintf("%s: %s %d is also used by %s", d.Label, d.Kind, d.Devid, other), "each device of a domain needs its own devid")
			return nil
		}
		seen[key] = d.Label
		be, ok := resolveBackend(d.Label, backendName, d.rng)
		if !ok {
			return nil
		}
		d.Backend = be
		s, err := getSchema(be, d.Kind)
		if err != nil {
			if errors.Is(err, ErrNoSchema) {
				errAt(d.rng, d.Label+": "+err.Error(), "")
				return nil
			}
			return err
		}
		d.schema = s
		bad := false
		for _, req := range feats {
			spelled := req.Name
			if req.Spelling != "" && req.Spelling != req.Name && req.Spelling != "features="+req.Name {
				spelled = req.Spelling + " (" + req.Name + ")"
			}
			sf := s.Lookup(req.Name)
			if sf == nil {
				errAt(req.Range, fmt.Sprintf("%s: feature %s is not offered by backend domain %d", d.Label, spelled, be),
					fmt.Sprintf("%s advertises %s", s.Dir(), strings.Join(s.Names(), ", ")))
				bad = true
				continue
			}
			canon, err := sf.Check(req.Value)
			if err != nil {
				errAt(req.Range, fmt.Sprintf("%s: %s=%s is not allowed", d.Label, spelled, req.Value),
					fmt.Sprintf("allowed is %s, as backend domain %d advertises in %s", sf.Allowed(), be, s.Dir()))
				bad = true
				continue
			}
			feat := Feature{Name: req.Name, Value: canon, Spelling: req.Spelling, Range: req.Range}
			if schema.RuleFor(d.Kind, req.Name).Cap && exceeds(canon, sf.Defval) {
				feat.Clamp = sf.Defval
				diags = append(diags, &parser.Diagnostic{Severity: parser.DiagWarning,
					Summary: fmt.Sprintf("%s: %s=%s is above backend domain %d's maximum %s", d.Label, spelled, canon, be, sf.Defval),
					Detail:  "the backend will clamp it to " + sf.Defval, Subject: req.Range.Ptr()})
			}
			d.Features = append(d.Features, feat)
		}
		if !bad {
			d.Need, d.MayUse = need(d, true), need(d, false)
			p.Devices = append(p.Devices, d)
		}
		return nil
	}

	for i, v := range cfg.Vifs {
		if v.Devid < 0 || v.Devid > 0xffff {
			errAt(v.Range, fmt.Sprintf("vif #%d: devid %d out of range", i, v.Devid), "")
			continue
		}
		d := &Device{Kind: KindVif, Label: fmt.Sprintf("vif #%d", i), Devid: uint32(v.Devid), rng: v.Range}
		if err := addDevice(d, v.Backend, v.Features); err != nil {
			return nil, diags, err
		}
		vifKeys(d, v)
	}
	for i, disk := range cfg.Disks {
		label := fmt.Sprintf("disk #%d", i)
		d := &Device{Kind: KindVbd, Label: label, Devid: disk.VirtualDevice, rng: disk.Range}
		if disk.Format == "empty" || disk.Target == nil || *disk.Target == "" {
			errAt(disk.Range, label+": an empty drive (no target) is not supported by xfeat create",
				"the vbd backend serves an image file or device: give the drive a target")
			continue
		}
		if disk.Format != "raw" && disk.Format != "" {
			errAt(disk.Range, fmt.Sprintf("%s: format %s is not supported by xfeat create", label, disk.Format),
				"the vbd backend serves raw images only (type=phy); convert the image (qemu-img convert -O raw)")
			continue
		}
		if bt := disk.BackendType; bt != "" && bt != "phy" {
			errAt(disk.Range, fmt.Sprintf("%s: backendtype=%s is not supported by xfeat create", label, bt), "only phy backends are")
			continue
		}
		if disk.Specification == "virtio" {
			errAt(disk.Range, label+": specification=virtio is not supported by xfeat create", "only xen PV disks are")
			continue
		}
		if err := addDevice(d, disk.Backend, disk.Features); err != nil {
			return nil, diags, err
		}
		diskKeys(d, disk)
	}
	if diags.HasErrors() {
		return nil, diags, nil
	}
	diags = append(diags, p.checkBudget(f, fileRange)...)
	if diags.HasErrors() {
		return nil, diags, nil
	}
	return p, diags, nil
}

// exceeds reports whether integer a is above integer b.
func exceeds(a, b string) bool {
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	return err1 == nil && err2 == nil && x > y
}

// effective is the value a backend will offer for feature name: the request
// (lowered to the backend's maximum for a capped feature), else (unless
// requestedOnly) the advertised default, else the protocol minimum def.
func (d *Device) effective(name string, def int64, requestedOnly bool) int64 {
	val := ""
	if sf := d.schema.Lookup(name); sf != nil && !requestedOnly {
		val = sf.Defval
	}
	for _, f := range d.Features {
		if f.Name == name {
			val = f.Value
			if f.Clamp != "" {
				val = f.Clamp
			}
		}
	}
	if n, err := strconv.ParseInt(val, 10, 64); err == nil && n >= 0 {
		return n
	}
	return def
}

// need computes what d uses: with requestedOnly, with its requested values
// and the protocol minimum for the rest (what must fit); otherwise if the
// guest takes everything the backend offers (netfront takes every queue;
// blkfront the largest ring and as many indirect segments as offered).
func need(d *Device, requestedOnly bool) Need {
	queues := d.effective("multi-queue-max-queues", 1, requestedOnly)
	if queues < 1 {
		queues = 1
	}
	if d.Kind == KindVif {
		perQueue := int64(1)
		if d.effective("feature-split-event-channels", 0, requestedOnly) != 0 {
			perQueue = 2
		}
		return Need{Grants: queues * netQueueGrants, EventChannels: queues * perQueue,
			Why: fmt.Sprintf("%d queue(s) × %d grants (2 rings + 256 rx + 256 tx buffers), %d event channel(s) per queue", queues, netQueueGrants, perQueue)}
	}
	order := min(d.effective("max-ring-page-order", 0, requestedOnly), maxBudgetedOrder)
	indirect := d.effective("feature-max-indirect-segments", 0, requestedOnly)
	segs := int64(blkDirectSegs)
	segsWhy := "11 direct segments"
	if indirect > 0 {
		segs = indirect + (indirect+blkSegsPerIndir-1)/blkSegsPerIndir
		segsWhy = fmt.Sprintf("%d indirect segments + %d indirect page(s)", indirect, segs-indirect)
	}
	pages := int64(1) << order
	entries := int64(blkEntriesPerPg) << order
	return Need{Grants: queues * (pages + entries*segs), EventChannels: queues,
		Why: fmt.Sprintf("%d queue(s) × (%d ring page(s) + %d requests × %s), 1 event channel per queue", queues, pages, entries, segsWhy)}
}

func (p *Plan) checkBudget(f *parser.File, fileRange parser.Range) parser.Diagnostics {
	var diags parser.Diagnostics
	p.Need = Need{EventChannels: reservedEvtchns}
	p.MayUse = Need{EventChannels: reservedEvtchns}
	var gWhy, eWhy []string
	var gOver, eOver *Device
	for _, d := range p.Devices {
		p.Need.Grants += d.Need.Grants
		p.Need.EventChannels += d.Need.EventChannels
		p.MayUse.Grants += d.MayUse.Grants
		p.MayUse.EventChannels += d.MayUse.EventChannels
		gWhy = append(gWhy, fmt.Sprintf("%s: %d", d.Label, d.Need.Grants))
		eWhy = append(eWhy, fmt.Sprintf("%s: %d", d.Label, d.Need.EventChannels))
		if gOver == nil && p.Need.Grants > p.Limits.Grants() {
			gOver = d
		}
		if eOver == nil && p.Need.EventChannels > int64(p.Limits.EventChannels) {
			eOver = d
		}
	}
	at := func(key string, d *Device) *parser.Range {
		if s := f.Lookup(key); s != nil && s.Value != nil {
			return s.Value.Range.Ptr()
		}
		if d != nil {
			return d.rng.Ptr()
		}
		return fileRange.Ptr()
	}
	if gOver != nil {
		frames := (p.Need.Grants + reservedGrants + grantsPerFrame - 1) / grantsPerFrame
		diags = append(diags, &parser.Diagnostic{Severity: parser.DiagError, Subject: at("max_grant_frames", gOver),
			Summary: fmt.Sprintf("the devices need %d grant entries but max_grant_frames=%d gives %d (%d × %d, less %d reserved)",
				p.Need.Grants, p.Limits.GrantFrames, p.Limits.Grants(), p.Limits.GrantFrames, grantsPerFrame, reservedGrants),
			Detail: fmt.Sprintf("%s; set max_grant_frames to at least %d, or request fewer queues, a smaller max-ring-page-order or fewer indirect segments",
				strings.Join(gWhy, ", "), frames)})
	}
	if eOver != nil {
		diags = append(diags, &parser.Diagnostic{Severity: parser.DiagError, Subject: at("max_event_channels", eOver),
			Summary: fmt.Sprintf("the devices need %d event channels (%d for xenstore and console) but max_event_channels=%d",
				p.Need.EventChannels, reservedEvtchns, p.Limits.EventChannels),
			Detail: fmt.Sprintf("%s; set max_event_channels to at least %d, or request fewer queues or no split event channels",
				strings.Join(eWhy, ", "), p.Need.EventChannels)})
	}
	return diags
}

func randomMAC() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("00:16:3e:%02x:%02x:%02x", b[0]&0x7f, b[1], b[2])
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func vifKeys(d *Device, v *devspec.Vif) {
	if d.schema == nil {
		return
	}
	mac := v.MACString()
	if mac == "" {
		mac = randomMAC()
	}
	trusted := v.Trusted == nil || *v.Trusted
	mtu := v.MTU
	if mtu == 0 {
		mtu = 1500
	}
	script := v.Script
	if script == "" {
		script = "vif-bridge"
	}
	if !strings.HasPrefix(script, "/") {
		script = "/etc/xen/scripts/" + script
	}
	bridge := v.Bridge
	if bridge == "" {
		bridge = "xenbr0"
	}
	typ := "vif"
	if v.Type == "ioemu" {
		typ = "vif_ioemu"
	}
	h := u(d.Devid)
	d.frontendKeys = []kv{{"handle", h}, {"mac", mac}, {"trusted", boolDigit(trusted)}}
	d.readOnlyKeys = []kv{{"mtu", strconv.Itoa(mtu)}}
	d.backendKeys = []kv{{"script", script}}
	if v.Vifname != "" {
		d.backendKeys = append(d.backendKeys, kv{"vifname", v.Vifname})
	}
	if v.Forwarddev != "" {
		d.backendKeys = append(d.backendKeys, kv{"forwarddev", v.Forwarddev})
	}
	d.backendKeys = append(d.backendKeys, kv{"mac", mac})
	if v.IP != "" {
		d.backendKeys = append(d.backendKeys, kv{"ip", v.IP})
	}
	if v.Gatewaydev != "" {
		d.backendKeys = append(d.backendKeys, kv{"gatewaydev", v.Gatewaydev})
	}
	if v.Rate != nil && v.Rate.IntervalUsecs > 0 {
		d.backendKeys = append(d.backendKeys, kv{"rate", fmt.Sprintf("%d,%d", v.Rate.BytesPerInterval, v.Rate.IntervalUsecs)})
	}
	if mtu != 1500 {
		d.backendKeys = append(d.backendKeys, kv{"mtu", strconv.Itoa(mtu)})
	}
	if v.Vlan != "" {
		d.backendKeys = append(d.backendKeys, kv{"vlan", v.Vlan})
	}
	d.backendKeys = append(d.backendKeys, kv{"bridge", bridge}, kv{"handle", h}, kv{"type", typ})
}

func diskKeys(d *Device, disk *devspec.Disk) {
	if d.schema == nil {
		return
	}
	rw := disk.Access == "rw"
	mode := "r"
	if rw {
		mode = "w"
	}
	devtype := disk.Devtype
	if devtype == "" {
		devtype = "disk"
	}
	target := ""
	if disk.Target != nil {
		target = *disk.Target
	}
	// A relative image path means the one next to where xfeat create runs;
	// the backend (a detached host, running from /) needs it absolute.
	if target != "" && !filepath.IsAbs(target) {
		if abs, err := filepath.Abs(target); err == nil {
			target = abs
		}
	}
	discard := rw // libxl__device_disk_setdefault: discard on for writable disks
	if disk.Discard != nil {
		discard = *disk.Discard
	}
	trusted := disk.Trusted == nil || *disk.Trusted
	script := disk.Script
	if script == "" {
		script = "block"
	}
	if !strings.HasPrefix(script, "/") {
		script = "/etc/xen/scripts/" + script
	}
	d.frontendKeys = []kv{{"virtual-device", u(d.Devid)}, {"device-type", devtype}, {"trusted", boolDigit(trusted)}, {"protocol", "x86_64-abi"}}
	d.backendKeys = []kv{{"params", target}, {"script", script},
		{"removable", boolDigit(devtype == "cdrom")}, {"bootable", "1"}, {"dev", disk.Vdev},
		{"type", "phy"}, {"mode", mode}, {"device-type", devtype}}
	if disk.DirectIOSafe {
		d.backendKeys = append(d.backendKeys, kv{"direct-io-safe", "1"})
	}
	d.backendKeys = append(d.backendKeys, kv{"discard-enable", boolDigit(discard)}, kv{"specification", "xen"})
}

// Node is one XenStore node a plan writes.
type Node struct {
	Path  string          `json:"path"`
	Value string          `json:"value"`
	Perms []xsclient.Perm `json:"-"`
	// Explicit means the toolstack sets Perms on the node; otherwise the
	// node inherits them from its parent when created.
	Explicit bool `json:"explicit"`
}

// PermStrings returns the permissions in their wire form ("n0", "r5").
func (n Node) PermStrings() []string { return xsclient.FormatPerms(n.Perms) }

type nodeList struct {
	nodes []Node
	perms map[string][]xsclient.Perm
}

func (l *nodeList) add(path, value string, perms ...xsclient.Perm) {
	n := Node{Path: path, Value: value, Perms: perms, Explicit: len(perms) > 0}
	if !n.Explicit {
		parent := path[:strings.LastIndexByte(path, '/')]
		n.Perms = l.perms[parent]
	}
	l.perms[path] = n.Perms
	l.nodes = append(l.nodes, n)
}

func p(access byte, domid uint32) xsclient.Perm { return xsclient.Perm{Domid: domid, Access: access} }

// ClaimNodes are the nodes that claim domid: /libxl/<domid> and what the
// sandbox host reads when the domain is introduced.
func (pl *Plan) ClaimNodes(domid uint32) []Node {
	l := &nodeList{perms: map[string][]xsclient.Perm{}}
	lp := LibxlPath(domid)
	l.add(lp, "", p('n', 0))
	l.add(lp+"/name", pl.Name)
	l.add(lp+"/sandbox", "")
	l.add(lp+"/sandbox/max-grant-frames", u(pl.Limits.GrantFrames))
	l.add(lp+"/sandbox/max-event-channels", u(pl.Limits.EventChannels))
	return l.nodes
}

// DomainNodes are the nodes of domid's domain and devices, in the order
// they are written (parents first), with their permissions.
func (pl *Plan) DomainNodes(domid uint32) []Node {
	l := &nodeList{perms: map[string][]xsclient.Perm{LibxlPath(domid): {p('n', 0)}}}
	dp := DomainPath(domid)
	guest := p('n', domid)
	l.add(dp, "", p('n', 0), p('r', domid))
	l.add(dp+"/name", pl.Name)
	l.add(dp+"/domid", u(domid))
	l.add(dp+"/device", "", p('n', 0), p('r', domid))
	l.add(dp+"/device/suspend", "")
	l.add(dp+"/device/suspend/event-channel", "", guest)
	l.add(dp+"/control", "", p('n', 0), p('r', domid))
	for _, k := range []string{"shutdown", "feature-poweroff", "feature-reboot", "feature-suspend", "sysrq"} {
		l.add(dp+"/control/"+k, "", guest)
	}
	for _, k := range []string{"data", "drivers", "feature", "attr", "error"} {
		l.add(dp+"/"+k, "", guest)
	}
	l.add(LibxlPath(domid)+"/device", "")
	for _, d := range pl.Devices {
		fe, be := FrontendPath(domid, d.Kind, d.Devid), BackendPath(d.Backend, d.Kind, domid, d.Devid)
		sh := ShadowPath(domid, d.Kind, d.Devid)
		l.add(sh, "")
		l.add(sh+"/frontend", fe)
		l.add(sh+"/backend", be)

		l.add(fe, "", p('n', domid), p('r', d.Backend))
		l.add(fe+"/backend", be)
		l.add(fe+"/backend-id", u(d.Backend))
		l.add(fe+"/state", "1")
		for _, k := range d.frontendKeys {
			l.add(fe+"/"+k.k, k.v)
		}
		for _, k := range d.readOnlyKeys {
			l.add(fe+"/"+k.k, k.v, p('n', d.Backend), p('r', domid))
		}

		l.add(be, "", p('n', d.Backend), p('r', domid))
		l.add(be+"/frontend", fe)
		l.add(be+"/frontend-id", u(domid))
		l.add(be+"/online", "1")
		l.add(be+"/state", "1")
		for _, k := range d.backendKeys {
			l.add(be+"/"+k.k, k.v)
		}
		for _, f := range d.Features {
			l.add(be+"/"+schema.ConfigPrefix+f.Name, f.Value, p('n', d.Backend))
		}
	}
	return l.nodes
}

// Refs returns the device references the plan creates for domid.
func (pl *Plan) Refs(domid uint32) []DeviceRef {
	refs := make([]DeviceRef, len(pl.Devices))
	for i, d := range pl.Devices {
		refs[i] = DeviceRef{Kind: d.Kind, Frontend: domid, Devid: d.Devid, Backend: d.Backend,
			FrontendPath: FrontendPath(domid, d.Kind, d.Devid), BackendPath: BackendPath(d.Backend, d.Kind, domid, d.Devid)}
	}
	return refs
}

// sortedKinds returns the backend/kind pairs a domain's devices use, for cleanup.
func sortedKinds(refs []DeviceRef) []DeviceRef {
	m := map[string]DeviceRef{}
	for _, r := range refs {
		m[u(r.Backend)+"/"+r.Kind] = r
	}
	out := make([]DeviceRef, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].BackendPath < out[j].BackendPath })
	return out
}
