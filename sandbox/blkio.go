package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/xfeat/xfeat/backends/frontends/blkload"
)

// The I/O control socket, <rundir>/io.sock: `xfeat io` (another process)
// asks the host to run a block workload in a guest. The workload runs in
// the host against the guest's blkfront device (the Go block device over
// its rings), so every byte goes the whole way: guest pages granted,
// request on the shared ring, event channel, blkback mapping the grants,
// preadv/pwritev on the image, response, event back. The client gets
// progress lines while it runs and the result at the end.
//
// Wire format: one JSON line from the client (IORequest), then JSON lines
// from the host: {"progress":{...}} any number of times, then
// {"result":{...}} or {"error":"..."}; the host closes the connection. A
// client that goes away stops its workload.

// IOSocketName is the I/O control socket's name in the rundir.
const IOSocketName = "io.sock"

// IORequest asks for a workload on one guest disk.
type IORequest struct {
	Domid    uint32           `json:"domid"`
	Devid    uint32           `json:"devid"`
	Workload blkload.Workload `json:"workload"`
}

type ioReply struct {
	Progress *blkload.Progress `json:"progress,omitempty"`
	Result   *blkload.Result   `json:"result,omitempty"`
	Error    string            `json:"error,omitempty"`
}

// serveIO listens on the I/O socket until ctx is done.
func (h *Host) serveIO(ctx context.Context) {
	path := filepath.Join(h.cfg.Rundir, IOSocketName)
	os.Remove(path) // a killed host's
	l, err := net.Listen("unix", path)
	if err != nil {
		h.logf("io socket: %v", err)
		return
	}
	// Whoever may drive a guest's disks is whoever owns the host, as for
	// dom0's XenStore socket.
	os.Chmod(path, 0o600)
	var wg sync.WaitGroup
	context.AfterFunc(ctx, func() { l.Close() })
	go func() {
		defer os.Remove(path)
		for {
			c, err := l.Accept()
			if err != nil {
				wg.Wait()
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.serveIOConn(ctx, c)
			}()
		}
	}()
}

func (h *Host) serveIOConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	enc := json.NewEncoder(c)
	var encMu sync.Mutex
	send := func(r ioReply) {
		encMu.Lock()
		defer encMu.Unlock()
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		enc.Encode(r)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return
	}
	c.SetReadDeadline(time.Time{})
	var req IORequest
	if err := json.Unmarshal(line, &req); err != nil {
		send(ioReply{Error: fmt.Sprintf("bad request: %v", err)})
		return
	}
	// The client going away (EOF) stops the workload.
	go func() {
		br.ReadByte()
		cancel()
	}()
	res, err := h.RunIO(ctx, req, func(p blkload.Progress) { send(ioReply{Progress: &p}) })
	if err != nil {
		send(ioReply{Error: err.Error()})
		return
	}
	send(ioReply{Result: &res})
}

// RunIO runs a workload on a guest's disk in this host.
func (h *Host) RunIO(ctx context.Context, req IORequest, progress func(blkload.Progress)) (blkload.Result, error) {
	g := h.Guest(req.Domid)
	if g == nil {
		return blkload.Result{}, fmt.Errorf("domain %d does not run in this host", req.Domid)
	}
	bf := g.Blkfront()
	if bf == nil {
		return blkload.Result{}, fmt.Errorf("domain %d runs no frontends", req.Domid)
	}
	if bf.Device(req.Devid) == nil {
		return blkload.Result{}, fmt.Errorf("domain %d has no connected disk %d", req.Domid, req.Devid)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	dev, err := bf.WaitConnected(wctx, req.Devid)
	cancel()
	if err != nil {
		return blkload.Result{}, fmt.Errorf("domain %d has no connected disk %d", req.Domid, req.Devid)
	}
	return blkload.Run(ctx, dev, req.Workload, progress)
}

// RunIO asks the host serving rundir to run a workload (see IORequest) and
// returns its result; progress (may be nil) gets the host's progress
// reports.
func RunIO(ctx context.Context, rundir string, req IORequest, progress func(blkload.Progress)) (blkload.Result, error) {
	path := filepath.Join(rundir, IOSocketName)
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return blkload.Result{}, fmt.Errorf("no sandbox host answers on %s: %w", path, err)
	}
	defer c.Close()
	context.AfterFunc(ctx, func() { c.Close() })
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return blkload.Result{}, err
	}
	dec := json.NewDecoder(bufio.NewReader(c))
	for {
		var r ioReply
		if err := dec.Decode(&r); err != nil {
			if ctx.Err() != nil {
				return blkload.Result{}, ctx.Err()
			}
			return blkload.Result{}, fmt.Errorf("the host closed the I/O socket without a result: %w", err)
		}
		switch {
		case r.Error != "":
			return blkload.Result{}, errors.New(r.Error)
		case r.Result != nil:
			return *r.Result, nil
		case r.Progress != nil && progress != nil:
			progress(*r.Progress)
		}
	}
}
