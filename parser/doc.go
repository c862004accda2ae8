// Package parser reads and writes xl.cfg files exactly as Xen's libxlutil reads
// them: the same tokens, grammar, escapes, `+=` semantics and accept/reject
// decisions, with a position on every node and every error of a file reported
// as a Diagnostic. Its writer is lossless: a file parsed and written without
// edits comes back byte for byte, and edits keep comments and layout.
//
// Device specs (vif, disk) and feature requests are parsed by the devspec
// subpackage.
//
// # Reading
//
//	f, diags := parser.ParseFile("/etc/xen/guest.cfg", parser.Options{})
//	diags.Fprint(os.Stderr, src, color) // every error and warning, with snippets
//	if f == nil { ... }                 // rejected: diags.HasErrors()
//	vif := f.Lookup("vif")              // the setting xl uses (last wins)
//	for i, spec := range vif.Value.Strings() { ... }
//
// Settings returns every assignment in file order with the value libxlutil
// stores for it: numbers as their source text, strings after escape
// processing, `+=` joined with the earlier value (and, as in libxlutil, a list
// that a later `+=` extended left empty). Setting.Line is libxlutil's recorded
// line, that of the value's first token.
//
// # Positions
//
// Every Setting has the Range of its name, operator and whole assignment, and
// every Value (each list item too) the Range of its source text: a string's
// from its opening quote to after its closing one. To point into a string
// (a field of a vif spec, say), map an offset in the dequoted Value.Str back
// to the source with Value.PosOf(i) or Value.RangeOf(i, j): they account for
// the quote and for every escape (`\\` is two source bytes for one), and for
// a string joined by `+=` they find the part the offset falls in.
//
// # Compatibility
//
// The scanner is hand-written (a participle lexer.Definition) because
// libxlutil's flex scanner has states a regular-expression lexer cannot
// express; the grammar is participle's, one statement at a time, recovering at
// the next newline after an error like bison's `error NEWLINE` rule.
//
// A file without a single diagnostic, the usual case, is read by a
// hand-written fast path instead (fastparse.go: one scan and a fixed number
// of allocations, so that it keeps up with libxlutil; see make
// bench-parser). It builds the identical File and gives up at the first
// error or leniency, so every diagnostic still comes from the participle
// grammar, the reference. Tests and a fuzzer hold the two paths to the same
// result.
//
// The scanner and the grammar follow libxlutil 4.17 bug for bug where it
// matters for what is accepted: identifiers are [a-z][._0-9a-z]*, numbers
// [0-9][0-9a-fx]* and never validated, CR is not a blank, a comment must end
// in a newline, `\x` escapes always fail, `\0`..`\7` escapes with two more
// characters vanish, a bad character as the very last byte is ignored, `+=`
// between a string and a list fails. tests/cfgcompat checks all of it against
// the real library.
//
// Three things libxlutil rejects are accepted with a warning whose detail
// says "xl would reject this" and how to write it: an unknown escape such as
// `\;` (kept as written, backslash included), CRLF line ends, and a comment
// on the last line without a newline. Options.Strict makes them errors, so
// that a strict parse accepts exactly what xl accepts.
//
// # Writing
//
// File.Bytes is the source with edits applied. Set, AppendItem, Remove and
// ReplaceListItem rewrite only the bytes of what they change and parse the
// result again, so positions stay right and a failed edit changes nothing.
// Format renders the canonical style (see format.go): it changes layout,
// quoting and escapes only, xl reads the same settings from its output, and it
// is idempotent.
package parser
