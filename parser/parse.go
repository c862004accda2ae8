package parser

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// maxNesting bounds list nesting. libxlutil's bison stack gives up at a few
// thousand levels; no configuration nests more than two.
const maxNesting = 1000

// ParseFile reads and parses the file at path. The file name in positions is
// path as given.
func ParseFile(path string, opts Options) (*File, Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, Diagnostics{{Severity: DiagError, Summary: fmt.Sprintf("cannot read %s: %v", path, errors.Unwrap(err))}}
	}
	return Parse(path, src, opts)
}

// Parse parses src as an xl.cfg file named filename. It returns every
// diagnostic of the file, sorted by position. The File is nil when there is
// an error (warnings alone do not fail a parse).
func Parse(filename string, src []byte, opts Options) (*File, Diagnostics) {
	// A file without any diagnostic is parsed by the hand-written fast path
	// (fastparse.go); everything else by the participle grammar, which
	// reports every error and warning.
	if f := parseFast(filename, src, opts); f != nil {
		return f, nil
	}
	return parseSlow(filename, src, opts)
}

// parseSlow is Parse with the participle grammar: the reference for what is
// accepted and the source of every diagnostic.
func parseSlow(filename string, src []byte, opts Options) (*File, Diagnostics) {
	s := scan(filename, src, opts)
	p := &fileParser{s: s, diags: s.diags, lexErrLines: map[int]bool{}}
	for _, d := range s.diags {
		if d.Severity == DiagError && d.Subject != nil {
			p.lexErrLines[d.Subject.Start.Line] = true
		}
	}
	if s.depth > maxNesting {
		p.diags = append(p.diags, &Diagnostic{Severity: DiagError,
			Summary: fmt.Sprintf("lists nested more than %d deep", maxNesting),
			Subject: s.deepAt.Ptr()})
	} else {
		p.parseStmts()
	}
	sort.SliceStable(p.diags, func(i, j int) bool { return diagBefore(p.diags[i], p.diags[j]) })
	if p.diags.HasErrors() {
		return nil, p.diags
	}
	return &File{Filename: filename, src: src, opts: opts, settings: p.settings, strayAt: s.strayAt}, p.diags
}

func diagBefore(a, b *Diagnostic) bool {
	if a.Subject == nil || b.Subject == nil {
		return a.Subject == nil && b.Subject != nil
	}
	return a.Subject.Start.Byte < b.Subject.Start.Byte
}

type fileParser struct {
	s           *scanner
	diags       Diagnostics
	settings    []*Setting
	lexErrLines map[int]bool
	last        map[string]*Setting // name -> latest stored setting
}

// parseStmts parses statement after statement. On a syntax error it reports
// it and skips to the next newline, like bison's `error NEWLINE` rule, so
// that every error of the file is reported.
func (p *fileParser) parseStmts() {
	toks := p.s.toks
	plex, err := lexer.Upgrade(&sliceLexer{toks: toks}, tokListNewline)
	if err != nil { // cannot happen: sliceLexer never fails
		p.diags = append(p.diags, &Diagnostic{Severity: DiagError, Summary: err.Error()})
		return
	}
	p.last = map[string]*Setting{}
	// First the whole file in one participle call. Only when that fails
	// (or two statements share a line without a `;`, which the file grammar
	// cannot see) is it parsed again statement by statement, for recovery
	// and every error.
	start := plex.MakeCheckpoint()
	if fn, err := fileGrammar.ParseFromLexer(plex); err == nil && terminated(fn.Stmts) {
		for _, st := range fn.Stmts {
			if st.Assign != nil {
				p.store(st.Assign)
			}
		}
		return
	}
	plex.LoadCheckpoint(start)
	for !plex.Peek().EOF() {
		cp := plex.MakeCheckpoint()
		st, err := stmtParser.ParseFromLexer(plex, participle.AllowTrailing(true))
		switch {
		case err != nil:
		case st.Assign != nil && st.Term == "" && !plex.Peek().EOF():
			err = &participle.UnexpectedTokenError{Unexpected: *plex.Peek(), Expect: "newline or `;`"}
		}
		if err == nil && plex.RawCursor() == cp.RawCursor() {
			// No progress: cannot happen with this grammar, but never loop.
			err = &participle.UnexpectedTokenError{Unexpected: *plex.Peek()}
		}
		if err != nil {
			off := p.syntaxError(err, int(cp.RawCursor()))
			plex.LoadCheckpoint(cp)
			k := p.nextNewline(off)
			if k < 0 {
				return
			}
			plex.FastForward(lexer.RawCursor(k))
			continue
		}
		if st.Assign != nil {
			p.store(st.Assign)
		}
	}
}

// terminated reports whether every assignment but the last has its
// terminator.
func terminated(stmts []*stmtNode) bool {
	for i, st := range stmts {
		if st.Assign != nil && st.Term == "" && i != len(stmts)-1 {
			return false
		}
	}
	return true
}

// nextNewline returns the index of the first Newline token at or after byte
// offset off, or -1.
func (p *fileParser) nextNewline(off int) int {
	toks := p.s.toks
	i := sort.Search(len(toks), func(i int) bool { return toks[i].Pos.Offset >= off || toks[i].EOF() })
	for ; i < len(toks); i++ {
		if toks[i].Type == tokNewline || toks[i].Type == tokListNewline {
			return i
		}
		if toks[i].EOF() {
			return -1
		}
	}
	return -1
}

// syntaxError reports err and returns the byte offset of the offending token.
func (p *fileParser) syntaxError(err error, stmtStart int) int {
	var pos lexer.Position
	msg := err.Error()
	detail := ""
	var ute *participle.UnexpectedTokenError
	var perr participle.Error
	switch {
	case errors.As(err, &ute):
		pos = ute.Unexpected.Pos
		msg = "unexpected " + describeToken(ute.Unexpected)
		detail = expectDetail(ute)
		if detail == "" {
			detail = p.expected(stmtStart, pos.Offset)
		}
	case errors.As(err, &perr):
		pos = perr.Position()
		msg = perr.Message()
	}
	t := p.tokenAt(pos.Offset)
	if t.Type == tokNewline && t.Pos.Offset == pos.Offset {
		detail = newlineDetail(detail)
	}
	end := pos.Offset + len(t.Value)
	if t.Type == tokNewline || t.EOF() {
		end = pos.Offset
	}
	r := Range{Filename: p.s.filename, Start: posOf(pos), End: posOf(pos)}
	r.End.Byte, r.End.Column = end, pos.Column+(end-pos.Offset)
	if !p.lexErrLines[pos.Line] {
		p.diags = append(p.diags, &Diagnostic{Severity: DiagError, Summary: "syntax error: " + msg, Detail: detail, Subject: &r})
	}
	return pos.Offset
}

// expected says what the grammar allows at byte offset off, for a statement
// starting at token index start.
func (p *fileParser) expected(start, off int) string {
	toks := p.s.toks
	depth := 0
	var prev *lexer.Token
	for i := start; i < len(toks) && toks[i].Pos.Offset < off && !toks[i].EOF(); i++ {
		t := &toks[i]
		if t.Type == tokPunct {
			switch t.Value {
			case "[":
				depth++
			case "]":
				depth--
			}
		}
		if t.Type != tokNewline {
			prev = t
		}
	}
	switch {
	case prev == nil || prev.Type == tokPunct && prev.Value == ";":
		return "expected a setting: name = value"
	case prev.Type == tokIdent:
		return "expected `=` or `+=` after the name"
	case prev.Type == tokPunct && (prev.Value == "=" || prev.Value == "+="):
		return "expected a value: a number, a quoted string or a [list]"
	case depth > 0 && prev.Type == tokPunct && (prev.Value == "[" || prev.Value == ","):
		return "expected a value or `]`"
	case depth > 0:
		return "expected `,` or `]`"
	}
	return "expected a newline or `;`"
}

func (p *fileParser) tokenAt(off int) lexer.Token {
	toks := p.s.toks
	i := sort.Search(len(toks), func(i int) bool { return toks[i].Pos.Offset >= off || toks[i].EOF() })
	if i < len(toks) {
		return toks[i]
	}
	return toks[len(toks)-1]
}

func describeToken(t lexer.Token) string {
	switch t.Type {
	case lexer.EOF:
		return "end of file"
	case tokNewline:
		if len(t.Value) > 0 && t.Value[0] == '#' {
			return "comment"
		}
		return "end of line"
	case tokIdent:
		return "name " + quoteText(t.Value)
	case tokNumber:
		return "number " + quoteText(t.Value)
	case tokString:
		return "string " + quoteText(t.Value)
	}
	return quoteText(t.Value)
}

func expectDetail(e *participle.UnexpectedTokenError) string {
	switch e.Expect {
	case "":
		return ""
	case "newline or `;`":
		return "end each setting with a newline or `;`"
	}
	return "expected " + e.Expect
}

func newlineDetail(d string) string {
	if d == "expected a value: a number, a quoted string or a [list]" {
		return "expected a value on the same line as the `=`"
	}
	return d
}

// tokenEnd returns the position just after a token of text t at pos (tokens
// other than Newline runs are on one line).
func tokenEnd(pos lexer.Position, t string) lexer.Position {
	pos.Offset += len(t)
	pos.Column += len(t)
	return pos
}

// valueEnd returns the position just after a value.
func (p *fileParser) valueEnd(n *valueNode) lexer.Position {
	if n.Atom != nil {
		return tokenEnd(n.Pos, *n.Atom)
	}
	return p.posAt(p.s.closeOf[n.Pos.Offset] + 1)
}

// posAt returns the position of byte offset off (on a line that has a
// token: it searches the tokens for the line).
func (p *fileParser) posAt(off int) lexer.Position {
	toks := p.s.toks
	i := sort.Search(len(toks), func(i int) bool { return toks[i].Pos.Offset > off || toks[i].EOF() })
	// toks[i-1] starts at or before off; count lines inside it when it is a
	// Newline run.
	if i == 0 {
		return lexer.Position{Filename: p.s.filename, Offset: off, Line: 1, Column: off + 1}
	}
	t := toks[i-1]
	pos := t.Pos
	src := p.s.src
	for j := t.Pos.Offset; j < off; j++ {
		if src[j] == '\n' {
			pos.Line++
			pos.Column = 1
		} else {
			pos.Column++
		}
	}
	pos.Offset = off
	return pos
}

// opPos returns the position of the operator after a name.
func (p *fileParser) opPos(a *assignNode) lexer.Position {
	pos := tokenEnd(a.Pos, a.Name)
	src := p.s.src
	for pos.Offset < len(src) && (src[pos.Offset] == ' ' || src[pos.Offset] == '\t') {
		pos.Offset++
		pos.Column++
	}
	return pos
}

// rangeOf converts participle positions into a Range.
func (p *fileParser) rangeOf(start, end lexer.Position) Range {
	return Range{Filename: p.s.filename, Start: posOf(start), End: posOf(end)}
}

// value builds the Value of n, dequoting strings and reporting escape
// problems.
func (p *fileParser) value(n *valueNode) *Value {
	r := p.rangeOf(n.Pos, p.valueEnd(n))
	if n.Atom != nil {
		raw := *n.Atom
		if raw[0] != '"' && raw[0] != '\'' {
			return &Value{Kind: KindString, Str: raw, Raw: raw, Number: true, Range: r}
		}
		str, probs := dequote(raw)
		for _, pr := range probs {
			p.escapeProblem(r, raw, pr)
		}
		return &Value{Kind: KindString, Str: str, Raw: raw, Range: r}
	}
	v := &Value{Kind: KindList, Range: r}
	if n.List != nil && len(n.List.Items) > 0 {
		v.Items = make([]*Value, len(n.List.Items))
		for i, it := range n.List.Items {
			v.Items[i] = p.value(it)
		}
	}
	return v
}

func (p *fileParser) escapeProblem(tok Range, raw string, pr escapeProblem) {
	r := tok
	r.Start.Byte += pr.Off
	r.Start.Column += pr.Off
	r.End = r.Start
	r.End.Byte += pr.Len
	r.End.Column += pr.Len
	text := raw[pr.Off : pr.Off+pr.Len]
	switch pr.Kind {
	case escUnknown:
		sev := DiagWarning
		if p.s.opts.Strict {
			sev = DiagError
		}
		p.diags = append(p.diags, &Diagnostic{Severity: sev,
			Summary: "unknown escape " + quoteText(text) + " in a string",
			Detail:  "xl would reject this: write " + quoteText(`\`+text) + " for a backslash followed by " + quoteText(text[1:]) + " (xfeat fmt does); xfeat keeps it as written",
			Subject: &r})
	case escHex:
		p.diags = append(p.diags, &Diagnostic{Severity: DiagError,
			Summary: "hexadecimal escape " + quoteText(text) + " in a string",
			Detail:  "xl cannot read \\x escapes (every one is rejected); write the character itself",
			Subject: &r})
	case escOctal:
		p.diags = append(p.diags, &Diagnostic{Severity: DiagError,
			Summary: "octal escape " + quoteText(text) + " in a string",
			Detail:  "xl cannot read octal escapes; write the character itself, or `\\\\` for a backslash",
			Subject: &r})
	case escDropped:
		p.diags = append(p.diags, &Diagnostic{Severity: DiagWarning,
			Summary: "escape " + quoteText(text) + " is dropped",
			Detail:  "xl deletes this octal-looking escape and the characters after it without a word; write the characters themselves",
			Subject: &r})
	}
}

// store applies libxlutil's xlu__cfg_set_store to one assignment.
func (p *fileParser) store(a *assignNode) {
	own := p.value(a.Value)
	end := p.valueEnd(a.Value)
	op := p.opPos(a)
	set := &Setting{
		Name:      a.Name,
		Op:        a.Op,
		Line:      a.Value.Pos.Line,
		Value:     own,
		NameRange: p.rangeOf(a.Pos, tokenEnd(a.Pos, a.Name)),
		OpRange:   p.rangeOf(op, tokenEnd(op, a.Op)),
		Range:     p.rangeOf(a.Pos, end),
		own:       own,
	}
	if set.Op == "+=" {
		if prev := p.last[set.Name]; prev != nil {
			pv := prev.Value
			if pv.Kind != own.Kind {
				p.diags = append(p.diags, &Diagnostic{Severity: DiagError,
					Summary: "can't add a " + own.Kind.String() + " to a " + pv.Kind.String() + " with +=",
					Detail:  fmt.Sprintf("%s was set to a %s on line %d; `+=` joins strings to strings and lists to lists", set.Name, pv.Kind, prev.Line),
					Subject: set.OpRange.Ptr()})
				return
			}
			if own.Kind == KindString {
				merged := &Value{Kind: KindString, Str: pv.Str + own.Str, Range: own.Range, parts: joinParts(pv, own)}
				set.Value = merged
			} else {
				items := make([]*Value, 0, len(pv.Items)+len(own.Items))
				items = append(append(items, pv.Items...), own.Items...)
				set.Value = &Value{Kind: KindList, Items: items, Range: own.Range}
				// libxlutil moves the items: the earlier setting keeps an
				// empty list.
				prev.Value = &Value{Kind: KindList, Range: pv.Range}
			}
		}
	}
	p.last[set.Name] = set
	p.settings = append(p.settings, set)
}

// joinParts returns the parts of pv joined with own by `+=`.
func joinParts(pv, own *Value) *[]*Value {
	if pv.parts == nil {
		// The first join: one allocation for the pair and its slice.
		box := &struct {
			list []*Value
			two  [2]*Value
		}{two: [2]*Value{pv, own}}
		box.list = box.two[:]
		return &box.list
	}
	parts := append(append(make([]*Value, 0, len(*pv.parts)+1), *pv.parts...), own)
	return &parts
}

func partsOf(v *Value) []*Value {
	if v.parts != nil {
		return *v.parts
	}
	return []*Value{v}
}
