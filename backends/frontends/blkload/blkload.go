// Package blkload is a block workload generator, what `xfeat io` runs inside
// the sandbox host like a small fio: IODepth goroutines each keep one
// request in flight against a BlockDevice (a connected blkfront.Device) for
// Runtime, recording per-request latency. Data enters as a Workload and
// leaves as a Result (throughput, IOPS, latency percentiles), with Progress
// about once a second.
//
// With Verify, every written block carries its block number and a write
// sequence number in each 512-byte sector, and every read of a block whose
// last write is known is checked against it; read workloads first fill the
// region, and write workloads end with a read-back pass over every block
// they wrote. A block is never read and written at the same time, so a
// check never races a write.
package blkload

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// BlockDevice is what a workload runs on (a connected blkfront.Device).
type BlockDevice interface {
	io.ReaderAt
	io.WriterAt
	Flush() error
	Size() int64
}

// Workload describes one run.
type Workload struct {
	RW        string        `json:"rw"` // read, write, randread, randwrite, randrw
	BlockSize int           `json:"bs"`
	IODepth   int           `json:"iodepth"`
	Runtime   time.Duration `json:"runtime"`
	Verify    bool          `json:"verify"`
	// Size bounds the region used (bytes from 0); 0 means the whole disk.
	Size int64 `json:"size,omitempty"`
	// FlushEvery, if > 0, issues a flush after that many writes and
	// reports in Progress.Durable how many of the sequential writes are
	// known durable (crash-consistency checks).
	FlushEvery int   `json:"flush_every,omitempty"`
	Seed       int64 `json:"seed,omitempty"`
	// MinOps, if > 0, keeps the workload going past Runtime until that
	// many operations have completed (bounded by the caller's context):
	// what a check of the work done needs on a machine too slow to
	// finish one request within Runtime.
	MinOps int64 `json:"min_ops,omitempty"`
}

// Check reports a workload that cannot run on a disk of size bytes.
func (w *Workload) Check(size int64) error {
	switch w.RW {
	case "read", "write", "randread", "randwrite", "randrw":
	default:
		return fmt.Errorf("rw %q: want read, write, randread, randwrite or randrw", w.RW)
	}
	if w.BlockSize < 512 || w.BlockSize%512 != 0 || w.BlockSize > 16<<20 {
		return fmt.Errorf("bs %d: want a multiple of 512 from 512 to 16M", w.BlockSize)
	}
	if w.IODepth < 1 || w.IODepth > 1024 {
		return fmt.Errorf("iodepth %d: want 1 to 1024", w.IODepth)
	}
	if w.Runtime <= 0 || w.Runtime > 24*time.Hour {
		return fmt.Errorf("runtime %v: want more than 0 and at most 24h", w.Runtime)
	}
	if w.MinOps < 0 {
		return fmt.Errorf("min ops %d: want 0 or more", w.MinOps)
	}
	region := w.Size
	if region == 0 || region > size {
		region = size
	}
	if region/int64(w.BlockSize) < int64(w.IODepth) {
		return fmt.Errorf("the disk (%d bytes) holds fewer than iodepth (%d) blocks of %d bytes", region, w.IODepth, w.BlockSize)
	}
	return nil
}

// Progress is reported about once a second.
type Progress struct {
	Elapsed time.Duration `json:"elapsed_ns"`
	Ops     int64         `json:"ops"`
	IOPS    float64       `json:"iops"` // over the last interval
	MBps    float64       `json:"mbps"`
	// Durable is the number of sequential writes (from block 0) every one
	// of which was acknowledged before a flush that has completed.
	Durable int64 `json:"durable,omitempty"`
}

// Result is a finished run.
type Result struct {
	Ops      int64         `json:"ops"`
	Reads    int64         `json:"reads"`
	Writes   int64         `json:"writes"`
	Bytes    int64         `json:"bytes"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	IOPS     float64       `json:"iops"`
	MBps     float64       `json:"mbps"`
	LatP50us float64       `json:"lat_p50_us"`
	LatP99us float64       `json:"lat_p99_us"`
	LatMaxus float64       `json:"lat_max_us"`
	Verified int64         `json:"verified"` // blocks checked against what was written
	Durable  int64         `json:"durable,omitempty"`
}

// ErrVerify is wrapped by a verification failure.
var ErrVerify = errors.New("verify: data read back differs from what was written")

// histogram is a log-linear latency histogram (16 buckets per power of
// two, ~6% resolution), in nanoseconds.
type histogram struct {
	b   [64 * 16]int64
	max int64
}

func (h *histogram) add(ns int64) {
	if ns < 1 {
		ns = 1
	}
	if ns > h.max {
		h.max = ns
	}
	h.b[bucket(ns)]++
}

func bucket(ns int64) int {
	e := bits.Len64(uint64(ns)) - 1
	if e < 4 {
		return int(ns)
	}
	m := (ns >> (e - 4)) & 15
	return e*16 + int(m)
}

func bucketValue(i int) int64 {
	e, m := i/16, int64(i%16)
	if e < 4 {
		return int64(i)
	}
	return (16 + m) << (e - 4) >> 0 // lower bound of the bucket
}

func (h *histogram) merge(o *histogram) {
	for i := range h.b {
		h.b[i] += o.b[i]
	}
	h.max = max(h.max, o.max)
}

func (h *histogram) percentile(p float64) int64 {
	var total int64
	for _, n := range h.b {
		total += n
	}
	if total == 0 {
		return 0
	}
	want := int64(float64(total)*p + 0.5)
	if want < 1 {
		want = 1
	}
	var acc int64
	for i, n := range h.b {
		acc += n
		if acc >= want {
			return bucketValue(i)
		}
	}
	return h.max
}

// fill writes the verify pattern of (block, seq) into buf.
func fill(buf []byte, block uint64, seq uint32) {
	x := block*0x9E3779B97F4A7C15 ^ uint64(seq)<<32 ^ 0x5851F42D4C957F2D
	for s := 0; s < len(buf); s += 512 {
		sec := buf[s : s+512]
		binary.LittleEndian.PutUint64(sec[0:], 0x78666561_74424c4b) // "KLBtaefx"
		binary.LittleEndian.PutUint64(sec[8:], block)
		binary.LittleEndian.PutUint32(sec[16:], seq)
		binary.LittleEndian.PutUint32(sec[20:], uint32(s/512))
		for k := 24; k < 512; k += 8 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			binary.LittleEndian.PutUint64(sec[k:], x)
		}
	}
}

// VerifyBlock reports whether buf holds the pattern of (block, seq).
func VerifyBlock(buf []byte, block uint64, seq uint32) bool {
	for s := 0; s < len(buf); s += 512 {
		sec := buf[s : s+512]
		if binary.LittleEndian.Uint64(sec[8:]) != block || binary.LittleEndian.Uint32(sec[16:]) != seq ||
			binary.LittleEndian.Uint32(sec[20:]) != uint32(s/512) {
			return false
		}
	}
	want := make([]byte, len(buf))
	fill(want, block, seq)
	for i := range buf {
		if buf[i] != want[i] {
			return false
		}
	}
	return true
}

// PatternSeq returns the (block, seq) stamped in the first sector of buf,
// ok false when buf holds no pattern.
func PatternSeq(buf []byte) (block uint64, seq uint32, ok bool) {
	if len(buf) < 512 || binary.LittleEndian.Uint64(buf) != 0x78666561_74424c4b {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint64(buf[8:]), binary.LittleEndian.Uint32(buf[16:]), true
}

type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9E3779B97F4A7C15
	z := r.s
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

// Run runs w on dev. progress (may be nil) is called about once a
// second from one goroutine.
func Run(ctx context.Context, dev BlockDevice, w Workload, progress func(Progress)) (Result, error) {
	if err := w.Check(dev.Size()); err != nil {
		return Result{}, err
	}
	region := w.Size
	if region == 0 || region > dev.Size() {
		region = dev.Size()
	}
	bs := int64(w.BlockSize)
	nblocks := region / bs
	random := w.RW[:min(4, len(w.RW))] == "rand"
	reads := w.RW == "read" || w.RW == "randread"
	writes := w.RW == "write" || w.RW == "randwrite"
	// Per block: last written seq (0 = unknown) and a busy flag, so a
	// verified read never overlaps a write of the same block.
	var seqs []atomic.Uint32
	var busy []atomic.Bool
	if w.Verify {
		seqs = make([]atomic.Uint32, nblocks)
		busy = make([]atomic.Bool, nblocks)
		if reads {
			// Fill the region first (not measured).
			buf := make([]byte, bs)
			for b := int64(0); b < nblocks; b++ {
				if ctx.Err() != nil {
					return Result{}, ctx.Err()
				}
				fill(buf, uint64(b), 1)
				if _, err := dev.WriteAt(buf, b*bs); err != nil {
					return Result{}, fmt.Errorf("filling block %d: %w", b, err)
				}
				seqs[b].Store(1)
			}
		}
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, w.Runtime)
	defer cancel()

	var (
		ops, nread, nwrite, verified atomic.Int64
		seqCounter                   atomic.Uint32
		nextSeqBlock                 atomic.Int64 // sequential position
		firstErr                     error
		errOnce                      sync.Once
		wg                           sync.WaitGroup
		hists                        = make([]histogram, w.IODepth)
	)
	seqCounter.Store(1)
	var failed atomic.Bool
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; failed.Store(true); cancel() })
	}
	// more says whether a worker starts another request: before Runtime,
	// or after it while fewer than MinOps have completed; never once a
	// request failed or the caller gave up.
	more := func() bool {
		if failed.Load() || parent.Err() != nil {
			return false
		}
		return ctx.Err() == nil || ops.Load() < w.MinOps
	}
	// Crash consistency: writes are sequential; completed[i] marks
	// write i acknowledged; durable advances after each flush to the
	// prefix that was complete when the flush started.
	var (
		flushMu   sync.Mutex
		completed []atomic.Bool
		durable   atomic.Int64
		sinceFl   atomic.Int64
	)
	if w.FlushEvery > 0 {
		completed = make([]atomic.Bool, nblocks)
	}
	prefix := func() int64 {
		var p int64
		for p < int64(len(completed)) && completed[p].Load() {
			p++
		}
		return p
	}
	start := time.Now()
	for i := 0; i < w.IODepth; i++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			r := rng{s: uint64(w.Seed)*31 + uint64(worker)*0x1234567 + 1}
			buf := make([]byte, bs)
			h := &hists[worker]
			for more() {
				var b int64
				if random {
					b = int64(r.next() % uint64(nblocks))
				} else {
					b = nextSeqBlock.Add(1) - 1
					if b >= nblocks {
						if w.FlushEvery > 0 {
							return // the crash workload never wraps
						}
						b %= nblocks
					}
				}
				write := writes || (!reads && r.next()&1 == 0)
				if w.Verify {
					if !busy[b].CompareAndSwap(false, true) {
						continue
					}
				}
				var seq uint32
				if write && w.Verify {
					seq = seqCounter.Add(1)
					fill(buf, uint64(b), seq)
				}
				t0 := time.Now()
				var err error
				if write {
					_, err = dev.WriteAt(buf, b*bs)
				} else {
					_, err = dev.ReadAt(buf, b*bs)
				}
				h.add(int64(time.Since(t0)))
				if err == nil && w.Verify {
					if write {
						seqs[b].Store(seq)
					} else if s := seqs[b].Load(); s != 0 {
						if !VerifyBlock(buf, uint64(b), s) {
							err = fmt.Errorf("%w: block %d (offset %d), expected write #%d", ErrVerify, b, b*bs, s)
						} else {
							verified.Add(1)
						}
					}
				}
				if w.Verify {
					busy[b].Store(false)
				}
				if err != nil {
					if more() {
						fail(err)
					}
					return
				}
				ops.Add(1)
				if write {
					nwrite.Add(1)
				} else {
					nread.Add(1)
				}
				if w.FlushEvery > 0 && write && !random {
					completed[b].Store(true)
					if sinceFl.Add(1) >= int64(w.FlushEvery) && flushMu.TryLock() {
						sinceFl.Store(0)
						p := prefix()
						if err := dev.Flush(); err != nil {
							flushMu.Unlock()
							if more() {
								fail(fmt.Errorf("flush: %w", err))
							}
							return
						}
						if p > durable.Load() {
							durable.Store(p)
						}
						flushMu.Unlock()
					}
				}
			}
		}(i)
	}
	// Progress.
	stopProg := make(chan struct{})
	progDone := make(chan struct{})
	go func() {
		defer close(progDone)
		t := time.NewTicker(time.Second)
		if w.FlushEvery > 0 {
			t.Reset(20 * time.Millisecond)
		}
		defer t.Stop()
		last, lastT := int64(0), start
		lastDurable := int64(-1)
		for {
			select {
			case <-stopProg:
				return
			case now := <-t.C:
				n := ops.Load()
				d := durable.Load()
				if w.FlushEvery > 0 && d == lastDurable && now.Sub(lastT) < time.Second {
					continue
				}
				dt := now.Sub(lastT).Seconds()
				if progress != nil {
					progress(Progress{Elapsed: now.Sub(start), Ops: n, IOPS: float64(n-last) / dt,
						MBps: float64(n-last) * float64(bs) / dt / 1e6, Durable: d})
				}
				last, lastT, lastDurable = n, now, d
			}
		}
	}()
	wg.Wait()
	elapsed := time.Since(start)
	close(stopProg)
	<-progDone
	if firstErr != nil {
		return Result{}, firstErr
	}
	if err := parent.Err(); err != nil {
		return Result{}, err
	}
	var h histogram
	for i := range hists {
		h.merge(&hists[i])
	}
	res := Result{Ops: ops.Load(), Reads: nread.Load(), Writes: nwrite.Load(), Elapsed: elapsed,
		LatP50us: float64(h.percentile(0.50)) / 1e3, LatP99us: float64(h.percentile(0.99)) / 1e3,
		LatMaxus: float64(h.max) / 1e3, Durable: durable.Load()}
	res.Bytes = res.Ops * bs
	res.IOPS = float64(res.Ops) / elapsed.Seconds()
	res.MBps = float64(res.Bytes) / elapsed.Seconds() / 1e6
	// Read back everything written (not measured).
	if w.Verify && !reads {
		buf := make([]byte, bs)
		for b := int64(0); b < nblocks; b++ {
			s := seqs[b].Load()
			if s == 0 {
				continue
			}
			if _, err := dev.ReadAt(buf, b*bs); err != nil {
				return res, fmt.Errorf("read-back of block %d: %w", b, err)
			}
			if !VerifyBlock(buf, uint64(b), s) {
				return res, fmt.Errorf("%w: read-back of block %d (offset %d), expected write #%d", ErrVerify, b, b*bs, s)
			}
			verified.Add(1)
		}
	}
	res.Verified = verified.Load()
	return res, nil
}
