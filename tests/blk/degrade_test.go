package blk

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/frontends/blkload"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/sandbox"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// layoutDomain writes a domain with one vbd the way the toolstack does,
// but with max-grant-frames set directly: the toolstack would lower the
// disk's offers to fit a table this small, and the test wants the
// frontend's own fallback for a table shared beyond the plan.
func layoutDomain(t *testing.T, xs *xsclient.Client, id uint32, frames int, img string) {
	t.Helper()
	ids := strconv.Itoa(int(id))
	perm := func(ps ...string) []xswire.Perm {
		p, err := xswire.ParsePerms(ps)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	err := xs.Transact(bg, func(tx *xsclient.Tx) error {
		for k, v := range map[string]string{"name": "small" + ids, "sandbox/max-grant-frames": strconv.Itoa(frames), "sandbox/max-event-channels": "1023"} {
			if err := tx.Write(bg, "/libxl/"+ids+"/"+k, []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := xs.Introduce(bg, id, 0, 1); err != nil {
		t.Fatal(err)
	}
	home := "/local/domain/" + ids
	fe := home + "/device/vbd/51712"
	be := "/local/domain/0/backend/vbd/" + ids + "/51712"
	err = xs.Transact(bg, func(tx *xsclient.Tx) error {
		w := func(path, v string, perms ...string) error {
			if err := tx.Write(bg, path, []byte(v)); err != nil {
				return err
			}
			if len(perms) > 0 {
				return tx.SetPerms(bg, path, perm(perms...))
			}
			return nil
		}
		steps := [][]string{
			{home, "", "n0", "r" + ids}, {home + "/name", "small" + ids}, {home + "/domid", ids},
			{home + "/device", "", "n0", "r" + ids}, {fe, "", "n" + ids, "r0"},
			{be, "", "n0", "r" + ids},
		}
		for _, kv := range [][2]string{{"backend", be}, {"backend-id", "0"}, {"state", "1"}, {"virtual-device", "51712"}, {"device-type", "disk"}, {"protocol", "x86_64-abi"}} {
			steps = append(steps, []string{fe + "/" + kv[0], kv[1], "n" + ids, "r0"})
		}
		for _, kv := range [][2]string{{"frontend", fe}, {"frontend-id", ids}, {"online", "1"}, {"state", "1"}, {"params", img}, {"type", "phy"}, {"mode", "w"}, {"device-type", "disk"}} {
			steps = append(steps, []string{be + "/" + kv[0], kv[1]})
		}
		for _, st := range steps {
			if err := w(st[0], st[1], st[2:]...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A guest whose grant table cannot hold what its disk's rings could use
// runs with fewer requests in flight, says so, and its data is right.
func TestSmallGrantTableDegrades(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	h := startHost(t, func(c *sandbox.Config) {
		c.Logf = func(f string, a ...any) {
			mu.Lock()
			lines = append(lines, fmt.Sprintf(f, a...))
			mu.Unlock()
		}
	})
	img := image(t, 4<<20)
	// 3 frames: 1528 references for 4 queues of 16-page rings with
	// indirect descriptors (the pools alone would take ~10000).
	layoutDomain(t, h.XS, 1, 3, img)
	dev, err := h.Guest(1).Blkfront().WaitConnected(ctxTimeout(t, 10*time.Second), 51712)
	if err != nil {
		t.Fatalf("%v; log:\n%s", err, strings.Join(lines, "\n"))
	}
	mu.Lock()
	found := false
	for _, l := range lines {
		if strings.Contains(l, "grant table full") && strings.Contains(l, "fewer requests in flight") {
			found = true
			t.Log(l)
		}
	}
	mu.Unlock()
	if !found {
		t.Error("no log line says the disk runs degraded")
	}
	res, err := blkload.Run(bg, dev, blkload.Workload{RW: "randrw", BlockSize: 128 << 10, IODepth: 16,
		Runtime: 300 * time.Millisecond, Verify: true, MinOps: 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verified == 0 {
		t.Errorf("nothing verified: %+v", res)
	}
	if st, _ := h.XS.ReadString(bg, pv.BackendPath(0, "vbd", 1, 51712)+"/state"); st != "4" {
		t.Errorf("backend state %s", st)
	}
}
