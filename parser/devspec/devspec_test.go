package devspec

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/parser"
)

func mustVif(t *testing.T, spec string, index int) *Vif {
	t.Helper()
	v, diags := ParseVif(spec, index, nil)
	if diags.HasErrors() {
		t.Fatalf("ParseVif(%q): %v", spec, diags)
	}
	return v
}

func mustDisk(t *testing.T, specs ...string) *Disk {
	t.Helper()
	d, diags := ParseDisk(specs, 0, nil)
	if diags.HasErrors() {
		t.Fatalf("ParseDisk(%q): %v", specs, diags)
	}
	return d
}

// errText returns the diagnostics as one string for substring checks.
func errText(ds parser.Diagnostics) string { return ds.Error() }

func TestVifSplittingAsXl(t *testing.T) {
	// strtok: runs of commas collapse; only leading spaces are stripped.
	// (A trailing blank is kept, with a warning; in an interface name
	// such as vifname= it is an error, see TestNamesAreText.)
	v := mustVif(t, ",,  bridge=br0,,,script=a=b,model=x  ,", 3)
	if v.Bridge != "br0" || v.Script != "a=b" || v.Model != "x  " {
		t.Errorf("got bridge %q script %q model %q", v.Bridge, v.Script, v.Model)
	}
	if v.Devid != 3 {
		t.Errorf("devid defaults to the list index: got %d", v.Devid)
	}
	if v := mustVif(t, "devid=7", 3); v.Devid != 7 {
		t.Errorf("devid= overrides the index: got %d", v.Devid)
	}
	// A TAB is not stripped: "\tbridge=x" is an unknown key.
	if _, diags := ParseVif("\tbridge=x", 0, nil); !diags.HasErrors() {
		t.Error("TAB before a key accepted; xl strips only spaces")
	}
	// An empty spec is a NIC with all defaults.
	if v := mustVif(t, "", 0); v.String() != "" {
		t.Errorf("empty spec rendered as %q", v.String())
	}
	// later keys overwrite earlier ones; netdev is gatewaydev.
	if v := mustVif(t, "bridge=a,bridge=b,netdev=eth0", 0); v.Bridge != "b" || v.Gatewaydev != "eth0" {
		t.Errorf("got %+v", v)
	}
}

func TestVifMAC(t *testing.T) {
	for spec, want := range map[string]string{
		"mac=00:16:3e:01:02:03":         "00:16:3e:01:02:03",
		"mac=0:16:3E:1:2:3":             "00:16:3e:01:02:03",
		"mac=00-16-3e-01-02-03":         "00:16:3e:01:02:03", // any separator
		"mac=00:16:3e:01:02:03:ignored": "00:16:3e:01:02:03",
		"mac=0x10:16:3e:01:02:03":       "10:16:3e:01:02:03", // strtoul base 16 takes 0x
	} {
		if got := mustVif(t, spec, 0).MACString(); got != want {
			t.Errorf("%s: got %s, want %s", spec, got, want)
		}
	}
	for _, spec := range []string{"mac=00:16:3e:01:02", "mac=", "mac=00:16:3e:01:02:100", "mac=zz:16:3e:01:02:03", "mac=-1:16:3e:01:02:03"} {
		if _, diags := ParseVif(spec, 0, nil); !diags.HasErrors() || !strings.Contains(errText(diags), "invalid mac") {
			t.Errorf("%s accepted (%v)", spec, diags)
		}
	}
}

func TestVifNumbersAndFlags(t *testing.T) {
	v := mustVif(t, "mtu=9000,type=ioemu,untrusted", 0)
	if v.MTU != 9000 || v.Type != "ioemu" || v.Trusted == nil || *v.Trusted {
		t.Errorf("got %+v", v)
	}
	for _, spec := range []string{"mtu=abc", "devid=-1", "type=foo", "trusted=1", "devid=4294967296", "mtu=70000"} {
		if _, diags := ParseVif(spec, 0, nil); !diags.HasErrors() {
			t.Errorf("%s accepted", spec)
		}
	}
	// xl reads only the leading digits: accepted, with a warning.
	v, diags := ParseVif("devid=12abc", 0, nil)
	if diags.HasErrors() || len(diags) != 1 || v.Devid != 12 {
		t.Errorf("devid=12abc: devid %d, %v", v.Devid, diags)
	}
}

func TestFeatureShorthandsAndGeneric(t *testing.T) {
	v := mustVif(t, "bridge=br0,queues=2,tso4=on,tso6=off,csum=on,sg=yes", 0)
	want := map[string]string{
		"multi-queue-max-queues":  "2",
		"feature-gso-tcpv4":       "1",
		"feature-gso-tcpv6":       "0",
		"feature-no-csum-offload": "0", // csum=on: checksum offload not disabled
		"feature-sg":              "1",
	}
	if got, _ := json.Marshal(v.Features.Map()); string(got) != mustJSON(want) {
		t.Errorf("vif features %s, want %s", got, mustJSON(want))
	}
	// features= with ';' or '\;', shorthand or xenstore names, mixed with a shorthand.
	for _, spec := range []string{
		`bridge=br0,features=queues:2\;feature-sg:on`,
		`bridge=br0,features=queues:2;sg:1`,
		`bridge=br0,sg=on,features=multi-queue-max-queues:2`,
	} {
		v := mustVif(t, spec, 0)
		if m := v.Features.Map(); len(m) != 2 || m["multi-queue-max-queues"] != "2" || m["feature-sg"] != "1" {
			t.Errorf("%s: %v", spec, m)
		}
	}
	d := mustDisk(t, "/srv/g.img,raw,xvda,rw,queues=4,max-ring-page-order=2,persistent=off,max-indirect-segments=256,discard=off")
	wantDisk := map[string]string{
		"multi-queue-max-queues":        "4",
		"max-ring-page-order":           "2",
		"feature-persistent":            "0",
		"feature-max-indirect-segments": "256",
		"feature-discard":               "0",
	}
	if got, _ := json.Marshal(d.Features.Map()); string(got) != mustJSON(wantDisk) {
		t.Errorf("disk features %s, want %s", got, mustJSON(wantDisk))
	}
	if d.Vdev != "xvda" || d.Access != "rw" || *d.Target != "/srv/g.img" {
		t.Errorf("feature keys disturbed the positional parameters: %+v", d)
	}
	d = mustDisk(t, `vdev=xvda,features=queues:2\;max-ring-page-order:0,target=/x`)
	if m := d.Features.Map(); m["multi-queue-max-queues"] != "2" || m["max-ring-page-order"] != "0" {
		t.Errorf("disk generic form: %v", m)
	}
	if r, ok := d.Features.Lookup("max-ring-page-order"); !ok || r.Spelling != "features=max-ring-page-order" || r.Range.Start.Column != 30 {
		t.Errorf("Lookup: %+v %v", r, ok)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestFeatureErrors(t *testing.T) {
	for _, c := range []struct {
		disk bool
		spec string
		want string
	}{
		{false, "queues=2,features=multi-queue-max-queues:3", `"multi-queue-max-queues" requested twice`},
		{false, "csum=on,features=feature-no-csum-offload:1", "requested twice"},
		{true, "/x,,xvda,persistent=maybe", `"maybe" is not a boolean`},
		{true, "/x,,xvda,features=persistent:maybe", `"maybe" is not a boolean`},
		{true, "/x,,xvda,queues=", "empty value"},
		{false, "features=feature-sg:y", `spec:1:21: feature "feature-sg": "y" is not a boolean`},
		{false, "features=feature-split-event-channels:y", `spec:1:39: feature "feature-split-event-channels": "y" is not a boolean`},
		{true, "/x,,xvda,features=feature-discard:n", `"n" is not a boolean`},
		{false, "features=", "empty features="},
		{false, "features=queues", "has no value"},
		{false, "features=queues:2;;sg:1", "empty item"},
		{false, "features=:2", "has no name"},
		{false, "features=a/b:2", "invalid feature name"},
		{false, "queus=2", `did you mean "queues"`},
		{true, "/x,,xvda,queus=2", `did you mean "queues"`},
		{true, "/x,,xvda,max-ring-page-ordr=2", `did you mean "max-ring-page-order"`},
		{true, "/x,,xvda,tso4=on", `unknown disk parameter "tso4"`}, // a vif feature, not a disk one
		// xl's flag and xfeat's request for the same thing: one only.
		{true, "/x,,xvda,no-discard,discard=on", `spec:1:21: "discard=on" and xl's flag "no-discard" both say whether to discard`},
		{true, "/x,,xvda,features=feature-discard:0,discard", `"features=feature-discard:off" and xl's flag "discard"`},
	} {
		var diags parser.Diagnostics
		if c.disk {
			_, diags = ParseDisk([]string{c.spec}, 0, nil)
		} else {
			_, diags = ParseVif(c.spec, 0, nil)
		}
		if !diags.HasErrors() || !strings.Contains(errText(diags), c.want) {
			t.Errorf("%q: got %v, want an error containing %s", c.spec, diags, c.want)
		}
	}
	// An unknown name in features= is passed on (the backend's schema
	// decides); a near miss of a known one is a warning.
	v, diags := ParseVif("features=multi-queue-max-queue:2", 0, nil)
	if diags.HasErrors() || len(diags) != 1 || !strings.Contains(errText(diags), `did you mean "multi-queue-max-queues"`) {
		t.Errorf("near miss: %v", diags)
	}
	if v.Features.Map()["multi-queue-max-queue"] != "2" {
		t.Errorf("unknown name not kept: %v", v.Features.Map())
	}
}

func TestXLOnlyHasNoFeatureKeys(t *testing.T) {
	if _, diags := ParseVif("bridge=br0,queues=2", 0, &Options{XLOnly: true}); !diags.HasErrors() {
		t.Error("queues= accepted in a vif in xl mode")
	}
	if _, diags := ParseDisk([]string{"/x,,xvda,queues=4"}, 0, &Options{XLOnly: true}); !strings.Contains(errText(diags), `unknown parameter "queues=4"`) {
		t.Errorf("xl mode disk: %v", diags)
	}
	// libxlutil's own verdict on the same spec.
	if _, errs := ParseDiskXL([]string{"/x,,xvda,queues=4"}, DialectHead); len(errs) != 1 || errs[0].Text() != "unknown parameter: near `queues=4'" {
		t.Errorf("ParseDiskXL: %+v", errs)
	}
}

func TestDiskMultiSpecAndCdrom(t *testing.T) {
	d := mustDisk(t, "format=raw", "vdev=hdc", "access=rw", "devtype=cdrom", "target=/root/image.iso")
	if d.Devtype != "cdrom" || d.Access != "ro" || d.VirtualDevice != 5632 {
		t.Errorf("cdrom: %+v", d)
	}
	d = mustDisk(t, ",,hdc:cdrom,r")
	if d.Target == nil || *d.Target != "" || d.Format != "empty" {
		t.Errorf("empty cdrom: %+v", d)
	}
	_, diags := ParseDisk([]string{"vdev=xvda", "bogus=x"}, 0, nil)
	if !diags.HasErrors() || diags[0].Subject.Filename != "spec[2]" || diags[0].Subject.Start.Column != 1 {
		t.Errorf("multi-spec position: %v", diags)
	}
}

func TestVdevNumber(t *testing.T) {
	for v, want := range map[string]uint32{
		"xvda": 51712, "xvdb": 51728, "xvda1": 51713, "xvdp15": 51967, "xvdq": 268439552, "xvdaa": 1<<28 | 26<<8,
		"xvda16": 1<<28 | 16, "hda": 768, "hdb": 832, "hdc": 5632, "hdd": 5696, "hda63": 831, "sda": 2048, "sdp15": 2303,
		"d0p0": 51712, "d1p2": 51730, "d16p0": 1<<28 | 16<<8, "51712": 51712, "0x10": 16, "xvda+1": 51713,
	} {
		got, err := VdevNumber(v)
		if err != nil || got != want {
			t.Errorf("VdevNumber(%q) = %d, %v; want %d", v, got, err, want)
		}
	}
	for _, v := range []string{"xvd", "xvda0", "xvda01", "xvda256", "hde", "hda64", "sdq", "sda16", "foo", "xvda-1", "-1", "2147483648", "d1p256", "d1048576p0"} {
		if n, err := VdevNumber(v); err == nil {
			t.Errorf("VdevNumber(%q) = %d, want an error", v, n)
		}
	}
}

func TestRateArithmetic(t *testing.T) {
	for s, want := range map[string]Rate{
		"10Mb/s@20ms": {25000, 20000},
		"1GB/s":       {50000000, 50000},
		"010B/s@1s":   {8, 1000000},  // octal, as strtoull base 0
		"0129B/s@1s":  {10, 1000000}, // the unit is read where the number stopped
		"1B/s@019ms":  {0, 1},        // likewise: "019ms" is 1 microsecond
	} {
		got, err := ParseRate(s)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %+v, %v; want %+v", s, got, err, want)
		}
	}
}

func checkSrc(t *testing.T, src string) (*Config, parser.Diagnostics) {
	t.Helper()
	f, diags := parser.Parse("t.cfg", []byte(src), parser.Options{})
	if diags.HasErrors() {
		t.Fatalf("parse: %v", diags)
	}
	return CheckFile(f)
}

func TestCheckFilePositionsAndKeys(t *testing.T) {
	cfg, diags := checkSrc(t, "name = \"g\"\nunknown_key = 1\nvif = [ 'bridge=br0',\n  'bridge=br0,queus=2' ]\ndisk = [ \"/x,,xvda,queues=2\" ]\nmax_grant_frames = 0x20\ne820_host = 1\n")
	if len(diags) != 1 {
		t.Fatalf("diags: %v", diags)
	}
	if got := diags[0].Error(); got != `t.cfg:4:15: vif #1: unknown vif key "queus": did you mean "queues"?` {
		t.Errorf("message %q", got)
	}
	if o := cfg.Origins[diags[0]]; o.Device != "vif #1" || o.Message != `unknown vif key "queus": did you mean "queues"?` {
		t.Errorf("origin %+v", o)
	}
	if len(cfg.Vifs) != 2 || cfg.Vifs[1].Devid != 1 || len(cfg.Disks) != 1 || cfg.Disks[0].Features.Map()["multi-queue-max-queues"] != "2" {
		t.Errorf("devices: %+v %+v", cfg.Vifs, cfg.Disks)
	}
	if g := cfg.Domain.GrantFrames(); g != 32 || cfg.Domain.EventChannels() != DefaultEventChannels || cfg.Domain.E820Host == nil || !*cfg.Domain.E820Host {
		t.Errorf("domain keys: %+v", cfg.Domain)
	}
}

func TestCheckFileErrors(t *testing.T) {
	for src, want := range map[string]string{
		"vif = 'bridge=br0'\n":                      "vif must be a list",
		"disk = [ ['/x,,xvda'], '/y,,xvdb' ]\n":     "nested list in disk",
		"max_event_channels = 131072\n":             "out of range",
		"max_event_channels = \"-1\"\n":             "out of range",
		"max_grant_frames = 0\n":                    "out of range",
		"max_maptrack_frames = \"12abc\"\n":         "not a valid number",
		"max_maptrack_frames += 1\n":                "can't use += with numbers",
		"e820_host = [ 1 ]\n":                       "is a list",
		"max_grant_frames = 99999999999999999999\n": "could not be parsed as a number",
		"disk = [ '/x,,xvda', 'foo' ]\n":            "disk #1: no vdev specified",
		"vif = []\n":                                "1:1: the domain has no name",
		"name = ''\n":                               "1:8: the domain has no name",
		"name = [ 'g' ]\n":                          "1:8: the domain has no name",
		"name = '1'\n":                              "1:8: the domain name \"1\" is a number",
	} {
		_, diags := checkSrc(t, src)
		if !diags.HasErrors() || !strings.Contains(errText(diags), want) {
			t.Errorf("%q: %v, want %q", src, diags, want)
		}
	}
	// Octal like strtol: 010 is 8.
	cfg, diags := checkSrc(t, "name = \"g\"\nmax_maptrack_frames = 010\n")
	if diags.HasErrors() || cfg.Domain.MaptrackFrames() != 8 {
		t.Errorf("010: %v %v", cfg.Domain.MaptrackFrames(), diags)
	}
}

// Names and values that reach XenStore and interface names are text: a
// control character or invalid UTF-8 (which an xl.cfg escape can produce)
// is an error at its place in the file, and an interface name must be one
// Linux accepts.
func TestNamesAreText(t *testing.T) {
	for src, want := range map[string]string{
		`name = "web\n01"` + "\n":                                      `t.cfg:1:12: name contains a control character (U+000A)`,
		`name = "web\a01"` + "\n":                                      `t.cfg:1:12: name contains a control character (U+0007)`,
		"name = \"a\x85b\"" + "\n":                                     `t.cfg:1:10: name contains invalid UTF-8 (byte 0x85)`,
		"name = \"caf\xe9\"\n":                                         `t.cfg:1:12: name contains invalid UTF-8 (byte 0xe9)`,
		"name = \"a\u0085b\"\n":                                        `t.cfg:1:10: name contains a control character (U+0085)`,
		"name = \"g\"\nvif = [ \"bridge=br\\n0\" ]\n":                  `t.cfg:2:19: vif #0: value of bridge= contains a control character (U+000A)`,
		"vif = [ 'mac=00:16:3e:00:00:01',\n \"vifname=vif1.\xff\" ]\n": `t.cfg:2:16: vif #1: value of vifname= contains invalid UTF-8 (byte 0xff)`,
		"vif = [ \"script=vif-br\x7f\" ]" + "\n":                       `vif #0: value of script= contains a control character (U+007F)`,
		`vif = [ "bridge=xenbr0,features=queues:2\v" ]` + "\n":         `vif #0: value of features= contains a control character (U+000B)`,
		`vif = [ "vifname=averyveryverylongname" ]` + "\n":             `t.cfg:1:18: vif #0: vifname="averyveryverylongname" is not a network interface name: it is 21 bytes long; a Linux interface name has at most 15`,
		`vif = [ "vifname=1234567890123456" ]` + "\n":                  `it is 16 bytes long`,
		`vif = [ "bridge=br:0" ]` + "\n":                               `vif #0: bridge="br:0" is not a network interface name: it contains ":"`,
		`vif = [ "vifname=vif 1" ]` + "\n":                             `it contains " "`,
		`vif = [ "gatewaydev=../x" ]` + "\n":                           `it contains "/"`,
		`vif = [ "bridge=.." ]` + "\n":                                 `Linux refuses "." and ".." as interface names`,
		`disk = [ "/srv/a\tb.img,raw,xvda,rw" ]` + "\n":                `t.cfg:1:17: disk #0: disk spec contains a control character (U+0009)`,
	} {
		_, diags := checkSrc(t, src)
		if !diags.HasErrors() || !strings.Contains(errText(diags), want) {
			t.Errorf("%q:\n got  %v\n want %s", src, diags, want)
		}
	}
	// Text that is fine: non-ASCII names, a name of exactly 15 bytes.
	cfg, diags := checkSrc(t, "name = \"café-ü\"\nvif = [ \"bridge=br0,vifname=123456789012345\" ]\n")
	if diags.HasErrors() || cfg.Vifs[0].Vifname != "123456789012345" {
		t.Errorf("valid names refused: %v", diags)
	}
}
