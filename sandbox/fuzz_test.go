package sandbox

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/platform"
	"github.com/xfeat/xfeat/backends/ring"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xsclient"
)

// FuzzHostileVif: whatever a guest writes into its vif frontend directory,
// the host keeps running, the device ends up InitWait, Connected or Closing
// (never anything else), another guest's device stays Connected, and after
// teardown no grant mapping or event channel is left. In the inputs, "g"
// as a ring ref stands for a page really granted to dom0, "p" as a port for
// a channel really allocated for dom0.
func FuzzHostileVif(f *testing.F) {
	f.Add("", "g", "g", "p", "", "", "4", true)
	f.Add("2", "g", "g", "p", "", "", "4", true)
	f.Add("1", "g", "g", "", "p", "p", "4", true)
	f.Add("1", "7777", "g", "p", "", "", "4", true)
	f.Add("x", "g", "g", "p", "", "", "3", false)
	f.Add("1", "g", "g", "p", "p", "", "4", true)
	f.Add("", "g", "g", "p", "", "", "9", true)
	f.Add("0", "", "", "", "", "", "4", true)
	f.Add("1", "g", "g", "p", "", "", "6", true)
	f.Add("1", "g", "g", "p", "", "", "5", true)

	h := startHost(f, noFrontends(2))
	h.createDomain(f, 1, []vifSpec{{devid: 0}}, nil)
	h.waitState(f, bePath("vif", 1, 0), pv.Connected)
	h.createDomain(f, 2, nil, nil)
	good := h.GrantMappings()
	devid := uint32(0)

	f.Fuzz(func(t *testing.T, nq, tx, rx, ev, evtx, evrx, state string, rxCopy bool) {
		devid++
		d := strconv.Itoa(int(devid))
		be := bePath("vif", 2, devid)
		fe := fePath("vif", 2, devid)
		h.addGuestDevice(t, be, fe,
			[][2]string{{"backend", be}, {"backend-id", "0"}, {"state", "1"}, {"handle", d}},
			[][2]string{{"frontend", fe}, {"frontend-id", "2"}, {"online", "1"}, {"state", "1"}})
		hg := h.hostile(t, 2, "vif", devid)
		var pages []platform.Pages
		var chans []platform.Channel
		val := func(key, v string) string {
			switch {
			case v == "g" && (key == "tx-ring-ref" || key == "rx-ring-ref"):
				pg, err := hg.g.Platform().AllocPages(1)
				if err != nil {
					t.Fatal(err)
				}
				ring.Init(pg.Bytes())
				r, err := pg.Grant(0, 0, false)
				if err != nil {
					t.Fatal(err)
				}
				pages = append(pages, pg)
				return strconv.Itoa(int(r))
			case v == "p" && len(key) >= 13 && key[:13] == "event-channel":
				ch, err := hg.g.Platform().AllocUnbound(bg, 0)
				if err != nil {
					t.Fatal(err)
				}
				chans = append(chans, ch)
				return strconv.Itoa(int(ch.Port()))
			}
			return v
		}
		for _, kv := range [][2]string{{"multi-queue-num-queues", nq}, {"tx-ring-ref", tx}, {"rx-ring-ref", rx},
			{"event-channel", ev}, {"event-channel-tx", evtx}, {"event-channel-rx", evrx}} {
			if kv[1] != "" {
				// Values the daemon refuses (bad characters) are the
				// guest's problem, not the host's.
				_ = hg.xs.WriteString(bg, fe+"/"+kv[0], val(kv[0], kv[1]))
			}
		}
		if rxCopy {
			hg.write("request-rx-copy", "1")
		}
		_ = hg.xs.WriteString(bg, fe+"/state", state)

		h.checkBackendAnswers(t, be, state, bePath("vif", 1, 0))
		// Teardown as the toolstack does it; then nothing of this device
		// may stay mapped or bound.
		h.teardownGuestDevice(t, be, fe, good, pages, chans)
	})
}

// FuzzHostileVbd is FuzzHostileVif for blkback: queue count, ring page order,
// ring-ref/ring-refN, event channel and protocol as the guest writes them.
func FuzzHostileVbd(f *testing.F) {
	f.Add("", "", "g", "", "p", "x86_64-abi", "3")
	f.Add("1", "1", "", "g", "p", "", "3")
	f.Add("2", "0", "g", "", "p", "x86_64-abi", "3")
	f.Add("1", "5", "g", "g", "p", "", "3")
	f.Add("1", "0", "g", "", "p", "x86_32-abi", "4")
	f.Add("1", "0", "4294967295", "", "p", "", "3")
	f.Add("1", "1", "g", "12", "p", "", "3")
	f.Add("1", "0", "g", "", "99", "", "3")

	img := imageTB(f, 1<<20)
	h := startHost(f, noFrontends(2))
	h.createDomain(f, 1, nil, []vbdSpec{{devid: 51712, params: img}})
	h.waitState(f, bePath("vbd", 1, 51712), pv.Connected)
	h.createDomain(f, 2, nil, nil)
	good := h.GrantMappings()
	devid := uint32(0)

	f.Fuzz(func(t *testing.T, nq, order, ref0, ref1, ev, proto, state string) {
		devid++
		d := strconv.Itoa(int(devid))
		be := bePath("vbd", 2, devid)
		fe := fePath("vbd", 2, devid)
		h.addGuestDevice(t, be, fe,
			[][2]string{{"backend", be}, {"backend-id", "0"}, {"state", "1"}, {"virtual-device", d}},
			[][2]string{{"frontend", fe}, {"frontend-id", "2"}, {"online", "1"}, {"state", "1"},
				{"params", img}, {"mode", "w"}, {"type", "phy"}})
		hg := h.hostile(t, 2, "vbd", devid)
		var pages []platform.Pages
		var chans []platform.Channel
		// "g" in ref0 grants 2^order contiguous pages (as ring-ref or
		// ring-ref0..N); "g" in ref1 grants one more page for ring-ref1.
		ord, _ := strconv.Atoi(order)
		grantPages := func(n int) []string {
			pg, err := hg.g.Platform().AllocPages(n)
			if err != nil {
				t.Fatal(err)
			}
			ring.Init(pg.Bytes())
			pages = append(pages, pg)
			var refs []string
			for i := 0; i < n; i++ {
				r, err := pg.Grant(i, 0, false)
				if err != nil {
					t.Fatal(err)
				}
				refs = append(refs, strconv.Itoa(int(r)))
			}
			return refs
		}
		w := func(k, v string) {
			if v != "" {
				_ = hg.xs.WriteString(bg, fe+"/"+k, v)
			}
		}
		w("multi-queue-num-queues", nq)
		w("ring-page-order", order)
		w("protocol", proto)
		if ref0 == "g" {
			n := 1
			if ord >= 1 && ord <= 4 {
				n = 1 << ord
			}
			refs := grantPages(n)
			if len(refs) == 1 {
				w("ring-ref", refs[0])
			} else {
				for i, r := range refs {
					w("ring-ref"+strconv.Itoa(i), r)
				}
			}
		} else {
			w("ring-ref", ref0)
		}
		if ref1 == "g" {
			w("ring-ref1", grantPages(1)[0])
		} else {
			w("ring-ref1", ref1)
		}
		if ev == "p" {
			ch, err := hg.g.Platform().AllocUnbound(bg, 0)
			if err != nil {
				t.Fatal(err)
			}
			chans = append(chans, ch)
			ev = strconv.Itoa(int(ch.Port()))
		}
		w("event-channel", ev)
		_ = hg.xs.WriteString(bg, fe+"/state", state)

		h.checkBackendAnswers(t, be, state, bePath("vbd", 1, 51712))
		h.teardownGuestDevice(t, be, fe, good, pages, chans)
	})
}

// addGuestDevice writes a device of domain 2 as the toolstack does, in one
// transaction: the frontend keys feKeys under fe (the guest's, dom0 may
// read) and the backend keys beKeys under be (dom0's, the guest may read);
// then it waits for the backend to reach InitWait.
func (h *testHost) addGuestDevice(t testing.TB, be, fe string, feKeys, beKeys [][2]string) {
	t.Helper()
	err := h.xs.Transact(bg, func(txn *xsclient.Tx) error {
		for _, kv := range feKeys {
			if err := txn.Write(bg, fe+"/"+kv[0], []byte(kv[1])); err != nil {
				return err
			}
		}
		for _, kv := range beKeys {
			if err := txn.Write(bg, be+"/"+kv[0], []byte(kv[1])); err != nil {
				return err
			}
		}
		if err := txn.SetPerms(bg, fe, p("n2", "r0")); err != nil {
			return err
		}
		for _, kv := range feKeys {
			if err := txn.SetPerms(bg, fe+"/"+kv[0], p("n2", "r0")); err != nil {
				return err
			}
		}
		return txn.SetPerms(bg, be, p("n0", "r2"))
	})
	if err != nil {
		t.Fatal(err)
	}
	h.waitState(t, be, pv.InitWait)
}

// checkBackendAnswers waits for what the backend at be must do after the
// guest wrote frontend state: fail garbage, go Closing or Closed after the
// frontend, try to connect on Initialised or Connected (Connected or
// Closing), stay InitWait otherwise; and checks that the other guest's
// device at otherBe stayed Connected.
func (h *testHost) checkBackendAnswers(t testing.TB, be, state, otherBe string) {
	t.Helper()
	fs, perr := pv.ParseState(state)
	var allowed []string
	switch {
	case perr != nil:
		allowed = []string{"5"}
	case fs == pv.Initialised || fs == pv.Connected:
		allowed = []string{"4", "5"}
	case fs == pv.Closing:
		allowed = []string{"5"}
	case fs == pv.Closed:
		allowed = []string{"6"}
	default:
		allowed = []string{"2"}
		time.Sleep(5 * time.Millisecond)
	}
	st := h.read(t, be+"/state")
	for deadline := time.Now().Add(5 * time.Second); !slices.Contains(allowed, st); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("backend state %q after the guest wrote state %q; want one of %v", st, state, allowed)
		}
		st = h.read(t, be+"/state")
	}
	if s := h.read(t, otherBe+"/state"); s != "4" {
		t.Fatalf("the other guest's device went to %s", s)
	}
}

// teardownGuestDevice tears the device at be/fe down as the toolstack does
// and checks that nothing of it stays mapped (the host is back to good
// grant mappings) and that the guest can end its grants; then it closes the
// guest's channels.
func (h *testHost) teardownGuestDevice(t testing.TB, be, fe string, good int, pages []platform.Pages, chans []platform.Channel) {
	t.Helper()
	if err := h.xs.Transact(bg, func(txn *xsclient.Tx) error {
		if err := txn.Write(bg, be+"/online", []byte("0")); err != nil {
			return err
		}
		return txn.Write(bg, be+"/state", []byte("5"))
	}); err != nil {
		t.Fatal(err)
	}
	h.waitState(t, be, pv.Closed)
	if n := h.GrantMappings(); n != good {
		t.Fatalf("grant mappings after teardown: %d, want %d", n, good)
	}
	h.xs.Rm(bg, be)
	h.xs.Rm(bg, fe)
	for _, pg := range pages {
		if err := pg.Free(); err != nil {
			t.Fatalf("guest cannot end its grant after teardown: %v", err)
		}
	}
	for _, ch := range chans {
		ch.Close()
	}
}
