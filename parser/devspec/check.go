package devspec

import (
	"fmt"
	"math"
	"strings"

	"github.com/xfeat/xfeat/parser"
)

// Config is what CheckFile reads from a parsed xl.cfg: the devices and the
// domain keys xfeat depends on.
type Config struct {
	// Name is the domain's name; "" when the file gives none usable (an
	// error then says why).
	Name   string
	Vifs   []*Vif
	Disks  []*Disk
	Domain DomainKeys
	// Origins says, for each diagnostic CheckFile returned, which device
	// ("vif #0", "disk #1"; "" for domain keys) and which feature (as
	// written; "" when none) it concerns, and its message without the
	// device prefix.
	Origins map[*parser.Diagnostic]Origin
}

// Origin locates a diagnostic of CheckFile in device terms.
type Origin struct {
	Device  string
	Feature string
	Message string
}

// DomainKeys are the domain-wide keys xfeat reads, typed and range-checked;
// nil when not set.
type DomainKeys struct {
	// MaxEventChannels (max_event_channels): 0..131071; 0 or unset means
	// libxl's default 1023.
	MaxEventChannels *uint32
	// MaxGrantFrames (max_grant_frames): 1..INT_MAX; unset means the
	// hypervisor's default (64).
	MaxGrantFrames *uint32
	// MaxMaptrackFrames (max_maptrack_frames): 0..INT_MAX; unset means the
	// hypervisor's default (1024).
	MaxMaptrackFrames *uint32
	// E820Host (e820_host, a defbool: any non-zero number is true).
	E820Host *bool
}

// Defaults applied by libxl and the hypervisor when a key is not set.
const (
	DefaultEventChannels  = 1023
	DefaultGrantFrames    = 64
	DefaultMaptrackFrames = 1024
	// MaxEventChannels is the largest max_event_channels any event channel
	// ABI can use (FIFO: EVTCHN_FIFO_NR_CHANNELS - 1).
	MaxEventChannels = 131071
)

// EventChannels is the effective max_event_channels.
func (k DomainKeys) EventChannels() uint32 {
	if k.MaxEventChannels == nil || *k.MaxEventChannels == 0 {
		return DefaultEventChannels
	}
	return *k.MaxEventChannels
}

// GrantFrames is the effective max_grant_frames.
func (k DomainKeys) GrantFrames() uint32 {
	if k.MaxGrantFrames == nil {
		return DefaultGrantFrames
	}
	return *k.MaxGrantFrames
}

// MaptrackFrames is the effective max_maptrack_frames.
func (k DomainKeys) MaptrackFrames() uint32 {
	if k.MaxMaptrackFrames == nil {
		return DefaultMaptrackFrames
	}
	return *k.MaxMaptrackFrames
}

// CheckFile reads every vif and disk spec of f, their feature requests, and
// the domain keys name (text only), max_event_channels, max_grant_frames,
// max_maptrack_frames and e820_host, and reports every problem with its
// position in the file. Unknown top-level keys are ignored, as xl does.
// Where xl would silently drop devices (a vif or disk list holding a
// nested list, which ends xl's device loop; a single string instead of a
// list) it is an error. Devices are returned even when some have errors;
// do not act on a Config whose diagnostics have errors.
func CheckFile(f *parser.File) (*Config, parser.Diagnostics) {
	c := &Config{Origins: map[*parser.Diagnostic]Origin{}}
	var diags parser.Diagnostics
	add := func(d *parser.Diagnostic, o Origin) {
		diags = append(diags, d)
		c.Origins[d] = o
	}
	for _, kind := range []string{"vif", "disk"} {
		s := f.Lookup(kind)
		if s == nil || s.Value == nil {
			continue
		}
		if s.Value.Kind != parser.KindList {
			d := diagError(s.Value.Range, kind+" must be a list", fmt.Sprintf("write %s = [ \"SPEC\", ... ] (xl ignores a single string: the domain gets no %s)", kind, kind))
			add(d, Origin{Message: d.Summary + ": " + d.Detail})
			continue
		}
		for i, item := range s.Value.Items {
			dev := fmt.Sprintf("%s #%d", kind, i)
			if item.Kind != parser.KindString {
				d := diagError(item.Range, dev+": nested list in "+kind,
					fmt.Sprintf("each %s entry is one spec string; xl would silently drop this entry and every later one", kind))
				add(d, Origin{Device: dev, Message: "nested list in " + kind})
				continue
			}
			v := item
			opts := &Options{Label: dev + ": ", Where: func(_, start, end int) parser.Range { return v.RangeOf(start, end) }}
			var ds parser.Diagnostics
			var about map[*parser.Diagnostic]string
			if kind == "vif" {
				var nic *Vif
				nic, ds, about = parseVif(v.Str, i, opts)
				nic.Range = v.Range
				c.Vifs = append(c.Vifs, nic)
			} else {
				var disk *Disk
				disk, ds, about = parseDisk([]string{v.Str}, i, opts)
				disk.Range = v.Range
				c.Disks = append(c.Disks, disk)
			}
			for _, d := range ds {
				msg := d.Summary[len(opts.Label):]
				if d.Detail != "" {
					msg += ": " + d.Detail
				}
				add(d, Origin{Device: dev, Feature: about[d], Message: msg})
			}
		}
	}
	for _, d := range c.checkDomain(f) {
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		add(d, Origin{Message: msg})
	}
	return c, diags
}

// domainNumber reads a numeric key as xlu_cfg_get_long does: not after
// +=, a single value, strtol base 0 over the whole string.
func domainNumber(s *parser.Setting) (int64, *parser.Diagnostic) {
	r := s.Value.Range
	if s.Op == "+=" {
		return 0, diagError(s.OpRange, fmt.Sprintf("can't use += with numbers for parameter `%s'", s.Name), "use =")
	}
	if s.Value.Kind != parser.KindString {
		return 0, diagError(r, fmt.Sprintf("parameter `%s' is a list but should be a single value", s.Name), "")
	}
	v, n, overflow := cStrtol(s.Value.Str, 0)
	if overflow {
		return 0, diagError(r, fmt.Sprintf("parameter `%s' could not be parsed as a number: Numerical result out of range", s.Name), "")
	}
	if n == 0 || n != len(s.Value.Str) {
		return 0, diagError(r, fmt.Sprintf("parameter `%s' is not a valid number", s.Name),
			"a number is decimal, 0x hexadecimal or 0 octal (C strtol)")
	}
	return v, nil
}

func (c *Config) checkDomain(f *parser.File) parser.Diagnostics {
	var diags parser.Diagnostics
	// The name goes to XenStore (/local/domain/<id>/name) and into what
	// every tool prints; a guest's network namespace is named after it.
	// xl refuses a file without one ("Domain name must be specified."; a
	// list or an empty string is none), and xfeat's commands, like xl's,
	// read a DOM argument of digits as a domain id.
	switch s := f.Lookup("name"); {
	case s == nil || s.Value == nil || s.Value.Kind != parser.KindString || s.Value.Str == "":
		r := parser.Range{Filename: f.Filename, Start: parser.Pos{Line: 1, Column: 1}, End: parser.Pos{Line: 1, Column: 1}}
		if s != nil && s.Value != nil {
			r = s.Value.Range
		}
		diags = append(diags, diagError(r, "the domain has no name", `set name = "..." (xl requires it: "Domain name must be specified.")`))
	case strings.Trim(s.Value.Str, "0123456789") == "":
		diags = append(diags, diagError(s.Value.Range, fmt.Sprintf("the domain name %q is a number", s.Value.Str),
			"xfeat destroy, show and io (and xl) read a number as a domain id: give the domain a name that is not all digits"))
	default:
		if off, n, what := badText(s.Value.Str); what != "" {
			diags = append(diags, diagError(s.Value.RangeOf(off, off+n), "name contains "+what, textDetail))
		} else {
			c.Name = s.Value.Str
		}
	}
	bounded := func(name string, lo, hi int64, why string) *uint32 {
		s := f.Lookup(name)
		if s == nil || s.Value == nil {
			return nil
		}
		v, d := domainNumber(s)
		if d != nil {
			diags = append(diags, d)
			return nil
		}
		if v < lo || v > hi {
			diags = append(diags, diagError(s.Value.Range, fmt.Sprintf("%s %d out of range", name, v),
				fmt.Sprintf("%s is %d..%d; %s", name, lo, hi, why)))
			return nil
		}
		u := uint32(v)
		return &u
	}
	c.Domain.MaxEventChannels = bounded("max_event_channels", 0, MaxEventChannels,
		"no event channel ABI has more than 131071 (0 means the default, 1023)")
	c.Domain.MaxGrantFrames = bounded("max_grant_frames", 1, math.MaxInt32,
		"Xen refuses a grant table of fewer than 1 frame (xl passes 0 on and domain creation fails)")
	c.Domain.MaxMaptrackFrames = bounded("max_maptrack_frames", 0, math.MaxInt32, "xl's bounds")
	if s := f.Lookup("e820_host"); s != nil && s.Value != nil {
		if v, d := domainNumber(s); d != nil {
			diags = append(diags, d)
		} else {
			b := v != 0
			c.Domain.E820Host = &b
			if t := f.Lookup("type"); t != nil && t.Value != nil && t.Value.Kind == parser.KindString && t.Value.Str != "pv" {
				diags = append(diags, diagWarning(s.NameRange, "e820_host only applies to PV guests",
					fmt.Sprintf("type is %q: xl ignores e820_host", t.Value.Str)))
			}
		}
	}
	return diags
}
