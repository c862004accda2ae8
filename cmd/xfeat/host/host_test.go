package host

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/internal/testutil"
	"github.com/xfeat/xfeat/sandbox"
)

func TestFlags(t *testing.T) {
	cases := []struct {
		args    []string
		sub     string
		wantErr string
		check   func(*Options) bool
	}{
		{args: []string{"run", "--rundir", "/x", "--vif-max-queues", "2", "--vbd-disable", "feature-discard,feature-barrier"}, sub: "run",
			check: func(o *Options) bool {
				return o.Rundir == "/x" && o.Netback.MaxQueues == 2 && len(o.Blkback.Disabled) == 2 && o.Blkback.MaxRingPageOrder == 4
			}},
		{args: []string{"start", "--vbd-max-ring-page-order", "2", "--timeout", "3s"}, sub: "start",
			check: func(o *Options) bool { return o.Blkback.MaxRingPageOrder == 2 && o.Timeout == 3*time.Second }},
		{args: []string{"run", "--vif-max-queues", "17"}, wantErr: "from 1 to 16"},
		{args: []string{"run", "--vbd-max-ring-page-order", "5"}, wantErr: "from 0 to 4"},
		{args: []string{"run", "--vbd-disable", "feature-warp"}, wantErr: "no feature"},
		{args: []string{"stop", "--timeout", "0s"}, wantErr: "--timeout"},
		{args: []string{"status", "-o", "json"}, sub: "status", check: func(o *Options) bool { return o.Output == cmdutil.OutputJSON }},
		{args: []string{"status", "extra"}, wantErr: "extra"},
	}
	for _, c := range cases {
		ios, _, _, _ := iostreams.Test()
		var gotSub string
		var got *Options
		cmd := NewCmdHost(&cmdutil.Factory{IO: ios}, func(sub string, o *Options) error { gotSub, got = sub, o; return nil })
		cmd.SetArgs(c.args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		_, err := cmd.ExecuteC()
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%v: error %v, want one containing %q", c.args, err, c.wantErr)
			} else if cmdutil.ExitCodeOf(err) != cmdutil.ExitUsage && c.wantErr != "extra" {
				t.Errorf("%v: exit code %d, want usage", c.args, cmdutil.ExitCodeOf(err))
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		if gotSub != c.sub || !c.check(got) {
			t.Errorf("%v: ran %q with %+v", c.args, gotSub, got)
		}
	}
}

// xfeatBinary builds the command from this tree (the go build cache makes
// this cheap), so the detached host is the code under test.
func xfeatBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "xfeat")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/xfeat/xfeat/cmd/xfeat")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestDetachedHost(t *testing.T) {
	testutil.NeedTool(t, "xenstore-ls", "xenstore-utils")
	bin := xfeatBinary(t)
	dir, err := os.MkdirTemp("", "xfd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	defer run("host", "stop", "--rundir", dir) // whatever happens below

	if out, _, code := run("host", "status", "--rundir", dir); code != 1 || !strings.Contains(out, "not running") {
		t.Fatalf("status before start: exit %d, %q", code, out)
	}
	out, errOut, code := run("host", "start", "--rundir", dir, "--vif-max-queues", "2")
	sock := filepath.Join(dir, "socket")
	if code != 0 || strings.TrimSpace(out) != sock {
		t.Fatalf("start: exit %d, out %q, err %q", code, out, errOut)
	}
	pidb, err := os.ReadFile(filepath.Join(dir, "host.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidb)))

	// Debian's libxenstore client sees the advertised schema, with the
	// limit given to start.
	ls := exec.Command("xenstore-ls", "/local/domain/0/backend")
	ls.Env = append(os.Environ(), "XENSTORED_PATH="+sock)
	lsOut, err := ls.CombinedOutput()
	if err != nil {
		t.Fatalf("xenstore-ls: %v\n%s", err, lsOut)
	}
	for _, want := range []string{`multi-queue-max-queues-defval = "2"`, `max-ring-page-order-defval = "4"`, `feature-persistent-type = "bool"`} {
		if !strings.Contains(string(lsOut), want) {
			t.Errorf("xenstore-ls lacks %s:\n%s", want, lsOut)
		}
	}

	// A second start finds it running and starts nothing.
	if out, _, code := run("host", "start", "--rundir", dir); code != 0 || strings.TrimSpace(out) != sock {
		t.Errorf("second start: exit %d, %q", code, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "host.pid")); strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		t.Errorf("second start replaced the host: pid file %q, first pid %d", b, pid)
	}

	out, _, code = run("host", "status", "--rundir", dir)
	if code != 0 || !strings.Contains(out, "running") || !strings.Contains(out, "pid:     "+strconv.Itoa(pid)) ||
		!strings.Contains(out, sock) || !strings.Contains(out, "domains: 0") {
		t.Errorf("status: exit %d:\n%s", code, out)
	}
	st, err := sandbox.Status(context.Background(), dir)
	if err != nil || !st.Running || st.PID != pid {
		t.Errorf("sandbox.Status = %+v, %v", st, err)
	}

	if _, errOut, code := run("host", "stop", "--rundir", dir); code != 0 {
		t.Fatalf("stop: exit %d: %s", code, errOut)
	}
	if err := syscallKill0(pid); err == nil {
		t.Errorf("host pid %d still alive after stop", pid)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left after stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "host.pid")); !os.IsNotExist(err) {
		t.Errorf("pid file left after stop: %v", err)
	}
	if _, errOut, code := run("host", "stop", "--rundir", dir); code != 0 || !strings.Contains(errOut, "not running") {
		t.Errorf("second stop: exit %d, %q", code, errOut)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "host.log"))
	if !strings.Contains(string(log), "host: stopped") {
		t.Errorf("host.log does not show a clean stop:\n%s", log)
	}
}
