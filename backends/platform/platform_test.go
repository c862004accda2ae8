package platform

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// chanChannel is a Channel whose notifications come from a Go channel.
type chanChannel struct{ in chan error }

func (c *chanChannel) Port() uint32  { return 1 }
func (c *chanChannel) Notify() error { return nil }
func (c *chanChannel) Wait(time.Duration) (uint32, error) {
	if err := <-c.in; err != nil {
		return 0, err
	}
	return 1, nil
}
func (c *chanChannel) Kick()        { c.in <- nil }
func (c *chanChannel) Close() error { return nil }

// Pump turns each notification into a wake-up on every loop's channel,
// coalescing those not yet taken, and returns once stopping is set and the
// channel kicked, or once Wait fails.
func TestPump(t *testing.T) {
	ch := &chanChannel{in: make(chan error)}
	var stopping atomic.Bool
	tx, rx := make(chan struct{}, 1), make(chan struct{}, 1)
	done := make(chan struct{})
	go func() { Pump(ch, &stopping, tx, rx); close(done) }()
	for range 3 {
		ch.in <- nil // three notifications, nobody taking the wake-ups
	}
	select {
	case <-tx:
	case <-time.After(5 * time.Second):
		t.Fatal("no tx wake-up")
	}
	select {
	case <-rx:
	default:
		t.Fatal("no rx wake-up")
	}
	select {
	case <-tx:
		t.Fatal("three notifications made more than one pending wake-up")
	default:
	}
	stopping.Store(true)
	ch.Kick()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Pump did not stop")
	}

	failing := &chanChannel{in: make(chan error, 1)}
	failing.in <- errors.New("closed")
	Pump(failing, new(atomic.Bool), tx) // returns at once
}
