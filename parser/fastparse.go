package parser

// The fast path of Parse: one pass over the bytes that scans and parses at
// once (recursive descent over the grammar in grammar.go) and builds the
// same File the participle path builds. It handles exactly the inputs that
// parse without any diagnostic; at the first thing it does not handle (any
// error, any of the leniencies, a bad last byte, nesting deeper than
// maxNesting) it gives up and Parse runs the participle path, which stays
// the reference grammar and the source of every diagnostic. The tests check
// that both paths give identical Files on every input where the fast path
// succeeds, and that it succeeds on every input the participle path accepts
// without a diagnostic.
//
// Allocation: the source is copied into one string that every name, number
// and escape-free string is sliced from; Settings (with their stmtSpans),
// Values and list item arrays come from chunks; only strings with escapes
// and the settings slice allocate on their own.

// fastParser holds the state of one fast-path parse.
type fastParser struct {
	filename string
	src      []byte
	str      string // src as a string: every token text is a substring of it
	i        int    // offset of the next byte to read
	line     int    // 1-based line of offset lineAt
	lineAt   int    // offset of the start of the current line

	settings []*Setting
	slots    []settingSlot // chunk the Settings come from
	values   []Value       // chunk the Values come from
	ptrs     []*Value      // chunk list item arrays are sliced from
	stack    []*Value      // items of the lists being parsed, innermost last

	// last maps a name to its latest setting, for `+=`; it is built only
	// when linear searches back for `+=` get costly (see lookupLast).
	last     map[string]*Setting
	searched int // settings compared by linear searches so far
}

// settingSlot is a Setting and its stmtSpan, allocated together.
type settingSlot struct {
	set  Setting
	span stmtSpan
}

// parseFast parses src if it is valid and raises no diagnostic at all;
// otherwise it returns nil and the caller must run the participle path.
func parseFast(filename string, src []byte, opts Options) *File {
	p := &fastParser{filename: filename, src: src, str: string(src), line: 1}
	if !p.file() {
		return nil
	}
	return &File{Filename: filename, src: src, opts: opts, settings: p.settings, strayAt: -1}
}

func (p *fastParser) pos(off int) Pos {
	return Pos{Line: p.line, Column: off - p.lineAt + 1, Byte: off}
}

// rng is the Range of src[start:end], both on the current line.
func (p *fastParser) rng(start, end int) Range {
	return Range{Filename: p.filename, Start: p.pos(start), End: p.pos(end)}
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

// assignment parses `name = value` or `name += value` and the start of what
// ends it (a newline, a comment, `;` or the end of the input), which it
// leaves for file.
func (p *fastParser) assignment() bool {
	src := p.src
	nameAt := p.i
	j := p.i + 1
	for j < len(src) && isIdentChar(src[j]) {
		j++
	}
	p.i = j
	p.skipBlanks()
	opAt := p.i
	var op string
	switch {
	case opAt < len(src) && src[opAt] == '=':
		op = "="
	case opAt+1 < len(src) && src[opAt] == '+' && src[opAt+1] == '=':
		op = "+="
	default:
		return false
	}
	p.i += len(op)
	nameRange := p.rng(nameAt, j)
	opRange := p.rng(opAt, p.i)
	p.skipBlanks()
	own := p.value(1)
	if own == nil {
		return false
	}
	p.skipBlanks()
	if p.i < len(src) {
		if c := src[p.i]; c != '\n' && c != '#' && c != ';' {
			return false
		}
	}
	slot := p.newSlot()
	set := &slot.set
	valEnd := own.Range.End.Byte
	slot.span = stmtSpan{start: nameAt, end: valEnd, valStart: own.Range.Start.Byte, valEnd: valEnd, own: own}
	*set = Setting{
		Name:      p.str[nameAt:j],
		Op:        op,
		Line:      own.Range.Start.Line,
		Value:     own,
		NameRange: nameRange,
		OpRange:   opRange,
		Range:     Range{Filename: p.filename, Start: nameRange.Start, End: own.Range.End},
		stmt:      &slot.span,
	}
	return p.store(set)
}

// store joins a `+=` setting with the earlier value of its name, as
// fileParser.store does (and as libxlutil's xlu__cfg_set_store), and
// appends it.
func (p *fastParser) store(set *Setting) bool {
	if set.Op == "+=" {
		if prev := p.lookupLast(set.Name); prev != nil {
			pv, own := prev.Value, set.Value
			if pv.Kind != own.Kind {
				return false // an error: the participle path reports it
			}
			if own.Kind == KindString {
				merged := p.newValue()
				*merged = Value{Kind: KindString, Str: pv.Str + own.Str, Range: own.Range}
				merged.parts = append(append(merged.parts, partsOf(pv)...), own)
				set.Value = merged
			} else {
				items := make([]*Value, 0, len(pv.Items)+len(own.Items))
				items = append(append(items, pv.Items...), own.Items...)
				merged := p.newValue()
				*merged = Value{Kind: KindList, Items: items, Range: own.Range}
				set.Value = merged
				emptied := p.newValue()
				*emptied = Value{Kind: KindList, Range: pv.Range}
				prev.Value = emptied
			}
		}
	}
	if p.last != nil {
		p.last[set.Name] = set
	}
	p.settings = append(p.settings, set)
	return true
}

// lookupLast returns the latest setting of name. It searches back through
// the settings, which is cheapest for the few `+=` of a real file; once the
// searches have compared more settings than a map would cost, it builds the
// map and keeps it up to date, so that many `+=` stay linear.
func (p *fastParser) lookupLast(name string) *Setting {
	if p.last == nil {
		for k := len(p.settings) - 1; k >= 0; k-- {
			p.searched++
			if p.settings[k].Name == name {
				return p.settings[k]
			}
		}
		if p.searched <= 4096 {
			return nil
		}
		p.last = make(map[string]*Setting, len(p.settings))
		for _, s := range p.settings {
			p.last[s.Name] = s
		}
	}
	return p.last[name]
}

// value parses the value at p.i; depth is its list nesting (1 for a
// setting's value). It returns nil when the fast path cannot handle it.
func (p *fastParser) value(depth int) *Value {
	src := p.src
	if p.i >= len(src) {
		return nil
	}
	start := p.i
	switch c := src[start]; {
	case c >= '0' && c <= '9':
		j := start + 1
		for j < len(src) && isNumberChar(src[j]) {
			j++
		}
		p.i = j
		raw := p.str[start:j]
		v := p.newValue()
		*v = Value{Kind: KindString, Str: raw, Raw: raw, Number: true, Range: p.rng(start, j)}
		return v
	case c == '"' || c == '\'':
		return p.stringValue(c)
	case c == '[':
		if depth > maxNesting {
			return nil
		}
		return p.list(depth)
	}
	return nil
}

// stringValue parses the quoted string at p.i. It gives up on anything the
// scanner or dequote would report: a string not closed on its line, a NUL
// byte, an escape libxlutil rejects or drops, or an unknown one (a
// leniency).
func (p *fastParser) stringValue(q byte) *Value {
	src := p.src
	start := p.i
	escapes := false
	j := start + 1
	for ; ; j++ {
		if j >= len(src) {
			return nil
		}
		c := src[j]
		if c == q {
			break
		}
		switch c {
		case '\n', 0:
			return nil
		case '\\':
			escapes = true
			j++
			if j >= len(src) || src[j] == '\n' || src[j] == 0 {
				return nil
			}
		}
	}
	end := j + 1
	raw := p.str[start:end]
	str := raw[1 : len(raw)-1]
	if escapes {
		var probs []escapeProblem
		if str, probs = dequote(raw); len(probs) > 0 {
			return nil
		}
	}
	p.i = end
	v := p.newValue()
	*v = Value{Kind: KindString, Str: str, Raw: raw, Range: p.rng(start, end)}
	return v
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
func (p *fastParser) list(depth int) *Value {
	src := p.src
	open := p.pos(p.i)
	p.i++
	base := len(p.stack)
	for {
		if !p.skipListSpace() || p.i >= len(src) {
			return nil
		}
		if src[p.i] == ']' {
			break
		}
		it := p.value(depth + 1)
		if it == nil {
			return nil
		}
		p.stack = append(p.stack, it)
		if !p.skipListSpace() || p.i >= len(src) {
			return nil
		}
		if src[p.i] == ']' {
			break
		}
		if src[p.i] != ',' {
			return nil
		}
		p.i++
	}
	p.i++ // the `]`
	v := p.newValue()
	*v = Value{Kind: KindList, Range: Range{Filename: p.filename, Start: open, End: p.pos(p.i)}}
	if n := len(p.stack) - base; n > 0 {
		v.Items = p.itemArray(p.stack[base:])
		clear(p.stack[base:])
		p.stack = p.stack[:base]
	}
	return v
}

// Chunk sizes: small files allocate little, big ones few times.
const (
	minChunk = 16
	maxChunk = 4096
)

func nextChunk(prev int) int {
	return min(max(2*prev, minChunk), maxChunk)
}

func (p *fastParser) newValue() *Value {
	if len(p.values) == cap(p.values) {
		p.values = make([]Value, 0, nextChunk(cap(p.values)))
	}
	p.values = p.values[:len(p.values)+1]
	return &p.values[len(p.values)-1]
}

func (p *fastParser) newSlot() *settingSlot {
	if len(p.slots) == cap(p.slots) {
		p.slots = make([]settingSlot, 0, nextChunk(cap(p.slots)))
	}
	p.slots = p.slots[:len(p.slots)+1]
	return &p.slots[len(p.slots)-1]
}

// itemArray copies items into the item chunk and returns them as a slice
// whose capacity ends with them, so that appending to it copies instead of
// overwriting the next list's items.
func (p *fastParser) itemArray(items []*Value) []*Value {
	n := len(items)
	if cap(p.ptrs)-len(p.ptrs) < n {
		p.ptrs = make([]*Value, 0, max(nextChunk(cap(p.ptrs)), n))
	}
	at := len(p.ptrs)
	p.ptrs = append(p.ptrs, items...)
	return p.ptrs[at:len(p.ptrs):len(p.ptrs)]
}
