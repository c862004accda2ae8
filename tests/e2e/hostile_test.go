package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/frontends/blkfront"
	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/sandbox"
	"github.com/xfeat/xfeat/toolstack"
)

// logged is a sandbox host whose log lines the test can read.
type logged struct {
	*host
	mu    sync.Mutex
	lines []string
}

func startLogged(t *testing.T, mod func(*sandbox.Config)) *logged {
	t.Helper()
	l := &logged{}
	l.host = startHost(t, func(c *sandbox.Config) {
		c.Logf = func(f string, a ...any) {
			l.mu.Lock()
			l.lines = append(l.lines, fmt.Sprintf(f, a...))
			l.mu.Unlock()
		}
		if mod != nil {
			mod(c)
		}
	})
	return l
}

// grep returns the log lines containing any of subs.
func (l *logged) grep(subs ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		for _, s := range subs {
			if strings.Contains(line, s) {
				out = append(out, line)
				break
			}
		}
	}
	return out
}

// vdev is the n-th xvd name: xvda ... xvdz, xvdaa, ...
func vdev(n int) string {
	s := ""
	for n++; n > 0; n = (n - 1) / 26 {
		s = string(rune('a'+(n-1)%26)) + s
	}
	return "xvd" + s
}

// disksCfg is a domain with n plain read-only raw disks (and extra keys).
func disksCfg(t *testing.T, name string, imgs []string, extra string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "name = %q\n%s", name, extra)
	b.WriteString("disk = [\n")
	for i, img := range imgs {
		fmt.Fprintf(&b, "    \"format=raw,vdev=%s,access=ro,target=%s\",\n", vdev(i), img)
	}
	b.WriteString("]\n")
	return writeCfg(t, name+".cfg", b.String())
}

// negotiated is what `xfeat show disk` says the two ends agreed on.
func negotiated(t *testing.T, h *host, dev string) map[string]string {
	t.Helper()
	r := h.xfeat(t, "show", "disk", dev, "-o", "json")
	var rep showJSON
	if err := json.Unmarshal([]byte(r.Out), &rep); err != nil || r.Code != 0 {
		t.Fatalf("show disk %s: exit %d %v %s", dev, r.Code, err, r.Err)
	}
	m := map[string]string{}
	for _, f := range rep.Features {
		m[f.Name] = orDash(f.Negotiated)
	}
	return m
}

// budgetOf is what `create --dry-run -o json` says the devices take.
func budgetOf(t *testing.T, h *host, cfg string) toolstack.Budget {
	t.Helper()
	r := h.xfeat(t, "create", "--dry-run", "-o", "json", cfg)
	var out struct {
		Budget toolstack.Budget `json:"budget"`
	}
	if err := json.Unmarshal([]byte(r.Out), &out); err != nil || r.Code != 0 {
		t.Fatalf("create --dry-run -o json: exit %d %v\n%s", r.Code, err, r.Err)
	}
	return out.Budget
}

// checkTakes measures what guest domid holds: the grant references its
// table has no more room for, and the XenStore nodes it owns. Both must be
// what the plan counted, exactly.
func checkTakes(t *testing.T, h *host, domid uint32, b toolstack.Budget) {
	t.Helper()
	gt, ok := h.Guest(domid).Platform().(blkfront.GrantTable)
	if !ok {
		t.Fatal("the guest platform has no grant table")
	}
	dom := gt.GrantTable()
	var free []grant.Ref
	for range b.Limits.Grants + 1 { // bounded: the table cannot hold more
		ref, err := dom.GrantAccess(0, 0, true)
		if err != nil {
			break
		}
		free = append(free, ref)
	}
	for _, ref := range free {
		if err := dom.EndAccess(ref); err != nil {
			t.Fatal(err)
		}
	}
	if held := b.Limits.Grants - int64(len(free)); held != b.Use.Grants {
		t.Errorf("the guest holds %d grant references; the plan counted %d", held, b.Use.Grants)
	}
	owned := regexp.MustCompile(fmt.Sprintf(`\(n%d[,)]`, domid))
	var n int64
	for _, line := range strings.Split(h.dump(t), "\n") {
		if owned.MatchString(line) {
			n++
		}
	}
	if want := b.DomainNodes + b.Use.Nodes; n != want {
		t.Errorf("the guest owns %d XenStore nodes; the plan counted %d", n, want)
	}
}

// checkDisksServe reads a sector through the guest's blkfront on each of n
// disks: every one of them has its data path, not only a Connected state.
func checkDisksServe(t *testing.T, h *host, domid uint32, n int) {
	t.Helper()
	bf := h.Guest(domid).Blkfront()
	if bf == nil {
		t.Fatalf("guest %d runs no blkfront", domid)
	}
	for i := range n {
		devid, err := devspec.VdevNumber(vdev(i))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		dev, err := bf.WaitConnected(ctx, devid)
		cancel()
		if err != nil {
			t.Errorf("%s: %v", vdev(i), err)
			continue
		}
		buf := make([]byte, 512)
		if _, err := dev.ReadAt(buf, 0); err != nil {
			t.Errorf("%s: reading through the guest: %v", vdev(i), err)
		}
	}
}

// TestDefaultGrantFramesEveryDiskConnects: five plain
// read-only disks with Xen's default max_grant_frames. Before, validate and
// --dry-run passed and create failed: the first disks reserved everything
// the backend offered and a later one found a full grant table. Every disk
// must connect and serve, every time, with what it was given fitting the
// table.
func TestDefaultGrantFramesEveryDiskConnects(t *testing.T) {
	h := startLogged(t, nil)
	imgs := images(t, 5, 1<<20)
	cfg := disksCfg(t, "five", imgs, "")
	if r := runXfeat(t, nil, "validate", cfg); r.Code != 0 {
		t.Fatalf("validate: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	dry := h.xfeat(t, "create", "--dry-run", cfg)
	if dry.Code != 0 {
		t.Fatalf("create --dry-run: exit %d\n%s", dry.Code, dry.Err)
	}
	budget := budgetOf(t, h.host, cfg)
	before := h.dump(t)
	// The failure depended on which frontend reached its grant table
	// first: several rounds.
	for round := range 3 {
		r := h.xfeat(t, "create", cfg)
		if r.Code != 0 {
			t.Fatalf("round %d: create: exit %d\n%s\nhost log:\n%s", round, r.Code, r.Err,
				strings.Join(h.grep("blkfront", "blkback"), "\n"))
		}
		if n := strings.Count(r.Out, "\tConnected\tConnected\n"); n != 5 {
			t.Fatalf("round %d: %d of 5 disks connected:\n%s", round, n, r.Out)
		}
		if round == 0 {
			// The dry run warned as create did, and the guest took
			// what the plan counted.
			if w := warnings(dry.Err); w != warnings(r.Err) || w == "" {
				t.Errorf("--dry-run warned\n%s\ncreate warned\n%s", w, warnings(r.Err))
			}
			t.Logf("create said:\n%s", r.Err)
			checkTakes(t, h.host, 1, budget)
			checkDisksServe(t, h.host, 1, 5)
			for i := range 5 {
				t.Logf("%s: %v", vdev(i), negotiated(t, h.host, "five/"+vdev(i)))
			}
		}
		if bad := h.grep("grant table full", "device failed"); len(bad) > 0 {
			t.Errorf("round %d: the host log says a disk ran short:\n%s", round, strings.Join(bad, "\n"))
		}
		if r := h.xfeat(t, "destroy", "five"); r.Code != 0 {
			t.Fatalf("destroy: %d %s", r.Code, r.Err)
		}
	}
	if after := h.dump(t); after != before {
		t.Fatalf("tree changed:\n%s", diffLines(before, after))
	}
}

// warnings are the lines of stderr with "warning:".
func warnings(stderr string) string {
	var w []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, "warning:") {
			w = append(w, l)
		}
	}
	return strings.Join(w, "\n")
}

// TestManyDisksFitXenStoreQuota: 26 disks. Before, the
// guest's frontends ran out of their XenStore node quota (ENOSPC on
// queue-0/ring-ref10) after the toolstack had accepted the file. With the
// default grant table and with a large one, every disk connects and the
// guest owns no more nodes than C xenstored's quota allows.
func TestManyDisksFitXenStoreQuota(t *testing.T) {
	h := startLogged(t, nil)
	imgs := images(t, 44, 1<<20)
	for _, tc := range []struct {
		name       string
		disks      int
		extra, opt string
	}{
		// The grant table is short first, then (1024 frames) the memory;
		// lowering for them brings the nodes within the quota too.
		{"26 disks, default grant table", 26, "", ""},
		{"26 disks, 1024 frames", 26, "max_grant_frames = 1024\n", ""},
		// Small rings asked for: the node quota is short first.
		{"44 small-ring disks, 128 frames", 44, "max_grant_frames = 128\n", ",max-ring-page-order=0,max-indirect-segments=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := disksCfg(t, "many", imgs[:tc.disks], tc.extra)
			if tc.opt != "" {
				src, _ := os.ReadFile(cfg)
				os.WriteFile(cfg, []byte(strings.ReplaceAll(string(src), ",access=ro,", tc.opt+",access=ro,")), 0o644)
			}
			budget := budgetOf(t, h.host, cfg)
			r := h.xfeat(t, "create", "--wait", "30s", cfg)
			if r.Code != 0 {
				t.Fatalf("create: exit %d\n%s\nhost log:\n%s", r.Code, r.Err, strings.Join(h.grep("device failed"), "\n"))
			}
			if n := strings.Count(r.Out, "\tConnected\tConnected\n"); n != tc.disks {
				t.Fatalf("%d of %d disks connected:\n%s", n, tc.disks, r.Out)
			}
			domid := domidOf(t, r.Out)
			checkTakes(t, h.host, domid, budget)
			checkDisksServe(t, h.host, domid, tc.disks)
			t.Logf("short of %s; uses %+v of %+v; xvda: %v; last: %v", budget.Short, budget.Use, budget.Limits,
				negotiated(t, h.host, "many/xvda"), negotiated(t, h.host, "many/"+vdev(tc.disks-1)))
			if r := h.xfeat(t, "destroy", "many"); r.Code != 0 {
				t.Fatalf("destroy: %d %s", r.Code, r.Err)
			}
		})
	}
}

var domidRE = regexp.MustCompile(`(?m)^(\d+)\t`)

func domidOf(t *testing.T, out string) uint32 {
	t.Helper()
	m := domidRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no domid in %q", out)
	}
	var id uint32
	fmt.Sscan(m[1], &id)
	return id
}

// TestPreflightRefusesWhatCannotFit: what cannot fit even
// with every unrequested feature at its minimum is refused before anything
// is written, by --dry-run and create alike, at FILE:LINE:COL with the
// arithmetic: the XenStore node quota, the grant table, the guest's memory.
func TestPreflightRefusesWhatCannotFit(t *testing.T) {
	h := startHost(t, nil)
	before := h.dump(t)
	img := images(t, 1, 1<<20)[0]
	many := make([]string, 80)
	for i := range many {
		many[i] = img
	}
	var big []string
	for i := range 7 {
		big = append(big, fmt.Sprintf(`"%s,raw,%s,ro,queues=4,max-ring-page-order=4,max-indirect-segments=32"`, img, vdev(i)))
	}
	for _, tc := range []struct {
		name, cfg string
		want      []string
	}{
		{"xenstore nodes", disksCfg(t, "nodes", many, ""), []string{
			// The 77th disk is the first past the quota.
			"nodes.cfg:79:5: the guest would own 1051 XenStore nodes but a domain may own 1000 (C xenstored's default quota)",
			"11 for the domain's own directories, then per device what xfeat create and its frontend write: disk #0: 13, disk #1: 13,",
		}},
		{"grants", disksCfg(t, "grants", []string{img, img}, "max_grant_frames = 1\n"), []string{
			"grants.cfg:2:20: the devices need 706 grant entries but max_grant_frames=1 gives 504 (1 × 512, less 8 reserved)",
			"disk #0: 353, disk #1: 353; set max_grant_frames to at least 2",
		}},
		{"memory", writeCfg(t, "mem.cfg", "name = \"mem\"\nmax_grant_frames = 2048\ndisk = [ "+strings.Join(big, ",\n  ")+" ]\n"), []string{
			// The 7th disk is the first past the guest's memory.
			"mem.cfg:9:3: the devices need 72128 pages of guest memory but the guest has 65536",
			"disk #0: 10304, disk #1: 10304,",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, args := range [][]string{{"create", "--dry-run", tc.cfg}, {"create", tc.cfg}} {
				r := h.xfeat(t, args...)
				if r.Code != 1 {
					t.Errorf("%v: exit %d, want 1\n%s", args[:len(args)-1], r.Code, r.Err)
				}
				for _, w := range tc.want {
					if !strings.Contains(r.Err, w) {
						t.Errorf("%v: stderr lacks %q:\n%s", args[:len(args)-1], w, r.Err)
					}
				}
			}
			if after := h.dump(t); after != before {
				t.Fatalf("tree changed:\n%s", diffLines(before, after))
			}
		})
	}
}

// TestCreateErrorCarriesBothEndsReasons: a device that fails
// makes create say why, from the frontend's and the backend's xenbus error
// nodes, not only their states.
func TestCreateErrorCarriesBothEndsReasons(t *testing.T) {
	t.Run("frontend", func(t *testing.T) {
		// A daemon whose node quota is far below C's default: the
		// guest's own writes fail, as they would on a host configured
		// so (the toolstack plans for the default).
		h := startHost(t, func(c *sandbox.Config) { c.Quotas.Nodes = 40 })
		before := h.dump(t)
		cfg := disksCfg(t, "quota", images(t, 1, 1<<20), "")
		r := h.xfeat(t, "create", "--wait", "10s", cfg)
		if r.Code != 1 {
			t.Fatalf("exit %d, want 1: %s", r.Code, r.Err)
		}
		for _, w := range []string{"vbd 1/51712 failed to connect", "frontend error: ", "ENOSPC"} {
			if !strings.Contains(r.Err, w) {
				t.Errorf("stderr lacks %q:\n%s", w, r.Err)
			}
		}
		if after := h.dump(t); after != before {
			t.Fatalf("tree changed:\n%s", diffLines(before, after))
		}
	})
	t.Run("backend", func(t *testing.T) {
		h := startHost(t, nil)
		cfg := writeCfg(t, "noimg.cfg", "name=\"noimg\"\ndisk=[\"/nonexistent/x.img,raw,xvda,rw\"]\n")
		r := h.xfeat(t, "create", "--wait", "10s", cfg)
		if r.Code != 1 || !strings.Contains(r.Err, "backend error: ") || !strings.Contains(r.Err, "/nonexistent/x.img") {
			t.Errorf("exit %d, stderr:\n%s", r.Code, r.Err)
		}
	})
}

// TestNumericNameCannotTakeAnID: a domain named "1" while
// domain 1 exists made `xfeat destroy 1` destroy the other domain. create
// refuses a name of digits only; destroy, show and io refuse a DOM that is
// one domain's id and another's name, and change nothing.
func TestNumericNameCannotTakeAnID(t *testing.T) {
	h := startHost(t, nil)
	img := images(t, 1, 1<<20)[0]
	other := writeCfg(t, "other.cfg", "name = \"other\"\ndisk = [ \""+img+",raw,xvda,ro\" ]\n")
	if r := h.xfeat(t, "create", other); r.Code != 0 {
		t.Fatalf("create other: %d %s", r.Code, r.Err)
	}
	one := writeCfg(t, "one.cfg", "vcpus = 1\nname = \"1\"\n")
	for _, args := range [][]string{{"create", one}, {"create", "--dry-run", one}} {
		r := h.xfeat(t, args...)
		if r.Code != 1 || !strings.Contains(r.Err, "one.cfg:2:8: the domain name \"1\" is a number") {
			t.Errorf("%v: exit %d: %s", args, r.Code, r.Err)
		}
	}
	// A domain some other toolstack named "1" (xl accepts it).
	ctx := context.Background()
	if err := h.XS.WriteString(ctx, "/local/domain/7/name", "1"); err != nil {
		t.Fatal(err)
	}
	before := h.dump(t)
	for _, args := range [][]string{
		{"destroy", "1"},
		{"show", "disk", "1/xvda"},
	} {
		r := h.xfeat(t, args...)
		if r.Code != 1 || !strings.Contains(r.Err, `"1" is domain 1's id and domain 7's name`) {
			t.Errorf("%v: exit %d: %s", args, r.Code, r.Err)
		}
	}
	r := runXfeat(t, nil, "io", "--rundir", h.Dir, "--runtime", "100ms", "1/xvda")
	if r.Code != 1 || !strings.Contains(r.Err, `"1" is domain 1's id and domain 7's name`) {
		t.Errorf("io: exit %d: %s", r.Code, r.Err)
	}
	if after := h.dump(t); after != before {
		t.Fatalf("tree changed:\n%s", diffLines(before, after))
	}
	// By its name, the other domain is still reachable; 7 by its id.
	if r := h.xfeat(t, "show", "disk", "other/xvda"); r.Code != 0 {
		t.Errorf("show other/xvda: %d %s", r.Code, r.Err)
	}
	if r := h.xfeat(t, "destroy", "7"); r.Code != 0 {
		t.Errorf("destroy 7: %d %s", r.Code, r.Err)
	}
	if r := h.xfeat(t, "destroy", "other"); r.Code != 0 {
		t.Errorf("destroy other: %d %s", r.Code, r.Err)
	}
}

// TestEveryWaitTimeoutIsExit3: `create --wait 1ms` exited 1
// with "context deadline exceeded" when the deadline passed before the
// watches were set or a state was read. Every timeout of create exits 3,
// names each stuck device with both ends' states, and leaves nothing; one
// of destroy warns and removes the devices anyway (exit 0).
func TestEveryWaitTimeoutIsExit3(t *testing.T) {
	h := startHost(t, nil)
	before := h.dump(t)
	cfg := writeCfg(t, "w.cfg", "name = \"w\"\nvif = [ \"bridge=xenbr0\" ]\n")
	stuck := regexp.MustCompile(`timed out after \S+ waiting for 1 device\(s\) to reach Connected:\n  vif \d+/0: backend \w+ \(/local/domain/0/backend/vif/\d+/0\), frontend \w+ \(/local/domain/\d+/device/vif/0\)`)
	for i := range 30 {
		wait := []string{"1ns", "1ms", "2ms", "5ms"}[i%4]
		r := h.xfeat(t, "create", "--wait", wait, cfg)
		if r.Code == 0 {
			// Connected within the time: fine, and nothing to check.
			h.xfeat(t, "destroy", "w")
			continue
		}
		if r.Code != 3 || !stuck.MatchString(r.Err) || !strings.Contains(r.Err, "nothing was left behind") {
			t.Errorf("--wait %s: exit %d (want 3):\n%s", wait, r.Code, r.Err)
		}
	}
	// destroy's wait for the backends to close ends the same way: the
	// devices left open are named and removed anyway, exit 0.
	for i := range 10 {
		if r := h.xfeat(t, "create", cfg); r.Code != 0 {
			t.Fatalf("create: %d %s", r.Code, r.Err)
		}
		wait := []string{"1ns", "1ms"}[i%2]
		r := h.xfeat(t, "destroy", "--wait", wait, "w")
		if r.Code != 0 || (r.Err != "" && !regexp.MustCompile(`^xfeat: warning: vif \d+/0: backend still \w+ after `+wait+`; removed anyway\n$`).MatchString(r.Err)) {
			t.Errorf("destroy --wait %s: exit %d (want 0):\n%s", wait, r.Code, r.Err)
		}
	}
	if after := h.dump(t); after != before {
		t.Fatalf("tree changed:\n%s", diffLines(before, after))
	}
}
