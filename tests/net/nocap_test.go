package net

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/netback"
	"github.com/xfeat/xfeat/backends/xenbus"
	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/sandbox"
	"github.com/xfeat/xfeat/toolstack"
)

// TestWithoutTunTheControlPlaneStands: on a host where no TAP can be made
// (no /dev/net/tun, as without CAP_NET_ADMIN), a vif still connects, and
// its error node and the log say that its data path needs CAP_NET_ADMIN.
// Runs as any user: nothing is created on the host.
func TestWithoutTunTheControlPlaneStands(t *testing.T) {
	h := startHost(t, netback.Limits{}, func(c *sandbox.Config) { c.TunPath = filepath.Join(t.TempDir(), "no-tun") })
	src := "name = \"xfnocap" + h.tag + "\"\nvif = [ \"bridge=" + h.bridge + ",mac=00:16:3e:7a:01:01\" ]\n"
	p := filepath.Join(t.TempDir(), "g.cfg")
	writeFile(t, p, src)
	f, diags := parser.ParseFile(p, parser.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	cfg, diags := devspec.CheckFile(f)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ctx := context.Background()
	plan, diags, err := toolstack.NewPlan(ctx, h.xs, f, cfg)
	if err != nil || plan == nil {
		t.Fatal(err, diags)
	}
	got, err := toolstack.Create(ctx, h.xs, plan, toolstack.CreateOptions{Wait: 15 * time.Second})
	if err != nil {
		t.Fatalf("create: %v\nhost log:\n%s", err, h.log)
	}
	defer toolstack.Destroy(ctx, h.xs, got.Domid, 10*time.Second)
	be := xenbus.BackendPath(0, xenbus.KindVif, got.Domid, 0)
	if st, err := xenbus.ReadState(ctx, h.xs, be); err != nil || st != xenbus.Connected {
		t.Fatalf("backend state %v %v, want Connected", st, err)
	}
	msg, err := h.xs.ReadString(ctx, xenbus.ErrorPath(0, be))
	if err != nil || !strings.Contains(msg, "needs CAP_NET_ADMIN") {
		t.Fatalf("error node %q (%v), want it to say the data path needs CAP_NET_ADMIN", msg, err)
	}
	if !strings.Contains(h.log.String(), "needs CAP_NET_ADMIN") {
		t.Fatalf("the log does not say so:\n%s", h.log)
	}
	t.Logf("error node: %s", msg)
}
