package toolstack

import (
	"strconv"
	"strings"

	"github.com/xfeat/xfeat/backends/frontends/footprint"
	"github.com/xfeat/xfeat/parser"
)

// The Linux frontends' module parameters a guest's kernel command line may
// set (Linux reads module.param=value for a module loaded later; '-' and
// '_' are the same in the name).
var frontendParams = map[string]func(g *footprint.LinuxGuest, v int64){
	"xen_netfront.max_queues":            func(g *footprint.LinuxGuest, v int64) { g.NetMaxQueues = v },
	"xen_blkfront.max_queues":            func(g *footprint.LinuxGuest, v int64) { g.BlkMaxQueues = v },
	"xen_blkfront.max_ring_page_order":   func(g *footprint.LinuxGuest, v int64) { g.BlkMaxRingPageOrder = v },
	"xen_blkfront.max_indirect_segments": func(g *footprint.LinuxGuest, v int64) { g.BlkMaxIndirectSegments = v },
}

// LinuxGuestOf is what bounds the Linux frontends of the guest f
// describes: vcpus (xl's default 1; a value xl would not read, which xl
// only warns about, counts as the default) and the frontends' module
// parameters its kernel command line sets (cmdline, else extra; a guest
// started by a bootloader has its own, and the defaults are assumed).
func LinuxGuestOf(f *parser.File) footprint.LinuxGuest {
	g := footprint.LinuxGuest{VCPUs: 1}
	str := func(key string) (string, bool) {
		s := f.Lookup(key)
		if s == nil || s.Value == nil || s.Value.Kind != parser.KindString {
			return "", false
		}
		return s.Value.Str, true
	}
	if v, ok := str("vcpus"); ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 0, 32); err == nil && n > 0 {
			g.VCPUs = n
		}
	}
	args, ok := str("cmdline")
	if !ok {
		args, _ = str("extra")
	}
	for _, arg := range strings.Fields(args) {
		name, val, ok := strings.Cut(arg, "=")
		set := frontendParams[strings.ReplaceAll(name, "-", "_")]
		if !ok || set == nil {
			continue
		}
		if n, err := strconv.ParseInt(val, 0, 64); err == nil && n >= 0 {
			set(&g, n)
		}
	}
	return g
}
