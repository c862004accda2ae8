package cfgcompat

import (
	"testing"
	"time"

	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/tests/cfgcompat/cfggen"
)

func benchBoth(b *testing.B, src []byte) {
	xl := NewBench(src)
	defer xl.Close()
	if rc := xl.ParseOnce(); rc != 0 {
		b.Fatalf("libxlutil rejects the input: %d", rc)
	}
	if f, diags := parser.Parse("bench.cfg", src, parser.Options{}); f == nil {
		b.Fatalf("xfeat rejects the input: %s", diags)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	b.ResetTimer()
	var tx, tl time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		parser.Parse("bench.cfg", src, parser.Options{})
		t1 := time.Now()
		xl.ParseOnce()
		tl += time.Since(t1)
		tx += t1.Sub(t0)
	}
	b.ReportMetric(float64(tx.Nanoseconds())/float64(b.N), "xfeat-ns/op")
	b.ReportMetric(float64(tl.Nanoseconds())/float64(b.N), "libxlutil-ns/op")
	// >1: xfeat is faster than libxlutil by that factor.
	b.ReportMetric(float64(tl)/float64(tx), "xfeat-speedup")
}

// BenchmarkParseVsLibxlutil parses the same input with xfeat and with
// libxlutil in one loop; ns/op is their sum, the metrics split it.
func BenchmarkParseVsLibxlutil(b *testing.B) {
	b.Run("typical", func(b *testing.B) { benchBoth(b, []byte(cfggen.Typical)) })
	b.Run("1MB", func(b *testing.B) { benchBoth(b, cfggen.Big(1<<20)) })
}

// TestBigConfigAgrees: the two parsers agree on a big file (it takes a few
// tens of milliseconds: -short runs it too).
func TestBigConfigAgrees(t *testing.T) {
	check(t, "big", cfggen.Big(64<<10))
	check(t, "typical", []byte(cfggen.Typical))
}
