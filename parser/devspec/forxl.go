package devspec

import (
	"strings"

	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/pv"
)

// Removed is one xfeat-only part of a device spec that ForXl took out.
type Removed struct {
	Device string       // "vif #0", "disk #1"
	Text   string       // as written in the spec, e.g. "queues=2"
	Range  parser.Range // where it was
}

// ForXl removes from f, in place, every part of its vif and disk specs
// that is xfeat's and not xl's: the shorthand feature keys
// (xfeat-requests(5)) and features=, each with one separating comma. The
// rest of each spec and of the file stays byte for byte, so that xl reads
// from the result the devices it would have read had xfeat's requests never
// been written (xl ignores an unknown vif key with a warning, but refuses an
// unknown disk key). f should be a file CheckFile accepts.
func ForXl(f *parser.File) ([]Removed, error) {
	var cuts []parser.StringCut
	var removed []Removed
	for _, kind := range []struct {
		key string
		t   pv.Kind
	}{{"vif", pv.Vif}, {"disk", pv.Vbd}} {
		s := f.Lookup(kind.key)
		if s == nil || s.Value == nil || s.Value.Kind != parser.KindList {
			continue
		}
		for i, item := range s.Value.Items {
			if item.Kind != parser.KindString {
				break // xl's device loop ends at a nested list (CheckFile refuses it)
			}
			for _, sp := range xfeatSpans(kind.t, item.Str) {
				cuts = append(cuts, parser.StringCut{Value: item, Start: sp.cut[0], End: sp.cut[1]})
				removed = append(removed, Removed{
					Device: kind.key + " #" + itoa(i),
					Text:   item.Str[sp.text[0]:sp.text[1]],
					Range:  item.RangeOf(sp.text[0], sp.text[1]),
				})
			}
		}
	}
	if len(cuts) == 0 {
		return nil, nil
	}
	return removed, f.CutStrings(cuts)
}

// span is one xfeat key=value of a spec: text is the token itself, cut the
// token with one comma that separates it from what stays.
type span struct{ text, cut [2]int }

// xfeatSpans finds the xfeat keys of a spec the way xl splits it: at every
// comma (a vif as strtok does, a disk as libxlu_disk_l.l does, where
// target= takes the rest of the spec, commas included), a key matched after
// the blanks that may lead a token (spaces for a vif, as parse_nic_config
// skips; spaces and tabs for a disk). A token removed after one that stays
// takes the comma before it, any other the comma after it, so that no
// comma is left dangling.
func xfeatSpans(t pv.Kind, spec string) []span {
	keys := map[string]bool{"features": true}
	for _, k := range ShorthandKeys(t) {
		keys[k] = true
	}
	blanks := " "
	if t == pv.Vbd {
		blanks = " \t"
	}
	var out []span
	kept := false
	for start := 0; start <= len(spec); {
		end := strings.IndexByte(spec[start:], ',')
		if end < 0 {
			end = len(spec)
		} else {
			end += start
		}
		tok := spec[start:end]
		lead := len(tok) - len(strings.TrimLeft(tok, blanks))
		key, _, isKV := strings.Cut(tok[lead:], "=")
		if t == pv.Vbd && isKV && key == "target" {
			break
		}
		switch {
		case isKV && keys[key]:
			sp := span{text: [2]int{start + lead, end}, cut: [2]int{start, end}}
			switch {
			case kept:
				sp.cut[0] = start - 1
			case end < len(spec):
				sp.cut[1] = end + 1
			}
			out = append(out, sp)
		case strings.TrimSpace(tok) != "":
			kept = true
		}
		start = end + 1
	}
	return out
}

// XlFile is the file xl must get for f (a file CheckFile accepts): ForXl's
// cut, everything else as written; should the file need a repair xl would
// otherwise refuse (an escape only xfeat reads, CRLF line ends), in
// canonical style (parser.Format), which has the repairs. f is changed in
// place. What was taken out comes back too.
func XlFile(f *parser.File) ([]byte, []Removed, error) {
	removed, err := ForXl(f)
	if err != nil {
		return nil, nil, err
	}
	out := f.Bytes()
	if _, diags := parser.Parse(f.Filename, out, parser.Options{Strict: true}); diags.HasErrors() {
		out, err = parser.Format(f)
	}
	return out, removed, err
}
