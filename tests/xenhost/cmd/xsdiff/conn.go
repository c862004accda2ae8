package main

import (
	"errors"
	"net"
	"time"
)

var (
	errTimeout = errors.New("no reply")
	errClosed  = errors.New("connection closed")
)

// endpoint is one client connection to one daemon: a unix socket, or a
// guest's ring with C xenstored.
type endpoint interface {
	send(b []byte) error
	// recv returns the next message, errTimeout after timeout, errClosed
	// once the daemon closed the connection.
	recv(timeout time.Duration) (frame, error)
	close()
}

// sockEnd is a unix-socket connection; a goroutine reads whole messages
// into ch, so that recv can time out.
type sockEnd struct {
	nc net.Conn
	ch chan frame
}

func dialSock(path string) (*sockEnd, error) {
	nc, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return nil, err
	}
	s := &sockEnd{nc: nc, ch: make(chan frame, 256)}
	go func() {
		buf := make([]byte, messageMax)
		for {
			f, err := readFrame(nc, buf)
			if err != nil {
				close(s.ch)
				return
			}
			s.ch <- f
		}
	}()
	return s, nil
}

func (s *sockEnd) send(b []byte) error {
	s.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := s.nc.Write(b)
	if err != nil {
		return errClosed
	}
	return nil
}

func (s *sockEnd) recv(timeout time.Duration) (frame, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case f, ok := <-s.ch:
		if !ok {
			return frame{}, errClosed
		}
		return f, nil
	case <-t.C:
		return frame{}, errTimeout
	}
}

func (s *sockEnd) close() { s.nc.Close() }

// call sends a well-formed request and returns its reply, skipping watch
// events (for the driver's own bookkeeping: tree copy, set-up).
func call(e endpoint, typ uint32, txID uint32, payload []byte) (frame, error) {
	req := newFrame(typ, 0x5eed, txID, payload)
	if err := e.send(req.bytes()); err != nil {
		return frame{}, err
	}
	for {
		f, err := e.recv(replyTimeout)
		if err != nil {
			return frame{}, err
		}
		if f.Type != tWatchEvent {
			return f, nil
		}
	}
}

// replyTimeout bounds the wait for one reply: C xenstored under TCG
// emulation answers in milliseconds, a missing reply is a finding.
const replyTimeout = 10 * time.Second
