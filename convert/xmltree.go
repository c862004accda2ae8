package convert

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/xfeat/xfeat/parser"
)

// node is an XML element as read (with its position and what the reader
// used of it) or as written. Reading and writing share it so that the
// reader can report every element and attribute it did not use.
type node struct {
	space, name string // namespace URI (after xmlns resolution) and local name
	attrs       []attr
	kids        []*node
	text        string // character data directly inside, concatenated
	at          parser.Range
	used        bool
	// nsDecl, for writing: an xmlns:PREFIX=URI declaration on this element,
	// and the prefix its own name and its descendants' names carry.
	prefix, nsDecl string
}

type attr struct {
	space, name, value string
	used               bool
}

// el makes an element for writing with attributes given as name, value
// pairs; an attribute whose value is "" is left out.
func el(name string, kv ...string) *node {
	n := &node{name: name}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			n.attrs = append(n.attrs, attr{name: kv[i], value: kv[i+1]})
		}
	}
	return n
}

// add appends children (nil ones are skipped) and returns n.
func (n *node) add(kids ...*node) *node {
	for _, k := range kids {
		if k != nil {
			n.kids = append(n.kids, k)
		}
	}
	return n
}

// withText sets n's character data and returns n.
func (n *node) withText(s string) *node { n.text = s; return n }

// attr returns the value of the attribute name (no namespace) and marks it
// used.
func (n *node) attr(name string) (string, bool) {
	for i := range n.attrs {
		if n.attrs[i].name == name && n.attrs[i].space == "" {
			n.attrs[i].used = true
			return n.attrs[i].value, true
		}
	}
	return "", false
}

// children returns n's children named name in the same namespace as space
// ("" for libvirt's own elements), marking them used.
func (n *node) children(space, name string) []*node {
	var out []*node
	for _, k := range n.kids {
		if k.name == name && k.space == space {
			k.used = true
			out = append(out, k)
		}
	}
	return out
}

// child returns the first child named name (libvirt's namespace), marking it
// used; nil if there is none.
func (n *node) child(name string) *node {
	for _, k := range n.kids {
		if k.name == name && k.space == "" {
			k.used = true
			return k
		}
	}
	return nil
}

// maxDepth bounds element nesting in what is read: a domain nests six
// levels; a hostile file is refused before it costs anything.
const maxDepth = 64

// parseXML reads src into a tree. Positions are FILE:LINE:COL of each
// element's '<'. Only well-formed XML without a DOCTYPE is accepted.
func parseXML(filename string, src []byte) (*node, error) {
	if !utf8.Valid(src) {
		return nil, fmt.Errorf("%s: not UTF-8", filename)
	}
	lines := lineStarts(src)
	pos := func(off int64) parser.Range {
		p := posAt(lines, int(off))
		return parser.Range{Filename: filename, Start: p, End: p}
	}
	d := xml.NewDecoder(bytes.NewReader(src))
	d.Strict = true
	var root *node
	var stack []*node
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, fmt.Errorf("%s:%d: %s", filename, se.Line, se.Msg)
			}
			return nil, fmt.Errorf("%s: %v", filename, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= maxDepth {
				return nil, fmt.Errorf("%s: elements nested more than %d deep", pos(off), maxDepth)
			}
			n := &node{space: t.Name.Space, name: t.Name.Local, at: pos(off)}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
					continue // namespace declarations are resolved by the decoder
				}
				n.attrs = append(n.attrs, attr{space: a.Name.Space, name: a.Name.Local, value: a.Value})
			}
			if len(stack) == 0 {
				if root != nil {
					return nil, fmt.Errorf("%s: a second root element <%s>", pos(off), t.Name.Local)
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			}
		case xml.Directive:
			return nil, fmt.Errorf("%s: <!%s> is not accepted in a domain description", pos(off), firstWord(string(t)))
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%s: no XML element", filename)
	}
	return root, nil
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t\n"); i >= 0 {
		return s[:i]
	}
	return s
}

func lineStarts(src []byte) []int {
	starts := []int{0}
	for i, c := range src {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

func posAt(starts []int, off int) parser.Pos {
	i := sort.Search(len(starts), func(i int) bool { return starts[i] > off }) - 1
	if i < 0 {
		i = 0
	}
	return parser.Pos{Line: i + 1, Column: off - starts[i] + 1, Byte: off}
}

// unused lists, in document order, every element and attribute of the tree
// under n that the reader did not use (an unused element is reported
// alone, not its contents). Text with anything but blanks inside an element
// that has children counts as unused too.
func (n *node) unused(visit func(at parser.Range, what string)) {
	for _, a := range n.attrs {
		if !a.used {
			visit(n.at, fmt.Sprintf("attribute %s of <%s>", qname(a.space, a.name), n.name))
		}
	}
	for _, k := range n.kids {
		if !k.used {
			what := "<" + qname(k.space, k.name)
			for _, a := range k.attrs {
				if a.name == "type" && a.space == "" {
					what += " type='" + a.value + "'"
				}
			}
			visit(k.at, what+">")
			continue
		}
		k.unused(visit)
	}
}

func qname(space, name string) string {
	switch space {
	case "":
		return name
	case Namespace:
		return "xfeat:" + name
	}
	return "{" + space + "}" + name
}

// xmlText reports whether s can be written in XML 1.0 at all: valid UTF-8
// made of XML's Char production (no C0 control but tab, newline and CR).
func xmlText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
		case r < 0x20, r == 0xFFFE, r == 0xFFFF:
			return false
		case r >= 0xD800 && r <= 0xDFFF:
			return false
		}
	}
	return true
}

// write renders n as libvirt formats its XML: two-space indentation,
// attributes in single quotes, an element with neither text nor children
// self-closed.
func (n *node) write(b *strings.Builder, indent string, prefix string) {
	if n.prefix != "" {
		prefix = n.prefix
	}
	name := n.name
	if n.space == Namespace {
		name = prefix + ":" + n.name
	}
	b.WriteString(indent)
	b.WriteString("<" + name)
	if n.nsDecl != "" {
		b.WriteString(" xmlns:" + prefix + "='")
		escapeAttr(b, n.nsDecl)
		b.WriteString("'")
	}
	for _, a := range n.attrs {
		b.WriteString(" " + a.name + "='")
		escapeAttr(b, a.value)
		b.WriteString("'")
	}
	switch {
	case len(n.kids) == 0 && n.text == "":
		b.WriteString("/>\n")
	case len(n.kids) == 0:
		b.WriteString(">")
		escapeText(b, n.text)
		b.WriteString("</" + name + ">\n")
	default:
		b.WriteString(">\n")
		for _, k := range n.kids {
			k.write(b, indent+"  ", prefix)
		}
		b.WriteString(indent + "</" + name + ">\n")
	}
}

func escapeText(b *strings.Builder, s string) {
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\r':
			b.WriteString("&#13;") // a literal CR would be read as a newline
		default:
			b.WriteRune(r)
		}
	}
}

func escapeAttr(b *strings.Builder, s string) {
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\'':
			b.WriteString("&apos;")
		case '"':
			b.WriteString("&quot;")
		case '\t', '\n', '\r':
			// Literal blanks in an attribute are normalised to spaces by
			// every XML reader; a character reference survives.
			fmt.Fprintf(b, "&#%d;", r)
		default:
			b.WriteRune(r)
		}
	}
}
