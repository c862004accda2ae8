package parser

import (
	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// The participle grammar of one xl.cfg statement, after libxlutil's bison
// grammar (libxlu_cfg_y.y):
//
//	stmt       : assignment endstmt | endstmt | error NEWLINE
//	assignment : IDENT '=' value | IDENT "+=" value
//	endstmt    : NEWLINE | ';'
//	value      : atom | '[' nlok valuelist ']'
//	valuelist  : /*empty*/ | values | values ',' nlok
//	values     : value nlok | values ',' nlok value nlok
//
// Runs of NEWLINEs arrive as one Newline token (see xlLexer); inside a list
// they are elided ListNewline tokens, so `nlok` disappears. parseStmts parses
// the whole file with fileGrammar; when that fails it parses it again one
// statement at a time with stmtParser, which gives bison's `error NEWLINE`
// recovery. Both check the rule that only the last assignment may end at EOF
// without a terminator.

type stmtNode struct {
	Assign *assignNode `parser:"(  @@"`
	Term   string      `parser:"   @( Newline | \";\" )?"`
	Empty  string      `parser:") | @( Newline | \";\" )"`
}

type assignNode struct {
	Pos   lexer.Position // of the name
	Name  string         `parser:"@Ident"`
	Op    string         `parser:"@( \"=\" | \"+=\" )"`
	Value *valueNode     `parser:"@@"`
}

type valueNode struct {
	Pos  lexer.Position
	Atom *string   `parser:"(  @( String | Number )"` // a STRING starts with its quote
	List *listNode `parser:" | @@ )"`
}

// listNode is a list. Newlines inside a list are ListNewline tokens, which
// the grammar never sees (elided): libxlutil allows them between any two
// tokens of a list (nlok after `[`, each value and each `,`), so eliding
// them is exact. Every node is costly in participle (reflection and a
// deferred capture each), so the grammar has as few as the tree needs: the
// positions of the operator and of the closing `]` are found from the
// scanner's tokens instead (participle's EndPos would be the start of the
// next token, blanks included, anyway).
type listNode struct {
	Items []*valueNode `parser:"\"[\" ( @@ ( \",\" @@ )* \",\"? )? \"]\""`
}

// fileNode is a whole file, for parseStmts' first attempt.
type fileNode struct {
	Stmts []*stmtNode `parser:"@@*"`
}

var fileGrammar = participle.MustBuild[fileNode](
	participle.Lexer(xlLexer{}),
	participle.UseLookahead(2),
	participle.Elide("ListNewline"),
)

// stmtParser is built once: participle's grammar construction uses
// reflection and is far costlier than parsing a statement. The lookahead of
// 2 lets `( "," @@ )*` back out of a trailing comma.
var stmtParser = participle.MustBuild[stmtNode](
	participle.Lexer(xlLexer{}),
	participle.UseLookahead(2),
	participle.Elide("ListNewline"),
)
