package toolstack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/xsclient"
)

// stockSysfs writes the module parameters of stock netback and blkback, as
// a Debian dom0 with 2 vcpus shows them (tests/xenhost measured), into a
// directory laid out as /sys, with the changes given ("xen_netback/
// separate_tx_rx_irq": "N").
func stockSysfs(t *testing.T, changes map[string]string) string {
	t.Helper()
	root := t.TempDir()
	params := map[string]string{
		"xen_netback/max_queues": "2", "xen_netback/separate_tx_rx_irq": "Y", "xen_netback/provides_xdp_headroom": "Y",
		"xen_netback/fatal_skb_slots": "20",
		"xen_blkback/max_queues":      "2", "xen_blkback/max_ring_page_order": "4", "xen_blkback/feature_persistent": "Y",
		"xen_blkback/max_persistent_grants": "1056",
	}
	for k, v := range changes {
		params[k] = v
	}
	for k, v := range params {
		mod, name, _ := strings.Cut(k, "/")
		dir := filepath.Join(root, "module", mod, "parameters")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if v == "" {
			continue // the module without this parameter
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// DetectHost: the sandbox host's marker decides; without it a real Xen
// host, with or without xl, and the local domain is XenStore's own answer.
func TestDetectHost(t *testing.T) {
	ctx := context.Background()
	_, c := store(t)
	found := func(string) (string, error) { return "/usr/sbin/xl", nil }
	missing := func(string) (string, error) { return "", errors.New("not found") }

	h, err := DetectHost(ctx, c, HostProbe{LookPath: found, Sysfs: "/nonexistent"})
	if err != nil || h.Kind != XenHost || h.Xl != "/usr/sbin/xl" || h.Local != 0 || h.Sysfs != "/nonexistent" || h.NeedXl() != nil {
		t.Fatalf("no marker, xl found: %+v, %v (need xl: %v)", h, err, h.NeedXl())
	}
	h, err = DetectHost(ctx, c, HostProbe{LookPath: missing})
	if err != nil || h.Kind != XenHost || h.Xl != "" || h.Sysfs != "/sys" || !errors.Is(h.NeedXl(), ErrNoXl) ||
		!strings.Contains(h.NeedXl().Error(), pv.SandboxMarker) {
		t.Fatalf("no marker, no xl: %+v, %v (need xl: %v)", h, err, h.NeedXl())
	}
	// The domain xfeat runs in: a relative path is the connection's own.
	if err := c.Write(ctx, "/local/domain/0/domid", []byte("0")); err != nil {
		t.Fatal(err)
	}
	if h, _ := DetectHost(ctx, c, HostProbe{LookPath: found}); h.Local != 0 {
		t.Errorf("local domain %d, want 0", h.Local)
	}
	if err := c.Write(ctx, pv.SandboxMarker, []byte("/run/xfeat")); err != nil {
		t.Fatal(err)
	}
	h, err = DetectHost(ctx, c, HostProbe{LookPath: missing})
	if err != nil || h.Kind != SandboxHost || h.Rundir != "/run/xfeat" || h.NeedXl() != nil {
		t.Fatalf("marker: %+v, %v", h, err)
	}
}

// StockSchema describes netback and blkback by their parameters and the
// drivers' fixed values; an unloaded driver or a garbled parameter is an
// error saying which.
func TestStockSchema(t *testing.T) {
	sysfs := stockSysfs(t, map[string]string{"xen_netback/separate_tx_rx_irq": "N", "xen_blkback/feature_persistent": "N"})
	vif, err := StockSchema(sysfs, 0, pv.Vif)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"multi-queue-max-queues": "2", "feature-sg": "1", "feature-gso-tcpv4": "1", "feature-gso-tcpv6": "1",
		"feature-ipv6-csum-offload": "1", "feature-split-event-channels": "0", "feature-multicast-control": "1", "feature-ctrl-ring": "1"}
	if len(vif.Features) != len(want) {
		t.Errorf("vif: %v, want %v", vif.Names(), want)
	}
	for name, def := range want {
		f := vif.Lookup(name)
		if f == nil || f.Defval != def || f.AtConnect || f.Type != schema.RuleFor(pv.Vif, name).Type || f.Desc == "" {
			t.Errorf("vif %s: %+v, want default %s", name, f, def)
		}
	}
	if !strings.Contains(vif.From, filepath.Join(sysfs, "module/xen_netback/parameters")) || vif.Lookup("feature-no-csum-offload") != nil {
		t.Errorf("vif from %q", vif.From)
	}
	vbd, err := StockSchema(sysfs, 0, pv.Vbd)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, def string
		atConnect bool
	}{
		{"multi-queue-max-queues", "2", false}, {"max-ring-page-order", "4", false}, {"feature-max-indirect-segments", "256", false},
		{"feature-discard", "1", false}, {"feature-persistent", "0", true}, {"feature-flush-cache", "", true}, {"feature-barrier", "", true},
	} {
		f := vbd.Lookup(c.name)
		if f == nil || f.Defval != c.def || f.AtConnect != c.atConnect {
			t.Errorf("vbd %s: %+v, want default %q, at connect %v", c.name, f, c.def, c.atConnect)
		}
	}
	if StockControl(pv.Vbd, "feature-discard") != pv.KeyDiscardEnable || StockControl(pv.Vbd, "feature-persistent") != StockAtConnect ||
		StockControl(pv.Vif, "feature-sg") != StockRewrite || StockControl(pv.Vif, "feature-no-csum-offload") != "" {
		t.Error("StockControl")
	}

	if _, err := StockSchema(t.TempDir(), 0, pv.Vif); !errors.Is(err, ErrNoStockBackend) || !strings.Contains(err.Error(), "xen-netback is not loaded") {
		t.Errorf("no module: %v", err)
	}
	bad := stockSysfs(t, map[string]string{"xen_blkback/max_queues": "many"})
	if _, err := StockSchema(bad, 0, pv.Vbd); err == nil || !strings.Contains(err.Error(), "xen_blkback/parameters/max_queues") {
		t.Errorf("garbled parameter: %v", err)
	}
	gone := stockSysfs(t, map[string]string{"xen_netback/separate_tx_rx_irq": ""})
	if _, err := StockSchema(gone, 0, pv.Vif); err == nil || !strings.Contains(err.Error(), "separate_tx_rx_irq") {
		t.Errorf("missing parameter: %v", err)
	}
}

// planOn plans src for a real Xen host whose stock backends have the
// parameters of sysfs, in store c (which advertises no schema).
func planOn(t *testing.T, c *xsclient.Client, sysfs, src string) (*Plan, parser.Diagnostics) {
	t.Helper()
	f, cfg, more := check(t, src)
	if more.HasErrors() {
		t.Fatalf("check: %v", more)
	}
	host := Host{Kind: XenHost, Xl: "/usr/sbin/xl", Sysfs: sysfs}
	p, ds, err := NewPlanFor(context.Background(), c, host, f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, ds
}

func diagText(ds parser.Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.Error() + "\n")
	}
	return b.String()
}

// On a real host a stock backend's requests are checked against its
// module parameters: clamped above them, refused where the driver cannot,
// unenforceable where it decides when it connects; each at its place in
// the file.
func TestPlanStockBackends(t *testing.T) {
	_, c := store(t)
	sysfs := stockSysfs(t, map[string]string{"xen_netback/separate_tx_rx_irq": "N"})

	p, ds := planOn(t, c, sysfs, `name = "g"
vcpus = 2
vif = [ "bridge=xenbr0,queues=1,tso4=off", "bridge=xenbr0", "bridge=xenbr0,queues=8" ]
disk = [ "format=raw,vdev=xvda,access=rw,queues=1,max-ring-page-order=0,features=feature-discard:off,persistent=off,target=/x.img" ]
`)
	if p == nil {
		t.Fatalf("refused:\n%s", diagText(ds))
	}
	text := diagText(ds)
	for _, want := range []string{
		"guest.cfg:3:76: warning: vif #2: queues (multi-queue-max-queues)=8 is above backend domain 0's maximum 2",
		"guest.cfg:4:102: warning: disk #0: persistent (feature-persistent)=0 cannot be enforced: backend domain 0 decides feature-persistent only when it connects",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, text)
		}
	}
	if len(ds) != 2 {
		t.Errorf("%d diagnostics, want 2:\n%s", len(ds), text)
	}
	if p.Guest == nil || p.Guest.VCPUs != 2 || p.Devices[0].stock == nil || p.Devices[3].stock == nil {
		t.Fatalf("plan: guest %+v, devices %+v", p.Guest, p.Devices)
	}
	// What xfeat writes once the backends are in InitWait: the requests,
	// the rewritten keys and the decisions.
	var got []string
	for _, n := range p.XlNodes(7) {
		got = append(got, n.Path+" = "+n.Value+" "+strings.Join(n.PermStrings(), ","))
	}
	want := []string{
		"/local/domain/0/backend/vif/7/0/config-multi-queue-max-queues = 1 n0",
		"/local/domain/0/backend/vif/7/0/config-feature-gso-tcpv4 = 0 n0",
		"/local/domain/0/backend/vif/7/0/multi-queue-max-queues = 1 ",
		"/local/domain/0/error/backend/vif/7/0/feature/multi-queue-max-queues = apply 1 ",
		"/local/domain/0/backend/vif/7/0/feature-gso-tcpv4 = 0 ",
		"/local/domain/0/error/backend/vif/7/0/feature/feature-gso-tcpv4 = apply 0 ",
		"/local/domain/0/backend/vif/7/2/config-multi-queue-max-queues = 8 n0",
		"/local/domain/0/backend/vif/7/2/multi-queue-max-queues = 2 ",
		"/local/domain/0/error/backend/vif/7/2/feature/multi-queue-max-queues = clamp 2 ",
		"/local/domain/0/backend/vbd/7/51712/config-multi-queue-max-queues = 1 n0",
		"/local/domain/0/backend/vbd/7/51712/config-max-ring-page-order = 0 n0",
		"/local/domain/0/backend/vbd/7/51712/config-feature-discard = 0 n0",
		"/local/domain/0/backend/vbd/7/51712/config-feature-persistent = 0 n0",
		"/local/domain/0/backend/vbd/7/51712/multi-queue-max-queues = 1 ",
		"/local/domain/0/error/backend/vbd/7/51712/feature/multi-queue-max-queues = apply 1 ",
		"/local/domain/0/backend/vbd/7/51712/max-ring-page-order = 0 ",
		"/local/domain/0/error/backend/vbd/7/51712/feature/max-ring-page-order = apply 0 ",
		"/local/domain/0/backend/vbd/7/51712/discard-enable = 0 ",
		"/local/domain/0/error/backend/vbd/7/51712/feature/feature-discard = apply 0 ",
		"/local/domain/0/error/backend/vbd/7/51712/feature/feature-persistent = unenforceable ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("xl nodes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if p := DryRunPath(pv.BackendPath(0, pv.Vif, DryRunDomid, 0)); p != "/local/domain/0/backend/vif/DOMID/0" {
		t.Errorf("dry run path %s", p)
	}

	// What the stock backends cannot do is an error naming why.
	_, ds = planOn(t, c, sysfs, `name = "g"
vif = [ "bridge=xenbr0,csum=off", "bridge=xenbr0,features=feature-split-event-channels:on" ]
disk = [ "format=raw,vdev=xvda,access=rw,queues=0,target=/x.img" ]
`)
	text = diagText(ds)
	for _, want := range []string{
		"guest.cfg:2:24: vif #0: feature csum (feature-no-csum-offload) is not offered by backend domain 0: backend domain 0 runs Linux xen-netback, which writes no such key",
		"guest.cfg:2:59: vif #1: feature-split-event-channels=1 is not allowed: backend domain 0: Linux xen-netback has it off (module parameter separate_tx_rx_irq is N)",
		"guest.cfg:3:42: disk #0: queues (multi-queue-max-queues)=0 is not allowed: allowed is an unsigned integer of at least 1, by backend domain 0's Linux xen-blkback's module parameters",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, text)
		}
	}

	// A backend that is neither advertised nor stock: a device that asks
	// nothing is left to xl, one that asks is refused.
	none := t.TempDir()
	p, ds = planOn(t, c, none, "name = \"g\"\nvif = [ \"bridge=xenbr0\" ]\n")
	if p == nil || !p.Devices[0].open || len(p.XlNodes(3)) != 0 {
		t.Fatalf("a device asking nothing: %v %s", p, diagText(ds))
	}
	_, ds = planOn(t, c, none, "name = \"g\"\nvif = [ \"bridge=xenbr0,queues=1\" ]\n")
	if text := diagText(ds); !strings.Contains(text, "guest.cfg:2:9: vif #0: backend advertises no feature schema") ||
		!strings.Contains(text, "xen-netback is not loaded") {
		t.Errorf("no backend to ask:\n%s", text)
	}
}

// The users' pain: three vifs whose 2 queues each would take more grants
// than max_grant_frames=4 gives a 2-vcpu Linux guest. create lowers the
// later vifs to fit (and says so); validate warns with the arithmetic;
// asking queues=1 on each fits without a word.
func TestBudgetLinuxGuest(t *testing.T) {
	_, c := store(t)
	sysfs := stockSysfs(t, nil)
	const pain = `name = "g"
vcpus = 2
max_grant_frames = 4
vif = [ "bridge=xenbr0", "bridge=xenbr0", "bridge=xenbr0" ]
`
	p, ds := planOn(t, c, sysfs, pain)
	if p == nil {
		t.Fatalf("refused:\n%s", diagText(ds))
	}
	if b := p.Budget; b.Limits.Grants != 2040 || b.MayUse.Grants != 3084 || b.Use.Grants != 1542 || b.Short != "grant entries" {
		t.Errorf("budget %+v", b)
	}
	var lowered []string
	for _, d := range p.Devices {
		for _, f := range d.Features {
			if f.Lowered {
				lowered = append(lowered, d.Label+" "+f.Name+"="+f.Value)
			}
		}
	}
	// Two 2-queue vifs alone take 2056: every vif gives one queue up.
	if strings.Join(lowered, ", ") != "vif #0 multi-queue-max-queues=1, vif #1 multi-queue-max-queues=1, vif #2 multi-queue-max-queues=1" {
		t.Errorf("lowered: %v\n%s", lowered, diagText(ds))
	}
	if got := p.Devices[2].Takes; got != "1 queue(s) × (2 × 256 slot grants + 2 ring pages) = 514 grants, 2 event channel(s)" {
		t.Errorf("vif #2 takes %q", got)
	}
	// The lowered vifs get their key rewritten like a request.
	found := false
	for _, n := range p.XlNodes(1) {
		found = found || n.Path == "/local/domain/0/backend/vif/1/2/multi-queue-max-queues" && n.Value == "1"
	}
	if !found {
		t.Error("the lowered vif's key is not rewritten")
	}

	f, cfg, _ := check(t, pain)
	ds = CheckXenHost(f, cfg)
	text := diagText(ds)
	if len(ds) != 1 || ds[0].Severity != parser.DiagWarning ||
		!strings.Contains(text, "guest.cfg:3:20: warning: with Linux frontends taking all the backends may offer, the devices need 3084 grant entries but max_grant_frames=4 gives 2040 (4 × 512, less 8 reserved)") ||
		!strings.Contains(text, "vif #2: 2 queue(s) × (2 × 256 slot grants + 2 ring pages) = 1028 grants") ||
		!strings.Contains(text, "under plain xl the devices past the limit would fail to connect") {
		t.Errorf("validate on the pain:\n%s", text)
	}
	if o := cfg.Origins[ds[0]]; o.Message == "" {
		t.Errorf("no origin for %v", ds[0])
	}
	f, cfg, _ = check(t, strings.ReplaceAll(pain, `"bridge=xenbr0"`, `"bridge=xenbr0,queues=1"`))
	if ds := CheckXenHost(f, cfg); len(ds) != 0 {
		t.Errorf("queues=1 on each: %s", diagText(ds))
	}
	// Requests that cannot fit even at their minimum are an error, as
	// create would refuse them; the guest's own event channels count.
	f, cfg, _ = check(t, `name = "g"
vcpus = 4
max_grant_frames = 2
max_event_channels = 30
vif = [ "queues=2", "queues=2" ]
`)
	text = diagText(CheckXenHost(f, cfg))
	for _, want := range []string{
		"guest.cfg:3:20: the devices need 2056 grant entries but max_grant_frames=2 gives 1016",
		"set max_grant_frames to at least 5",
		"guest.cfg:4:22: warning: with Linux frontends taking all the backends may offer, the devices need 34 event channels (26 for the guest itself: xenstore, console and 6 per vcpu) but max_event_channels=30",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("lacks %q:\n%s", want, text)
		}
	}
	// A request a stock backend decides at connect is a warning offline.
	f, cfg, _ = check(t, "name = \"g\"\ndisk = [ \"/x.img,raw,xvda,rw,persistent=off\" ]\n")
	if text := diagText(CheckXenHost(f, cfg)); !strings.Contains(text, "guest.cfg:2:30: warning: disk #0: persistent=0 cannot be enforced on a stock Linux backend") {
		t.Errorf("persistent offline:\n%s", text)
	}
}

// LinuxGuestOf reads vcpus and the frontends' parameters from the kernel
// command line (cmdline over extra), leniently as xl reads vcpus.
func TestLinuxGuestOf(t *testing.T) {
	for _, c := range []struct {
		src                                string
		vcpus, netq, blkq, order, segments int64
	}{
		{`name="g"`, 1, 0, 0, 0, 0},
		{"vcpus = 4\nextra = \"console=hvc0 xen_netfront.max_queues=2 xen-blkfront.max_ring_page_order=3 xen_blkfront.max-queues=1 xen_blkfront.max_indirect_segments=64\"", 4, 2, 1, 3, 64},
		{"vcpus = \"x\"\nextra = \"xen_netfront.max_queues=2\"\ncmdline = \"xen_netfront.max_queues=3 xen_netfront.max_queues\"", 1, 3, 0, 0, 0},
		{"vcpus = 0x8\nextra = \"xen_blkfront.max_queues=-1 xen_blkfront.max_queues=zz\"", 8, 0, 0, 0, 0},
	} {
		f, _, _ := check(t, c.src+"\n")
		g := LinuxGuestOf(f)
		if g.VCPUs != c.vcpus || g.NetMaxQueues != c.netq || g.BlkMaxQueues != c.blkq || g.BlkMaxRingPageOrder != c.order || g.BlkMaxIndirectSegments != c.segments {
			t.Errorf("%q: %+v", c.src, g)
		}
	}
}

// A backend that advertises a schema decides itself: the guest stays
// paused until it has recorded a decision on every request, or the wait
// fails naming the requests still undecided.
func TestWaitDecided(t *testing.T) {
	ctx := context.Background()
	_, c := store(t)
	advertise(t, c)
	p, ds := plan(t, c, "name = \"g\"\nvif = [ \"queues=2,tso4=off\" ]\n")
	if p == nil {
		t.Fatal(diagText(ds))
	}
	refs := p.Refs(4)
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err := waitDecided(wctx, c, p, refs)
	var und *UndecidedError
	if !errors.As(err, &und) || strings.Join(und.Undecided["vif 4/0"], ",") != "multi-queue-max-queues,feature-gso-tcpv4" ||
		!strings.Contains(err.Error(), "must watch its config-* nodes") {
		t.Fatalf("no decision: %v", err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		for _, n := range []string{"multi-queue-max-queues", "feature-gso-tcpv4"} {
			c.Write(ctx, pv.DecisionNode(0, refs[0].BackendPath, n), []byte("apply 1"))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	wctx2, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	if err := waitDecided(wctx2, c, p, refs); err != nil {
		t.Fatalf("decided: %v", err)
	}
}
