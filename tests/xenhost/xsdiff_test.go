//go:build xenhost

package xenhost_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// xsReport is the part of the xsdiff driver's report the test reads
// (tests/xenhost/cmd/xsdiff).
type xsReport struct {
	CopiedNodes int `json:"copied_nodes"`
	TreeBefore  struct {
		Nodes int      `json:"nodes"`
		Diffs []string `json:"diffs"`
	} `json:"tree_before"`
	TreeAfter struct {
		Nodes int      `json:"nodes"`
		Diffs []string `json:"diffs"`
	} `json:"tree_after"`
	Modes map[string]struct {
		Requests    int `json:"requests"`
		Matched     int `json:"matched"`
		Normalised  int `json:"normalised"`
		Events      int `json:"events"`
		Differences int `json:"differences"`
	} `json:"modes"`
	Tools []struct {
		Label   string  `json:"label"`
		Exit    int     `json:"exit"`
		Output  string  `json:"output"`
		Seconds float64 `json:"seconds"`
	} `json:"tools"`
	Differences []xsDiff           `json:"differences"`
	Dropped     int                `json:"differences_not_kept"`
	Phases      map[string]float64 `json:"phase_seconds"`
}

type xsMsg struct {
	Type    string `json:"type"`
	ReqID   uint32 `json:"req_id"`
	TxID    uint32 `json:"tx_id"`
	Len     uint32 `json:"len"`
	Payload string `json:"payload"`
}

type xsSide struct {
	Fate   string             `json:"fate"`
	Reply  *xsMsg             `json:"reply"`
	Events []xsMsg            `json:"events"`
	After  map[string][]xsMsg `json:"after"`
}

type xsDiff struct {
	Mode    string `json:"mode"`
	Conn    string `json:"conn"`
	Seq     int    `json:"seq"`
	What    string `json:"what"`
	Request *xsMsg `json:"request"`
	C       xsSide `json:"c"`
	Ours    xsSide `json:"ours"`
}

func (d xsDiff) reqType() string {
	if d.Request == nil {
		return ""
	}
	return d.Request.Type
}

func (s xsSide) reply() string {
	if s.Reply == nil {
		return "<" + s.Fate + ">"
	}
	return s.Reply.Type + " " + s.Reply.Payload
}

// xsAllowed are the differences between C xenstored 4.17 and ours that
// are deliberate or harmless; each says how to recognise it.
var xsAllowed = []struct {
	name, why string
	match     func(d xsDiff) bool
}{}

// TestXenstoreDifferential: the same requests sent to C xenstored (the
// real host's) and to `xfeat xenstored` get the same replies and the same
// watch events, byte for byte (transaction ids and DIRECTORY_PART's
// generation counts compared through a map): seeded random sequences as
// dom0 and as two paused guests (their xenbus rings on C's side), each
// guest's quotas, the protocol's limits, and Xen's test-xenstore, Debian's
// xenstore-* tools and xl through a tee proxy. Every difference is one of
// xsAllowed.
func TestXenstoreDifferential(t *testing.T) {
	bin := filepath.Join(vm.Dir(), "bin", "xsdiff")
	build := exec.Command("go", "build", "-o", bin, "./tests/xenhost/cmd/xsdiff")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build xsdiff: %v\n%s", err, out)
	}
	r := scenario(t, "xsdiff", `
c1=$(xh_guest_cfg xsd1); c2=$(xh_guest_cfg xsd2); cx=$(xh_guest_cfg xsdiff-xl)
xl create -p "$c1" || exit 1
xl create -p "$c2" || exit 1
/xenhost/bin/xsdiff -guests "$(xl domid xsd1),$(xl domid xsd2)" -xl-cfg "$cx" -n 3000 -random-secs 10 \
	-out "$XH_OUT/xsdiff.json" -logdir "$XH_OUT"
rc=$?
xl destroy xsd1; xl destroy xsd2
exit $rc
`, nil, 12*time.Minute)
	rep := decode[xsReport](t, "xsdiff.json", file(t, r, "xsdiff.json"))

	if rep.CopiedNodes < 50 {
		t.Errorf("only %d nodes copied from C's tree", rep.CopiedNodes)
	}
	for _, tr := range []struct {
		name  string
		diffs []string
	}{{"after the copy", rep.TreeBefore.Diffs}, {"after the generated requests", rep.TreeAfter.Diffs}} {
		if len(tr.diffs) > 0 {
			t.Errorf("the two trees differ %s:\n%s", tr.name, strings.Join(tr.diffs, "\n"))
		}
	}
	for _, tool := range rep.Tools {
		if tool.Exit != 0 {
			t.Errorf("%s through the proxy: exit %d\n%s", tool.Label, tool.Exit, tool.Output)
		}
	}

	// Every difference is deliberate or harmless.
	used := map[string]int{}
	for _, d := range rep.Differences {
		name := ""
		for _, a := range xsAllowed {
			if a.match(d) {
				name = a.name
				break
			}
		}
		if name == "" {
			b, _ := json.MarshalIndent(d, "", "  ")
			t.Errorf("difference not in the allow-list:\n%s", b)
			continue
		}
		used[name]++
	}
	if rep.Dropped > 0 && t.Failed() {
		t.Logf("(%d further differences of the same kinds not kept in the report)", rep.Dropped)
	}

	// Counts, for the closing note.
	modes := make([]string, 0, len(rep.Modes))
	for m := range rep.Modes {
		modes = append(modes, m)
	}
	sort.Strings(modes)
	total, matched := 0, 0
	for _, m := range modes {
		s := rep.Modes[m]
		total += s.Requests
		matched += s.Matched
		t.Logf("%-28s %5d requests compared, %5d matched (%d through a normalisation), %d events, %d differences",
			m, s.Requests, s.Matched, s.Normalised, s.Events, s.Differences)
	}
	t.Logf("total: %d requests compared, %d matched", total, matched)
	for name, n := range used {
		t.Logf("allowed difference %q: %d", name, n)
	}
	for p, s := range rep.Phases {
		t.Logf("phase %s: %.1f s", p, s)
	}
	if total < 3000 {
		t.Errorf("only %d requests compared", total)
	}
}
