package main

import (
	"bytes"
	"fmt"
	"strconv"
)

// nodeInfo is one node as a privileged client sees it.
type nodeInfo struct {
	Path  string   `json:"path"`
	Value string   `json:"value"`
	Perms []string `json:"perms"`
}

// dump reads a daemon's whole tree below root in pre-order, children in
// the daemon's order, through a privileged connection.
func dump(e endpoint, root string) ([]nodeInfo, error) {
	var out []nodeInfo
	var walk func(path string) error
	walk = func(path string) error {
		v, err := call(e, tRead, 0, strs(path))
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if v.Type == tError {
			if string(v.Payload) == "ENOENT\x00" {
				return nil // removed meanwhile
			}
			return fmt.Errorf("read %s: %s", path, quote(v.Payload))
		}
		pm, err := call(e, tGetPerms, 0, strs(path))
		if err != nil || pm.Type != tGetPerms {
			return fmt.Errorf("get-perms %s: %v %v", path, pm, err)
		}
		out = append(out, nodeInfo{Path: path, Value: string(v.Payload), Perms: splitStrings(pm.Payload)})
		kids, err := children(e, path)
		if err != nil {
			return err
		}
		for _, k := range kids {
			cp := path + "/" + k
			if path == "/" {
				cp = "/" + k
			}
			if err := walk(cp); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(root)
}

// children lists a node's children: DIRECTORY, or DIRECTORY_PART when the
// list exceeds one payload (E2BIG), as libxenstore does.
func children(e endpoint, path string) ([]string, error) {
	f, err := call(e, tDirectory, 0, strs(path))
	if err != nil {
		return nil, err
	}
	if f.Type == tDirectory {
		return splitStrings(f.Payload), nil
	}
	if string(f.Payload) != "E2BIG\x00" {
		return nil, fmt.Errorf("directory %s: %s", path, quote(f.Payload))
	}
	var all []byte
	gen := ""
	for off := 0; ; {
		f, err := call(e, tDirPart, 0, strs(path, strconv.Itoa(off)))
		if err != nil || f.Type != tDirPart {
			return nil, fmt.Errorf("directory-part %s: %v %v", path, f, err)
		}
		i := bytes.IndexByte(f.Payload, 0)
		g, rest := string(f.Payload[:i]), f.Payload[i+1:]
		if gen != "" && g != gen {
			all, gen, off = nil, "", 0 // changed under us: start again
			continue
		}
		gen = g
		if len(rest) == 0 || len(rest) == 1 && rest[0] == 0 {
			break
		}
		if rest[len(rest)-1] == 0 && len(rest) >= 2 && rest[len(rest)-2] == 0 {
			all = append(all, rest[:len(rest)-1]...)
			break
		}
		all = append(all, rest...)
		off += len(rest)
	}
	return splitStrings(all), nil
}

// special nodes: their permissions are all they have.
var specialNodes = []string{"@introduceDomain", "@releaseDomain"}

// copyTree makes ours hold C's tree: every node's value and permission
// list, children in C's order, and the special nodes' permissions.
func copyTree(c, o endpoint) (int, map[string][]string, error) {
	nodes, err := dump(c, "/")
	if err != nil {
		return 0, nil, fmt.Errorf("dump C's tree: %w", err)
	}
	for _, n := range nodes {
		if n.Path != "/" {
			if f, err := call(o, tWrite, 0, append([]byte(n.Path+"\x00"), n.Value...)); err != nil || f.Type != tWrite {
				return 0, nil, fmt.Errorf("ours: write %s: %v %v", n.Path, f, err)
			}
		}
		if f, err := call(o, tSetPerms, 0, strs(append([]string{n.Path}, n.Perms...)...)); err != nil || f.Type != tSetPerms {
			return 0, nil, fmt.Errorf("ours: set-perms %s %v: %v %v", n.Path, n.Perms, f, err)
		}
	}
	// The special nodes' permissions are left alone: C 4.17 answers
	// GET_PERMS on them with EINVAL, so they cannot be read, and C
	// 4.17.7 does not survive SET_PERMS on a special path (from a guest
	// it stops at once; from dom0 later requests behave as if the
	// permissions were garbage), so none is sent. Both daemons start
	// them as "n0" and no client here changes them.
	special := map[string][]string{}
	for _, s := range specialNodes {
		special[s] = []string{"n0"}
	}
	return len(nodes), special, nil
}

// treeDiff compares the two trees node by node (value, permissions, and
// each node's place in its parent's list).
func treeDiff(c, o endpoint) (n int, diffs []string, err error) {
	cn, err := dump(c, "/")
	if err != nil {
		return 0, nil, fmt.Errorf("dump C: %w", err)
	}
	on, err := dump(o, "/")
	if err != nil {
		return 0, nil, fmt.Errorf("dump ours: %w", err)
	}
	om := map[string]nodeInfo{}
	for _, x := range on {
		om[x.Path] = x
	}
	cm := map[string]bool{}
	for i, x := range cn {
		cm[x.Path] = true
		y, ok := om[x.Path]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s: only in C (%s %v)", x.Path, quote([]byte(x.Value)), x.Perms))
		case y.Value != x.Value || fmt.Sprint(y.Perms) != fmt.Sprint(x.Perms):
			diffs = append(diffs, fmt.Sprintf("%s: C %s %v, ours %s %v", x.Path, quote([]byte(x.Value)), x.Perms, quote([]byte(y.Value)), y.Perms))
		case i < len(on) && on[i].Path != x.Path:
			diffs = append(diffs, fmt.Sprintf("%s: C lists it at %d, ours has %s there", x.Path, i, on[i].Path))
		}
	}
	for _, y := range on {
		if !cm[y.Path] {
			diffs = append(diffs, fmt.Sprintf("%s: only in ours (%s %v)", y.Path, quote([]byte(y.Value)), y.Perms))
		}
	}
	return len(cn), diffs, nil
}
