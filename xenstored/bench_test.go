package xenstored

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	T "github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// benchDaemon serves a daemon on a unix socket for a benchmark.
func benchDaemon(b *testing.B) *Server {
	s, err := New(Config{Rundir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(context.Background()); close(done) }()
	b.Cleanup(func() { s.Close(); <-done })
	return s
}

// echoServer is the baseline: a bare unix-socket server that reads each
// xs_wire message (buffered, as the daemon reads) and writes it straight
// back, one goroutine per connection, no work at all.
func echoServer(b *testing.B) string {
	path := filepath.Join(b.TempDir(), "echo")
	l, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, xswire.MessageMax)
				br := bufio.NewReader(c) // one read syscall per message, as the daemon
				for {
					h, p, err := xswire.ReadMessage(br, buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:xswire.HeaderSize+len(p)]); err != nil {
						return
					}
					_ = h
				}
			}()
		}
	}()
	return path
}

// rawRoundTripper sends one fixed request and reads one reply, allocation
// free, on a unix socket.
type rawRoundTripper struct {
	c   net.Conn
	req []byte
	buf []byte
}

func newRawRT(b *testing.B, path string, req []byte) *rawRoundTripper {
	c, err := net.Dial("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return &rawRoundTripper{c: c, req: req, buf: make([]byte, xswire.MessageMax)}
}

func (r *rawRoundTripper) roundTrip(b *testing.B) {
	if _, err := r.c.Write(r.req); err != nil {
		b.Fatal(err)
	}
	if _, _, err := xswire.ReadMessage(r.c, r.buf); err != nil {
		b.Fatal(err)
	}
}

func readRequest(path string) []byte {
	p := path + "\x00"
	return append(xswire.AppendHeader(nil, xswire.Header{Type: xswire.TypeRead, ReqID: 1, Len: uint32(len(p))}), p...)
}

// BenchmarkRoundTripVsEcho measures READ request/response against the
// daemon and, interleaved in the same run, the same exchange against a bare
// echo server; ratio = echo time / daemon time (1 = no overhead at all).
func BenchmarkRoundTripVsEcho(b *testing.B) {
	s := benchDaemon(b)
	c, err := T.Dial(context.Background(), s.SocketPath())
	if err != nil {
		b.Fatal(err)
	}
	if err := c.WriteString(context.Background(), "/bench/key", "0123456789abcdef"); err != nil {
		b.Fatal(err)
	}
	c.Close()
	req := readRequest("/bench/key")
	daemon := newRawRT(b, s.SocketPath(), req)
	echo := newRawRT(b, echoServer(b), req)
	for i := 0; i < 2000; i++ { // warm up both
		daemon.roundTrip(b)
		echo.roundTrip(b)
	}
	// Alternate short blocks and compare medians, so that load from other
	// processes hits both sides alike and spikes do not decide the ratio.
	const block = 32
	echoT := make([]time.Duration, 0, b.N/block+1)
	daemonT := make([]time.Duration, 0, b.N/block+1)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += block {
		n := min(block, b.N-done)
		t0 := time.Now()
		for i := 0; i < n; i++ {
			echo.roundTrip(b)
		}
		t1 := time.Now()
		for i := 0; i < n; i++ {
			daemon.roundTrip(b)
		}
		t2 := time.Now()
		if n == block {
			echoT = append(echoT, t1.Sub(t0))
			daemonT = append(daemonT, t2.Sub(t1))
		}
	}
	b.StopTimer()
	if len(echoT) == 0 {
		return
	}
	slices.Sort(echoT)
	slices.Sort(daemonT)
	me, md := echoT[len(echoT)/2], daemonT[len(daemonT)/2]
	b.ReportMetric(float64(md.Nanoseconds())/block, "xenstored-ns/req")
	b.ReportMetric(float64(me.Nanoseconds())/block, "echo-ns/req")
	b.ReportMetric(float64(me)/float64(md), "ratio")
}

// BenchmarkPipelined64 measures throughput with 64 clients, each keeping 32
// READ requests in flight (sent in one write, replies read back).
func BenchmarkPipelined64(b *testing.B) {
	s := benchDaemon(b)
	c, err := T.Dial(context.Background(), s.SocketPath())
	if err != nil {
		b.Fatal(err)
	}
	if err := c.WriteString(context.Background(), "/bench/key", "0123456789abcdef"); err != nil {
		b.Fatal(err)
	}
	c.Close()
	const clients, depth = 64, 32
	one := readRequest("/bench/key")
	var batch []byte
	for i := 0; i < depth; i++ {
		batch = append(batch, one...)
	}
	conns := make([]net.Conn, clients)
	for i := range conns {
		conns[i], err = net.Dial("unix", s.SocketPath())
		if err != nil {
			b.Fatal(err)
		}
		defer conns[i].Close()
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	rounds := (b.N + clients*depth - 1) / (clients * depth)
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(nc net.Conn) {
			defer wg.Done()
			buf := make([]byte, xswire.MessageMax)
			for r := 0; r < rounds; r++ {
				if _, err := nc.Write(batch); err != nil {
					b.Error(err)
					return
				}
				for k := 0; k < depth; k++ {
					if _, _, err := xswire.ReadMessage(nc, buf); err != nil {
						b.Error(err)
						return
					}
				}
			}
		}(conns[i])
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	total := rounds * clients * depth
	b.ReportMetric(float64(total)/el.Seconds(), "req/s")
}

// BenchmarkGuests1000x4 writes what a toolstack writes for 1000 guests with
// 4 devices each (2 vif, 2 vbd): per device, one transaction creating the
// frontend and backend directories with libxl's permissions and keys.
func BenchmarkGuests1000x4(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s, err := New(Config{Rundir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() { s.Serve(context.Background()); close(done) }()
		ctx := context.Background()
		c, err := T.Dial(ctx, s.SocketPath())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := writeGuests(ctx, c, 1000); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.Close()
		s.Close()
		<-done
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/1000-guests")
}

func writeGuests(ctx context.Context, c *T.Client, n int) error {
	for g := 1; g <= n; g++ {
		fe := strconv.Itoa(g)
		home := "/local/domain/" + fe
		if err := c.Transact(ctx, func(tx *T.Tx) error {
			if err := tx.Mkdir(ctx, home); err != nil {
				return err
			}
			if err := tx.SetPerms(ctx, home, []xswire.Perm{{Domid: 0, Access: 'n'}, {Domid: uint32(g), Access: 'r'}}); err != nil {
				return err
			}
			return tx.WriteString(ctx, home+"/name", "guest"+fe)
		}); err != nil {
			return err
		}
		for d := 0; d < 4; d++ {
			kind, devid := "vif", strconv.Itoa(d)
			if d >= 2 {
				kind, devid = "vbd", strconv.Itoa(51712+16*(d-2))
			}
			fpath := home + "/device/" + kind + "/" + devid
			bpath := "/local/domain/0/backend/" + kind + "/" + fe + "/" + devid
			err := c.Transact(ctx, func(tx *T.Tx) error {
				if err := tx.Rm(ctx, fpath); err != nil && !errors.Is(err, xswire.ErrNotFound) {
					return err
				}
				if err := tx.Mkdir(ctx, fpath); err != nil {
					return err
				}
				if err := tx.SetPerms(ctx, fpath, []xswire.Perm{{Domid: uint32(g), Access: 'n'}, {Domid: 0, Access: 'r'}}); err != nil {
					return err
				}
				for _, kv := range [][2]string{{"backend", bpath}, {"backend-id", "0"}, {"state", "1"}, {"handle", devid}, {"mac", "00:16:3e:00:00:01"}} {
					if err := tx.WriteString(ctx, fpath+"/"+kv[0], kv[1]); err != nil {
						return err
					}
				}
				if err := tx.Rm(ctx, bpath); err != nil && !errors.Is(err, xswire.ErrNotFound) {
					return err
				}
				if err := tx.Mkdir(ctx, bpath); err != nil {
					return err
				}
				if err := tx.SetPerms(ctx, bpath, []xswire.Perm{{Domid: 0, Access: 'n'}, {Domid: uint32(g), Access: 'r'}}); err != nil {
					return err
				}
				for _, kv := range [][2]string{{"frontend", fpath}, {"frontend-id", fe}, {"online", "1"}, {"state", "1"},
					{"script", "/etc/xen/scripts/vif-bridge"}, {"bridge", "xenbr0"}, {"handle", devid}, {"type", "vif"}, {"config-queues", "2"}} {
					if err := tx.WriteString(ctx, bpath+"/"+kv[0], kv[1]); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("guest %d device %d: %w", g, d, err)
			}
		}
	}
	return nil
}

var _ = io.EOF
