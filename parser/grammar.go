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
// Runs of NEWLINEs arrive as one Newline token (see xlLexer), so every `nlok`
// is `Newline?`. The file is parsed one statement at a time by parseStmts,
// which provides bison's `error NEWLINE` recovery and the rule that the last
// assignment may end at EOF without a terminator.

type stmtNode struct {
	Assign *assignNode `parser:"(  @@"`
	Term   string      `parser:"   @( Newline | \";\" )?"`
	Empty  string      `parser:") | @( Newline | \";\" )"`
}

type assignNode struct {
	Pos   lexer.Position
	Name  identNode  `parser:"@@"`
	Op    opNode     `parser:"@@"`
	Value *valueNode `parser:"@@"`
}

type identNode struct {
	Pos  lexer.Position
	Name string `parser:"@Ident"`
}

type opNode struct {
	Pos lexer.Position
	Op  string `parser:"@( \"=\" | \"+=\" )"`
}

type valueNode struct {
	Pos    lexer.Position
	String *string   `parser:"(  @String"`
	Number *string   `parser:" | @Number"`
	List   *listNode `parser:" | @@ )"`
}

type listNode struct {
	Items []*valueNode `parser:"\"[\" Newline? ( @@ Newline? ( \",\" Newline? @@ Newline? )* ( \",\" Newline? )? )?"`
	Close closeNode    `parser:"@@"`
}

// closeNode is the `]` of a list, captured for its position. (participle's
// EndPos is the start of the next token, blanks included, so ends are
// computed from the last token instead.)
type closeNode struct {
	Pos     lexer.Position
	Bracket string `parser:"@\"]\""`
}

// stmtParser is built once: participle's grammar construction uses
// reflection and is far costlier than parsing a statement. The lookahead of
// 3 lets `( "," Newline? @@ )*` back out of a trailing comma.
var stmtParser = participle.MustBuild[stmtNode](
	participle.Lexer(xlLexer{}),
	participle.UseLookahead(3),
)
