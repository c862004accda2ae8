package toolstack

import (
	"fmt"
	"strings"

	"github.com/xfeat/xfeat/backends/frontends/footprint"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/pv"
)

// CheckXenHost is what `xfeat validate` says, on the file alone, of a file
// meant for a real Xen host (xl's guests run Linux's frontends, dom0 runs
// Linux's stock backends), cfg being what devspec.CheckFile read from f
// without errors. Its diagnostics are added to cfg.Origins.
//
//   - A request for a feature a stock Linux backend decides only when it
//     connects (stock.go: feature-persistent, flush, barrier), other than
//     what Linux's default parameter makes it choose, is a warning: served
//     by one, it can be recorded but not enforced.
//   - The budget (budget.go) with the guest's Linux frontends (LinuxGuestOf)
//     and backends whose offers are unknown: the devices with what the
//     file requests and the protocol's minimum must fit (an error per limit
//     broken, as xfeat create would refuse the file), and a warning per
//     limit that what the frontends may take, the backends permitting,
//     would break: under plain xl the devices past it fail to connect or
//     connect with fewer queues.
func CheckXenHost(f *parser.File, cfg *devspec.Config) parser.Diagnostics {
	g := LinuxGuestOf(f)
	p := &Plan{File: f.Filename, Name: cfg.Name, Host: Host{Kind: XenHost}, Guest: &g,
		Limits: Limits{GrantFrames: cfg.Domain.GrantFrames(), EventChannels: cfg.Domain.EventChannels()}}
	var diags parser.Diagnostics
	note := func(d *parser.Diagnostic, device, feature string) {
		diags = append(diags, d)
		msg := d.Summary
		if device != "" {
			msg = strings.TrimPrefix(msg, device+": ")
		}
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		cfg.Origins[d] = devspec.Origin{Device: device, Feature: feature, Message: msg}
	}
	add := func(kind pv.Kind, label string, devid uint32, rng parser.Range, reqs devspec.Features) {
		d := &Device{Kind: kind, Label: label, Devid: devid, rng: rng, guest: &g, open: true, offline: true}
		for _, r := range reqs {
			d.Features = append(d.Features, Feature{Name: r.Name, Value: r.Value, Spelling: r.Spelling, Range: r.Range})
			sf := stockFeatureOf(kind, r.Name)
			if sf == nil || sf.how != stockAtConnect || sf.linuxDefault != "" && r.Value == sf.linuxDefault {
				continue
			}
			sb := stockBackends[kind]
			spelled := r.Spelling
			if spelled == "" {
				spelled = r.Name
			}
			why := "what the disk supports"
			if sf.param != "" {
				why = "its module parameter " + sf.param
			}
			note(&parser.Diagnostic{Severity: parser.DiagWarning, Subject: r.Range.Ptr(),
				Summary: fmt.Sprintf("%s: %s=%s cannot be enforced on a stock Linux backend", label, spelled, r.Value),
				Detail: fmt.Sprintf("%s decides %s only when it connects, from %s: on a real Xen host xfeat create records the request "+
					"and xfeat show says %q unless that is its choice anyway", sb.driver, r.Name, why, "unenforceable")}, label, spelled)
		}
		p.Devices = append(p.Devices, d)
	}
	for i, v := range cfg.Vifs {
		add(pv.Vif, fmt.Sprintf("vif #%d", i), uint32(max(v.Devid, 0)), v.Range, v.Features)
	}
	for i, disk := range cfg.Disks {
		add(pv.Vbd, fmt.Sprintf("disk #%d", i), disk.VirtualDevice, disk.Range, disk.Features)
	}

	fileRange := parser.Range{Filename: f.Filename, Start: parser.Pos{Line: 1, Column: 1}, End: parser.Pos{Line: 1, Column: 1}}
	p.setLimits()
	b := &p.Budget
	for _, d := range p.Devices {
		d.setOffers()
		b.Need, b.MayUse = b.Need.Add(d.Need), b.MayUse.Add(d.MayUse)
	}
	for _, r := range p.resources() {
		switch {
		case r.of(b.Need) > r.of(b.Limits):
			note(p.refusal(f, fileRange, r), "", "")
		case r.of(b.MayUse) > r.of(b.Limits):
			d := p.overLimit(f, fileRange, r, func(d *Device) footprint.Use { return d.MayUse }, func(d *Device) offers { return d.most })
			d.Severity = parser.DiagWarning
			d.Summary = "with Linux frontends taking all the backends may offer, " + d.Summary
			d.Detail += "; under plain xl the devices past the limit would fail to connect or connect with fewer queues " +
				"(netfront takes a grant for every ring slot of a queue when it sets it up); xfeat create lowers what the file " +
				"leaves open until the devices fit, or " + lowerHint
			note(d, "", "")
		}
	}
	return diags
}
