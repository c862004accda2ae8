package schema

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func netbackEntries() map[string]string {
	return map[string]string{
		"multi-queue-max-queues-type":   "uint",
		"multi-queue-max-queues-defval": "4",
		"multi-queue-max-queues-desc":   "Maximum number of queues",
		"multi-queue-max-queues-min":    "1",
		"multi-queue-max-queues-max":    "64",
		"feature-sg-type":               "bool",
		"feature-sg-defval":             "1",
		"feature-sg-desc":               "Scatter-gather",
		"mode-type":                     "string",
		"mode-defval":                   "fast",
		"mode-values":                   "fast, safe",
		"offset-type":                   "int",
		"offset-defval":                 "-3",
	}
}

func TestParseAndEntriesRoundTrip(t *testing.T) {
	s, err := Parse(0, "vif", netbackEntries())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Names(); !reflect.DeepEqual(got, []string{"feature-sg", "mode", "multi-queue-max-queues", "offset"}) {
		t.Fatalf("names %v", got)
	}
	q := s.Lookup("multi-queue-max-queues")
	if q.Type != Uint || q.Defval != "4" || *q.Min != 1 || *q.Max != 64 || q.Desc != "Maximum number of queues" {
		t.Fatalf("queues feature %+v", q)
	}
	if m := s.Lookup("mode"); !reflect.DeepEqual(m.Values, []string{"fast", "safe"}) {
		t.Fatalf("values %v", m.Values)
	}
	again, err := Parse(0, "vif", s.Entries())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, s) {
		t.Fatalf("round trip differs:\n%+v\n%+v", again, s)
	}
	if s.Dir() != "/local/domain/0/backend/vif/features" {
		t.Fatal(s.Dir())
	}
}

func TestParseRejectsMalformedSchema(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(map[string]string)
		node   string
		reason string
	}{
		{"unknown type", func(m map[string]string) { m["feature-sg-type"] = "boolean" }, "feature-sg-type", "unknown type"},
		{"orphan node", func(m map[string]string) { m["ghost-defval"] = "1" }, "ghost-defval", "no feature"},
		{"bad bound", func(m map[string]string) { m["multi-queue-max-queues-max"] = "lots" }, "multi-queue-max-queues-max", "not an unsigned"},
		{"negative uint bound", func(m map[string]string) { m["multi-queue-max-queues-min"] = "-1" }, "multi-queue-max-queues-min", "not an unsigned"},
		{"min over max", func(m map[string]string) { m["multi-queue-max-queues-min"] = "65" }, "multi-queue-max-queues-min", "greater than max"},
		{"defval out of range", func(m map[string]string) { m["multi-queue-max-queues-defval"] = "0" }, "multi-queue-max-queues-defval", "from 1 to 64"},
		{"bool bound", func(m map[string]string) { m["feature-sg-max"] = "1" }, "feature-sg-max", "bound on a bool"},
		{"defval not in values", func(m map[string]string) { m["mode-defval"] = "slow" }, "mode-defval", "one of fast, safe"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := netbackEntries()
			c.edit(m)
			_, err := Parse(0, "vif", m)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("want ParseError, got %v", err)
			}
			if pe.Path != "/local/domain/0/backend/vif/features/"+c.node || !strings.Contains(pe.Error(), c.reason) {
				t.Fatalf("got %v", pe)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	s, err := Parse(0, "vif", netbackEntries())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		feature, in, want string
		ok                bool
	}{
		{"multi-queue-max-queues", "2", "2", true},
		{"multi-queue-max-queues", "002", "2", true},
		{"multi-queue-max-queues", "64", "64", true},
		{"multi-queue-max-queues", "65", "", false},
		{"multi-queue-max-queues", "0", "", false},
		{"multi-queue-max-queues", "-1", "", false},
		{"multi-queue-max-queues", "two", "", false},
		{"multi-queue-max-queues", "0x2", "", false},
		{"multi-queue-max-queues", "", "", false},
		{"multi-queue-max-queues", "99999999999999999999", "", false},
		{"feature-sg", "on", "1", true},
		{"feature-sg", "False", "0", true},
		{"feature-sg", "1", "1", true},
		{"feature-sg", "2", "", false},
		{"mode", "safe", "safe", true},
		{"mode", "Safe", "", false},
		{"offset", "-7", "-7", true},
		{"offset", "+7", "7", true},
	}
	for _, c := range cases {
		got, err := s.Lookup(c.feature).Check(c.in)
		if c.ok != (err == nil) || got != c.want {
			t.Errorf("Check(%s, %q) = %q, %v; want %q ok=%v", c.feature, c.in, got, err, c.want, c.ok)
		}
		var ve *ValueError
		if err != nil && (!errors.As(err, &ve) || ve.Feature != c.feature || ve.Value != c.in) {
			t.Errorf("Check(%s, %q): error %v does not name feature and value", c.feature, c.in, err)
		}
	}
	_, err = s.Lookup("multi-queue-max-queues").Check("65")
	if !strings.Contains(err.Error(), "an unsigned integer from 1 to 64") {
		t.Fatalf("error should say what is allowed: %v", err)
	}
}
