package xenstored

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/xfeat/xfeat/xswire"
)

// stateFile is the saved form of a server: the tree in pre-order (so that
// children keep their order), the special nodes' permissions and the
// introduced domains. Connections, watches and transactions are not saved:
// clients reconnect, as after a restart of C xenstored.
type stateFile struct {
	Version    int                 `json:"version"`
	Generation uint64              `json:"generation"`
	Nodes      []stateNode         `json:"nodes"`
	Special    map[string][]string `json:"special"`
	Domains    []stateDomain       `json:"domains"`
}

type stateNode struct {
	Path  string   `json:"path"`
	Value []byte   `json:"value,omitempty"`
	Perms []string `json:"perms"`
}

type stateDomain struct {
	ID     uint32  `json:"id"`
	GFN    uint64  `json:"gfn"`
	Evtchn uint32  `json:"evtchn"`
	Target *uint32 `json:"target,omitempty"`
}

const stateVersion = 1

// StateFileName is the file `xfeat xenstored` saves to in its rundir.
const StateFileName = "xenstored.state"

// Save writes the tree, permissions and introduced domains to path
// (atomically: a temporary file renamed over it).
func (s *Server) Save(path string) error {
	s.st.Lock()
	sf := stateFile{Version: stateVersion, Generation: s.st.gen, Special: map[string][]string{}}
	var walk func(n *node)
	walk = func(n *node) {
		sf.Nodes = append(sf.Nodes, stateNode{Path: n.path, Value: n.value, Perms: formatPerms(n.perms)})
		for _, ch := range n.children {
			if cn := s.st.nodes[childPath(n.path, ch)]; cn != nil {
				walk(cn)
			}
		}
	}
	walk(s.st.nodes["/"])
	for k, ps := range s.st.special {
		sf.Special[k] = formatPerms(ps)
	}
	for _, d := range s.st.domains {
		sd := stateDomain{ID: d.id, GFN: d.gfn, Evtchn: d.evtchn}
		if d.hasTarget {
			t := d.target
			sd.Target = &t
		}
		sf.Domains = append(sf.Domains, sd)
	}
	b, err := json.Marshal(&sf)
	s.st.Unlock()
	if err != nil {
		return fmt.Errorf("xenstored: save: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".xenstored-state-*")
	if err != nil {
		return fmt.Errorf("xenstored: save: %w", err)
	}
	_, werr := tmp.Write(b)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if werr == nil {
		werr = serr
	}
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("xenstored: save: %w", werr)
	}
	return nil
}

// Restore creates a server like New, with the state Save wrote to path:
// the tree, permissions and introduced domains (whose sockets are
// recreated). A state file that does not parse or is inconsistent is an
// error and nothing is started.
func Restore(cfg Config, path string) (*Server, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("xenstored: restore: %w", err)
	}
	var sf stateFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return nil, fmt.Errorf("xenstored: restore %s: %w", path, err)
	}
	if sf.Version != stateVersion {
		return nil, fmt.Errorf("xenstored: restore %s: unknown state version %d", path, sf.Version)
	}
	s := newServer(cfg)
	if err := s.load(&sf); err != nil {
		return nil, fmt.Errorf("xenstored: restore %s: %w", path, err)
	}
	if err := s.listen(); err != nil {
		return nil, err
	}
	s.st.Lock()
	for _, d := range s.st.domains {
		if err := s.listenDomainLocked(d); err != nil {
			s.st.Unlock()
			s.Close()
			return nil, fmt.Errorf("xenstored: restore domain %d: %w", d.id, err)
		}
	}
	s.st.Unlock()
	s.startJanitor()
	return s, nil
}

func (s *Server) load(sf *stateFile) error {
	for i, sn := range sf.Nodes {
		perms, err := parsePerms(sn.Perms)
		if err != nil || len(perms) == 0 {
			return fmt.Errorf("node %q: bad permissions %q", sn.Path, sn.Perms)
		}
		if i == 0 {
			if sn.Path != "/" {
				return fmt.Errorf("first node is %q, not /", sn.Path)
			}
		} else {
			if !validAbsPath(sn.Path) {
				return fmt.Errorf("bad node path %q", sn.Path)
			}
			parent := s.st.nodes[parentPath(sn.Path)]
			if parent == nil {
				return fmt.Errorf("node %q comes before its parent", sn.Path)
			}
			if s.st.nodes[sn.Path] != nil {
				return fmt.Errorf("node %q appears twice", sn.Path)
			}
			parent.children = append(parent.children, baseName(sn.Path))
		}
		s.st.gen++
		s.st.nodes[sn.Path] = &node{path: sn.Path, value: sn.Value, perms: perms, gen: s.st.gen}
		s.st.owned[perms[0].Domid]++
	}
	if len(sf.Nodes) == 0 {
		return fmt.Errorf("no nodes")
	}
	if sf.Generation > s.st.gen {
		s.st.gen = sf.Generation
	}
	for k, ss := range sf.Special {
		if k != specialIntroduce && k != specialRelease {
			return fmt.Errorf("unknown special node %q", k)
		}
		ps, err := parsePerms(ss)
		if err != nil || len(ps) == 0 {
			return fmt.Errorf("special node %q: bad permissions", k)
		}
		s.st.special[k] = ps
	}
	for _, sd := range sf.Domains {
		if sd.ID == 0 || sd.ID >= xswire.DomidFirstReserved || s.st.domains[sd.ID] != nil {
			return fmt.Errorf("bad or duplicate domain %d", sd.ID)
		}
		d := &domain{id: sd.ID, gfn: sd.GFN, evtchn: sd.Evtchn}
		if sd.Target != nil {
			d.hasTarget, d.target = true, *sd.Target
		}
		s.st.domains[sd.ID] = d
	}
	return nil
}

// formatPerms and parsePerms are the state file's permission lists, in
// the wire form GET_PERMS uses (ids a client set beyond 16 bits included).
func formatPerms(ps []Perm) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(appendWirePerm(nil, p))
	}
	return out
}

func parsePerms(ss []string) ([]Perm, error) {
	ps := make([]Perm, 0, len(ss))
	for _, s := range ss {
		p, ok := parseWirePerm([]byte(s))
		if !ok {
			return nil, fmt.Errorf("bad permission %q", s)
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func validAbsPath(p string) bool {
	if len(p) < 2 || p[0] != '/' || p[len(p)-1] == '/' || len(p) > xswire.AbsPathMax {
		return false
	}
	for i := 0; i < len(p); i++ {
		if !validPathChar(p[i]) || i > 0 && p[i] == '/' && p[i-1] == '/' {
			return false
		}
	}
	return true
}
