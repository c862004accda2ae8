package xenstored

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/internal/cli/cmdutil/cmdtest"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/xsclient"
	"github.com/xfeat/xfeat/xswire"
)

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
		check   func(*Options) bool
	}{
		{args: []string{}, wantErr: "--rundir is required"},
		{args: []string{"--rundir", "/r"}, check: func(o *Options) bool {
			return o.Rundir == "/r" && !o.Restore && o.Quotas.Nodes == 1000 && o.Quotas.Watches == 128 &&
				o.Quotas.Transactions == 10 && o.Quotas.Outstanding == 20 && o.Quotas.NodePerms == 5 &&
				o.Quotas.NodeSize == 2048 && o.Quotas.PathMax == 2048 && o.Quotas.Payload == 4096
		}},
		{args: []string{"--rundir", "/r", "--restore", "--quota-nodes", "5", "--quota-watches", "7"}, check: func(o *Options) bool {
			return o.Restore && o.Quotas.Nodes == 5 && o.Quotas.Watches == 7
		}},
		{args: []string{"--rundir", "/r", "--quota-payload", "5000"}, wantErr: "4096"},
		{args: []string{"--rundir", "/r", "--quota-nodes", "0"}, wantErr: "must be positive"},
		{args: []string{"--rundir", "/r", "extra"}, wantErr: "unknown command"},
	} {
		got, err := cmdtest.Parse(NewCmdXenstored, tc.args)
		if tc.wantErr != "" {
			cmdtest.CheckUsageError(t, fmt.Sprint(tc.args), err, tc.wantErr)
			continue
		}
		if err != nil || got == nil || !tc.check(got) {
			t.Errorf("%v: err %v, opts %+v", tc.args, err, got)
		}
	}
}

// runDaemon runs the command until stop is called, as SIGTERM would.
func runDaemon(t *testing.T, opts *Options) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	opts.signals = func(parent context.Context) (context.Context, context.CancelFunc) {
		return ctx, cancel
	}
	errc := make(chan error, 1)
	go func() { errc <- xenstoredRun(opts) }()
	sock := filepath.Join(opts.Rundir, "socket")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := xsclient.Dial(context.Background(), sock); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-errc:
			t.Fatalf("daemon exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("daemon did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return func() error { cancel(); return <-errc }
}

func TestSaveOnTermRestoreOnStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	ios, _, _, stderr := iostreams.Test()
	opts := &Options{IO: ios, Rundir: dir, MaxOut: 1 << 20, Timeout: time.Second}
	stop := runDaemon(t, opts)
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("rundir mode: %v %v", st.Mode().Perm(), err)
	}
	ctx := context.Background()
	c, err := xsclient.Dial(ctx, filepath.Join(dir, "socket"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteString(ctx, "/keep/me", "v"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetPerms(ctx, "/keep/me", []xswire.Perm{{Domid: 3, Access: 'r'}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Introduce(ctx, 3, 0, 1); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "state saved to") {
		t.Errorf("stderr: %s", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "socket")); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}

	// Without --restore: empty.
	opts2 := &Options{IO: ios, Rundir: dir, MaxOut: 1 << 20, Timeout: time.Second}
	stop = runDaemon(t, opts2)
	c, _ = xsclient.Dial(ctx, filepath.Join(dir, "socket"))
	if ok, _ := c.Exists(ctx, "/keep/me"); ok {
		t.Error("state loaded without --restore")
	}
	c.Close()
	// Stopping saves this (empty) state over the earlier one.
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// Round trip again with --restore.
	opts3 := &Options{IO: ios, Rundir: dir, MaxOut: 1 << 20, Timeout: time.Second}
	stop = runDaemon(t, opts3)
	c, _ = xsclient.Dial(ctx, filepath.Join(dir, "socket"))
	if err := c.WriteString(ctx, "/again", "1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Introduce(ctx, 4, 0, 1); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	opts4 := &Options{IO: ios, Rundir: dir, Restore: true, MaxOut: 1 << 20, Timeout: time.Second}
	stop = runDaemon(t, opts4)
	defer stop()
	c, _ = xsclient.Dial(ctx, filepath.Join(dir, "socket"))
	defer c.Close()
	if v, err := c.ReadString(ctx, "/again"); err != nil || v != "1" {
		t.Errorf("restored node: %q %v", v, err)
	}
	if ok, _ := c.IsDomainIntroduced(ctx, 4); !ok {
		t.Error("restored domain missing")
	}
	g, err := xsclient.Dial(ctx, filepath.Join(dir, "domains", "4", "socket"))
	if err != nil {
		t.Fatalf("restored domain socket: %v", err)
	}
	g.Close()
}
