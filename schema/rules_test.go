package schema

import (
	"testing"

	"github.com/xfeat/xfeat/pv"
)

func s(v string) *string { return &v }

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestJudge(t *testing.T) {
	queues := RuleFor("vif", "multi-queue-max-queues")
	sg := RuleFor("vif", "feature-sg")
	split := RuleFor("vif", "feature-split-event-channels")
	indirect := RuleFor("vbd", "feature-max-indirect-segments")
	persistent := RuleFor("vbd", "feature-persistent")
	cases := []struct {
		name       string
		rule       Rule
		obs        Observation
		eff, negot string
		verdict    Verdict
	}{
		{"applied", queues, Observation{Requested: s("2"), Effective: s("2"), Negotiated: s("2"), BackendState: 4, FrontendState: 4}, "2", "2", Applied},
		{"clamped and reported", queues, Observation{Requested: s("8"), Effective: s("4"), BackendState: 4, FrontendState: 4, Decided: Clamp}, "4", "1", Clamped},
		{"clamped", queues, Observation{Requested: s("8"), Effective: s("4"), Negotiated: s("4"), BackendState: 4, FrontendState: 4}, "4", "4", Clamped},
		{"guest chose fewer", queues, Observation{Requested: s("4"), Effective: s("4"), BackendState: 4, FrontendState: 4}, "4", "1", Applied},
		{"default", queues, Observation{Effective: s("4"), Negotiated: s("2"), BackendState: 4, FrontendState: 4}, "4", "2", Default},
		{"pending before backend", queues, Observation{Requested: s("2"), BackendState: 1, FrontendState: 1}, "<nil>", "<nil>", Pending},
		{"pending before guest", queues, Observation{Requested: s("2"), Effective: s("2"), BackendState: 2, FrontendState: 1}, "2", "<nil>", Pending},
		{"refused by the recorded decision", sg, Observation{Requested: s("1"), Effective: s("0"), BackendState: 4, FrontendState: 4, Decided: Refuse}, "0", "0", Refused},
		{"bool not honoured", sg, Observation{Requested: s("1"), Effective: s("0"), BackendState: 4, FrontendState: 4}, "0", "0", Refused},
		{"absent backend key means default", indirect, Observation{Requested: s("0"), BackendState: 4, FrontendState: 4}, "0", "0", Applied},
		{"presence rule", split, Observation{Requested: s("1"), Effective: s("1"), Negotiated: s("17"), BackendState: 4, FrontendState: 4}, "1", "1", Applied},
		// Linux's blkfront writes feature-persistent = 1 (its own setting)
		// whatever the backend offers: in use only when both say 1.
		{"mutual, backend off", persistent, Observation{Requested: s("0"), Effective: s("0"), Negotiated: s("1"), BackendState: 4, FrontendState: 4}, "0", "0", Applied},
		{"mutual, both on", persistent, Observation{Requested: s("1"), Effective: s("1"), Negotiated: s("1"), BackendState: 4, FrontendState: 4}, "1", "1", Applied},
		{"mutual, guest off", persistent, Observation{Effective: s("1"), Negotiated: s("0"), BackendState: 4, FrontendState: 4}, "1", "0", Default},
		{"presence rule absent", split, Observation{Requested: s("1"), Effective: s("1"), BackendState: 4, FrontendState: 4}, "1", "0", Applied},
	}
	for _, c := range cases {
		eff, neg, v := c.rule.Judge(c.obs)
		if deref(eff) != c.eff || deref(neg) != c.negot || v != c.verdict {
			t.Errorf("%s: got %s %s %s; want %s %s %s", c.name, deref(eff), deref(neg), v, c.eff, c.negot, c.verdict)
		}
	}
}

func TestRuleForUnknownFeatureUsesItsName(t *testing.T) {
	r := RuleFor("vif", "feature-xdp-headroom")
	if r.BackendKey != "feature-xdp-headroom" || r.FrontendKey != "feature-xdp-headroom" {
		t.Fatalf("%+v", r)
	}
	if RuleFor("vbd", "max-ring-page-order").FrontendKey != "ring-page-order" {
		t.Fatal("ring-page-order rule")
	}
}

func TestErrorNames(t *testing.T) {
	msg := ErrorNote("multi-queue-max-queues", "clamped to 4") + "; " + ErrorNote("feature-sg", "not supported")
	if !ErrorNames(msg, "feature-sg") || !ErrorNames(msg, "multi-queue-max-queues") || ErrorNames(msg, "feature-gso-tcpv4") || ErrorNames(msg, "sg") {
		t.Fatalf("ErrorNames on %q", msg)
	}
}

func vifSchema(t *testing.T) *Schema {
	t.Helper()
	s, err := Parse(0, pv.Vif, map[string]string{
		"multi-queue-max-queues-type": "uint", "multi-queue-max-queues-defval": "4",
		"multi-queue-max-queues-min": "1", "multi-queue-max-queues-max": "16",
		"feature-sg-type": "bool", "feature-sg-defval": "1",
		"feature-multicast-control-type": "bool", "feature-multicast-control-defval": "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Decide is the one decision: each action, in the order it documents.
func TestDecide(t *testing.T) {
	s := vifSchema(t)
	for _, c := range []struct {
		name, value, cannot string
		want                Decision
	}{
		{"feature-warp", "1", "", Decision{Feature: "feature-warp", Action: Ignore, Reason: "not a feature of this backend"}},
		{"multi-queue-max-queues", "lots", "", Decision{Feature: "multi-queue-max-queues", Action: Refuse,
			Reason: `refused: "lots" is not allowed for multi-queue-max-queues: an unsigned integer from 1 to 16`}},
		{"multi-queue-max-queues", "17", "", Decision{Feature: "multi-queue-max-queues", Action: Refuse,
			Reason: `refused: "17" is not allowed for multi-queue-max-queues: an unsigned integer from 1 to 16`}},
		{"multi-queue-max-queues", "8", "", Decision{Feature: "multi-queue-max-queues", Action: Clamp, Value: "4",
			Reason: "clamped to 4, the backend's maximum"}},
		{"multi-queue-max-queues", "02", "", Decision{Feature: "multi-queue-max-queues", Action: Apply, Value: "2"}},
		{"multi-queue-max-queues", "4", "", Decision{Feature: "multi-queue-max-queues", Action: Apply, Value: "4"}},
		{"feature-multicast-control", "on", "not supported by this backend", Decision{Feature: "feature-multicast-control",
			Action: Refuse, Reason: "refused: not supported by this backend"}},
		// Turning off what cannot be on is no refusal.
		{"feature-multicast-control", "off", "not supported by this backend", Decision{Feature: "feature-multicast-control",
			Action: Apply, Value: "0"}},
		{"feature-sg", "yes", "", Decision{Feature: "feature-sg", Action: Apply, Value: "1"}},
	} {
		if got := s.Decide(c.name, c.value, c.cannot); got != c.want {
			t.Errorf("Decide(%s, %q, %q) = %+v, want %+v", c.name, c.value, c.cannot, got, c.want)
		}
	}
}

// A feature the backend decides only when it connects: its own choice is
// applied (nothing to enforce), anything else is unenforceable; a value
// that is no boolean is still refused first.
func TestDecideAtConnect(t *testing.T) {
	s := &Schema{Backend: 0, Kind: pv.Vbd, From: "a stock backend", Features: map[string]*Feature{
		"feature-persistent": {Name: "feature-persistent", Type: Bool, Defval: "1", AtConnect: true},
	}}
	for _, c := range []struct {
		value string
		want  Decision
	}{
		{"on", Decision{Feature: "feature-persistent", Action: Apply, Value: "1"}},
		{"off", Decision{Feature: "feature-persistent", Action: Unenforceable,
			Reason: "unenforceable: the backend decides it when it connects (its own choice: 1)"}},
		{"maybe", Decision{Feature: "feature-persistent", Action: Refuse,
			Reason: `refused: "maybe" is not allowed for feature-persistent: a boolean (0/1, true/false, on/off, yes/no)`}},
	} {
		if got := s.Decide("feature-persistent", c.value, ""); got != c.want {
			t.Errorf("Decide(%q) = %+v, want %+v", c.value, got, c.want)
		}
	}
}

// A decision node holds what ParseRecord reads back; anything else is
// refused, so that a backend's garbage never becomes a verdict.
func TestRecord(t *testing.T) {
	for _, d := range []Decision{
		{Feature: "f", Action: Apply, Value: "2"}, {Feature: "f", Action: Clamp, Value: "4"},
		{Feature: "f", Action: Refuse}, {Feature: "f", Action: Ignore}, {Feature: "f", Action: Unenforceable},
	} {
		back, err := ParseRecord("f", d.Record())
		if err != nil || back != d {
			t.Errorf("%+v: record %q reads back as %+v, %v", d, d.Record(), back, err)
		}
	}
	if got := (Decision{Action: Clamp, Value: "4", Reason: "why"}).Record(); got != "clamp 4" {
		t.Errorf("record %q, want clamp 4 (no reason)", got)
	}
	for _, bad := range []string{"", "apply", "apply ", "clamp", "refuse 1", "ignore x", "applied 2", "apply 1 2", "APPLY 1", "refused", "unenforceable 0"} {
		if d, err := ParseRecord("f", bad); err == nil {
			t.Errorf("ParseRecord(%q) = %+v, want an error", bad, d)
		}
	}
}

// The verdict follows the record, whatever the values look like: an
// ignored feature has no backend key at all and is still refused.
func TestJudgeFollowsTheRecord(t *testing.T) {
	warp := RuleFor(pv.Vif, "feature-warp")
	_, _, v := warp.Judge(Observation{Requested: s("1"), BackendState: 4, FrontendState: 4, Decided: Ignore})
	if v != Refused {
		t.Errorf("ignored: %s, want refused", v)
	}
	_, _, v = warp.Judge(Observation{Requested: s("1"), BackendState: 4, FrontendState: 4})
	if v != Pending {
		t.Errorf("no record, no key: %s, want pending", v)
	}
	// An unenforceable request stays so, even where the backend's own
	// choice happens to show the requested value.
	persistent := RuleFor(pv.Vbd, "feature-persistent")
	eff, neg, v := persistent.Judge(Observation{Requested: s("0"), Effective: s("1"), Negotiated: s("1"), BackendState: 4, FrontendState: 4, Decided: Unenforceable})
	if v != Unenforced || string(v) != "unenforceable" || deref(eff) != "1" || deref(neg) != "1" {
		t.Errorf("unenforceable: %s %s %s, want 1 1 unenforceable", deref(eff), deref(neg), v)
	}
	queues := RuleFor(pv.Vif, "multi-queue-max-queues")
	_, _, v = queues.Judge(Observation{Requested: s("2"), Effective: s("2"), BackendState: 4, FrontendState: 4, Decided: Apply})
	if v != Applied {
		t.Errorf("applied and connected: %s", v)
	}
}

func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{"apply 2", "clamp 4", "refuse", "ignore", "apply", "x y z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, err := ParseRecord("f", v)
		if err != nil {
			return
		}
		if d.Record() != v {
			t.Fatalf("ParseRecord(%q) = %+v, which records as %q", v, d, d.Record())
		}
	})
}
