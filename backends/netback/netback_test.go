package netback

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/backends/grant"
	"github.com/xfeat/xfeat/backends/platform"
	"github.com/xfeat/xfeat/schema"
)

func TestLimitsCheck(t *testing.T) {
	if err := DefaultLimits().Check(); err != nil {
		t.Fatal(err)
	}
	for _, l := range []Limits{{MaxQueues: 0}, {MaxQueues: 17}, {MaxQueues: 2, Disabled: []string{"feature-warp"}}} {
		if err := l.Check(); err == nil {
			t.Errorf("%+v accepted", l)
		}
	}
}

// The advertised schema parses back to itself, and a disabled feature is
// advertised off.
func TestSchemaRoundTrip(t *testing.T) {
	l := Limits{MaxQueues: 3, Disabled: []string{"feature-sg"}}
	s := l.Schema(0)
	back, err := schema.Parse(0, "vif", s.Entries())
	if err != nil {
		t.Fatal(err)
	}
	if f := back.Lookup("multi-queue-max-queues"); f == nil || f.Defval != "3" || *f.Max != HardMaxQueues || *f.Min != 1 {
		t.Errorf("multi-queue-max-queues: %+v", f)
	}
	if f := back.Lookup("feature-sg"); f == nil || f.Defval != "0" {
		t.Errorf("disabled feature-sg: %+v", f)
	}
	if f := back.Lookup("feature-gso-tcpv4"); f == nil || f.Defval != "1" || f.Type != schema.Bool {
		t.Errorf("feature-gso-tcpv4: %+v", f)
	}
	for _, n := range back.Names() {
		if strings.TrimSpace(back.Lookup(n).Desc) == "" {
			t.Errorf("%s has no description", n)
		}
	}
}

// noCopy is a platform without grant copy (platform.ErrUnavailable).
type noCopy struct{ platform.Backend }

func (noCopy) CopyGrants(uint32) (platform.GrantCopier, error) {
	return nil, fmt.Errorf("no grant copy: %w", platform.ErrUnavailable)
}

// A platform that lacks an ability the data path needs gets the one
// behaviour of package platform: Start succeeds (the vif stays connected),
// nothing is served, and the log (and the error node, with a XenStore)
// says what does not work.
func TestDataPathWithoutAnAbility(t *testing.T) {
	var log strings.Builder
	logf := func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) }
	for _, c := range []struct {
		name string
		plat platform.Backend
		taps platform.Taps
		want string
	}{
		{"no grant copy", noCopy{}, &HostTaps{}, "no grant copy: not available on this platform"},
		{"no TAP devices", copyOnly{}, nil, "no TAP devices: not available on this platform"},
	} {
		log.Reset()
		tp := &TapPath{Logf: logf, Taps: c.taps}
		v := &Vif{driver: &Driver{Platform: c.plat}}
		if err := tp.Start(v); err != nil {
			t.Fatalf("%s: Start = %v, want the vif to stay connected", c.name, err)
		}
		if !strings.Contains(log.String(), "data path: no packets move: "+c.want) {
			t.Errorf("%s: log %q", c.name, log.String())
		}
		tp.Stop(v)
	}
}

// copyOnly is a platform with grant copy and nothing else.
type copyOnly struct{ platform.Backend }

func (copyOnly) CopyGrants(uint32) (platform.GrantCopier, error) { return nopCopier{}, nil }

type nopCopier struct{}

func (nopCopier) Copy(ops []grant.CopyOp) int { return 0 }
func (nopCopier) Close() error                { return nil }
