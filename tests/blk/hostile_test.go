package blk

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/xfeat/xfeat/backends/frontends/blkfront"
	"github.com/xfeat/xfeat/backends/frontends/blkload"
	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/platform"
	"github.com/xfeat/xfeat/backends/ring"
	"github.com/xfeat/xfeat/backends/xenbus"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/sandbox"
	"github.com/xfeat/xfeat/toolstack"
	"github.com/xfeat/xfeat/xsclient"
)

// evilDisk is a test frontend that breaks the blkif protocol on purpose:
// it negotiates like blkfront over the guest's own XenStore connection,
// then puts whatever it likes on the ring.
type evilDisk struct {
	t     *testing.T
	h     *host
	dom   uint32
	devid uint32
	gd    *grant.Domain
	front *ring.BlkifFront
	mem   []byte
	ch    platform.Channel
	data  platform.Pages // 16 pages for data
	refs  []grant.Ref    // data pages granted writable to dom0
	ro    []grant.Ref    // the same pages granted read-only
	other []grant.Ref    // the same pages granted to domain 9
}

func (e *evilDisk) be() string { return pv.BackendPath(0, "vbd", e.dom, e.devid) }

// connect plays blkfront's part of the handshake with a one-page ring.
func connectEvil(t *testing.T, h *host, gxs *xsclient.Client, plat platform.Guest, dom, devid uint32) *evilDisk {
	t.Helper()
	e := &evilDisk{t: t, h: h, dom: dom, devid: devid, gd: plat.(blkfront.GrantTable).GrantTable()}
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	if _, err := xenbus.WaitState(ctx, h.XS, e.be(), func(s pv.State) bool { return s == pv.InitWait }); err != nil {
		t.Fatalf("backend never reached InitWait: %v", err)
	}
	pg, err := plat.AllocPages(1)
	if err != nil {
		t.Fatal(err)
	}
	e.mem = pg.Bytes()
	if e.front, err = ring.NewBlkifFront(e.mem); err != nil {
		t.Fatal(err)
	}
	ref, err := pg.Grant(0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if e.ch, err = plat.AllocUnbound(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if e.data, err = plat.AllocPages(16); err != nil {
		t.Fatal(err)
	}
	fr := e.data.(interface{ Frame(int) uint32 })
	for i := 0; i < 16; i++ {
		for _, x := range []struct {
			dst *[]grant.Ref
			dom grant.DomID
			ro  bool
		}{{&e.refs, 0, false}, {&e.ro, 0, true}, {&e.other, 9, false}} {
			r, err := e.gd.GrantAccess(x.dom, fr.Frame(i), x.ro)
			if err != nil {
				t.Fatal(err)
			}
			*x.dst = append(*x.dst, r)
		}
	}
	fe := pv.FrontendPath(dom, "vbd", devid)
	for _, kv := range [][2]string{{"ring-ref", strconv.Itoa(int(ref))}, {"event-channel", strconv.Itoa(int(e.ch.Port()))},
		{"protocol", "x86_64-abi"}, {"state", "3"}} {
		if err := gxs.Write(ctx, fe+"/"+kv[0], []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := xenbus.WaitState(ctx, h.XS, e.be(), func(s pv.State) bool { return s == pv.Connected }); err != nil {
		t.Fatalf("backend never connected: %v", err)
	}
	gxs.Write(ctx, fe+"/state", []byte("4"))
	return e
}

// send puts req on the ring and returns the backend's status.
func (e *evilDisk) send(req ring.BlkifRequest) int16 {
	e.t.Helper()
	req.ID = 77
	if err := e.front.PutRequest(&req); err != nil {
		e.t.Fatal(err)
	}
	if e.front.PushRequests() {
		e.ch.Notify()
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var rsp ring.BlkifResponse
		ok, err := e.front.NextResponse(&rsp)
		if err != nil {
			e.t.Fatal(err)
		}
		if ok {
			if rsp.ID != 77 {
				e.t.Fatalf("response id %d", rsp.ID)
			}
			return rsp.Status
		}
		e.ch.Wait(100 * time.Millisecond)
	}
	e.t.Fatalf("no response to %+v", req)
	return 0
}

func (e *evilDisk) rw(op uint8, sector uint64, segs ...ring.BlkifSegment) ring.BlkifRequest {
	r := ring.BlkifRequest{Operation: op, NrSegments: uint8(len(segs)), SectorNumber: sector}
	copy(r.Seg[:], segs)
	return r
}

func seg(ref grant.Ref, first, last uint8) ring.BlkifSegment {
	return ring.BlkifSegment{Gref: uint32(ref), FirstSect: first, LastSect: last}
}

// waitFailed waits until the backend gave up on the device: Closing or
// Closed, with an error node saying why.
func (e *evilDisk) waitFailed(why string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	if _, err := xenbus.WaitState(ctx, e.h.XS, e.be(), func(s pv.State) bool { return s == pv.Closing || s == pv.Closed }); err != nil {
		e.t.Fatalf("%s: the backend did not disconnect the device: %v", why, err)
	}
	msg, err := e.h.XS.ReadString(bg, pv.ErrorNode(0, e.be()))
	if err != nil || msg == "" {
		e.t.Errorf("%s: no xenbus error node (%v)", why, err)
	}
	e.t.Logf("%s: error node: %s", why, msg)
}

func TestHostileFrontend(t *testing.T) {
	const evilDom = 2
	h := startHost(t, func(c *sandbox.Config) { c.RunFrontends = func(id uint32) bool { return id != evilDom } })
	// A well-behaved guest keeps doing verified I/O throughout.
	goodImg := image(t, 4<<20)
	good := create(t, h.XS, guestCfg("good", 256, goodImg+",raw,xvda,rw,queues=2,max-ring-page-order=1,max-indirect-segments=32"))
	goodDone := make(chan error, 1)
	var stopGood atomic.Bool
	go func() {
		for !stopGood.Load() {
			res, err := sandbox.RunIO(bg, h.Dir, sandbox.IORequest{Domid: good, Devid: 51712, Workload: blkload.Workload{
				RW: "randrw", BlockSize: 16 << 10, IODepth: 4, Runtime: 200 * time.Millisecond, Verify: true, MinOps: 16}}, nil)
			if err == nil && res.Verified == 0 {
				err = fmt.Errorf("the good guest verified nothing: %+v", res)
			}
			if err != nil {
				goodDone <- err
				return
			}
		}
		goodDone <- nil
	}()

	// The hostile guest: three disks, its frontends played by the test.
	imgs := []string{image(t, 1<<20), image(t, 1<<20), image(t, 1<<20)}
	src := guestCfg("evil", 256, imgs[0]+",raw,xvda,rw,max-ring-page-order=0,max-indirect-segments=16,queues=1",
		imgs[1]+",raw,xvdb,rw,max-ring-page-order=0,queues=1", imgs[2]+",raw,xvdc,rw,max-ring-page-order=0,queues=1")
	f, _ := parser.Parse("evil.cfg", []byte(src), parser.Options{})
	cfg, _ := devspec.CheckFile(f)
	plan, diags, err := toolstack.NewPlan(bg, h.XS, f, cfg)
	if err != nil || plan == nil {
		t.Fatal(err, diags)
	}
	created := make(chan error, 1)
	go func() {
		got, err := toolstack.Create(bg, h.XS, plan, toolstack.CreateOptions{Wait: 20 * time.Second})
		if err == nil && got.Domid != evilDom {
			err = fmt.Errorf("hostile domain got id %d", got.Domid)
		}
		created <- err
	}()
	var g *sandbox.Guest
	for deadline := time.Now().Add(10 * time.Second); g == nil; time.Sleep(5 * time.Millisecond) {
		if g = h.Guest(evilDom); g == nil && time.Now().After(deadline) {
			t.Fatalf("the hostile guest never started (create: %v)", <-created)
		}
	}
	plat := g.Platform()
	gxs, err := xsclient.Dial(bg, filepath.Join(h.Dir, "domains", strconv.Itoa(evilDom), "socket"))
	if err != nil {
		t.Fatal(err)
	}
	defer gxs.Close()
	a := connectEvil(t, h, gxs, plat, evilDom, 51712)
	b := connectEvil(t, h, gxs, plat, evilDom, 51728)
	c := connectEvil(t, h, gxs, plat, evilDom, 51744)
	if err := <-created; err != nil {
		t.Fatal(err)
	}

	sectors := uint64(1 << 20 / 512)
	type tc struct {
		name string
		req  ring.BlkifRequest
		want int16
	}
	var tooMany ring.BlkifRequest
	tooMany.Operation, tooMany.NrSegments = ring.BlkifOpRead, 200
	cases := []tc{
		{"zero segments", a.rw(ring.BlkifOpRead, 0), ring.BlkifRspError},
		{"too many segments", tooMany, ring.BlkifRspError},
		{"sector past the end", a.rw(ring.BlkifOpRead, sectors, seg(a.refs[0], 0, 0)), ring.BlkifRspError},
		{"range past the end", a.rw(ring.BlkifOpWrite, sectors-4, seg(a.refs[0], 0, 7)), ring.BlkifRspError},
		{"sector overflow", a.rw(ring.BlkifOpRead, ^uint64(0)-2, seg(a.refs[0], 0, 7)), ring.BlkifRspError},
		{"first_sect > last_sect", a.rw(ring.BlkifOpRead, 0, seg(a.refs[0], 6, 1)), ring.BlkifRspError},
		{"last_sect past the page", a.rw(ring.BlkifOpRead, 0, seg(a.refs[0], 0, 8)), ring.BlkifRspError},
		{"unknown operation", ring.BlkifRequest{Operation: 99}, ring.BlkifRspEOPNOTSUPP},
		{"reserved operation", ring.BlkifRequest{Operation: ring.BlkifOpReserved1}, ring.BlkifRspEOPNOTSUPP},
		{"grant not granted", a.rw(ring.BlkifOpRead, 0, seg(4000, 0, 7)), ring.BlkifRspError},
		{"grant out of the table", a.rw(ring.BlkifOpRead, 0, seg(1<<31, 0, 7)), ring.BlkifRspError},
		{"granted to another domain", a.rw(ring.BlkifOpRead, 0, seg(a.other[0], 0, 7)), ring.BlkifRspError},
		{"read-only grant for a read", a.rw(ring.BlkifOpRead, 0, seg(a.ro[0], 0, 7)), ring.BlkifRspError},
		{"second segment bad", a.rw(ring.BlkifOpWrite, 0, seg(a.refs[0], 0, 7), seg(a.other[1], 0, 7)), ring.BlkifRspError},
	}
	// Indirect: segments above the backend's 16, an indirect page not
	// granted, an indirect page full of bad segments.
	ind := func(n uint16, op uint8, gref grant.Ref) ring.BlkifRequest {
		var r ring.BlkifRequest
		*r.Indirect() = ring.BlkifRequestIndirect{Operation: ring.BlkifOpIndirect, IndirectOp: op, NrSegments: n}
		r.Indirect().IndirectGrefs[0] = uint32(gref)
		return r
	}
	segs := ring.BlkifSegments(a.data.Bytes()[15*4096:])
	for i := range 12 {
		segs[i] = seg(a.other[i], 0, 7) // granted to someone else
	}
	cases = append(cases,
		tc{"too many indirect segments", ind(17, ring.BlkifOpRead, a.ro[15]), ring.BlkifRspError},
		tc{"indirect page not granted", ind(12, ring.BlkifOpRead, 4001), ring.BlkifRspError},
		tc{"indirect page granted to another domain", ind(12, ring.BlkifOpRead, a.other[15]), ring.BlkifRspError},
		tc{"indirect segments not granted", ind(12, ring.BlkifOpRead, a.ro[15]), ring.BlkifRspError},
		tc{"indirect discard", ind(12, ring.BlkifOpDiscard, a.ro[15]), ring.BlkifRspError},
		tc{"zero indirect segments", ind(0, ring.BlkifOpRead, a.ro[15]), ring.BlkifRspError},
	)
	var disc ring.BlkifRequest
	*disc.Discard() = ring.BlkifRequestDiscard{Operation: ring.BlkifOpDiscard, SectorNumber: sectors - 1, NrSectors: ^uint64(0)}
	cases = append(cases, tc{"discard overflow", disc, ring.BlkifRspError})
	for _, c := range cases {
		if got := a.send(c.req); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
	}
	// The device still works after all that, and nothing reached its image.
	copy(a.data.Bytes()[:4096], []byte("still served"))
	if st := a.send(a.rw(ring.BlkifOpWrite, 8, seg(a.ro[0], 0, 7))); st != ring.BlkifRspOkay {
		t.Fatalf("a good write after the bad requests: %d", st)
	}
	// Requests rewritten after being published: the backend acts on the
	// one copy it took; every response is a clean status.
	for i := 0; i < 200; i++ {
		req := a.rw(ring.BlkifOpWrite, 16, seg(a.ro[1], 0, 7))
		req.ID = 77
		slot, err := a.front.ProduceRequest()
		if err != nil {
			t.Fatal(err)
		}
		*slot = req
		if a.front.PushRequests() {
			a.ch.Notify()
		}
		slot.NrSegments, slot.SectorNumber, slot.Seg[0].Gref = 200, ^uint64(0), 9999
		deadline := time.Now().Add(5 * time.Second)
		for {
			var rsp ring.BlkifResponse
			if ok, _ := a.front.NextResponse(&rsp); ok {
				if rsp.Status != ring.BlkifRspOkay && rsp.Status != ring.BlkifRspError {
					t.Fatalf("rewritten request: status %d", rsp.Status)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no response to a rewritten request")
			}
			a.ch.Wait(50 * time.Millisecond)
		}
	}
	if st, _ := h.XS.ReadString(bg, a.be()+"/state"); st != "4" {
		t.Errorf("device a state %s after error responses, want still Connected", st)
	}

	// A producer index past the ring disconnects the device.
	word := (*atomic.Uint32)(unsafe.Pointer(&b.mem[0])) // req_prod
	word.Store(word.Load() + 32 + 5)
	b.ch.Notify()
	b.waitFailed("req_prod past the ring")

	// A notification storm with nothing on the ring disconnects it too.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i := 0; i < 1000; i++ {
			c.ch.Notify()
		}
		if st, _ := h.XS.ReadString(bg, c.be()+"/state"); st == "5" || st == "6" {
			break
		}
		time.Sleep(time.Millisecond)
	}
	c.waitFailed("notification storm")

	stopGood.Store(true)
	if err := <-goodDone; err != nil {
		t.Fatalf("the other guest's disk: %v", err)
	}
	destroy(t, h.XS, good)
	destroy(t, h.XS, evilDom)
	if n := h.GrantMappings(); n != 0 {
		t.Errorf("%d grant mappings left after teardown", n)
	}
	if n := h.EventChannels(); n != 0 {
		t.Errorf("%d event channels left after teardown", n)
	}
}
