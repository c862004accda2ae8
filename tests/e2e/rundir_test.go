package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/sandbox"
)

// TestCommandsFindHostThroughXenstoredPath: a host started with --rundir D
// is found by every command of a shell that says XENSTORED_PATH=D/socket and
// nothing else: the XenStore commands, xfeat io (which talks to D/io.sock)
// and xfeat host status and stop.
func TestCommandsFindHostThroughXenstoredPath(t *testing.T) {
	dir, err := os.MkdirTemp("", "xfrd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Cleanup(func() { sandbox.Stop(context.Background(), dir) })
	if r := runXfeat(t, []string{"XENSTORED_PATH="}, "host", "start", "--rundir", dir); r.Code != 0 {
		t.Fatalf("host start: exit %d\n%s", r.Code, r.Err)
	}
	env := []string{"XENSTORED_PATH=" + filepath.Join(dir, sandbox.SocketName)}
	img := images(t, 1, 4<<20)[0]
	cfg := writeCfg(t, "viaenv.cfg", "name = \"viaenv\"\nvif = [ \"queues=1\" ]\ndisk = [ \""+img+",raw,xvda,rw\" ]\n")

	if r := runXfeat(t, env, "create", cfg); r.Code != 0 {
		t.Fatalf("create: exit %d\n%s", r.Code, r.Err)
	}
	if r := runXfeat(t, env, "list"); r.Code != 0 || !strings.Contains(r.Out, "viaenv") {
		t.Errorf("list: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	if r := runXfeat(t, env, "show", "disk", "viaenv/xvda"); r.Code != 0 {
		t.Errorf("show: exit %d\n%s", r.Code, r.Err)
	}
	r := runXfeat(t, env, "io", "viaenv/xvda", "--rw", "randread", "--runtime", "200ms", "-o", "json")
	var res struct{ Ops int64 }
	if r.Code != 0 || json.Unmarshal([]byte(r.Out), &res) != nil || res.Ops == 0 {
		t.Errorf("io: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	r = runXfeat(t, env, "host", "status", "-o", "json")
	var st struct {
		Running bool   `json:"running"`
		Rundir  string `json:"rundir"`
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Out), &st) != nil || !st.Running || st.Rundir != dir {
		t.Errorf("host status: exit %d, %+v, want running in %s\n%s%s", r.Code, st, dir, r.Out, r.Err)
	}
	if r := runXfeat(t, env, "destroy", "viaenv"); r.Code != 0 {
		t.Errorf("destroy: exit %d\n%s", r.Code, r.Err)
	}
	if r := runXfeat(t, env, "host", "stop"); r.Code != 0 || r.Err != "" {
		t.Errorf("host stop: exit %d\n%s", r.Code, r.Err)
	}
	if st, err := sandbox.Status(context.Background(), dir); err != nil || st.Running {
		t.Errorf("after host stop: %+v %v", st, err)
	}
}
