package parser

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/alecthomas/participle/v2/lexer"
)

// Token types produced by the xl.cfg lexer. The values are participle token
// types; lexer.EOF (-1) ends the stream.
const (
	tokIdent lexer.TokenType = iota + 1
	tokNumber
	tokString
	tokPunct   // = += ; [ ] ,
	tokNewline // a run of NEWLINE tokens (newlines and comments, with the blanks between)
	tokListNewline
)

func tokenSymbols() map[string]lexer.TokenType {
	return map[string]lexer.TokenType{
		"EOF":         lexer.EOF,
		"Ident":       tokIdent,
		"Number":      tokNumber,
		"String":      tokString,
		"Punct":       tokPunct,
		"Newline":     tokNewline,
		"ListNewline": tokListNewline,
	}
}

// xlLexer is the participle lexer.Definition for xl.cfg. It is hand-written
// because libxlutil's flex scanner has states participle's regexp lexers
// cannot express: after a bad character it swallows the rest of the word as
// one "lexical error", a bad character that is the very last byte of the input
// is silently ignored, and a comment is only a comment when it ends in a
// newline.
//
// It folds every run of NEWLINE tokens (newlines and comments, and the blanks
// between them) into one Newline token: the grammar only ever accepts "any
// number of NEWLINEs" (nlok, or a series of empty statements), and folding
// keeps participle's lookahead bounded. A run inside a matched pair of
// brackets becomes a ListNewline token, which the grammar elides.
type xlLexer struct{}

var _ lexer.BytesDefinition = xlLexer{}

func (xlLexer) Symbols() map[string]lexer.TokenType { return tokenSymbols() }

func (d xlLexer) Lex(filename string, r io.Reader) (lexer.Lexer, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return d.LexBytes(filename, src)
}

func (xlLexer) LexBytes(filename string, src []byte) (lexer.Lexer, error) {
	s := scan(filename, src, Options{})
	if s.diags.HasErrors() {
		return nil, s.diags.Errs()[0]
	}
	return &sliceLexer{toks: s.toks}, nil
}

// sliceLexer replays pre-scanned tokens to participle.
type sliceLexer struct {
	toks []lexer.Token
	i    int
}

func (l *sliceLexer) Next() (lexer.Token, error) {
	if l.i >= len(l.toks) {
		return l.toks[len(l.toks)-1], nil // EOF, repeated
	}
	t := l.toks[l.i]
	l.i++
	return t, nil
}

// scanner turns xl.cfg source into tokens for the grammar plus the lexical
// diagnostics.
type scanner struct {
	filename string
	src      []byte
	str      string // src as a string: token values are substrings of it
	opts     Options
	toks     []lexer.Token
	diags    Diagnostics
	line     int // 1-based line of offset lineAt
	lineAt   int // byte offset of the start of the current line
	lastNL   int // index in toks of the last token when it is a Newline run, else -1
	// lexErrLine: the last line that had a lexical error; a syntax error
	// reported on it would only repeat the same problem (libxlutil
	// suppresses those as well).
	lexErrLine int
	// strayAt is the offset of a bad last byte libxlutil ignores, or -1.
	strayAt int
	// closeOf maps the offset of each `[` to that of its `]`; opens is the
	// stack of unclosed `[` offsets.
	closeOf map[int]int
	opens   []int
	depth   int   // deepest nesting seen
	deepAt  Range // the first `[` nested deeper than maxNesting
	crlfs   int   // CRLF line ends seen (a leniency), the first at crlfAt
	crlfAt  Range
}

func scan(filename string, src []byte, opts Options) *scanner {
	s := &scanner{filename: filename, src: src, str: string(src), opts: opts, line: 1, lastNL: -1, strayAt: -1}
	s.toks = make([]lexer.Token, 0, len(src)/4+1)
	s.run()
	return s
}

func (s *scanner) pos(off int) lexer.Position {
	return lexer.Position{Filename: s.filename, Offset: off, Line: s.line, Column: off - s.lineAt + 1}
}

// posOf converts a lexer position into a Pos.
func posOf(p lexer.Position) Pos { return Pos{Line: p.Line, Column: p.Column, Byte: p.Offset} }

func (s *scanner) rng(start, end int) Range {
	// start and end are on the current line.
	return Range{Filename: s.filename,
		Start: Pos{Line: s.line, Column: start - s.lineAt + 1, Byte: start},
		End:   Pos{Line: s.line, Column: end - s.lineAt + 1, Byte: end}}
}

func (s *scanner) emit(typ lexer.TokenType, start, end int) {
	s.toks = append(s.toks, lexer.Token{Type: typ, Value: s.str[start:end], Pos: s.pos(start)})
	s.lastNL = -1
}

// newline records a NEWLINE token spanning src[start:end] (which ends just
// after a '\n', or at EOF for a lenient last-line comment) and advances the
// line counter.
func (s *scanner) newline(start, end int) {
	if s.lastNL >= 0 {
		t := &s.toks[s.lastNL]
		t.Value = s.str[t.Pos.Offset:end]
	} else {
		s.toks = append(s.toks, lexer.Token{Type: tokNewline, Value: s.str[start:end], Pos: s.pos(start)})
		s.lastNL = len(s.toks) - 1
	}
	if end > 0 && s.src[end-1] == '\n' {
		s.line++
		s.lineAt = end
	}
}

func (s *scanner) errorf(sev Severity, r Range, summary, detail string) {
	s.diags = append(s.diags, &Diagnostic{Severity: sev, Summary: summary, Detail: detail, Subject: r.Ptr()})
}

// lenient records one of xfeat's deliberate leniencies: a warning, or an
// error with Options.Strict.
func (s *scanner) lenient(r Range, summary, detail string) {
	sev := DiagWarning
	if s.opts.Strict {
		sev = DiagError
	}
	s.errorf(sev, r, summary, detail)
}

func isIdentStart(c byte) bool { return c >= 'a' && c <= 'z' }
func isIdentChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_'
}
func isNumberChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == 'x'
}

func (s *scanner) run() {
	src := s.src
	n := len(src)
	i := 0
	for i < n {
		c := src[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '\n':
			s.newline(i, i+1)
			i++
		case c == '#':
			j := bytes.IndexByte(src[i:], '\n')
			if j < 0 && i+1 == n {
				// A lone `#` as the last byte: libxlutil ignores it (see
				// lexError), so it is not one of xfeat's leniencies.
				i = s.lexError(i)
				continue
			}
			if j < 0 {
				r := s.rng(i, n)
				s.lenient(r, "comment on the last line has no newline",
					"xl would reject this: end the file with a newline")
				s.newline(i, n)
				i = n
				continue
			}
			s.newline(i, i+j+1)
			i += j + 1
		case c == '\r' && i+1 < n && src[i+1] == '\n':
			// One diagnostic for the file, at the first CRLF: a Windows
			// file has one on every line.
			if s.crlfs == 0 {
				s.crlfAt = s.rng(i, i+1)
			}
			s.crlfs++
			s.newline(i, i+2)
			i += 2
		case isIdentStart(c):
			j := i + 1
			for j < n && isIdentChar(src[j]) {
				j++
			}
			s.emit(tokIdent, i, j)
			i = j
		case c >= '0' && c <= '9':
			j := i + 1
			for j < n && isNumberChar(src[j]) {
				j++
			}
			s.emit(tokNumber, i, j)
			i = j
		case c == ',' || c == '=' || c == ';':
			s.emit(tokPunct, i, i+1)
			i++
		case c == '[':
			s.opens = append(s.opens, i)
			if len(s.opens) > s.depth {
				s.depth = len(s.opens)
				if s.depth == maxNesting+1 {
					s.deepAt = s.rng(i, i+1)
				}
			}
			s.emit(tokPunct, i, i+1)
			i++
		case c == ']':
			if k := len(s.opens); k > 0 {
				if s.closeOf == nil {
					s.closeOf = map[int]int{}
				}
				s.closeOf[s.opens[k-1]] = i
				s.opens = s.opens[:k-1]
			}
			s.emit(tokPunct, i, i+1)
			i++
		case c == '+' && i+1 < n && src[i+1] == '=':
			s.emit(tokPunct, i, i+2)
			i += 2
		case c == '"' || c == '\'':
			if j, ok := s.stringEnd(i); ok {
				s.emit(tokString, i, j)
				i = j
				continue
			}
			i = s.lexError(i)
		default:
			i = s.lexError(i)
		}
	}
	s.toks = append(s.toks, lexer.EOFToken(s.pos(n)))
	if s.crlfs > 0 {
		summary := "carriage return before newline (CRLF line end)"
		if s.crlfs > 1 {
			summary = fmt.Sprintf("CRLF line ends (%d lines)", s.crlfs)
		}
		s.lenient(s.crlfAt, summary, "xl would reject this: save the file with LF line ends (xfeat fmt does)")
	}
	if s.closeOf != nil {
		s.markListNewlines()
	}
}

// markListNewlines retypes the Newline runs inside matched brackets as
// ListNewline. Only matched pairs count, so that an unclosed `[` does not
// swallow the statement ends after it (which error recovery needs).
func (s *scanner) markListNewlines() {
	depth := 0
	var closes []int // offsets of the `]` that end the open matched lists
	for i := range s.toks {
		t := &s.toks[i]
		switch {
		case t.Type == tokPunct && t.Value == "[":
			if c, ok := s.closeOf[t.Pos.Offset]; ok {
				closes = append(closes, c)
				depth++
			}
		case t.Type == tokPunct && t.Value == "]":
			if depth > 0 && closes[depth-1] == t.Pos.Offset {
				closes = closes[:depth-1]
				depth--
			}
		case t.Type == tokNewline && depth > 0:
			t.Type = tokListNewline
		}
	}
}

// stringEnd returns the end of the quoted string starting at src[i], if the
// text from i is a complete STRING token: no raw newline, a backslash escapes
// any other character.
func (s *scanner) stringEnd(i int) (int, bool) {
	src := s.src
	q := src[i]
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case q:
			return j + 1, true
		case '\n':
			return 0, false
		case '\\':
			if j+1 >= len(src) || src[j+1] == '\n' {
				return 0, false
			}
			j++
			if src[j] == 0 {
				s.errorf(DiagError, s.rng(j, j+1), "NUL byte in a string", "xl.cfg is a text file")
			}
		case 0:
			// libxlutil truncates the string at a NUL byte (or fails an
			// assertion): no value can hold one.
			s.errorf(DiagError, s.rng(j, j+1), "NUL byte in a string", "xl.cfg is a text file")
		}
	}
	return 0, false
}

// lexError handles a character no token starts with, at src[i], the way
// libxlutil's scanner does, and returns where scanning resumes. The bad text
// runs to the next blank or newline and is one error. A bad character that is
// the last byte of the input is ignored by libxlutil (its scanner reaches EOF
// before it reports): xfeat accepts that too, with a warning.
func (s *scanner) lexError(i int) int {
	src := s.src
	n := len(src)
	if i+1 == n {
		s.errorf(DiagWarning, s.rng(i, n), "stray "+quoteText(string(src[i:]))+" at the end of the file is ignored",
			"xl ignores it too; delete it")
		s.strayAt = i
		return n
	}
	j := i + 1
	switch src[j] {
	case ' ', '\t':
		j++
	case '\n':
	default:
		for j < n && src[j] != ' ' && src[j] != '\t' && src[j] != '\n' {
			j++
		}
	}
	text := strings.TrimRight(string(src[i:j]), " \t")
	detail := ""
	switch c := src[i]; {
	case c == '\r':
		detail = "a carriage return is only allowed right before a newline (and xl rejects even that)"
	case c >= 'A' && c <= 'Z':
		detail = "names are lower case; values other than numbers must be quoted"
	case c == '-' || c == '+' || c == '.' || c == '(' || c == ')' || c == ':':
		detail = "this looks like Python, which xl.cfg no longer supports; quote the value"
	case c == '"' || c == '\'':
		detail = "unterminated string: close the quote on the same line"
	case c == '_':
		detail = "names start with a lower-case letter"
	default:
		detail = "quote the value"
	}
	s.errorf(DiagError, s.rng(i, i+len(text)), "unexpected "+quoteText(text), detail)
	s.lexErrLine = s.line
	return j
}

// quoteText renders source text for a message: in backquotes, with control
// characters made visible.
func quoteText(t string) string {
	var b strings.Builder
	b.WriteByte('`')
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&15])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('`')
	return b.String()
}
