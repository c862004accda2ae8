package xenstored

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xfeat/xfeat/internal/hostlog"
	"github.com/xfeat/xfeat/xswire"
)

// Server is a XenStore daemon: the tree, its domains, its connections.
type Server struct {
	cfg Config
	q   Quotas

	// st guards the tree and everything requests touch. It is held for
	// the whole of a request, as C xenstored is single-threaded.
	st struct {
		sync.Mutex
		nodes   map[string]*node
		gen     uint64
		openTx  int               // open transactions, all connections
		owned   map[uint32]int    // nodes owned per domain
		special map[string][]Perm // permissions of @introduceDomain, @releaseDomain
		watches map[string][]*watch
		domains map[uint32]*domain
		conns   map[*conn]struct{}
		kicks   []*conn // connections with events queued, to wake (kickLocked)
		closed  bool
	}

	now atomic.Int64 // coarse clock (UnixNano), updated by the janitor

	lim      *hostlog.Limiter // ours, when Config.DomainLogf is unset
	lis      net.Listener     // <rundir>/socket; nil without a rundir
	wg       sync.WaitGroup
	closeMu  sync.Mutex
	closeErr error
	done     chan struct{}
}

// domain is an introduced domain. Must hold Server.st.
type domain struct {
	id        uint32
	gfn       uint64
	evtchn    uint32
	hasTarget bool
	target    uint32
	nwatches  int
	ntxs      int
	nconns    int
	lis       net.Listener // <rundir>/domains/<id>/socket
	sock      string
}

func (d *domain) info() Domain {
	return Domain{ID: d.id, GFN: d.gfn, Evtchn: d.evtchn, Socket: d.sock}
}

// New creates a server with C xenstored's initial tree ("/", "/tool",
// "/tool/xenstored", all owned by domain 0 and private) and, if cfg.Rundir
// is set, listens on <rundir>/socket (rundir mode 0755, socket 0600).
// Connections are accepted once Serve runs.
func New(cfg Config) (*Server, error) {
	s := newServer(cfg)
	s.initTree()
	if err := s.listen(); err != nil {
		return nil, err
	}
	s.startJanitor()
	return s, nil
}

func newServer(cfg Config) *Server {
	if cfg.MaxConnOutput <= 0 {
		cfg.MaxConnOutput = 1 << 20
	}
	if cfg.MaxConnOutput < 2*xswire.MessageMax {
		cfg.MaxConnOutput = 2 * xswire.MessageMax
	}
	if cfg.MaxDomainConns <= 0 {
		cfg.MaxDomainConns = 32
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 20 * time.Second
	}
	s := &Server{cfg: cfg, q: cfg.Quotas.withDefaults(), done: make(chan struct{})}
	if s.cfg.DomainLogf == nil {
		s.lim = hostlog.NewLimiter(s.logf)
		s.cfg.DomainLogf = s.lim.Logf
	}
	s.st.nodes = make(map[string]*node)
	s.st.owned = make(map[uint32]int)
	s.st.watches = make(map[string][]*watch)
	s.st.domains = make(map[uint32]*domain)
	s.st.conns = make(map[*conn]struct{})
	s.st.special = map[string][]Perm{
		specialIntroduce: {{Domid: 0, Access: xswire.AccessNone}},
		specialRelease:   {{Domid: 0, Access: xswire.AccessNone}},
	}
	s.now.Store(time.Now().UnixNano())
	return s
}

func (s *Server) startJanitor() {
	s.wg.Add(1)
	go s.janitor()
}

// janitor keeps the coarse clock and disconnects clients whose writes have
// been blocked for longer than WriteTimeout: they stopped reading.
func (s *Server) janitor() {
	defer s.wg.Done()
	tick := time.NewTicker(min(s.cfg.WriteTimeout/4, 250*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-s.done:
			return
		case t := <-tick.C:
			now := t.UnixNano()
			s.now.Store(now)
			s.st.Lock()
			for c := range s.st.conns {
				if ws := c.writeStart.Load(); ws != 0 && time.Duration(now-ws) > s.cfg.WriteTimeout {
					s.domLogf(c.domid, "xenstored: domain %d did not read its replies for %v: connection closed", c.domid, s.cfg.WriteTimeout)
					c.nc.Close()
				}
			}
			s.st.Unlock()
		}
	}
}

func (s *Server) initTree() {
	priv := []Perm{{Domid: 0, Access: xswire.AccessNone}}
	add := func(path string, children ...string) {
		s.st.gen++
		s.st.nodes[path] = &node{path: path, perms: priv, children: children, gen: s.st.gen}
		s.st.owned[0]++
	}
	add("/", "tool")
	add("/tool", "xenstored")
	add("/tool/xenstored")
}

// kickLocked releases the watch events queued since the last call (see
// conn.out.held) and wakes those connections' writers. Whoever takes the
// tree lock and may fire events calls it before unlocking. Must hold s.st.
func (s *Server) kickLocked() {
	for _, c := range s.st.kicks {
		c.kickQueued = false
		c.out.Lock()
		c.out.held = false
		c.out.cond.Broadcast() // waitOutstanding may wait for it
		c.out.Unlock()
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
	clear(s.st.kicks)
	s.st.kicks = s.st.kicks[:0]
}

func (s *Server) listen() error {
	if s.cfg.Rundir == "" {
		return nil
	}
	if err := os.MkdirAll(s.cfg.Rundir, 0o755); err != nil {
		return fmt.Errorf("xenstored: %w", err)
	}
	path := filepath.Join(s.cfg.Rundir, "socket")
	l, err := listenUnix(path)
	if err != nil {
		return err
	}
	s.lis = l
	return nil
}

// listenUnix listens on path (mode 0600), replacing a stale socket left by
// a daemon that died, but never a live one.
func listenUnix(path string) (net.Listener, error) {
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("xenstored: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("xenstored: %s: another xenstored is listening there", path)
		}
		os.Remove(path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("xenstored: %w", err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("xenstored: %w", err)
	}
	return l, nil
}

// SocketPath is domain 0's socket ("" without a Rundir).
func (s *Server) SocketPath() string {
	if s.lis == nil {
		return ""
	}
	return filepath.Join(s.cfg.Rundir, "socket")
}

// DomainSocketPath is where domid's connections are accepted once it is
// introduced.
func (s *Server) DomainSocketPath(domid uint32) string {
	if s.cfg.Rundir == "" {
		return ""
	}
	return filepath.Join(s.cfg.Rundir, "domains", strconv.FormatUint(uint64(domid), 10), "socket")
}

// Serve accepts domain 0's connections until ctx is done or Close is
// called, then closes the server and returns.
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	if s.lis == nil {
		select {
		case <-ctx.Done():
		case <-s.done:
		}
		return s.Close()
	}
	s.acceptLoop(s.lis, 0)
	return s.Close()
}

func (s *Server) acceptLoop(l net.Listener, domid uint32) {
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: back off rather than spin.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay < time.Second {
				delay *= 2
			}
			s.domLogf(domid, "xenstored: domain %d's socket: accept: %v", domid, err)
			select {
			case <-time.After(delay):
				continue
			case <-s.done:
				return
			}
		}
		delay = 0
		if err := s.startConn(nc, domid); err != nil {
			nc.Close()
		}
	}
}

// ServeConn serves one connection acting as domid (0: privileged) until
// it ends; domid must be 0 or an introduced domain. It is how an embedding
// process connects in-process clients (a net.Pipe) or its own sockets.
func (s *Server) ServeConn(nc net.Conn, domid uint32) error {
	c, err := s.register(nc, domid)
	if err != nil {
		return err
	}
	defer s.wg.Done()
	c.serve()
	return nil
}

func (s *Server) startConn(nc net.Conn, domid uint32) error {
	c, err := s.register(nc, domid)
	if err != nil {
		return err
	}
	go func() {
		defer s.wg.Done()
		c.serve()
	}()
	return nil
}

func (s *Server) register(nc net.Conn, domid uint32) (*conn, error) {
	s.st.Lock()
	defer s.st.Unlock()
	if s.st.closed {
		return nil, errors.New("xenstored: server closed")
	}
	var d *domain
	if domid != 0 {
		d = s.st.domains[domid]
		if d == nil {
			return nil, fmt.Errorf("xenstored: domain %d is not introduced", domid)
		}
		if d.nconns >= s.cfg.MaxDomainConns {
			s.domLogf(domid, "xenstored: domain %d already has %d connections: connection refused", domid, d.nconns)
			return nil, fmt.Errorf("xenstored: domain %d has too many connections", domid)
		}
		d.nconns++
	}
	c := newConn(s, nc, domid, d)
	s.st.conns[c] = struct{}{}
	s.wg.Add(1)
	return c, nil
}

// dropConnLocked forgets a connection that ended. Must hold s.st.
func (s *Server) dropConnLocked(c *conn) {
	if c.gone {
		return
	}
	c.gone = true
	if c.dom != nil {
		c.dom.nconns--
	}
	s.resetConnLocked(c)
	delete(s.st.conns, c)
}

// Close stops accepting, closes every connection and waits for their
// goroutines. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	s.st.Lock()
	if s.st.closed {
		s.st.Unlock()
		return s.closeErr
	}
	s.st.closed = true
	close(s.done)
	if s.lis != nil {
		s.lis.Close()
	}
	for _, d := range s.st.domains {
		if d.lis != nil {
			d.lis.Close()
		}
	}
	for c := range s.st.conns {
		c.nc.Close()
	}
	s.st.Unlock()
	s.wg.Wait()
	if s.lim != nil {
		s.lim.Close() // what it held back is summarised now
	}
	return s.closeErr
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

// domLogf logs a line domain domid caused and may repeat at will: it is
// rate-limited per domain (Config.DomainLogf).
func (s *Server) domLogf(domid uint32, format string, args ...any) {
	s.cfg.DomainLogf(domid, format, args...)
}

// Introduce introduces domid in-process, as an INTRODUCE request would.
func (s *Server) Introduce(domid uint32, gfn uint64, evtchn uint32) error {
	if domid == 0 || domid >= xswire.DomidFirstReserved || evtchn == 0 {
		return &xswire.Error{Errno: string(eINVAL), Op: "INTRODUCE"}
	}
	s.st.Lock()
	d, e := s.introduceLocked(domid, gfn, evtchn)
	s.kickLocked()
	s.st.Unlock()
	if e != eOK {
		return &xswire.Error{Errno: string(e), Op: "INTRODUCE"}
	}
	if d != nil && s.cfg.OnIntroduce != nil {
		s.cfg.OnIntroduce(d.info())
	}
	return nil
}

// Release releases domid in-process, as a RELEASE request would.
func (s *Server) Release(domid uint32) error {
	if domid == 0 {
		return &xswire.Error{Errno: string(eINVAL), Op: "RELEASE"}
	}
	s.st.Lock()
	d, e := s.releaseLocked(domid)
	s.kickLocked()
	s.st.Unlock()
	if e != eOK {
		return &xswire.Error{Errno: string(e), Op: "RELEASE"}
	}
	if s.cfg.OnRelease != nil {
		s.cfg.OnRelease(d.info())
	}
	return nil
}

// Domains lists the introduced domains.
func (s *Server) Domains() []Domain {
	s.st.Lock()
	defer s.st.Unlock()
	out := make([]Domain, 0, len(s.st.domains))
	for _, d := range s.st.domains {
		out = append(out, d.info())
	}
	return out
}

// introduceLocked creates domain domid: its socket, and /local/domain/<id>
// owned by it unless the toolstack made that already. It returns nil, eOK
// for a domain already introduced (C only rebinds its event channel then).
// Must hold s.st.
func (s *Server) introduceLocked(domid uint32, gfn uint64, evtchn uint32) (*domain, errno) {
	if s.st.closed {
		return nil, eIO
	}
	if d := s.st.domains[domid]; d != nil {
		d.gfn, d.evtchn = gfn, evtchn
		return nil, eOK
	}
	d := &domain{id: domid, gfn: gfn, evtchn: evtchn}
	if err := s.listenDomainLocked(d); err != nil {
		s.logf("xenstored: introduce domain %d: %v", domid, err)
		return nil, eIO
	}
	s.st.domains[domid] = d
	home := "/local/domain/" + strconv.FormatUint(uint64(domid), 10)
	if s.st.nodes[home] == nil {
		priv := &conn{s: s, priv: true, prefix: "/local/domain/0"}
		v := view{s: s}
		priv.create(v, home, nil)
		n := s.st.nodes[home]
		old := n.perms
		n.perms = []Perm{{Domid: domid, Access: xswire.AccessNone}}
		s.st.owned[old[0].Domid]--
		s.st.owned[domid]++
		s.fireLocked(home, false, n.perms, nil)
	}
	s.fireSpecialLocked(specialIntroduce)
	s.logf("xenstored: domain %d introduced", domid)
	return d, eOK
}

func (s *Server) listenDomainLocked(d *domain) error {
	if s.cfg.Rundir == "" {
		return nil
	}
	sock := s.DomainSocketPath(d.id)
	if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
		return err
	}
	l, err := listenUnix(sock)
	if err != nil {
		return err
	}
	d.lis, d.sock = l, sock
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.acceptLoop(l, d.id)
	}()
	return nil
}

// releaseLocked removes domain domid: its socket and connections (whose
// watches are dropped first, so they see nothing of it), the nodes it owns,
// its entries in other nodes' permission lists; then fires @releaseDomain.
// Must hold s.st.
func (s *Server) releaseLocked(domid uint32) (*domain, errno) {
	d := s.st.domains[domid]
	if d == nil {
		return nil, eNOENT
	}
	for c := range s.st.conns {
		if c.dom == d {
			s.dropConnLocked(c)
			c.nc.Close()
		}
	}
	if d.lis != nil {
		d.lis.Close()
		os.Remove(filepath.Dir(d.sock))
	}
	delete(s.st.domains, domid)

	// Orphaned nodes go (C without --keep-orphans); the walk restarts
	// after each removal since the tree changed under it.
	v := view{s: s}
	var walk func(n *node) *node
	walk = func(n *node) *node {
		if n.owner() == domid && n.path != "/" {
			return n
		}
		for _, ch := range n.children {
			if cn := s.st.nodes[childPath(n.path, ch)]; cn != nil {
				if hit := walk(cn); hit != nil {
					return hit
				}
			}
		}
		return nil
	}
	for {
		hit := walk(s.st.nodes["/"])
		if hit == nil {
			break
		}
		s.rmLocked(v, hit)
	}
	// No later domain with this id inherits its grants (XSA-322).
	for _, n := range s.st.nodes {
		if ps, changed := stripDomid(n.perms, domid); changed {
			if s.st.openTx == 0 {
				n.perms = ps
			} else {
				m := n.clone()
				m.perms = ps
				s.st.nodes[m.path] = m
			}
		}
	}
	for k, ps := range s.st.special {
		if ps2, changed := stripDomid(ps, domid); changed {
			s.st.special[k] = ps2
		}
	}
	s.fireSpecialLocked(specialRelease)
	s.logf("xenstored: domain %d released", domid)
	return d, eOK
}

func stripDomid(ps []Perm, domid uint32) ([]Perm, bool) {
	for i := 1; i < len(ps); i++ {
		if ps[i].Domid == domid {
			out := make([]Perm, 0, len(ps)-1)
			out = append(out, ps[:1]...)
			for _, p := range ps[1:] {
				if p.Domid != domid {
					out = append(out, p)
				}
			}
			return out, true
		}
	}
	return ps, false
}
