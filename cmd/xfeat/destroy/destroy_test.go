package destroy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xfeat/xfeat/internal/cli/cmdutil/cmdtest"
	"github.com/xfeat/xfeat/internal/cli/iostreams"
	"github.com/xfeat/xfeat/pv"
	"github.com/xfeat/xfeat/toolstack"
	"github.com/xfeat/xfeat/xenstored"
	"github.com/xfeat/xfeat/xsclient"
)

func TestNewCmdDestroyFlags(t *testing.T) {
	for _, tc := range []struct {
		argv string
		dom  string
		wait time.Duration
		err  string
	}{
		{argv: "guest", dom: "guest", wait: 10 * time.Second},
		{argv: "5 --wait 1s --xenstore /x", dom: "5", wait: time.Second},
		{argv: "-n guest", dom: "guest", wait: 10 * time.Second},
		{argv: "", err: "accepts 1 arg(s), received 0"},
		{argv: "a b", err: "accepts 1 arg(s), received 2"},
		{argv: "a --wait 0", err: "--wait must be positive"},
	} {
		got, err := cmdtest.Parse(NewCmdDestroy, strings.Fields(tc.argv))
		if tc.err != "" {
			cmdtest.CheckUsageError(t, fmt.Sprintf("%q", tc.argv), err, tc.err)
			continue
		}
		if err != nil || got.Domain != tc.dom || got.Wait != tc.wait {
			t.Errorf("%q: %v %+v", tc.argv, err, got)
		}
	}
}

// A dry run prints what destroying would run and remove, and does neither:
// on a real Xen host xl destroy, then the backends' error directories.
func TestDestroyDryRun(t *testing.T) {
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
	defer c.Close()
	ctx := context.Background()
	fe, be := pv.FrontendPath(5, pv.Vif, 0), pv.BackendPath(0, pv.Vif, 5, 0)
	for p, v := range map[string]string{
		pv.DomainPath(5) + "/name": "g", fe + "/" + pv.KeyBackend: be, be + "/" + pv.KeyFrontend: fe,
		pv.ShadowPath(5, pv.Vif, 0) + "/" + pv.KeyBackend: be, pv.ShadowPath(5, pv.Vif, 0) + "/" + pv.KeyFrontend: fe,
	} {
		if err := c.Write(ctx, p, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := toolstack.DumpTree(ctx, c, "/")
	for _, tc := range []struct {
		host toolstack.HostKind
		want string
	}{
		{toolstack.XenHost, "xl destroy 5\n/local/domain/0/error/backend/vif/5\n"},
		{toolstack.SandboxHost, fe + "\n" + be + "\n/local/domain/0/error/backend/vif/5/0\n/libxl/5/device/vif/0\n" +
			"/local/domain/0/backend/vif/5\n/local/domain/5\n/libxl/5\n"},
	} {
		ios, _, stdout, stderr := iostreams.Test()
		err := destroyRun(&DestroyOptions{IO: ios, XenStore: connect, Domain: "g", Wait: time.Second, DryRun: true,
			Host: func(context.Context, xsclient.Ops) (toolstack.Host, error) {
				return toolstack.Host{Kind: tc.host, Xl: "/nonexistent/xl"}, nil
			}})
		if err != nil || stdout.String() != tc.want || !strings.Contains(stderr.String(), "nothing done") {
			t.Errorf("%s: %v\n%s\nwant:\n%s\n%s", tc.host, err, stdout, tc.want, stderr)
		}
	}
	if after, _ := toolstack.DumpTree(ctx, c, "/"); after != before {
		t.Errorf("a dry run changed XenStore:\n%s", after)
	}
}
