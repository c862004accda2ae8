// Package xstest runs the embedded XenStore daemon for a test: on a socket
// in the test's temporary directory (Serve), or on an in-memory pipe as one
// privileged connection (Pipe). Everything it starts stops when the test
// ends. The daemon's and the client's own tests cannot use it (they are
// what it imports).
package xstest

import (
	"context"
	"net"
	"testing"

	"github.com/xfeat/xfeat/xenstored"
	"github.com/xfeat/xfeat/xsclient"
)

// Serve runs a daemon with cfg (Rundir defaults to a temporary directory)
// serving its socket, s.SocketPath().
func Serve(t testing.TB, cfg xenstored.Config) *xenstored.Server {
	t.Helper()
	if cfg.Rundir == "" {
		cfg.Rundir = t.TempDir()
	}
	s, err := xenstored.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(context.Background()); close(done) }()
	t.Cleanup(func() { s.Close(); <-done })
	return s
}

// Dial connects a client to the daemon socket path and closes it when the
// test ends.
func Dial(t testing.TB, path string) *xsclient.Client {
	t.Helper()
	c, err := xsclient.Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Pipe starts a daemon with no socket and returns a dom0 client on an
// in-memory connection to it.
func Pipe(t testing.TB) *xsclient.Client {
	t.Helper()
	s, err := xenstored.New(xenstored.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	go s.ServeConn(a, 0)
	c := xsclient.NewClient(b)
	t.Cleanup(func() { c.Close(); s.Close() })
	return c
}
