package main

import (
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// The tee proxy: a socket that libxenstore clients reach through
// XENSTORED_PATH. Each client connection gets a connection to each daemon;
// each request goes to both (one request at a time across all clients, so
// both daemons see the same order); C's reply goes back to the client and
// ours is compared with it. Watch events from C are forwarded to the
// client as they come; C's and ours are compared, per connection, as
// multisets when the client goes away (after a round trip on each, so
// nothing is still queued). The client uses C's transaction ids; ours are
// mapped from them.
type proxy struct {
	d     *driver
	lis   net.Listener
	cPath string
	oPath string
	mu    sync.Mutex // one request at a time, all clients
	label string     // mode of the requests now: "proxy:<client>"
	seq   int
	nconn int
	wg    sync.WaitGroup
}

func startProxy(d *driver, path, cPath, oPath string) (*proxy, error) {
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	p := &proxy{d: d, lis: l, cPath: cPath, oPath: oPath}
	go p.accept()
	return p, nil
}

func (p *proxy) setLabel(l string) {
	p.mu.Lock()
	p.label = l
	p.mu.Unlock()
}

func (p *proxy) accept() {
	for {
		nc, err := p.lis.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(nc)
		}()
	}
}

// close stops accepting and waits for the clients' connections to end.
func (p *proxy) close() {
	p.lis.Close()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
	}
}

// teeEnd is one daemon's side of a proxied connection: replies for the
// request loop, events kept (and, for C, forwarded to the client).
type teeEnd struct {
	nc      net.Conn
	replies chan frame
	mu      sync.Mutex
	events  []frame
}

func dialTee(path string, forward func(frame)) (*teeEnd, error) {
	nc, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return nil, err
	}
	t := &teeEnd{nc: nc, replies: make(chan frame, 16)}
	go func() {
		buf := make([]byte, messageMax)
		for {
			f, err := readFrame(nc, buf)
			if err != nil {
				close(t.replies)
				return
			}
			if f.Type == tWatchEvent {
				t.mu.Lock()
				t.events = append(t.events, f)
				t.mu.Unlock()
				if forward != nil {
					forward(f)
				}
				continue
			}
			t.replies <- f
		}
	}()
	return t, nil
}

func (t *teeEnd) ask(req frame) outcome {
	var o outcome
	t.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := t.nc.Write(req.bytes()); err != nil {
		o.fate = "closed"
		return o
	}
	select {
	case f, ok := <-t.replies:
		if !ok {
			o.fate = "closed"
			return o
		}
		o.reply = f
	case <-time.After(replyTimeout):
		o.fate = "no reply"
	}
	return o
}

func (p *proxy) serve(client net.Conn) {
	defer client.Close()
	var cmu sync.Mutex // client writes: replies and C's events
	toClient := func(f frame) {
		cmu.Lock()
		client.SetWriteDeadline(time.Now().Add(10 * time.Second))
		client.Write(f.bytes())
		cmu.Unlock()
	}
	c, err := dialTee(p.cPath, toClient)
	if err != nil {
		return
	}
	defer c.nc.Close()
	o, err := dialTee(p.oPath, nil)
	if err != nil {
		return
	}
	defer o.nc.Close()
	p.mu.Lock()
	p.nconn++
	label := p.label
	name := label + "#" + strconv.Itoa(p.nconn)
	p.mu.Unlock()
	n := newNorm(newGenMap())
	pr := &pair{name: name, norm: n}
	buf := make([]byte, messageMax)
	for {
		req, err := readFrame(client, buf)
		if err != nil {
			break
		}
		reqO := req
		if id, ok := n.txCO[req.TxID]; ok {
			reqO.TxID = id
		}
		p.mu.Lock()
		p.seq++
		seq, mode := p.seq, p.label
		oc := c.ask(req)
		oo := o.ask(reqO)
		genPath := ""
		if req.Type == tDirPart {
			if ss := splitStrings(req.Payload); len(ss) > 0 {
				genPath = ss[0]
			}
		}
		v := compareOutcomes(n, req, reqO, genPath, oc, oo)
		p.d.record(mode, pr, seq, req, v, oc, oo, "")
		p.mu.Unlock()
		if oc.fate != "" {
			break
		}
		toClient(oc.reply)
	}
	// The client is gone: a round trip on each side brings in every event
	// still queued, then the two sets are compared.
	p.mu.Lock()
	defer p.mu.Unlock()
	c.ask(syncReq(0xfffffff0))
	o.ask(syncReq(0xfffffff0))
	c.mu.Lock()
	o.mu.Lock()
	ce, oe := c.events, o.events
	c.mu.Unlock()
	o.mu.Unlock()
	st := p.d.st(label)
	st.Events += len(ce)
	if !sameEvents(ce, oe) {
		st.Differences++
		p.d.diffs = append(p.d.diffs, diffJSON{Mode: label, Conn: name, What: "events (whole connection)",
			C: sideJSON{Events: jmsgs(ce)}, Ours: sideJSON{Events: jmsgs(oe)}})
	}
}
