package evtchn

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

const (
	dom0 DomID = 0
	domU DomID = 3
)

func setup(t testing.TB, max int) (string, *Host) {
	t.Helper()
	dir := t.TempDir()
	h := NewHost(dir)
	for _, d := range []DomID{dom0, domU} {
		if err := h.CreateDomain(d, max); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { h.Close() })
	return dir, h
}

// bind makes a channel the usual way: the frontend domain allocates an
// unbound port for the backend, which binds to it.
func bind(t testing.TB, fe, be *Host) (feCh, beCh *Channel) {
	t.Helper()
	fp, err := fe.AllocUnbound(domU, dom0)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := be.BindInterdomain(dom0, domU, fp)
	if err != nil {
		t.Fatal(err)
	}
	if feCh, err = fe.Channel(domU, fp); err != nil {
		t.Fatal(err)
	}
	if beCh, err = be.Channel(dom0, bp); err != nil {
		t.Fatal(err)
	}
	beCh.Poll() // the event Xen raises on bind
	return
}

func TestNotifyWaitBatch(t *testing.T) {
	dir, fe := setup(t, 8)
	be := NewHost(dir) // a second mapping, as another process would have
	defer be.Close()
	f, b := bind(t, fe, be)
	if d, p, ok := b.Remote(); !ok || d != domU || p != f.Port() {
		t.Fatal(d, p, ok)
	}
	if d, p, ok := f.Remote(); !ok || d != dom0 || p != b.Port() {
		t.Fatal(d, p, ok)
	}
	if n := b.Poll(); n != 0 {
		t.Fatalf("pending %d before any notify", n)
	}
	for i := 0; i < 10; i++ {
		if err := f.Notify(); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.Wait(time.Second); n != 10 || err != nil {
		t.Fatalf("Wait = %d, %v; want the 10 notifications as one batch", n, err)
	}
	if n := f.Poll(); n != 0 {
		t.Fatal("notify raised the sender's own port")
	}
	// Kick interrupts one's own wait (in this process: the Go scheduler).
	// The Wait may sleep for ever: only the wake-up can end it in time.
	done := make(chan uint32, 1)
	go func() {
		n, _ := b.Wait(0)
		done <- n
	}()
	waitParked(t, b)
	b.Kick()
	select {
	case n := <-done:
		if n != 1 {
			t.Fatal(n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Kick did not wake the waiter")
	}
	// A sleeping waiter is woken by its peer (through the other mapping:
	// the futex and the relay).
	go func() {
		n, _ := f.Wait(0)
		done <- n
	}()
	waitParked(t, f)
	b.Notify()
	select {
	case n := <-done:
		if n != 1 {
			t.Fatal(n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken")
	}
	if sent, woke := b.Notifications(); sent != 1 || woke != 1 {
		t.Fatalf("stats %d %d", sent, woke)
	}
	// Last: a Wait that times out leaves the waiter bit set.
	if _, err := b.Wait(20 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("empty wait: %v", err)
	}
}

// waitParked waits (at most 10 s) until a Wait on c is in progress and has
// set c's waiter bit. From then on only a wake-up makes that Wait return,
// so a test that notifies after this tests the wake-up, not the look at the
// pending count Wait takes before it sleeps. c must not carry the bit of an
// earlier Wait that timed out (which leaves it set).
func waitParked(t testing.TB, c *Channel) {
	t.Helper()
	parked := func() bool {
		v, ok := c.d.waiters.Load(c.port)
		return ok && v.(*waiter).active.Load() && c.local.pending().Load()&waiterBit != 0
	}
	for deadline := time.Now().Add(10 * time.Second); !parked(); time.Sleep(50 * time.Microsecond) {
		if time.Now().After(deadline) {
			t.Fatal("the waiter did not go to sleep within 10 s")
		}
	}
}

func TestMaxEventChannels(t *testing.T) {
	_, h := setup(t, 4)
	if m, _ := h.MaxChannels(domU); m != 4 {
		t.Fatal(m)
	}
	var ports []Port
	for i := 0; i < 4; i++ {
		p, err := h.AllocUnbound(domU, dom0)
		if err != nil {
			t.Fatalf("port %d: %v", i, err)
		}
		if p == 0 {
			t.Fatal("port 0 handed out")
		}
		ports = append(ports, p)
	}
	if _, err := h.AllocUnbound(domU, dom0); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("fifth channel: %v", err)
	}
	// Binding needs a port on the binding side too: fill dom0.
	for i := 0; i < 4; i++ {
		if _, err := h.BindInterdomain(dom0, domU, ports[i]); err != nil {
			t.Fatal(err)
		}
	}
	p, err := h.AllocUnbound(domU, 9) // domU is full
	if !errors.Is(err, ErrNoSpace) {
		t.Fatal(p, err)
	}
	if err := h.CloseChannel(domU, ports[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := h.AllocUnbound(domU, dom0); err != nil {
		t.Fatalf("port not reusable after close: %v", err)
	}
	if err := h.CreateDomain(7, 0); err == nil {
		t.Fatal("max_event_channels 0 accepted")
	}
	if err := h.CreateDomain(domU, 4); err == nil {
		t.Fatal("domain created twice")
	}
}

func TestBindRules(t *testing.T) {
	_, h := setup(t, 8)
	if err := h.CreateDomain(9, 8); err != nil {
		t.Fatal(err)
	}
	p, _ := h.AllocUnbound(domU, 9) // for domain 9, not dom0
	cases := []struct {
		name string
		port Port
	}{
		{"allocated for another domain", p},
		{"port 0", 0},
		{"free port", p + 1},
		{"past max", 100},
	}
	for _, c := range cases {
		if _, err := h.BindInterdomain(dom0, domU, c.port); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if _, err := h.BindInterdomain(dom0, 42, 1); !errors.Is(err, ErrNoDomain) {
		t.Errorf("missing domain: %v", err)
	}
	if _, err := h.BindInterdomain(9, domU, p); err != nil {
		t.Fatal(err)
	}
	if _, err := h.BindInterdomain(9, domU, p); !errors.Is(err, ErrInvalid) {
		t.Fatal("bound one port twice")
	}
	if _, err := h.Channel(domU, p+1); !errors.Is(err, ErrInvalid) {
		t.Fatal("channel on a free port")
	}
	if err := h.CloseChannel(domU, p+1); !errors.Is(err, ErrInvalid) {
		t.Fatal("closed a free port")
	}
}

func TestCloseWakesAndUnbinds(t *testing.T) {
	_, h := setup(t, 8)
	f, b := bind(t, h, h)
	errc := make(chan error, 1)
	go func() {
		_, err := b.Wait(0)
		errc <- err
	}()
	waitParked(t, b)
	if err := h.CloseChannel(dom0, b.Port()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("close did not wake the waiter")
	}
	if err := b.Notify(); !errors.Is(err, ErrClosed) {
		t.Fatalf("notify on a closed port: %v", err)
	}
	// The frontend's port is unbound again; its notifications are dropped,
	// and dom0 may bind it afresh.
	if _, _, ok := f.Remote(); ok {
		t.Fatal("peer still bound")
	}
	if err := f.Notify(); err != nil {
		t.Fatal(err)
	}
	bp, err := h.BindInterdomain(dom0, domU, f.Port())
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := h.Channel(dom0, bp)
	b2.Poll()
	f.Notify()
	if n := b2.Poll(); n != 1 {
		t.Fatalf("rebound channel got %d events", n)
	}
}

// TestConcurrentPingPong bounces events between two goroutines; each side
// counts exactly what it was sent. Through one Host the events go through
// the Go scheduler; through two mappings (as between processes) through
// the futex and the relays, whose lost wake-ups this finds.
func TestConcurrentPingPong(t *testing.T) {
	t.Run("one-host", func(t *testing.T) {
		_, h := setup(t, 8)
		f, b := bind(t, h, h)
		pingPong(t, f, b)
	})
	t.Run("two-mappings", func(t *testing.T) {
		dir, fe := setup(t, 8)
		be := NewHost(dir)
		defer be.Close()
		f, b := bind(t, fe, be)
		pingPong(t, f, b)
	})
}

func pingPong(t *testing.T, f, b *Channel) {
	const rounds = 2000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < rounds; i++ {
			if _, err := b.Wait(10 * time.Second); err != nil {
				t.Error(err)
				return
			}
			b.Notify()
		}
	}()
	for i := 0; i < rounds; i++ {
		f.Notify()
		if n, err := f.Wait(10 * time.Second); err != nil || n != 1 {
			t.Fatalf("round %d: %d %v", i, n, err)
		}
	}
	wg.Wait()
}

const helperEnv = "XFEAT_EVTCHN_HELPER"

// TestMain lets the test binary act as the frontend process of
// TestCrossProcess.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helper())
	}
	os.Exit(m.Run())
}

// helper binds dom0's port from the parent and answers every event with one.
func helper() int {
	dir := os.Getenv(helperEnv)
	port, _ := strconv.Atoi(os.Getenv(helperEnv + "_PORT"))
	rounds, _ := strconv.Atoi(os.Getenv(helperEnv + "_ROUNDS"))
	h := NewHost(dir)
	lp, err := h.BindInterdomain(domU, dom0, Port(port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, _ := h.Channel(domU, lp)
	c.Poll()
	c.Notify() // "connected"
	total := uint32(0)
	for i := 0; i < rounds; i++ {
		n, err := c.Wait(10 * time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper wait:", err)
			return 1
		}
		total += n
		c.Notify()
	}
	if total != uint32(rounds) {
		fmt.Fprintf(os.Stderr, "helper got %d events for %d rounds\n", total, rounds)
		return 1
	}
	if err := h.CloseChannel(domU, lp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestCrossProcess runs the peer in another process (this test binary
// re-executed): events must cross the process boundary both ways, and the
// peer's close must be visible here.
func TestCrossProcess(t *testing.T) {
	dir := t.TempDir()
	h := NewHost(dir)
	defer h.Close()
	h.CreateDomain(dom0, 16)
	h.CreateDomain(domU, 16)
	p, err := h.AllocUnbound(dom0, domU)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := h.Channel(dom0, p)
	const rounds = 500
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir, fmt.Sprintf("%s_PORT=%d", helperEnv, p), fmt.Sprintf("%s_ROUNDS=%d", helperEnv, rounds))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(10 * time.Second); err != nil {
		cmd.Process.Kill()
		t.Fatal("helper never connected:", err)
	}
	if _, _, ok := c.Remote(); !ok {
		t.Fatal("not bound after the helper's bind")
	}
	for i := 0; i < rounds; i++ {
		c.Notify()
		if n, err := c.Wait(10 * time.Second); err != nil || n != 1 {
			cmd.Process.Kill()
			t.Fatalf("round %d: %d %v", i, n, err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal("helper:", err)
	}
	if _, _, ok := c.Remote(); ok {
		t.Fatal("helper's close not seen")
	}
	if _, woke := c.Notifications(); woke == 0 {
		t.Log("no notification needed a futex wake (the helper never slept)")
	}
}

func TestNotifyAllocs(t *testing.T) {
	_, h := setup(t, 8)
	f, b := bind(t, h, h)
	if a := testing.AllocsPerRun(1000, func() {
		f.Notify()
		b.Poll()
		b.Notify()
		f.Wait(0)
	}); a != 0 {
		t.Fatalf("notify/wait allocates %v", a)
	}
}

// TestDomainRecreated: a domain removed and created again by another Host
// (another process) is not served from a stale mapping.
func TestDomainRecreated(t *testing.T) {
	dir, h := setup(t, 8)
	p, _ := h.AllocUnbound(domU, dom0)
	other := NewHost(dir)
	defer other.Close()
	if err := other.RemoveDomain(domU); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Channel(domU, p); !errors.Is(err, ErrNoDomain) {
		t.Fatalf("removed domain still served: %v", err)
	}
	if err := other.CreateDomain(domU, 2); err != nil {
		t.Fatal(err)
	}
	if m, _ := h.MaxChannels(domU); m != 2 {
		t.Fatalf("stale mapping: max %d", m)
	}
}

// TestInProcessWait: a Notify through the Host the waiter uses wakes it
// through the Go scheduler (the relay never sees a FUTEX_WAKE); through
// another mapping (another process, a C program) it goes through the futex
// and the relay. Closing the port ends the relay, and so does closing the
// Host.
func TestInProcessWait(t *testing.T) {
	dir, h := setup(t, 8)
	f, b := bind(t, h, h)
	other := NewHost(dir)
	defer other.Close()
	fo, err := other.Channel(domU, f.Port())
	if err != nil {
		t.Fatal(err)
	}
	waitOnce := func(notify func() error) {
		t.Helper()
		// The Wait may sleep for ever: only the wake-up can end it in time.
		got := make(chan error, 1)
		go func() {
			_, err := b.Wait(0)
			got <- err
		}()
		waitParked(t, b)
		if err := notify(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("waiter not woken")
		}
	}
	for i := 0; i < 20; i++ {
		waitOnce(f.Notify)
	}
	w := b.w
	if w == nil || w.relayed.Load() != 0 {
		t.Fatalf("in-process notifies went through the futex (waiter %v)", w)
	}
	if _, woke := f.Notifications(); woke != 20 {
		t.Fatalf("woke %d of 20 parked waits", woke)
	}
	waitOnce(fo.Notify)
	if w.relayed.Load() == 0 {
		t.Fatal("a notify through another mapping was not relayed")
	}
	if b.w != w {
		t.Fatal("a second Wait started a second relay")
	}
	if err := h.CloseChannel(dom0, b.Port()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
		t.Fatal("relay still running after the port was closed")
	}
	if _, err := b.Wait(time.Second); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}

	// Host.Close ends the relays of ports still open.
	f2, b2 := bind(t, h, h)
	go f2.Notify()
	if _, err := b2.Wait(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := b2.Wait(10 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatal(err)
	}
	w2 := b2.w
	if w2.ended() {
		t.Fatal("relay ended with its port open")
	}
	h.Close()
	if !w2.ended() {
		t.Fatal("Host.Close returned with a relay running")
	}
}

// BenchmarkPingPong is one event each way between two goroutines that
// sleep between events: through one Host (the Go scheduler wakes the
// waiter) and through two mappings of the files (FUTEX_WAKE and the
// relay, what a peer in another process costs).
func BenchmarkPingPong(b *testing.B) {
	for _, mode := range []string{"one-host", "two-mappings"} {
		b.Run(mode, func(b *testing.B) {
			dir, fe := setup(b, 8)
			be := fe
			if mode == "two-mappings" {
				be = NewHost(dir)
				defer be.Close()
			}
			f, bc := bind(b, fe, be)
			done := make(chan error, 1)
			go func() {
				for i := 0; i < b.N; i++ {
					if _, err := bc.Wait(10 * time.Second); err != nil {
						done <- err
						return
					}
					bc.Notify()
				}
				done <- nil
			}()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f.Notify()
				if _, err := f.Wait(10 * time.Second); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
