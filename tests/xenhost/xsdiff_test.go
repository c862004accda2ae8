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
// cannot be removed; each says why and how to recognise it. Everything
// else that differs fails the test.
var xsAllowed = []struct {
	name, why string
	match     func(d xsDiff) bool
}{
	{
		name: "xenconsoled writes to C only",
		why: "xenconsoled, a client of C's that does not go through the proxy, writes a guest's " +
			"console/tty on C (/dev/pts/N) after libxl created it empty through the proxy: a read " +
			"of it through the proxy differs, and C alone sends the watch event for that write",
		match: func(d xsDiff) bool {
			return strings.HasPrefix(d.Mode, "proxy:") && d.reqType() == "READ" &&
				strings.HasSuffix(d.Request.Payload, `/console/tty\0"`) &&
				d.C.Reply != nil && d.C.Reply.Type == "READ" && d.Ours.Reply != nil
		},
	},
	{
		name: "extra events on C from outside the proxy",
		why: "over a whole proxied connection, C sent the events ours sent and more, each either " +
			"for console/tty (xenconsoled's write, above) or @releaseDomain, which C also fires " +
			"when the hypervisor reports a domain dying (VIRQ_DOM_EXC); `xfeat xenstored` is " +
			"not told of domains by the hypervisor and fires it on RELEASE only",
		match: func(d xsDiff) bool {
			if !strings.HasPrefix(d.Mode, "proxy:") || d.What != "events (whole connection)" {
				return false
			}
			extra := map[string]int{}
			for _, e := range d.C.Events {
				extra[e.Payload]++
			}
			for _, e := range d.Ours.Events {
				if extra[e.Payload] == 0 {
					return false // ours sent one C did not
				}
				extra[e.Payload]--
			}
			for p, n := range extra {
				if n > 0 && !strings.HasPrefix(p, `"@releaseDomain\0`) && !strings.Contains(p, `/console/tty\0`) {
					return false
				}
			}
			return true
		},
	},
}

// xsNotSent are requests the generator never sends, each for a reason in
// C xenstored 4.17, so they are not compared.
var xsNotSent = []string{
	"a single-path request (READ, DIRECTORY, GET_PERMS, MKDIR, RM) whose payload is not exactly one " +
		"NUL-terminated string: C answers with whatever errno an earlier call left behind, or not at all, " +
		"and a READ of two strings once stopped it; ours answers EINVAL",
	"SET_PERMS on @introduceDomain or @releaseDomain: from a guest it stops C 4.17.7 at once, from dom0 " +
		"later requests see garbage permissions; ours sets them (xenstored's unit tests cover it)",
	"SET_PERMS whose owner is a domain id no domain has but one could have (7): C asks the hypervisor " +
		"and answers ENOENT; ours cannot know the domains the hypervisor has and refuses only ids no domain " +
		"can have (32752 and above), which the generator does send",
}

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
/xenhost/bin/xsdiff -guests "$(xl domid xsd1),$(xl domid xsd2)" -xl-cfg "$cx" -n 1200 -random-secs 5 \
	-out "$XH_OUT/xsdiff.json" -logdir "$XH_OUT"
rc=$?
xl destroy xsd1; xl destroy xsd2
exit $rc
`, nil, 5*time.Minute)
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
	if rep.Dropped > 0 {
		t.Errorf("%d differences were counted but not kept in the report, so not judged", rep.Dropped)
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
	listed := 0
	for _, n := range used {
		listed += n
	}
	t.Logf("compared %d requests, %d matched, %d listed differences", total, matched, listed)
	for _, a := range xsAllowed {
		t.Logf("listed difference %q (%d): %s", a.name, used[a.name], a.why)
	}
	for _, w := range xsNotSent {
		t.Logf("not sent: %s", w)
	}
	for p, s := range rep.Phases {
		t.Logf("phase %s: %.1f s", p, s)
	}
	if total < 3000 {
		t.Errorf("only %d requests compared", total)
	}
}
