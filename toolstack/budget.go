package toolstack

// The budget: what a domain's devices take of the guest, checked against
// the domain's limits before anything is written, and what the devices
// are given when everything their backends offer does not fit. This is
// the one place that decides between lowering a device and refusing the
// file; `xfeat create` and `create --dry-run` both go through it.
//
// A device takes, through its frontend, what package footprint models:
// on the sandbox host the reference frontends (grant references, pages of
// guest memory, event channels and XenStore nodes, plus the nodes xfeat
// create writes for it that the guest owns); on a real Xen host Linux's
// netfront and blkfront, bounded by the guest's vcpus and their module
// parameters (grant references and event channels: footprint.LinuxGuest).
// Three figures per device:
//
//   - Need: the values the file requested, every other lowerable feature
//     at its protocol minimum (1 queue, ring page order 0, no indirect
//     descriptors, one event channel per queue). The Needs must fit, or
//     the file is refused, each limit broken with its arithmetic.
//   - MayUse: everything the backend offers (requests clamped to it). A
//     device on a real host whose backend xfeat cannot describe counts at
//     what the guest's frontend takes at most, Need and MayUse alike: it
//     cannot be lowered.
//   - Use: what the plan gives. While some limit is broken, the device
//     taking most of it gives up one step (the later device in the file
//     on a tie) of whichever unrequested feature frees most of it: one
//     queue fewer, a ring half the size, no indirect descriptors, no split
//     event channels. A lowered value is written as a config-* request
//     like the file's own, so the backend offers no more than that.
//
// GuestBudget is the same arithmetic for `xfeat validate`, on the file
// alone: a Linux guest's frontends against backends whose offers are
// unknown.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/xfeat/xfeat/backends/frontends/footprint"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/pv"
)

// Limits are a domain's grant-table and event-channel limits (xl.cfg
// max_grant_frames and max_event_channels).
type Limits struct {
	GrantFrames   uint32 `json:"max_grant_frames"`
	EventChannels uint32 `json:"max_event_channels"`
}

// reservedEvtchns are the xenstore and console event channels of a guest.
const reservedEvtchns = 2

// linuxEvtchnsPerVCPU are the event channels a Linux PV guest binds for
// each vcpu before any device: the timer VIRQ and five IPIs (reschedule,
// call-function, call-function-single, irq-work, spinlock kick;
// arch/x86/xen), as a 2-vcpu guest of tests/xenhost shows in
// /proc/interrupts and Xen's event channel dump ('e' debug key).
const linuxEvtchnsPerVCPU = 6

// reserved are the event channels the guest itself takes of
// max_event_channels.
func (p *Plan) reservedEvtchns() int64 {
	if p.Guest != nil {
		return reservedEvtchns + linuxEvtchnsPerVCPU*p.Guest.VCPUs
	}
	return reservedEvtchns
}

// Grants is the number of grant entries the limits make available to
// devices: max_grant_frames × 512, less the reserved entries.
func (l Limits) Grants() int64 { return footprint.Grants(int64(l.GrantFrames)) }

// Pages is the guest's memory in pages (footprint.GuestPages).
func (l Limits) Pages() int64 { return footprint.GuestPages(int64(l.GrantFrames)) }

// Budget is what a domain's devices may take and take.
type Budget struct {
	// Limits are what the devices may take in all: the grant entries
	// (Limits.Grants), the guest's pages, the event channels less the
	// xenstore and console ones, and the XenStore nodes the domain may
	// own (footprint.NodeQuota) less DomainNodes.
	Limits footprint.Use `json:"limits"`
	// DomainNodes are the nodes of the domain's own directories (not its
	// devices') that xfeat create writes owned by the guest.
	DomainNodes int64 `json:"domain_nodes"`
	// Need, MayUse and Use are the sums over the devices.
	Need   footprint.Use `json:"need"`
	MayUse footprint.Use `json:"may_use"`
	Use    footprint.Use `json:"use"`
	// Short is the limit everything offered did not fit ("" when it
	// did): the first one the budget lowered devices for.
	Short string `json:"short,omitempty"`
}

// A resource is one of the limits a Use is checked against.
type resource struct {
	name string
	of   func(footprint.Use) int64
}

var resources = []resource{
	{"grant entries", func(u footprint.Use) int64 { return u.Grants }},
	{"pages of guest memory", func(u footprint.Use) int64 { return u.Pages }},
	{"event channels", func(u footprint.Use) int64 { return u.EventChannels }},
	{"XenStore nodes", func(u footprint.Use) int64 { return u.Nodes }},
}

// linuxResources are what a real host's Linux guest is checked for: its
// memory is its own and its nodes are xl's layout.
var linuxResources = []resource{resources[0], resources[2]}

// resources are the limits p's guest is checked against.
func (p *Plan) resources() []resource {
	if p.Guest != nil {
		return linuxResources
	}
	return resources
}

// The features the budget may lower, in the order it prefers on a tie.
const (
	kQueues = iota
	kOrder
	kIndirect
	kSplit
	nKnobs
)

var knobFeature = [nKnobs]string{pv.KeyMultiQueueMaxQueues, pv.KeyMaxRingPageOrder, pv.KeyFeatureMaxIndirectSegs, pv.KeyFeatureSplitEvtchns}

// offers are the values a device's frontend will read from its backend.
type offers struct {
	v         [nKnobs]int64 // split: 0 or 1
	multicast bool
}

// unknownOffers are what a backend whose offers are unknown (Device.open)
// is counted as offering: at least what any guest takes, so that the
// guest's own bounds decide.
var unknownOffers = map[string]int64{
	pv.KeyMultiQueueMaxQueues:    1 << 16,
	pv.KeyMaxRingPageOrder:       footprint.LinuxMaxRingPageOrder,
	pv.KeyFeatureMaxIndirectSegs: 1 << 16,
	pv.KeyFeatureSplitEvtchns:    1,
}

// footprint is what d takes with offers o.
func (d *Device) footprint(o offers) footprint.Use {
	if d.guest != nil {
		return d.linux(o).Use()
	}
	var u footprint.Use
	if d.Kind == pv.Vif {
		u = footprint.Vif{Queues: o.v[kQueues], Split: o.v[kSplit] != 0, Multicast: o.multicast}.Use()
	} else {
		u = footprint.Vbd{Queues: o.v[kQueues], RingPageOrder: o.v[kOrder], IndirectSegments: o.v[kIndirect]}.Use()
	}
	u.Nodes += d.ownNodes
	return u
}

// takes says, for people, how d's frontend comes to what it takes with
// offers o.
func (d *Device) takes(o offers) string {
	if d.guest != nil {
		return d.linux(o).String()
	}
	if d.Kind == pv.Vif {
		return footprint.Vif{Queues: o.v[kQueues], Split: o.v[kSplit] != 0, Multicast: o.multicast}.String()
	}
	return footprint.Vbd{Queues: o.v[kQueues], RingPageOrder: o.v[kOrder], IndirectSegments: o.v[kIndirect]}.String()
}

// linuxChoice is what a Linux frontend chose, for Use and String.
type linuxChoice interface {
	Use() footprint.Use
	String() string
}

// linux is what d's Linux frontend chooses with offers o.
func (d *Device) linux(o offers) linuxChoice {
	if d.Kind == pv.Vif {
		return d.guest.Vif(footprint.Vif{Queues: o.v[kQueues], Split: o.v[kSplit] != 0})
	}
	return d.guest.Vbd(footprint.Vbd{Queues: o.v[kQueues], RingPageOrder: o.v[kOrder], IndirectSegments: o.v[kIndirect]})
}

// effective is the value a backend will offer for feature name: the request
// (lowered to the backend's maximum for a capped feature), else (unless
// requestedOnly) the advertised default, else the protocol minimum def.
func (d *Device) effective(name string, def int64, requestedOnly bool) int64 {
	val := ""
	if !requestedOnly {
		if sf := d.schema.Lookup(name); sf != nil {
			val = sf.Defval
		} else if u, ok := unknownOffers[name]; ok && d.open {
			val = strconv.FormatInt(u, 10)
		}
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

// setOffers fills d.floor (Need) and d.most (MayUse). A feature the
// backend's schema does not list cannot be requested, so it is not
// lowered: its floor is what the backend offers (on a real host, for a
// backend xfeat cannot describe, what the guest takes at most) — except
// for GuestBudget's devices (offline), whose floor is the file's request
// or the protocol's minimum.
func (d *Device) setOffers() {
	at := func(requestedOnly bool) offers {
		var o offers
		o.v[kQueues] = max(d.effective(knobFeature[kQueues], 1, requestedOnly), 1)
		if d.Kind == pv.Vbd {
			o.v[kOrder] = min(d.effective(knobFeature[kOrder], 0, requestedOnly), footprint.MaxRingPageOrder)
			o.v[kIndirect] = d.effective(knobFeature[kIndirect], 0, requestedOnly)
		} else {
			o.v[kSplit] = min(d.effective(knobFeature[kSplit], 0, requestedOnly), 1)
			o.multicast = d.effective(pv.KeyFeatureMulticastCtl, 0, false) != 0
		}
		return o
	}
	d.floor, d.most = at(true), at(false)
	for k, name := range knobFeature {
		sf := d.schema.Lookup(name)
		if sf == nil && !d.offline {
			d.floor.v[k] = d.most.v[k]
		} else if sf != nil && sf.Min != nil && d.floor.v[k] < *sf.Min {
			d.floor.v[k] = min(*sf.Min, d.most.v[k])
		}
	}
	d.offer = d.most
	d.Need, d.MayUse = d.footprint(d.floor), d.footprint(d.most)
	d.Takes = d.takes(d.offer)
}

// lower returns o with one step of knob k taken toward d's floor, and
// whether there was a step to take.
func (d *Device) lower(o offers, k int) (offers, bool) {
	if o.v[k] <= d.floor.v[k] {
		return o, false
	}
	if k == kQueues || k == kOrder {
		o.v[k]--
	} else {
		o.v[k] = d.floor.v[k]
	}
	return o, true
}

// bestStep is the knob whose step frees most of r on d (the first in knob
// order on a tie), with what it frees; -1 when no step frees any.
func (d *Device) bestStep(r resource) (int, offers, int64) {
	now := r.of(d.footprint(d.offer))
	best, bestO, bestSave := -1, d.offer, int64(0)
	for k := range nKnobs {
		o, ok := d.lower(d.offer, k)
		if !ok {
			continue
		}
		if save := now - r.of(d.footprint(o)); save > bestSave {
			best, bestO, bestSave = k, o, save
		}
	}
	return best, bestO, bestSave
}

// countOwnedNodes sets Budget.DomainNodes and each device's ownNodes: the
// nodes DomainNodes writes that the guest owns (they count against its
// quota). The guest's id is not known yet; any id no backend has gives
// the same count.
func (p *Plan) countOwnedNodes() {
	id := uint32(MaxDomid)
	for taken := true; taken; {
		taken = false
		for _, d := range p.Devices {
			if d.Backend == id {
				id--
				taken = true
			}
		}
	}
	byFrontend := map[string]*Device{}
	for _, d := range p.Devices {
		d.ownNodes = 0
		byFrontend[pv.FrontendPath(id, d.Kind, d.Devid)] = d
	}
	p.Budget.DomainNodes = 0
	for _, n := range p.DomainNodes(id) {
		if len(n.Perms) == 0 || n.Perms[0].Domid != id {
			continue
		}
		// /local/domain/<id>/device/<kind>/<devid>[/...]
		parts := strings.SplitN(n.Path, "/", 8)
		if len(parts) >= 7 {
			if d := byFrontend[strings.Join(parts[:7], "/")]; d != nil {
				d.ownNodes++
				continue
			}
		}
		p.Budget.DomainNodes++
	}
}

// budget checks the devices against the limits and lowers what they are
// offered until they fit (see the top of this file). It returns an error
// per broken limit when the Needs do not fit, and a warning per lowered
// device.
func (p *Plan) budget(f *parser.File, fileRange parser.Range) parser.Diagnostics {
	p.countOwnedNodes()
	b := &p.Budget
	p.setLimits()
	b.Need, b.MayUse = footprint.Use{}, footprint.Use{}
	for _, d := range p.Devices {
		d.setOffers()
		b.Need, b.MayUse = b.Need.Add(d.Need), b.MayUse.Add(d.MayUse)
	}
	var diags parser.Diagnostics
	for _, r := range p.resources() {
		if r.of(b.Need) > r.of(b.Limits) {
			diags = append(diags, p.refusal(f, fileRange, r))
		}
	}
	if diags.HasErrors() {
		return diags
	}

	use := make([]footprint.Use, len(p.Devices))
	total := footprint.Use{}
	for i, d := range p.Devices {
		use[i] = d.footprint(d.offer)
		total = total.Add(use[i])
	}
	for {
		var r *resource
		for _, res := range p.resources() {
			if res.of(total) > res.of(b.Limits) {
				r = &res
				break
			}
		}
		if r == nil {
			break
		}
		if b.Short == "" {
			b.Short = r.name
		}
		// The device taking most of r gives way; the later one on a tie.
		bi, bo := -1, offers{}
		for i := len(p.Devices) - 1; i >= 0; i-- {
			if bi >= 0 && r.of(use[i]) <= r.of(use[bi]) {
				continue
			}
			if k, o, _ := p.Devices[i].bestStep(*r); k >= 0 {
				bi, bo = i, o
			}
		}
		if bi < 0 {
			// Cannot happen while the Needs fit: every use above its
			// Need has a step that frees some of each resource.
			return append(diags, p.refusal(f, fileRange, *r))
		}
		d := p.Devices[bi]
		d.offer = bo
		total = total.Sub(use[bi])
		use[bi] = d.footprint(d.offer)
		total = total.Add(use[bi])
	}
	b.Use = total
	for i, d := range p.Devices {
		d.Use = use[i]
		d.Takes = d.takes(d.offer)
		if d.offer == d.most {
			continue
		}
		var changes []string
		for k, name := range knobFeature {
			if d.offer.v[k] == d.most.v[k] {
				continue
			}
			val := strconv.FormatInt(d.offer.v[k], 10)
			d.Features = append(d.Features, Feature{Name: name, Value: val, Spelling: name, Lowered: true, Range: d.rng})
			changes = append(changes, fmt.Sprintf("%s %d → %d", name, d.most.v[k], d.offer.v[k]))
		}
		diags = append(diags, &parser.Diagnostic{Severity: parser.DiagWarning, Subject: d.rng.Ptr(),
			Summary: fmt.Sprintf("%s: lowered to fit the domain's limits: %s", d.Label, strings.Join(changes, ", ")),
			Detail: fmt.Sprintf("with all the backends offer the devices would need %d %s, the domain has %d; "+
				"written as config-* requests (request values in the file to choose what gives way)",
				p.short().of(b.MayUse), b.Short, p.short().of(b.Limits))})
	}
	return diags
}

// setLimits sets Budget.Limits: what the devices may take in all.
func (p *Plan) setLimits() {
	b := &p.Budget
	b.Limits = footprint.Use{Grants: p.Limits.Grants(), Pages: p.Limits.Pages(),
		EventChannels: int64(p.Limits.EventChannels) - p.reservedEvtchns(), Nodes: footprint.NodeQuota - b.DomainNodes}
	if p.Guest != nil {
		b.Limits.Pages, b.Limits.Nodes = 0, 0 // not counted (linuxResources)
	}
}

func (p *Plan) short() resource {
	for _, r := range resources {
		if r.name == p.Budget.Short {
			return r
		}
	}
	return resources[0]
}

// refusal is the error for resource r when the devices' Needs break its
// limit: at the domain key that sets the limit, or else at the first
// device past it, with the arithmetic and each device's share.
func (p *Plan) refusal(f *parser.File, fileRange parser.Range, r resource) *parser.Diagnostic {
	b := &p.Budget
	d := p.overLimit(f, fileRange, r, func(d *Device) footprint.Use { return d.Need }, func(d *Device) offers { return d.floor })
	d.Severity = parser.DiagError
	if r.name == "grant entries" {
		need := r.of(b.Need)
		frames := (need + footprint.ReservedGrants + footprint.GrantsPerFrame - 1) / footprint.GrantsPerFrame
		d.Detail += fmt.Sprintf("; set max_grant_frames to at least %d, or %s", frames, lowerHint)
	}
	return d
}

const lowerHint = "request fewer queues, a smaller max-ring-page-order or fewer indirect segments"

// overLimit describes the devices taking more of r than its limit, each
// taking use(d) with offers at(d): at the domain key that sets the limit,
// or else at the first device past it, with the total, the limit and each
// device's share (and, for a Linux guest, its frontend's arithmetic).
func (p *Plan) overLimit(f *parser.File, fileRange parser.Range, r resource, use func(*Device) footprint.Use, at func(*Device) offers) *parser.Diagnostic {
	b := &p.Budget
	var shares []string
	var sum, total int64
	var over *Device
	for _, d := range p.Devices {
		total += r.of(use(d))
	}
	for _, d := range p.Devices {
		sum += r.of(use(d))
		share := fmt.Sprintf("%s: %d", d.Label, r.of(use(d)))
		if d.guest != nil {
			share = fmt.Sprintf("%s: %s", d.Label, d.takes(at(d)))
		}
		shares = append(shares, share)
		if over == nil && sum > r.of(b.Limits) {
			over = d
		}
	}
	where := func(key string) *parser.Range {
		if key != "" {
			if s := f.Lookup(key); s != nil && s.Value != nil {
				return s.Value.Range.Ptr()
			}
		}
		if over != nil {
			return over.rng.Ptr()
		}
		return fileRange.Ptr()
	}
	need, list := total, strings.Join(shares, ", ")
	d := &parser.Diagnostic{}
	switch r.name {
	case "grant entries":
		d.Subject = where("max_grant_frames")
		d.Summary = fmt.Sprintf("the devices need %d grant entries but max_grant_frames=%d gives %d (%d × %d, less %d reserved)",
			need, p.Limits.GrantFrames, b.Limits.Grants, p.Limits.GrantFrames, footprint.GrantsPerFrame, footprint.ReservedGrants)
		d.Detail = list
	case "pages of guest memory":
		d.Subject = where("")
		d.Summary = fmt.Sprintf("the devices need %d pages of guest memory but the guest has %d", need, b.Limits.Pages)
		d.Detail = fmt.Sprintf("%s; a sandbox guest has max_grant_frames × %d pages, at most %d (%d MiB): %s, or use fewer devices",
			list, footprint.GrantsPerFrame, footprint.MaxGuestPages, footprint.MaxGuestPages*4096>>20, lowerHint)
	case "event channels":
		guest := fmt.Sprintf("%d for xenstore and console", p.reservedEvtchns())
		if p.Guest != nil {
			guest = fmt.Sprintf("%d for the guest itself: xenstore, console and %d per vcpu", p.reservedEvtchns(), linuxEvtchnsPerVCPU)
		}
		d.Subject = where("max_event_channels")
		d.Summary = fmt.Sprintf("the devices need %d event channels (%s) but max_event_channels=%d",
			need+p.reservedEvtchns(), guest, p.Limits.EventChannels)
		d.Detail = fmt.Sprintf("%s; set max_event_channels to at least %d, or request fewer queues or no split event channels",
			list, need+p.reservedEvtchns())
	default:
		d.Subject = where("")
		d.Summary = fmt.Sprintf("the guest would own %d XenStore nodes but a domain may own %d (C xenstored's default quota)",
			need+b.DomainNodes, footprint.NodeQuota)
		d.Detail = fmt.Sprintf("%d for the domain's own directories, then per device what xfeat create and its frontend write: %s; "+
			"use fewer devices, or request fewer queues or a smaller max-ring-page-order", b.DomainNodes, list)
	}
	return d
}
