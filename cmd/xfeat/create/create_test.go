package create

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/backends/blkback"
	"github.com/xfeat/xfeat/backends/netback"
	"github.com/xfeat/xfeat/internal/cli/cmdutil"
	"github.com/xfeat/xfeat/internal/cli/cmdutil/cmdtest"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/sandbox"
	"github.com/xfeat/xfeat/toolstack"
	"github.com/xfeat/xfeat/xsclient"
)

func TestNewCmdCreateFlags(t *testing.T) {
	for _, tc := range []struct {
		argv   string
		dry    bool
		wait   time.Duration
		xs     string
		output cmdutil.Output
		err    string
	}{
		{argv: "g.cfg", wait: 10 * time.Second, output: "table"},
		{argv: "-n g.cfg --wait 2s -o json --xenstore /s", dry: true, wait: 2 * time.Second, xs: "/s", output: "json"},
		{argv: "--dry-run g.cfg", dry: true, wait: 10 * time.Second, output: "table"},
		{argv: "", err: "accepts 1 arg(s), received 0"},
		{argv: "a.cfg b.cfg", err: "accepts 1 arg(s), received 2"},
		{argv: "g.cfg --wait -1s", err: "--wait must be positive"},
		{argv: "g.cfg --wait soon", err: `invalid argument "soon"`},
	} {
		got, err := cmdtest.Parse(NewCmdCreate, strings.Fields(tc.argv))
		if tc.err != "" {
			cmdtest.CheckUsageError(t, fmt.Sprintf("%q", tc.argv), err, tc.err)
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.argv, err)
			continue
		}
		if got.DryRun != tc.dry || got.Wait != tc.wait || got.XenStorePath != tc.xs || got.Output != tc.output || got.File == "" {
			t.Errorf("%q: got %+v", tc.argv, got)
		}
	}
}

func startHost(t *testing.T, frontends bool) func(context.Context, string, bool) (*xsclient.Client, error) {
	t.Helper()
	dir, err := os.MkdirTemp("", "xfcr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h, err := sandbox.New(sandbox.Config{Rundir: dir, Netback: netback.DefaultLimits(), Blkback: blkback.DefaultLimits(),
		RunFrontends: func(uint32) bool { return frontends }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); !sandbox.Answers(ctx, h.Socket()); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("host never answered")
		}
	}
	return func(ctx context.Context, _ string, _ bool) (*xsclient.Client, error) {
		return xsclient.Dial(ctx, h.Socket())
	}
}

func cfgFile(t *testing.T, src string) string {
	p := filepath.Join(t.TempDir(), "g.cfg")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCreateRun(t *testing.T) {
	connect := startHost(t, true)
	// An invalid file: every problem on stderr in file order, exit 1, and
	// XenStore is not even needed.
	ios, _, stdout, stderr := iostreams.Test()
	bad := cfgFile(t, "name=\"g\"\nvif=[\"queus=1\"]\nmax_grant_frames=0\n")
	err := createRun(&CreateOptions{IO: ios, XenStore: func(context.Context, string, bool) (*xsclient.Client, error) {
		return nil, errors.New("must not connect")
	}, File: bad, Wait: time.Second})
	if cmdutil.ExitCodeOf(err) != cmdutil.ExitError || stdout.Len() != 0 {
		t.Fatalf("invalid file: %v, stdout %q", err, stdout)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "g.cfg:2:") || !strings.Contains(lines[1], "g.cfg:3:") {
		t.Fatalf("diagnostics:\n%s", stderr)
	}

	// A good one on a terminal: progress on stderr, a table on stdout.
	ios, _, stdout, stderr = iostreams.Test()
	ios.SetStdoutTTY(true)
	ios.SetStderrTTY(true)
	good := cfgFile(t, "name=\"g\"\nvif=[\"queues=1\"]\n")
	if err := createRun(&CreateOptions{IO: ios, XenStore: connect, File: good, Wait: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "waiting: vif 1/0 ") || !strings.Contains(stderr.String(), "Created domain g (domid 1): 1 device(s) connected in") {
		t.Errorf("stderr:\n%q", stderr)
	}
	if !strings.Contains(stdout.String(), "DOMID") || !strings.Contains(stdout.String(), "vif 1/0") {
		t.Errorf("stdout:\n%s", stdout)
	}
}

func TestCreateRunTimeoutIsExit3(t *testing.T) {
	connect := startHost(t, false) // no frontends: the vif stays in InitWait
	ios, _, _, _ := iostreams.Test()
	err := createRun(&CreateOptions{IO: ios, XenStore: connect, File: cfgFile(t, "name=\"g\"\nvif=[\"queues=1\"]\n"), Wait: 300 * time.Millisecond})
	var stuck *toolstack.StuckError
	if cmdutil.ExitCodeOf(err) != cmdutil.ExitTimeout || !errors.As(err, &stuck) {
		t.Fatalf("%v (exit %d), want a timeout (exit 3)", err, cmdutil.ExitCodeOf(err))
	}
}
