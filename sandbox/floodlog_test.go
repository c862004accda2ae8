package sandbox

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/ring"
	"github.com/xfeat/xfeat/internal/hostlog"
	"github.com/xfeat/xfeat/pv"
)

// A guest that reconnects its device again and again (each time the
// backend logs that it connected) cannot grow the host's log at will: past
// a burst its lines are held back and summarised with their count, while
// another guest's lines still get through.
func TestGuestCannotFloodTheLog(t *testing.T) {
	var lg syncLog // without t.Logf's copy of every line
	h := startHost(t, func(c *Config) {
		c.RunFrontends = func(id uint32) bool { return id != 1 }
		c.Logf = lg.logf
	})
	h.createDomain(t, 1, []vifSpec{{devid: 0}}, nil)
	be := bePath("vif", 1, 0)
	h.waitState(t, be, pv.InitWait)
	hg := h.hostile(t, 1, "vif", 0)

	const cycles = hostlog.DefaultBurst + 50
	start := time.Now()
	for range cycles {
		pages, err := hg.g.Platform().AllocPages(2)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			if err := ring.Init(pages.Bytes()[i*4096 : (i+1)*4096]); err != nil {
				t.Fatal(err)
			}
		}
		tx, _ := pages.Grant(0, 0, false)
		rx, _ := pages.Grant(1, 0, false)
		hg.write("tx-ring-ref", itoa(tx), "rx-ring-ref", itoa(rx), "event-channel", hg.port(), "request-rx-copy", "1", "state", "4")
		h.waitState(t, be, pv.Connected)
		hg.write("state", "6")
		h.waitState(t, be, pv.Closed)
		if err := pages.Free(); err != nil {
			t.Fatal(err)
		}
		hg.write("state", "1")
		h.waitState(t, be, pv.InitWait)
	}
	elapsed := time.Since(start)

	// Another guest is heard.
	h.createDomain(t, 2, []vifSpec{{devid: 0}}, nil)
	h.waitState(t, bePath("vif", 2, 0), pv.Connected)
	h.eventually(t, "guest 2's device logged", func() bool { return lg.contains("netback: vif 2/0: connected") })

	count := func() (logged, held int) {
		lg.mu.Lock()
		defer lg.mu.Unlock()
		for _, l := range lg.lines {
			if !strings.HasPrefix(l, "netback: vif 1/0: connected") {
				continue
			}
			if i := strings.LastIndex(l, " (repeated "); i >= 0 {
				var n int
				if _, err := fmt.Sscanf(l[i:], " (repeated %d times)", &n); err != nil {
					t.Errorf("summary %q: %v", l, err)
				}
				held += n
			} else {
				logged++
			}
		}
		return
	}
	logged, _ := count()
	if max := hostlog.DefaultBurst + 1 + int(elapsed/hostlog.DefaultInterval); logged > max {
		t.Errorf("guest 1 reconnected %d times and got %d lines into the log (at most %d allowed)", cycles, logged, max)
	}
	h.lim.Flush()
	logged, held := count()
	if logged+held != cycles {
		t.Errorf("%d connections logged and %d summarised, want %d in all", logged, held, cycles)
	}
}
