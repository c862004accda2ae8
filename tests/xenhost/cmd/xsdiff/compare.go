package main

import (
	"bytes"
	"sort"
	"strconv"
)

// The only normalisations: a transaction's id (C's and ours are numbered
// by each daemon) and a node's generation count in DIRECTORY_PART replies
// (each daemon counts its own writes). Both are compared through a map
// built as the run goes: the same logical transaction must have one id on
// each side, and a node's generation must change on our side exactly when
// it changes on C's. Everything else is compared byte for byte.

// norm holds one connection's maps.
type norm struct {
	txCO, txOC map[uint32]uint32
	gen        *genMap // shared by every connection of a mode
}

// genMap maps generations per node path, both ways.
type genMap struct{ co, oc map[string]map[string]string }

func newGenMap() *genMap {
	return &genMap{co: map[string]map[string]string{}, oc: map[string]map[string]string{}}
}

func newNorm(g *genMap) *norm {
	return &norm{txCO: map[uint32]uint32{}, txOC: map[uint32]uint32{}, gen: g}
}

// bind records that C's transaction id c is our o.
func (n *norm) bind(c, o uint32) {
	n.txCO[c], n.txOC[o] = o, c
}

// outcome is what one daemon did with one request.
type outcome struct {
	fate   string // "": replied; "closed", "no reply"
	reply  frame
	before []frame            // events on the requesting connection before its reply
	after  map[string][]frame // events per connection after the reply, up to a round trip on it
}

// verdict is the comparison of C's outcome with ours for one request (C's
// and our request frames differ at most in the header's tx id).
type verdict struct {
	reply, events bool // equal
	normalised    bool // equal only through a normalisation
	what          string
}

// compareOutcomes decides whether c and o agree. genPath is the node whose
// generation a DIRECTORY_PART reply carries ("" for other requests).
func compareOutcomes(n *norm, reqC, reqO frame, genPath string, c, o outcome) verdict {
	reqType := reqC.Type
	v := verdict{reply: true, events: true}
	switch {
	case c.fate != o.fate:
		v.reply, v.what = false, "reply"
	case c.fate == "":
		if c.reply.Type != o.reply.Type || c.reply.ReqID != o.reply.ReqID {
			v.reply, v.what = false, "reply"
			break
		}
		if c.reply.TxID != o.reply.TxID {
			// Each echoes its own request's id: the same transaction.
			if c.reply.TxID != reqC.TxID || o.reply.TxID != reqO.TxID {
				v.reply, v.what = false, "reply tx_id"
				break
			}
			v.normalised = true
		}
		cp, op := c.reply.Payload, o.reply.Payload
		switch {
		case reqType == tTxStart && c.reply.Type == tTxStart:
			ci, e1 := strconv.ParseUint(string(bytes.TrimSuffix(cp, []byte{0})), 10, 32)
			oi, e2 := strconv.ParseUint(string(bytes.TrimSuffix(op, []byte{0})), 10, 32)
			if e1 != nil || e2 != nil || !bytes.HasSuffix(cp, []byte{0}) || !bytes.HasSuffix(op, []byte{0}) {
				v.reply, v.what = false, "reply"
				break
			}
			n.bind(uint32(ci), uint32(oi))
			if ci != oi {
				v.normalised = true
			}
		case reqType == tDirPart && c.reply.Type == tDirPart:
			ci, oi := bytes.IndexByte(cp, 0), bytes.IndexByte(op, 0)
			if ci < 0 || oi < 0 || !bytes.Equal(cp[ci:], op[oi:]) {
				v.reply, v.what = false, "reply"
				break
			}
			if ok, norm := n.gen.check(genPath, string(cp[:ci]), string(op[:oi])); !ok {
				v.reply, v.what = false, "generation"
			} else if norm {
				v.normalised = true
			}
		default:
			if c.reply.Len != o.reply.Len || !bytes.Equal(cp, op) {
				v.reply, v.what = false, "reply"
			}
		}
	}
	if !sameEvents(c.before, o.before) {
		v.events = false
		v.what = join(v.what, "events before reply")
	}
	keys := map[string]bool{}
	for k := range c.after {
		keys[k] = true
	}
	for k := range o.after {
		keys[k] = true
	}
	for k := range keys {
		if !sameEvents(c.after[k], o.after[k]) {
			v.events = false
			v.what = join(v.what, "events on "+k)
		}
	}
	return v
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + ", " + b
}

// check records and checks the generation pair (c, o) for path.
func (g *genMap) check(path, c, o string) (ok, normalised bool) {
	if g.co[path] == nil {
		g.co[path], g.oc[path] = map[string]string{}, map[string]string{}
	}
	co, oc := g.co[path], g.oc[path]
	if x, seen := co[c]; seen && x != o {
		return false, false
	}
	if x, seen := oc[o]; seen && x != c {
		return false, false
	}
	co[c], oc[o] = o, c
	return true, c != o
}

// sameEvents compares two sets of watch events as multisets of whole
// messages.
func sameEvents(a, b []frame) bool {
	if len(a) != len(b) {
		return false
	}
	ka, kb := eventKeys(a), eventKeys(b)
	for i := range ka {
		if ka[i] != kb[i] {
			return false
		}
	}
	return true
}

func eventKeys(fs []frame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f.bytes())
	}
	sort.Strings(out)
	return out
}

// sameOrder: the events came in the same order (reported, not required).
func sameOrder(a, b []frame) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].bytes(), b[i].bytes()) {
			return false
		}
	}
	return true
}
