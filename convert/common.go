package convert

import (
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/pv"
)

// Namespace is the XML namespace of xfeat's element in a domain's
// <metadata>: what xl.cfg says that libvirt has no element for. It is
// stable: a change of its content's meaning gets a new URI.
const Namespace = "https://xfeat.dev/xmlns/features/1"

// metaPrefix is the prefix xfeat writes for Namespace (any prefix is read).
const metaPrefix = "xfeat"

// Options tune a conversion.
type Options struct {
	// Strict makes every warning an error: what libvirt cannot express
	// (kept only in xfeat's metadata, or dropped) fails the conversion.
	Strict bool
}

// groups are the top-level xl.cfg keys libvirt's elements express, grouped
// by the element they come from. A group is the unit in which xl's own
// spelling is kept (see metadata.go): the settings of one group are derived
// from one part of the XML together.
var groups = []struct {
	name string
	keys []string
}{
	{"name", []string{"name"}},
	{"uuid", []string{"uuid"}},
	{"type", []string{"type", "builder"}},
	{"memory", []string{"memory", "maxmem"}},
	{"vcpus", []string{"vcpus", "maxvcpus"}},
	{"bootloader", []string{"bootloader"}},
	{"kernel", []string{"kernel"}},
	{"ramdisk", []string{"ramdisk"}},
	{"cmdline", []string{"cmdline", "root", "extra"}},
	{"boot", []string{"boot"}},
	{"pae", []string{"pae"}},
	{"acpi", []string{"acpi"}},
	{"apic", []string{"apic"}},
	{"hap", []string{"hap"}},
	{"viridian", []string{"viridian"}},
	{"e820_host", []string{"e820_host"}},
	{"on_poweroff", []string{"on_poweroff"}},
	{"on_reboot", []string{"on_reboot"}},
	{"on_crash", []string{"on_crash"}},
	{"max_grant_frames", []string{"max_grant_frames"}},
	{"max_event_channels", []string{"max_event_channels"}},
	{"graphics", []string{"vnc", "vncunused", "vncdisplay", "vnclisten", "vncpasswd", "keymap", "sdl", "display", "xauthority", "vfb"}},
	{"serial", []string{"serial"}},
}

// groupOf returns the group of a top-level key ("" when libvirt has no
// element for it).
func groupOf(key string) string {
	for _, g := range groups {
		for _, k := range g.keys {
			if k == key {
				return g.name
			}
		}
	}
	return ""
}

func groupKeys(name string) []string {
	for _, g := range groups {
		if g.name == name {
			return g.keys
		}
	}
	return nil
}

// xlNumber reads a value as xl's xlu_cfg_get_long does: a single string,
// C strtol base 0 over all of it.
func xlNumber(v *parser.Value) (int64, bool) {
	if v == nil || v.Kind != parser.KindString {
		return 0, false
	}
	return cNumber(v.Str)
}

// cNumber is strtol(s, &end, 0) requiring end at the end of s, without
// overflow.
func cNumber(s string) (int64, bool) {
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	base := 10
	switch {
	case len(t) > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X'):
		base, t = 16, t[2:]
	case len(t) > 1 && t[0] == '0':
		base, t = 8, t[1:]
	}
	if t == "" {
		return 0, false
	}
	u, err := strconv.ParseUint(t, base, 63)
	if err != nil {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}

// xlBool reads a defbool key as xl does (a number; non-zero is true).
func xlBool(v *parser.Value) (bool, bool) {
	n, ok := xlNumber(v)
	return n != 0, ok
}

// The patterns of libvirt's RNG schema (domaincommon.rng, basictypes.rng)
// that the values xfeat writes must match: a value that does not cannot be
// written in libvirt's element.
var (
	reAbsPath    = regexp.MustCompile(`^(/|[a-zA-Z]:\\).+$`)
	reUUID       = regexp.MustCompile(`^([a-fA-F0-9]{32}|[a-fA-F0-9]{8}-([a-fA-F0-9]{4}-){3}[a-fA-F0-9]{12})$`)
	reUniMAC     = regexp.MustCompile(`^[a-fA-F0-9][02468aAcCeE](:[a-fA-F0-9]{2}){5}$`)
	reDeviceName = regexp.MustCompile(`^[a-zA-Z0-9_.\-\\:/]+$`)
	reBridge     = regexp.MustCompile(`^[a-zA-Z0-9_.\-\\:/ ]*$`)
	reNetModel   = regexp.MustCompile(`^[a-zA-Z0-9\-_]+$`)
	reDiskTarget = regexp.MustCompile(`^(ioemu:)?(fd|hd|sd|vd|xvd|ubd)[a-zA-Z0-9_]+$`)
	reIPv4       = regexp.MustCompile(`^(((25[0-5])|(2[0-4][0-9])|(1[0-9]{2})|([1-9][0-9])|([0-9]))\.){3}((25[0-5])|(2[0-4][0-9])|(1[0-9]{2})|([1-9][0-9])|([0-9]))$`)
	reDNSName    = regexp.MustCompile(`^[a-zA-Z0-9.\-]+$`)
)

// ipAddr reports whether s is an address libvirt's <ip address=> takes.
func ipAddr(s string) bool {
	if reIPv4.MatchString(s) {
		return true
	}
	// ipv6Addr: any of the RNG's forms is a valid textual IPv6 address
	// without a zone; strict parsing of the groups is done by the RNG, so
	// keep to what Go's parser and the RNG both accept.
	return strings.Contains(s, ":") && !strings.ContainsAny(s, "%/[] ") && validIPv6(s)
}

// lifecycle lists the actions libvirt accepts for each on_* element; xl's
// own list (libxl_action_on_shutdown) has soft-reset too.
var (
	offActions   = []string{"destroy", "restart", "preserve", "rename-restart"}
	crashActions = []string{"destroy", "restart", "preserve", "rename-restart", "coredump-destroy", "coredump-restart"}
	xlActions    = []string{"destroy", "restart", "rename-restart", "preserve", "coredump-destroy", "coredump-restart", "soft-reset"}
)

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The netif features libvirt's <driver><host .../></driver> expresses, by
// the shorthand keys xfeat defines for them (devspec): the libvirt
// attribute has the shorthand's name and meaning (csum='on' is checksum
// offload on, as csum=on is).
var hostOffloads = []string{"tso4", "tso6", "csum"}

// offload is one libvirt host offload attribute and the xenstore feature
// behind it; on is the feature value that libvirt's 'on' means.
type offload struct {
	attr, feature, on string
}

// offloads resolves hostOffloads through devspec, so that the feature
// names and the polarity of csum (feature-no-csum-offload, inverted) are
// devspec's definitions, not restated here.
var offloads = func() []offload {
	var out []offload
	for _, k := range hostOffloads {
		name, ok := devspec.Shorthand(pv.Vif, k)
		if !ok {
			panic("convert: devspec has no vif shorthand " + k)
		}
		v, diags := devspec.ParseVif(k+"=on", -1, nil)
		if diags.HasErrors() || len(v.Features) != 1 {
			panic("convert: devspec does not read " + k + "=on")
		}
		out = append(out, offload{attr: k, feature: name, on: v.Features[0].Value})
	}
	return out
}()

// queuesFeature returns the xenstore feature the queues shorthand of
// device type t stands for (libvirt's <driver queues=>).
func queuesFeature(t pv.Kind) string {
	name, ok := devspec.Shorthand(t, "queues")
	if !ok {
		panic("convert: devspec has no queues shorthand for " + string(t))
	}
	return name
}

// positive reports whether s is what libvirt's positiveInteger takes and
// xfeat writes back unchanged: a decimal number from 1, without leading
// zeros or sign, that fits an unsigned int.
func positive(s string) bool {
	if s == "" || s[0] == '0' || len(s) > 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	n, _ := strconv.ParseUint(s, 10, 64)
	return n <= math.MaxUint32
}

// rateAverage is the <bandwidth><outbound average=> (KiB/s) that makes
// libvirt's libxl driver, which sends average*1024 bytes a second in 50 ms
// slices, apply rate r; exact reports whether that is r itself.
func rateAverage(r devspec.Rate) (avg uint64, exact bool) {
	if r.IntervalUsecs == 0 {
		return 0, false
	}
	bps := float64(r.BytesPerInterval) * 1e6 / float64(r.IntervalUsecs)
	avg = uint64(math.Round(bps / 1024))
	if avg == 0 {
		avg = 1
	}
	back, _ := devspec.ParseRate(strconv.FormatUint(avg*1024, 10) + "B/s")
	return avg, back == r
}

// validIPv6 reports whether s is a textual IPv6 address without a zone.
func validIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6() && a.Zone() == ""
}
