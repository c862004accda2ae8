package toolstack

// Laying a planned domain out in XenStore as libxl does
// (tools/libs/light/libxl_create.c, libxl_device.c, libxl_nic.c,
// libxl_disk.c): the keys each device's frontend and backend directories
// get from the config, and every node Create writes, in order, with its
// permissions. A request becomes config-<feature> in the backend directory,
// readable by the backend only.

import (
	"crypto/rand"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xswire"
)

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
