package e2e

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/sandbox"
	"github.com/xfeat/xfeat/toolstack"
)

// BenchmarkCreateCLI is the time from starting `xfeat create` (a new
// process: parse, connect, read schemas, claim, introduce, write, wait) to
// every device of examples/guest.cfg (2 vifs, 2 disks) Connected, against
// a sandbox host; the destroy after each create is not timed.
func BenchmarkCreateCLI(b *testing.B) {
	h := startHost(b, nil)
	cfg := guestCfg(b, images(b, 2, 8<<20))
	var times []time.Duration
	for b.Loop() {
		start := time.Now()
		r := runXfeat(b, nil, "create", "--xenstore", h.Socket(), cfg)
		times = append(times, time.Since(start))
		if r.Code != 0 {
			b.Fatalf("create: %d %s", r.Code, r.Err)
		}
		b.StopTimer()
		g := h.Guest(1)
		if r := runXfeat(b, nil, "destroy", "--xenstore", h.Socket(), "guest"); r.Code != 0 {
			b.Fatalf("destroy: %d %s", r.Code, r.Err)
		}
		awaitGone(b, g)
		b.StartTimer()
	}
	reportPercentiles(b, times)
}

// BenchmarkCreateInProcess is the same create through the toolstack
// package, without process start-up: plan (schemas read), claim, introduce,
// write, wait for Connected.
func BenchmarkCreateInProcess(b *testing.B) {
	h := startHost(b, nil)
	cfgPath := guestCfg(b, images(b, 2, 8<<20))
	ctx := context.Background()
	var times []time.Duration
	var planned, claimed, written time.Duration
	for b.Loop() {
		start := time.Now()
		f, diags := parser.ParseFile(cfgPath, parser.Options{})
		if diags.HasErrors() {
			b.Fatal(diags)
		}
		cfg, diags := devspec.CheckFile(f)
		if diags.HasErrors() {
			b.Fatal(diags)
		}
		plan, diags, err := toolstack.NewPlan(ctx, h.XS, f, cfg)
		if err != nil || plan == nil {
			b.Fatal(err, diags)
		}
		tPlan := time.Now()
		var tClaim, tWritten time.Time
		got, err := toolstack.Create(ctx, h.XS, plan, toolstack.CreateOptions{Wait: 10 * time.Second,
			Claimed: func(uint32) { tClaim = time.Now() },
			Progress: func([]toolstack.DeviceState) {
				if tWritten.IsZero() {
					tWritten = time.Now() // first look at the states: the write is committed
				}
			}})
		if err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
		planned += tPlan.Sub(start)
		claimed += tClaim.Sub(tPlan)
		written += tWritten.Sub(tClaim)
		b.StopTimer()
		g := h.Guest(got.Domid)
		if _, err := toolstack.Destroy(ctx, h.XS, got.Domid, 10*time.Second); err != nil {
			b.Fatal(err)
		}
		awaitGone(b, g)
		b.StartTimer()
	}
	reportPercentiles(b, times)
	n := time.Duration(len(times))
	ms := func(d time.Duration) float64 { return float64((d / n).Microseconds()) / 1000 }
	b.ReportMetric(ms(planned), "plan-ms")
	b.ReportMetric(ms(claimed), "claim-ms")
	b.ReportMetric(ms(written), "introduce+write-ms")
}

// awaitGone waits until the sandbox has finished tearing a released guest
// down, so that the next create (which reuses its domid) is not timed
// waiting for that clean-up.
func awaitGone(b *testing.B, g *sandbox.Guest) {
	if g == nil {
		return
	}
	select {
	case <-g.Done():
	case <-time.After(10 * time.Second):
		b.Fatal("the released guest never stopped")
	}
}

func reportPercentiles(b *testing.B, times []time.Duration) {
	if len(times) == 0 {
		return
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(times[len(times)/2]), "p50-ms")
	b.ReportMetric(ms(times[len(times)*95/100]), "p95-ms")
	b.ReportMetric(ms(times[len(times)-1]), "max-ms")
}
