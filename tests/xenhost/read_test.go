//go:build xenhost

package xenhost_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
)

// showJSON is the part of `xfeat show -o json` these tests read.
type showJSON struct {
	Device   string `json:"device"`
	Backend  string `json:"backend"`
	Frontend string `json:"frontend"`
	Schema   string `json:"schema"`
	State    struct {
		Backend  *int `json:"backend"`
		Frontend *int `json:"frontend"`
	} `json:"state"`
	Features []struct {
		Name       string  `json:"name"`
		Requested  *string `json:"requested"`
		Advertised *string `json:"advertised"`
		Effective  *string `json:"effective"`
		Negotiated *string `json:"negotiated"`
		Verdict    string  `json:"verdict"`
	} `json:"features"`
}

func (s showJSON) feature(t *testing.T, name string) (effective, negotiated, verdict string) {
	t.Helper()
	for _, f := range s.Features {
		if f.Name == name {
			return deref(f.Effective), deref(f.Negotiated), f.Verdict
		}
	}
	t.Fatalf("%s: no feature %s in %+v", s.Device, name, s.Features)
	return
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func decode[T any](t *testing.T, what, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, s)
	}
	return v
}

// TestReadSideStockBackends: a guest with 2 vcpus, one vif and one disk
// served by dom0's stock Linux netback and blkback, created by xl.
// `xfeat list`, `show` and `features` describe them from the protocol's own
// keys (the backends advertise no schema), and show's negotiated queues are
// what the guest itself reports.
func TestReadSideStockBackends(t *testing.T) {
	r := scenario(t, "read-side", `
img=$(xh_disk 64M)
cfg=$(xh_guest_cfg rs 'vcpus = 2' 'vif = [ "bridge=xenbr0" ]' \
	"disk = [ \"format=raw,vdev=xvda,access=rw,script=$(xh_block_script),target=$img\" ]" \
	'extra = "console=hvc0"')
xl create "$cfg"
xh_guest_wait rs 180
xh_xenstore xs.txt
$XFEAT list > "$XH_OUT/list.tsv"; echo $? > "$XH_OUT/list.rc"
$XFEAT show vif rs/0 -o json > "$XH_OUT/show-vif.json"; echo $? > "$XH_OUT/show-vif.rc"
$XFEAT show disk rs/xvda -o json > "$XH_OUT/show-vbd.json"; echo $? > "$XH_OUT/show-vbd.rc"
$XFEAT show vif rs/0 > "$XH_OUT/show-vif.tsv"
$XFEAT features vif -o json > "$XH_OUT/features-vif.json"; echo $? > "$XH_OUT/features-vif.rc"
$XFEAT features disk -o json > "$XH_OUT/features-vbd.json"; echo $? > "$XH_OUT/features-vbd.rc"
xh_destroy_all
$XFEAT features vif -o json > "$XH_OUT/features-vif-nodev.json"; echo $? > "$XH_OUT/features-vif-nodev.rc"
`, nil, 10*time.Minute)

	for _, rc := range []string{"list.rc", "show-vif.rc", "show-vbd.rc", "features-vif.rc", "features-vbd.rc", "features-vif-nodev.rc"} {
		if got := strings.TrimSpace(file(t, r, rc)); got != "0" {
			t.Errorf("%s: exit %s, want 0\n%s", strings.TrimSuffix(rc, ".rc"), got, r.Report())
		}
	}
	guest := guestReport(file(t, r, "guest-rs.log"), "XG")
	if guest["guest"]["vcpus"] != "2" {
		t.Fatalf("guest reports %q vcpus, want 2", guest["guest"]["vcpus"])
	}
	xs := xenstoreTree(file(t, r, "xs.txt"))
	domid := ""
	for p, v := range xs {
		if strings.HasPrefix(p, "/local/domain/") && strings.HasSuffix(p, "/name") && v == "rs" {
			domid = strings.TrimSuffix(strings.TrimPrefix(p, "/local/domain/"), "/name")
		}
	}
	if domid == "" {
		t.Fatal("no domain named rs in XenStore")
	}

	// list: the domain xl created, with both devices Connected.
	list := file(t, r, "list.tsv")
	for _, want := range []string{domid + "\trs\tvif " + domid + "/0\tConnected\tConnected", domid + "\trs\tvbd " + domid + "/51712\tConnected\tConnected"} {
		if !strings.Contains(list, want) {
			t.Errorf("xfeat list lacks %q:\n%s", want, list)
		}
	}

	for _, c := range []struct {
		kind, file, guestDev, fe string
	}{
		{"vif", "show-vif.json", "vif/0", "/local/domain/" + domid + "/device/vif/0"},
		{"vbd", "show-vbd.json", "vbd/51712", "/local/domain/" + domid + "/device/vbd/51712"},
	} {
		s := decode[showJSON](t, c.file, file(t, r, c.file))
		if s.Schema != "none" {
			t.Errorf("%s: schema %q, want none (stock backend)", c.file, s.Schema)
		}
		if s.Frontend != c.fe || s.State.Backend == nil || *s.State.Backend != 4 || s.State.Frontend == nil || *s.State.Frontend != 4 {
			t.Errorf("%s: frontend %s, states %v/%v; want %s, Connected on both ends", c.file, s.Frontend, s.State.Backend, s.State.Frontend, c.fe)
		}
		// Every feature the protocol defines for the type is listed, in
		// the rules' order, with no request and verdict default.
		rules := schema.Rules(pv.Kind(c.kind))
		if len(s.Features) != len(rules) {
			t.Errorf("%s: %d features, want the %d the protocol defines", c.file, len(s.Features), len(rules))
		}
		for i, f := range s.Features {
			if i < len(rules) && f.Name != rules[i].Feature {
				t.Errorf("%s: feature %d is %s, want %s", c.file, i, f.Name, rules[i].Feature)
			}
			if f.Requested != nil || f.Verdict != "default" || f.Advertised != nil {
				t.Errorf("%s: %s requested %v advertised %v verdict %s; want none, none, default", c.file, f.Name, deref(f.Requested), deref(f.Advertised), f.Verdict)
			}
		}
		// Offered: the backend's own key; negotiated: the guest's.
		be := s.Backend
		eff, neg, _ := s.feature(t, "multi-queue-max-queues")
		if eff != xs[be+"/multi-queue-max-queues"] {
			t.Errorf("%s: effective queues %s, backend key says %s", c.file, eff, xs[be+"/multi-queue-max-queues"])
		}
		if want := guest[c.guestDev]["queues"]; neg != want {
			t.Errorf("%s: negotiated queues %s, the guest uses %s", c.file, neg, want)
		}
		if n, _ := strconv.Atoi(neg); n != 2 {
			t.Errorf("%s: negotiated %s queues; a 2-vcpu guest on a 2-vcpu dom0 should get 2", c.file, neg)
		}
	}
	vbd := decode[showJSON](t, "show-vbd.json", file(t, r, "show-vbd.json"))
	if eff, neg, _ := vbd.feature(t, "feature-persistent"); eff != "1" || neg != xs[vbd.Frontend+"/feature-persistent"] {
		t.Errorf("vbd feature-persistent: effective %s negotiated %s; blkback offers 1, the guest wrote %s", eff, neg, xs[vbd.Frontend+"/feature-persistent"])
	}
	if eff, _, _ := vbd.feature(t, "max-ring-page-order"); eff != xs[vbd.Backend+"/max-ring-page-order"] {
		t.Errorf("vbd max-ring-page-order: effective %s, backend key %s", eff, xs[vbd.Backend+"/max-ring-page-order"])
	}
	if tsv := file(t, r, "show-vif.tsv"); !strings.HasPrefix(tsv, "multi-queue-max-queues\t-\t-\t2\t2\tdefault\n") {
		t.Errorf("show vif (not a terminal): first line not the queues row:\n%s", tsv)
	}

	type featuresJSON struct {
		Schema   string `json:"schema"`
		Source   string `json:"source"`
		Features []struct {
			Name    string  `json:"name"`
			Type    string  `json:"type"`
			Default *string `json:"default"`
		} `json:"features"`
	}
	for _, c := range []struct{ file, kind, source string }{
		{"features-vif.json", "vif", "device vif " + domid + "/0"},
		{"features-vbd.json", "vbd", "device vbd " + domid + "/51712"},
		{"features-vif-nodev.json", "vif", "protocol"},
	} {
		f := decode[featuresJSON](t, c.file, file(t, r, c.file))
		if f.Schema != "none" || f.Source != c.source {
			t.Errorf("%s: schema %q source %q; want none, %q", c.file, f.Schema, f.Source, c.source)
		}
		if len(f.Features) != len(schema.Rules(pv.Kind(c.kind))) {
			t.Errorf("%s: %d features, want %d", c.file, len(f.Features), len(schema.Rules(pv.Kind(c.kind))))
		}
		for _, ft := range f.Features {
			if ft.Name == "multi-queue-max-queues" {
				switch {
				case c.source == "protocol" && ft.Default != nil:
					t.Errorf("%s: queues default %s with no device to read it from", c.file, *ft.Default)
				case c.source != "protocol" && (ft.Default == nil || *ft.Default != "2"):
					t.Errorf("%s: queues offered %s, want 2 (the backend's key)", c.file, deref(ft.Default))
				}
			}
		}
	}
}
