// Package parser reads and writes xl.cfg files exactly as Xen's libxlutil reads
// them: the same tokens, grammar, escapes, `+=` semantics and accept/reject
// decisions, with a position on every node and every error of a file reported
// as a Diagnostic. Its writer is lossless: a file parsed and written without
// edits comes back byte for byte, and edits keep comments and layout.
//
// Device specs (vif, disk) and feature requests are parsed by the devspec
// subpackage.
package parser
