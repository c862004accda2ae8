package xsclient_test

import (
	"context"
	"testing"

	"github.com/xfeat/xfeat/xenstored"
	"github.com/xfeat/xfeat/xsclient"
)

func benchClient(b *testing.B) *xsclient.Client {
	s, err := xenstored.New(xenstored.Config{Rundir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(context.Background()); close(done) }()
	b.Cleanup(func() { s.Close(); <-done })
	c, err := xsclient.Dial(context.Background(), s.SocketPath())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.WriteString(context.Background(), "/bench/key", "0123456789abcdef"); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkClientRead: one goroutine, one READ at a time.
func BenchmarkClientRead(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Read(ctx, "/bench/key"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClientReadShared: many goroutines sharing one connection.
func BenchmarkClientReadShared(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Read(ctx, "/bench/key"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
