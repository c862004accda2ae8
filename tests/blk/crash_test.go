package blk

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/frontends/blkload"
	"github.com/xfeat/xfeat/sandbox"
	"github.com/xfeat/xfeat/tests/internal/testenv"
	"github.com/xfeat/xfeat/xsclient"
)

// Crash consistency: the host process (blkback and the guest's blkfront) is
// killed with SIGKILL in the middle of a write workload that flushes every
// few writes. Every write acknowledged before a flush that completed must
// be in the image afterwards, intact and at its offset.
func TestCrashConsistency(t *testing.T) {
	trials := 20
	for trial := 0; trial < trials; trial++ {
		crashTrial(t, trial)
	}
}

func crashTrial(t *testing.T, trial int) {
	dir, err := os.MkdirTemp("", "xfcr")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(xfeatBin, "host", "run", "--rundir", dir)
	logf, _ := os.Create(filepath.Join(dir, "host.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
		logf.Close()
	}()
	sock := filepath.Join(dir, sandbox.SocketName)
	if !testenv.WaitAnswers(bg, sock, 10*time.Second) {
		t.Fatal("the host never answered")
	}
	xs, err := xsclient.Dial(bg, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer xs.Close()
	img := image(t, 256<<20) // sparse; the sequential workload must not reach its end before the kill
	spec := img + ",raw,xvda,rw,queues=2,max-ring-page-order=1"
	if trial%2 == 1 {
		spec += ",persistent=off,max-indirect-segments=0"
	}
	dom := create(t, xs, guestCfg("crash", 1024, spec))

	var durable atomic.Int64
	got := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		_, err := sandbox.RunIO(bg, dir, sandbox.IORequest{Domid: dom, Devid: 51712, Workload: blkload.Workload{
			RW: "write", BlockSize: 4096 * (1 + trial%4), IODepth: 8, Runtime: 10 * time.Second, Verify: true, FlushEvery: 16}},
			func(p blkload.Progress) {
				if p.Durable > durable.Load() {
					durable.Store(p.Durable)
				}
				if p.Durable > 0 {
					select {
					case got <- struct{}{}:
					default:
					}
				}
			})
		done <- err
	}()
	select {
	case <-got:
	case err := <-done:
		t.Fatalf("trial %d: the workload ended before any flush: %v", trial, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("trial %d: no flush completed", trial)
	}
	time.Sleep(time.Duration(10+rand.IntN(80)) * time.Millisecond)
	cmd.Process.Signal(os.Kill)
	cmd.Wait()
	killed = true
	if err := <-done; err == nil {
		t.Logf("trial %d: the workload reached the end of the disk before the kill", trial)
	}
	d := durable.Load()
	bs := 4096 * (1 + trial%4)
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for b := 0; b < int(d); b++ {
		blk := data[b*bs : (b+1)*bs]
		block, seq, ok := blkload.PatternSeq(blk)
		if !ok || block != uint64(b) || !blkload.VerifyBlock(blk, block, seq) {
			t.Fatalf("trial %d: block %d of %d acknowledged before a completed flush is missing or corrupt after SIGKILL", trial, b, d)
		}
	}
	t.Logf("trial %d: %d writes durable before the kill, all in the image", trial, d)
}
