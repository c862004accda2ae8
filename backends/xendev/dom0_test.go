//go:build xenhost_dom0

// The tests and benchmarks in this file run in a real Xen dom0 only: build
// tag xenhost_dom0, run by tests/xenhost (make test-xen) on Xen 4.17 with
// a Linux PV dom0, where they must pass. A missing device fails them.
//
// The peers are dom0 itself: gntalloc grants pages to domain 0 and gntdev
// maps and copies them; one evtchn descriptor allocates a port for domain
// 0 and another binds to it.
package xendev_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xfeat/xfeat/backends/evtchn"
	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/xendev"
)

// self is dom0's domain id: the grants and ports of these tests go from
// dom0 to dom0.
const self grant.DomID = 0

// waitLimit bounds every wait for an event that must come.
const waitLimit = 10 * time.Second

// openEvtchn opens the event-channel device for t; it is closed when t
// ends (a test may close it earlier).
func openEvtchn(t testing.TB) *xendev.EvtchnDev {
	t.Helper()
	e, err := xendev.OpenEvtchn()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// loopback makes a channel from dom0 to itself: an unbound port of fe's
// for dom0, and be's interdomain end of it.
func loopback(t testing.TB, fe, be *xendev.EvtchnDev) (front, back *xendev.Channel) {
	t.Helper()
	front, err := fe.BindUnboundPort(self)
	if err != nil {
		t.Fatal(err)
	}
	back, err = be.BindInterdomain(self, front.Port())
	if err != nil {
		t.Fatal(err)
	}
	return front, back
}

func openGnt(t testing.TB) (*xendev.GntDev, *xendev.GntAlloc) {
	t.Helper()
	d, err := xendev.OpenGntDev()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	a, err := xendev.OpenGntAlloc()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return d, a
}

func share(t testing.TB, a *xendev.GntAlloc, pages int, writable bool) *xendev.Share {
	t.Helper()
	s, err := a.Share(self, pages, writable)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.Mem != nil {
			s.Unshare()
		}
	})
	return s
}

// fill writes a pattern particular to seed.
func fill(b []byte, seed byte) {
	for i := range b {
		b[i] = seed + byte(i*7)
	}
}

// mapsOf returns the lines of /proc/self/maps that map path.
func mapsOf(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasSuffix(l, " "+path) {
			out = append(out, l)
		}
	}
	return out
}

// gntdevMaps returns the bytes and permissions of this process's gntdev
// mappings.
func gntdevMaps(t testing.TB) (size uint64, perms []string) {
	t.Helper()
	for _, l := range mapsOf(t, xendev.GntDevPath) {
		f := strings.Fields(l)
		lo, hi, _ := strings.Cut(f[0], "-")
		a, _ := strconv.ParseUint(lo, 16, 64)
		b, _ := strconv.ParseUint(hi, 16, 64)
		size += b - a
		perms = append(perms, f[1])
	}
	return size, perms
}

// faults reports whether writing b[0] faults.
func faults(b []byte) (faulted bool) {
	done := make(chan bool)
	go func() {
		// A fault in a goroutine with SetPanicOnFault is a panic this
		// goroutine can recover from, not a crash.
		debug.SetPanicOnFault(true)
		defer func() { done <- recover() != nil }()
		b[0]++
	}()
	return <-done
}

// TestDom0MapBatch: pages dom0 granted itself through gntalloc, mapped as
// one batch through gntdev, are the same memory, in ref order, whatever
// the order; Unmap leaves no mapping; map and unmap with a reused Mapping
// allocate nothing.
func TestDom0MapBatch(t *testing.T) {
	d, a := openGnt(t)
	if before, _ := gntdevMaps(t); before != 0 {
		t.Fatalf("%d bytes of gntdev mappings before the test", before)
	}
	s := share(t, a, 4, true)
	for i := range 4 {
		fill(s.Mem[i*grant.PageSize:(i+1)*grant.PageSize], byte(i*50))
	}
	var m xendev.Mapping
	if err := d.Map(&m, self, s.Refs, true); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Mem, s.Mem) {
		t.Fatal("the mapped pages differ from the granted ones")
	}
	if size, perms := gntdevMaps(t); size != 4*grant.PageSize || len(perms) != 1 || perms[0] != "rw-s" {
		t.Fatalf("gntdev mappings after Map: %d bytes %v; want 4 pages rw-s", size, perms)
	}
	// Writes go both ways: the same frames.
	m.Mem[5000] = 0xA5
	s.Mem[3*grant.PageSize+17] = 0x5A
	if s.Mem[5000] != 0xA5 || m.Mem[3*grant.PageSize+17] != 0x5A {
		t.Fatal("a write through one mapping is not seen through the other")
	}
	if err := m.Unmap(); err != nil {
		t.Fatal(err)
	}
	if size, _ := gntdevMaps(t); size != 0 || m.Mapped() || m.Mem != nil {
		t.Fatalf("after Unmap: %d bytes mapped, Mapped %v", size, m.Mapped())
	}

	// The same Mapping again, refs reversed, read-only.
	rev := []grant.Ref{s.Refs[3], s.Refs[2], s.Refs[1], s.Refs[0]}
	if err := d.Map(&m, self, rev, false); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if !bytes.Equal(m.Mem[i*grant.PageSize:(i+1)*grant.PageSize], s.Mem[(3-i)*grant.PageSize:(4-i)*grant.PageSize]) {
			t.Fatalf("mapped page %d is not granted page %d", i, 3-i)
		}
	}
	if _, perms := gntdevMaps(t); len(perms) != 1 || perms[0] != "r--s" {
		t.Fatalf("read-only map shows %v, want r--s", perms)
	}
	if err := m.Unmap(); err != nil {
		t.Fatal(err)
	}

	allocs := testing.AllocsPerRun(50, func() {
		if err := d.Map(&m, self, s.Refs, true); err != nil {
			panic(err)
		}
		if err := m.Unmap(); err != nil {
			panic(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Map+Unmap of 4 refs with a reused Mapping: %v allocations, want 0", allocs)
	}
	if size, _ := gntdevMaps(t); size != 0 {
		t.Errorf("%d bytes of gntdev mappings left", size)
	}
	if err := m.Unmap(); err == nil {
		t.Error("a second Unmap succeeded")
	}
}

// TestDom0ReadOnlyGrant: a page granted read-only maps read-only (a write
// faults); a writable map of it fails cleanly, naming the device and the
// call, leaves no mapping and no reserved slot (the Mapping maps again).
func TestDom0ReadOnlyGrant(t *testing.T) {
	d, a := openGnt(t)
	s := share(t, a, 2, false)
	fill(s.Mem, 3)
	var m xendev.Mapping
	err := d.Map(&m, self, s.Refs, true)
	if err == nil {
		m.Unmap()
		t.Fatal("a read-only grant mapped writable")
	}
	t.Logf("writable map of a read-only grant: %v", err)
	var de *xendev.DeviceError
	if !errors.As(err, &de) || de.Device != xendev.GntDevPath || de.Op != "mmap" || !errors.Is(err, unix.EINVAL) {
		t.Errorf("error %#v: want a DeviceError of %s, mmap, EINVAL", err, xendev.GntDevPath)
	}
	if !strings.Contains(err.Error(), "writable") || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("error %q does not say what was refused", err)
	}
	if m.Mapped() {
		t.Fatal("the failed Map left the Mapping in use")
	}
	if size, _ := gntdevMaps(t); size != 0 {
		t.Fatalf("the failed Map left %d bytes mapped", size)
	}
	if err := d.Map(&m, self, s.Refs, false); err != nil {
		t.Fatal(err)
	}
	defer m.Unmap()
	if !bytes.Equal(m.Mem, s.Mem) {
		t.Fatal("read-only mapping differs from the granted pages")
	}
	if !faults(m.Mem) {
		t.Fatal("writing a read-only grant's mapping did not fault")
	}
	if !bytes.Equal(m.Mem, s.Mem) {
		t.Fatal("the page changed")
	}
	if faults(s.Mem) {
		t.Fatal("the granting side cannot write its own page")
	}
}

// TestDom0MapBadRef: a ref that grants nothing (never allocated, or ended)
// fails the map with an error, not a crash, and leaves nothing mapped.
func TestDom0MapBadRef(t *testing.T) {
	d, a := openGnt(t)
	// gntalloc hands a freed ref out again at once: end one after
	// allocating the good one.
	good := share(t, a, 1, true)
	s := share(t, a, 1, true)
	ended := s.Refs[0]
	if err := s.Unshare(); err != nil {
		t.Fatal(err)
	}
	var m xendev.Mapping
	for _, refs := range [][]grant.Ref{{ended}, {good.Refs[0], ended}, {1 << 30}} {
		err := d.Map(&m, self, refs, false)
		if err == nil {
			m.Unmap()
			t.Errorf("refs %v mapped", refs)
			continue
		}
		t.Logf("refs %v: %v", refs, err)
		if !strings.HasPrefix(err.Error(), xendev.GntDevPath+": ") {
			t.Errorf("error %q does not name the device", err)
		}
	}
	if size, _ := gntdevMaps(t); size != 0 || m.Mapped() {
		t.Fatalf("failed maps left %d bytes mapped", size)
	}
	// Another domain's grants: domain 0x7ff0 (DOMID_SELF) is no domain
	// gntdev can map from.
	if err := d.Map(&m, 0x7ff0, good.Refs, false); err == nil {
		m.Unmap()
		t.Error("a ref of domain DOMID_SELF mapped")
	}
}

// TestDom0GrantCopy: one batch copies to and from granted pages at
// offsets, gref to gref, and reads a read-only grant; the ops Xen refuses
// (an ended ref, an out-of-range ref, writing a read-only grant) and the
// op Copy refuses (crossing a page) fail alone, each with its status; a
// long batch spans several ioctls; a reused Copy allocates nothing.
func TestDom0GrantCopy(t *testing.T) {
	d, a := openGnt(t)
	w := share(t, a, 2, true)
	r := share(t, a, 1, false)
	fill(w.Mem, 11)
	fill(r.Mem, 99)
	gone := share(t, a, 1, true)
	ended := gone.Refs[0]
	if err := gone.Unshare(); err != nil {
		t.Fatal(err)
	}
	src := make([]byte, 300)
	fill(src, 200)
	in := make([]byte, grant.PageSize)
	rin := make([]byte, 64)
	junk := make([]byte, grant.PageSize)
	wantW1 := append([]byte(nil), w.Mem[grant.PageSize:]...)
	copy(wantW1[2048:2148], w.Mem[0:100])

	c := d.NewCopier(self, 0)
	ops := []grant.CopyOp{
		{Src: grant.CopyPtr{Local: src}, Dst: grant.CopyPtr{Ref: w.Refs[0], Offset: 3000}, Len: 300},     // 0 local -> gref
		{Src: grant.CopyPtr{Ref: w.Refs[1]}, Dst: grant.CopyPtr{Local: in}, Len: grant.PageSize},         // 1 gref -> local
		{Src: grant.CopyPtr{Ref: ended}, Dst: grant.CopyPtr{Local: junk}, Len: 8},                        // 2 ended ref
		{Src: grant.CopyPtr{Local: src}, Dst: grant.CopyPtr{Ref: r.Refs[0]}, Len: 8},                     // 3 write a read-only grant
		{Src: grant.CopyPtr{Ref: r.Refs[0], Offset: 64}, Dst: grant.CopyPtr{Local: rin}, Len: 64},        // 4 read a read-only grant
		{Src: grant.CopyPtr{Ref: w.Refs[0]}, Dst: grant.CopyPtr{Ref: w.Refs[1], Offset: 2048}, Len: 100}, // 5 gref -> gref
		{Src: grant.CopyPtr{Ref: w.Refs[0], Offset: 4000}, Dst: grant.CopyPtr{Local: junk}, Len: 200},    // 6 crosses the page
		{Src: grant.CopyPtr{Ref: 1 << 30}, Dst: grant.CopyPtr{Local: junk}, Len: 8},                      // 7 out of range
	}
	failed, err := c.CopyOps(ops)
	if err != nil {
		t.Fatal(err)
	}
	for i, op := range ops {
		t.Logf("op %d: %v", i, op.Status)
	}
	if failed != 4 {
		t.Errorf("failed %d, want 4", failed)
	}
	for _, i := range []int{0, 1, 4, 5} {
		if ops[i].Status != grant.StatusOkay {
			t.Errorf("op %d: %v, want okay", i, ops[i].Status)
		}
	}
	for _, i := range []int{2, 3, 7} {
		if ops[i].Status == grant.StatusOkay || ops[i].Status == grant.StatusBadCopyArg {
			t.Errorf("op %d: %v, want Xen's refusal", i, ops[i].Status)
		}
	}
	if ops[6].Status != grant.StatusBadCopyArg {
		t.Errorf("op 6: %v, want StatusBadCopyArg", ops[6].Status)
	}
	if !bytes.Equal(w.Mem[3000:3300], src) {
		t.Error("op 0: the granted page does not hold the local data")
	}
	if !bytes.Equal(in, wantW1) {
		t.Error("op 1: the local buffer does not hold the granted page as it was before op 5")
	}
	if !bytes.Equal(rin, r.Mem[64:128]) {
		t.Error("op 4: the read-only grant was not read")
	}
	if bytes.Equal(r.Mem[:8], src[:8]) {
		t.Error("op 3 wrote a read-only grant")
	}
	if !bytes.Equal(w.Mem[grant.PageSize+2048:grant.PageSize+2148], w.Mem[0:100]) {
		t.Error("op 5: gref to gref copy missing")
	}

	// A long batch: 200 single-byte reads of page w1, several ioctls.
	long := make([]grant.CopyOp, 200)
	dst := make([]byte, len(long))
	for i := range long {
		long[i] = grant.CopyOp{Src: grant.CopyPtr{Ref: w.Refs[1], Offset: uint16(i * 20)}, Dst: grant.CopyPtr{Local: dst, Offset: uint16(i)}, Len: 1}
	}
	if n := c.Copy(long); n != 0 {
		t.Fatalf("long batch: %d failed", n)
	}
	for i := range long {
		if dst[i] != w.Mem[grant.PageSize+i*20] {
			t.Fatalf("long batch: byte %d wrong", i)
		}
	}

	hot := make([]grant.CopyOp, 16)
	bufs := make([]byte, 16*512)
	allocs := testing.AllocsPerRun(50, func() {
		for i := range hot {
			hot[i] = grant.CopyOp{Src: grant.CopyPtr{Ref: w.Refs[i%2], Offset: uint16(i * 128)}, Dst: grant.CopyPtr{Local: bufs, Offset: uint16(i * 512)}, Len: 512}
		}
		if n := c.Copy(hot); n != 0 {
			panic(fmt.Sprintf("%d failed", n))
		}
	})
	if allocs != 0 {
		t.Errorf("Copy of 16 ops: %v allocations, want 0", allocs)
	}
}

// TestDom0SetMaxGrants: IOCTL_GNTDEV_SET_MAX_GRANTS is accepted, or (on
// kernels without it) reported as no limit, not as an error.
func TestDom0SetMaxGrants(t *testing.T) {
	d, err := xendev.OpenGntDev()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	limited, err := d.SetMaxGrants(128)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SET_MAX_GRANTS applied: %v (kernel %s)", limited, kernelRelease(t))
}

func kernelRelease(t testing.TB) string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	return unix.ByteSliceToString(u.Release[:])
}

// boundIRQs counts this process's event channels as the kernel lists them
// in /proc/interrupts (one line per bound port, named evtchn:<comm>).
func boundIRQs(t testing.TB) int {
	t.Helper()
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/interrupts")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), " evtchn:"+strings.TrimSpace(string(comm))+"\n")
}

var xenPortLine = regexp.MustCompile(`^\(XEN\)\s+(\d+) \[[^]]*\]: s=(\d+)`)

// xenPorts asks Xen for its event channel table (debug key 'e') and
// returns dom0's open ports with their state (Xen's ECS_*: 2 unbound, 3
// interdomain). Each call runs xl three times: seconds under emulation.
func xenPorts(t testing.TB) map[evtchn.Port]int {
	t.Helper()
	if out, err := exec.Command("xl", "dmesg", "-c").CombinedOutput(); err != nil {
		t.Fatalf("xl dmesg -c: %v\n%s", err, out)
	}
	if out, err := exec.Command("xl", "debug-keys", "e").CombinedOutput(); err != nil {
		t.Fatalf("xl debug-keys e: %v\n%s", err, out)
	}
	out, err := exec.Command("xl", "dmesg").Output()
	if err != nil {
		t.Fatalf("xl dmesg: %v", err)
	}
	ports := map[evtchn.Port]int{}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, "Event channel information for domain") {
			in = strings.Contains(l, "domain 0:")
			if in {
				clear(ports)
			}
			continue
		}
		if m := xenPortLine.FindStringSubmatch(l); in && m != nil {
			p, _ := strconv.Atoi(m[1])
			s, _ := strconv.Atoi(m[2])
			ports[evtchn.Port(p)] = s
		}
	}
	if len(ports) == 0 {
		t.Fatalf("no dom0 event channels in Xen's 'e' dump:\n%s", out)
	}
	return ports
}

// waitN waits for an event on c and fails t unless one comes in time.
func waitN(t testing.TB, c *xendev.Channel, what string) uint32 {
	t.Helper()
	n, err := c.Wait(waitLimit)
	if err != nil || n == 0 {
		t.Fatalf("%s: port %d: %d events, %v", what, c.Port(), n, err)
	}
	return n
}

// TestDom0EvtchnLoopback: a port allocated unbound for domain 0 on one
// descriptor and bound interdomain from another carry events both ways,
// again and again (so the reader unmasks each port it delivers); Wait
// times out, is interrupted by Kick, a context or Close; a burst of
// notifications is counted, not lost; Reset keeps the channel working;
// closing leaves no port bound, in the kernel and in Xen.
func TestDom0EvtchnLoopback(t *testing.T) {
	baseIRQs := boundIRQs(t)
	fe := openEvtchn(t)
	be := openEvtchn(t)

	front, back := loopback(t, fe, be)
	t.Logf("frontend port %d, backend port %d", front.Port(), back.Port())
	if got := boundIRQs(t); got != baseIRQs+2 {
		t.Errorf("%d event channel interrupts bound, want %d", got, baseIRQs+2)
	}
	xp := xenPorts(t)
	if xp[front.Port()] != 3 || xp[back.Port()] != 3 {
		t.Errorf("Xen: port %d state %d, port %d state %d; want both interdomain (3)", front.Port(), xp[front.Port()], back.Port(), xp[back.Port()])
	}

	// Xen raises the new port at bind (a notification sent before the
	// bind is not lost).
	waitN(t, back, "event raised by the bind")
	if n, err := back.Wait(100 * time.Millisecond); !errors.Is(err, evtchn.ErrTimeout) {
		t.Fatalf("idle backend port: %d, %v; want ErrTimeout", n, err)
	}
	if n, err := front.Wait(100 * time.Millisecond); !errors.Is(err, evtchn.ErrTimeout) {
		t.Fatalf("idle frontend port: %d, %v; want ErrTimeout", n, err)
	}

	for i := range 100 {
		if err := back.Notify(); err != nil {
			t.Fatal(err)
		}
		waitN(t, front, fmt.Sprintf("round %d backend->frontend", i))
		if err := front.Notify(); err != nil {
			t.Fatal(err)
		}
		waitN(t, back, fmt.Sprintf("round %d frontend->backend", i))
	}

	// A burst while nobody waits: at least one event, at most as many
	// as were sent.
	for range 20 {
		if err := back.Notify(); err != nil {
			t.Fatal(err)
		}
	}
	got := waitN(t, front, "burst")
	for {
		n, err := front.Wait(200 * time.Millisecond)
		if errors.Is(err, evtchn.ErrTimeout) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	if got < 1 || got > 20 {
		t.Errorf("a burst of 20 notifications gave %d events", got)
	}
	t.Logf("a burst of 20 notifications: %d events", got)

	front.Kick()
	if n, err := front.Wait(0); n != 1 || err != nil {
		t.Errorf("after Kick: %d, %v", n, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if _, err := front.WaitContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitContext past its deadline: %v", err)
	}
	cancel()

	if err := fe.Reset(); err != nil {
		t.Fatal(err)
	}
	front.Poll() // Reset's wake-up
	if err := back.Notify(); err != nil {
		t.Fatal(err)
	}
	waitN(t, front, "after Reset")

	// Close wakes a parked waiter.
	res := make(chan error, 1)
	go func() { _, err := front.Wait(0); res <- err }()
	time.Sleep(50 * time.Millisecond)
	if err := front.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-res:
		if !errors.Is(err, evtchn.ErrClosed) {
			t.Errorf("waiter woken by Close: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Close did not wake the waiter")
	}
	if err := front.Notify(); !errors.Is(err, evtchn.ErrClosed) {
		t.Errorf("Notify on a closed channel: %v", err)
	}
	if err := front.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// The peer's port went back to unbound: its events are dropped.
	if err := back.Notify(); err != nil {
		t.Errorf("Notify with the peer gone: %v", err)
	}
	if xp := xenPorts(t); xp[back.Port()] != 2 {
		t.Errorf("Xen: port %d state %d after the peer closed, want unbound (2)", back.Port(), xp[back.Port()])
	}

	// Closing the device wakes its waiters and unbinds everything.
	go func() { _, err := back.Wait(0); res <- err }()
	time.Sleep(50 * time.Millisecond)
	if err := be.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-res:
		if !errors.Is(err, evtchn.ErrClosed) {
			t.Errorf("waiter woken by the device's Close: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("the device's Close did not wake the waiter")
	}
	if err := fe.Close(); err != nil {
		t.Fatal(err)
	}
	if got := boundIRQs(t); got != baseIRQs {
		t.Errorf("%d event channel interrupts bound after Close, want %d", got, baseIRQs)
	}
	xp = xenPorts(t)
	for _, p := range []evtchn.Port{front.Port(), back.Port()} {
		if s, open := xp[p]; open && (s == 2 || s == 3) {
			t.Errorf("Xen: port %d still open (state %d) after Close", p, s)
		}
	}
	if err := back.Notify(); !errors.Is(err, evtchn.ErrClosed) {
		t.Errorf("Notify after the device's Close: %v", err)
	}
}

// TestDom0EvtchnOneDescriptor: both ends on one descriptor (its reader
// serves both), and many channels at once each get their own events.
func TestDom0EvtchnOneDescriptor(t *testing.T) {
	e := openEvtchn(t)
	const pairs = 8
	var ends [pairs][2]*xendev.Channel
	for i := range ends {
		a, b := loopback(t, e, e)
		waitN(t, b, "bind")
		ends[i] = [2]*xendev.Channel{a, b}
	}
	if got := len(e.Bound()); got != 2*pairs {
		t.Fatalf("%d ports bound, want %d", got, 2*pairs)
	}
	// Notify pair i's far end; only pair i's near end hears it.
	for i := range ends {
		if err := ends[i][1].Notify(); err != nil {
			t.Fatal(err)
		}
		waitN(t, ends[i][0], fmt.Sprintf("pair %d", i))
		for j := range ends {
			if n := ends[j][0].Poll() + ends[j][1].Poll(); n != 0 {
				t.Errorf("pair %d: %d events meant for pair %d", j, n, i)
			}
		}
	}
	for i := range ends {
		for _, c := range ends[i] {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := len(e.Bound()); got != 0 {
		t.Errorf("%d ports bound after closing them all", got)
	}
}

// TestDom0EvtchnErrors: binding to a port that is not waiting for this
// domain, or of a domain that does not exist, fails with an error naming
// the device and the call; the device keeps working.
func TestDom0EvtchnErrors(t *testing.T) {
	e := openEvtchn(t)
	a, b := loopback(t, e, e)
	for _, c := range []struct {
		dom  grant.DomID
		port evtchn.Port
		why  string
	}{
		{self, b.Port(), "an interdomain port"},
		{self, a.Port(), "a port already bound"},
		{self, 1 << 20, "a port out of range"},
		{31000, 1, "a domain that does not exist"},
	} {
		_, err := e.BindInterdomain(c.dom, c.port)
		if err == nil {
			t.Errorf("bound to %s", c.why)
			continue
		}
		t.Logf("%s: %v", c.why, err)
		if !strings.HasPrefix(err.Error(), xendev.EvtchnPath+": IOCTL_EVTCHN_BIND_INTERDOMAIN (") {
			t.Errorf("%s: %q does not name the device and call", c.why, err)
		}
	}
	if _, err := e.BindUnboundPort(31000); err == nil {
		t.Log("Xen allocates an unbound port for a domain that does not exist (it checks at bind)")
	}
	if err := a.Notify(); err != nil {
		t.Fatal(err)
	}
	waitN(t, b, "after the errors")
}

// TestDom0EvtchnNoAllocs: Notify and a Notify-Wait round trip allocate
// nothing.
func TestDom0EvtchnNoAllocs(t *testing.T) {
	e := openEvtchn(t)
	a, b := loopback(t, e, e)
	waitN(t, b, "bind")
	allocs := testing.AllocsPerRun(100, func() {
		if err := b.Notify(); err != nil {
			panic(err)
		}
		if n, err := a.Wait(waitLimit); err != nil || n == 0 {
			panic(fmt.Sprint(n, err))
		}
	})
	if allocs != 0 {
		t.Errorf("Notify+Wait: %v allocations, want 0", allocs)
	}
}

// BenchmarkDom0MapUnmap: map a batch of granted pages writable and unmap
// it, with a reused Mapping.
func BenchmarkDom0MapUnmap(b *testing.B) {
	for _, pages := range []int{1, 8} {
		b.Run(fmt.Sprintf("pages=%d", pages), func(b *testing.B) {
			d, a := openGnt(b)
			s := share(b, a, pages, true)
			var m xendev.Mapping
			b.ReportAllocs()
			for b.Loop() {
				if err := d.Map(&m, self, s.Refs, true); err != nil {
					b.Fatal(err)
				}
				if err := m.Unmap(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDom0GrantCopy: one Copy of 16 full pages from granted pages to
// a local buffer (netback's and blkback's pattern), and of 16 small
// segments.
func BenchmarkDom0GrantCopy(b *testing.B) {
	for _, seg := range []int{grant.PageSize, 256} {
		b.Run(fmt.Sprintf("16x%d", seg), func(b *testing.B) {
			d, a := openGnt(b)
			s := share(b, a, 16, true)
			c := d.NewCopier(self, 1)
			buf := make([]byte, 16*seg)
			ops := make([]grant.CopyOp, 16)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				for i := range ops {
					ops[i] = grant.CopyOp{Src: grant.CopyPtr{Ref: s.Refs[i]}, Dst: grant.CopyPtr{Local: buf, Offset: uint16(i * seg)}, Len: uint16(seg)}
				}
				if n := c.Copy(ops); n != 0 {
					b.Fatalf("%d failed: %v", n, ops[0].Status)
				}
			}
		})
	}
}

// BenchmarkDom0EvtchnRoundTrip: notify the other end, wait for its
// answer (two event deliveries, two unmasks per op).
func BenchmarkDom0EvtchnRoundTrip(b *testing.B) {
	fe := openEvtchn(b)
	be := openEvtchn(b)
	front, back := loopback(b, fe, be)
	waitN(b, back, "bind")
	stop := make(chan struct{})
	defer close(stop)
	go func() { // the backend answers each notification
		for {
			if _, err := back.Wait(0); err != nil {
				return
			}
			select {
			case <-stop:
				return
			default:
			}
			back.Notify()
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		if err := front.Notify(); err != nil {
			b.Fatal(err)
		}
		if _, err := front.Wait(waitLimit); err != nil {
			b.Fatal(err)
		}
	}
	back.Kick()
}

// BenchmarkDom0PipeRoundTrip is the reference for the one above on the
// same machine: the same two goroutines and the same wake-ups through Go's
// poller, over two pipes instead of an event channel. What the event
// channel costs is the difference.
func BenchmarkDom0PipeRoundTrip(b *testing.B) {
	ar, aw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer ar.Close()
	defer aw.Close()
	br, bw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	defer bw.Close()
	go func() { // the other end answers each byte
		buf := make([]byte, 1)
		for {
			if _, err := ar.Read(buf); err != nil {
				return
			}
			if _, err := bw.Write(buf); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := aw.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := br.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}
