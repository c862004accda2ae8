package toolstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/frontends/footprint"
	"github.com/xfeat/xfeat/internal/testutil"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xswire"
)

const guestCfg = `name = "g1"
max_grant_frames = 2000
vif = [ "bridge=xenbr0,mac=00:16:3e:00:00:01,queues=2,tso4=off",
        "bridge=xenbr0,queues=8" ]
disk = [ "/srv/a.img,raw,xvda,rw,queues=2,max-ring-page-order=1",
         "b.img,raw,xvdb,ro" ]
`

func TestCreateLayoutPermissionsAndDestroy(t *testing.T) {
	s, c := store(t)
	ctx := context.Background()
	advertise(t, c)
	startDriver(t, dial(t, s.SocketPath()))
	before := dump(t, c)

	p, diags := plan(t, c, guestCfg)
	if p == nil {
		t.Fatalf("plan: %v", diags)
	}
	// queues=8 on the second vif is above the backend's maximum 4: a warning.
	if len(diags) != 1 || diags[0].Severity != parser.DiagWarning || !strings.Contains(diags[0].Error(), "vif #1: queues (multi-queue-max-queues)=8 is above backend domain 0's maximum 4") {
		t.Fatalf("want one clamp warning, got %v", diags)
	}
	got, err := Create(ctx, c, p, CreateOptions{Wait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cwd, _ := os.Getwd()
	id := got.Domid
	if id != 1 {
		t.Fatalf("first domain got id %d, want 1", id)
	}
	fe := pv.FrontendPath(id, "vif", 0)
	be := pv.BackendPath(0, "vif", id, 0)
	for path, want := range map[string]string{
		pv.DomainPath(id):                              "n0,r1",
		pv.DomainPath(id) + "/device":                  "n0,r1",
		pv.DomainPath(id) + "/control/shutdown":        "n1",
		pv.DomainPath(id) + "/data":                    "n1",
		pv.LibxlPath(id):                               "n0",
		pv.LibxlPath(id) + "/sandbox/max-grant-frames": "n0",
		fe:                                    "n1,r0",
		fe + "/mac":                           "n1,r0",
		fe + "/mtu":                           "n0,r1",
		be:                                    "n0,r1",
		be + "/bridge":                        "n0,r1",
		be + "/config-multi-queue-max-queues": "n0",
		be + "/config-feature-gso-tcpv4":      "n0",
		pv.BackendPath(0, "vbd", id, 51712) + "/config-max-ring-page-order": "n0",
		pv.FrontendPath(id, "vbd", 51712):                                   "n1,r0",
	} {
		if got := perms(t, c, path); got != want {
			t.Errorf("perms of %s = %s, want %s", path, got, want)
		}
	}
	for path, want := range map[string]string{
		be + "/config-multi-queue-max-queues":                              "2",
		be + "/config-feature-gso-tcpv4":                                   "0",
		pv.BackendPath(0, "vif", id, 1) + "/config-multi-queue-max-queues": "8",
		fe + "/mac":         "00:16:3e:00:00:01",
		fe + "/backend":     be,
		be + "/frontend":    fe,
		be + "/frontend-id": "1",
		be + "/script":      "/etc/xen/scripts/vif-bridge",
		pv.LibxlPath(id) + "/sandbox/max-grant-frames":          "2000",
		pv.LibxlPath(id) + "/sandbox/max-event-channels":        "1023",
		pv.FrontendPath(id, "vbd", 51728) + "/virtual-device":   "51728",
		pv.BackendPath(0, "vbd", id, 51728) + "/mode":           "r",
		pv.BackendPath(0, "vbd", id, 51728) + "/params":         cwd + "/b.img", // relative: resolved against the cwd
		pv.BackendPath(0, "vbd", id, 51728) + "/discard-enable": "0",
		pv.BackendPath(0, "vbd", id, 51712) + "/discard-enable": "1",
	} {
		if got := read(t, c, path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if _, err := c.Read(ctx, pv.BackendPath(0, "vif", id, 0)+"/hotplug-status"); !errors.Is(err, xswire.ErrNotFound) {
		t.Errorf("hotplug-status must not be written in the sandbox: %v", err)
	}

	// The guest, over its own socket: config-* unreadable, the backend
	// directory unwritable, its own frontend directory readable.
	guest := dial(t, s.DomainSocketPath(id))
	if _, err := guest.Read(ctx, be+"/config-multi-queue-max-queues"); !errors.Is(err, xswire.ErrPermission) {
		t.Errorf("guest read of config-*: %v, want EACCES", err)
	}
	if err := guest.WriteString(ctx, be+"/config-multi-queue-max-queues", "16"); !errors.Is(err, xswire.ErrPermission) {
		t.Errorf("guest write of config-*: %v, want EACCES", err)
	}
	if err := guest.WriteString(ctx, be+"/bridge", "evil"); !errors.Is(err, xswire.ErrPermission) {
		t.Errorf("guest write into the backend dir: %v, want EACCES", err)
	}
	if err := guest.WriteString(ctx, fe+"/mtu", "9000"); !errors.Is(err, xswire.ErrPermission) {
		t.Errorf("guest write of the read-only mtu: %v, want EACCES", err)
	}
	if v, err := guest.ReadString(ctx, be+"/bridge"); err != nil || v != "xenbr0" {
		t.Errorf("guest read of its backend's bridge: %q %v", v, err)
	}

	// show: the clamp and the requests.
	ref, err := LookupDevice(ctx, c, id, "vif", 1)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Show(ctx, c, ref)
	if err != nil {
		t.Fatal(err)
	}
	verdicts := map[string]string{}
	for _, r := range rep.Features {
		verdicts[r.Name] = string(r.Verdict)
	}
	if verdicts["multi-queue-max-queues"] != "clamped" || verdicts["feature-sg"] != "default" {
		t.Errorf("show vif %d/1 verdicts: %v", id, verdicts)
	}
	if rep.Features[0].Name != "multi-queue-max-queues" || *rep.Features[0].Requested != "8" || *rep.Features[0].Effective != "4" || *rep.Features[0].Negotiated != "4" {
		t.Errorf("first row: %+v", rep.Features[0])
	}

	// list and name resolution.
	doms, err := ListDomains(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(doms) != 2 || doms[0].ID != 0 || doms[1].Name != "g1" || len(doms[1].Devices) != 4 || doms[1].Devices[2].Devid != 51712 {
		t.Fatalf("list: %+v", doms)
	}
	if rid, _, err := ResolveDomain(ctx, c, "g1"); err != nil || rid != id {
		t.Fatalf("resolve g1: %d %v", rid, err)
	}

	// A second create of the same name is refused and leaves nothing.
	mid := dump(t, c)
	if _, err := Create(ctx, c, p, CreateOptions{Wait: time.Second}); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("duplicate name: %v", err)
	}
	if after := dump(t, c); after != mid {
		t.Fatalf("a refused create changed the tree:\n%s", diffLines(mid, after))
	}

	forced, err := Destroy(ctx, c, id, 5*time.Second)
	if err != nil || len(forced) != 0 {
		t.Fatalf("destroy: %v, forced %v", err, forced)
	}
	if after := dump(t, c); after != before {
		t.Fatalf("destroy left nodes behind:\n%s", diffLines(before, after))
	}
	if _, err := Destroy(ctx, c, id, time.Second); !errors.Is(err, ErrNoDomain) {
		t.Fatalf("second destroy: %v, want ErrNoDomain", err)
	}
	if _, err := Destroy(ctx, c, 0, time.Second); !errors.Is(err, ErrControlDomain) {
		t.Fatalf("destroy 0: %v", err)
	}
}

// TestClaimSkipsIntroducedIDs: an id xenstored still has introduced is not
// free even when its directories are gone.
func TestClaimSkipsIntroducedIDs(t *testing.T) {
	s, c := store(t)
	advertise(t, c)
	if err := s.Introduce(1, 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Rm(context.Background(), pv.DomainPath(1)); err != nil {
		t.Fatal(err)
	}
	p, _ := plan(t, c, `name="x"`)
	id, err := p.Claim(context.Background(), c)
	if err != nil || id != 2 {
		t.Fatalf("claim: %d %v, want 2", id, err)
	}
}

func TestTimeoutNamesStuckDevicesAndLeavesNothing(t *testing.T) {
	s, c := store(t)
	advertise(t, c)
	startDriver(t, dial(t, s.SocketPath()), "vbd 1/51712")
	before := dump(t, c)
	p, _ := plan(t, c, guestCfg)
	_, err := Create(context.Background(), c, p, CreateOptions{Wait: 300 * time.Millisecond})
	var stuck *StuckError
	if !errors.As(err, &stuck) {
		t.Fatalf("want a StuckError, got %v", err)
	}
	if len(stuck.Devices) != 1 || stuck.Devices[0].Name() != "vbd 1/51712" ||
		!strings.Contains(err.Error(), "vbd 1/51712: backend InitWait (/local/domain/0/backend/vbd/1/51712), frontend Initialising") {
		t.Fatalf("stuck report: %v", err)
	}
	if after := dump(t, c); after != before {
		t.Fatalf("a timed-out create left nodes behind:\n%s", diffLines(before, after))
	}
	if ok, _ := c.IsDomainIntroduced(context.Background(), 1); ok {
		t.Fatal("domain 1 still introduced")
	}
}

func TestPlanErrorsNameFileLineDeviceFeature(t *testing.T) {
	_, c := store(t)
	advertise(t, c)
	for _, tc := range []struct{ src, want string }{
		{`name="x"` + "\n" + `vif = [ "bridge=b,queues=0" ]`, `guest.cfg:2:19: vif #0: queues (multi-queue-max-queues)=0 is not allowed: allowed is an unsigned integer from 1 to 16, as backend domain 0 advertises in /local/domain/0/backend/vif/features`},
		{`name="x"` + "\n" + `vif = [ "bridge=b,features=queues:x" ]`, `guest.cfg:2:28: vif #0: features=queues (multi-queue-max-queues)=x is not allowed`},
		{`name="x"` + "\n" + `vif = [ "features=feature-ctrl-ring:1" ]`, `guest.cfg:2:19: vif #0: feature feature-ctrl-ring is not offered by backend domain 0: /local/domain/0/backend/vif/features advertises feature-gso-tcpv4,`},
		{`name="x"` + "\n" + `disk = [ "/a,raw,xvda,rw,max-ring-page-order=5" ]`, `disk #0: max-ring-page-order=5 is not allowed: allowed is an unsigned integer from 0 to 4`},
		{`name="x"` + "\nmax_grant_frames = 8\n" + `disk = [ "/a,raw,xvda,rw,queues=4,max-ring-page-order=4,max-indirect-segments=256" ]`, `guest.cfg:2:20: the devices need 10304 grant entries but max_grant_frames=8 gives 4088 (8 × 512, less 8 reserved): disk #0: 10304; set max_grant_frames to at least 21`},
		{`name="x"` + "\n" + `vif = [ "queues=4,features=feature-split-event-channels:1", "queues=4,features=feature-split-event-channels:1" ]` + "\nmax_event_channels = 9\n", `guest.cfg:3:22: the devices need 18 event channels (2 for xenstore and console) but max_event_channels=9`},
		{`name="x"` + "\n" + `vif = [ "backend=drv,queues=2" ]`, `guest.cfg:2:9: vif #0: backend domain "drv" not found`},
		{`name="x"` + "\n" + `vif = [ "devid=1", "devid=1" ]`, `vif #1: vif 1 is also used by vif #0: each device of a domain needs its own devid`},
		{`name="x"` + "\nmax_grant_frames=200\n" + `disk = [ "/a,raw,xvda,rw", "/b,raw,51712,rw" ]`, `disk #1: vbd 51712 is also used by disk #0`},
		{`name="x"` + "\n" + `disk = [ "format=qcow2,vdev=xvda,target=/a.qcow2" ]`, `disk #0: format qcow2 is not supported by xfeat create`},
		{`name="x"` + "\n" + `disk = [ ",,hdc:cdrom,r" ]`, `guest.cfg:2:10: disk #0: an empty drive (no target) is not supported by xfeat create`},
	} {
		p, diags := plan(t, c, tc.src)
		if p != nil || !diags.HasErrors() {
			t.Errorf("%q: planned without error", tc.src)
			continue
		}
		if !strings.Contains(diags.Error(), tc.want) {
			t.Errorf("%q:\n got %s\nwant %s", tc.src, diags.Error(), tc.want)
		}
	}
	// A backend domain without a schema for the type.
	if err := c.Rm(context.Background(), pv.SchemaDir(0, "vbd")); err != nil {
		t.Fatal(err)
	}
	_, diags := plan(t, c, `name="x"`+"\n"+`disk = [ "/a,raw,xvda,rw" ]`)
	if !strings.Contains(diags.Error(), "disk #0: backend advertises no feature schema: backend domain 0 advertises no feature schema for vbd (nothing at /local/domain/0/backend/vbd/features)") {
		t.Errorf("no schema: %v", diags)
	}
}

// TestBudgetArithmetic: each device's Need (requests, the rest at the
// protocol minimum) and MayUse (all the backend offers) are its frontend's
// footprint plus the guest-owned nodes xfeat create writes for it.
func TestBudgetArithmetic(t *testing.T) {
	_, c := store(t)
	advertise(t, c)
	p, diags := plan(t, c, `name="x"
max_grant_frames = 200
vif = [ "queues=2,features=feature-split-event-channels:0", "queues=3" ]
disk = [ "/a,raw,xvda,rw,queues=1,max-ring-page-order=0,max-indirect-segments=0",
         "/b,raw,xvdb,rw,queues=2,max-ring-page-order=2,max-indirect-segments=600" ]
`)
	if p == nil {
		t.Fatal(diags)
	}
	// vif: per queue 2 ring pages + 512 buffers; nodes: 7 written by
	// create (directory, backend, backend-id, state, handle, mac,
	// trusted), 8 by netfront, per queue 2 ring refs + its channel(s) and
	// a queue-N directory when there are several.
	// vbd: per queue 2^order ring pages + min(32·2^order × 11, 2048) data
	// pages + one indirect page per ring slot with indirect descriptors
	// (600 is clamped to 256); nodes: 8 by create, 3 by blkfront, per
	// queue 2^order refs + event-channel (+ queue-N).
	type use = footprint.Use
	want := []use{
		{Grants: 2 * 514, Pages: 2 * 514, EventChannels: 2, Nodes: 7 + 8 + 2*3 + 2},
		{Grants: 3 * 514, Pages: 3 * 514, EventChannels: 3, Nodes: 7 + 8 + 3*3 + 3},
		{Grants: 1 + 352, Pages: 1 + 352, EventChannels: 1, Nodes: 8 + 3 + 2},
		{Grants: 2 * (4 + 1408 + 128), Pages: 2 * (4 + 1408 + 128), EventChannels: 2, Nodes: 8 + 3 + 2*(4+1) + 2},
	}
	wantMay := []use{want[0], {Grants: 3 * 514, Pages: 3 * 514, EventChannels: 6, Nodes: 7 + 8 + 3*4 + 3}, want[2], want[3]}
	var total, totalMay use
	for i, d := range p.Devices {
		if d.Need != want[i] {
			t.Errorf("%s: need %+v, want %+v", d.Label, d.Need, want[i])
		}
		if d.MayUse != wantMay[i] || d.Use != wantMay[i] {
			t.Errorf("%s: may use %+v and uses %+v, want %+v", d.Label, d.MayUse, d.Use, wantMay[i])
		}
		total, totalMay = total.Add(want[i]), totalMay.Add(wantMay[i])
	}
	b := p.Budget
	if b.Need != total || b.MayUse != totalMay || b.Use != totalMay {
		t.Errorf("totals: need %+v may use %+v use %+v, want %+v and %+v", b.Need, b.MayUse, b.Use, total, totalMay)
	}
	// 200 frames: 102400 entries less 8; memory at most 65536 pages;
	// 1023 channels less 2; 1000 nodes less the domain's own 11
	// (suspend/event-channel, 5 under control, data, drivers, feature,
	// attr, error).
	if want := (use{Grants: 102392, Pages: 65536, EventChannels: 1021, Nodes: 989}); b.Limits != want || b.DomainNodes != 11 {
		t.Errorf("limits %+v (domain nodes %d), want %+v (11)", b.Limits, b.DomainNodes, want)
	}
	if b.Short != "" {
		t.Errorf("nothing should have been lowered, but %q was short", b.Short)
	}
}

// TestBudgetLowersWhatTheFileLeavesOpen: five plain disks
// with the default grant table. All they are offered (4 queues of 16-page
// rings with indirect descriptors: 10304 grants each) does not fit in
// 32760; the budget lowers the devices taking most, later ones first on a
// tie, one step at a time, and writes what it chose as config-* requests.
// Before, the plan accepted the file as it was and the last frontends to
// connect found the grant table empty.
func TestBudgetLowersWhatTheFileLeavesOpen(t *testing.T) {
	_, c := store(t)
	advertise(t, c)
	p, diags := plan(t, c, `name="x"
disk = [ "/a,raw,xvda,ro", "/b,raw,xvdb,ro", "/c,raw,xvdc,ro", "/d,raw,xvdd,ro", "/e,raw,xvde,ro" ]
`)
	if p == nil {
		t.Fatalf("refused: %v", diags)
	}
	b := p.Budget
	if b.Short != "grant entries" || b.MayUse.Grants != 5*10304 || b.Use.Grants > b.Limits.Grants || b.Limits.Grants != 32760 {
		t.Fatalf("budget %+v", b)
	}
	queues := []string{}
	for _, d := range p.Devices {
		q := "4"
		for _, f := range d.Features {
			if !f.Lowered || f.Name != "multi-queue-max-queues" {
				t.Errorf("%s: unexpected request %+v", d.Label, f)
			}
			q = f.Value
		}
		queues = append(queues, q)
	}
	if got := strings.Join(queues, " "); got != "3 3 2 2 2" {
		t.Errorf("queues %s, want 3 3 2 2 2", got)
	}
	if b.Use.Grants != 2*7728+3*5152 {
		t.Errorf("use %d grants", b.Use.Grants)
	}
	warned := 0
	for _, d := range diags {
		if d.Severity == parser.DiagWarning && strings.Contains(d.Error(), "lowered to fit the domain's limits: multi-queue-max-queues 4 → ") &&
			strings.Contains(d.Error(), "with all the backends offer the devices would need 51520 grant entries, the domain has 32760") {
			warned++
		}
	}
	if warned != 5 || diags.HasErrors() {
		t.Errorf("want 5 warnings: %v", diags)
	}
	nodes := p.DomainNodes(1)
	found := map[string]string{}
	for _, n := range nodes {
		if strings.HasSuffix(n.Path, "/config-multi-queue-max-queues") {
			found[n.Path] = n.Value + " " + strings.Join(n.PermStrings(), ",")
		}
	}
	if found["/local/domain/0/backend/vbd/1/51712/config-multi-queue-max-queues"] != "3 n0" ||
		found["/local/domain/0/backend/vbd/1/51776/config-multi-queue-max-queues"] != "2 n0" || len(found) != 5 {
		t.Errorf("config nodes: %v", found)
	}

	// What the file requests is never lowered: the first disk keeps its
	// 4 queues (its ring and indirect descriptors, left open, may go).
	p, diags = plan(t, c, `name="x"
disk = [ "/a,raw,xvda,ro,queues=4", "/b,raw,xvdb,ro", "/c,raw,xvdc,ro", "/d,raw,xvdd,ro", "/e,raw,xvde,ro" ]
`)
	if p == nil {
		t.Fatalf("refused: %v", diags)
	}
	for _, f := range p.Devices[0].Features {
		if f.Name == "multi-queue-max-queues" && (f.Lowered || f.Value != "4") {
			t.Errorf("disk #0: %+v", f)
		}
	}
	if d := p.Devices[0]; d.Use.EventChannels != 4 {
		t.Errorf("disk #0 uses %+v", d.Use)
	}
	if p.Budget.Use.Grants > p.Budget.Limits.Grants {
		t.Errorf("over: %+v", p.Budget)
	}
}

// TestBudgetOtherLimits: event channels and XenStore nodes are lowered
// for the same way, split event channels and rings included.
func TestBudgetOtherLimits(t *testing.T) {
	_, c := store(t)
	advertise(t, c)
	// 4 queues with split channels would take 8 + 2: one queue fewer
	// frees 2, no split 4: split goes.
	p, diags := plan(t, c, "name=\"x\"\nmax_event_channels = 8\nvif = [ \"bridge=xenbr0\" ]\n")
	if p == nil {
		t.Fatalf("refused: %v", diags)
	}
	if d := p.Devices[0]; len(d.Features) != 1 || d.Features[0].Name != "feature-split-event-channels" || d.Features[0].Value != "0" || d.Use.EventChannels != 4 {
		t.Errorf("vif #0: %+v use %+v", d.Features, d.Use)
	}
	// Many small-ring disks in a table big enough for everything offered:
	// the node quota is what lowers their queues.
	var disks []string
	for i := range 44 {
		disks = append(disks, fmt.Sprintf(`"/i,raw,xvd%c%c,ro,max-ring-page-order=0,max-indirect-segments=0"`, 'a'+i/26, 'a'+i%26))
	}
	p, diags = plan(t, c, "name=\"x\"\nmax_grant_frames = 128\ndisk = [ "+strings.Join(disks, ", ")+" ]\n")
	if p == nil {
		t.Fatalf("refused: %v", diags)
	}
	b := p.Budget
	if b.Short != "XenStore nodes" || b.MayUse.Nodes != 44*23 || b.Use.Nodes > b.Limits.Nodes || b.Use.Grants > b.Limits.Grants || b.Use.Pages > b.Limits.Pages {
		t.Errorf("budget %+v", b)
	}
	for _, d := range p.Devices {
		for _, f := range d.Features {
			if f.Lowered && f.Name != "multi-queue-max-queues" {
				t.Errorf("%s: %+v lowered", d.Label, f)
			}
		}
	}
}

// TestBudgetRefusals: what does not fit with every unrequested feature at
// its minimum is refused, at FILE:LINE:COL, with the arithmetic.
func TestBudgetRefusals(t *testing.T) {
	_, c := store(t)
	advertise(t, c)
	var disks []string
	for i := range 80 {
		disks = append(disks, fmt.Sprintf(`"format=raw,vdev=xvd%c%c,target=/i"`, 'a'+i/26, 'a'+i%26))
	}
	// 7 × 4 queues × (16 ring pages + 2048 data + 512 indirect pages).
	var big []string
	for i := range 7 {
		big = append(big, fmt.Sprintf(`"/i,raw,xvd%c,queues=4,max-ring-page-order=4,max-indirect-segments=32"`, 'a'+i))
	}
	for _, tc := range []struct{ src, want string }{
		{"name=\"x\"\nmax_grant_frames = 1\ndisk = [ \"/a,raw,xvda\", \"/b,raw,xvdb\" ]\n",
			"guest.cfg:2:20: the devices need 706 grant entries but max_grant_frames=1 gives 504 (1 × 512, less 8 reserved): disk #0: 353, disk #1: 353; set max_grant_frames to at least 2"},
		{"name=\"x\"\ndisk = [ " + strings.Join(disks, ", ") + " ]\n",
			"the guest would own 1051 XenStore nodes but a domain may own 1000 (C xenstored's default quota): 11 for the domain's own directories, then per device what xfeat create and its frontend write: disk #0: 13,"},
		{"name=\"x\"\nmax_grant_frames = 4096\ndisk = [ " + strings.Join(big, ", ") + " ]\n",
			"the devices need 72128 pages of guest memory but the guest has 65536: disk #0: 10304, disk #1: 10304,"},
	} {
		p, diags := plan(t, c, tc.src)
		if p != nil || !strings.Contains(diags.Error(), tc.want) {
			t.Errorf("%.60q...:\n got %v\nwant %s", tc.src, diags, tc.want)
		}
	}
}

// TestConcurrentCreateDestroy runs creators at once, each creating and then
// destroying its guests: every create succeeds (ids and names never
// collide) and nothing is left at the end.
func TestConcurrentCreateDestroy(t *testing.T) {
	s, c := store(t)
	advertise(t, c)
	startDriver(t, dial(t, s.SocketPath()))
	before := dump(t, c)
	const workers, each = 8, 6
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wc := dial(t, s.SocketPath())
			var ids []uint32
			for i := range each {
				p, diags := plan(t, wc, fmt.Sprintf("name=\"w%d-%d\"\nmax_grant_frames=100\nvif=[\"queues=1\"]\n", w, i))
				if p == nil {
					errs <- diags
					return
				}
				got, err := Create(context.Background(), wc, p, CreateOptions{Wait: 20 * time.Second})
				if err != nil {
					errs <- err
					continue
				}
				ids = append(ids, got.Domid)
			}
			for _, id := range ids {
				if _, err := Destroy(context.Background(), wc, id, 10*time.Second); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if after := dump(t, c); after != before {
		t.Fatalf("nodes left behind:\n%s", diffLines(before, after))
	}
}

func diffLines(a, b string) string { return testutil.DiffLines(a, b) }

// TestWaitTimeoutsAreStuckErrors: however short the wait,
// Create's timeout is a *StuckError naming the device with both states
// (before, a deadline passing while the watches were set up came back as
// "context deadline exceeded"), and Destroy's wait for the backends to
// close returns them as left open, not as an error.
func TestWaitTimeoutsAreStuckErrors(t *testing.T) {
	s, c := store(t)
	advertise(t, c)
	startDriver(t, dial(t, s.SocketPath()), "vif 1/0")
	before := dump(t, c)
	p, _ := plan(t, c, `name="x"`+"\n"+`vif = [ "queues=1" ]`)
	for i := range 20 {
		wait := []time.Duration{time.Nanosecond, time.Microsecond, 100 * time.Microsecond}[i%3]
		_, err := Create(context.Background(), c, p, CreateOptions{Wait: wait})
		var stuck *StuckError
		if !errors.As(err, &stuck) || len(stuck.Devices) != 1 ||
			!strings.Contains(err.Error(), "vif 1/0: backend ") || !strings.Contains(err.Error(), ", frontend ") {
			t.Fatalf("wait %s: %v", wait, err)
		}
	}
	if after := dump(t, c); after != before {
		t.Fatalf("nodes left behind:\n%s", diffLines(before, after))
	}
	p, _ = plan(t, c, `name="y"`+"\n"+`disk = [ "/a,raw,xvda,ro" ]`)
	for range 10 {
		got, err := Create(context.Background(), c, p, CreateOptions{Wait: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Destroy(context.Background(), c, got.Domid, time.Nanosecond); err != nil {
			t.Fatalf("destroy with a 1ns wait: %v", err)
		}
	}
	if after := dump(t, c); after != before {
		t.Fatalf("nodes left behind:\n%s", diffLines(before, after))
	}
}

// TestNumbersAreNotNames: a name of digits is refused at
// FILE:LINE:COL; a DOM that is one domain's id and another's name is
// refused, naming both; an id or a name alone still resolves.
func TestNumbersAreNotNames(t *testing.T) {
	_, c := store(t)
	advertise(t, c)
	for _, name := range []string{"1", "007", "4294967296"} {
		_, _, diags := check(t, "vcpus = 1\nname = \""+name+"\"\n")
		if want := "guest.cfg:2:8: the domain name \"" + name + "\" is a number"; !strings.Contains(diags.Error(), want) {
			t.Errorf("name %s: %v", name, diags)
		}
	}
	ctx := context.Background()
	for path, v := range map[string]string{
		"/local/domain/1/name": "one", "/local/domain/3/name": "1", "/local/domain/4/name": "4",
		"/local/domain/5/name": "9", "/local/domain/6/name": "9x",
	} {
		if err := c.WriteString(ctx, path, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		arg, want string
		id        uint32
	}{
		{"1", `"1" is domain 1's id and domain 3's name: refusing to guess; say "one" for domain 1, or use the id of the other`, 0},
		{"one", "", 1},
		{"3", "", 3},
		{"4", "", 4}, // its own name
		{"9", `no such domain: domain 9 (nothing at /local/domain/9 or /libxl/9); "9" is domain 5's name: use its id`, 0},
		{"9x", "", 6},
	} {
		id, _, err := ResolveDomain(ctx, c, tc.arg)
		if tc.want == "" && (err != nil || id != tc.id) {
			t.Errorf("%s: %d %v, want %d", tc.arg, id, err, tc.id)
		}
		if tc.want != "" && (err == nil || err.Error() != tc.want) {
			t.Errorf("%s: %v\nwant %s", tc.arg, err, tc.want)
		}
	}
}
