package ringinterop

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/evtchn"
	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/ring"
	"github.com/xfeat/xfeat/internal/testutil"
)

// The request plan, as in testdata/xfeat_host.h.
func planID(i uint32) uint64 { return 0x1000000 + uint64(i)*7 }
func planOp(i uint32) uint8 {
	switch {
	case i%13 == 12:
		return ring.BlkifOpWriteBarrier
	case i%3 == 0:
		return ring.BlkifOpRead
	}
	return ring.BlkifOpWrite
}
func planNSeg(i uint32) int {
	if planOp(i) == ring.BlkifOpWriteBarrier {
		return 0
	}
	return 1 + int(i%11)
}
func planFirst(i uint32, s int) int    { return int(i+uint32(s)) % 8 }
func pattern(id uint64, s, o int) byte { return byte(id*131 + uint64(s)*7 + uint64(o)) }
func planIndex(id uint64) (uint32, bool) {
	low := id & (1<<56 - 1)
	if low < 0x1000000 || (low-0x1000000)%7 != 0 {
		return 0, false
	}
	return uint32((low - 0x1000000) / 7), true
}

const (
	guestDom    grant.DomID = 1
	backendDom  grant.DomID = 0
	maxInflight             = 64
	dataFrame0              = 64
	guestPages              = dataFrame0 + maxInflight*ring.BlkifMaxSegmentsPerRequest
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// cprogs compiles the C programs once per test binary.
func cprogs(t *testing.T) (front, back string) {
	t.Helper()
	testutil.NeedTool(t, "gcc", "gcc")
	testutil.NeedFile(t, "/usr/include/xen/io/ring.h", "Xen's public headers (Debian package libxen-dev)")
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "ringinterop")
		if buildErr != nil {
			return
		}
		for _, p := range []string{"blkfront", "blkback"} {
			out, err := exec.Command("gcc", "-O2", "-Wall", "-Werror", "-o", filepath.Join(binDir, p), "testdata/"+p+".c").CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("gcc %s: %v\n%s", p, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "blkfront"), filepath.Join(binDir, "blkback")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// nreq is the number of requests per configuration: enough to wrap even a
// 512-entry ring several times; fewer in CI, where other packages' tests
// share the two cores with two spinning processes.
func nreq() uint32 {
	if testing.Short() {
		return 500
	}
	if os.Getenv("CI") != "" {
		return 1500
	}
	return 3000
}

// modes: the C side either polls, or sleeps on an event channel of the
// sandbox host and is woken by notifications, as a real driver is.
var modes = []struct {
	name   string
	evtchn bool
	orders []int
}{
	{"poll", false, []int{0, 1, 2, 3, 4}},
	{"evtchn", true, []int{0, 2, 4}},
}

// channel binds an interdomain channel guest <-> backend and returns the
// guest's and the backend's ends.
func channel(t *testing.T, dir string) (guestEnd, backEnd *evtchn.Channel) {
	t.Helper()
	h := evtchn.NewHost(dir)
	t.Cleanup(func() { h.Close() })
	for _, d := range []evtchn.DomID{evtchn.DomID(guestDom), evtchn.DomID(backendDom)} {
		if err := h.CreateDomain(d, 8); err != nil {
			t.Fatal(err)
		}
	}
	gp, err := h.AllocUnbound(evtchn.DomID(guestDom), evtchn.DomID(backendDom))
	if err != nil {
		t.Fatal(err)
	}
	bp, err := h.BindInterdomain(evtchn.DomID(backendDom), evtchn.DomID(guestDom), gp)
	if err != nil {
		t.Fatal(err)
	}
	guestEnd, _ = h.Channel(evtchn.DomID(guestDom), gp)
	backEnd, _ = h.Channel(evtchn.DomID(backendDom), bp)
	backEnd.Poll() // the event raised by the bind
	return guestEnd, backEnd
}

// waitEvent sleeps on ch after a final check found the ring empty. Waking
// by timeout with work on the ring means a notification was lost: the
// peer pushed past our event index without notifying, or the
// notification did not cross the process boundary.
func waitEvent(t *testing.T, ch *evtchn.Channel, work func() bool) {
	t.Helper()
	if _, err := ch.Wait(5 * time.Second); errors.Is(err, evtchn.ErrTimeout) && work() {
		t.Fatal("lost wakeup: work on the ring but no event for 5s")
	}
}

// proc runs a C program and watches it.
type proc struct {
	cmd    *exec.Cmd
	out    *bufio.Reader
	exited chan struct{}
	err    error
	rest   string // stdout after the lines read with line
	stderr strings.Builder
}

func start(t *testing.T, port *evtchn.Channel, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	if port != nil {
		p.cmd.Env = append(os.Environ(), fmt.Sprintf("XFEAT_EVTCHN_PORT=%d", port.Port()))
	}
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.out = bufio.NewReader(stdout)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
		}
	})
	return p
}

// line reads one stdout line with the given first word.
func (p *proc) line(t *testing.T, word string) []string {
	t.Helper()
	l, err := p.out.ReadString('\n')
	f := strings.Fields(l)
	if err != nil || len(f) == 0 || f[0] != word {
		p.cmd.Wait()
		t.Fatalf("C program: want %q line, got %q (%v)\nstderr: %s", word, l, err, p.stderr.String())
	}
	return f[1:]
}

// wait collects the rest of stdout, then the exit status.
func (p *proc) wait() {
	rest, _ := io.ReadAll(p.out)
	p.rest = string(rest)
	p.err = p.cmd.Wait()
	close(p.exited)
}

func (p *proc) dead() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// TestCFrontendGoBackend: blkfront.c (Xen's macros) produces requests, the Go
// BlkifBack consumes them, grant-copies the data and responds; both sides
// check every id, operation, status and byte.
func TestCFrontendGoBackend(t *testing.T) {
	front, _ := cprogs(t)
	for _, mode := range modes {
		for _, order := range mode.orders {
			t.Run(fmt.Sprintf("%s/order=%d", mode.name, order), func(t *testing.T) {
				dir := t.TempDir()
				g, err := grant.CreateDomain(dir, guestDom, guestPages, 2)
				if err != nil {
					t.Fatal(err)
				}
				defer g.Close()
				var cEnd, goEnd *evtchn.Channel
				if mode.evtchn {
					cEnd, goEnd = channel(t, dir)
				}
				n := nreq()
				p := start(t, cEnd, front, dir, fmt.Sprint(guestDom), fmt.Sprint(backendDom), fmt.Sprint(order), fmt.Sprint(n))
				var refs []grant.Ref
				for _, f := range p.line(t, "READY") {
					r, _ := strconv.Atoi(f)
					refs = append(refs, grant.Ref(r))
				}
				if len(refs) != 1<<order {
					t.Fatalf("%d ring refs for order %d", len(refs), order)
				}
				go p.wait()
				m := grant.NewMapper(backendDom, g)
				rm, err := m.MapRing(refs)
				if err != nil {
					t.Fatal(err)
				}
				back, err := ring.NewBlkifBack(rm.Mem)
				if err != nil {
					t.Fatal(err)
				}
				if back.Size() != 32<<order {
					t.Fatalf("ring size %d", back.Size())
				}
				serve(t, back, m, n, p, goEnd)
				if err := m.UnmapRing(rm); err != nil {
					t.Fatal(err)
				}
				<-p.exited
				if p.err != nil {
					t.Fatalf("blkfront: %v\n%s", p.err, p.stderr.String())
				}
				if m.Mapped() != 0 {
					t.Fatalf("%d mappings leaked", m.Mapped())
				}
				f := strings.Fields(p.rest)
				if len(f) != 4 || f[0] != "DONE" || f[1] != fmt.Sprint(n) {
					t.Fatalf("blkfront printed %q", p.rest)
				}
				t.Logf("C frontend: %s requests, %s notifications, %s waits", f[1], f[2], f[3])
			})
		}
	}
}

func serve(t *testing.T, back *ring.BlkifBack, m *grant.Mapper, n uint32, p *proc, ch *evtchn.Channel) {
	t.Helper()
	ops := make([]grant.CopyOp, ring.BlkifMaxSegmentsPerRequest)
	buf := make([]byte, ring.BlkifMaxSegmentsPerRequest*ring.PageSize)
	seen := make([]bool, n)
	var req ring.BlkifRequest
	deadline := time.Now().Add(2 * time.Minute)
	for done := uint32(0); done < n; {
		ok, err := back.NextRequest(&req)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			if back.PushResponses() && ch != nil {
				ch.Notify()
			}
			if more, err := back.FinalCheckForRequests(); err != nil {
				t.Fatal(err)
			} else if !more {
				if p.dead() {
					t.Fatalf("blkfront exited early: %v\n%s", p.err, p.stderr.String())
				}
				if time.Now().After(deadline) {
					t.Fatal("timed out")
				}
				if ch != nil {
					waitEvent(t, ch, func() bool { more, _ := back.Unconsumed(); return more > 0 })
				} else {
					runtime.Gosched()
				}
			}
			continue
		}
		i, ok := planIndex(req.ID)
		if !ok || i >= n || seen[i] {
			t.Fatalf("request id %#x not in the plan or repeated", req.ID)
		}
		seen[i] = true
		low := req.ID & (1<<56 - 1)
		if req.Operation != planOp(i) || int(req.NrSegments) != planNSeg(i) || req.Handle != 0x33 || req.SectorNumber != uint64(i)*88 {
			t.Fatalf("request %d = %+v differs from the plan", i, req)
		}
		status := int16(ring.BlkifRspOkay)
		if req.Operation == ring.BlkifOpWriteBarrier {
			status = ring.BlkifRspEOPNOTSUPP
		}
		nseg := int(req.NrSegments)
		for s := 0; s < nseg; s++ {
			sg := req.Seg[s]
			if int(sg.FirstSect) != planFirst(i, s) || sg.LastSect != 7 {
				t.Fatalf("request %d seg %d sectors %d..%d", i, s, sg.FirstSect, sg.LastSect)
			}
			off := int(sg.FirstSect) * ring.BlkifSectorSize
			ln := (int(sg.LastSect) + 1) * ring.BlkifSectorSize
			local := buf[s*ring.PageSize : (s+1)*ring.PageSize]
			gp := grant.CopyPtr{Ref: grant.Ref(sg.Gref), Offset: uint16(off)}
			lp := grant.CopyPtr{Local: local, Offset: uint16(off)}
			if req.Operation == ring.BlkifOpRead {
				for o := off; o < ln; o++ {
					local[o] = pattern(low, s, o)
				}
				ops[s] = grant.CopyOp{Src: lp, Dst: gp, Len: uint16(ln - off)}
			} else {
				ops[s] = grant.CopyOp{Src: gp, Dst: lp, Len: uint16(ln - off)}
			}
		}
		if failed := m.Copy(ops[:nseg]); failed != 0 {
			for s := 0; s < nseg; s++ {
				t.Errorf("request %d seg %d: %v", i, s, ops[s].Status)
			}
			t.FailNow()
		}
		if req.Operation == ring.BlkifOpWrite {
			for s := 0; s < nseg; s++ {
				for o := int(req.Seg[s].FirstSect) * 512; o < ring.PageSize; o++ {
					if buf[s*ring.PageSize+o] != pattern(low, s, o) {
						t.Fatalf("request %d seg %d: written data wrong at %d", i, s, o)
					}
				}
			}
		}
		if err := back.PutResponse(&ring.BlkifResponse{ID: req.ID, Operation: req.Operation, Status: status}); err != nil {
			t.Fatal(err)
		}
		done++
	}
	if back.PushResponses() && ch != nil {
		ch.Notify()
	}
}

// TestGoFrontendCBackend: the Go BlkifFront produces the plan, blkback.c
// (BACK_RING_INIT, RING_COPY_REQUEST, ...) serves it; the Go side revokes
// every grant after its response, which fails if the C side still held it.
func TestGoFrontendCBackend(t *testing.T) {
	_, backBin := cprogs(t)
	for _, mode := range modes {
		for _, order := range mode.orders {
			t.Run(fmt.Sprintf("%s/order=%d", mode.name, order), func(t *testing.T) {
				dir := t.TempDir()
				g, err := grant.CreateDomain(dir, guestDom, guestPages, 2)
				if err != nil {
					t.Fatal(err)
				}
				defer g.Close()
				npages := 1 << order
				mem, _ := g.Frames(0, npages)
				front, err := ring.NewBlkifFront(mem)
				if err != nil {
					t.Fatal(err)
				}
				n := nreq()
				args := []string{dir, fmt.Sprint(guestDom), fmt.Sprint(backendDom), fmt.Sprint(n)}
				for pg := 0; pg < npages; pg++ {
					r, err := g.GrantAccess(backendDom, uint32(pg), false)
					if err != nil {
						t.Fatal(err)
					}
					args = append(args, fmt.Sprint(r))
				}
				var goEnd, cEnd *evtchn.Channel
				if mode.evtchn {
					goEnd, cEnd = channel(t, dir)
				}
				p := start(t, cEnd, backBin, args...)
				go p.wait()
				var (
					inflight [maxInflight]uint32
					refs     [maxInflight][ring.BlkifMaxSegmentsPerRequest]grant.Ref
					free     []int
				)
				for k := maxInflight - 1; k >= 0; k-- {
					free = append(free, k)
				}
				sent, done := uint32(0), uint32(0)
				deadline := time.Now().Add(2 * time.Minute)
				for done < n {
					for sent < n && len(free) > 0 && front.Free() > 0 {
						i := sent
						sent++
						k := free[len(free)-1]
						free = free[:len(free)-1]
						inflight[k] = i
						req := ring.BlkifRequest{Operation: planOp(i), NrSegments: uint8(planNSeg(i)), Handle: 0x33,
							ID: uint64(k)<<56 | planID(i), SectorNumber: uint64(i) * 88}
						for s := 0; s < planNSeg(i); s++ {
							frame := uint32(dataFrame0 + k*ring.BlkifMaxSegmentsPerRequest + s)
							pg, _ := g.Page(frame)
							first := planFirst(i, s)
							if req.Operation == ring.BlkifOpWrite {
								for o := first * 512; o < ring.PageSize; o++ {
									pg[o] = pattern(planID(i), s, o)
								}
							} else {
								clear(pg)
							}
							r, err := g.GrantAccess(backendDom, frame, req.Operation == ring.BlkifOpWrite)
							if err != nil {
								t.Fatal(err)
							}
							refs[k][s] = r
							req.Seg[s] = ring.BlkifSegment{Gref: uint32(r), FirstSect: uint8(first), LastSect: 7}
						}
						if err := front.PutRequest(&req); err != nil {
							t.Fatal(err)
						}
					}
					if front.PushRequests() && goEnd != nil {
						goEnd.Notify()
					}
					var rsp ring.BlkifResponse
					ok, err := front.NextResponse(&rsp)
					if err != nil {
						t.Fatal(err)
					}
					if !ok {
						if more, _ := front.FinalCheckForResponses(); !more {
							if p.dead() {
								t.Fatalf("blkback exited early: %v\n%s", p.err, p.stderr.String())
							}
							if time.Now().After(deadline) {
								t.Fatal("timed out")
							}
							if goEnd != nil {
								goEnd.Wait(500 * time.Millisecond)
							} else {
								runtime.Gosched()
							}
						}
						continue
					}
					k := int(rsp.ID >> 56)
					if k >= maxInflight {
						t.Fatalf("response id %#x", rsp.ID)
					}
					i := inflight[k]
					want := int16(ring.BlkifRspOkay)
					if planOp(i) == ring.BlkifOpWriteBarrier {
						want = ring.BlkifRspEOPNOTSUPP
					}
					if rsp.ID&(1<<56-1) != planID(i) || rsp.Operation != planOp(i) || rsp.Status != want {
						t.Fatalf("request %d: response %+v", i, rsp)
					}
					for s := 0; s < planNSeg(i); s++ {
						if err := g.EndAccess(refs[k][s]); err != nil {
							t.Fatalf("request %d seg %d: %v", i, s, err)
						}
						if planOp(i) == ring.BlkifOpRead {
							pg, _ := g.Page(uint32(dataFrame0 + k*ring.BlkifMaxSegmentsPerRequest + s))
							first := planFirst(i, s)
							for o := 0; o < ring.PageSize; o++ {
								w := byte(0)
								if o >= first*512 {
									w = pattern(planID(i), s, o)
								}
								if pg[o] != w {
									t.Fatalf("request %d seg %d: read data wrong at %d", i, s, o)
								}
							}
						}
					}
					free = append(free, k)
					done++
				}
				<-p.exited
				if p.err != nil {
					t.Fatalf("blkback: %v\n%s", p.err, p.stderr.String())
				}
				f := strings.Fields(p.rest)
				if len(f) != 4 || f[0] != "DONE" || f[1] != fmt.Sprint(n) {
					t.Fatalf("blkback printed %q", p.rest)
				}
				t.Logf("C backend: %s requests, %s notifications, %s waits", f[1], f[2], f[3])
			})
		}
	}
}
