package net

import (
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/netback"
)

func TestPingThroughBridge(t *testing.T) {
	needRoot(t, "ping")
	h := startHost(t, netback.Limits{})
	a := h.createGuest(t, "a", 1, "")
	b := h.createGuest(t, "b", 2, "")
	out, err := a.run(t, 20*time.Second, "ping", "-c", "3", "-i", "0.2", "-W", "2", b.addr)
	if err != nil {
		t.Fatalf("ping %s from %s: %v\n%s\nhost log:\n%s", b.addr, a.name, err, out, h.log)
	}
	t.Logf("%s", out)
}
