package xenstored

// watch is one registered watch. Must hold Server.st.
type watch struct {
	c         *conn
	path      string // absolute (or @special), private copy
	token     string
	prefixLen int // bytes of path to strip for the event (relative watches)
}

// Special watch paths.
const (
	specialIntroduce = "@introduceDomain"
	specialRelease   = "@releaseDomain"
)

// fireLocked sends events for a change at path: to watches on path and its
// ancestors, or only on path itself when exact (a node removed with an
// ancestor). Only connections that may read the node, or its parent, or
// could read it before a permission change (oldPerms), are told (XSA-115).
// perms is nil when the node no longer exists. Must hold Server.st.
func (s *Server) fireLocked(path string, exact bool, perms, oldPerms []Perm) {
	if len(s.st.watches) == 0 {
		return
	}
	for p := path; ; p = parentPath(p) {
		for _, w := range s.st.watches[p] {
			if s.watchPermittedLocked(w.c, path, perms, oldPerms) {
				w.c.event(path[w.prefixLen:], w.token)
			}
		}
		if exact || p == "/" {
			return
		}
	}
}

// watchPermittedLocked is C's watch_permitted. Must hold Server.st.
func (s *Server) watchPermittedLocked(c *conn, path string, perms, oldPerms []Perm) bool {
	if oldPerms != nil && permFor(c, oldPerms)&permRead != 0 {
		return true
	}
	if perms == nil {
		return false
	}
	if permFor(c, perms)&permRead != 0 {
		return true
	}
	if path == "/" {
		return false
	}
	parent := s.st.nodes[parentPath(path)]
	return parent != nil && permFor(c, parent.perms)&permRead != 0
}

// fireSpecialLocked fires @introduceDomain or @releaseDomain for the
// watchers allowed to read that special node. Must hold Server.st.
func (s *Server) fireSpecialLocked(name string) {
	perms := s.st.special[name]
	for _, w := range s.st.watches[name] {
		if permFor(w.c, perms)&permRead != 0 {
			w.c.event(name, w.token)
		}
	}
}

func (s *Server) addWatchLocked(w *watch) {
	s.st.watches[w.path] = append(s.st.watches[w.path], w)
	w.c.watches = append(w.c.watches, w)
	if w.c.dom != nil {
		w.c.dom.nwatches++
	}
}

func (s *Server) removeWatchLocked(w *watch) {
	ws := s.st.watches[w.path]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(s.st.watches, w.path)
	} else {
		s.st.watches[w.path] = ws
	}
	cw := w.c.watches
	for i, x := range cw {
		if x == w {
			w.c.watches = append(cw[:i:i], cw[i+1:]...)
			break
		}
	}
	if w.c.dom != nil {
		w.c.dom.nwatches--
	}
}

// resetConnLocked drops a connection's watches and transactions.
// Must hold Server.st.
func (s *Server) resetConnLocked(c *conn) {
	for len(c.watches) > 0 {
		s.removeWatchLocked(c.watches[len(c.watches)-1])
	}
	for id := range c.txs {
		s.endTxLocked(c, id)
	}
}

func (s *Server) endTxLocked(c *conn, id uint32) {
	if _, ok := c.txs[id]; !ok {
		return
	}
	delete(c.txs, id)
	s.st.openTx--
	if c.dom != nil {
		c.dom.ntxs--
	}
}
