package devspec

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/pv"
)

// Vif is a network device spec as xl's parse_nic_config reads it, plus the
// features requested in it. String fields are "" when not given (xl's and
// libxl's defaults then apply).
type Vif struct {
	// Index is the spec's position in the vif list (-1 for a lone spec).
	Index int `json:"-"`
	// Devid is devid= or, as in xl, the list index (-1: libxl picks).
	Devid int `json:"devid"`
	// MAC is set when mac= was given (else libxl picks 00:16:3e:xx:xx:xx).
	MAC *[6]byte `json:"-"`
	// Type is "vif" or "ioemu" (type=), "" when not given.
	Type       string            `json:"type,omitempty"`
	Bridge     string            `json:"bridge,omitempty"`
	Model      string            `json:"model,omitempty"`
	Vifname    string            `json:"vifname,omitempty"`
	Script     string            `json:"script,omitempty"`
	IP         string            `json:"ip,omitempty"`
	Backend    string            `json:"backend,omitempty"`
	Gatewaydev string            `json:"gatewaydev,omitempty"`
	Vlan       string            `json:"vlan,omitempty"`
	Forwarddev string            `json:"forwarddev,omitempty"`
	Rate       *Rate             `json:"rate,omitempty"`
	RateText   string            `json:"-"` // rate= as written
	MTU        int               `json:"mtu,omitempty"`
	Trusted    *bool             `json:"trusted,omitempty"`
	Colo       map[string]string `json:"colo,omitempty"` // colo_* keys as written
	Features   Features          `json:"features"`
	// Range is the spec string in the source.
	Range parser.Range `json:"-"`
}

// MACString formats the MAC as libxl writes it ("" when not given).
func (v *Vif) MACString() string {
	if v.MAC == nil {
		return ""
	}
	m := v.MAC
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// vifStringKeys are the keys whose value xl stores verbatim.
var vifStringKeys = []string{"bridge", "netdev", "gatewaydev", "ip", "script", "backend", "vifname", "model", "forwarddev", "vlan"}

// coloKeys are xl's 48 COLO keys of a vif.
var coloKeys = func() []string {
	var ks []string
	for _, s := range []string{"mirror", "compare_pri_in", "compare_sec_in", "compare_notify", "redirector0", "redirector1", "redirector2", "sec_redirector0", "sec_redirector1"} {
		for _, f := range []string{"id", "ip", "port"} {
			ks = append(ks, "colo_sock_"+s+"_"+f)
		}
	}
	ks = append(ks, "colo_filter_mirror_queue", "colo_filter_mirror_outdev")
	for _, r := range []string{"redirector0", "redirector1", "sec_redirector0", "sec_redirector1"} {
		for _, f := range []string{"queue", "indev", "outdev"} {
			ks = append(ks, "colo_filter_"+r+"_"+f)
		}
	}
	ks = append(ks, "colo_filter_sec_rewriter0_queue",
		"colo_compare_pri_in", "colo_compare_sec_in", "colo_compare_out", "colo_compare_notify_dev",
		"colo_checkpoint_host", "colo_checkpoint_port")
	return ks
}()

func isColoKey(k string) bool {
	for _, c := range coloKeys {
		if c == k {
			return true
		}
	}
	return false
}

// vifKeys are every key= xl accepts in a vif spec.
var vifKeys = append([]string{"type", "mac", "bridge", "netdev", "gatewaydev", "ip", "script", "backend", "vifname",
	"model", "rate", "forwarddev", "accel", "devid", "mtu", "vlan"}, coloKeys...)

// ParseVif parses one vif spec as xl does for the entry at index of a
// domain's vif list (index -1: a lone spec, as `xl network-attach` reads it,
// devid then left to libxl). Unlike xl, which only warns about an unknown
// key, a bad type= or mac= in a domain config, every such problem is an
// error here; what xl accepts silently but is probably a mistake (a
// trailing blank in a value, text after a devid= number) is a warning.
func ParseVif(spec string, index int, opts *Options) (*Vif, parser.Diagnostics) {
	v, diags, _ := parseVif(spec, index, opts)
	return v, diags
}

// parseVif is ParseVif that also says which feature each diagnostic is about.
func parseVif(spec string, index int, opts *Options) (*Vif, parser.Diagnostics, map[*parser.Diagnostic]string) {
	where := opts.where(1)
	label := opts.label()
	xlOnly := opts != nil && opts.XLOnly
	v := &Vif{Index: index, Devid: index}
	v.Range = where(0, 0, len(spec))
	var diags parser.Diagnostics
	errf := func(start, end int, summary, detail string) {
		diags = append(diags, diagError(where(0, start, end), label+summary, detail))
	}
	warnf := func(start, end int, summary, detail string) {
		diags = append(diags, diagWarning(where(0, start, end), label+summary, detail))
	}
	if i := strings.IndexByte(spec, 0); i >= 0 {
		errf(i, i+1, "NUL byte in vif spec", "")
		return v, diags, nil
	}
	fs := &featureSet{t: pv.Vif, label: label, where: func(s, e int) parser.Range { return where(0, s, e) }}

	// strtok(buf, ","): empty fields vanish; then leading spaces are skipped.
	for start := 0; start < len(spec); {
		end := strings.IndexByte(spec[start:], ',')
		if end < 0 {
			end = len(spec)
		} else {
			end += start
		}
		tokStart := start
		start = end + 1
		for tokStart < end && spec[tokStart] == ' ' {
			tokStart++
		}
		if tokStart == end {
			continue
		}
		tok := spec[tokStart:end]
		key, val, hasEq := strings.Cut(tok, "=")
		vs := tokStart + len(key) + 1
		if off, n, what := badText(tok); what != "" {
			what := "vif setting " + quote(key) + " contains " + what
			if hasEq && off >= len(key) {
				what = "value of " + key + "= contains " + badTextWhat(val)
			}
			errf(tokStart+off, tokStart+off+n, what, textDetail)
			continue
		}
		ifname := hasEq && val != "" && contains(ifnameKeys, key)
		if hasEq && val != strings.TrimRight(val, " \t") && key != "features" && !ifname {
			warnf(vs, end, fmt.Sprintf("value of %s= ends in a blank", key), "xl keeps trailing blanks as part of the value")
		}
		if ifname {
			if why := badIfname(val); why != "" {
				errf(vs, end, fmt.Sprintf("%s=%s is not a network interface name", key, quote(val)), why)
				continue
			}
		}
		switch {
		case !hasEq && tok == "trusted":
			t := true
			v.Trusted = &t
		case !hasEq && tok == "untrusted":
			t := false
			v.Trusted = &t
		case !hasEq:
			unknownVifKey(errf, tokStart, end, tok, xlOnly)
		case key == "type":
			switch val {
			case "vif", "ioemu":
				v.Type = val
			default:
				errf(vs, end, "invalid type "+quote(val), "type is vif or ioemu")
			}
		case key == "mac":
			m, ok := parseMAC(val)
			if !ok {
				errf(vs, end, "invalid mac "+quote(val), "write six hexadecimal octets, e.g. 00:16:3e:12:34:56")
			} else {
				v.MAC = &m
			}
		case key == "netdev":
			warnf(tokStart, vs-1, "netdev is deprecated", "use gatewaydev (xl prints the same warning)")
			v.Gatewaydev = val
		case key == "accel":
			warnf(tokStart, end, "accel is not supported and is ignored", "xl prints the same warning")
		case key == "rate":
			r, err := ParseRate(val)
			if err != nil {
				re := err.(*RateError)
				errf(vs+re.Start, vs+re.End, "rate: "+re.Msg+" in "+quote(re.Near),
					"write RATE[@INTERVAL], e.g. 10Mb/s@20ms (units B or b per s, with an optional K, M or G)")
			} else {
				v.Rate, v.RateText = &r, val
			}
		case key == "devid" || key == "mtu":
			n, ok, trailing := parseULong(val)
			switch {
			case !ok:
				errf(vs, end, fmt.Sprintf("%s: failed to convert %s to number", key, quote(val)), "")
			case key == "devid" && n > math.MaxInt32:
				errf(vs, end, fmt.Sprintf("devid %s out of range", val), fmt.Sprintf("a devid is at most %d", math.MaxInt32))
			case key == "mtu" && n > 65535:
				errf(vs, end, fmt.Sprintf("mtu %s out of range", val), "an MTU is at most 65535")
			default:
				if trailing {
					warnf(vs, end, fmt.Sprintf("text after the number in %s=%s is ignored", key, val), "xl reads only the leading digits")
				}
				if key == "devid" {
					v.Devid = int(n)
				} else {
					v.MTU = int(n)
				}
			}
		case isColoKey(key):
			if v.Colo == nil {
				v.Colo = map[string]string{}
			}
			v.Colo[key] = val
		case contains(vifStringKeys, key):
			*v.stringField(key) = val
		case !xlOnly && key == "features":
			fs.addGeneric(val, vs)
		case !xlOnly && isShorthand(pv.Vif, key):
			fs.add(key, key, val, tokStart, end, vs, end, false)
		default:
			unknownVifKey(errf, tokStart, end, tok, xlOnly)
		}
	}
	diags = append(diags, fs.diags...)
	sortDiags(diags)
	v.Features = fs.list
	return v, diags, fs.about
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func isShorthand(t pv.Kind, key string) bool {
	_, ok := Shorthand(t, key)
	return ok
}

func (v *Vif) stringField(key string) *string {
	switch key {
	case "bridge":
		return &v.Bridge
	case "netdev", "gatewaydev":
		return &v.Gatewaydev
	case "ip":
		return &v.IP
	case "script":
		return &v.Script
	case "backend":
		return &v.Backend
	case "vifname":
		return &v.Vifname
	case "model":
		return &v.Model
	case "forwarddev":
		return &v.Forwarddev
	case "vlan":
		return &v.Vlan
	}
	panic("devspec: no vif field " + key)
}

func unknownVifKey(errf func(int, int, string, string), start, end int, tok string, xlOnly bool) {
	key, _, hasEq := strings.Cut(tok, "=")
	cands := append([]string{"trusted", "untrusted"}, vifKeys...)
	if !xlOnly {
		cands = append(append(cands, "features"), ShorthandKeys(pv.Vif)...)
	}
	detail := ""
	if s := suggest(key, cands); s != "" {
		detail = "did you mean " + quote(s) + "?"
	} else if !hasEq {
		detail = "vif settings are KEY=VALUE (or the flags trusted, untrusted)"
	}
	errf(start, start+len(key), "unknown vif key "+quote(key), detail)
}

// parseMAC is xl's loop: six strtoul(...,16) values (C unsigned int, so
// truncated to 32 bits) each at most 255, each followed by one separator
// byte of any kind. Text after the sixth octet is ignored, as in xl. Fewer
// than six octets is rejected (xl reads past the end of the string).
func parseMAC(s string) ([6]byte, bool) {
	var m [6]byte
	p := 0
	for i := 0; i < 6; i++ {
		if p > len(s) {
			return m, false
		}
		u, n, _ := cStrtoul(s[p:], 16)
		if n == 0 || uint32(u) > 255 {
			return m, false
		}
		m[i] = byte(u)
		p += n + 1
	}
	return m, true
}

// parseULong is xl's parse_ulong: strtoul base 10, failing only when no
// digits were read or the value is ULONG_MAX; trailing reports text after
// the number, which xl ignores.
func parseULong(s string) (n uint64, ok, trailing bool) {
	u, c, _ := cStrtoul(s, 10)
	if c == 0 || u == math.MaxUint64 {
		return 0, false, false
	}
	return u, true, c < len(s)
}

// String renders v as a vif spec that parses back to the same device.
func (v *Vif) String() string {
	var parts []string
	add := func(k, val string) {
		if val != "" {
			parts = append(parts, k+"="+val)
		}
	}
	add("type", v.Type)
	add("mac", v.MACString())
	add("bridge", v.Bridge)
	add("gatewaydev", v.Gatewaydev)
	add("ip", v.IP)
	add("script", v.Script)
	add("backend", v.Backend)
	add("vifname", v.Vifname)
	add("model", v.Model)
	add("rate", v.RateText)
	add("forwarddev", v.Forwarddev)
	add("vlan", v.Vlan)
	if v.Devid != v.Index {
		add("devid", itoa(v.Devid))
	}
	if v.MTU != 0 {
		add("mtu", itoa(v.MTU))
	}
	keys := make([]string, 0, len(v.Colo))
	for k := range v.Colo {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+v.Colo[k]) // even empty: the key is kept
	}
	if v.Trusted != nil {
		if *v.Trusted {
			parts = append(parts, "trusted")
		} else {
			parts = append(parts, "untrusted")
		}
	}
	for _, f := range v.Features {
		parts = append(parts, "features="+f.Name+":"+f.Value)
	}
	return strings.Join(parts, ",")
}

// MarshalJSON renders the vif with its MAC as text ("mac", omitted when not
// given).
func (v *Vif) MarshalJSON() ([]byte, error) {
	type plain Vif
	return json.Marshal(struct {
		MAC string `json:"mac,omitempty"`
		*plain
	}{v.MACString(), (*plain)(v)})
}
