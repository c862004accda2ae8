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

	"github.com/xfeat/xfeat/backends/frontends/footprint"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// Feature is one checked feature request of a device.
type Feature struct {
	Name     string `json:"name"`
	Value    string `json:"value"` // canonical (schema.Feature.Check)
	Spelling string `json:"spelling"`
	// Clamp is the backend's maximum when Value exceeds it (the backend will
	// lower the value); "" otherwise.
	Clamp string `json:"clamp,omitempty"`
	// Lowered marks a request the file did not make: the budget lowered
	// what the backend offers so that every device fits (budget.go).
	Lowered bool         `json:"lowered,omitempty"`
	Range   parser.Range `json:"-"`
}

// Device is one planned device.
type Device struct {
	Kind    pv.Kind `json:"type"`
	Label   string  `json:"label"` // "vif #0", "disk #1": as the config file counts
	Devid   uint32  `json:"devid"`
	Backend uint32  `json:"backend-id"`
	// Features are the requests, in the order written, then those the
	// budget added (Lowered).
	Features []Feature `json:"features"`
	// Need, MayUse and Use are what the device takes of the guest (its
	// frontend's footprint plus the nodes xfeat create writes for it,
	// which the guest owns): with the values requested and every other
	// feature at its protocol minimum (what must fit); with everything
	// the backend offers; and with what the budget gives it.
	Need   footprint.Use `json:"need"`
	MayUse footprint.Use `json:"may_use"`
	Use    footprint.Use `json:"use"`

	schema       *schema.Schema
	floor, most  offers // the offers at Need and at MayUse
	offer        offers // the offers at Use
	ownNodes     int64  // nodes DomainNodes writes for it that the guest owns
	frontendKeys []kv   // written in the frontend dir, inheriting its perms
	readOnlyKeys []kv   // frontend keys owned by the backend ([n<be>, r<fe>])
	backendKeys  []kv   // written in the backend dir after frontend/frontend-id/online/state
	rng          parser.Range
}

type kv struct{ k, v string }

// Plan is a checked domain, ready to be created.
type Plan struct {
	File    string    `json:"file"`
	Name    string    `json:"name"`
	Limits  Limits    `json:"limits"`
	Devices []*Device `json:"devices"`
	// Budget is what the devices may take and take (budget.go).
	Budget Budget `json:"budget"`
}

// NewPlan checks cfg (a file devspec.CheckFile accepted) against what the
// backends advertise in XenStore, only reading: every requested feature must
// be in its backend's schema and pass its checks, and the devices must fit in the
// domain's limits, lowering what the backends offer where the file leaves
// it open (budget.go). Every problem is a diagnostic pointing into the
// file; warnings (a maximum above what the backend offers, which it will
// clamp; a device the budget lowered) come back too. The plan is nil when
// there is an error.
func NewPlan(ctx context.Context, ops xsclient.Ops, f *parser.File, cfg *devspec.Config) (*Plan, parser.Diagnostics, error) {
	p := &Plan{File: f.Filename, Limits: Limits{GrantFrames: cfg.Domain.GrantFrames(), EventChannels: cfg.Domain.EventChannels()}}
	var diags parser.Diagnostics
	errAt := func(r parser.Range, summary, detail string) {
		diags = append(diags, &parser.Diagnostic{Severity: parser.DiagError, Summary: summary, Detail: detail, Subject: r.Ptr()})
	}
	p.Name = cfg.Name
	fileRange := parser.Range{Filename: f.Filename, Start: parser.Pos{Line: 1, Column: 1}, End: parser.Pos{Line: 1, Column: 1}}

	schemas := map[string]*schema.Schema{}
	schemaErrs := map[string]error{}
	getSchema := func(be uint32, kind pv.Kind) (*schema.Schema, error) {
		key := u(be) + "/" + string(kind)
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
		key := string(d.Kind) + "/" + u(d.Devid)
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
			p.Devices = append(p.Devices, d)
		}
		return nil
	}

	for i, v := range cfg.Vifs {
		if v.Devid < 0 || v.Devid > 0xffff {
			errAt(v.Range, fmt.Sprintf("vif #%d: devid %d out of range", i, v.Devid), "")
			continue
		}
		d := &Device{Kind: pv.Vif, Label: fmt.Sprintf("vif #%d", i), Devid: uint32(v.Devid), rng: v.Range}
		if err := addDevice(d, v.Backend, v.Features); err != nil {
			return nil, diags, err
		}
		vifKeys(d, v)
	}
	for i, disk := range cfg.Disks {
		label := fmt.Sprintf("disk #%d", i)
		d := &Device{Kind: pv.Vbd, Label: label, Devid: disk.VirtualDevice, rng: disk.Range}
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
	diags = append(diags, p.budget(f, fileRange)...)
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
	d.frontendKeys = []kv{{pv.KeyHandle, h}, {pv.KeyMAC, mac}, {pv.KeyTrusted, boolDigit(trusted)}}
	d.readOnlyKeys = []kv{{pv.KeyMTU, strconv.Itoa(mtu)}}
	d.backendKeys = []kv{{pv.KeyScript, script}}
	if v.Vifname != "" {
		d.backendKeys = append(d.backendKeys, kv{pv.KeyVifname, v.Vifname})
	}
	if v.Forwarddev != "" {
		d.backendKeys = append(d.backendKeys, kv{pv.KeyForwarddev, v.Forwarddev})
	}
	d.backendKeys = append(d.backendKeys, kv{pv.KeyMAC, mac})
	if v.IP != "" {
		d.backendKeys = append(d.backendKeys, kv{pv.KeyIP, v.IP})
	}
	if v.Gatewaydev != "" {
		d.backendKeys = append(d.backendKeys, kv{pv.KeyGatewaydev, v.Gatewaydev})
	}
	if v.Rate != nil && v.Rate.IntervalUsecs > 0 {
		d.backendKeys = append(d.backendKeys, kv{pv.KeyRate, fmt.Sprintf("%d,%d", v.Rate.BytesPerInterval, v.Rate.IntervalUsecs)})
	}
	if mtu != 1500 {
		d.backendKeys = append(d.backendKeys, kv{pv.KeyMTU, strconv.Itoa(mtu)})
	}
	if v.Vlan != "" {
		d.backendKeys = append(d.backendKeys, kv{pv.KeyVlan, v.Vlan})
	}
	d.backendKeys = append(d.backendKeys, kv{pv.KeyBridge, bridge}, kv{pv.KeyHandle, h}, kv{pv.KeyType, typ})
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
	d.frontendKeys = []kv{{pv.KeyVirtualDevice, u(d.Devid)}, {pv.KeyDeviceType, devtype}, {pv.KeyTrusted, boolDigit(trusted)}, {pv.KeyProtocol, pv.ProtocolX8664}}
	d.backendKeys = []kv{{pv.KeyParams, target}, {pv.KeyScript, script},
		{pv.KeyRemovable, boolDigit(devtype == "cdrom")}, {pv.KeyBootable, "1"}, {pv.KeyDev, disk.Vdev},
		{pv.KeyType, "phy"}, {pv.KeyMode, mode}, {pv.KeyDeviceType, devtype}}
	if disk.DirectIOSafe {
		d.backendKeys = append(d.backendKeys, kv{pv.KeyDirectIOSafe, "1"})
	}
	d.backendKeys = append(d.backendKeys, kv{pv.KeyDiscardEnable, boolDigit(discard)}, kv{pv.KeySpecification, "xen"})
}

// Node is one XenStore node a plan writes.
type Node struct {
	Path  string        `json:"path"`
	Value string        `json:"value"`
	Perms []xswire.Perm `json:"-"`
	// Explicit means the toolstack sets Perms on the node; otherwise the
	// node inherits them from its parent when created.
	Explicit bool `json:"explicit"`
}

// PermStrings returns the permissions in their wire form ("n0", "r5").
func (n Node) PermStrings() []string { return xswire.FormatPerms(n.Perms) }

type nodeList struct {
	nodes []Node
	perms map[string][]xswire.Perm
}

func (l *nodeList) add(path, value string, perms ...xswire.Perm) {
	n := Node{Path: path, Value: value, Perms: perms, Explicit: len(perms) > 0}
	if !n.Explicit {
		parent := path[:strings.LastIndexByte(path, '/')]
		n.Perms = l.perms[parent]
	}
	l.perms[path] = n.Perms
	l.nodes = append(l.nodes, n)
}

func p(access byte, domid uint32) xswire.Perm { return xswire.Perm{Domid: domid, Access: access} }

// ClaimNodes are the nodes that claim domid: /libxl/<domid> and what the
// sandbox host reads when the domain is introduced.
func (pl *Plan) ClaimNodes(domid uint32) []Node {
	l := &nodeList{perms: map[string][]xswire.Perm{}}
	lp := pv.LibxlPath(domid)
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
	l := &nodeList{perms: map[string][]xswire.Perm{pv.LibxlPath(domid): {p('n', 0)}}}
	dp := pv.DomainPath(domid)
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
	l.add(pv.LibxlPath(domid)+"/device", "")
	for _, d := range pl.Devices {
		fe, be := pv.FrontendPath(domid, d.Kind, d.Devid), pv.BackendPath(d.Backend, d.Kind, domid, d.Devid)
		sh := pv.ShadowPath(domid, d.Kind, d.Devid)
		l.add(sh, "")
		l.add(sh+"/"+pv.KeyFrontend, fe)
		l.add(sh+"/"+pv.KeyBackend, be)

		l.add(fe, "", p('n', domid), p('r', d.Backend))
		l.add(fe+"/"+pv.KeyBackend, be)
		l.add(fe+"/"+pv.KeyBackendID, u(d.Backend))
		l.add(fe+"/"+pv.KeyState, pv.Initialising.Value())
		for _, k := range d.frontendKeys {
			l.add(fe+"/"+k.k, k.v)
		}
		for _, k := range d.readOnlyKeys {
			l.add(fe+"/"+k.k, k.v, p('n', d.Backend), p('r', domid))
		}

		l.add(be, "", p('n', d.Backend), p('r', domid))
		l.add(be+"/"+pv.KeyFrontend, fe)
		l.add(be+"/"+pv.KeyFrontendID, u(domid))
		l.add(be+"/"+pv.KeyOnline, "1")
		l.add(be+"/"+pv.KeyState, pv.Initialising.Value())
		for _, k := range d.backendKeys {
			l.add(be+"/"+k.k, k.v)
		}
		for _, f := range d.Features {
			l.add(be+"/"+pv.ConfigPrefix+f.Name, f.Value, p('n', d.Backend))
		}
	}
	return l.nodes
}

// Refs returns the device references the plan creates for domid.
func (pl *Plan) Refs(domid uint32) []DeviceRef {
	refs := make([]DeviceRef, len(pl.Devices))
	for i, d := range pl.Devices {
		refs[i] = DeviceRef{Kind: d.Kind, Frontend: domid, Devid: d.Devid, Backend: d.Backend,
			FrontendPath: pv.FrontendPath(domid, d.Kind, d.Devid), BackendPath: pv.BackendPath(d.Backend, d.Kind, domid, d.Devid)}
	}
	return refs
}

// sortedKinds returns the backend/kind pairs a domain's devices use, for cleanup.
func sortedKinds(refs []DeviceRef) []DeviceRef {
	m := map[string]DeviceRef{}
	for _, r := range refs {
		m[u(r.Backend)+"/"+string(r.Kind)] = r
	}
	out := make([]DeviceRef, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].BackendPath < out[j].BackendPath })
	return out
}
