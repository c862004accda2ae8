package main

import (
	"fmt"
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
