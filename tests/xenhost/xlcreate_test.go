//go:build xenhost

package xenhost_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/tests/internal/xenhost"
)

// featureRow is one row of `xfeat show -o json`, flattened for comparing.
type featureRow struct{ requested, advertised, effective, negotiated, verdict string }

func rows(t *testing.T, r *xenhost.Result, name string) (showJSON, map[string]featureRow) {
	t.Helper()
	s := decode[showJSON](t, name, file(t, r, name))
	out := map[string]featureRow{}
	for _, f := range s.Features {
		out[f.Name] = featureRow{deref(f.Requested), deref(f.Advertised), deref(f.Effective), deref(f.Negotiated), f.Verdict}
	}
	return s, out
}

// at is "FILE:LINE:COL" of the first occurrence of text in cfg (a file the
// scenario wrote; FILE as dom0 named it).
func at(t *testing.T, cfg, dom0Path, text string) string {
	t.Helper()
	for i, line := range strings.Split(cfg, "\n") {
		if c := strings.Index(line, text); c >= 0 {
			return fmt.Sprintf("%s:%d:%d", dom0Path, i+1, c+1)
		}
	}
	t.Fatalf("%q not in\n%s", text, cfg)
	return ""
}

// treeDiff lists the paths of after that before lacks, and the reverse.
func treeDiff(before, after map[string]string) (added, removed []string) {
	for p := range after {
		if _, ok := before[p]; !ok {
			added = append(added, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			removed = append(removed, p)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	return
}

// xlTopDirs are what xl leaves the first time it creates a domain: its
// own empty top-level directories (libxl never removes them).
var xlTopDirs = map[string]bool{"/vm": true, "/libxl": true}

// sameTree fails t unless after is before, but for xl's top-level
// directories appearing (empty), with the same values.
func sameTree(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	added, removed := treeDiff(before, after)
	var bad []string
	for _, p := range added {
		if !xlTopDirs[p] || after[p] != "" {
			bad = append(bad, "+"+p)
		}
	}
	for _, p := range removed {
		bad = append(bad, "-"+p)
	}
	for p, v := range before {
		if w, ok := after[p]; ok && w != v && !volatile(p) {
			bad = append(bad, fmt.Sprintf("~%s %q -> %q", p, v, w))
		}
	}
	if len(bad) > 0 {
		t.Errorf("%s: XenStore changed:\n%s", what, strings.Join(bad, "\n"))
	}
}

// volatile are nodes whose value changes on their own (dom0's memory
// target as Xen balances it).
func volatile(p string) bool { return strings.HasPrefix(p, "/local/domain/0/memory/") }

// TestXlCreateStockBackends: `xfeat create` on the real host, through xl,
// with dom0's stock netback and blkback, and a 2-vcpu Linux guest whose
// blkfront may use 4-page rings (xen_blkfront.max_ring_page_order=2 on
// its kernel command line):
//
//   - vif queues=1,tso4=off: one queue in the guest and the frontend's
//     keys, TCP segmentation offload off for IPv4; a vif asking nothing
//     gets 2 queues; queues=8, above max_queues=2, is clamped;
//   - disk queues=1,max-ring-page-order=0,discard=off: one ring of one
//     page (32 requests), no discard in the guest; persistent=off is
//     unenforceable, with the warning at FILE:LINE:COL before anything
//     runs; a disk asking nothing gets 2 rings of 4 pages;
//   - show's verdicts: applied, clamped, unenforceable, default;
//   - config-* readable by the backend only;
//   - destroy leaves no domain and no node; a bad value changes nothing;
//     a timeout (exit 3) destroys the domain and leaves nothing either.
func TestXlCreateStockBackends(t *testing.T) {
	start := time.Now()
	r := scenario(t, "xl-create", `
img=$(xh_disk 64M) img2=$(xh_disk 16M) vs=$(xh_vif_script) bs=$(xh_block_script)
cfg=$(xh_guest_cfg xc 'vcpus = 2' \
	"vif = [ \"bridge=xenbr0,script=$vs,queues=1,tso4=off\", \"bridge=xenbr0,script=$vs\", \"bridge=xenbr0,script=$vs,queues=8\" ]" \
	"disk = [ \"format=raw,vdev=xvda,access=rw,script=$bs,queues=1,max-ring-page-order=0,discard=off,persistent=off,target=$img\", \"format=raw,vdev=xvdb,access=rw,script=$bs,target=$img2\" ]" \
	'extra = "console=hvc0 xen_blkfront.max_ring_page_order=2"')
xh_xenstore before.txt
$XFEAT create --dry-run "$cfg" > "$XH_OUT/dry-create.out" 2> "$XH_OUT/dry-create.err"; echo $? > "$XH_OUT/dry-create.rc"
xl list > "$XH_OUT/list-dry.txt"
xh_xenstore after-dry.txt
t0=$(date +%s%N)
$XFEAT create --wait 300s -o json "$cfg" > "$XH_OUT/create.json" 2> "$XH_OUT/create.err"; echo $? > "$XH_OUT/create.rc"
echo $(( ($(date +%s%N) - t0) / 1000000 )) > "$XH_OUT/create.ms"
xh_guest_wait xc 300
xh_xenstore running.txt
for d in 0 1 2; do $XFEAT show vif xc/$d -o json > "$XH_OUT/show-vif$d.json"; done
$XFEAT show disk xc/xvda -o json > "$XH_OUT/show-xvda.json"
$XFEAT show disk xc/xvdb -o json > "$XH_OUT/show-xvdb.json"
$XFEAT destroy --dry-run xc > "$XH_OUT/dry-destroy.out" 2> "$XH_OUT/dry-destroy.err"; echo $? > "$XH_OUT/dry-destroy.rc"
xl list > "$XH_OUT/list-dry-destroy.txt"
$XFEAT destroy xc 2> "$XH_OUT/destroy.err"; echo $? > "$XH_OUT/destroy.rc"
xh_xenstore after.txt
xl list > "$XH_OUT/list-after.txt"

# A bad value: refused before anything runs.
bad=$(xh_guest_cfg xbad "vif = [ \"bridge=xenbr0,script=$vs,queues=0\" ]")
$XFEAT create --wait 60s "$bad" 2> "$XH_OUT/bad.err"; echo $? > "$XH_OUT/bad.rc"
xh_xenstore after-bad.txt
# A wait too short for the guest to boot: exit 3, and xl destroys it.
short=$(xh_guest_cfg xshort "vif = [ \"bridge=xenbr0,script=$vs,queues=1\" ]" 'extra = "console=hvc0"')
$XFEAT create --wait 1s "$short" 2> "$XH_OUT/short.err"; echo $? > "$XH_OUT/short.rc"
xh_xenstore after-short.txt
xl list > "$XH_OUT/list-short.txt"
ls /tmp/xfeat-xl-* > "$XH_OUT/tmpfiles.txt" 2>&1
true
`, nil, 14*time.Minute)
	t.Logf("scenario took %v; xfeat create (xl create -p to every device Connected) %s ms", time.Since(start).Round(time.Second), strings.TrimSpace(file(t, r, "create.ms")))

	cfg := file(t, r, "xc.cfg")
	const dom0Cfg = "/xenhost/req/"
	cfgPath := ""
	for _, line := range strings.Split(file(t, r, "create.err"), "\n") {
		if i := strings.Index(line, "xc.cfg:"); i > 0 {
			cfgPath = line[:i+len("xc.cfg")]
			break
		}
	}
	if !strings.HasPrefix(cfgPath, dom0Cfg) {
		t.Fatalf("create said nothing about the file:\n%s", file(t, r, "create.err"))
	}
	if rc := strings.TrimSpace(file(t, r, "create.rc")); rc != "0" {
		t.Fatalf("create: exit %s\n%s%s", rc, file(t, r, "create.err"), vm.Tail(30))
	}
	// The warnings, at their place in the file, before anything ran.
	createErr := file(t, r, "create.err")
	for _, want := range []string{
		at(t, cfg, cfgPath, "persistent=off") + ": warning: disk #0: persistent (feature-persistent)=0 cannot be enforced: backend domain 0 decides feature-persistent only when it connects",
		at(t, cfg, cfgPath, "queues=8") + ": warning: vif #2: queues (multi-queue-max-queues)=8 is above backend domain 0's maximum 2",
	} {
		if !strings.Contains(createErr, want) {
			t.Errorf("create's stderr lacks %q:\n%s", want, createErr)
		}
	}
	created := decode[struct {
		Domid   int `json:"domid"`
		Devices []struct {
			Device string `json:"device"`
			State  struct{ Backend, Frontend int }
		} `json:"devices"`
	}](t, "create.json", file(t, r, "create.json"))
	if len(created.Devices) != 5 {
		t.Fatalf("create: %d devices, want 5", len(created.Devices))
	}
	for _, d := range created.Devices {
		if d.State.Backend != 4 || d.State.Frontend != 4 {
			t.Errorf("%s: %d/%d, want Connected on both ends", d.Device, d.State.Backend, d.State.Frontend)
		}
	}
	dom := strconv.Itoa(created.Domid)

	// The guest's own view.
	g := guestReport(file(t, r, "guest-xc.log"), "XG")
	for _, c := range []struct{ dev, key, want string }{
		{"guest", "vcpus", "2"},
		{"vif/0", "queues", "1"},
		{"vif/0", "offload.tx-tcp-segmentation", "off"}, // TSO for IPv4, from feature-gso-tcpv4=0
		{"vif/0", "offload.tx-tcp6-segmentation", "on"},
		{"vif/1", "queues", "2"},
		{"vif/1", "offload.tx-tcp-segmentation", "on"},
		{"vif/2", "queues", "2"},
		{"vbd/51712", "queues", "1"},
		{"vbd/51712", "ring", "32"}, // one page: 32 requests
		{"vbd/51712", "discard_max_bytes", "0"},
		{"vbd/51728", "queues", "2"},
		{"vbd/51728", "ring", "128"}, // four pages
	} {
		if got := g[c.dev][c.key]; got != c.want {
			t.Errorf("guest %s %s = %q, want %q", c.dev, c.key, got, c.want)
		}
	}
	if g["vbd/51728"]["discard_max_bytes"] == "0" {
		t.Error("the disk that asked nothing has no discard either")
	}

	// The frontend's keys and the nodes xfeat wrote.
	xs := xenstoreTree(file(t, r, "running.txt"))
	fe := func(kind, devid, key string) string {
		return xs["/local/domain/"+dom+"/device/"+kind+"/"+devid+"/"+key]
	}
	be := "/local/domain/0/backend/"
	for _, c := range []struct{ path, want string }{
		{"/local/domain/" + dom + "/device/vif/0/multi-queue-num-queues", "1"},
		{"/local/domain/" + dom + "/device/vif/1/multi-queue-num-queues", "2"},
		{"/local/domain/" + dom + "/device/vbd/51728/ring-page-order", "2"},
		{be + "vif/" + dom + "/0/multi-queue-max-queues", "1"},
		{be + "vif/" + dom + "/0/feature-gso-tcpv4", "0"},
		{be + "vif/" + dom + "/0/config-multi-queue-max-queues", "1"},
		{be + "vif/" + dom + "/2/multi-queue-max-queues", "2"},
		{be + "vbd/" + dom + "/51712/discard-enable", "0"},
		{"/local/domain/0/error/backend/vbd/" + dom + "/51712/feature/feature-persistent", "unenforceable"},
		{"/local/domain/0/error/backend/vif/" + dom + "/2/feature/multi-queue-max-queues", "clamp 2"},
	} {
		if got, ok := xs[c.path]; !ok || got != c.want {
			t.Errorf("%s = %q (present %v), want %q", c.path, got, ok, c.want)
		}
	}
	for _, k := range []string{"multi-queue-num-queues", "ring-page-order", "queue-0/ring-ref"} {
		if v := fe("vbd", "51712", k); v != "" {
			t.Errorf("xvda: %s = %q: one ring of one page has none", k, v)
		}
	}
	if fe("vbd", "51712", "ring-ref") == "" || fe("vbd", "51712", "feature-persistent") != "1" {
		t.Errorf("xvda: ring-ref %q, feature-persistent %q", fe("vbd", "51712", "ring-ref"), fe("vbd", "51712", "feature-persistent"))
	}
	if p := permsOf(file(t, r, "running.txt"), be+"vif/"+dom+"/0/config-multi-queue-max-queues"); p != "n0" {
		t.Errorf("config-multi-queue-max-queues: permissions %q, want n0 (the backend only)", p)
	}

	// show: requested, advertised (the module parameters), effective,
	// negotiated, verdict.
	for _, c := range []struct {
		file, feature string
		want          featureRow
	}{
		{"show-vif0.json", "multi-queue-max-queues", featureRow{"1", "2", "1", "1", "applied"}},
		// Negotiated is what the guest sends with: the backend's key (the
		// guest's own feature-gso-tcpv4 is netif.h's other direction);
		// the guest's TSO is checked above.
		{"show-vif0.json", "feature-gso-tcpv4", featureRow{"0", "1", "0", "0", "applied"}},
		{"show-vif0.json", "feature-sg", featureRow{"<nil>", "1", "1", "1", "default"}},
		{"show-vif1.json", "multi-queue-max-queues", featureRow{"<nil>", "2", "2", "2", "default"}},
		{"show-vif2.json", "multi-queue-max-queues", featureRow{"8", "2", "2", "2", "clamped"}},
		{"show-xvda.json", "multi-queue-max-queues", featureRow{"1", "2", "1", "1", "applied"}},
		{"show-xvda.json", "max-ring-page-order", featureRow{"0", "4", "0", "0", "applied"}},
		{"show-xvda.json", "feature-discard", featureRow{"0", "1", "0", "0", "applied"}},
		{"show-xvda.json", "feature-persistent", featureRow{"0", "1", "1", "1", "unenforceable"}},
		{"show-xvdb.json", "max-ring-page-order", featureRow{"<nil>", "4", "4", "2", "default"}},
	} {
		s, got := rows(t, r, c.file)
		if s.Schema != "stock" {
			t.Errorf("%s: schema %q, want stock", c.file, s.Schema)
		}
		if got[c.feature] != c.want {
			t.Errorf("%s %s: %+v, want %+v", c.file, c.feature, got[c.feature], c.want)
		}
	}

	// The dry runs: what would run and be written or removed; nothing
	// run, nothing written.
	dryOut := file(t, r, "dry-create.out")
	if rc := strings.TrimSpace(file(t, r, "dry-create.rc")); rc != "0" {
		t.Errorf("create --dry-run: exit %s\n%s", rc, file(t, r, "dry-create.err"))
	}
	for _, want := range []string{
		// The file as xl gets it: xfeat's keys out, xl's kept.
		"\"bridge=xenbr0,script=" + vifScript(cfg) + "\", ",
		"\nxl create -p /tmp/xfeat-xl-",
		"/local/domain/0/backend/vif/DOMID/0/multi-queue-max-queues",
		"/local/domain/0/backend/vbd/DOMID/51712/discard-enable",
		"\nxl unpause DOMID\n",
	} {
		if !strings.Contains(dryOut, want) {
			t.Errorf("create --dry-run lacks %q:\n%s", want, dryOut)
		}
	}
	if strings.Contains(dryOut, "queues=1") || strings.Contains(dryOut, "tso4=") || strings.Contains(dryOut, "persistent=off") {
		t.Errorf("create --dry-run: xfeat's keys left in the xl config:\n%s", dryOut)
	}
	if l := file(t, r, "list-dry.txt"); strings.Count(strings.TrimSpace(l), "\n") != 1 {
		t.Errorf("create --dry-run created a domain:\n%s", l)
	}
	sameTree(t, "create --dry-run", xenstoreTree(file(t, r, "before.txt")), xenstoreTree(file(t, r, "after-dry.txt")))
	dd := strings.Split(strings.TrimSpace(file(t, r, "dry-destroy.out")), "\n")
	if rc := strings.TrimSpace(file(t, r, "dry-destroy.rc")); rc != "0" || dd[0] != "xl destroy "+dom || len(dd) < 2 {
		t.Errorf("destroy --dry-run: exit %s\n%s%s", rc, file(t, r, "dry-destroy.out"), file(t, r, "dry-destroy.err"))
	}
	for _, p := range dd[1:] {
		// What xfeat removes after xl destroy: the decisions it wrote.
		if _, ok := xs[p]; !ok || !strings.HasPrefix(p, "/local/domain/0/error/backend/") {
			t.Errorf("destroy --dry-run names %s: present %v; want a decision directory of the running domain", p, ok)
		}
	}
	if l := file(t, r, "list-dry-destroy.txt"); !strings.Contains(l, "\nxc ") {
		t.Errorf("destroy --dry-run destroyed the domain:\n%s", l)
	}

	// destroy: no domain, no node left.
	if rc := strings.TrimSpace(file(t, r, "destroy.rc")); rc != "0" {
		t.Errorf("destroy: exit %s\n%s", rc, file(t, r, "destroy.err"))
	}
	if l := file(t, r, "list-after.txt"); strings.Count(strings.TrimSpace(l), "\n") != 1 {
		t.Errorf("domains left after destroy:\n%s", l)
	}
	before, after := xenstoreTree(file(t, r, "before.txt")), xenstoreTree(file(t, r, "after.txt"))
	sameTree(t, "create then destroy", before, after)

	// A bad value: exit 1, FILE:LINE:COL, nothing changed.
	badAt := at(t, file(t, r, "xbad.cfg"), strings.Replace(cfgPath, "xc.cfg", "xbad.cfg", 1), "queues=0")
	if rc := strings.TrimSpace(file(t, r, "bad.rc")); rc != "1" ||
		!strings.Contains(file(t, r, "bad.err"), badAt+": vif #0: queues (multi-queue-max-queues)=0 is not allowed") {
		t.Errorf("bad value: exit %s\n%s", rc, file(t, r, "bad.err"))
	}
	afterBad := xenstoreTree(file(t, r, "after-bad.txt"))
	sameTree(t, "a bad value", after, afterBad)

	// A timeout: exit 3 naming the stuck device; xl destroyed the domain.
	short := file(t, r, "short.err")
	if rc := strings.TrimSpace(file(t, r, "short.rc")); rc != "3" || !strings.Contains(short, "timed out after") ||
		!strings.Contains(short, "vif ") || !strings.Contains(short, "nothing was left behind") {
		t.Errorf("timeout: exit %s\n%s", rc, short)
	}
	if l := file(t, r, "list-short.txt"); strings.Contains(l, "xshort") {
		t.Errorf("the timed-out domain is still there:\n%s", l)
	}
	sameTree(t, "a timeout", afterBad, xenstoreTree(file(t, r, "after-short.txt")))
	if tmp := file(t, r, "tmpfiles.txt"); !strings.Contains(tmp, "No such file") {
		t.Errorf("xl config files left: %s", tmp)
	}
}

// vifScript is the script= of the first vif of cfg.
func vifScript(cfg string) string {
	_, s, _ := strings.Cut(cfg, "script=")
	s, _, _ = strings.Cut(s, ",")
	return s
}

// permsOf is the permissions xenstore-ls -fp shows for path.
func permsOf(dump, path string) string {
	for _, line := range strings.Split(dump, "\n") {
		if m := xsLine.FindStringSubmatch(line); m != nil && m[1] == path {
			return m[3]
		}
	}
	return ""
}

// TestXlGrantTableExhaustion is the users' pain: a 2-vcpu guest with
// max_grant_frames = 4 (2040 grant entries) and three vifs on 2-queue
// backends. Under plain xl netfront takes 514 grants a queue and the vifs
// cannot all connect with their 2 queues; xfeat validate says so with the
// arithmetic at max_grant_frames; with queues=1 on each vif xfeat create
// connects them all, one queue each.
func TestXlGrantTableExhaustion(t *testing.T) {
	start := time.Now()
	r := scenario(t, "xl-grants", `
vs=$(xh_vif_script)
pain=$(xh_guest_cfg pain 'vcpus = 2' 'max_grant_frames = 4' \
	"vif = [ \"bridge=xenbr0,script=$vs\", \"bridge=xenbr0,script=$vs\", \"bridge=xenbr0,script=$vs\" ]" 'extra = "console=hvc0"')
fixed=$(xh_guest_cfg fixed 'vcpus = 2' 'max_grant_frames = 4' \
	"vif = [ \"bridge=xenbr0,script=$vs,queues=1\", \"bridge=xenbr0,script=$vs,queues=1\", \"bridge=xenbr0,script=$vs,queues=1\" ]" 'extra = "console=hvc0"')
$XFEAT validate "$pain" > "$XH_OUT/validate-pain.txt"; echo $? > "$XH_OUT/validate-pain.rc"
$XFEAT validate "$fixed" > "$XH_OUT/validate-fixed.txt"; echo $? > "$XH_OUT/validate-fixed.rc"

# Plain xl: wait until every vif's frontend has connected or given up.
xl create "$pain" || exit 1
d=$(xl domid pain)
for ((i = 0; i < 1500; i++)); do
	n=0
	for v in 0 1 2; do
		s=$(xenstore-read /local/domain/$d/device/vif/$v/state 2>/dev/null)
		[ "$s" = 4 ] || [ "$s" = 5 ] || [ "$s" = 6 ] && n=$((n + 1))
	done
	[ $n = 3 ] && break
	sleep 0.2
done
sleep 2 # a vif that gave up a queue is settled; let the others' keys land
xh_xenstore pain.txt
echo $d > "$XH_OUT/pain.domid"
xl destroy pain

$XFEAT create --wait 300s -o json "$fixed" > "$XH_OUT/fixed.json" 2> "$XH_OUT/fixed.err"; echo $? > "$XH_OUT/fixed.rc"
xh_guest_wait fixed 300
xh_xenstore fixed.txt
$XFEAT destroy fixed
true
`, nil, 14*time.Minute)
	t.Logf("scenario took %v", time.Since(start).Round(time.Second))

	// validate: the prediction, with the arithmetic, at max_grant_frames.
	pain := file(t, r, "pain.cfg")
	out := file(t, r, "validate-pain.txt")
	path := ""
	if i := strings.Index(out, "pain.cfg:"); i > 0 {
		path = out[:i+len("pain.cfg")]
		path = path[strings.LastIndex(path, "\n")+1:]
	}
	// The place of max_grant_frames' value.
	key := at(t, pain, path, "max_grant_frames = ")
	if !strings.HasPrefix(key, path+":8:1") {
		t.Fatalf("max_grant_frames is not at line 8 of\n%s", pain)
	}
	want := fmt.Sprintf("%s:8:%d", path, 1+len("max_grant_frames = "))
	for _, w := range []string{
		want + ": warning: with Linux frontends taking all the backends may offer, the devices need 3084 grant entries but max_grant_frames=4 gives 2040 (4 × 512, less 8 reserved)",
		"vif #0: 2 queue(s) × (2 × 256 slot grants + 2 ring pages) = 1028 grants",
		"under plain xl the devices past the limit would fail to connect or connect with fewer queues",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("validate lacks %q:\n%s", w, out)
		}
	}
	if rc := strings.TrimSpace(file(t, r, "validate-pain.rc")); rc != "0" {
		t.Errorf("validate (a warning): exit %s", rc)
	}
	if out := file(t, r, "validate-fixed.txt"); out != "" || strings.TrimSpace(file(t, r, "validate-fixed.rc")) != "0" {
		t.Errorf("validate with queues=1: %q", out)
	}

	// Plain xl: the vifs do not all connect with 2 queues.
	dom := strings.TrimSpace(file(t, r, "pain.domid"))
	xs := xenstoreTree(file(t, r, "pain.txt"))
	connected, queues := 0, 0
	var states []string
	for v := 0; v < 3; v++ {
		fe := fmt.Sprintf("/local/domain/%s/device/vif/%d", dom, v)
		q := xs[fe+"/multi-queue-num-queues"]
		states = append(states, fmt.Sprintf("vif %d: state %s, %s queue(s), error %q", v, xs[fe+"/state"], q,
			xs[fmt.Sprintf("/local/domain/%s/error/device/vif/%d/error", dom, v)]))
		if xs[fe+"/state"] == "4" {
			connected++
			n, _ := strconv.Atoi(q)
			queues += max(n, 1)
		}
	}
	t.Logf("plain xl, max_grant_frames=4:\n  %s", strings.Join(states, "\n  "))
	// 2040 grants hold 3 queues of 514: never three 2-queue vifs.
	if connected == 3 && queues == 6 || queues > 3 {
		t.Errorf("plain xl: %d vifs connected with %d queues in all; 2040 grants hold at most 3 queues", connected, queues)
	}
	if connected == 3 && queues == 3 {
		t.Log("every vif connected, with fewer queues than offered")
	}

	// xfeat create with queues=1 on each: all connect, one queue each.
	if rc := strings.TrimSpace(file(t, r, "fixed.rc")); rc != "0" {
		t.Fatalf("create with queues=1: exit %s\n%s", rc, file(t, r, "fixed.err"))
	}
	g := guestReport(file(t, r, "guest-fixed.log"), "XG")
	fx := xenstoreTree(file(t, r, "fixed.txt"))
	created := decode[struct {
		Domid int `json:"domid"`
	}](t, "fixed.json", file(t, r, "fixed.json"))
	for v := 0; v < 3; v++ {
		fe := fmt.Sprintf("/local/domain/%d/device/vif/%d", created.Domid, v)
		if fx[fe+"/state"] != "4" || fx[fe+"/multi-queue-num-queues"] != "1" || g[fmt.Sprintf("vif/%d", v)]["queues"] != "1" {
			t.Errorf("vif %d with queues=1: state %s, %s queue(s), the guest says %s", v, fx[fe+"/state"],
				fx[fe+"/multi-queue-num-queues"], g[fmt.Sprintf("vif/%d", v)]["queues"])
		}
	}
}

// provision is a provisioning script as an administrator writes one: it
// relies on exit codes and -o json only, and runs unchanged on the sandbox
// host and on the real host. It writes the guest's config, creates, shows,
// destroys, and tries a bad value and a second destroy; every command's
// output, error and exit status lands in $OUT.
const provision = `set -u
run() { local n=$1; shift; "$@" > "$OUT/$n.out" 2> "$OUT/$n.err"; echo $? > "$OUT/$n.rc"; }
cat > "$OUT/prov.cfg" <<CFG
name = "prov"
type = "pv"
kernel = "$KERNEL"
ramdisk = "$RAMDISK"
memory = 128
vcpus = 2
vif = [ "bridge=xenbr0,script=$VIFSCRIPT,queues=1" ]
disk = [ "format=raw,vdev=xvda,access=rw,script=$BLOCKSCRIPT,queues=1,target=$IMG" ]
extra = "console=hvc0"
CFG
sed 's/queues=1"/queues=0"/' "$OUT/prov.cfg" > "$OUT/bad.cfg"
truncate -s 16M "$IMG"
run validate "$XFEAT" validate -o json "$OUT/prov.cfg"
run create "$XFEAT" create --wait 300s -o json "$OUT/prov.cfg"
run show-vif "$XFEAT" show vif prov/0 -o json
run show-disk "$XFEAT" show disk prov/xvda -o json
run destroy "$XFEAT" destroy prov
run destroy-again "$XFEAT" destroy prov
run bad "$XFEAT" create --wait 60s -o json "$OUT/bad.cfg"
`

// TestXlProvisioningScriptOnBothHosts runs one provisioning script on the
// sandbox host (on this machine, a host of its own) and on the real host
// (in dom0): the same exit codes, the same JSON shapes and the same
// verdicts for what it asked.
func TestXlProvisioningScriptOnBothHosts(t *testing.T) {
	// The sandbox host: a private run directory, no network data path.
	dir := t.TempDir()
	rundir := filepath.Join(dir, "run")
	out := filepath.Join(dir, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "XENSTORED_PATH="+filepath.Join(rundir, "socket"))
	startHost := exec.Command(xfeatBin, "host", "start", "--rundir", rundir)
	startHost.Env = env
	if b, err := startHost.CombinedOutput(); err != nil {
		t.Fatalf("xfeat host start: %v\n%s", err, b)
	}
	t.Cleanup(func() {
		stop := exec.Command(xfeatBin, "host", "stop", "--rundir", rundir)
		stop.Env = env
		if b, err := stop.CombinedOutput(); err != nil {
			t.Errorf("xfeat host stop: %v\n%s", err, b)
		}
	})
	sandbox := exec.Command("bash", "-c", provision)
	sandbox.Env = append(env, "XFEAT="+xfeatBin, "OUT="+out, "IMG="+filepath.Join(dir, "prov.img"),
		"KERNEL="+vm.Kernel.Image, "RAMDISK="+filepath.Join(vm.Dir(), "guest-initrd.gz"),
		"VIFSCRIPT=/etc/xen/scripts/vif-bridge", "BLOCKSCRIPT=/etc/xen/scripts/block")
	if b, err := sandbox.CombinedOutput(); err != nil {
		t.Fatalf("the script on the sandbox host: %v\n%s", err, b)
	}
	onSandbox := func(name string) string {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("sandbox: %v", err)
		}
		return string(b)
	}

	r := scenario(t, "xl-provision", `OUT=$XH_OUT IMG=$(mktemp /tmp/prov.XXXXXX.img) KERNEL=$GUEST_KERNEL RAMDISK=$GUEST_INITRD \
	VIFSCRIPT=$(xh_vif_script) BLOCKSCRIPT=$(xh_block_script) bash -c "$PROVISION"`, map[string]string{"PROVISION": provision}, 14*time.Minute)
	onXen := func(name string) string { return file(t, r, name) }

	for _, step := range []struct {
		name string
		rc   string
	}{{"validate", "0"}, {"create", "0"}, {"show-vif", "0"}, {"show-disk", "0"}, {"destroy", "0"}, {"destroy-again", "1"}, {"bad", "1"}} {
		s, x := strings.TrimSpace(onSandbox(step.name+".rc")), strings.TrimSpace(onXen(step.name+".rc"))
		if s != step.rc || x != step.rc {
			t.Errorf("%s: exit %s on the sandbox, %s on the real host, want %s\n--- sandbox:\n%s--- real host:\n%s",
				step.name, s, x, step.rc, onSandbox(step.name+".err"), onXen(step.name+".err"))
		}
	}
	for _, host := range []struct {
		name string
		read func(string) string
	}{{"sandbox", onSandbox}, {"real host", onXen}} {
		if v := strings.TrimSpace(host.read("validate.out")); v != "[]" {
			t.Errorf("%s: validate -o json = %s, want []", host.name, v)
		}
		c := decode[map[string]any](t, host.name+" create.json", host.read("create.out"))
		for _, k := range []string{"domid", "name", "elapsed_ms", "devices"} {
			if _, ok := c[k]; !ok {
				t.Errorf("%s: create -o json has no %q: %v", host.name, k, c)
			}
		}
		if devs, _ := c["devices"].([]any); len(devs) != 2 {
			t.Errorf("%s: create -o json devices %v", host.name, c["devices"])
		}
		for _, f := range []struct{ file, feature string }{{"show-vif.out", "multi-queue-max-queues"}, {"show-disk.out", "multi-queue-max-queues"}} {
			s := decode[showJSON](t, host.name+" "+f.file, host.read(f.file))
			eff, neg, verdict := s.feature(t, f.feature)
			if eff != "1" || neg != "1" || verdict != "applied" {
				t.Errorf("%s %s %s: effective %s negotiated %s verdict %s, want 1 1 applied", host.name, f.file, f.feature, eff, neg, verdict)
			}
		}
		if !strings.Contains(host.read("destroy-again.err"), `no such domain: no domain is named "prov"`) {
			t.Errorf("%s: destroying again: %s", host.name, host.read("destroy-again.err"))
		}
		if !strings.Contains(host.read("bad.err"), "bad.cfg:7:") || !strings.Contains(host.read("bad.err"), "vif #0: queues (multi-queue-max-queues)=0 is not allowed") ||
			host.read("bad.out") != "" {
			t.Errorf("%s: a bad value: %s%s", host.name, host.read("bad.out"), host.read("bad.err"))
		}
	}
}
