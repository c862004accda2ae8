package parser

import "strings"

// escapeKind classifies the escape at raw[j] (a backslash inside a STRING
// token).
type escapeKind int

const (
	escSimple  escapeKind = iota // \" \' \\ \a \b \f \n \r \t \v
	escDropped                   // \0-\7 followed by a number: libxlutil emits nothing
	escHex                       // \x: always rejected by libxlutil
	escOctal                     // \0-\7 without enough digits after it: rejected
	escUnknown                   // any other: rejected by xl, kept as written by xfeat
)

var simpleEscapes = [256]byte{'"': '"', '\'': '\'', '\\': '\\', 'a': 7, 'b': 8, 'f': 12, 'n': '\n', 'r': '\r', 't': '\t', 'v': 11}

// classifyEscape returns the kind of the escape at raw[j] and how many raw
// bytes it spans. raw is the whole token, quotes included; the lexer
// guarantees that a backslash inside it is followed by a character other than
// a newline, before the closing quote.
//
// It follows libxlutil's xlu__cfgl_dequote, bugs included:
//   - `\x` always fails (it skips one character too many, and its length
//     check can never pass);
//   - `\0`..`\7` takes up to the 3 characters after the digit and reads them
//     as a decimal number (strtoul: blanks, a sign, digits); when that
//     consumed at least 2 characters, the whole escape is dropped without
//     output, otherwise it is an error.
func classifyEscape(raw string, j int) (escapeKind, int) {
	nc := raw[j+1]
	if simpleEscapes[nc] != 0 {
		return escSimple, 2
	}
	switch {
	case nc == 'x':
		return escHex, 2
	case nc >= '0' && nc <= '7':
		end := j + 5
		if end > len(raw) {
			end = len(raw)
		}
		used := strtoulUsed(raw[j+2 : end])
		if used <= 1 {
			return escOctal, 2
		}
		return escDropped, 2 + used
	}
	return escUnknown, 2
}

// strtoulUsed returns how many bytes C's strtoul(s, &ep, 10) consumes: 0
// when it finds no digits.
func strtoulUsed(s string) int {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] >= '\t' && s[i] <= '\r') {
		i++
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	d := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == d {
		return 0
	}
	return i
}

// escapeWidth returns how many bytes of output the escape at raw[j] produces
// and how many raw bytes it spans (with xfeat's leniency for unknown
// escapes, kept as written).
func escapeWidth(raw string, j int) (out, width int) {
	kind, w := classifyEscape(raw, j)
	switch kind {
	case escSimple:
		return 1, w
	case escUnknown:
		return 2, w
	}
	return 0, w
}

// escapeProblem is a diagnostic about an escape at raw offset Off.
type escapeProblem struct {
	Off, Len int
	Kind     escapeKind
}

// dequote processes a STRING token (quotes included) as libxlutil does. An
// unknown escape is kept as written (both bytes) and reported; `\x` and bad
// octal escapes are reported and produce nothing.
func dequote(raw string) (string, []escapeProblem) {
	body := raw[1 : len(raw)-1]
	if strings.IndexByte(body, '\\') < 0 {
		return body, nil
	}
	var b strings.Builder
	b.Grow(len(body))
	var probs []escapeProblem
	end := len(raw) - 1
	for j := 1; j < end; {
		c := raw[j]
		if c != '\\' {
			b.WriteByte(c)
			j++
			continue
		}
		kind, w := classifyEscape(raw, j)
		switch kind {
		case escSimple:
			b.WriteByte(simpleEscapes[raw[j+1]])
		case escUnknown:
			b.WriteString(raw[j : j+2])
			probs = append(probs, escapeProblem{Off: j, Len: w, Kind: kind})
		default:
			probs = append(probs, escapeProblem{Off: j, Len: w, Kind: kind})
		}
		j += w
	}
	return b.String(), probs
}

// quoteString renders s as a double-quoted xl.cfg string that libxlutil
// reads back as s: backslash, double quote and control characters that have
// a named escape are escaped (a newline must be, a raw one ends the token);
// every other byte is written as is (libxlutil strings are 8-bit clean).
func quoteString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case 7:
			b.WriteString(`\a`)
		case 8:
			b.WriteString(`\b`)
		case 11:
			b.WriteString(`\v`)
		case 12:
			b.WriteString(`\f`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// isNumberToken reports whether s lexes as one libxlutil NUMBER token.
func isNumberToken(s string) bool {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isNumberChar(s[i]) {
			return false
		}
	}
	return true
}
