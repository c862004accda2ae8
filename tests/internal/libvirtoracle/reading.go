package libvirtoracle

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/xfeat/xfeat/parser"
)

// Misreadings compares what xl reads from f (each name's last assignment,
// escapes processed, numbers as C's strtol base 0 reads them) with what
// libvirt's reader stored in entries (ReadConf of the same file): name ->
// why libvirt's value differs. A setting it misreads is a deliberate
// difference of its own (xfeat reads files exactly as xl does), and the
// facts it feeds (SettingFacts) may differ.
func Misreadings(f *parser.File, entries []ConfEntry) map[string]string {
	out := map[string]string{}
	count := map[string]int{}
	for _, s := range f.Settings() {
		count[s.Name]++
	}
	for name, n := range count {
		var lv *ConfValue
		for i := range entries {
			if entries[i].Name == name {
				lv = &entries[i].Value
				break
			}
		}
		if lv == nil {
			out[name] = "libvirt's reader has no such name"
			continue
		}
		if why := sameValue(f.Lookup(name).Value, *lv); why != "" {
			if n > 1 {
				why = fmt.Sprintf("set %d times: xl reads the last, libvirt the first (%s)", n, why)
			}
			out[name] = why
		}
	}
	return out
}

// sameValue says why libvirt's lv is not xl's v ("" when it is).
func sameValue(v *parser.Value, lv ConfValue) string {
	switch {
	case v.Kind == parser.KindList && lv.Kind == ConfList:
		if len(v.Items) != len(lv.Items) {
			return fmt.Sprintf("a list of %d to xl, %d to libvirt", len(v.Items), len(lv.Items))
		}
		for i, it := range v.Items {
			if why := sameValue(it, lv.Items[i]); why != "" {
				return why
			}
		}
		return ""
	case v.Kind == parser.KindString && v.Number && lv.Kind == ConfNumber:
		n, ok := xlNumber(v.Str)
		if !ok {
			return fmt.Sprintf("%s is no number to xl", v.Str)
		}
		if n != lv.Num {
			return fmt.Sprintf("%s is %d to xl (strtol base 0), %d to libvirt (base 10)", v.Str, n, lv.Num)
		}
		return ""
	case v.Kind == parser.KindString && !v.Number && lv.Kind == ConfString:
		if v.Str != lv.Str {
			return fmt.Sprintf("string %s is %q to xl (escapes processed), %q to libvirt", v.Raw, v.Str, lv.Str)
		}
		return ""
	}
	return fmt.Sprintf("%s to xl, %s to libvirt", v.String(), lv.String())
}

// xlNumber is C's strtol(s, &end, 0) with end at the end of s, as xl reads
// a number.
func xlNumber(s string) (int64, bool) {
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg, t = t[0] == '-', t[1:]
	}
	base := 10
	switch {
	case len(t) > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X'):
		base, t = 16, t[2:]
	case len(t) > 1 && t[0] == '0':
		base, t = 8, t[1:]
	}
	u, err := strconv.ParseUint(t, base, 63)
	if err != nil {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}

// Rendition writes f's settings (each name once, with the value xl uses)
// in the language both xl and libvirt's reader read alike: `name = value`
// lines, decimal numbers, each string in the quote it does not contain.
// It is how a file that libvirt's reader refuses or misreads is still put
// to libvirt's converter: xl, and so xfeat, read the same settings from it
// (checked here). Only a string with a backslash or a control character
// cannot be written for both (xl reads escapes, libvirt's reader none):
// it is written for xl, and Misreadings of the rendition names it. why
// says what cannot be written at all (a string with both quote characters,
// a name with a dot), and the result is then nil.
//
// A setting libvirt's converter refuses in a form xl takes (cpus as a
// list: ConverterRefusal) is left out when it feeds none of the facts
// Compare weighs (SettingFacts), so that the rest of the file is still
// compared; omitted names those.
func Rendition(f *parser.File) (out []byte, omitted []string, why string, err error) {
	var b strings.Builder
	var names []string
	seen := map[string]bool{}
	for _, s := range f.Settings() {
		if !seen[s.Name] {
			seen[s.Name] = true
			names = append(names, s.Name)
		}
	}
	var kept []string
	for _, name := range names {
		v := f.Lookup(name).Value
		if v.Kind == parser.KindList && contains(stringOnly, name) && SettingFacts(name) == nil {
			omitted = append(omitted, name)
			continue
		}
		if !confName(name) {
			return nil, nil, fmt.Sprintf("name %s (libvirt's reader takes [A-Za-z][A-Za-z0-9_]*)", name), nil
		}
		text, why := render(v)
		if why != "" {
			return nil, nil, name + ": " + why, nil
		}
		fmt.Fprintf(&b, "%s = %s\n", name, text)
		kept = append(kept, name)
	}
	out = []byte(b.String())
	// xl reads the same settings from it, and libvirt what xl reads.
	g, diags := parser.Parse(f.Filename+".rendition", out, parser.Options{Strict: true})
	if g == nil || diags.HasErrors() {
		return nil, nil, "", fmt.Errorf("rendition of %s does not parse: %v\n%s", f.Filename, diags.Errs(), out)
	}
	for _, name := range kept {
		a, b := f.Lookup(name).Value, g.Lookup(name)
		if b == nil || !sameXL(a, b.Value) {
			return nil, nil, "", fmt.Errorf("rendition of %s: %s differs\n%s", f.Filename, name, out)
		}
	}
	entries, cerr := ReadConf(out)
	if cerr != nil {
		return nil, nil, "", fmt.Errorf("rendition of %s: libvirt's reader refuses it: %v\n%s", f.Filename, cerr, out)
	}
	for name, why := range Misreadings(g, entries) {
		if !strings.HasPrefix(why, "string ") {
			return nil, nil, "", fmt.Errorf("rendition of %s: libvirt's reader misreads %s: %s\n%s", f.Filename, name, why, out)
		}
	}
	if why, _ := ConverterRefusal(entries); why != "" {
		return nil, nil, "libvirt's converter refuses it too: " + why, nil
	}
	return out, omitted, "", nil
}

func confName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isAlpha(s[i]) && !isDigit(s[i]) && s[i] != '_' {
			return false
		}
	}
	return true
}

// render writes one value for both readers.
func render(v *parser.Value) (string, string) {
	if v.Kind == parser.KindList {
		parts := make([]string, len(v.Items))
		for i, it := range v.Items {
			t, why := render(it)
			if why != "" {
				return "", why
			}
			parts[i] = t
		}
		if len(parts) == 0 {
			return "[ ]", ""
		}
		return "[ " + strings.Join(parts, ", ") + " ]", ""
	}
	if v.Number {
		n, ok := xlNumber(v.Str)
		if !ok || n < 0 {
			return "", fmt.Sprintf("%s is no number xl reads", v.Str)
		}
		return strconv.FormatInt(n, 10), ""
	}
	s := v.Str
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] < ' ' && s[i] != '\t' {
			clean = false
		}
	}
	q := byte('"')
	switch {
	case !strings.Contains(s, `"`):
	case !strings.Contains(s, `'`):
		q = '\''
	default:
		return "", fmt.Sprintf("string %q has both quote characters", s)
	}
	if clean {
		return string(q) + s + string(q), ""
	}
	// xl's escapes, which libvirt's reader takes as written: the setting
	// is then one Misreadings reports.
	var b strings.Builder
	b.WriteByte(q)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\t' || c >= ' ':
			b.WriteByte(c)
		case escapes[c] != "":
			b.WriteString(escapes[c])
		default:
			return "", fmt.Sprintf("string %q has a control character xl has no escape for", s)
		}
	}
	b.WriteByte(q)
	return b.String(), ""
}

// escapes are xl's named escapes of control characters.
var escapes = map[byte]string{'\n': `\n`, '\r': `\r`, 7: `\a`, 8: `\b`, 11: `\v`, 12: `\f`}

// sameXL: xl stores the same value for a and b.
func sameXL(a, b *parser.Value) bool {
	if a.Kind != b.Kind {
		return false
	}
	if a.Kind == parser.KindList {
		if len(a.Items) != len(b.Items) {
			return false
		}
		for i := range a.Items {
			if !sameXL(a.Items[i], b.Items[i]) {
				return false
			}
		}
		return true
	}
	if a.Number && b.Number {
		x, ok1 := xlNumber(a.Str)
		y, ok2 := xlNumber(b.Str)
		return ok1 && ok2 && x == y
	}
	return a.Str == b.Str
}
