package pv

import (
	"strconv"
	"testing"
)

func TestParseState(t *testing.T) {
	for v, want := range map[string]State{"0": Unknown, "1": Initialising, "4": Connected, "6": Closed, "8": Reconfigured} {
		if s, err := ParseState(v); err != nil || s != want {
			t.Errorf("ParseState(%q) = %v, %v", v, s, err)
		}
	}
	for _, v := range []string{"", "9", "-1", "04", " 4", "4 ", "4x", "0x4", "+4", "99999999999999999999"} {
		if s, err := ParseState(v); err == nil {
			t.Errorf("ParseState(%q) = %v, want an error", v, s)
		}
	}
}

func TestPaths(t *testing.T) {
	if got := FrontendPath(3, Vbd, 51712); got != "/local/domain/3/device/vbd/51712" {
		t.Error(got)
	}
	be := BackendPath(0, Vif, 3, 1)
	if be != "/local/domain/0/backend/vif/3/1" {
		t.Error(be)
	}
	if got := ErrorNode(0, be); got != "/local/domain/0/error/backend/vif/3/1/error" {
		t.Error(got)
	}
	if got := ErrorNode(1, be); got != "" {
		t.Errorf("ErrorNode of another domain's path = %q", got)
	}
}

// FuzzParseState: any string either parses to a valid state that formats
// back to exactly that string, or is an error; nothing panics.
func FuzzParseState(f *testing.F) {
	for _, s := range []string{"4", "04", "", "-0", "8", "9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		s, err := ParseState(v)
		if err != nil {
			return
		}
		if !s.Valid() || strconv.Itoa(int(s)) != v {
			t.Fatalf("ParseState(%q) = %v", v, s)
		}
	})
}
