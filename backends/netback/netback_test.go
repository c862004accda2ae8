package netback

import (
	"strings"
	"testing"

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
