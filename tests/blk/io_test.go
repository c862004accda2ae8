package blk

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/frontends/blkload"
	"github.com/xfeat/xfeat/sandbox"
	"github.com/xfeat/xfeat/tests/internal/testenv"
)

// runXfeat runs the xfeat binary and returns its stdout, stderr and exit
// status.
func runXfeat(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	r := testenv.RunXfeat(t, xfeatBin, nil, args...)
	return r.Out, r.Err, r.Code
}

// `xfeat io`, a separate process, drives a workload through the host's
// guest and reports it.
func TestXfeatIO(t *testing.T) {
	h := startHost(t, nil)
	img := image(t, 8<<20)
	create(t, h.XS, guestCfg("iot", 1024, img+",raw,xvda,rw,queues=2"))
	out, errOut, code := runXfeat(t, "io", "--rundir", h.Dir, "iot/xvda", "--rw", "randrw", "--bs", "16k",
		"--iodepth", "4", "--runtime", "300ms", "--verify", "-o", "json")
	if code != 0 {
		t.Fatalf("xfeat io: exit %d: %s", code, errOut)
	}
	var res map[string]float64
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	for _, k := range []string{"iops", "mbps", "lat_p50_us", "lat_p99_us", "verified", "reads", "writes"} {
		if res[k] <= 0 {
			t.Errorf("%s = %v in %s", k, res[k], out)
		}
	}
	if res["lat_p99_us"] < res["lat_p50_us"] {
		t.Errorf("p99 %v below p50 %v", res["lat_p99_us"], res["lat_p50_us"])
	}
	if n := checkImage(t, img, 16<<10); n == 0 {
		t.Error("nothing landed in the image")
	}
	// The summary form.
	out, errOut, code = runXfeat(t, "io", "--rundir", h.Dir, "iot/51712", "--rw", "read", "--bs", "1M", "--iodepth", "2", "--runtime", "200ms")
	if code != 0 || !strings.Contains(out, "IOPS") || !strings.Contains(out, "p99") {
		t.Errorf("summary: exit %d\n%s%s", code, out, errOut)
	}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"iot/xvdb"}, 1, "no connected disk"},
		{[]string{"nosuch/xvda"}, 1, "nosuch"},
		{[]string{"iot/xvda", "--bs", "1000"}, 2, "bs 1000"},
		{[]string{"iot/xvda", "--bs", "4q"}, 2, "--bs"},
		{[]string{"iot/xvda", "--rw", "sideways"}, 2, "rw"},
	} {
		_, errOut, code := runXfeat(t, append([]string{"io", "--rundir", h.Dir, "--runtime", "100ms"}, c.args...)...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, want %d with %q: %s", c.args, code, c.code, c.msg, errOut)
		}
	}
	if _, errOut, code := runXfeat(t, "io", "--rundir", t.TempDir(), "1/xvda"); code != 1 || !strings.Contains(errOut, "no sandbox host") {
		t.Errorf("no host: exit %d: %s", code, errOut)
	}
}

// A client that goes away stops its workload; the disk is free for the
// next one at once.
func TestIOClientGoesAway(t *testing.T) {
	h := startHost(t, nil)
	img := image(t, 4<<20)
	dom := create(t, h.XS, guestCfg("gone", 1024, img+",raw,xvda,rw"))
	srv, v := h.blkServer(t), h.vbd(t, dom, 51712)
	count := func() (n uint64) {
		for _, s := range srv.QueueStats(v) {
			n += s.Requests
		}
		return n
	}
	before := count()
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error, 1)
	go func() {
		_, err := sandbox.RunIO(ctx, h.Dir, sandbox.IORequest{Domid: dom, Devid: 51712, Workload: blkload.Workload{
			RW: "randwrite", BlockSize: 4096, IODepth: 4, Runtime: time.Minute}}, nil)
		done <- err
	}()
	// The workload runs (its requests reach the backend) before the
	// client goes: otherwise there is nothing to stop.
	for deadline := time.Now().Add(10 * time.Second); count() == before; time.Sleep(time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("the workload ended before any request reached the backend: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no request of the workload reached the backend in 10 s")
		}
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a cancelled workload reported success")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RunIO did not return after its context was cancelled")
	}
	// Nothing reaches the backend any more: once the requests in flight
	// are answered the count stays put (a running workload adds
	// thousands a second), within 5 s.
	still := 0
	for deadline, last := time.Now().Add(5*time.Second), count(); still < 3; {
		time.Sleep(100 * time.Millisecond)
		if n := count(); n != last {
			still, last = 0, n
		} else {
			still++
		}
		if time.Now().After(deadline) {
			t.Fatalf("the abandoned workload goes on: %d requests so far, still growing 5 s after the client left", last-before)
		}
	}
	start := time.Now()
	res, err := sandbox.RunIO(bg, h.Dir, sandbox.IORequest{Domid: dom, Devid: 51712, Workload: blkload.Workload{
		RW: "randread", BlockSize: 4096, IODepth: 4, Runtime: 100 * time.Millisecond, MinOps: 16}}, nil)
	if err != nil || res.Ops == 0 {
		t.Fatalf("the next workload: %v %+v", err, res)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("the next workload took %v: the abandoned one kept running", el)
	}
}
