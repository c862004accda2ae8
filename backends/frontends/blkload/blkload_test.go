package blkload

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// memDisk is a BlockDevice in memory; corrupt, when set, flips a byte of
// every read of block 3 (a disk returning what was not written).
type memDisk struct {
	mu      sync.Mutex
	b       []byte
	flushes int
	corrupt bool
	bs      int
	// delay, when set, is how long each read and write takes (a slow
	// machine, or a backend that answers late).
	delay time.Duration
}

func (d *memDisk) ReadAt(p []byte, off int64) (int, error) {
	time.Sleep(d.delay)
	d.mu.Lock()
	defer d.mu.Unlock()
	n := copy(p, d.b[off:])
	if d.corrupt && off == 3*int64(d.bs) {
		p[100] ^= 0xff
	}
	return n, nil
}

func (d *memDisk) WriteAt(p []byte, off int64) (int, error) {
	time.Sleep(d.delay)
	d.mu.Lock()
	defer d.mu.Unlock()
	return copy(d.b[off:], p), nil
}

func (d *memDisk) Flush() error {
	d.mu.Lock()
	d.flushes++
	d.mu.Unlock()
	return nil
}

func (d *memDisk) Size() int64 { return int64(len(d.b)) }

func TestCheck(t *testing.T) {
	ok := Workload{RW: "randrw", BlockSize: 4096, IODepth: 4, Runtime: time.Second}
	if err := ok.Check(1 << 20); err != nil {
		t.Fatal(err)
	}
	for _, w := range []Workload{
		{RW: "scan", BlockSize: 4096, IODepth: 1, Runtime: time.Second},
		{RW: "read", BlockSize: 1000, IODepth: 1, Runtime: time.Second},
		{RW: "read", BlockSize: 4096, IODepth: 0, Runtime: time.Second},
		{RW: "read", BlockSize: 4096, IODepth: 1},
		{RW: "read", BlockSize: 4096, IODepth: 512, Runtime: time.Second}, // more depth than blocks
	} {
		if err := w.Check(1 << 20); err == nil {
			t.Errorf("%+v accepted", w)
		}
	}
}

// A verified write run reads every block it wrote back and finds it; the
// counts add up; sequential writes flush every FlushEvery of them.
func TestRunVerifiedWrites(t *testing.T) {
	d := &memDisk{b: make([]byte, 256<<10), bs: 4096}
	w := Workload{RW: "write", BlockSize: 4096, IODepth: 4, Runtime: 100 * time.Millisecond, Verify: true, FlushEvery: 8, Seed: 1}
	res, err := Run(context.Background(), d, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops == 0 || res.Writes != res.Ops || res.Reads != 0 || res.Bytes != res.Ops*4096 {
		t.Errorf("result %+v", res)
	}
	if res.Verified == 0 {
		t.Error("nothing was verified")
	}
	if d.flushes == 0 || res.Durable == 0 {
		t.Errorf("%d flushes, %d writes known durable, for %d writes", d.flushes, res.Durable, res.Writes)
	}
	if !(res.LatP50us <= res.LatP99us && res.LatP99us <= res.LatMaxus) {
		t.Errorf("latencies p50 %v p99 %v max %v", res.LatP50us, res.LatP99us, res.LatMaxus)
	}
}

// MinOps keeps a workload going past Runtime until that many requests
// completed: on a disk whose every request takes longer than the whole
// Runtime, the result still holds MinOps verified operations. Without
// MinOps the same run stops after the requests in flight.
func TestRunMinOps(t *testing.T) {
	d := &memDisk{b: make([]byte, 256<<10), bs: 4096, delay: 30 * time.Millisecond}
	w := Workload{RW: "randrw", BlockSize: 4096, IODepth: 2, Runtime: 10 * time.Millisecond, Verify: true, MinOps: 12}
	res, err := Run(context.Background(), d, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops < 12 || res.Reads+res.Writes != res.Ops {
		t.Errorf("MinOps 12: %+v", res)
	}
	w.MinOps = 0
	if res, err := Run(context.Background(), d, w, nil); err != nil || res.Ops > 2 {
		t.Errorf("no MinOps: %+v, %v; want at most the 2 requests in flight at Runtime", res, err)
	}
	// The caller's context still bounds it.
	w.MinOps = 1 << 40
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := Run(ctx, d, w, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("MinOps past the caller's deadline: %v, want context.DeadlineExceeded", err)
	}
}

// A disk that returns what was not written fails verification.
func TestRunCatchesCorruption(t *testing.T) {
	d := &memDisk{b: make([]byte, 64<<10), bs: 4096, corrupt: true}
	w := Workload{RW: "read", BlockSize: 4096, IODepth: 1, Runtime: 200 * time.Millisecond, Verify: true}
	if _, err := Run(context.Background(), d, w, nil); !errors.Is(err, ErrVerify) {
		t.Fatalf("Run on a corrupting disk: %v, want ErrVerify", err)
	}
}

// The pattern names its block and sequence number, and only those.
func TestPattern(t *testing.T) {
	buf := make([]byte, 4096)
	fill(buf, 42, 7)
	if !VerifyBlock(buf, 42, 7) || VerifyBlock(buf, 42, 8) || VerifyBlock(buf, 41, 7) {
		t.Error("VerifyBlock")
	}
	if b, seq, ok := PatternSeq(buf); !ok || b != 42 || seq != 7 {
		t.Errorf("PatternSeq = %d %d %v", b, seq, ok)
	}
	buf[600] ^= 1
	if VerifyBlock(buf, 42, 7) {
		t.Error("a changed second sector still verifies")
	}
}
