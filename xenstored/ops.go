package xenstored

import (
	"bytes"
	"slices"
	"strconv"
	"strings"

	"github.com/xfeat/xfeat/xswire"
)

type handler func(c *conn, h xswire.Header, p []byte, v view) errno

type opInfo struct {
	fn     handler
	priv   bool // privileged connections only
	noTxID bool // tx_id is ignored (WATCH, UNWATCH)
}

var opTable [xswire.TypeCount]opInfo

func init() {
	opTable = [xswire.TypeCount]opInfo{
		xswire.TypeDirectory:          {fn: opDirectory},
		xswire.TypeRead:               {fn: opRead},
		xswire.TypeGetPerms:           {fn: opGetPerms},
		xswire.TypeWatch:              {fn: opWatch, noTxID: true},
		xswire.TypeUnwatch:            {fn: opUnwatch, noTxID: true},
		xswire.TypeTransactionStart:   {fn: opTransactionStart},
		xswire.TypeTransactionEnd:     {fn: opTransactionEnd},
		xswire.TypeIntroduce:          {fn: opIntroduce, priv: true},
		xswire.TypeRelease:            {fn: opRelease, priv: true},
		xswire.TypeGetDomainPath:      {fn: opGetDomainPath},
		xswire.TypeWrite:              {fn: opWrite},
		xswire.TypeMkdir:              {fn: opMkdir},
		xswire.TypeRm:                 {fn: opRm},
		xswire.TypeSetPerms:           {fn: opSetPerms},
		xswire.TypeIsDomainIntroduced: {fn: opIsDomainIntroduced, priv: true},
		xswire.TypeResume:             {fn: opResume, priv: true},
		xswire.TypeSetTarget:          {fn: opSetTarget, priv: true},
		xswire.TypeResetWatches:       {fn: opResetWatches},
		xswire.TypeDirectoryPart:      {fn: opDirectoryPart},
		xswire.TypeControl:            {fn: opControl, priv: true},
	}
}

// handle processes one request and queues exactly one reply for it.
func (c *conn) handle(h xswire.Header, p []byte) {
	if h.Type >= xswire.TypeCount || opTable[h.Type].fn == nil {
		c.replyErr(h, eNOSYS)
		return
	}
	op := opTable[h.Type]
	if op.priv && !c.priv {
		c.replyErr(h, eACCES)
		return
	}
	s := c.s
	s.st.Lock()
	defer s.st.Unlock()
	defer s.kickLocked()
	if c.gone {
		return // released: the connection is closing
	}
	v := view{s: s, c: c}
	if !op.noTxID && h.TxID != 0 {
		v.tx = c.txs[h.TxID]
		if v.tx == nil {
			c.replyErr(h, eNOENT)
			return
		}
	}
	if e := op.fn(c, h, p, v); e != eOK {
		c.replyErr(h, e)
	}
}

// oneArg returns the single NUL-terminated string that must make up p.
func oneArg(p []byte) ([]byte, bool) {
	if len(p) == 0 || bytes.IndexByte(p, 0) != len(p)-1 {
		return nil, false
	}
	return p[:len(p)-1], true
}

// args splits p into its NUL-terminated strings (bytes after the last NUL
// are ignored, as by C's get_strings); at most max are returned, and n is
// the total count.
func args(p []byte, out [][]byte) (n int) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, 0)
		if i < 0 {
			break
		}
		if n < len(out) {
			out[n] = p[:i]
		}
		n++
		p = p[i+1:]
	}
	return n
}

// pathArg is the prologue of the ops whose whole payload is one path: p
// must be exactly one NUL-terminated string, which is then canonicalised
// as by canon (the result is valid for this request only).
func (c *conn) pathArg(p []byte, allowSpecial bool) (string, errno) {
	a, ok := oneArg(p)
	if !ok {
		return "", eINVAL
	}
	return c.canon(a, allowSpecial)
}

func validPathChar(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
		b == '-' || b == '/' || b == '_' || b == '@'
}

// canon turns a request path into an absolute one (C's canonicalize):
// relative paths are below the connection's /local/domain/<id>; special
// @paths only where allowed. The result may point into the request or
// c.pathBuf: it is valid for this request only.
func (c *conn) canon(arg []byte, allowSpecial bool) (string, errno) {
	for _, b := range arg {
		if !validPathChar(b) {
			return "", eINVAL
		}
	}
	if len(arg) > 0 && arg[0] == '@' {
		if !allowSpecial {
			return "", eINVAL
		}
		return transientString(arg), eOK
	}
	p := arg
	if len(arg) == 0 || arg[0] != '/' {
		c.pathBuf = append(append(append(c.pathBuf[:0], c.prefix...), '/'), arg...)
		p = c.pathBuf
	}
	if len(p) > 1 && p[len(p)-1] == '/' || bytes.Contains(p, []byte("//")) || len(p) > xswire.AbsPathMax {
		return "", eINVAL
	}
	// C 4.17 measures the path-max quota below /local/domain/<id>/, or
	// the whole path elsewhere, for every connection: dom0's too.
	l := len(p)
	if bytes.HasPrefix(p, []byte("/local/domain/")) {
		rest := p[len("/local/domain/"):]
		i := bytes.IndexByte(rest, '/')
		if i > 0 && i <= 5 && allDigits(rest[:i]) {
			l -= len("/local/domain/") + i + 1
		}
	}
	if l > c.s.q.PathMax {
		return "", eINVAL
	}
	return transientString(p), eOK
}

func allDigits(b []byte) bool {
	for _, x := range b {
		if x < '0' || x > '9' {
			return false
		}
	}
	return len(b) > 0
}

// getNode returns the node at path if c has want on it. Otherwise the errno
// is masked as C's errno_from_parents does: eNOENT or eACCES for the node
// only if c has some of want on its nearest existing ancestor, else eACCES,
// so that nothing leaks about nodes c may not see.
func (c *conn) getNode(v view, path string, want perm) (*node, errno) {
	n, e := v.get(path)
	if e != eOK {
		return nil, e
	}
	if n != nil && permFor(c, n.perms)&want == want {
		return n, eOK
	}
	err := eNOENT
	if n != nil {
		err = eACCES
	}
	for p := path; p != "/"; {
		p = parentPath(p)
		a, e := v.get(p)
		if e != eOK {
			return nil, e
		}
		if a != nil {
			if permFor(c, a.perms)&want != 0 {
				return nil, err
			}
			return nil, eACCES
		}
	}
	return nil, eACCES
}

func opRead(c *conn, h xswire.Header, p []byte, v view) errno {
	path, e := c.pathArg(p, false)
	if e != eOK {
		return e
	}
	n, e := c.getNode(v, path, permRead)
	if e != eOK {
		return e
	}
	c.reply(h, n.value)
	return eOK
}

func opWrite(c *conn, h xswire.Header, p []byte, v view) errno {
	i := bytes.IndexByte(p, 0)
	if i < 0 {
		return eINVAL
	}
	path, e := c.canon(p[:i], false)
	if e != eOK {
		return e
	}
	value := p[i+1:]
	n, e := c.getNode(v, path, permWrite)
	switch {
	case e == eNOENT:
		if e = c.create(v, path, value); e != eOK {
			return e
		}
		n, _ = v.get(path)
	case e != eOK:
		return e
	default:
		if !c.priv && n.size()-len(n.value)+len(value) >= c.s.q.NodeSize {
			return eNOSPC
		}
		m := v.mutable(n)
		if m == n && v.tx == nil {
			m.value = append(m.value[:0], value...) // nobody else can see it
		} else {
			m.value = append([]byte(nil), value...)
		}
		v.set(m)
		n = m
	}
	v.fire(path, false, n.perms, nil)
	c.replyOK(h)
	return eOK
}

func opMkdir(c *conn, h xswire.Header, p []byte, v view) errno {
	path, e := c.pathArg(p, false)
	if e != eOK {
		return e
	}
	_, e = c.getNode(v, path, permWrite)
	if e == eNOENT {
		if e = c.create(v, path, nil); e != eOK {
			return e
		}
		n, _ := v.get(path)
		v.fire(path, false, n.perms, nil)
	} else if e != eOK {
		return e
	}
	c.replyOK(h)
	return eOK
}

// create makes path and its missing ancestors (C's create_node): new nodes
// inherit their parent's permissions, and a node an unprivileged domain
// creates is owned by it. Nothing changes unless everything fits the quotas.
func (c *conn) create(v view, path string, value []byte) errno {
	// Find the nearest existing ancestor.
	anc := path
	var a *node
	levels := 0
	for {
		anc = parentPath(anc)
		levels++
		var e errno
		if a, e = v.get(anc); e != eOK {
			return e
		}
		if a != nil {
			break
		}
		if anc == "/" {
			return eIO // no root: cannot happen
		}
	}
	perms := a.perms
	if !c.priv {
		if perms[0].Domid != c.domid {
			perms = append([]Perm{{Domid: c.domid, Access: perms[0].Access}}, perms[1:]...)
		}
		if v.ownedCount(c.domid)+levels > c.s.q.Nodes {
			return eNOSPC
		}
		first := path[len(anc):]
		if anc == "/" {
			first = path
		}
		first = first[1:]
		if i := strings.IndexByte(first, '/'); i >= 0 {
			first = first[:i]
		}
		if nodeHeaderSize+permSize*len(perms)+len(value) >= c.s.q.NodeSize || a.size()+len(first)+1 >= c.s.q.NodeSize {
			return eNOSPC
		}
	}
	// Record the new paths (absent) before changing anything, so that an
	// unprivileged transaction's node quota cannot fail half-way.
	for p := path; p != anc; p = parentPath(p) {
		if _, e := v.get(p); e != eOK {
			return e
		}
	}
	// Walk down from the ancestor, linking each new node into its parent.
	parent := v.mutable(a)
	rest := path[len(anc):]
	if anc == "/" {
		rest = path
	}
	cur := anc
	for len(rest) > 0 {
		rest = rest[1:] // the '/'
		i := strings.IndexByte(rest, '/')
		name := rest
		if i >= 0 {
			name, rest = rest[:i], rest[i:]
		} else {
			rest = ""
		}
		childAbs := childPath(cur, name) // a new string: safe to keep
		child := &node{path: childAbs, perms: perms}
		parent.children = append(parent.children, baseName(childAbs))
		v.set(parent)
		v.ownedDelta(perms[0].Domid, 1)
		parent, cur = child, childAbs
	}
	if len(value) > 0 {
		parent.value = append([]byte(nil), value...)
	}
	v.set(parent)
	return eOK
}

func opRm(c *conn, h xswire.Header, p []byte, v view) errno {
	path, e := c.pathArg(p, false)
	if e != eOK {
		return e
	}
	n, e := c.getNode(v, path, permWrite)
	if e == eNOENT {
		par, e2 := v.get(parentPath(path))
		if e2 != eOK {
			return e2
		}
		if par != nil {
			c.replyOK(h)
			return eOK
		}
		return eNOENT
	}
	if e != eOK {
		return e
	}
	if path == "/" {
		return eINVAL
	}
	if e := c.s.rmLocked(v, n); e != eOK {
		return e
	}
	c.replyOK(h)
	return eOK
}

// rmLocked removes n and its subtree, firing watches (exact ones for the
// descendants). The subtree is collected first, so that a transaction's
// node quota fails before anything changed. Must hold Server.st.
func (s *Server) rmLocked(v view, n *node) errno {
	par, e := v.get(parentPath(n.path))
	if e != eOK {
		return e
	}
	if par == nil {
		// Only a transaction can see this: it holds n, and another
		// connection removed n's parent, which the transaction had not
		// read, since. C 4.17 reads the parent first and answers EINVAL.
		return eINVAL
	}
	var nodes []*node
	var collect func(n *node) errno
	collect = func(n *node) errno {
		for _, ch := range n.children {
			cn, e := v.get(childPath(n.path, ch))
			if e != eOK {
				return e
			}
			if cn == nil {
				// Only a transaction can see this: its copy of n lists
				// a child it never read, which another connection has
				// removed since. C 4.17 takes it for corruption: EIO.
				return eIO
			}
			if e := collect(cn); e != eOK {
				return e
			}
		}
		nodes = append(nodes, n) // post-order: children first
		return eOK
	}
	if e := collect(n); e != eOK {
		return e
	}
	for _, x := range nodes {
		v.fire(x.path, x != n, x.perms, nil)
		v.del(x.path)
		v.ownedDelta(x.owner(), -1)
	}
	name := baseName(n.path)
	i := slices.Index(par.children, name)
	if i < 0 {
		// Only a transaction can see this: it holds the parent as it
		// was before another connection made n, and n as made. C 4.17
		// removes the subtree, then cannot find n in the parent's list
		// and answers EIO (the commit fails with EAGAIN).
		return eIO
	}
	pm := v.mutable(par)
	pm.children = slices.Delete(pm.children, i, i+1)
	v.set(pm)
	return eOK
}

// opGetPerms: a special node's permissions cannot be read back (C 4.17
// answers EINVAL), only set.
func opGetPerms(c *conn, h xswire.Header, p []byte, v view) errno {
	path, e := c.pathArg(p, false)
	if e != eOK {
		return e
	}
	n, e := c.getNode(v, path, permRead)
	if e != eOK {
		return e
	}
	b := c.outBuf[:0]
	for _, x := range n.perms {
		b = append(appendWirePerm(b, x), 0)
	}
	c.outBuf = b
	c.reply(h, b)
	return eOK
}

// opSetPerms checks in C 4.17's order: the argument count, the guest's
// entry quota, each entry's syntax, the owner's existence (ENOENT), then
// the path and the caller's rights on the node.
func opSetPerms(c *conn, h xswire.Header, p []byte, v view) errno {
	var argv [1][]byte
	n := args(p, argv[:])
	if n < 2 {
		return eINVAL
	}
	if !c.priv && n-1 > c.s.q.NodePerms {
		return eNOSPC
	}
	perms := make([]Perm, 0, n-1)
	rest := p[len(argv[0])+1:]
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			break
		}
		x, ok := parseWirePerm(rest[:i])
		if !ok {
			return eINVAL
		}
		perms = append(perms, x)
		rest = rest[i+1:]
	}
	if !ownerMayExist(perms[0].Domid) {
		return eNOENT
	}
	path, e := c.canon(argv[0], true)
	if e != eOK {
		return e
	}
	if path[0] == '@' {
		// path points into the request: the map keeps its own key.
		var name string
		switch path {
		case specialIntroduce:
			name = specialIntroduce
		case specialRelease:
			name = specialRelease
		default:
			return eINVAL
		}
		old := c.s.st.special[name]
		if permFor(c, old)&(permWrite|permOwner) != permWrite|permOwner {
			return eACCES
		}
		if !c.priv && perms[0].Domid != old[0].Domid {
			return ePERM
		}
		c.s.st.special[name] = perms
		c.replyOK(h)
		return eOK
	}
	nd, e := c.getNode(v, path, permWrite|permOwner)
	if e != eOK {
		return e
	}
	if !c.priv {
		if perms[0].Domid != nd.owner() {
			return ePERM
		}
		if nd.size()-permSize*len(nd.perms)+permSize*len(perms) >= c.s.q.NodeSize {
			return eNOSPC
		}
	}
	old := nd.perms
	m := v.mutable(nd)
	m.perms = perms
	v.set(m)
	if old[0].Domid != perms[0].Domid {
		v.ownedDelta(old[0].Domid, -1)
		v.ownedDelta(perms[0].Domid, 1)
	}
	v.fire(path, false, perms, old)
	c.replyOK(h)
	return eOK
}

func opDirectory(c *conn, h xswire.Header, p []byte, v view) errno {
	path, e := c.pathArg(p, false)
	if e != eOK {
		return e
	}
	n, e := c.getNode(v, path, permRead)
	if e != eOK {
		return e
	}
	total := 0
	for _, ch := range n.children {
		total += len(ch) + 1
	}
	if total > xswire.PayloadMax {
		return e2BIG // libxenstore then uses DIRECTORY_PART
	}
	b := c.outBuf[:0]
	for _, ch := range n.children {
		b = append(append(b, ch...), 0)
	}
	c.outBuf = b
	c.reply(h, b)
	return eOK
}

func opDirectoryPart(c *conn, h xswire.Header, p []byte, v view) errno {
	var argv [2][]byte
	if args(p, argv[:]) != 2 {
		return eINVAL
	}
	path, e := c.canon(argv[0], false)
	if e != eOK {
		return e
	}
	n, e := c.getNode(v, path, permRead)
	if e != eOK {
		return e
	}
	off := int(uint32(cAtoi(argv[1])))
	// The children as C stores them: NUL-terminated names back to back.
	all := c.dirBuf[:0]
	for _, ch := range n.children {
		all = append(append(all, ch...), 0)
	}
	c.dirBuf = all
	b := strconv.AppendUint(c.outBuf[:0], n.gen, 10)
	b = append(b, 0)
	genlen := len(b)
	if off >= len(all) {
		b = append(b, 0)
		c.outBuf = b
		c.reply(h, b)
		return eOK
	}
	maxlen := xswire.PayloadMax - genlen - 1
	l := 0
	for {
		rest := all[off+l:]
		cl := bytes.IndexByte(rest, 0)
		if cl < 0 {
			cl = len(rest)
		}
		if l+cl >= maxlen {
			break
		}
		l += cl + 1
		if off+l >= len(all) {
			break
		}
	}
	if off+l > len(all) {
		l = len(all) - off
	}
	b = append(b, all[off:off+l]...)
	if off+l == len(all) {
		b = append(b, 0)
	}
	c.outBuf = b
	c.reply(h, b)
	return eOK
}

// cAtoi is C's atoi(3) on a request argument, as glibc computes it:
// (int)strtol(s, NULL, 10). Leading white space is skipped, a sign is
// taken, then the digits that follow; whatever comes after them is
// ignored, and no digits at all is 0. A value beyond long's range
// saturates, and the conversion to int keeps the low 32 bits. C xenstored
// reads every domain id, event channel port and DIRECTORY_PART offset this
// way, into an unsigned int (tools/xenstore/xenstored_domain.c and
// xenstored_core.c in Xen 4.17): callers take uint32(cAtoi(b)), so "-1" is
// 4294967295 and "" is 0.
func cAtoi(b []byte) int32 {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] >= '\t' && b[i] <= '\r') {
		i++
	}
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	// Accumulate as a negative number (its range is one larger), as
	// strtol does, saturating at LONG_MIN / LONG_MAX.
	var n int64
	const minLong = -1 << 63
	sat := false
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := int64(b[i] - '0')
		if n < (minLong+d)/10 {
			sat = true
			continue
		}
		n = n*10 - d
	}
	switch {
	case sat && neg:
		n = minLong
	case sat:
		n = 1<<63 - 1
	case !neg:
		n = -n
	}
	return int32(n)
}

// cStrtoull is C's strtoull(s, NULL, 10) on a request argument: as cAtoi,
// but unsigned 64-bit, saturating at its maximum, "-n" wrapping around.
func cStrtoull(b []byte) uint64 {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] >= '\t' && b[i] <= '\r') {
		i++
	}
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	var n uint64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := uint64(b[i] - '0')
		if n > (^uint64(0)-d)/10 {
			return ^uint64(0) // ERANGE: the maximum, whatever the sign
		}
		n = n*10 + d
	}
	if neg {
		n = -n
	}
	return n
}

func opWatch(c *conn, h xswire.Header, p []byte, v view) errno {
	var argv [2][]byte
	if args(p, argv[:]) != 2 {
		return eINVAL
	}
	relative := len(argv[0]) == 0 || argv[0][0] != '/' && argv[0][0] != '@'
	if len(argv[0]) > xswire.RelPathMax && argv[0][0] == '@' {
		return eINVAL // C: a special path is held to the relative maximum
	}
	path, e := c.canon(argv[0], true)
	if e != eOK {
		return e
	}
	s := c.s
	for _, w := range c.watches {
		if w.path == path && w.token == string(argv[1]) {
			return eEXIST
		}
	}
	if c.dom != nil && c.dom.nwatches > s.q.Watches { // C: a count above the quota
		return e2BIG // C xenstored's answer to the watch quota
	}
	w := &watch{c: c, path: strings.Clone(path), token: string(argv[1])}
	if relative {
		w.prefixLen = len(c.prefix) + 1
	}
	s.addWatchLocked(w)
	c.replyOK(h)
	c.event(w.path[w.prefixLen:], w.token) // fire once up front
	return eOK
}

// opUnwatch looks the watch up by its path made absolute, unchecked: a
// path no watch can have is simply not found (ENOENT), as in C.
func opUnwatch(c *conn, h xswire.Header, p []byte, v view) errno {
	var argv [2][]byte
	if args(p, argv[:]) != 2 {
		return eINVAL
	}
	path := transientString(argv[0])
	if len(argv[0]) == 0 || argv[0][0] != '/' && argv[0][0] != '@' {
		c.pathBuf = append(append(append(c.pathBuf[:0], c.prefix...), '/'), argv[0]...)
		path = transientString(c.pathBuf)
	}
	for _, w := range c.watches {
		if w.path == path && w.token == string(argv[1]) {
			c.s.removeWatchLocked(w)
			c.replyOK(h)
			return eOK
		}
	}
	return eNOENT
}

func opTransactionStart(c *conn, h xswire.Header, p []byte, v view) errno {
	if v.tx != nil {
		return eBUSY // no nested transactions
	}
	if c.dom != nil && c.dom.ntxs > c.s.q.Transactions { // C: a count above the quota
		return eNOSPC
	}
	for c.nextTx == 0 || c.txs[c.nextTx] != nil {
		c.nextTx++
	}
	tx := &txn{id: c.nextTx, conn: c, acc: make(map[string]*access), owned: make(map[uint32]int)}
	c.nextTx++
	c.txs[tx.id] = tx
	c.s.st.openTx++
	if c.dom != nil {
		c.dom.ntxs++
	}
	b := strconv.AppendUint(c.outBuf[:0], uint64(tx.id), 10)
	b = append(b, 0)
	c.outBuf = b
	c.reply(h, b)
	return eOK
}

func opTransactionEnd(c *conn, h xswire.Header, p []byte, v view) errno {
	a, ok := oneArg(p)
	if !ok || len(a) != 1 || a[0] != 'T' && a[0] != 'F' {
		return eINVAL
	}
	if v.tx == nil {
		return eNOENT
	}
	c.s.endTxLocked(c, v.tx.id)
	if a[0] == 'T' {
		if e := c.s.commitLocked(v.tx); e != eOK {
			return e
		}
	}
	c.replyOK(h)
	return eOK
}

// domidArg is the prologue of the ops whose whole payload is one domain id:
// p must be exactly one NUL-terminated string (C's onearg), read as C
// xenstored reads it (cAtoi): "" and "abc" are domain 0, "12abc" is 12.
func domidArg(p []byte) (uint32, bool) {
	a, ok := oneArg(p)
	if !ok {
		return 0, false
	}
	return uint32(cAtoi(a)), true
}

func opIntroduce(c *conn, h xswire.Header, p []byte, v view) errno {
	var argv [3][]byte
	if args(p, argv[:]) < 3 {
		return eINVAL
	}
	// C reads the domain id and the port with atoi and ignores the
	// frame number; we keep the frame number (Domain.GFN), read the
	// same lenient way. Domain 0 and the reserved ids cannot be
	// introduced here (C would only rebind dom0's event channel, or fail
	// to map a reserved id's ring).
	domid := uint32(cAtoi(argv[0]))
	if domid == 0 || domid >= xswire.DomidFirstReserved {
		return eINVAL
	}
	gfn := cStrtoull(argv[1])
	evtchn := uint32(cAtoi(argv[2]))
	if evtchn == 0 {
		return eINVAL // as C xenstored: port must be > 0
	}
	d, e := c.s.introduceLocked(domid, gfn, evtchn)
	if e != eOK {
		return e
	}
	if d != nil && c.s.cfg.OnIntroduce != nil {
		info, fn := d.info(), c.s.cfg.OnIntroduce
		c.hook = func() { fn(info) }
	}
	c.replyOK(h)
	return eOK
}

func opRelease(c *conn, h xswire.Header, p []byte, v view) errno {
	domid, ok := domidArg(p)
	if !ok || domid == 0 {
		return eINVAL
	}
	d, e := c.s.releaseLocked(domid)
	if e != eOK {
		return e
	}
	if c.s.cfg.OnRelease != nil {
		info, fn := d.info(), c.s.cfg.OnRelease
		c.hook = func() { fn(info) }
	}
	c.replyOK(h)
	return eOK
}

func opIsDomainIntroduced(c *conn, h xswire.Header, p []byte, v view) errno {
	domid, ok := domidArg(p)
	if !ok {
		return eINVAL
	}
	if domid == 0 || domid == xswire.DomidSelf || c.s.st.domains[domid] != nil {
		c.replyString(h, "T\x00")
	} else {
		c.replyString(h, "F\x00")
	}
	return eOK
}

func opGetDomainPath(c *conn, h xswire.Header, p []byte, v view) errno {
	domid, ok := domidArg(p)
	if !ok {
		return eINVAL
	}
	b := append(c.outBuf[:0], "/local/domain/"...)
	b = strconv.AppendUint(b, uint64(domid), 10)
	b = append(b, 0)
	c.outBuf = b
	c.reply(h, b)
	return eOK
}

func opResume(c *conn, h xswire.Header, p []byte, v view) errno {
	domid, ok := domidArg(p)
	if !ok || domid == 0 {
		return eINVAL
	}
	if c.s.st.domains[domid] == nil {
		return eNOENT
	}
	c.replyOK(h)
	return eOK
}

func opSetTarget(c *conn, h xswire.Header, p []byte, v view) errno {
	var argv [2][]byte
	if args(p, argv[:]) < 2 {
		return eINVAL
	}
	domid, tdomid := uint32(cAtoi(argv[0])), uint32(cAtoi(argv[1]))
	d, td := c.s.st.domains[domid], c.s.st.domains[tdomid]
	if d == nil || td == nil {
		return eNOENT
	}
	d.hasTarget, d.target = true, tdomid
	c.replyOK(h)
	return eOK
}

// opControl: XS_CONTROL carries C xenstored's debugging and live-update
// commands (xenstore-control), privileged. This daemon has none of them,
// so it answers every command as C answers one it does not know.
func opControl(c *conn, h xswire.Header, p []byte, v view) errno {
	return eINVAL
}

func opResetWatches(c *conn, h xswire.Header, p []byte, v view) errno {
	c.s.resetConnLocked(c)
	c.replyOK(h)
	return eOK
}
