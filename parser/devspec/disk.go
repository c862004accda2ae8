package devspec

import (
	"strconv"
	"strings"

	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/pv"
)

// Disk is a parsed disk spec in the terms of xl's keywords, plus the
// features requested in it.
type Disk struct {
	// Index is the spec's position in the disk list (-1 for a lone spec).
	Index int `json:"-"`
	// Target is the target (pdev_path): nil when none was given (an empty
	// cdrom drive), possibly "" (an empty drive, written target=).
	Target *string `json:"target,omitempty"`
	// Format is raw, qcow, qcow2, vhd, qed or empty (after xl's defaults:
	// raw when not given, empty for a cdrom without a target).
	Format string `json:"format"`
	Vdev   string `json:"vdev"`
	// VirtualDevice is the frontend's virtual-device number (VdevNumber).
	VirtualDevice uint32 `json:"virtual-device"`
	// Access is "rw" or "ro" (a cdrom is always ro).
	Access string `json:"access"`
	// Devtype is "disk" or "cdrom" (a cdrom is removable).
	Devtype string `json:"devtype"`
	// BackendType is phy, tap, qdisk or standalone; "" lets libxl choose.
	BackendType   string `json:"backendtype,omitempty"`
	Backend       string `json:"backend,omitempty"` // backend domain
	Script        string `json:"script,omitempty"`
	Specification string `json:"specification,omitempty"` // xen or virtio
	Discard       *bool  `json:"discard,omitempty"`
	DirectIOSafe  bool   `json:"direct-io-safe,omitempty"`
	Trusted       *bool  `json:"trusted,omitempty"`
	GrantUsage    *bool  `json:"grant_usage,omitempty"`
	Colo          *bool  `json:"colo,omitempty"`
	ColoHost      string `json:"colo-host,omitempty"`
	ColoPort      int    `json:"colo-port,omitempty"`
	ColoExport    string `json:"colo-export,omitempty"`
	ActiveDisk    string `json:"active-disk,omitempty"`
	HiddenDisk    string `json:"hidden-disk,omitempty"`
	// Features are the feature requests (xfeat's extension).
	Features Features `json:"features"`
	// Range is the (first) spec string in the source.
	Range parser.Range `json:"-"`
	// XL is the disk as libxlutil's xlu_disk_parse leaves it.
	XL *DiskXL `json:"-"`
}

// diskKeys are the keywords of a disk spec, for suggestions.
var diskKeys = []string{"target", "format", "vdev", "access", "devtype", "backend", "backendtype", "specification",
	"script", "direct-io-safe", "discard", "no-discard", "colo", "no-colo", "colo-host", "colo-port", "colo-export",
	"active-disk", "hidden-disk", "trusted", "untrusted", "grant_usage", "cdrom"}

// xlDetails help with xl's disk messages.
var xlDetails = map[string]string{
	"unknown value for format":                       "format is raw, qcow, qcow2, vhd, qed or empty",
	"unknown value for access":                       "access is r, ro, w or rw",
	"unknown value for type":                         "devtype is disk or cdrom",
	"unknown value for backendtype":                  "backendtype is phy, tap, qdisk or standalone",
	"unknown value for specification":                "specification is xen or virtio",
	"unknown value for colo_port":                    "colo-port is a non-zero port number",
	"unknown deprecated type":                        "the type after vdev: is cdrom or disk",
	"unknown deprecated disk prefix":                 "known prefixes: raw: qcow: qcow2: vhd: iscsi: nbd: enbd: drbd: phy: file: aio: tap: tap2: tapdisk: ioemu: (use target= for a target containing ':')",
	"too many positional parameters":                 "positional parameters are target, format, vdev, access; use KEY=VALUE for the rest",
	"bad disk syntax":                                "a disk spec is a comma-separated list of positional values and KEY=VALUE settings",
	"no vdev specified":                              "give the guest's device name, e.g. xvda or vdev=xvda",
	"no target specified (and device not removable)": "give the image or device, e.g. /srv/guest.img or target=/dev/vg/lv",
}

// ParseDisk parses the spec strings of one disk (one string in a domain
// config; several when given separately, as `xl block-attach` does) with
// libxlutil's rules (Xen's current tree: trusted, untrusted and
// grant_usage= are keywords) and xfeat's feature keys. Where xl only fails
// later (an invalid vdev, an empty one) this is an error too.
func ParseDisk(specs []string, index int, opts *Options) (*Disk, parser.Diagnostics) {
	d, diags, _ := parseDisk(specs, index, opts)
	return d, diags
}

// parseDisk is ParseDisk that also says which feature each diagnostic is
// about.
func parseDisk(specs []string, index int, opts *Options) (*Disk, parser.Diagnostics, map[*parser.Diagnostic]string) {
	where := opts.where(len(specs))
	label := opts.label()
	var diags parser.Diagnostics
	errf := func(spec, start, end int, summary, detail string) {
		diags = append(diags, diagError(where(spec, start, end), label+summary, detail))
	}
	d := &Disk{Index: index}
	if len(specs) > 0 {
		d.Range = where(0, 0, len(specs[0]))
	}
	for i, s := range specs {
		if j := strings.IndexByte(s, 0); j >= 0 {
			errf(i, j, j+1, "NUL byte in disk spec", "")
			return d, diags, nil
		}
		if off, n, what := badText(s); what != "" {
			errf(i, off, off+n, "disk spec contains "+what, textDetail)
			return d, diags, nil
		}
	}
	sc := diskScanner{dialect: DialectHead}
	var fs *featureSet
	if opts == nil || !opts.XLOnly {
		cur := 0
		fs = &featureSet{t: pv.Vbd, label: label, where: func(s, e int) parser.Range { return where(cur, s, e) }}
		sc.ext = func(spec, start, keyEnd, valStart, valEnd int, key, val string) {
			cur = spec
			switch {
			case key == "features":
				fs.addGeneric(val, valStart)
			case isShorthand(pv.Vbd, key):
				fs.add(key, key, val, start, valEnd, valStart, valEnd, false)
			default:
				cands := append(append([]string{"features"}, diskKeys...), ShorthandKeys(pv.Vbd)...)
				detail := ""
				if s := suggest(key, cands); s != "" {
					detail = "did you mean " + quote(s) + "?"
				}
				errf(spec, start, keyEnd, "unknown disk parameter "+quote(key), detail)
				sc.err = true // as xl: later positional parameters are not used
			}
		}
	}
	sc.run(specs)
	for _, e := range sc.errs {
		spec, start, end := e.Spec, e.Start, e.End
		if spec < 0 { // a check after all specs: point at the last spec
			spec = len(specs) - 1
			start, end = 0, 0
			if spec >= 0 {
				end = len(specs[spec])
			} else {
				spec = 0
			}
		}
		summary := e.Msg
		if e.HasNear {
			summary += " " + quote(e.Near)
		}
		errf(spec, start, end, summary, xlDetails[e.Msg])
	}
	if fs != nil {
		diags = append(diags, fs.diags...)
		d.Features = fs.list
	}
	sortDiags(diags)
	x := &sc.disk
	d.XL = x
	d.fromXL(x)
	// xl's flag and xfeat's request say the same thing two ways: one only.
	if req, ok := d.Features.Lookup(pv.KeyFeatureDiscard); ok && d.Discard != nil {
		flag := "no-discard"
		if *d.Discard {
			flag = "discard"
		}
		asked := "off"
		if req.Value == "1" {
			asked = "on"
		}
		sep := "="
		if strings.HasPrefix(req.Spelling, "features=") {
			sep = ":"
		}
		d := diagError(req.Range, label+quote(req.Spelling+sep+asked)+" and xl's flag "+quote(flag)+" both say whether to discard",
			"use one: the flag asks libxl (discard-enable), the request asks the backend")
		diags = append(diags, d)
		if fs.about == nil {
			fs.about = map[*parser.Diagnostic]string{}
		}
		fs.about[d] = req.Spelling
	}
	if !diags.HasErrors() {
		vs, vstart, vend := sc.vdevAt[0], sc.vdevAt[1], sc.vdevAt[2]
		if n := vdevNumber(d.Vdev); d.Vdev == "" || n < 0 {
			errf(vs, vstart, vend, "invalid virtual device "+quote(d.Vdev),
				"use xvd<letters>[<partition>] (xvda, xvdb1), hd[a-d], sd[a-p], d<N>p<M> or a device number")
		} else {
			d.VirtualDevice = uint32(n)
		}
	}
	var about map[*parser.Diagnostic]string
	if fs != nil {
		about = fs.about
	}
	return d, diags, about
}

func (d *Disk) fromXL(x *DiskXL) {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	d.Target = x.PdevPath
	d.Format = x.Format.String()
	d.Vdev = str(x.Vdev)
	d.Access = "ro"
	if x.Readwrite != 0 {
		d.Access = "rw"
	}
	d.Devtype = "disk"
	if x.IsCdrom != 0 {
		d.Devtype = "cdrom"
	}
	if x.Backend != BackendUnknown {
		d.BackendType = x.Backend.String()
	}
	d.Backend = str(x.BackendDomname)
	d.Script = str(x.Script)
	if x.Specification != SpecificationUnknown {
		d.Specification = x.Specification.String()
	}
	d.Discard = x.DiscardEnable.Ptr()
	d.DirectIOSafe = x.DirectIOSafe
	d.Trusted = x.Trusted.Ptr()
	d.GrantUsage = x.GrantUsage.Ptr()
	d.Colo = x.ColoEnable.Ptr()
	d.ColoHost = str(x.ColoHost)
	d.ColoPort = int(x.ColoPort)
	d.ColoExport = str(x.ColoExport)
	d.ActiveDisk = str(x.ActiveDisk)
	d.HiddenDisk = str(x.HiddenDisk)
}

// String renders d as one disk spec that parses back to the same disk:
// keyword form, target last (target= takes the rest of the string).
func (d *Disk) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	flag := func(b *bool, on, off string) {
		if b != nil {
			if *b {
				parts = append(parts, on)
			} else {
				parts = append(parts, off)
			}
		}
	}
	if d.XL != nil && d.XL.Format != FormatUnknown {
		add("format", d.Format)
	}
	add("vdev", d.Vdev)
	if d.Access == "ro" {
		add("access", "ro")
	}
	if d.Devtype == "cdrom" {
		parts = append(parts, "devtype=cdrom")
	}
	add("backendtype", d.BackendType)
	add("backend", d.Backend)
	add("script", d.Script)
	add("specification", d.Specification)
	flag(d.Discard, "discard", "no-discard")
	if d.DirectIOSafe {
		parts = append(parts, "direct-io-safe")
	}
	flag(d.Trusted, "trusted", "untrusted")
	if d.GrantUsage != nil {
		if *d.GrantUsage {
			parts = append(parts, "grant_usage=1")
		} else {
			parts = append(parts, "grant_usage=0")
		}
	}
	flag(d.Colo, "colo", "no-colo")
	add("colo-host", d.ColoHost)
	if d.ColoPort != 0 {
		add("colo-port", strconv.Itoa(d.ColoPort))
	}
	add("colo-export", d.ColoExport)
	add("active-disk", d.ActiveDisk)
	add("hidden-disk", d.HiddenDisk)
	for _, f := range d.Features {
		parts = append(parts, "features="+f.Name+":"+f.Value)
	}
	if d.Target != nil {
		t := *d.Target
		if strings.HasSuffix(t, ",") {
			t += "," // target= strips one trailing comma
		}
		parts = append(parts, "target="+t)
	}
	return strings.Join(parts, ",")
}
