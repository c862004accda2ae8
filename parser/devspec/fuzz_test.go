package devspec

import (
	"encoding/json"
	"strings"
	"testing"
)

// Seeds for the fuzzers: the upstream cases and xfeat's extensions.
var fuzzDiskSeeds = []string{
	"/dev/vg/guest-volume,raw,hda,rw", "format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume",
	"raw:/dev/vg/guest-volume,hda,w", ",,hdc:cdrom,r", "iscsi:iqn.2001-05.com.example:host,xvda,w",
	"vdev=xvda,target=/x,y", "/srv/g.img,raw,xvda,rw,queues=4,max-ring-page-order=2",
	`vdev=xvda,features=queues:2\;persistent:on,target=/x`, "tap:aio:/x,xvda", "=", "a=b=c",
	"colo,colo-port=7000,colo-host=h,/x,,xvda", "format=raw\x1evdev=hda\x1etarget=/x",
}

var fuzzVifSeeds = []string{
	"bridge=xenbr0,mac=00:16:3e:01:02:03", "rate=10Mb/s@20ms", "trusted", "untrusted,devid=3,mtu=9000",
	`bridge=br0,queues=2,features=tso4:on\;sg:off`, ",, ,", "mac=0x1:2:3:4:5:6", "type=ioemu,model=e1000",
	"colo_sock_mirror_id=1,forwarddev=eth0", "csum=off",
}

func diskJSON(d *Disk) string {
	b, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// FuzzParseDisk: no panic on any input; an accepted disk renders to a spec
// that parses back to the same disk. Specs are separated by \x1e.
func FuzzParseDisk(f *testing.F) {
	for _, s := range fuzzDiskSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		specs := strings.Split(in, "\x1e")
		ParseDiskXL(specs, DialectHead)
		ParseDiskXL(specs, Dialect417)
		d, diags := ParseDisk(specs, 0, nil)
		for _, dg := range diags {
			if dg.Subject == nil {
				t.Fatalf("diagnostic without a position: %v", dg)
			}
		}
		if diags.HasErrors() || (d.Target != nil && strings.ContainsRune(*d.Target, '\n')) {
			return // target= stops at a newline: such a target has no spec form
		}
		r := d.String()
		d2, diags2 := ParseDisk([]string{r}, 0, nil)
		if diags2.HasErrors() {
			t.Fatalf("%q rendered as %q, which is rejected: %v", specs, r, diags2)
		}
		if a, b := diskJSON(d), diskJSON(d2); a != b {
			t.Fatalf("%q rendered as %q:\n first  %s\n second %s", specs, r, a, b)
		}
	})
}

// FuzzParseVif: no panic; an accepted vif renders to a spec that parses back
// to the same vif.
func FuzzParseVif(f *testing.F) {
	for _, s := range fuzzVifSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		v, diags := ParseVif(spec, 0, nil)
		for _, dg := range diags {
			if dg.Subject == nil {
				t.Fatalf("diagnostic without a position: %v", dg)
			}
		}
		if diags.HasErrors() {
			return
		}
		r := v.String()
		v2, diags2 := ParseVif(r, 0, nil)
		if diags2.HasErrors() {
			t.Fatalf("%q rendered as %q, which is rejected: %v", spec, r, diags2)
		}
		a, _ := json.Marshal(v)
		b, _ := json.Marshal(v2)
		if string(a) != string(b) {
			t.Fatalf("%q rendered as %q:\n first  %s\n second %s", spec, r, a, b)
		}
	})
}

// FuzzFeatures: the features= value in both device types; no panic, and the
// requests survive a render and re-parse.
func FuzzFeatures(f *testing.F) {
	for _, s := range []string{`queues:2\;max-ring-page-order:0`, "queues:2;sg:on", "a:b:c", ";", `\;`, `x:\`, "persistent:maybe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, val string) {
		v, diags := ParseVif("features="+val, 0, nil)
		if !diags.HasErrors() {
			v2, diags2 := ParseVif(v.String(), 0, nil)
			if diags2.HasErrors() || mustJSON(v.Features) != mustJSON(v2.Features) {
				t.Fatalf("vif features=%q: %s vs %s (%v)", val, mustJSON(v.Features), mustJSON(v2.Features), diags2)
			}
		}
		d, diags := ParseDisk([]string{"vdev=xvda,features=" + val + ",target=/x"}, 0, nil)
		if !diags.HasErrors() {
			d2, diags2 := ParseDisk([]string{d.String()}, 0, nil)
			if diags2.HasErrors() || diskJSON(d) != diskJSON(d2) {
				t.Fatalf("disk features=%q: %s vs %s (%v)", val, diskJSON(d), diskJSON(d2), diags2)
			}
		}
	})
}
