package parser

import (
	"bytes"
	"testing"
)

func addSeeds(f *testing.F) {
	for _, src := range corpus(f) {
		f.Add(src)
	}
	for _, s := range []string{
		"a = 1\n", "a = [1, [2], ]\n", "a = 'x\\;'\r\n# c", "a += \"\\101\"\n", "a = [\n# c\n]\n", "a = 1\n@",
	} {
		f.Add([]byte(s))
	}
}

// FuzzParse checks, for any input: no panic; a rejected input has an error;
// an accepted one writes back byte for byte, and its canonical format parses
// (strictly: no leniency left) to the same settings and is a fixed point.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		file, diags := Parse("fuzz.cfg", bytes.Clone(src), Options{})
		if file == nil {
			if !diags.HasErrors() {
				t.Fatalf("rejected without an error: %q", src)
			}
			return
		}
		if !bytes.Equal(file.Bytes(), src) {
			t.Fatalf("round trip differs: %q", src)
		}
		if back, err := rebuild(file, src); err != nil || !bytes.Equal(back, src) {
			t.Fatalf("the settings' ranges and text do not give the input back (%v): %q", err, src)
		}
		again, diags := Parse("fuzz.cfg", file.Bytes(), Options{})
		if again == nil || dump(again) != dump(file) {
			t.Fatalf("parse -> write -> parse changed the settings: %q %s", src, diags)
		}
		out, err := Format(file)
		if err != nil {
			t.Fatalf("Format(%q): %v", src, err)
		}
		formatted, diags := Parse("fuzz.cfg", out, Options{Strict: true})
		if formatted == nil {
			t.Fatalf("formatted output rejected: %q -> %q: %s", src, out, diags)
		}
		if dump(formatted) != dump(file) {
			t.Fatalf("fmt changed the settings: %q -> %q\n%s\n%s", src, out, dump(file), dump(formatted))
		}
		if out2, _ := Format(formatted); !bytes.Equal(out, out2) {
			t.Fatalf("Format not idempotent: %q -> %q -> %q", src, out, out2)
		}
	})
}

// FuzzEdit checks that edits on any accepted input keep it valid and do
// what they say.
func FuzzEdit(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		file, _ := Parse("fuzz.cfg", src, Options{})
		if file == nil {
			return
		}
		for _, s := range file.Settings() {
			s = file.Lookup(s.Name) // the edits work on what xl uses
			if s.Value.Kind == KindList && len(s.Value.Items) > 0 {
				if err := file.ReplaceListItem(s.Name, 0, "edited"); err != nil {
					t.Fatalf("ReplaceListItem on %q: %v", src, err)
				}
				if got := file.Lookup(s.Name).Value.Items[0]; got.Str != "edited" {
					t.Fatalf("ReplaceListItem on %q: item is %s", src, got)
				}
				break
			}
		}
		if err := file.AppendItem("fuzz.list", StringValue("x")); err != nil {
			t.Fatalf("AppendItem on %q: %v", src, err)
		}
		if err := file.Set("fuzz.str", StringValue("a\"b\\c")); err != nil {
			t.Fatalf("Set on %q: %v", src, err)
		}
		if got := file.Lookup("fuzz.str").Value.Str; got != "a\"b\\c" {
			t.Fatalf("Set: %q", got)
		}
		if _, err := file.Remove("fuzz.list"); err != nil {
			t.Fatalf("Remove on %q: %v", file.Bytes(), err)
		}
		if file.Lookup("fuzz.list") != nil {
			t.Fatalf("Remove left fuzz.list in %q", file.Bytes())
		}
	})
}
