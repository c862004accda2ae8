package backend

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/xfeat/xfeat/backends/xendev"
	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/internal/xstest"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/xenstored"
	"github.com/xfeat/xfeat/xsclient"
)

func TestFlags(t *testing.T) {
	for _, c := range []struct {
		args    []string
		wantErr string
		check   func(*RunOptions) bool
	}{
		{args: []string{"run"}, check: func(o *RunOptions) bool {
			return len(o.Types) == 2 && o.Types[0] == pv.Vif && o.Netback.MaxQueues == 4 && o.Blkback.MaxIndirectSegments == 256
		}},
		{args: []string{"run", "--types", "vbd", "--vbd-max-queues", "2", "--vbd-disable", "feature-discard"}, check: func(o *RunOptions) bool {
			return len(o.Types) == 1 && o.Types[0] == pv.Vbd && o.Blkback.MaxQueues == 2 && len(o.Blkback.Disabled) == 1
		}},
		{args: []string{"run", "--types", "vif,disk"}, wantErr: `--types: type "disk"`},
		{args: []string{"run", "--vif-max-queues", "0"}, wantErr: "from 1 to 16"},
		{args: []string{"run", "--vbd-max-indirect-segments", "5000"}, wantErr: "from 0 to 4096"},
		{args: []string{"run", "extra"}, wantErr: "extra"},
	} {
		ios, _, _, _ := iostreams.Test()
		var got *RunOptions
		cmd := NewCmdBackend(&cmdutil.Factory{IO: ios}, func(o *RunOptions) error { got = o; return nil })
		cmd.SetArgs(c.args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		_, err := cmd.ExecuteC()
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || cmdutil.ExitCodeOf(err) != cmdutil.ExitUsage {
				t.Errorf("%v: error %v (exit %d), want a usage error containing %q", c.args, err, cmdutil.ExitCodeOf(err), c.wantErr)
			}
			continue
		}
		if err != nil || !c.check(got) {
			t.Errorf("%v: %v, options %+v", c.args, err, got)
		}
	}
}

// Off Xen (this machine has no /dev/xen), run fails at once with an error
// naming the device and the module to load, and writes nothing.
func TestRunWithoutXen(t *testing.T) {
	if _, err := xendev.OpenPlatform(); err == nil {
		t.Fatal("this test needs a machine without Xen devices")
	}
	srv := xstest.Serve(t, xenstored.Config{})
	xs := xstest.Dial(t, srv.SocketPath())
	if err := xs.WriteString(context.Background(), "/local/domain/0/domid", "0"); err != nil {
		t.Fatal(err)
	}
	ios, _, _, stderr := iostreams.Test()
	f := &cmdutil.Factory{IO: ios, XenStore: func(context.Context, string, bool) (*xsclient.Client, error) { return xs, nil }}
	cmd := NewCmdBackend(f, func(o *RunOptions) error { o.lockDir = t.TempDir(); return run(o) })
	cmd.SetArgs([]string{"run"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	_, err := cmd.ExecuteC()
	if !errors.Is(err, xendev.ErrNoDevice) || cmdutil.ExitCodeOf(err) != cmdutil.ExitError || !strings.Contains(err.Error(), "modprobe xen-") {
		t.Fatalf("run off Xen: %v (exit %d); want ErrNoDevice naming the module, exit 1", err, cmdutil.ExitCodeOf(err))
	}
	check := xstest.Dial(t, srv.SocketPath())
	for _, k := range []pv.Kind{pv.Vif, pv.Vbd} {
		if ok, err := check.Exists(context.Background(), pv.BackendRoot(0, k)); ok || err != nil {
			t.Errorf("a refused run: %s exists %v (%v)", pv.BackendRoot(0, k), ok, err)
		}
	}
	_ = stderr
}
