package schema

import "testing"

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
