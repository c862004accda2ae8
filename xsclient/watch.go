package xsclient

import (
	"context"
	"strconv"
	"sync"

	"github.com/xfeat/xfeat/xswire"
)

// WatchEvent says that Path (the watched path or one below it; relative if
// the watch was set with a relative path) may have changed. xenstored sends
// one event as soon as the watch is set; events may be spurious.
type WatchEvent struct {
	Path  string
	Token string
}

// Watch is a registered watch. Its events arrive on C, in order; events for
// the same path still waiting to be received are merged into one, so a slow
// receiver never blocks the connection and never misses that a path changed.
// C is closed by Close, by Client.Close and when the connection fails.
type Watch struct {
	Path  string
	Token string
	C     <-chan WatchEvent

	c    *Client
	ch   chan WatchEvent
	kick chan struct{}
	quit chan struct{}
	once sync.Once

	q struct {
		sync.Mutex
		events []WatchEvent // not yet handed to ch; Must hold q.Mutex
	}
}

// Watch registers a watch on path (a node, a subtree, or @introduceDomain /
// @releaseDomain). An empty token gets a unique generated one.
func (c *Client) Watch(ctx context.Context, path, token string) (*Watch, error) {
	w := &Watch{Path: path, c: c, ch: make(chan WatchEvent), kick: make(chan struct{}, 1), quit: make(chan struct{})}
	w.C = w.ch
	c.watches.Lock()
	if c.watches.m == nil {
		c.watches.Unlock()
		return nil, ErrClosed
	}
	if token == "" {
		c.watches.seq++
		token = "xsclient-" + strconv.FormatUint(c.watches.seq, 10)
	}
	if _, dup := c.watches.m[token]; dup {
		c.watches.Unlock()
		return nil, &xswire.Error{Errno: xswire.EEXIST, Op: "WATCH", Path: path}
	}
	w.Token = token
	// Registered before the request: the first event may overtake the reply.
	c.watches.m[token] = w
	c.watches.Unlock()
	go w.deliver()
	if _, err := c.request(ctx, xswire.TypeWatch, 0, []string{path, token}, nil); err != nil {
		c.dropWatch(w)
		return nil, err
	}
	return w, nil
}

// Close removes the watch from the daemon and closes C.
func (w *Watch) Close(ctx context.Context) error {
	if !w.c.dropWatch(w) {
		return nil
	}
	_, err := w.c.request(ctx, xswire.TypeUnwatch, 0, []string{w.Path, w.Token}, nil)
	return err
}

func (c *Client) dropWatch(w *Watch) bool {
	c.watches.Lock()
	found := c.watches.m != nil && c.watches.m[w.Token] == w
	if found {
		delete(c.watches.m, w.Token)
	}
	c.watches.Unlock()
	w.stop()
	return found
}

func (w *Watch) stop() { w.once.Do(func() { close(w.quit) }) }

func (c *Client) routeEvent(p []byte) {
	ss := xswire.SplitStrings(p)
	if len(ss) < 2 {
		return
	}
	c.watches.Lock()
	w := c.watches.m[ss[1]]
	c.watches.Unlock()
	if w == nil {
		return // a stale event after Close or ResetWatches
	}
	w.q.Lock()
	dup := false
	for _, e := range w.q.events {
		if e.Path == ss[0] {
			dup = true
			break
		}
	}
	if !dup {
		w.q.events = append(w.q.events, WatchEvent{Path: ss[0], Token: ss[1]})
	}
	w.q.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// deliver moves queued events to ch until the watch is stopped.
func (w *Watch) deliver() {
	defer close(w.ch)
	for {
		select {
		case <-w.kick:
		case <-w.quit:
			return
		}
		for {
			w.q.Lock()
			if len(w.q.events) == 0 {
				w.q.Unlock()
				break
			}
			e := w.q.events[0]
			w.q.events = w.q.events[1:]
			w.q.Unlock()
			select {
			case w.ch <- e:
			case <-w.quit:
				return
			}
		}
	}
}
