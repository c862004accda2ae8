package io

import (
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
)

func TestFlags(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	f := &cmdutil.Factory{IO: ios}
	var got *IOOptions
	cmd := NewCmdIO(f, func(o *IOOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"guest/xvdb", "--rw", "randrw", "--bs", "64K", "--iodepth", "8", "--runtime", "1.5", "--verify", "-o", "json"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	w := got.Workload
	if got.Domain != "guest" || got.Vdev != 51728 || w.RW != "randrw" || w.BlockSize != 65536 || w.IODepth != 8 ||
		w.Runtime != 1500*time.Millisecond || !w.Verify || got.Output != cmdutil.OutputJSON {
		t.Errorf("parsed %+v %+v", got, w)
	}
	for _, bad := range [][]string{
		{"guest"}, {"guest/"}, {"guest/sdz9999"}, {"1/xvda", "--rw", "sideways"}, {"1/xvda", "--bs", "1000"},
		{"1/xvda", "--bs", "0"}, {"1/xvda", "--iodepth", "0"}, {"1/xvda", "--runtime", "-1s"}, {"1/xvda", "--runtime", "soon"},
		{"1/xvda", "--bs", "32M"},
	} {
		ios, _, _, _ := iostreams.Test()
		cmd := NewCmdIO(&cmdutil.Factory{IO: ios}, func(*IOOptions) error { t.Errorf("%v ran", bad); return nil })
		cmd.SetArgs(bad)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.Execute()
		if cmdutil.ExitCodeOf(err) != cmdutil.ExitUsage {
			t.Errorf("%v: %v (exit %d), want a usage error", bad, err, cmdutil.ExitCodeOf(err))
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int{"4k": 4096, "4K": 4096, "1M": 1 << 20, "512": 512, "64KiB": 65536, "2m": 2 << 20} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("%s: %d %v", in, got, err)
		}
	}
}

// With no --rundir, xfeat io looks for the host where XENSTORED_PATH
// points (a host started with --rundir D is found through D/socket), as
// every other command does, and says where it looked.
func TestRundirFromXenstoredPath(t *testing.T) {
	d := t.TempDir()
	t.Setenv("XENSTORED_PATH", d+"/socket")
	ios, _, _, _ := iostreams.Test()
	err := ioRun(&IOOptions{IO: ios, Domain: "g", Vdev: 51712})
	if err == nil || !strings.Contains(err.Error(), "no sandbox host in "+d+" (from XENSTORED_PATH") {
		t.Errorf("err = %v, want it to name %s from XENSTORED_PATH", err, d)
	}
}
