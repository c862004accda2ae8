package libvirtoracle

import (
	"fmt"
	"strconv"
	"strings"
)

// libvirt reads an xl.cfg file with its own configuration reader
// (src/util/virconf.c), not with Xen's libxlutil, and that reader takes a
// smaller language: names [A-Za-z][A-Za-z0-9_]*, only `=`, decimal numbers
// (0x10 stops after the 0; 010 is ten), strings without escapes (a
// backslash is a character, `\"` ends the string), no comment inside a
// list, and every value is looked up at its first assignment where xl takes
// the last. ReadConf reads a file as that reader does, so that the test
// knows beforehand which files libvirt refuses (and with which message) or
// reads differently from xl, and why.

// ConfError is the reader's refusal of a file, as libvirt reports it.
type ConfError struct {
	Line int
	Msg  string
	// Why names the xl.cfg construct that stopped it, for the test's
	// count of files libvirt cannot read.
	Why string
}

func (e *ConfError) Error() string {
	return fmt.Sprintf("configuration file syntax error: memory conf:%d: %s", e.Line, e.Msg)
}

// ConfKind is the type of a value libvirt's reader stores.
type ConfKind int

const (
	ConfString ConfKind = iota
	ConfNumber
	ConfList
)

// ConfValue is a value as libvirt's reader stores it.
type ConfValue struct {
	Kind  ConfKind
	Str   string
	Num   int64
	Items []ConfValue
}

// ConfEntry is one assignment as libvirt's reader stores it.
type ConfEntry struct {
	Name  string
	Value ConfValue
}

type confReader struct {
	src  string
	cur  int
	line int
	// lastValue is where the last value read started, for Why.
	lastValue int
}

// ReadConf reads src as libvirt 9's virConfReadString does (the reader of
// `virsh domxml-from-native xen-xl`): the entries in file order, or the
// error libvirt reports.
func ReadConf(src []byte) ([]ConfEntry, *ConfError) {
	s := string(src)
	// libvirt takes the file as a C string.
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	r := &confReader{src: s, line: 1}
	var out []ConfEntry
	for r.cur < len(r.src) {
		e, err := r.statement()
		if err != nil {
			return nil, err
		}
		if e != nil {
			out = append(out, *e)
		}
		if err := r.separator(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// c is the current byte; 0 at the end, as the C string's terminator.
func (r *confReader) c() byte {
	if r.cur < len(r.src) {
		return r.src[r.cur]
	}
	return 0
}

func (r *confReader) next() {
	if r.cur < len(r.src) {
		r.cur++
	}
}

func isEOL(c byte) bool   { return c == '\n' || c == '\r' }
func isBlank(c byte) bool { return c == ' ' || c == '\t' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func (r *confReader) skipBlanks() {
	for r.cur < len(r.src) && isBlank(r.src[r.cur]) {
		r.cur++
	}
}

func (r *confReader) skipBlanksAndEOL() {
	for r.cur < len(r.src) && (isBlank(r.src[r.cur]) || isEOL(r.src[r.cur])) {
		if r.src[r.cur] == '\n' {
			r.line++
		}
		r.cur++
	}
}

func (r *confReader) fail(msg string) *ConfError {
	return &ConfError{Line: r.line, Msg: msg, Why: r.why(msg)}
}

// why names the construct at the failure.
func (r *confReader) why(msg string) string {
	c := r.c()
	rest := r.src[r.cur:]
	prev := r.src[r.lastValue:r.cur]
	if prev == "" {
		prev = " "
	}
	switch {
	case c == '#' && (msg == "expecting a value" || msg == "expecting a separator in list"):
		return "a comment inside a list"
	case msg == "expecting an assignment" && strings.HasPrefix(rest, "+="):
		return "+= (libvirt's reader knows only =)"
	case msg == "expecting an assignment" && c == '.':
		return "a name with a dot"
	case strings.HasPrefix(msg, "expecting a separator") && isDigit(prev[0]) && (c == 'x' || c == 'X'):
		return "a hexadecimal number"
	case strings.HasPrefix(msg, "expecting a separator") && isDigit(prev[0]) && isAlpha(c):
		return "a number with letters"
	case strings.HasPrefix(msg, "expecting a separator") && len(prev) > 1 && (prev[0] == '"' || prev[0] == '\'') && prev[len(prev)-2] == '\\':
		return "an escaped quote in a string (libvirt's reader has no escapes)"
	}
	near := rest
	if i := strings.IndexAny(near, "\r\n"); i >= 0 {
		near = near[:i]
	}
	if len(near) > 20 {
		near = near[:20]
	}
	return fmt.Sprintf("%s at %q", msg, near)
}

func (r *confReader) statement() (*ConfEntry, *ConfError) {
	r.skipBlanksAndEOL()
	if r.c() == '#' {
		for r.cur < len(r.src) && !isEOL(r.src[r.cur]) {
			r.cur++
		}
		return nil, nil
	}
	r.skipBlanks()
	start := r.cur
	if !isAlpha(r.c()) {
		return nil, r.fail("expecting a name")
	}
	for r.cur < len(r.src) && (isAlpha(r.src[r.cur]) || isDigit(r.src[r.cur]) || r.src[r.cur] == '_') {
		r.cur++
	}
	name := r.src[start:r.cur]
	r.skipBlanks()
	if r.c() != '=' {
		return nil, r.fail("expecting an assignment")
	}
	r.next()
	r.skipBlanks()
	v, err := r.value()
	if err != nil {
		return nil, err
	}
	r.skipBlanks()
	if r.c() == '#' {
		for r.cur < len(r.src) && !isEOL(r.src[r.cur]) {
			r.cur++
		}
	}
	return &ConfEntry{Name: name, Value: *v}, nil
}

func (r *confReader) separator() *ConfError {
	r.skipBlanks()
	if r.cur >= len(r.src) {
		return nil
	}
	switch {
	case isEOL(r.c()):
		r.skipBlanksAndEOL()
	case r.c() == ';':
		r.next()
		r.skipBlanksAndEOL()
	default:
		return r.fail("expecting a separator")
	}
	return nil
}

func (r *confReader) value() (*ConfValue, *ConfError) {
	r.skipBlanks()
	if r.cur >= len(r.src) {
		return nil, r.fail("expecting a value")
	}
	r.lastValue = r.cur
	switch c := r.c(); {
	case c == '"' || c == '\'':
		s, err := r.str()
		if err != nil {
			return nil, err
		}
		return &ConfValue{Kind: ConfString, Str: s}, nil
	case c == '[':
		r.next()
		r.skipBlanksAndEOL()
		var items []ConfValue
		if r.cur < len(r.src) && r.c() != ']' {
			v, err := r.value()
			if err != nil {
				return nil, err
			}
			items = append(items, *v)
			r.skipBlanksAndEOL()
		}
		for r.cur < len(r.src) && r.c() != ']' {
			if r.c() != ',' {
				return nil, r.fail("expecting a separator in list")
			}
			r.next()
			r.skipBlanksAndEOL()
			if r.c() == ']' {
				break
			}
			v, err := r.value()
			if err != nil {
				return nil, err
			}
			items = append(items, *v)
			r.skipBlanksAndEOL()
		}
		if r.c() != ']' {
			return nil, r.fail("list is not closed with ]")
		}
		r.next()
		return &ConfValue{Kind: ConfList, Items: items}, nil
	case isDigit(c) || c == '-' || c == '+':
		neg := c == '-'
		if c == '-' || c == '+' {
			r.next()
		}
		if r.cur >= len(r.src) || !isDigit(r.c()) {
			return nil, r.fail("unterminated number")
		}
		var n int64
		for r.cur < len(r.src) && isDigit(r.c()) {
			n = n*10 + int64(r.c()-'0') // wraps as libvirt's long long does
			r.next()
		}
		if neg {
			n = -n
		}
		return &ConfValue{Kind: ConfNumber, Num: n}, nil
	}
	return nil, r.fail("expecting a value")
}

func (r *confReader) str() (string, *ConfError) {
	quote := r.c()
	if quote == '"' && r.cur+6 < len(r.src) && strings.HasPrefix(r.src[r.cur:], `"""`) {
		r.cur += 3
		base := r.cur
		for r.cur+2 < len(r.src) && !strings.HasPrefix(r.src[r.cur:], `"""`) {
			if r.c() == '\n' {
				r.line++
			}
			r.next()
		}
		if !strings.HasPrefix(r.src[r.cur:], `"""`) {
			return "", r.fail("unterminated string")
		}
		s := r.src[base:r.cur]
		r.cur += 3
		return s, nil
	}
	r.next()
	base := r.cur
	for r.cur < len(r.src) && r.c() != quote && !isEOL(r.c()) {
		r.next()
	}
	if r.c() != quote {
		return "", r.fail("unterminated string")
	}
	s := r.src[base:r.cur]
	r.next()
	return s, nil
}

// String renders v as the reader would read it back (for messages).
func (v ConfValue) String() string {
	switch v.Kind {
	case ConfNumber:
		return strconv.FormatInt(v.Num, 10)
	case ConfList:
		parts := make([]string, len(v.Items))
		for i, it := range v.Items {
			parts[i] = it.String()
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return strconv.Quote(v.Str)
}
