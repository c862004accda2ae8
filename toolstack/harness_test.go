package toolstack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xfeat/xfeat/parser"
	"github.com/xfeat/xfeat/parser/devspec"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/schema"
	"github.com/xfeat/xfeat/xenstored"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

// store runs the embedded daemon on a socket in a temporary rundir and
// returns it with a privileged client.
func store(t *testing.T) (*xenstored.Server, *xsclient.Client) {
	t.Helper()
	s, err := xenstored.New(xenstored.Config{Rundir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(context.Background()); close(done) }()
	t.Cleanup(func() { s.Close(); <-done })
	c := dial(t, s.SocketPath())
	return s, c
}

func dial(t *testing.T, path string) *xsclient.Client {
	t.Helper()
	c, err := xsclient.Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func i64(v int64) *int64 { return &v }

// contractSchemas are the schemas the sandbox backends advertise with their
// default limits (docs/design.md, "Defaults of the reference backends").
func contractSchemas() []*schema.Schema {
	f := func(name string, typ schema.Type, defval string, lo, hi *int64) *schema.Feature {
		return &schema.Feature{Name: name, Type: typ, Defval: defval, Desc: name, Min: lo, Max: hi}
	}
	vif := &schema.Schema{Backend: 0, Kind: "vif", Features: map[string]*schema.Feature{}}
	for _, ft := range []*schema.Feature{
		f("multi-queue-max-queues", schema.Uint, "4", i64(1), i64(16)),
		f("feature-sg", schema.Bool, "1", nil, nil),
		f("feature-gso-tcpv4", schema.Bool, "1", nil, nil),
		f("feature-gso-tcpv6", schema.Bool, "1", nil, nil),
		f("feature-ipv6-csum-offload", schema.Bool, "1", nil, nil),
		f("feature-no-csum-offload", schema.Bool, "0", nil, nil),
		f("feature-split-event-channels", schema.Bool, "1", nil, nil),
		f("feature-multicast-control", schema.Bool, "0", nil, nil),
	} {
		vif.Features[ft.Name] = ft
	}
	vbd := &schema.Schema{Backend: 0, Kind: "vbd", Features: map[string]*schema.Feature{}}
	for _, ft := range []*schema.Feature{
		f("multi-queue-max-queues", schema.Uint, "4", i64(1), i64(16)),
		f("max-ring-page-order", schema.Uint, "4", i64(0), i64(4)),
		f("feature-persistent", schema.Bool, "1", nil, nil),
		f("feature-max-indirect-segments", schema.Uint, "256", i64(0), i64(4096)),
		f("feature-flush-cache", schema.Bool, "1", nil, nil),
		f("feature-barrier", schema.Bool, "1", nil, nil),
		f("feature-discard", schema.Bool, "1", nil, nil),
	} {
		vbd.Features[ft.Name] = ft
	}
	return []*schema.Schema{vif, vbd}
}

// advertise writes those schemas as the backends do at start.
func advertise(t *testing.T, c *xsclient.Client) {
	t.Helper()
	ctx := context.Background()
	for _, s := range contractSchemas() {
		for k, v := range s.Entries() {
			if err := c.WriteString(ctx, s.Dir()+"/"+k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// check parses src as the xl.cfg file guest.cfg and checks it offline
// (devspec.CheckFile), as validate does.
func check(t *testing.T, src string) (*parser.File, *devspec.Config, parser.Diagnostics) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "guest.cfg")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	f, diags := parser.ParseFile(path, parser.Options{})
	if diags.HasErrors() {
		t.Fatalf("parse: %v", diags)
	}
	cfg, more := devspec.CheckFile(f)
	return f, cfg, more
}

// plan parses, checks (which must pass) and plans src as guest.cfg.
func plan(t *testing.T, c *xsclient.Client, src string) (*Plan, parser.Diagnostics) {
	t.Helper()
	f, cfg, more := check(t, src)
	if more.HasErrors() {
		t.Fatalf("check: %v", more)
	}
	p, ds, err := NewPlan(context.Background(), c, f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, ds
}

// driver plays, in the test process, the part of a backend and of the
// guest's frontend that the toolstack depends on: for every new device it
// seeds the capped features the backend would (the request lowered to the
// advertised maximum, else the maximum), goes InitWait, lets the frontend
// echo multi-queue-num-queues and go Connected, then goes Connected; when
// the toolstack writes state=Closing it goes Closed. It is a stand-in for
// the sandbox host in unit tests only; the e2e tests run the real one.
type driver struct {
	c       *xsclient.Client
	stall   map[string]bool // device names ("vif 1/0") to leave in InitWait
	mu      sync.Mutex
	handled map[string]int
}

func startDriver(t *testing.T, c *xsclient.Client, stall ...string) *driver {
	d := &driver{c: c, stall: map[string]bool{}, handled: map[string]int{}}
	for _, s := range stall {
		d.stall[s] = true
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, kind := range []string{string(pv.Vif), string(pv.Vbd)} {
		w, err := c.Watch(ctx, "/local/domain/0/backend/"+kind, "")
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range w.C {
				d.scan(ctx, kind)
			}
		}()
	}
	t.Cleanup(func() { cancel(); c.Close(); wg.Wait() })
	return d
}

func (d *driver) scan(ctx context.Context, kind string) {
	base := "/local/domain/0/backend/" + kind
	fes, _ := d.c.Directory(ctx, base)
	for _, fe := range fes {
		if fe == "features" {
			continue
		}
		devs, _ := d.c.Directory(ctx, base+"/"+fe)
		for _, dev := range devs {
			d.step(ctx, kind, fe, dev)
		}
	}
}

func (d *driver) step(ctx context.Context, kind, fe, dev string) {
	be := "/local/domain/0/backend/" + kind + "/" + fe + "/" + dev
	st, err := d.c.ReadString(ctx, be+"/state")
	if err != nil {
		return
	}
	fpath, err := d.c.ReadString(ctx, be+"/frontend")
	if err != nil {
		return
	}
	name := kind + " " + fe + "/" + dev
	switch st {
	case "1":
		for _, s := range contractSchemas() {
			if string(s.Kind) != kind {
				continue
			}
			for fname, f := range s.Features {
				if !schema.RuleFor(pv.Kind(kind), fname).Cap {
					continue
				}
				v := f.Defval
				if req, err := d.c.ReadString(ctx, be+"/config-"+fname); err == nil {
					if exceeds(req, v) {
						d.c.WriteString(ctx, "/local/domain/0/error/backend/"+kind+"/"+fe+"/"+dev+"/error",
							schema.ErrorNote(fname, "lowered to "+v))
					} else {
						v = req
					}
				}
				d.c.WriteString(ctx, be+"/"+fname, v)
			}
		}
		d.c.WriteString(ctx, be+"/state", "2")
		if d.stall[name] {
			return
		}
		q, _ := d.c.ReadString(ctx, be+"/multi-queue-max-queues")
		d.c.WriteString(ctx, fpath+"/multi-queue-num-queues", q)
		d.c.WriteString(ctx, fpath+"/state", "4")
		d.c.WriteString(ctx, be+"/state", "4")
		d.mu.Lock()
		d.handled[name]++
		d.mu.Unlock()
	case "5":
		d.c.WriteString(ctx, be+"/state", "6")
	}
}

func dump(t *testing.T, c *xsclient.Client) string {
	t.Helper()
	s, err := DumpTree(context.Background(), c, "/")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func perms(t *testing.T, c *xsclient.Client, path string) string {
	t.Helper()
	ps, err := c.GetPerms(context.Background(), path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return strings.Join(xswire.FormatPerms(ps), ",")
}

func read(t *testing.T, c *xsclient.Client, path string) string {
	t.Helper()
	v, err := c.ReadString(context.Background(), path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

var _ = errors.Is
var _ = strconv.Itoa
var _ = time.Second

// exceeds reports whether integer a is above integer b.
func exceeds(a, b string) bool {
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	return err1 == nil && err2 == nil && x > y
}
