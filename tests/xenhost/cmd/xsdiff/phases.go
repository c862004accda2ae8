package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// isErr: the outcome is an error reply (or no reply at all).
func isErr(o outcome) bool { return o.fate != "" || o.reply.Type == tError }

// quotas walks guest pair p up to each of its quotas, the requests either
// side of each limit compared like any other.
func (g *gen) quotas(p *pair) {
	mode := "quota"
	q := scratchRelG + "/q"
	// Nodes a domain owns (C: 1000).
	bothFailed := 0
	for i := 0; i < 1200 && bothFailed < 3 && !p.dead; i++ {
		// 100 to a parent: its child list stays below the node size.
		c, o := g.one(mode, p, request{typ: tWrite, tx: -1, payload: []byte(fmt.Sprintf("%s/p%d/n%d\x00x", q, i/100, i))})
		if isErr(c) && isErr(o) {
			bothFailed++
		}
	}
	g.one(mode, p, request{typ: tRm, tx: -1, payload: strs(q)})

	// Watches (C: 128).
	bothFailed = 0
	for i := 0; i < 140 && bothFailed < 3 && !p.dead; i++ {
		c, o := g.one(mode, p, request{typ: tWatch, tx: -1, payload: strs(fmt.Sprintf("%s/w%d", scratchRelG, i), "q")})
		if isErr(c) && isErr(o) {
			bothFailed++
		}
	}
	g.one(mode, p, request{typ: tResetWatch, tx: -1})

	// Open transactions (C: 10).
	for i := 0; i < 12 && !p.dead; i++ {
		g.one(mode, p, request{typ: tTxStart, tx: -1, payload: strs("")})
	}
	for len(p.tx) > 0 && !p.dead {
		g.one(mode, p, request{typ: tTxEnd, tx: 0, payload: strs("F")})
	}

	// A node's size (C: 2048 bytes with its permissions and children).
	big := scratchRelG + "/big"
	for l := 1980; l <= 2060 && !p.dead; l++ {
		g.one(mode, p, request{typ: tWrite, tx: -1, payload: append([]byte(big+"\x00"), strings.Repeat("s", l)...)})
	}
	g.one(mode, p, request{typ: tWrite, tx: -1, payload: []byte(big + "\x00small")})
	// Entries in a permission list (C: 5).
	self := "b" + strconv.FormatUint(uint64(p.domid), 10)
	for k := 1; k <= 8 && !p.dead; k++ {
		ps := []string{self}
		for j := 1; j < k; j++ {
			ps = append(ps, "r0")
		}
		g.one(mode, p, request{typ: tSetPerms, tx: -1, payload: strs(append([]string{big}, ps...)...)})
	}
	// Path length below the domain's home (C: 2048), relative and absolute.
	for l := 2040; l <= 2052 && !p.dead; l++ {
		rel := scratchRelG + "/" + strings.Repeat("p", l-len(scratchRelG)-1)
		g.one(mode, p, request{typ: tWrite, tx: -1, payload: strs(rel)})
		g.one(mode, p, request{typ: tRead, tx: -1, payload: strs(guestHome(p.domid) + "/" + rel)})
	}
	// A value as large as a payload can carry: beyond the node size quota.
	g.one(mode, p, request{typ: tWrite, tx: -1, payload: append([]byte(big+"\x00"), strings.Repeat("m", payloadMax-len(big)-1)...)})
	g.one(mode, p, request{typ: tRm, tx: -1, payload: strs(big)})
	for l := 2040; l <= 2052; l++ {
		g.one(mode, p, request{typ: tRm, tx: -1, payload: strs(scratchRelG + "/" + strings.Repeat("p", l-len(scratchRelG)-1))})
	}
}

// limits sends dom0 pair p the protocol's own limits: path lengths at the
// maximum, and messages longer than a payload may be (each daemon closes
// the connection; the driver reconnects).
func (g *gen) limits(p *pair) {
	mode := "limits"
	// C limits every connection's paths to 2048 bytes (below
	// /local/domain/<id>/), and any path to 3072.
	for _, l := range []int{2046, 2047, 2048, 2049, 2050, absPathMax - 1, absPathMax, absPathMax + 1} {
		for _, prefix := range []string{scratch0 + "/", guestHome(0) + "/" + scratchRel0 + "/", "@"} {
			n := l - len(prefix)
			if strings.HasPrefix(prefix, "/local/domain/") {
				n += len(guestHome(0)) + 1 // measured below the home
			}
			path := prefix + strings.Repeat("l", n)
			if prefix == "@" {
				g.one(mode, p, request{typ: tWatch, tx: -1, payload: strs(path, "l")})
				g.one(mode, p, request{typ: tUnwatch, tx: -1, payload: strs(path, "l")})
				continue
			}
			g.one(mode, p, request{typ: tWrite, tx: -1, payload: strs(path)})
			g.one(mode, p, request{typ: tRead, tx: -1, payload: strs(path)})
			g.one(mode, p, request{typ: tRm, tx: -1, payload: strs(path)})
		}
	}
	g.one(mode, p, request{typ: tWrite, tx: -1, payload: append([]byte(scratch0+"/max\x00"), strings.Repeat("m", payloadMax-len(scratch0)-5)...)})
	g.one(mode, p, request{typ: tRead, tx: -1, payload: strs(scratch0 + "/max")})
	over := append([]byte(scratch0+"/over\x00"), strings.Repeat("o", payloadMax)...)
	g.one(mode, p, request{typ: tWrite, tx: -1, payload: over})
	// A header announcing more than it carries, after which the daemon
	// waits for the rest: the driver sends nothing more and reconnects.
	g.one(mode, p, request{typ: tWrite, tx: -1, payload: strs(scratch0 + "/short"), hdrLen: ptr(uint32(payloadMax + 1))})
	g.one(mode, p, request{typ: tRead, tx: -1, payload: strs(scratch0 + "/max")})
}

func ptr[T any](v T) *T { return &v }

// cleanup removes the scratch subtrees (compared too).
func (g *gen) cleanup(p *pair) {
	mode := "cleanup"
	g.one(mode, p, request{typ: tRm, tx: -1, payload: strs(scratch0)})
	g.one(mode, p, request{typ: tRm, tx: -1, payload: strs(scratchRel0)})
	for _, gid := range g.guests {
		g.one(mode, p, request{typ: tRm, tx: -1, payload: strs(guestScratch(gid))})
	}
	g.one(mode, p, request{typ: tResetWatch, tx: -1})
}

// transactions runs hand-written sequences in which another connection
// changes what an open transaction holds, on dom0 pairs a and b: what
// the transaction then reads, lists and removes, and its commit. Random
// sequences rarely meet these.
func (g *gen) transactions(a, b *pair) error {
	if a.name != "dom0a" || b.name != "dom0b" {
		return fmt.Errorf("transactions: want pairs dom0a and dom0b, got %s and %s", a.name, b.name)
	}
	for len(a.tx) > 0 && !a.dead {
		g.one("transactions", a, request{typ: tTxEnd, tx: 0, payload: strs("F")})
	}
	return g.script("transactions", strings.NewReader(txScript), io.Discard)
}

// txScript: each transaction is index 0, the only one open on dom0a.
const txScript = `
# A node read in the transaction, then written outside: the transaction
# keeps what it read; a node it had not read is read from the store.
dom0a WRITE - "/xsdiff-tx/t/x\x00a"
dom0a TRANSACTION_START - "\x00"
dom0a READ 0 "/xsdiff-tx/t/x\x00"
dom0b WRITE - "/xsdiff-tx/t/x\x00b"
dom0a READ 0 "/xsdiff-tx/t/x\x00"
dom0a DIRECTORY 0 "/xsdiff-tx/t\x00"
dom0b WRITE - "/xsdiff-tx/t/new\x00n"
dom0a DIRECTORY 0 "/xsdiff-tx/t\x00"
dom0a READ 0 "/xsdiff-tx/t/new\x00"
dom0a TRANSACTION_END 0 "T\x00"
# RM of a node the transaction wrote, its parent removed outside.
dom0a WRITE - "/xsdiff-tx/r/p/b\x00v"
dom0a TRANSACTION_START - "\x00"
dom0a WRITE 0 "/xsdiff-tx/r/p/b\x00w"
dom0b RM - "/xsdiff-tx/r/p\x00"
dom0a RM 0 "/xsdiff-tx/r/p/b\x00"
dom0a TRANSACTION_END 0 "T\x00"
# RM of a subtree whose child, read in the transaction, was removed outside.
dom0a WRITE - "/xsdiff-tx/s/a/x\x00v"
dom0a TRANSACTION_START - "\x00"
dom0a READ 0 "/xsdiff-tx/s/a/x\x00"
dom0a WRITE 0 "/xsdiff-tx/s/a\x00w"
dom0b RM - "/xsdiff-tx/s/a/x\x00"
dom0a READ 0 "/xsdiff-tx/s/a/x\x00"
dom0a RM 0 "/xsdiff-tx/s\x00"
dom0a TRANSACTION_END 0 "T\x00"
# RM of a subtree whose child, not read, was removed outside.
dom0a WRITE - "/xsdiff-tx/u/a/x\x00v"
dom0a TRANSACTION_START - "\x00"
dom0a WRITE 0 "/xsdiff-tx/u/a\x00w"
dom0b RM - "/xsdiff-tx/u/a/x\x00"
dom0a RM 0 "/xsdiff-tx/u\x00"
dom0a TRANSACTION_END 0 "T\x00"
# A node absent when the transaction first looked, created outside.
dom0a WRITE - "/xsdiff-tx/v\x00"
dom0a TRANSACTION_START - "\x00"
dom0a READ 0 "/xsdiff-tx/v/c\x00"
dom0b WRITE - "/xsdiff-tx/v/c\x00new"
dom0a READ 0 "/xsdiff-tx/v/c\x00"
dom0a DIRECTORY 0 "/xsdiff-tx/v\x00"
dom0a WRITE 0 "/xsdiff-tx/v/c\x00mine"
dom0a READ 0 "/xsdiff-tx/v/c\x00"
dom0a TRANSACTION_END 0 "T\x00"
# ... and a subtree below such a node, then removed in the transaction.
dom0a WRITE - "/xsdiff-tx/w\x00"
dom0a TRANSACTION_START - "\x00"
dom0a READ 0 "/xsdiff-tx/w/p/c\x00"
dom0b WRITE - "/xsdiff-tx/w/p/c\x00x"
dom0a READ 0 "/xsdiff-tx/w/p\x00"
dom0a DIRECTORY 0 "/xsdiff-tx/w/p\x00"
dom0a RM 0 "/xsdiff-tx/w/p\x00"
dom0a TRANSACTION_END 0 "T\x00"
# RM of a node made outside after the transaction listed its parent.
dom0a WRITE - "/xsdiff-tx/x\x00"
dom0a TRANSACTION_START - "\x00"
dom0a DIRECTORY 0 "/xsdiff-tx/x\x00"
dom0b WRITE - "/xsdiff-tx/x/a\x00v"
dom0a READ 0 "/xsdiff-tx/x/a\x00"
dom0a RM 0 "/xsdiff-tx/x/a\x00"
dom0a TRANSACTION_END 0 "T\x00"
# Both change the same node; the one that commits second fails.
dom0a TRANSACTION_START - "\x00"
dom0a WRITE 0 "/xsdiff-tx/c\x00a"
dom0b WRITE - "/xsdiff-tx/c\x00b"
dom0a TRANSACTION_END 0 "T\x00"
dom0a READ - "/xsdiff-tx/c\x00"
dom0a RM - "/xsdiff-tx\x00"
`
