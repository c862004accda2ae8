package create

import (
	"context"
	"encoding/json"
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
	"github.com/xfeat/xfeat/xenstored"
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

// xenStoreOnly runs the embedded XenStore daemon alone: no sandbox host,
// no marker, as a real Xen host's XenStore looks to create.
func xenStoreOnly(t *testing.T) (func(context.Context, string, bool) (*xsclient.Client, error), *xsclient.Client) {
	t.Helper()
	s, err := xenstored.New(xenstored.Config{Rundir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(context.Background()); close(done) }()
	t.Cleanup(func() { s.Close(); <-done })
	connect := func(ctx context.Context, _ string, _ bool) (*xsclient.Client, error) {
		return xsclient.Dial(ctx, s.SocketPath())
	}
	c, err := connect(context.Background(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return connect, c
}

// On a XenStore that is not the sandbox host's, create goes through xl:
// without xl it refuses, saying why, and writes nothing.
func TestCreateOnXenHostNeedsXl(t *testing.T) {
	connect, c := xenStoreOnly(t)
	before, _ := toolstack.DumpTree(context.Background(), c, "/")
	ios, _, stdout, _ := iostreams.Test()
	err := createRun(&CreateOptions{IO: ios, XenStore: connect, File: cfgFile(t, "name=\"g\"\nvif=[\"queues=1\"]\n"), Wait: time.Second,
		Host: func(ctx context.Context, ops xsclient.Ops) (toolstack.Host, error) {
			return toolstack.DetectHost(ctx, ops, toolstack.HostProbe{LookPath: func(string) (string, error) { return "", errors.New("no") }})
		}})
	if cmdutil.ExitCodeOf(err) != cmdutil.ExitError || !errors.Is(err, toolstack.ErrNoXl) || !strings.Contains(err.Error(), "/tool/xfeat/sandbox") || stdout.Len() != 0 {
		t.Fatalf("%v (exit %d), stdout %q", err, cmdutil.ExitCodeOf(err), stdout)
	}
	if after, _ := toolstack.DumpTree(context.Background(), c, "/"); after != before {
		t.Errorf("XenStore changed:\n%s", after)
	}
}

// A dry run on a real Xen host prints the config xl would get, the xl
// commands and the nodes written between them, DOMID standing for the id
// xl chooses; it runs and writes nothing.
func TestCreateDryRunOnXenHost(t *testing.T) {
	connect, c := xenStoreOnly(t)
	sysfs := t.TempDir()
	for _, p := range []string{"xen_netback/parameters/max_queues=2", "xen_netback/parameters/separate_tx_rx_irq=Y"} {
		name, v, _ := strings.Cut(p, "=")
		path := filepath.Join(sysfs, "module", name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(v+"\n"), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := toolstack.DumpTree(context.Background(), c, "/")
	ios, _, stdout, stderr := iostreams.Test()
	err := createRun(&CreateOptions{IO: ios, XenStore: connect, DryRun: true, Output: cmdutil.OutputJSON, Wait: time.Second,
		File: cfgFile(t, "name = \"g\"\nvcpus = 2\nvif = [ \"bridge=xenbr0,queues=1,tso4=off\" ] # kept\n"),
		Host: func(context.Context, xsclient.Ops) (toolstack.Host, error) {
			return toolstack.Host{Kind: toolstack.XenHost, Xl: "/nonexistent/xl", Sysfs: sysfs}, nil
		}})
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var out struct {
		Host     string  `json:"host"`
		Domid    *uint32 `json:"domid"`
		XlConfig string  `json:"xl_config"`
		Commands []string
		Nodes    []struct{ Path, Value string }
		Devices  []struct {
			Device string
			Takes  string
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if out.Host != "xen" || out.Domid != nil || out.XlConfig != "name = \"g\"\nvcpus = 2\nvif = [ \"bridge=xenbr0\" ] # kept\n" ||
		len(out.Commands) != 2 || !strings.HasPrefix(out.Commands[0], "xl create -p ") || out.Commands[1] != "xl unpause DOMID" {
		t.Fatalf("dry run: %+v", out)
	}
	var nodes []string
	for _, n := range out.Nodes {
		nodes = append(nodes, n.Path+"="+n.Value)
	}
	if want := "/local/domain/0/backend/vif/DOMID/0/config-multi-queue-max-queues=1," +
		"/local/domain/0/backend/vif/DOMID/0/config-feature-gso-tcpv4=0," +
		"/local/domain/0/backend/vif/DOMID/0/multi-queue-max-queues=1," +
		"/local/domain/0/error/backend/vif/DOMID/0/feature/multi-queue-max-queues=apply 1," +
		"/local/domain/0/backend/vif/DOMID/0/feature-gso-tcpv4=0," +
		"/local/domain/0/error/backend/vif/DOMID/0/feature/feature-gso-tcpv4=apply 0"; strings.Join(nodes, ",") != want {
		t.Errorf("nodes:\n%s\nwant:\n%s", strings.Join(nodes, "\n"), strings.ReplaceAll(want, ",", "\n"))
	}
	if len(out.Devices) != 1 || out.Devices[0].Takes != "1 queue(s) × (2 × 256 slot grants + 2 ring pages) = 514 grants, 2 event channel(s)" {
		t.Errorf("devices: %+v", out.Devices)
	}
	if after, _ := toolstack.DumpTree(context.Background(), c, "/"); after != before {
		t.Errorf("a dry run changed XenStore:\n%s", after)
	}
}
