package xenstored

import (
	"strings"

	"github.com/xfeat/xfeat/xswire"
)

type Perm = xswire.Perm

// errno is the name of an error sent to the client (xswire's names); ""
// is success.
type errno string

const (
	eOK    errno = ""
	eINVAL errno = xswire.EINVAL
	eACCES errno = xswire.EACCES
	eEXIST errno = xswire.EEXIST
	eNOENT errno = xswire.ENOENT
	eNOMEM errno = xswire.ENOMEM
	eNOSPC errno = xswire.ENOSPC
	eNOSYS errno = xswire.ENOSYS
	eBUSY  errno = xswire.EBUSY
	eAGAIN errno = xswire.EAGAIN
	e2BIG  errno = xswire.E2BIG
	ePERM  errno = xswire.EPERM
	eIO    errno = xswire.EIO
	noGen        = ^uint64(0) // generation of an absent node
)

// node is one XenStore node. While a transaction is open, nodes reachable
// from Server.st.nodes are immutable (see view.mutable); perms slices are
// immutable always and may be shared between nodes.
type node struct {
	path     string // absolute; a private copy, safe as a map key
	value    []byte
	perms    []Perm // len >= 1: perms[0] is the owner and the default
	children []string
	gen      uint64
}

func (n *node) clone() *node {
	c := *n
	c.children = append([]string(nil), n.children...)
	return &c
}

// Sizes in C xenstored 4.17's node record (struct xs_tdb_record_hdr, 24
// bytes with its padding, and struct xs_permissions).
const (
	nodeHeaderSize = 24
	permSize       = 8
)

// size is the node's size as C xenstored accounts it for the node-size
// quota: header, permissions, value, NUL-terminated child names. A
// guest's write fails when the node would reach the quota (C: size >=
// quota).
func (n *node) size() int {
	s := nodeHeaderSize + permSize*len(n.perms) + len(n.value)
	for _, c := range n.children {
		s += len(c) + 1
	}
	return s
}

func (n *node) owner() uint32 { return n.perms[0].Domid }

// Permission bits, as XS_PERM_* in xenstore_lib.h.
type perm uint8

const (
	permRead perm = 1 << iota
	permWrite
	permOwner
)

func letterPerm(a byte) perm {
	switch a {
	case xswire.AccessRead:
		return permRead
	case xswire.AccessWrite:
		return permWrite
	case xswire.AccessBoth:
		return permRead | permWrite
	}
	return 0
}

// permFor is the one place that decides what a connection may do with a
// node whose permission list is ps (C's perm_for_conn): privileged
// connections and the owner (or a domain whose target owns it) get
// everything; otherwise the first ACL entry naming the domain (or its
// target) decides; otherwise the owner entry's letter does.
// Must hold Server.st.
func permFor(c *conn, ps []Perm) perm {
	if c.priv || len(ps) == 0 {
		return permRead | permWrite | permOwner
	}
	hasTarget, target := c.targetLocked()
	if ps[0].Domid == c.domid || (hasTarget && ps[0].Domid == target) {
		return permRead | permWrite | permOwner
	}
	for _, p := range ps[1:] {
		if p.Domid == c.domid || (hasTarget && p.Domid == target) {
			return letterPerm(p.Access)
		}
	}
	return letterPerm(ps[0].Access)
}

// parentPath returns the parent of an absolute path ("/" for "/x").
func parentPath(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

func baseName(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

func childPath(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}

// txn is an open transaction: the nodes it touched, with the generation
// each had when first touched, and its private copies of the ones it
// changed. Must hold Server.st for everything in it.
type txn struct {
	id    uint32
	conn  *conn
	acc   map[string]*access
	order []string       // acc keys in first-access order
	owned map[uint32]int // change of nodes owned per domain
}

type access struct {
	gen       uint64 // global generation at first access (noGen: absent)
	n         *node  // the transaction's view; nil: absent
	own       bool   // n is this transaction's private copy
	modified  bool
	fire      bool // fire watches at commit
	exact     bool
	origPerms []Perm // perms at first access, for watch permission at commit
}

// view reads and changes the tree, either globally (tx == nil) or inside a
// transaction. Must hold Server.st for every method.
type view struct {
	s  *Server
	tx *txn
	c  *conn // whose quotas apply; nil for internal changes
}

// get returns the node at path (nil if absent). In a transaction the first
// access records the node's generation; eNOSPC when an unprivileged
// transaction touches more nodes than its quota.
func (v view) get(path string) (*node, errno) {
	g := v.s.st.nodes[path]
	if v.tx == nil {
		return g, eOK
	}
	if a := v.tx.acc[path]; a != nil {
		return a.n, eOK
	}
	if v.c != nil && !v.c.priv && len(v.tx.acc) >= v.s.q.TransactionNodes {
		return nil, eNOSPC
	}
	a := &access{gen: noGen, n: g}
	if g != nil {
		a.gen = g.gen
		a.origPerms = g.perms
	}
	key := strings.Clone(path)
	v.tx.acc[key] = a
	v.tx.order = append(v.tx.order, key)
	return g, eOK
}

// mutable returns a node for path that may be changed in place and then
// stored with set: n itself when no one else can see it, else a copy.
func (v view) mutable(n *node) *node {
	if v.tx == nil {
		if v.s.st.openTx == 0 {
			return n
		}
		return n.clone()
	}
	if a := v.tx.acc[n.path]; a != nil && a.own && a.n == n {
		return n
	}
	return n.clone()
}

// set stores n (from mutable, or new) at n.path.
func (v view) set(n *node) {
	if v.tx == nil {
		v.s.st.gen++
		n.gen = v.s.st.gen
		v.s.st.nodes[n.path] = n
		return
	}
	a := v.tx.acc[n.path]
	if a == nil { // get was not called first: record absence-or-current now
		v.get(n.path)
		a = v.tx.acc[n.path]
	}
	a.n, a.own, a.modified = n, true, true
}

// del removes path (not its children: callers remove those first).
func (v view) del(path string) {
	if v.tx == nil {
		delete(v.s.st.nodes, path)
		return
	}
	if a := v.tx.acc[path]; a != nil {
		a.n, a.own, a.modified = nil, false, true
	}
}

// ownedDelta records a change in the number of nodes domid owns.
func (v view) ownedDelta(domid uint32, d int) {
	if v.tx == nil {
		v.s.st.owned[domid] += d
		if v.s.st.owned[domid] <= 0 {
			delete(v.s.st.owned, domid)
		}
		return
	}
	v.tx.owned[domid] += d
}

// ownedCount is the number of nodes domid owns as this view sees it.
func (v view) ownedCount(domid uint32) int {
	n := v.s.st.owned[domid]
	if v.tx != nil {
		n += v.tx.owned[domid]
	}
	return n
}

// fire reports a change at path to watchers, now or at commit.
func (v view) fire(path string, exact bool, perms []Perm, oldPerms []Perm) {
	if v.tx == nil {
		v.s.fireLocked(path, exact, perms, oldPerms)
		return
	}
	a := v.tx.acc[path]
	if a == nil {
		return
	}
	if !a.fire {
		a.fire, a.exact = true, exact
	} else if !exact {
		a.exact = false
	}
}

// commitLocked applies tx if no node it read changed since; eAGAIN if one did.
// Must hold Server.st.
func (s *Server) commitLocked(tx *txn) errno {
	for _, p := range tx.order {
		a := tx.acc[p]
		cur := noGen
		if g := s.st.nodes[p]; g != nil {
			cur = g.gen
		}
		if cur != a.gen {
			return eAGAIN
		}
	}
	if c := tx.conn; !c.priv {
		if d := tx.owned[c.domid]; d > 0 && s.st.owned[c.domid]+d > s.q.Nodes {
			return eNOSPC
		}
	}
	for _, p := range tx.order {
		a := tx.acc[p]
		if !a.modified {
			continue
		}
		if a.n == nil {
			delete(s.st.nodes, p)
			continue
		}
		s.st.gen++
		a.n.gen = s.st.gen
		s.st.nodes[a.n.path] = a.n
	}
	for d, n := range tx.owned {
		s.st.owned[d] += n
		if s.st.owned[d] <= 0 {
			delete(s.st.owned, d)
		}
	}
	for _, p := range tx.order {
		a := tx.acc[p]
		if !a.fire {
			continue
		}
		var perms []Perm
		if g := s.st.nodes[p]; g != nil {
			perms = g.perms
		}
		s.fireLocked(p, a.exact, perms, a.origPerms)
	}
	return eOK
}
