package xenbus

import (
	"context"

	"github.com/xfeat/xfeat/xsclient"
)

// devWatches are the two watches a device's serve loop waits on: its own
// directory and its peer's state node. The loop re-reads what it needs
// after any event, so which watch fired does not matter.
type devWatches struct{ first, second *xsclient.Watch }

// watchDevice registers watches on first and then second; if the second
// cannot be registered, the first is closed again.
func watchDevice(ctx context.Context, c *xsclient.Client, first, second string) (*devWatches, error) {
	w1, err := c.Watch(ctx, first, "")
	if err != nil {
		return nil, err
	}
	w2, err := c.Watch(ctx, second, "")
	if err != nil {
		w1.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return &devWatches{first: w1, second: w2}, nil
}

// close ends both watches, second first; it still talks to XenStore once ctx
// is cancelled, as it runs when the device is done.
func (w *devWatches) close(ctx context.Context) {
	bg := context.WithoutCancel(ctx)
	w.second.Close(bg)
	w.first.Close(bg)
}

// wait blocks until either watch fires. It returns false once ctx is done or
// a watch has ended (the connection to XenStore is gone).
func (w *devWatches) wait(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case _, ok := <-w.first.C:
		return ok
	case _, ok := <-w.second.C:
		return ok
	}
}
