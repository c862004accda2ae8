package blkback

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/backends/platform"
	"github.com/xfeat/xfeat/schema"
)

func TestLimitsCheck(t *testing.T) {
	if err := DefaultLimits().Check(); err != nil {
		t.Fatal(err)
	}
	for _, l := range []Limits{
		{MaxQueues: 0, MaxRingPageOrder: 0},
		{MaxQueues: 1, MaxRingPageOrder: 5},
		{MaxQueues: 1, MaxIndirectSegments: 4097},
		{MaxQueues: 1, Disabled: []string{"feature-sg"}},
	} {
		if err := l.Check(); err == nil {
			t.Errorf("%+v accepted", l)
		}
	}
}

func TestSchemaRoundTrip(t *testing.T) {
	l := Limits{MaxQueues: 2, MaxRingPageOrder: 1, MaxIndirectSegments: 0, Disabled: []string{"feature-discard"}}
	back, err := schema.Parse(0, "vbd", l.Schema(0).Entries())
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"multi-queue-max-queues": "2", "max-ring-page-order": "1", "feature-max-indirect-segments": "0",
		"feature-discard": "0", "feature-persistent": "1", "feature-flush-cache": "1", "feature-barrier": "1",
	} {
		if f := back.Lookup(name); f == nil || f.Defval != want {
			t.Errorf("%s: %+v, want defval %s", name, f, want)
		}
	}
	// Hard bounds the toolstack enforces.
	if f := back.Lookup("feature-max-indirect-segments"); *f.Max != 4096 || *f.Min != 0 {
		t.Errorf("feature-max-indirect-segments bounds %d..%d", *f.Min, *f.Max)
	}
	if f := back.Lookup("max-ring-page-order"); *f.Max != 4 {
		t.Errorf("max-ring-page-order max %d", *f.Max)
	}
}

// noCopy is a platform without grant copy (platform.ErrUnavailable).
type noCopy struct{ platform.Backend }

func (noCopy) CopyGrants(uint32) (platform.GrantCopier, error) {
	return nil, fmt.Errorf("no grant copy: %w", platform.ErrUnavailable)
}

// A platform that lacks grant copy gets the one behaviour of package
// platform: Start succeeds (the vbd stays connected), no queue is served,
// and the log says what does not work.
func TestDataPathWithoutGrantCopy(t *testing.T) {
	var log strings.Builder
	s := &Server{Logf: func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) }}
	v := &Vbd{driver: &Driver{Platform: noCopy{}}}
	if err := s.Start(v); err != nil {
		t.Fatalf("Start = %v, want the vbd to stay connected", err)
	}
	if s.QueueStats(v) != nil {
		t.Error("a queue is served")
	}
	if !strings.Contains(log.String(), "data path: no I/O is served: no grant copy: not available on this platform") {
		t.Errorf("log %q", log.String())
	}
	s.Stop(v)
}
