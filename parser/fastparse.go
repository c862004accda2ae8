package parser

import (
	"math"
	"sync"
	"unsafe"
)

// The fast path of Parse: a hand-written scanner and recursive-descent
// parser for the grammar in grammar.go that builds the same File the
// participle path builds. It handles exactly the inputs that parse without
// any diagnostic; at the first thing it does not handle (any error, any of
// the leniencies, a bad last byte, nesting deeper than maxNesting) it gives
// up, and Parse runs the participle path, which stays the reference grammar
// and the source of every diagnostic. The tests check that both paths give
// identical Files wherever the fast path succeeds, and that it succeeds on
// every input the participle path accepts without a diagnostic.
//
// It works in two steps so that the File costs a fixed number of
// allocations, whatever its size:
//
//  1. scan and parse the source into pointer-free records of the
//     statements and values (fastScratch, reused through a sync.Pool);
//  2. allocate every Setting, Value and list item array of the
//     File at once, at their exact counts, and fill them in.
//
// Names, numbers and strings are substrings of one string: a copy of the
// source followed by the dequoted strings that have escapes. Only a `+=`
// allocates on its own: the joined string and its parts, or the joined
// item array.

// Kinds of valueRec.
const (
	recNumber = iota
	recString
	recList
)

// valueRec is a value as scanned: its text, positions and, for a list, its
// items (indices into fastScratch.items, which hold indices of valueRecs).
// Offsets and counts are int32 (parseFast leaves bigger inputs to the
// participle path) to halve the records.
type valueRec struct {
	kind       int32
	start, end int32 // bytes: the token, or `[` to after `]`
	line       int32 // line of start, which begins at offset lineAt
	lineAt     int32
	endLine    int32 // line of end, which begins at offset endLineAt
	endLineAt  int32
	// A string with escapes is escaped[strAt:strEnd] (strAt >= 0);
	// without, it is the token between its quotes (strAt < 0).
	strAt, strEnd int32
	// Items of a list: items[firstItem : firstItem+nItems].
	firstItem, nItems int32
}

// stmtRec is an assignment as scanned.
type stmtRec struct {
	nameAt, nameEnd int32
	opAt            int32
	plus            bool  // `+=`
	line, lineAt    int32 // of the name (and operator)
	value           int32 // index of its valueRec
}

// fastScratch is the pointer-free working memory of one parse.
type fastScratch struct {
	stmts   []stmtRec
	values  []valueRec
	items   []int32 // list items, as indices of values, each list's contiguous
	stack   []int32 // items of the lists being parsed, innermost last
	escaped []byte  // the strings with escapes, dequoted, one after another
	joins   int     // an upper bound of the Values `+=` creates
}

var scratchPool = sync.Pool{New: func() any { return new(fastScratch) }}

// maxPooledScratch bounds the bytes a pooled scratch keeps, so that a huge
// file does not pin its records in memory.
const maxPooledScratch = 8 << 20

func (sc *fastScratch) size() int {
	return cap(sc.stmts)*int(unsafe.Sizeof(stmtRec{})) + cap(sc.values)*int(unsafe.Sizeof(valueRec{})) +
		4*(cap(sc.items)+cap(sc.stack)) + cap(sc.escaped)
}

// fastParser is the state of step 1.
type fastParser struct {
	*fastScratch
	src    []byte
	i      int // offset of the next byte to read
	line   int // 1-based line of offset lineAt
	lineAt int // offset of the start of the current line
}

// parseFast parses src if it is valid and raises no diagnostic at all;
// otherwise it returns nil and the caller must run the participle path.
func parseFast(filename string, src []byte, opts Options) *File {
	sc := scratchPool.Get().(*fastScratch)
	defer func() {
		if sc.size() <= maxPooledScratch {
			sc.stmts, sc.values, sc.items, sc.stack, sc.escaped = sc.stmts[:0], sc.values[:0], sc.items[:0], sc.stack[:0], sc.escaped[:0]
			sc.joins = 0
			scratchPool.Put(sc)
		}
	}()
	if len(src) > math.MaxInt32 {
		return nil
	}
	p := fastParser{fastScratch: sc, src: src, line: 1}
	if !p.file() {
		return nil
	}
	settings, ok := sc.build(filename, src)
	if !ok {
		return nil
	}
	return &File{Filename: filename, src: src, opts: opts, settings: settings, strayAt: -1}
}

func (p *fastParser) skipBlanks() {
	for p.i < len(p.src) && (p.src[p.i] == ' ' || p.src[p.i] == '\t') {
		p.i++
	}
}

// comment skips the comment at p.i and the newline ending it. A comment
// without its newline is a leniency (or, as the last byte, ignored by
// libxlutil with a warning): not for the fast path.
func (p *fastParser) comment() bool {
	for j := p.i + 1; j < len(p.src); j++ {
		if p.src[j] == '\n' {
			p.i = j + 1
			p.line++
			p.lineAt = p.i
			return true
		}
	}
	return false
}

// file parses statements until the end of the input.
func (p *fastParser) file() bool {
	src := p.src
	for {
		p.skipBlanks()
		if p.i >= len(src) {
			return true
		}
		switch c := src[p.i]; {
		case c == '\n':
			p.i++
			p.line++
			p.lineAt = p.i
		case c == '#':
			if !p.comment() {
				return false
			}
		case c == ';':
			p.i++
		case isIdentStart(c):
			if !p.assignment() {
				return false
			}
		default:
			return false
		}
	}
}

// assignment parses `name = value` or `name += value` up to what ends it
// (a newline, a comment, `;` or the end of the input), which it leaves for
// file.
func (p *fastParser) assignment() bool {
	src := p.src
	st := stmtRec{nameAt: int32(p.i), line: int32(p.line), lineAt: int32(p.lineAt)}
	j := p.i + 1
	for j < len(src) && isIdentChar(src[j]) {
		j++
	}
	st.nameEnd = int32(j)
	p.i = j
	p.skipBlanks()
	st.opAt = int32(p.i)
	switch {
	case p.i < len(src) && src[p.i] == '=':
		p.i++
	case p.i+1 < len(src) && src[p.i] == '+' && src[p.i+1] == '=':
		st.plus = true
		p.i += 2
	default:
		return false
	}
	p.skipBlanks()
	v := p.value(1)
	if v < 0 {
		return false
	}
	st.value = int32(v)
	if st.plus {
		// Joining creates a string, or a list and the emptied earlier one.
		p.joins += 1 + int(p.values[v].kind/recList)
	}
	p.skipBlanks()
	if p.i < len(src) {
		if c := src[p.i]; c != '\n' && c != '#' && c != ';' {
			return false
		}
	}
	p.stmts = append(p.stmts, st)
	return true
}

// value parses the value at p.i; depth is its list nesting (1 for a
// setting's value). It returns the index of its record, or -1 when the fast
// path cannot handle it.
func (p *fastParser) value(depth int) int {
	src := p.src
	if p.i >= len(src) {
		return -1
	}
	start := p.i
	switch c := src[start]; {
	case c >= '0' && c <= '9':
		j := start + 1
		for j < len(src) && isNumberChar(src[j]) {
			j++
		}
		p.i = j
		return p.atom(recNumber, start, j, -1, -1)
	case c == '"' || c == '\'':
		return p.stringValue(c)
	case c == '[':
		if depth > maxNesting {
			return -1
		}
		return p.list(depth)
	}
	return -1
}

func (p *fastParser) atom(kind, start, end, strAt, strEnd int) int {
	line, lineAt := int32(p.line), int32(p.lineAt)
	p.values = append(p.values, valueRec{kind: int32(kind), start: int32(start), end: int32(end),
		line: line, lineAt: lineAt, endLine: line, endLineAt: lineAt, strAt: int32(strAt), strEnd: int32(strEnd)})
	return len(p.values) - 1
}

// stringStops are the bytes stringValue must look at: the quotes, the
// escape character and what ends a string badly.
var stringStops = [256]bool{'"': true, '\'': true, '\\': true, '\n': true, 0: true}

// stringValue parses the quoted string at p.i. It gives up on anything the
// scanner or dequote would report: a string not closed on its line, a NUL
// byte, an escape libxlutil rejects or drops, or an unknown one (a
// leniency).
func (p *fastParser) stringValue(q byte) int {
	src := p.src
	start := p.i
	escapes := false
	j := start + 1
	for ; ; j++ {
		for j < len(src) && !stringStops[src[j]] {
			j++
		}
		if j >= len(src) {
			return -1
		}
		c := src[j]
		if c == q {
			break
		}
		switch c {
		case '\n', 0:
			return -1
		case '\\':
			escapes = true
			j++
			if j >= len(src) || src[j] == '\n' || src[j] == 0 {
				return -1
			}
		}
	}
	end := j + 1
	strAt, strEnd := -1, -1
	if escapes {
		strAt = len(p.escaped)
		if !p.dequote(start, end) {
			return -1
		}
		strEnd = len(p.escaped)
	}
	p.i = end
	return p.atom(recString, start, end, strAt, strEnd)
}

// dequote appends the value of the string token src[start:end] to
// p.escaped. It is dequote (escape.go) for a token whose escapes are all
// simple ones: on any other escape, which dequote reports, it fails.
func (p *fastParser) dequote(start, end int) bool {
	src := p.src
	for j := start + 1; j < end-1; j++ {
		c := src[j]
		if c == '\\' {
			e := simpleEscapes[src[j+1]]
			if e == 0 {
				return false
			}
			c = e
			j++
		}
		p.escaped = append(p.escaped, c)
	}
	return true
}

// skipListSpace skips what the grammar elides inside a list: blanks,
// newlines and comments.
func (p *fastParser) skipListSpace() bool {
	src := p.src
	for p.i < len(src) {
		switch src[p.i] {
		case ' ', '\t':
			p.i++
		case '\n':
			p.i++
			p.line++
			p.lineAt = p.i
		case '#':
			if !p.comment() {
				return false
			}
		default:
			return true
		}
	}
	return true
}

// list parses the list whose `[` is at p.i: items separated by commas, an
// optional trailing comma. It loops over the items (a long list does not
// recurse) and recurses only into nested lists.
func (p *fastParser) list(depth int) int {
	src := p.src
	rec := valueRec{kind: recList, start: int32(p.i), line: int32(p.line), lineAt: int32(p.lineAt), strAt: -1, strEnd: -1}
	p.i++
	base := len(p.stack)
	for {
		if !p.skipListSpace() || p.i >= len(src) {
			return -1
		}
		if src[p.i] == ']' {
			break
		}
		it := p.value(depth + 1)
		if it < 0 {
			return -1
		}
		p.stack = append(p.stack, int32(it))
		if !p.skipListSpace() || p.i >= len(src) {
			return -1
		}
		if src[p.i] == ']' {
			break
		}
		if src[p.i] != ',' {
			return -1
		}
		p.i++
	}
	p.i++ // the `]`
	rec.end, rec.endLine, rec.endLineAt = int32(p.i), int32(p.line), int32(p.lineAt)
	rec.firstItem, rec.nItems = int32(len(p.items)), int32(len(p.stack)-base)
	p.items = append(p.items, p.stack[base:]...)
	p.stack = p.stack[:base]
	p.values = append(p.values, rec)
	return len(p.values) - 1
}

// texts copies the source and the dequoted strings into one new string
// (one allocation) and returns the two parts of it.
func (sc *fastScratch) texts(src []byte) (str, escaped string) {
	if len(src) == 0 {
		return "", ""
	}
	buf := make([]byte, 0, len(src)+len(sc.escaped))
	buf = append(append(buf, src...), sc.escaped...)
	// buf is never written again: the string may share its memory (as
	// strings.Builder does).
	all := unsafe.String(&buf[0], len(buf))
	return all[:len(src)], all[len(src):]
}

// build is step 2: the File's settings from the records. It fails when a
// `+=` joins a string and a list (an error, which the participle path
// reports).
func (sc *fastScratch) build(filename string, src []byte) ([]*Setting, bool) {
	// Room for the values `+=` creates after the scanned ones.
	values := make([]Value, len(sc.values), len(sc.values)+sc.joins)
	var itemPtrs []*Value
	if len(sc.items) > 0 {
		itemPtrs = make([]*Value, len(sc.items))
		for k, vi := range sc.items {
			itemPtrs[k] = &values[vi]
		}
	}
	str, escaped := sc.texts(src)
	pos := func(off, line, lineAt int32) Pos {
		return Pos{Line: int(line), Column: int(off-lineAt) + 1, Byte: int(off)}
	}
	for k := range sc.values {
		r := &sc.values[k]
		v := &values[k]
		v.Range = Range{Filename: filename, Start: pos(r.start, r.line, r.lineAt), End: pos(r.end, r.endLine, r.endLineAt)}
		switch r.kind {
		case recNumber:
			v.Kind, v.Number = KindString, true
			v.Raw = str[r.start:r.end]
			v.Str = v.Raw
		case recString:
			v.Kind = KindString
			v.Raw = str[r.start:r.end]
			if r.strAt >= 0 {
				v.Str = escaped[r.strAt:r.strEnd]
			} else {
				v.Str = v.Raw[1 : len(v.Raw)-1]
			}
		case recList:
			v.Kind = KindList
			if r.nItems > 0 {
				end := r.firstItem + r.nItems
				v.Items = itemPtrs[r.firstItem:end:end]
			}
		}
	}

	if len(sc.stmts) == 0 {
		return nil, true
	}
	sets := make([]Setting, len(sc.stmts))
	settings := make([]*Setting, len(sc.stmts))
	b := builder{settings: settings[:0], spare: values[len(values):cap(values)]}
	for k := range sc.stmts {
		st := &sc.stmts[k]
		own := &values[st.value]
		op, opLen := "=", int32(1)
		if st.plus {
			op, opLen = "+=", 2
		}
		set := &sets[k]
		set.Name = str[st.nameAt:st.nameEnd]
		set.Op = op
		set.Line = own.Range.Start.Line
		set.Value = own
		set.NameRange = Range{Filename: filename, Start: pos(st.nameAt, st.line, st.lineAt), End: pos(st.nameEnd, st.line, st.lineAt)}
		set.OpRange = Range{Filename: filename, Start: pos(st.opAt, st.line, st.lineAt), End: pos(st.opAt+opLen, st.line, st.lineAt)}
		set.Range = Range{Filename: filename, Start: set.NameRange.Start, End: own.Range.End}
		set.own = own
		if !b.store(set) {
			return nil, false
		}
	}
	return settings, true
}

// builder appends settings, joining `+=` ones with the earlier value of
// their name.
type builder struct {
	settings []*Setting
	// last maps a name to its latest setting, for `+=`; it is built only
	// when linear searches back for `+=` get costly (see lookupLast).
	last     map[string]*Setting
	searched int     // settings compared by linear searches so far
	spare    []Value // room for the Values store creates
}

func (b *builder) newValue(v Value) *Value {
	var p *Value
	if len(b.spare) > 0 {
		p = &b.spare[0]
		b.spare = b.spare[1:]
	} else {
		p = new(Value)
	}
	*p = v
	return p
}

// store is fileParser.store (libxlutil's xlu__cfg_set_store): a `+=` joins
// a string to the previous string, or moves the previous list's items to
// the front of its own.
func (b *builder) store(set *Setting) bool {
	if set.Op == "+=" {
		if prev := b.lookupLast(set.Name); prev != nil {
			pv, own := prev.Value, set.Value
			if pv.Kind != own.Kind {
				return false
			}
			if own.Kind == KindString {
				set.Value = b.newValue(Value{Kind: KindString, Str: pv.Str + own.Str, Range: own.Range, parts: joinParts(pv, own)})
			} else {
				items := make([]*Value, 0, len(pv.Items)+len(own.Items))
				items = append(append(items, pv.Items...), own.Items...)
				set.Value = b.newValue(Value{Kind: KindList, Items: items, Range: own.Range})
				prev.Value = b.newValue(Value{Kind: KindList, Range: pv.Range})
			}
		}
	}
	if b.last != nil {
		b.last[set.Name] = set
	}
	b.settings = append(b.settings, set)
	return true
}

// lookupLast returns the latest setting of name. It searches back through
// the settings, which is cheapest for the few `+=` of a real file; once the
// searches have compared more settings than a map would cost, it builds the
// map and keeps it up to date, so that many `+=` stay linear.
func (b *builder) lookupLast(name string) *Setting {
	if b.last == nil {
		for k := len(b.settings) - 1; k >= 0; k-- {
			b.searched++
			if b.settings[k].Name == name {
				return b.settings[k]
			}
		}
		if b.searched <= 4096 {
			return nil
		}
		b.last = make(map[string]*Setting, len(b.settings))
		for _, s := range b.settings {
			b.last[s.Name] = s
		}
	}
	return b.last[name]
}
