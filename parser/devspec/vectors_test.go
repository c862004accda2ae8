package devspec

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// vectorsDir holds Xen's own parser test cases, transcribed from its test
// scripts (see the README there for their origin and format).
var vectorsDir = filepath.Join("testdata", "vectors")

type vector struct {
	Case       int            `json:"case"`
	SrcLine    int            `json:"src_line"`
	ExpectedRC int            `json:"expected_rc"`
	Argv       []string       `json:"argv"`
	Expected   map[string]any `json:"expected"`
}

func loadVectors(t *testing.T, name string) []vector {
	t.Helper()
	// Part of the repository: missing is a broken checkout, never a skip.
	f, err := os.Open(filepath.Join(vectorsDir, name))
	if err != nil {
		t.Fatalf("Xen's parser test cases: %v", err)
	}
	defer f.Close()
	var out []vector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var v vector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func defboolName(d Defbool) any {
	switch d {
	case DefboolTrue:
		return "True"
	case DefboolFalse:
		return "False"
	}
	return nil
}

// xlJSON renders a DiskXL the way libxl_device_disk_to_json does for the
// fields the vectors carry (defaults omitted).
func xlJSON(d *DiskXL) map[string]any {
	m := map[string]any{}
	if d.PdevPath != nil {
		m["pdev_path"] = *d.PdevPath
	}
	if d.Vdev != nil {
		m["vdev"] = *d.Vdev
	}
	if d.Script != nil {
		m["script"] = *d.Script
	}
	if d.Backend != BackendUnknown {
		m["backend"] = d.Backend.String()
	}
	if d.Format != FormatUnknown {
		m["format"] = d.Format.String()
	}
	for k, v := range map[string]int{"removable": d.Removable, "readwrite": d.Readwrite, "is_cdrom": d.IsCdrom} {
		if v != 0 {
			m[k] = float64(v)
		}
	}
	if v := defboolName(d.DiscardEnable); v != nil {
		m["discard_enable"] = v
	}
	if v := defboolName(d.Trusted); v != nil {
		m["trusted"] = v
	}
	return m
}

func TestUpstreamDiskVectors(t *testing.T) {
	vs := loadVectors(t, "disk-parse.jsonl")
	if len(vs) != 28 {
		t.Fatalf("got %d disk vectors, want 28", len(vs))
	}
	for _, v := range vs {
		for _, mode := range []struct {
			name string
			run  func() (*DiskXL, bool)
		}{
			{"xl", func() (*DiskXL, bool) { d, errs := ParseDiskXL(v.Argv, DialectHead); return d, len(errs) == 0 }},
			{"xfeat", func() (*DiskXL, bool) { d, diags := ParseDisk(v.Argv, -1, nil); return d.XL, !diags.HasErrors() }},
		} {
			d, ok := mode.run()
			if ok != (v.ExpectedRC == 0) {
				t.Errorf("case %d (line %d) %q [%s]: accepted=%v, want rc %d", v.Case, v.SrcLine, v.Argv, mode.name, ok, v.ExpectedRC)
				continue
			}
			if !ok {
				continue
			}
			got, _ := json.Marshal(xlJSON(d))
			want, _ := json.Marshal(v.Expected)
			if string(got) != string(want) {
				t.Errorf("case %d (line %d) %q [%s]:\n got  %s\n want %s", v.Case, v.SrcLine, v.Argv, mode.name, got, want)
			}
		}
	}
}

func TestUpstreamVifVectors(t *testing.T) {
	vs := loadVectors(t, "vif-parse.jsonl")
	if len(vs) != 44 {
		t.Fatalf("got %d vif vectors, want 44", len(vs))
	}
	for _, v := range vs {
		if len(v.Argv) != 1 {
			t.Fatalf("case %d: %d specs", v.Case, len(v.Argv))
		}
		for _, xlOnly := range []bool{true, false} {
			nic, diags := ParseVif(v.Argv[0], -1, &Options{XLOnly: xlOnly})
			ok := !diags.HasErrors()
			if ok != (v.ExpectedRC == 0) {
				t.Errorf("case %d (line %d) %q xlOnly=%v: accepted=%v (%v), want rc %d", v.Case, v.SrcLine, v.Argv, xlOnly, ok, diags, v.ExpectedRC)
				continue
			}
			if !ok {
				continue
			}
			got := map[string]any{}
			if nic.Rate != nil {
				got["rate_bytes_per_interval"] = float64(nic.Rate.BytesPerInterval)
				got["rate_interval_usecs"] = float64(nic.Rate.IntervalUsecs)
			}
			if nic.Trusted != nil {
				got["trusted"] = map[bool]string{true: "True", false: "False"}[*nic.Trusted]
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(v.Expected)
			if string(g) != string(w) {
				t.Errorf("case %d (line %d) %q: got %s, want %s", v.Case, v.SrcLine, v.Argv, g, w)
			}
		}
	}
}
