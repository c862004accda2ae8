package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// The generated mode: seeded random request sequences over several
// connections (two of dom0, one per guest) in scratch subtrees, with
// transactions, permissions, watches and errors; then deterministic
// sequences that walk a guest up to each of its quotas.

// scratch subtrees: dom0's (absolute and relative) and each guest's, below
// its writable data/ directory.
const (
	scratch0    = "/xsdiff"
	scratchRel0 = "xsdiff-rel" // relative: /local/domain/0/xsdiff-rel
	scratchRelG = "data/xsdiff"
)

func guestHome(g uint32) string    { return "/local/domain/" + strconv.FormatUint(uint64(g), 10) }
func guestScratch(g uint32) string { return guestHome(g) + "/" + scratchRelG }

// request is one generated request, before it is framed for each side.
type request struct {
	typ     uint32
	payload []byte
	hdrLen  *uint32 // header length differing from the payload's
	tx      int     // -1: none; -2: badTx; else index into pair.tx
	genPath string  // for DIRECTORY_PART: the node whose generation it reports
	note    string
}

func (r request) frames(p *pair) [2]frame {
	p.reqID++
	var fs [2]frame
	for s := range fs {
		var tx uint32
		switch {
		case r.tx == -2:
			tx = badTx
		case r.tx >= 0:
			tx = p.tx[r.tx].id[s]
			if tx == 0 {
				tx = badTx
			}
		}
		fs[s] = newFrame(r.typ, p.reqID, tx, r.payload)
		if r.hdrLen != nil {
			fs[s].Len = *r.hdrLen
		}
	}
	return fs
}

type gen struct {
	d      *driver
	rnd    *rand.Rand
	guests []uint32
	real   []string // paths of C's tree at the start (read-only use)
	seq    int
	alive  func() error // does C xenstored still answer?
	fatal  error        // C xenstored stopped: the run cannot go on
}

// run sends n random requests, then the guests' quota sequences.
func (g *gen) run(n int) {
	for i := 0; i < n; i++ {
		p := g.pickPair()
		if p == nil {
			return
		}
		g.one("generated", p, g.random(p))
	}
}

func (g *gen) pickPair() *pair {
	var live []*pair
	for _, p := range g.d.pairs {
		if !p.dead {
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		return nil
	}
	return live[g.rnd.IntN(len(live))]
}

// one sends r on p, compares, and keeps the transaction bookkeeping.
func (g *gen) one(mode string, p *pair, r request) (outcome, outcome) {
	if p.dead {
		return outcome{fate: "skipped"}, outcome{fate: "skipped"}
	}
	if interrupted.Load() && g.fatal == nil {
		g.fatal = fmt.Errorf("interrupted (SIGTERM) after request %d", g.seq)
		for _, q := range g.d.pairs {
			q.dead = true
		}
		return outcome{fate: "skipped"}, outcome{fate: "skipped"}
	}
	g.seq++
	if p.domid != 0 {
		mode += "-guest"
	} else {
		mode += "-dom0"
	}
	fs := r.frames(p)
	c, o := g.d.do(mode, p, g.seq, fs, r.genPath, r.note)
	if c.fate != "" && g.alive != nil {
		if err := g.alive(); err != nil {
			g.fatal = fmt.Errorf("C xenstored stopped answering after request %d on %s (%v): %w", g.seq, p.name, fs[0], err)
			for _, q := range g.d.pairs {
				q.dead = true
			}
		}
	}
	switch {
	case r.typ == tTxStart && r.tx == -1:
		t := &ltx{}
		for s, out := range [2]outcome{c, o} {
			if out.fate == "" && out.reply.Type == tTxStart {
				id, _ := strconv.ParseUint(string(bytes.TrimSuffix(out.reply.Payload, []byte{0})), 10, 32)
				t.id[s] = uint32(id)
			}
		}
		if t.id[0] != 0 || t.id[1] != 0 {
			p.tx = append(p.tx, t)
		}
	case r.typ == tTxEnd && r.tx >= 0 && r.tx < len(p.tx) && (string(r.payload) == "T\x00" || string(r.payload) == "F\x00"):
		p.tx = append(p.tx[:r.tx], p.tx[r.tx+1:]...)
	}
	return c, o
}

func (g *gen) pick(ss ...string) string { return ss[g.rnd.IntN(len(ss))] }

func (g *gen) chance(p float64) bool { return g.rnd.Float64() < p }

// suffix is a path below a scratch root: "", "/a", "/a/b", ...
func (g *gen) suffix() string {
	depth := g.rnd.IntN(3)
	if g.chance(0.1) {
		depth = 3
	}
	var b strings.Builder
	for i := 0; i < depth; i++ {
		b.WriteString("/" + g.pick("a", "b", "c"))
	}
	return b.String()
}

// scratchPath is a path in one of the scratch subtrees, as p would name it.
func (g *gen) scratchPath(p *pair) string {
	switch x := g.rnd.IntN(10); {
	case x < 4:
		return scratch0 + g.suffix()
	case x < 8 || p.domid == 0 && x < 9:
		gid := g.guests[g.rnd.IntN(len(g.guests))]
		if gid == p.domid && g.chance(0.5) {
			return scratchRelG + g.suffix()
		}
		return guestScratch(gid) + g.suffix()
	case p.domid == 0:
		return scratchRel0 + g.suffix()
	default:
		// A guest's relative path outside what it may write.
		return "xsdiff" + g.suffix()
	}
}

// badPath is a path each daemon must refuse (or that names a special node).
func (g *gen) badPath(p *pair) string {
	long := "/xsdiff/" + strings.Repeat("x", absPathMax-len("/xsdiff/")+g.rnd.IntN(3)-1)
	return g.pick("", "/", "//", "/xsdiff/", "/xsdiff//a", "/xsdiff/a b", "/xsdiff/\xc3\xa4", "/xsdiff/a.b",
		"/xsdiff/a\tb", "@introduceDomain", "@releaseDomain", "@other", "@", "./a", "../a", "/xsdiff/..",
		long, scratchRelG+"/"+strings.Repeat("y", 2040+g.rnd.IntN(20)))
}

// readPath is anything p may ask to read: scratch, C's real tree, bad.
func (g *gen) readPath(p *pair) string {
	switch x := g.rnd.IntN(20); {
	case x < 13:
		return g.scratchPath(p)
	case x < 18 && len(g.real) > 0:
		return g.real[g.rnd.IntN(len(g.real))]
	default:
		return g.badPath(p)
	}
}

// writePath is a path p may try to change: scratch, bad, and for a guest
// real nodes it may not write (dom0 never changes C's real tree).
func (g *gen) writePath(p *pair) string {
	switch x := g.rnd.IntN(20); {
	case x < 17:
		return g.scratchPath(p)
	case x < 19 && p.domid != 0:
		return g.pick("/local/domain/0/name", "/tool/xenstored", "/local", guestHome(p.domid)+"/name", guestHome(p.domid), "name", "domid")
	default:
		b := g.badPath(p)
		if p.domid == 0 && b == "/" {
			b = "/xsdiff/"
		}
		return b
	}
}

func (g *gen) value() []byte {
	switch g.rnd.IntN(8) {
	case 0:
		return nil
	case 1:
		return []byte(g.pick("1", "0", "x", "hello world", "4"))
	case 2:
		return []byte("a\x00b\x00")
	case 3:
		return bytes.Repeat([]byte{'v'}, 1000+g.rnd.IntN(1200))
	default:
		b := make([]byte, 1+g.rnd.IntN(30))
		for i := range b {
			b[i] = byte(' ' + g.rnd.IntN(95))
		}
		return b
	}
}

// domidArg is a domain id as a string, good or bad.
func (g *gen) domidArg() string {
	gs := make([]string, 0, len(g.guests))
	for _, x := range g.guests {
		gs = append(gs, strconv.FormatUint(uint64(x), 10))
	}
	return g.pick(append(gs, "0", "7", "", "abc", "12abc", "-1", "4294967296", "32752", "0x10", " 5", "+3", "99999")...)
}

// perms is a permission list for SET_PERMS, mostly valid. The owner is
// dom0 or a guest, or an id no domain can have: C refuses an owner that
// does not exist in the hypervisor (ENOENT), which our daemon cannot see,
// so an unused but possible id (7) appears only after the owner.
func (g *gen) perms(p *pair) []string {
	owners := append([]string{"0"}, g.guestIDs()...)
	others := append([]string{"0", "7", "65537", "-1", "0x2", "010", " 5", "+3", "4294967297"}, g.guestIDs()...)
	n := 1 + g.rnd.IntN(4)
	if g.chance(0.1) {
		n = 5 + g.rnd.IntN(3)
	}
	out := make([]string, n)
	for i := range out {
		out[i] = g.pick("n", "r", "w", "b") + g.pick(others...)
	}
	out[0] = g.pick("n", "r", "w", "b") + g.pick(owners...)
	if p.domid != 0 && g.chance(0.6) {
		out[0] = g.pick("n", "r", "w", "b") + strconv.FormatUint(uint64(p.domid), 10)
	}
	if g.chance(0.05) {
		out[0] = g.pick("n", "r", "w", "b") + g.pick("32752", "65537", "-1", "99999999999")
	}
	if g.chance(0.15) {
		out[g.rnd.IntN(n)] = g.pick("x1", "r", "rabc", "r0x", "r5x", "", "n0 ", "R0", "r 0x")
	}
	return out
}

func (g *gen) guestIDs() []string {
	out := make([]string, len(g.guests))
	for i, x := range g.guests {
		out[i] = strconv.FormatUint(uint64(x), 10)
	}
	return out
}

func (g *gen) txFor(p *pair) int {
	switch {
	case g.chance(0.02):
		return -2
	case len(p.tx) > 0 && g.chance(0.5):
		return g.rnd.IntN(len(p.tx))
	}
	return -1
}

// random makes one random request for p.
func (g *gen) random(p *pair) request {
	r := request{tx: -1}
	w := g.rnd.IntN(100)
	switch {
	case w < 16:
		path := g.writePath(p)
		r.typ, r.payload, r.tx = tWrite, append([]byte(path+"\x00"), g.value()...), g.txFor(p)
	case w < 26:
		r.typ, r.payload, r.tx = tRead, strs(g.readPath(p)), g.txFor(p)
	case w < 31:
		r.typ, r.payload, r.tx = tMkdir, strs(g.writePath(p)), g.txFor(p)
	case w < 38:
		r.typ, r.payload, r.tx = tRm, strs(g.writePath(p)), g.txFor(p)
	case w < 45:
		r.typ, r.payload, r.tx = tDirectory, strs(g.readPath(p)), g.txFor(p)
	case w < 48:
		path := g.readPath(p)
		r.typ, r.payload, r.tx, r.genPath = tDirPart, strs(path, g.pick("0", "0", "1", "2", "5", "100", "-1", "abc", "", "4294967297")), g.txFor(p), fmt.Sprint(p.domid, ":", path)
	case w < 53:
		r.typ, r.payload, r.tx = tGetPerms, strs(g.readPath(p)), g.txFor(p)
	case w < 60:
		path := g.writePath(p)
		if strings.HasPrefix(path, "@") {
			// Never a special path: a guest's SET_PERMS on one stops
			// C xenstored 4.17.7, dom0's corrupts it (see copyTree).
			path = "/xsdiff/a b"
		}
		r.typ, r.payload, r.tx = tSetPerms, strs(append([]string{path}, g.perms(p)...)...), g.txFor(p)
	case w < 64:
		r.typ, r.payload = tTxStart, strs("")
		if g.chance(0.05) {
			r.tx = 0
			if len(p.tx) == 0 {
				r.tx = -2
			}
		}
		if len(p.tx) >= 3 {
			r.typ, r.payload, r.tx = tTxEnd, strs(g.pick("T", "F")), 0
		}
	case w < 69:
		r.typ, r.payload = tTxEnd, strs(g.pick("T", "T", "F"))
		if len(p.tx) > 0 {
			r.tx = g.rnd.IntN(len(p.tx))
		} else if g.chance(0.5) {
			r.tx = -2
		}
		if g.chance(0.05) {
			r.payload = []byte(g.pick("", "T", "X\x00", "TT\x00", "T\x00F\x00", "t\x00"))
		}
	case w < 75:
		path := g.pick(scratch0, g.scratchPath(p), g.scratchPath(p), "@introduceDomain", "@releaseDomain", "/", "/local/domain")
		if g.chance(0.05) {
			path = g.badPath(p)
		}
		r.typ, r.payload = tWatch, strs(path, g.pick("t1", "t2", "", "tok en"))
		r.tx = g.txFor(p) // ignored by both: watches are not transactional
	case w < 78:
		path := g.pick(scratch0, g.scratchPath(p), "@introduceDomain", "/")
		r.typ, r.payload = tUnwatch, strs(path, g.pick("t1", "t2", ""))
	case w < 79:
		r.typ, r.payload = tResetWatch, nil
	case w < 82:
		r.typ, r.payload = tGetDomPath, strs(g.domidArg())
		if g.chance(0.2) {
			r.payload = []byte(g.pick("", "0", "1\x002\x00", "\x00\x00"))
		}
	case w < 84:
		r.typ, r.payload = tIsIntro, strs(g.domidArg())
	case w < 86:
		r = g.privileged(p)
	default:
		r = g.malformed(p)
	}
	return r
}

// privileged: the toolstack's requests, with arguments that change nothing
// on C xenstored (no domain is introduced or released for real).
func (g *gen) privileged(p *pair) request {
	r := request{tx: -1}
	switch g.rnd.IntN(6) {
	case 0:
		r.typ, r.payload = tIntroduce, []byte(g.pick("", "1\x00", "5\x002\x00", "0\x00", "abc\x000\x00"))
	case 1:
		r.typ, r.payload = tRelease, []byte(g.pick("", "0\x00", "abc\x00", "7\x00", "32752\x00", "7"))
	case 2:
		r.typ, r.payload = tResume, []byte(g.pick("", "0\x00", "abc\x00", "7\x00", "7"))
	case 3:
		r.typ, r.payload = tSetTarget, []byte(g.pick("", "7\x00", "7\x008\x00", "0\x00", "abc\x00"))
	case 4:
		r.typ, r.payload = tIsIntro, []byte(g.pick("", "0", "7\x008\x00"))
	default:
		r.typ, r.payload = tGetDomPath, strs(g.domidArg())
	}
	return r
}

// malformed: payloads no client library sends.
func (g *gen) malformed(p *pair) request {
	r := request{tx: -1}
	path := g.scratchPath(p)
	switch g.rnd.IntN(12) {
	// Not sent: a single-path request (READ, DIRECTORY, GET_PERMS, MKDIR,
	// RM) whose payload is not exactly one NUL-terminated string. C
	// 4.17 answers it with whatever errno an earlier call left behind
	// (ENOENT, ENOMEM), or not at all, and a READ of two strings once
	// stopped C xenstored; ours answers EINVAL (see the test's list).
	case 0: // no NUL terminator, where the daemon checks the count
		r.typ, r.payload = g.pickType(tGetDomPath, tIsIntro, tRelease, tResume, tSetPerms, tDirPart), []byte(path)
	case 1: // two strings where one is expected, where the daemon checks
		r.typ, r.payload = g.pickType(tGetDomPath, tIsIntro, tTxEnd), strs("0", "1")
	case 2: // empty payload
		r.typ, r.payload = g.pickType(tWrite, tWatch, tUnwatch, tSetPerms, tDirPart, tGetDomPath, tIsIntro), nil
	case 3: // WRITE without the NUL after the path
		r.typ, r.payload = tWrite, []byte(path)
	case 4: // WATCH / UNWATCH with one or three strings
		r.typ, r.payload = g.pickType(tWatch, tUnwatch), []byte(g.pick(path+"\x00", path+"\x00t\x00x\x00", path+"\x00t"))
	case 5: // SET_PERMS without a permission
		r.typ, r.payload = tSetPerms, []byte(g.pick(path+"\x00", path, path+"\x00r0"))
	case 6: // types that are not requests, or no longer exist
		r.typ, r.payload = g.pickType(tControl, 20, 23, 24, 99, 0xffff, 0x80000000, tWatchEvent, tError), strs(path)
	case 7: // DIRECTORY_PART with one or three strings
		r.typ, r.payload = tDirPart, []byte(g.pick(path+"\x00", path+"\x000\x00x\x00", path+"\x000"))
	case 8: // TRANSACTION_START with an argument
		r.typ, r.payload = tTxStart, []byte(g.pick("x\x00", "", "\x00\x00"))
	case 9: // a payload of exactly the maximum
		r.typ = tWrite
		r.payload = append([]byte(path+"\x00"), bytes.Repeat([]byte{'m'}, payloadMax-len(path)-1)...)
	case 10: // bytes after the last NUL
		r.typ, r.payload = g.pickType(tWatch, tSetPerms, tDirPart), append(strs(path, "0"), "junk"...)
	default: // a value with NULs inside
		r.typ, r.payload = tWrite, []byte(path+"\x00a\x00b\x00")
	}
	return r
}

func (g *gen) pickType(ts ...uint32) uint32 { return ts[g.rnd.IntN(len(ts))] }
