package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/xsclient"
)

// noFrontends keeps the listed domains' frontends from running: the test
// plays the guest.
func noFrontends(ids ...uint32) func(*Config) {
	return func(c *Config) {
		c.RunFrontends = func(d uint32) bool {
			for _, id := range ids {
				if id == d {
					return false
				}
			}
			return true
		}
	}
}

func TestBackendSeedsKeysAtInitWait(t *testing.T) {
	h := startHost(t, noFrontends(1))
	img := image(t, 1<<20)
	h.createDomain(t, 1,
		[]vifSpec{{devid: 0, config: map[string]string{"multi-queue-max-queues": "2", "feature-sg": "0"}}},
		[]vbdSpec{{devid: 51712, params: img, config: map[string]string{"max-ring-page-order": "1", "feature-max-indirect-segments": "0", "feature-persistent": "0"}}})
	vif, vbd := bePath("vif", 1, 0), bePath("vbd", 1, 51712)
	h.waitState(t, vif, pv.InitWait)
	h.waitState(t, vbd, pv.InitWait)
	for path, want := range map[string]string{
		vif + "/multi-queue-max-queues":       "2",
		vif + "/feature-sg":                   "0",
		vif + "/feature-gso-tcpv4":            "1",
		vif + "/feature-split-event-channels": "1",
		vif + "/feature-rx-copy":              "1",
		vbd + "/max-ring-page-order":          "1",
		vbd + "/multi-queue-max-queues":       "4",
		vbd + "/feature-persistent":           "0",
		vbd + "/feature-flush-cache":          "1",
		vbd + "/feature-discard":              "1",
	} {
		if got := h.read(t, path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	// blkif.h: feature-max-indirect-segments must be absent without indirect.
	if v, ok := h.readOpt(vbd + "/feature-max-indirect-segments"); ok {
		t.Errorf("feature-max-indirect-segments = %q, want absent when 0 was asked for", v)
	}
	// Everything asked for was honoured: no error node.
	for _, be := range []string{vif, vbd} {
		if v, ok := h.readOpt(pv.ErrorNode(0, be)); ok {
			t.Errorf("%s: unexpected error node %q", be, v)
		}
	}
	// The guest cannot read the requests (config-* is [n0]).
	g := h.dialGuest(t, 1)
	if _, err := g.Read(bg, vif+"/config-multi-queue-max-queues"); err == nil {
		t.Error("the frontend domain could read config-multi-queue-max-queues")
	}
	if _, err := g.Read(bg, vif+"/multi-queue-max-queues"); err != nil {
		t.Errorf("the frontend domain cannot read multi-queue-max-queues: %v", err)
	}
}

func (h *testHost) dialGuest(t testing.TB, id uint32) *xsclient.Client {
	t.Helper()
	c, err := xsclient.Dial(bg, filepath.Join(h.Rundir(), "domains", strconv.Itoa(int(id)), "socket"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestNegotiationLayouts(t *testing.T) {
	h := startHost(t, nil)
	img := image(t, 4<<20)
	h.createDomain(t, 1,
		[]vifSpec{
			{devid: 0, config: map[string]string{"multi-queue-max-queues": "1"}},
			{devid: 1, config: map[string]string{"multi-queue-max-queues": "3", "feature-split-event-channels": "0"}},
		},
		[]vbdSpec{
			{devid: 51712, params: img, config: map[string]string{"multi-queue-max-queues": "1", "max-ring-page-order": "0"}},
			{devid: 51728, params: img, mode: "r", config: map[string]string{"multi-queue-max-queues": "2", "max-ring-page-order": "2"}},
		})
	for _, d := range []struct {
		kind pv.Kind
		dev  uint32
	}{{"vif", 0}, {"vif", 1}, {"vbd", 51712}, {"vbd", 51728}} {
		h.waitState(t, bePath(d.kind, 1, d.dev), pv.Connected)
		h.waitState(t, fePath(d.kind, 1, d.dev), pv.Connected)
	}
	has := func(path string) bool { _, ok := h.readOpt(path); return ok }

	// One queue, split event channels: top-level keys, no queue-N.
	v0 := fePath("vif", 1, 0)
	for _, k := range []string{"tx-ring-ref", "rx-ring-ref", "event-channel-tx", "event-channel-rx", "request-rx-copy"} {
		if !has(v0 + "/" + k) {
			t.Errorf("vif 0: %s missing", k)
		}
	}
	if has(v0+"/event-channel") || has(v0+"/queue-0") {
		t.Error("vif 0: single event channel or queue-0 written with split channels and one queue")
	}
	if got := h.read(t, v0+"/multi-queue-num-queues"); got != "1" {
		t.Errorf("vif 0: multi-queue-num-queues = %s", got)
	}
	// Three queues, no split: queue-N/{tx,rx}-ring-ref, queue-N/event-channel.
	v1 := fePath("vif", 1, 1)
	if got := h.read(t, v1+"/multi-queue-num-queues"); got != "3" {
		t.Errorf("vif 1: multi-queue-num-queues = %s, want 3", got)
	}
	if has(v1 + "/tx-ring-ref") {
		t.Error("vif 1: top-level tx-ring-ref with 3 queues")
	}
	refs := map[string]bool{}
	for q := 0; q < 3; q++ {
		for _, k := range []string{"tx-ring-ref", "rx-ring-ref", "event-channel"} {
			path := v1 + "/queue-" + strconv.Itoa(q) + "/" + k
			v := h.read(t, path)
			if strings.HasSuffix(k, "ring-ref") {
				if refs[v] {
					t.Errorf("%s: grant ref %s used twice", path, v)
				}
				refs[v] = true
			}
		}
		if has(v1 + "/queue-" + strconv.Itoa(q) + "/event-channel-tx") {
			t.Errorf("vif 1 queue %d: split channel although the backend did not offer it", q)
		}
	}
	if got := h.read(t, bePath("vif", 1, 1)+"/feature-split-event-channels"); got != "0" {
		t.Errorf("vif 1: backend feature-split-event-channels = %s", got)
	}

	// Order 0, one ring: ring-ref, no ring-ref0.
	b0 := fePath("vbd", 1, 51712)
	if !has(b0+"/ring-ref") || has(b0+"/ring-ref0") || !has(b0+"/event-channel") {
		t.Error("vbd 51712: want ring-ref and event-channel only")
	}
	// Order 2, two queues: queue-N/ring-ref0..3 and queue-N/event-channel.
	b1 := fePath("vbd", 1, 51728)
	if got := h.read(t, b1+"/ring-page-order"); got != "2" {
		t.Errorf("vbd 51728: ring-page-order = %s, want 2", got)
	}
	for q := 0; q < 2; q++ {
		qd := b1 + "/queue-" + strconv.Itoa(q)
		for k := 0; k < 4; k++ {
			if !has(qd + "/ring-ref" + strconv.Itoa(k)) {
				t.Errorf("%s/ring-ref%d missing", qd, k)
			}
		}
		if has(qd+"/ring-ref") || has(qd+"/ring-ref4") || !has(qd+"/event-channel") {
			t.Errorf("%s: wrong transport keys", qd)
		}
	}
	if has(b1+"/ring-ref0") || has(b1+"/event-channel") {
		t.Error("vbd 51728: top-level transport keys with 2 queues")
	}
	if got := h.read(t, bePath("vbd", 1, 51728)+"/info"); got != "4" {
		t.Errorf("read-only vbd: info = %s, want 4 (VDISK_READONLY)", got)
	}
	if got := h.read(t, bePath("vbd", 1, 51728)+"/mode"); got != "r" {
		t.Errorf("read-only vbd: mode = %s", got)
	}
	if got := h.read(t, bePath("vbd", 1, 51728)+"/sector-size"); got != "512" {
		t.Errorf("sector-size = %s", got)
	}
	if got := h.read(t, fePath("vbd", 1, 51728)+"/protocol"); got != "x86_64-abi" {
		t.Errorf("protocol = %s", got)
	}

	// Grants the backends hold: vif 1*2 + 3*2, vbd 1*1 + 2*4.
	if n, want := h.GrantMappings(), 2+6+1+8; n != want {
		t.Errorf("grant mappings = %d, want %d", n, want)
	}
	// Event channels bound by dom0: vif0 2 (split), vif1 3, vbd 1 + 2.
	if n, want := h.EventChannels(), 2+3+1+2; n != want {
		t.Errorf("event channels = %d, want %d", n, want)
	}
	for _, d := range []struct {
		kind pv.Kind
		dev  uint32
	}{{"vif", 0}, {"vif", 1}, {"vbd", 51712}, {"vbd", 51728}} {
		h.destroy(t, d.kind, 1, d.dev)
		h.waitState(t, fePath(d.kind, 1, d.dev), pv.Closed)
	}
	if n := h.GrantMappings(); n != 0 {
		t.Errorf("grant mappings after teardown = %d", n)
	}
	if n := h.EventChannels(); n != 0 {
		t.Errorf("event channels after teardown = %d", n)
	}
}

func TestClampedRequestIsReported(t *testing.T) {
	h := startHost(t, func(c *Config) {
		c.Netback.MaxQueues = 2
		c.Blkback.MaxRingPageOrder = 1
		c.Blkback.Disabled = []string{"feature-barrier"}
	})
	img := image(t, 1<<20)
	h.createDomain(t, 1,
		[]vifSpec{{devid: 0, config: map[string]string{"multi-queue-max-queues": "8"}}},
		[]vbdSpec{{devid: 51712, params: img, config: map[string]string{"max-ring-page-order": "3", "feature-barrier": "1"}}})
	vif, vbd := bePath("vif", 1, 0), bePath("vbd", 1, 51712)
	h.waitState(t, vif, pv.Connected)
	h.waitState(t, vbd, pv.Connected)
	h.waitState(t, fePath("vbd", 1, 51712), pv.Connected)

	for _, c := range []struct {
		be                 string
		kind               pv.Kind
		feature, effective string
		fe                 string
		want               schema.Verdict
	}{
		{vif, "vif", "multi-queue-max-queues", "2", fePath("vif", 1, 0), schema.Clamped},
		{vbd, "vbd", "max-ring-page-order", "1", fePath("vbd", 1, 51712), schema.Clamped},
		{vbd, "vbd", "feature-barrier", "0", fePath("vbd", 1, 51712), schema.Refused},
	} {
		msg := h.read(t, pv.ErrorNode(0, c.be))
		if !schema.ErrorNames(msg, c.feature) {
			t.Errorf("%s error node %q does not name %s", c.kind, msg, c.feature)
		}
		if !h.log.contains(schema.ErrorNote(c.feature, "")) {
			t.Errorf("no log line names %s", c.feature)
		}
		r := schema.RuleFor(c.kind, c.feature)
		eff := h.read(t, c.be+"/"+r.BackendKey)
		if eff != c.effective {
			t.Errorf("%s %s = %s, want %s", c.kind, r.BackendKey, eff, c.effective)
		}
		req := h.read(t, c.be+"/config-"+c.feature)
		var neg *string
		if r.FrontendKey != "" {
			if v, ok := h.readOpt(c.fe + "/" + r.FrontendKey); ok {
				neg = &v
			}
		}
		d, err := schema.ParseRecord(c.feature, h.read(t, pv.DecisionNode(0, c.be, c.feature)))
		if err != nil {
			t.Errorf("%s %s: %v", c.kind, c.feature, err)
		}
		_, _, v := r.Judge(schema.Observation{Requested: &req, Effective: &eff, Negotiated: neg,
			BackendState: 4, FrontendState: 4, Decided: d.Action})
		if v != c.want {
			t.Errorf("%s %s: verdict %s, want %s", c.kind, c.feature, v, c.want)
		}
	}
	// The frontends stayed inside the clamp.
	if got := h.read(t, fePath("vif", 1, 0)+"/multi-queue-num-queues"); got != "2" {
		t.Errorf("netfront multi-queue-num-queues = %s, want 2", got)
	}
	if got := h.read(t, fePath("vbd", 1, 51712)+"/ring-page-order"); got != "1" {
		t.Errorf("blkfront ring-page-order = %s, want 1", got)
	}
}

func TestMissingImageFailsOnlyThatDevice(t *testing.T) {
	h := startHost(t, nil)
	img := image(t, 1<<20)
	h.createDomain(t, 1, nil, []vbdSpec{
		{devid: 51712, params: filepath.Join(t.TempDir(), "nonexistent.img")},
		{devid: 51728, params: img},
	})
	bad := bePath("vbd", 1, 51712)
	h.waitState(t, bad, pv.Closing)
	msg := h.read(t, pv.ErrorNode(0, bad))
	if !strings.Contains(msg, "params") || !strings.Contains(msg, "nonexistent.img") {
		t.Errorf("error node %q does not say the image is missing", msg)
	}
	h.waitState(t, bePath("vbd", 1, 51728), pv.Connected)
	h.waitState(t, fePath("vbd", 1, 51728), pv.Connected)
	if st, _ := h.readOpt(fePath("vbd", 1, 51712) + "/state"); st == "4" || st == "3" {
		t.Errorf("frontend of the failed device went to %s", st)
	}
	h.destroy(t, "vbd", 1, 51712)
	h.destroy(t, "vbd", 1, 51728)
}

// hostileGuest plays domain id's frontend for one device by hand.
type hostileGuest struct {
	t  testing.TB
	h  *testHost
	xs *xsclient.Client
	fe string
	g  *Guest
}

func (h *testHost) hostile(t testing.TB, id uint32, kind pv.Kind, dev uint32) *hostileGuest {
	t.Helper()
	var g *Guest
	for deadline := time.Now().Add(5 * time.Second); g == nil; {
		if g = h.Guest(id); g == nil {
			if time.Now().After(deadline) {
				t.Fatal("guest never started")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if g.Platform() == nil {
		t.Fatal("guest platform failed")
	}
	return &hostileGuest{t: t, h: h, xs: h.dialGuest(t, id), fe: fePath(kind, id, dev), g: g}
}

func (hg *hostileGuest) write(kv ...string) {
	hg.t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		if err := hg.xs.WriteString(bg, hg.fe+"/"+kv[i], kv[i+1]); err != nil {
			hg.t.Fatalf("guest write %s: %v", kv[i], err)
		}
	}
}

// grantRing grants a fresh initialised-looking page to dom0.
func (hg *hostileGuest) grant(pages int) []string {
	hg.t.Helper()
	pg, err := hg.g.Platform().AllocPages(pages)
	if err != nil {
		hg.t.Fatal(err)
	}
	var refs []string
	for i := 0; i < pages; i++ {
		r, err := pg.Grant(i, 0, false)
		if err != nil {
			hg.t.Fatal(err)
		}
		refs = append(refs, strconv.Itoa(int(r)))
	}
	return refs
}

func (hg *hostileGuest) port() string {
	hg.t.Helper()
	ch, err := hg.g.Platform().AllocUnbound(context.Background(), 0)
	if err != nil {
		hg.t.Fatal(err)
	}
	return strconv.Itoa(int(ch.Port()))
}

func TestHostileGuestsFailOnlyTheirDevice(t *testing.T) {
	h := startHost(t, noFrontends(2))
	img := image(t, 1<<20)
	// A well-behaved guest, connected throughout.
	h.createDomain(t, 1, []vifSpec{{devid: 0}}, []vbdSpec{{devid: 51712, params: img}})
	h.waitState(t, bePath("vif", 1, 0), pv.Connected)
	h.waitState(t, bePath("vbd", 1, 51712), pv.Connected)
	// The hostile guest's devices.
	h.createDomain(t, 2,
		[]vifSpec{{devid: 0}, {devid: 1}, {devid: 2}, {devid: 3}, {devid: 4}},
		[]vbdSpec{{devid: 51712, params: img}, {devid: 51728, params: img}, {devid: 51744, params: img}, {devid: 51760, params: img}})
	for _, k := range []struct {
		kind pv.Kind
		dev  uint32
	}{{"vif", 0}, {"vif", 1}, {"vif", 2}, {"vif", 3}, {"vif", 4}, {"vbd", 51712}, {"vbd", 51728}, {"vbd", 51744}, {"vbd", 51760}} {
		h.waitState(t, bePath(k.kind, 2, k.dev), pv.InitWait)
	}
	cases := []struct {
		kind pv.Kind
		dev  uint32
		act  func(hg *hostileGuest)
		says string
	}{
		{"vif", 0, func(hg *hostileGuest) { // a grant ref that was never granted
			hg.write("tx-ring-ref", "7777", "rx-ring-ref", "7778", "event-channel", hg.port(), "request-rx-copy", "1", "state", "4")
		}, "tx-ring-ref 7777"},
		{"vif", 1, func(hg *hostileGuest) { // not a number
			hg.write("request-rx-copy", "1", "tx-ring-ref", "banana", "state", "4")
		}, "tx-ring-ref"},
		{"vif", 2, func(hg *hostileGuest) { // more queues than offered
			hg.write("multi-queue-num-queues", "9", "state", "4")
		}, "multi-queue-num-queues"},
		{"vif", 3, func(hg *hostileGuest) { // two queues, but top-level keys
			r := hg.grant(2)
			hg.write("multi-queue-num-queues", "2", "tx-ring-ref", r[0], "rx-ring-ref", r[1], "event-channel", hg.port(), "request-rx-copy", "1", "state", "4")
		}, "top-level"},
		{"vif", 4, func(hg *hostileGuest) { // garbage in state
			hg.write("state", "4x")
		}, "state"},
		{"vbd", 51712, func(hg *hostileGuest) { // ref out of the table's range
			hg.write("ring-ref", "4294967295", "event-channel", hg.port(), "state", "3")
		}, "4294967295"},
		{"vbd", 51728, func(hg *hostileGuest) { // missing event channel
			hg.write("ring-ref", hg.grant(1)[0], "state", "3")
		}, "event-channel"},
		{"vbd", 51744, func(hg *hostileGuest) { // order beyond the maximum
			hg.write("ring-page-order", "9", "state", "3")
		}, "ring-page-order"},
		{"vbd", 51760, func(hg *hostileGuest) { // an event channel not allocated for dom0
			r := hg.grant(1)
			hg.write("ring-ref", r[0], "event-channel", "999", "state", "3")
		}, "event-channel 999"},
	}
	for _, c := range cases {
		hg := h.hostile(t, 2, c.kind, c.dev)
		c.act(hg)
	}
	for _, c := range cases {
		be := bePath(c.kind, 2, c.dev)
		h.waitState(t, be, pv.Closing)
		msg := h.read(t, pv.ErrorNode(0, be))
		if !strings.Contains(msg, c.says) {
			t.Errorf("%s %d: error node %q does not mention %q", c.kind, c.dev, msg, c.says)
		}
	}
	// Nothing the hostile guest did left a mapping or channel behind, and
	// the good guest is still connected.
	for _, k := range []struct {
		kind pv.Kind
		dev  uint32
	}{{"vif", 0}, {"vbd", 51712}} {
		if s := h.read(t, bePath(k.kind, 1, k.dev)+"/state"); s != "4" {
			t.Errorf("good guest's %s: backend state %s", k.kind, s)
		}
	}
	if n, want := h.GrantMappings(), 4*2+4*16; n != want {
		t.Errorf("grant mappings = %d, want %d (the good guest's only)", n, want)
	}
	// Releasing the hostile guest removes its files.
	if err := h.xs.Release(bg, 2); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(h.Rundir(), "domains", "2")
	for deadline := time.Now().Add(5 * time.Second); ; {
		files, _ := filepath.Glob(filepath.Join(h.Rundir(), "domains", "dom2.*"))
		if _, err := os.Stat(dir); os.IsNotExist(err) && len(files) == 0 {
			break
		}
		if time.Now().After(deadline) {
			left, _ := filepath.Glob(dir + "/*")
			t.Fatalf("guest 2's files are still there after RELEASE: %v %v", files, left)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Guest 1's are not touched.
	if files, _ := filepath.Glob(filepath.Join(h.Rundir(), "domains", "dom1.*")); len(files) != 4 {
		t.Errorf("guest 1's files: %v", files)
	}
}
