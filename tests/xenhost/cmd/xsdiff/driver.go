package main

import (
	"fmt"
	"io"
	"sort"
)

const (
	sideC = 0 // C xenstored
	sideO = 1 // ours
)

var sideNames = [2]string{"C", "ours"}

// pair is one logical client connection: the same client's connection to
// each daemon, acting as the same domain.
type pair struct {
	name  string
	domid uint32 // 0: dom0, privileged
	ends  [2]endpoint
	dial  [2]func() (endpoint, error) // nil: cannot reconnect (a guest's ring)
	dead  bool                        // can no longer be used
	reqID uint32
	tx    []*ltx // open transactions, in start order
	watch [2]int // watches registered, per side
	norm  *norm
}

// ltx is one logical transaction: its id on each side (0 when that side
// did not start it).
type ltx struct{ id [2]uint32 }

// badTx is a transaction id neither daemon hands out in a run this short.
const badTx = 0x7ffffff0

// reset closes and redials both ends after a daemon closed one.
func (p *pair) reset() error {
	p.tx, p.watch = nil, [2]int{}
	for s := range p.ends {
		if p.dial[s] == nil {
			// A guest's ring cannot be redialled (nor unmapped while
			// the pair is still listed): the pair is done.
			p.dead = true
			continue
		}
		if p.ends[s] != nil {
			p.ends[s].close()
		}
		e, err := p.dial[s]()
		if err != nil {
			return fmt.Errorf("%s: reconnect to %s: %w", p.name, sideNames[s], err)
		}
		p.ends[s] = e
	}
	return nil
}

// stats are one mode's counts.
type stats struct {
	Requests      int `json:"requests"`        // compared
	Matched       int `json:"matched"`         // reply and events equal
	Normalised    int `json:"normalised"`      // of those, equal only through a normalisation
	Events        int `json:"events"`          // watch events C sent, compared
	EventOrderDif int `json:"event_order_dif"` // requests whose events matched as multisets but came in another order
	Differences   int `json:"differences"`
}

type msgJSON struct {
	Type    string `json:"type"`
	ReqID   uint32 `json:"req_id"`
	TxID    uint32 `json:"tx_id"`
	Len     uint32 `json:"len"`
	Payload string `json:"payload"` // Go-quoted, NUL as \0
}

func jmsg(f frame) msgJSON {
	return msgJSON{Type: typeName(f.Type), ReqID: f.ReqID, TxID: f.TxID, Len: f.Len, Payload: quote(f.Payload)}
}

func jmsgs(fs []frame) []msgJSON {
	out := make([]msgJSON, len(fs))
	for i, f := range fs {
		out[i] = jmsg(f)
	}
	return out
}

type sideJSON struct {
	Fate   string               `json:"fate,omitempty"` // "closed", "no reply"
	Reply  *msgJSON             `json:"reply,omitempty"`
	Events []msgJSON            `json:"events,omitempty"` // before the reply
	After  map[string][]msgJSON `json:"after,omitempty"`  // per connection, after the reply
}

func jside(o outcome) sideJSON {
	s := sideJSON{Fate: o.fate}
	if o.fate == "" {
		m := jmsg(o.reply)
		s.Reply = &m
	}
	s.Events = jmsgs(o.before)
	for k, fs := range o.after {
		if len(fs) > 0 {
			if s.After == nil {
				s.After = map[string][]msgJSON{}
			}
			s.After[k] = jmsgs(fs)
		}
	}
	return s
}

// diffJSON is one difference.
type diffJSON struct {
	Mode    string   `json:"mode"`
	Conn    string   `json:"conn"`
	Seq     int      `json:"seq"`
	What    string   `json:"what"`
	Note    string   `json:"note,omitempty"`
	Request *msgJSON `json:"request,omitempty"`
	C       sideJSON `json:"c"`
	Ours    sideJSON `json:"ours"`
}

// driver holds the run's pairs, counts and differences.
type driver struct {
	pairs  []*pair
	stats  map[string]*stats
	diffs  []diffJSON
	maxDif int // differences kept per mode and request type, beyond which only counted
	kept   map[string]int
	trace  io.Writer // each request before it is sent (-trace)
}

func (d *driver) st(mode string) *stats {
	if d.stats[mode] == nil {
		d.stats[mode] = &stats{}
	}
	return d.stats[mode]
}

// record counts one compared request and keeps its difference, if any.
func (d *driver) record(mode string, p *pair, seq int, req frame, v verdict, c, o outcome, note string) {
	st := d.st(mode)
	st.Requests++
	st.Events += len(c.before)
	for _, fs := range c.after {
		st.Events += len(fs)
	}
	if v.reply && v.events {
		st.Matched++
		if v.normalised {
			st.Normalised++
		}
		if !sameOrder(c.before, o.before) {
			st.EventOrderDif++
		}
		return
	}
	st.Differences++
	key := mode + "/" + typeName(req.Type) + "/" + v.what
	d.kept[key]++
	if d.kept[key] > d.maxDif {
		return
	}
	m := jmsg(req)
	d.diffs = append(d.diffs, diffJSON{Mode: mode, Conn: p.name, Seq: seq, What: v.what, Note: note, Request: &m, C: jside(c), Ours: jside(o)})
}

// exchange sends req (side's frame) on p's end of side and reads until its
// reply, keeping the watch events that come first.
func (d *driver) exchange(side int, p *pair, req frame) outcome {
	out := outcome{after: map[string][]frame{}}
	e := p.ends[side]
	if err := e.send(req.bytes()); err != nil {
		out.fate = "closed"
		return out
	}
	for {
		f, err := e.recv(replyTimeout)
		if err != nil {
			out.fate = fate(err)
			return out
		}
		if f.Type == tWatchEvent {
			out.before = append(out.before, f)
			continue
		}
		out.reply = f
		return out
	}
}

func fate(err error) string {
	if err == errTimeout {
		return "no reply"
	}
	return "closed"
}

// syncReq is the round trip after each request on every watching
// connection: its reply comes after every event the request queued there.
func syncReq(id uint32) frame { return newFrame(tGetDomPath, id, 0, strs("0")) }

// drain does the round trip on q's end of side and returns the events
// that came before its reply.
func (d *driver) drain(side int, q *pair) ([]frame, error) {
	e := q.ends[side]
	if err := e.send(syncReq(0xfffffff0).bytes()); err != nil {
		return nil, err
	}
	var evs []frame
	for {
		f, err := e.recv(replyTimeout)
		if err != nil {
			return evs, err
		}
		if f.Type == tWatchEvent {
			evs = append(evs, f)
			continue
		}
		if f.ReqID != 0xfffffff0 {
			return evs, fmt.Errorf("%s on %s: round trip answered by %v", q.name, sideNames[side], f)
		}
		return evs, nil
	}
}

// do runs one request on both daemons and compares. reqs are the frames
// for C and for ours (they differ at most in the tx id). It returns both
// outcomes.
func (d *driver) do(mode string, p *pair, seq int, reqs [2]frame, genPath, note string) (outcome, outcome) {
	if d.trace != nil {
		s := reqs[0].String()
		if len(s) > 200 {
			s = s[:200] + "..."
		}
		fmt.Fprintf(d.trace, "%d %s %s %s\n", seq, mode, p.name, s)
	}
	var outs [2]outcome
	for s := range outs {
		outs[s] = d.exchange(s, p, reqs[s])
	}
	d.bookkeep(p, reqs, outs)
	// Events the request queued on watching connections.
	for _, q := range d.pairs {
		if q.dead || (q.watch[0] == 0 && q.watch[1] == 0 && !(q == p && (reqs[0].Type == tWatch || reqs[0].Type == tUnwatch || reqs[0].Type == tResetWatch))) {
			continue
		}
		for s := range outs {
			if q == p && outs[s].fate != "" {
				continue
			}
			evs, err := d.drain(s, q)
			if len(evs) > 0 {
				outs[s].after[q.name] = evs
			}
			if err != nil {
				outs[s].after[q.name] = append(outs[s].after[q.name], frame{Type: tError, Payload: []byte("round trip failed: " + err.Error())})
			}
		}
	}
	v := compareOutcomes(p.norm, reqs[0], reqs[1], genPath, outs[0], outs[1])
	d.record(mode, p, seq, reqs[0], v, outs[0], outs[1], note)
	if outs[0].fate != "" || outs[1].fate != "" {
		if err := p.reset(); err != nil {
			p.dead = true
		}
	}
	return outs[0], outs[1]
}

// bookkeep follows watches and transactions from each side's reply.
func (d *driver) bookkeep(p *pair, reqs [2]frame, outs [2]outcome) {
	for s, o := range outs {
		if o.fate != "" {
			continue
		}
		ok := o.reply.Type == reqs[s].Type
		switch reqs[s].Type {
		case tWatch:
			if ok {
				p.watch[s]++
			}
		case tUnwatch:
			if ok {
				p.watch[s]--
			}
		case tResetWatch:
			if ok {
				p.watch[s] = 0
			}
		}
	}
}

func (d *driver) sortedModes() []string {
	var ms []string
	for m := range d.stats {
		ms = append(ms, m)
	}
	sort.Strings(ms)
	return ms
}
